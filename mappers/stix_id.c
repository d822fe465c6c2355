/* stix_id.c — uuid validation and UUIDv5 for STIX ids. */
#include "stix_id.h"

#include <stdint.h>
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

/* SHA-1 (FIPS 180-4) for UUIDv5 names. Here it only names objects, so SHA-1's weakness as a
 * signature hash does not matter; OpenSSL's EVP path cost more to set up per id (context, fetch)
 * than the hashing itself, a tenth of the fast mapper's time. test_fast_attr checks it against
 * OpenSSL. */
struct sha1 {
	uint32_t h[5];
	unsigned char blk[64];
	size_t n;      /* bytes in blk */
	uint64_t bits; /* message length so far */
};

static uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

#define SHA1_ROUND(f, k)                                                                           \
	do {                                                                                       \
		uint32_t t = rol(a, 5) + (f) + e + (k) + w[i];                                     \
		e = d;                                                                             \
		d = c;                                                                             \
		c = rol(b, 30);                                                                    \
		b = a;                                                                             \
		a = t;                                                                             \
	} while (0)

/* four loops of twenty rounds, so no round branches on its index */
static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 20; i++)
		SHA1_ROUND(d ^ (b & (c ^ d)), 0x5A827999u);
	for (; i < 40; i++)
		SHA1_ROUND(b ^ c ^ d, 0x6ED9EBA1u);
	for (; i < 60; i++)
		SHA1_ROUND((b & c) | (d & (b | c)), 0x8F1BBCDCu);
	for (; i < 80; i++)
		SHA1_ROUND(b ^ c ^ d, 0xCA62C1D6u);
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	memcpy(s->h, iv, sizeof(iv));
	s->n = 0;
	s->bits = 0;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->bits += (uint64_t)len * 8;
	while (len) {
		size_t take = 64 - s->n < len ? 64 - s->n : len;
		if (s->n == 0 && len >= 64) {
			sha1_block(s->h, p);
			p += 64;
			len -= 64;
			continue;
		}
		memcpy(s->blk + s->n, p, take);
		s->n += take;
		p += take;
		len -= take;
		if (s->n == 64) {
			sha1_block(s->h, s->blk);
			s->n = 0;
		}
	}
}

static void sha1_final(struct sha1 *s, unsigned char out[20])
{
	uint64_t bits = s->bits;
	unsigned char pad = 0x80, len[8];

	sha1_update(s, &pad, 1);
	if (s->n > 56) {
		memset(s->blk + s->n, 0, 64 - s->n);
		sha1_block(s->h, s->blk);
		s->n = 0;
	}
	memset(s->blk + s->n, 0, 56 - s->n);
	s->n = 56;
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_update(s, len, 8);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(s->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)s->h[i];
	}
}

void sl_stix_id_uuid5(const unsigned char ns[16], const char *name, size_t len, char out[37])
{
	unsigned char md[20];
	struct sha1 s;

	sha1_init(&s);
	sha1_update(&s, ns, 16);
	sha1_update(&s, name, len);
	sha1_final(&s, md);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	uuid_format(md, out);
}

void sl_stix_id_relationship(const char *source_ref, const char *rel_type, const char *target_ref,
                             char out[SL_STIX_ID_MAX])
{
	static const unsigned char ns[16] = {0x76, 0xbe, 0xed, 0x5f, 0x72, 0x51, 0x45, 0x7e,
	                                     0x8c, 0x2a, 0xb4, 0x5f, 0x7b, 0x58, 0x9d, 0x3d};
	unsigned char md[20];
	struct sha1 s;

	/* the name "<source> - <type> - <target>" hashed piece by piece, never built */
	sha1_init(&s);
	sha1_update(&s, ns, 16);
	sha1_update(&s, source_ref, strlen(source_ref));
	sha1_update(&s, " - ", 3);
	sha1_update(&s, rel_type, strlen(rel_type));
	sha1_update(&s, " - ", 3);
	sha1_update(&s, target_ref, strlen(target_ref));
	sha1_final(&s, md);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	memcpy(out, "relationship--", 14);
	uuid_format(md, out + 14);
}
