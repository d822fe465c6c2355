/* json.c — bounded JSON input: size and depth limits, errors that name where. */
#include "json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sl_json_limits sl_json_limits_default(void)
{
	struct sl_json_limits l = {SL_JSON_DEFAULT_MAX_BYTES, SL_JSON_DEFAULT_MAX_DEPTH};
	return l;
}

/* A linear pre-scan for nesting depth, so hostile 1,000-deep input is refused before the recursive
 * parser sees it. Brackets inside strings do not count. */
static int scan_depth(const char *buf, size_t len, int max_depth, size_t *at)
{
	int depth = 0, in_str = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth) {
				*at = i;
				return -1;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 0;
}

json_t *sl_json_parse(const char *buf, size_t len, const struct sl_json_limits *lim, const char *what,
		      struct sl_err *err)
{
	struct sl_json_limits d = sl_json_limits_default();
	json_error_t jerr;
	json_t *v;
	size_t at = 0;

	if (!lim)
		lim = &d;
	if (!what)
		what = "input";
	if (len > lim->max_bytes) {
		sl_err_set(err, SL_ELIMIT, what, "document is %zu bytes, over the limit of %zu", len,
			   lim->max_bytes);
		return NULL;
	}
	if (scan_depth(buf, len, lim->max_depth, &at) < 0) {
		char where[SL_ERR_WHERE_MAX];
		snprintf(where, sizeof(where), "%s@%zu", what, at);
		sl_err_set(err, SL_ELIMIT, where, "JSON nested deeper than %d levels", lim->max_depth);
		return NULL;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!v) {
		char where[SL_ERR_WHERE_MAX];
		snprintf(where, sizeof(where), "%s:%d:%d", what, jerr.line, jerr.column);
		sl_err_set(err, SL_EINVAL, where, "malformed JSON: %s", jerr.text);
		return NULL;
	}
	return v;
}

int sl_json_slurp(const char *path, size_t max_bytes, char **out, size_t *outlen, struct sl_err *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 65536, n = 0;
	char *buf;

	*out = NULL;
	*outlen = 0;
	if (!f)
		return sl_err_set(err, SL_EIO, path, "cannot open: %s", strerror(errno));
	buf = malloc(cap + 1);
	if (!buf)
		goto nomem;
	for (;;) {
		size_t got;
		if (n == cap) {
			char *nb;
			if (cap > max_bytes) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return sl_err_set(err, SL_ELIMIT, path, "file is over the limit of %zu bytes",
						  max_bytes);
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				goto nomem;
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		if (f != stdin)
			fclose(f);
		return sl_err_set(err, SL_EIO, path, "read failed");
	}
	if (f != stdin)
		fclose(f);
	if (n > max_bytes) {
		free(buf);
		return sl_err_set(err, SL_ELIMIT, path, "file is %zu bytes, over the limit of %zu", n,
				  max_bytes);
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return SL_OK;
nomem:
	free(buf);
	if (f != stdin)
		fclose(f);
	return sl_err_set(err, SL_ENOMEM, path, "out of memory reading file");
}

static int depth_of(const json_t *v, int limit)
{
	int max = 0;

	if (limit < 0)
		return 1;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			int d = depth_of(e, limit - 1);
			if (d > max)
				max = d;
			if (max > limit)
				break;
		}
		return max + 1;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *e;
		json_object_foreach((json_t *)v, k, e) {
			int d = depth_of(e, limit - 1);
			if (d > max)
				max = d;
			if (max > limit)
				break;
		}
		return max + 1;
	}
	return 0;
}

int sl_json_depth_ok(const json_t *v, int max_depth)
{
	return depth_of(v, max_depth) <= max_depth;
}

size_t sl_json_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0], v;
	size_t len, i;

	if (c < 0xC2 || c > 0xF4)
		return 0;
	if (c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
	} else if (c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
	} else {
		len = 4;
		v = c & 0x07;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 3 && v < 0x800) ||
	    (len == 4 && v < 0x10000))
		return 0;
	return len;
}

/* 1: the byte needs an escape; 2: it starts a multi-byte sequence; 0: copied as is */
static const unsigned char esc_cls[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

size_t sl_json_escape(char *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;
	char *o = out;

	while (i < n) {
		unsigned k;
		/* eight plain bytes at a time: ids, timestamps and patterns are ASCII */
		while (i + 8 <= n && !sl_json_special8(s + i))
			i += 8;
		if (i >= n)
			break;
		k = esc_cls[s[i]];
		if (k == 0) {
			i++;
			continue;
		}
		if (k == 2) {
			size_t l = sl_json_utf8_seq(s + i, n - i);
			if (!l)
				return SL_JSON_BAD_UTF8;
			i += l;
			continue;
		}
		memcpy(o, str + run, i - run);
		o += i - run;
		*o++ = '\\';
		switch (s[i]) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = "0123456789ABCDEF"[s[i] >> 4];
			o[4] = "0123456789ABCDEF"[s[i] & 15];
			o += 5;
		}
		run = ++i;
	}
	memcpy(o, str + run, n - run);
	o += n - run;
	return (size_t)(o - out);
}
