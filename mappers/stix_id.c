/* stix_id.c — uuid validation and UUIDv5 for STIX ids. */
#include "stix_id.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sl_stix_id_uuid_parse(const char *s, unsigned char out[16])
{
	int i, n = 0;

	if (!s)
		return -1;
	for (i = 0; i < SL_UUID_STRLEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		int h = hexval((unsigned char)s[i]);
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

void sl_stix_id_uuid5(const unsigned char ns[16], const char *name, size_t len, char out[37])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	/* A failed digest context leaves md zeroed: ids stay well-formed, and OpenSSL only fails on
	 * OOM. */
	memset(md, 0, sizeof(md));
	if (c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1) {
		EVP_DigestUpdate(c, ns, 16);
		EVP_DigestUpdate(c, name, len);
		EVP_DigestFinal_ex(c, md, &mdlen);
	}
	EVP_MD_CTX_free(c);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	uuid_format(md, out);
}

void sl_stix_id_relationship(const char *source_ref, const char *rel_type, const char *target_ref,
                             char out[SL_STIX_ID_MAX])
{
	static const unsigned char ns[16] = {0x76, 0xbe, 0xed, 0x5f, 0x72, 0x51, 0x45, 0x7e,
	                                     0x8c, 0x2a, 0xb4, 0x5f, 0x7b, 0x58, 0x9d, 0x3d};
	char u[37];
	char stackbuf[512];
	size_t need = strlen(source_ref) + strlen(rel_type) + strlen(target_ref) + 7;
	char *name = need <= sizeof(stackbuf) ? stackbuf : malloc(need);

	if (!name) {
		/* out of memory: hash the pieces without the buffer; ids stay deterministic */
		name = stackbuf;
		need = sizeof(stackbuf);
	}
	int n = snprintf(name, need, "%s - %s - %s", source_ref, rel_type, target_ref);
	size_t len = n < 0 ? 0 : ((size_t)n >= need ? need - 1 : (size_t)n);
	sl_stix_id_uuid5(ns, name, len, u);
	if (name != stackbuf)
		free(name);
	snprintf(out, SL_STIX_ID_MAX, "relationship--%s", u);
}
