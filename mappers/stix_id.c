/* stix_id.c — uuid validation and UUIDv5 for STIX ids. */
#include "stix_id.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* hex digit values + 1, 0 for anything else: one lookup per character (uuids are checked for
 * every attribute) */
static const unsigned char hexv[256] = {
    ['0'] = 0 + 1,  ['1'] = 1 + 1,  ['2'] = 2 + 1,  ['3'] = 3 + 1,  ['4'] = 4 + 1,  ['5'] = 5 + 1,
    ['6'] = 6 + 1,  ['7'] = 7 + 1,  ['8'] = 8 + 1,  ['9'] = 9 + 1,  ['a'] = 10 + 1, ['b'] = 11 + 1,
    ['c'] = 12 + 1, ['d'] = 13 + 1, ['e'] = 14 + 1, ['f'] = 15 + 1, ['A'] = 10 + 1, ['B'] = 11 + 1,
    ['C'] = 12 + 1, ['D'] = 13 + 1, ['E'] = 14 + 1, ['F'] = 15 + 1,
};

int sl_stix_id_uuid_parse(const char *s, unsigned char out[16])
{
	int i, n = 0;

	if (!s)
		return -1;
	for (i = 0; i < SL_UUID_STRLEN; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return -1;
			continue;
		}
		/* stored as value + 1 so that 0 means "not a hex digit" (and ends at the NUL) */
		int h = hexv[ch] - 1;
		if (h < 0)
			return -1;
		if (n % 2 == 0)
			out[n / 2] = (unsigned char)(h << 4);
		else
			out[n / 2] |= (unsigned char)h;
		n++;
	}
	return s[SL_UUID_STRLEN] == '\0' ? 0 : -1;
}

int sl_stix_id_uuid_valid(const char *s)
{
	unsigned char b[16];

	return sl_stix_id_uuid_parse(s, b) == 0;
}

static void uuid_format(const unsigned char b[16], char out[37])
{
	static const char hx[] = "0123456789abcdef";
	int i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[b[i] >> 4];
		out[o++] = hx[b[i] & 15];
	}
	out[o] = '\0';
}

/* SHA-1 fetched once per process (EVP_MD_fetch costs about as much as mapping a small event's
 * attributes) and shared: a fetched EVP_MD is immutable and counted, each hasher holds a
 * reference. */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_fetch(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

/* SHA-1 of the 16-byte namespace followed by the pieces (NULL-terminated list), through a
 * context: h's when given (fetched once, reused), else a fresh one. Returns 0, or -1 when
 * OpenSSL fails (out of memory). */
static int sha1_pieces(struct sl_stix_id_hasher *h, const unsigned char ns[16],
                       const char *const *pieces, const size_t *lens, unsigned char md[20]);

void sl_stix_id_uuid5(const unsigned char ns[16], const char *name, size_t len, char out[37])
{
	unsigned char md[20];
	const char *pieces[] = {name, NULL};
	size_t lens[] = {len};

	/* a failed digest (OpenSSL only fails on OOM) leaves md zeroed: ids stay well-formed */
	if (sha1_pieces(NULL, ns, pieces, lens, md) != 0)
		memset(md, 0, sizeof(md));
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	uuid_format(md, out);
}

void sl_stix_id_relationship(const char *source_ref, const char *rel_type, const char *target_ref,
                             char out[SL_STIX_ID_MAX])
{
	sl_stix_id_relationship_with(NULL, source_ref, rel_type, target_ref, out);
}

struct sl_stix_id_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

struct sl_stix_id_hasher *sl_stix_id_hasher_new(void)
{
	struct sl_stix_id_hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	pthread_once(&sha1_once, sha1_fetch);
	if (sha1_md && EVP_MD_up_ref(sha1_md) == 1)
		h->md = sha1_md;
	h->ctx = EVP_MD_CTX_new();
	if (!h->md || !h->ctx) {
		sl_stix_id_hasher_free(h);
		return NULL;
	}
	return h;
}

void sl_stix_id_hasher_free(struct sl_stix_id_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	free(h);
}

static int sha1_pieces(struct sl_stix_id_hasher *h, const unsigned char ns[16],
                       const char *const *pieces, const size_t *lens, unsigned char md[20])
{
	EVP_MD_CTX *ctx = h ? h->ctx : EVP_MD_CTX_new();
	unsigned char buf[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	int ok;

	if (!h)
		pthread_once(&sha1_once, sha1_fetch);
	/* without a hasher, the shared fetched SHA-1 still spares the implicit fetch EVP_sha1()
	 * makes at every init */
	ok = ctx &&
	     (h         ? EVP_DigestInit_ex2(ctx, h->md, NULL)
	      : sha1_md ? EVP_DigestInit_ex2(ctx, sha1_md, NULL)
	                : EVP_DigestInit_ex(ctx, EVP_sha1(), NULL)) == 1 &&
	     EVP_DigestUpdate(ctx, ns, 16) == 1;

	for (size_t i = 0; ok && pieces[i]; i++)
		ok = EVP_DigestUpdate(ctx, pieces[i], lens[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, buf, &ml) == 1 && ml == 20;
	if (!h)
		EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	memcpy(md, buf, 20);
	return 0;
}

void sl_stix_id_relationship_with(struct sl_stix_id_hasher *h, const char *source_ref,
                                  const char *rel_type, const char *target_ref,
                                  char out[SL_STIX_ID_MAX])
{
	static const unsigned char ns[16] = {0x76, 0xbe, 0xed, 0x5f, 0x72, 0x51, 0x45, 0x7e,
	                                     0x8c, 0x2a, 0xb4, 0x5f, 0x7b, 0x58, 0x9d, 0x3d};
	/* the name "<source> - <type> - <target>" hashed piece by piece, never built */
	const char *pieces[] = {source_ref, " - ", rel_type, " - ", target_ref, NULL};
	size_t lens[] = {strlen(source_ref), 3, strlen(rel_type), 3, strlen(target_ref)};
	unsigned char md[20];

	if (sha1_pieces(h, ns, pieces, lens, md) != 0 &&
	    (!h || sha1_pieces(NULL, ns, pieces, lens, md) != 0))
		memset(md, 0, sizeof(md));
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	memcpy(out, "relationship--", 14);
	uuid_format(md, out + 14);
}
