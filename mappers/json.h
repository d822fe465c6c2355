/* json.h — bounded JSON input: every document sluice reads from outside passes through here, so size and
 * nesting limits hold everywhere, and errors name the line, column and byte offset; and the two
 * rules the fast paths share with jansson (UTF-8 checks, string escapes). */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

struct sl_json_limits {
	size_t max_bytes; /* a larger document is refused with SL_ELIMIT before parsing */
	int max_depth;    /* deeper nesting of arrays/objects is refused with SL_ELIMIT */
};

#define SL_JSON_DEFAULT_MAX_BYTES (64u * 1024u * 1024u)
#define SL_JSON_DEFAULT_MAX_DEPTH 64

/* Default limits (64 MiB, depth 64). */
struct sl_json_limits sl_json_limits_default(void);

/* Parse buf[0..len). Returns a new reference, or NULL with err filled (where = what, e.g. a file name,
 * followed by line:column). lim may be NULL for the defaults. */
json_t *sl_json_parse(const char *buf, size_t len, const struct sl_json_limits *lim, const char *what,
		      struct sl_err *err);

/* Read a whole file ("-" = stdin) into a malloc'd buffer, bounded by max_bytes. Returns 0 or a negative
 * sl_err_code; *out is owned by the caller. */
int sl_json_slurp(const char *path, size_t max_bytes, char **out, size_t *outlen, struct sl_err *err);

/* Check nesting depth of an already-parsed value (used where a document arrives pre-parsed). */
int sl_json_depth_ok(const json_t *v, int max_depth);

/* Length of the valid UTF-8 sequence at s[0..n) (first byte >= 0x80), or 0 when invalid: jansson's
 * rules (no overlong forms, no surrogates, nothing above U+10FFFF), so fast paths accept and emit
 * exactly what jansson does. */
size_t sl_json_utf8_seq(const unsigned char *s, size_t n);

/* Whether any of the 8 bytes at p is below 0x20, '"', '\\' or non-ASCII (exact, no false
 * negatives): lets the fast readers and writers skip plain runs 8 bytes at a time. */
static inline int sl_json_special8(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t w, q, b;

	memcpy(&w, p, 8);
	q = w ^ (ones * '"');
	b = w ^ (ones * '\\');
	return (((w - ones * 0x20) | (q - ones) | (b - ones)) & ~w & highs) != 0 || (w & highs) != 0;
}

/* v in decimal, as json_dumps writes an integer: written at the end of buf, returns where it
 * starts; *len its length. */
static inline const char *sl_json_int_text(json_int_t v, char buf[24], size_t *len)
{
	char *p = buf + 24;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	*len = (size_t)(buf + 24 - p);
	return p;
}

/* s[0..n) as the inside of a JSON string, exactly as jansson's json_dumps writes it (short escapes,
 * \u00XX in upper case for the other control characters, UTF-8 as is and checked), into out,
 * which has room for 6 * n bytes. Returns the bytes written, or SL_JSON_BAD_UTF8 when s is not
 * valid UTF-8 (json_dumps refuses it too). The fast paths that write JSON text share it. */
#define SL_JSON_BAD_UTF8 ((size_t)-1)
size_t sl_json_escape(char *out, const char *s, size_t n);

#endif
