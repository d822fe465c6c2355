/* fast_json.c — well-formed JSON -> jansson tree, in one pass over a buffer. Rules followed are
 * jansson 2.14's: RFC 8259 grammar, no raw control characters in strings, valid UTF-8 only, no
 * lone surrogates in \u escapes, \u0000 allowed in values (JSON_ALLOW_NUL) but not keys,
 * duplicate keys refused, integers that fit a long long, reals that do not overflow. */
#include "fast_json.h"
#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fp {
	const unsigned char *s, *end;
	int depth, max_depth;
	char *scratch; /* decoded strings with escapes */
	size_t scap;
};

static json_t *value(struct fp *p);

static void ws(struct fp *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t'))
		p->s++;
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

static int scratch_put(struct fp *p, size_t *n, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	if (*n + len > p->scap) {
		size_t cap = p->scap ? p->scap : 256;
		while (cap < *n + len)
			cap *= 2;
		char *nb = realloc(p->scratch, cap);
		if (!nb)
			return -1;
		p->scratch = nb;
		p->scap = cap;
	}
	memcpy(p->scratch + *n, src, len);
	*n += len;
	return 0;
}

/* A string at p->s ('"'). On success out and len point either into the input (no escapes) or into
 * p->scratch (valid until the next string). */
static int string(struct fp *p, const char **out, size_t *len)
{
	const unsigned char *s = ++p->s, *start = s, *end = p->end;
	size_t n = 0;
	int esc = 0;

	for (;;) {
		while (s + 8 <= end && !sl_json_special8(s))
			s += 8;
		if (s >= end)
			return -1;
		unsigned c = *s;
		if (c == '"')
			break;
		if (c < 0x20)
			return -1;
		if (c >= 0x80) {
			size_t l = sl_json_utf8_seq(s, (size_t)(end - s));
			if (!l)
				return -1;
			s += l;
			continue;
		}
		if (c != '\\') {
			s++;
			continue;
		}
		/* an escape: copy what came before into scratch, then decode */
		if (!esc) {
			esc = 1;
			n = 0;
		}
		if (scratch_put(p, &n, start, (size_t)(s - start)))
			return -1;
		if (s + 1 >= end)
			return -1;
		char one;
		switch (s[1]) {
		case '"':
		case '\\':
		case '/':
			one = (char)s[1];
			break;
		case 'b':
			one = '\b';
			break;
		case 'f':
			one = '\f';
			break;
		case 'n':
			one = '\n';
			break;
		case 'r':
			one = '\r';
			break;
		case 't':
			one = '\t';
			break;
		case 'u': {
			unsigned cp, lo;
			unsigned char u8[4];
			size_t ul;
			if (end - s < 6 || hex4(s + 2, &cp))
				return -1;
			s += 6;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return -1;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (end - s < 6 || s[0] != '\\' || s[1] != 'u' ||
				    hex4(s + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				s += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			if (cp < 0x80) {
				u8[0] = (unsigned char)cp;
				ul = 1;
			} else if (cp < 0x800) {
				u8[0] = (unsigned char)(0xC0 | cp >> 6);
				u8[1] = (unsigned char)(0x80 | (cp & 0x3F));
				ul = 2;
			} else if (cp < 0x10000) {
				u8[0] = (unsigned char)(0xE0 | cp >> 12);
				u8[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
				u8[2] = (unsigned char)(0x80 | (cp & 0x3F));
				ul = 3;
			} else {
				u8[0] = (unsigned char)(0xF0 | cp >> 18);
				u8[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
				u8[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
				u8[3] = (unsigned char)(0x80 | (cp & 0x3F));
				ul = 4;
			}
			if (scratch_put(p, &n, u8, ul))
				return -1;
			start = s;
			continue;
		}
		default:
			return -1;
		}
		if (scratch_put(p, &n, &one, 1))
			return -1;
		s += 2;
		start = s;
	}
	if (esc) {
		if (scratch_put(p, &n, start, (size_t)(s - start)))
			return -1;
		*out = p->scratch;
		*len = n;
	} else {
		*out = (const char *)start;
		*len = (size_t)(s - start);
	}
	p->s = s + 1;
	return 0;
}

static json_t *number(struct fp *p)
{
	const unsigned char *s = p->s, *b = s, *end = p->end;
	int neg = 0, real = 0;

	if (s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s >= end)
		return NULL;
	if (*s == '0') {
		s++;
		if (s < end && *s >= '0' && *s <= '9')
			return NULL;
	} else if (*s >= '1' && *s <= '9') {
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	} else {
		return NULL;
	}
	if (s < end && *s == '.') {
		real = 1;
		s++;
		if (s >= end || *s < '0' || *s > '9')
			return NULL;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < end && (*s == 'e' || *s == 'E')) {
		real = 1;
		s++;
		if (s < end && (*s == '+' || *s == '-'))
			s++;
		if (s >= end || *s < '0' || *s > '9')
			return NULL;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
	}
	size_t len = (size_t)(s - b);
	p->s = s;
	if (!real) {
		size_t digits = len - (size_t)neg;
		long long v = 0;
		if (digits > 18) /* may not fit: jansson decides */
			return NULL;
		for (const unsigned char *d = b + neg; d < s; d++)
			v = v * 10 + (*d - '0');
		return json_integer(neg ? -v : v);
	}
	char tmp[64];
	if (len >= sizeof(tmp))
		return NULL;
	memcpy(tmp, b, len);
	tmp[len] = '\0';
	double d = strtod(tmp, NULL);
	if (isinf(d) || isnan(d))
		return NULL;
	return json_real(d);
}

static int word(struct fp *p, const char *w, size_t n)
{
	if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
		return -1;
	p->s += n;
	return 0;
}

/* ---- validate without building (members a caller does not keep) ----------------------------- */

#define KEYS_MAX 64

struct span {
	const char *k;
	size_t n;
};

static int skip_value(struct fp *p);

/* A key for duplicate checks: keys with escapes are declined (they would need decoding). */
static int plain_key(struct fp *p, struct span *keys, size_t *nkeys, uint64_t *seen, const char **k,
                     size_t *kl)
{
	const unsigned char *start = p->s + 1;

	if (string(p, k, kl) != 0 || *k != (const char *)start)
		return -1;
	/* a 64-bit filter on (length, first and last byte): most keys need no comparison at all */
	unsigned h = (unsigned)*kl * 7u +
	             (*kl ? (unsigned char)(*k)[0] * 3u + (unsigned char)(*k)[*kl - 1] : 0u);
	uint64_t bit = 1ULL << (h & 63);
	if (*seen & bit)
		for (size_t i = 0; i < *nkeys; i++)
			if (keys[i].n == *kl && memcmp(keys[i].k, *k, *kl) == 0)
				return -1; /* duplicate: jansson refuses it */
	*seen |= bit;
	if (*nkeys == KEYS_MAX)
		return -1;
	keys[*nkeys].k = *k;
	keys[(*nkeys)++].n = *kl;
	return 0;
}

static int skip_object(struct fp *p)
{
	struct span keys[KEYS_MAX];
	size_t nkeys = 0;
	uint64_t seen = 0;

	if (++p->depth > p->max_depth)
		return -1;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		p->depth--;
		return 0;
	}
	for (;;) {
		const char *k;
		size_t kl;
		if (p->s >= p->end || *p->s != '"' ||
		    plain_key(p, keys, &nkeys, &seen, &k, &kl) != 0)
			return -1;
		ws(p);
		if (p->s >= p->end || *p->s != ':')
			return -1;
		p->s++;
		ws(p);
		if (skip_value(p) != 0)
			return -1;
		ws(p);
		if (p->s >= p->end)
			return -1;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != '}')
			return -1;
		p->s++;
		p->depth--;
		return 0;
	}
}

static int skip_array(struct fp *p)
{
	if (++p->depth > p->max_depth)
		return -1;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		p->depth--;
		return 0;
	}
	for (;;) {
		if (skip_value(p) != 0)
			return -1;
		ws(p);
		if (p->s >= p->end)
			return -1;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != ']')
			return -1;
		p->s++;
		p->depth--;
		return 0;
	}
}

static int skip_value(struct fp *p)
{
	const char *s;
	size_t n;
	json_t *v;

	if (p->s >= p->end)
		return -1;
	switch (*p->s) {
	case '{':
		return skip_object(p);
	case '[':
		return skip_array(p);
	case '"':
		return string(p, &s, &n);
	case 't':
		return word(p, "true", 4);
	case 'f':
		return word(p, "false", 5);
	case 'n':
		return word(p, "null", 4);
	default:
		v = number(p); /* numbers are rare in what is skipped */
		json_decref(v);
		return v ? 0 : -1;
	}
}

static int kept(const char *const *keep, const char *k, size_t kl)
{
	for (; *keep; keep++)
		if ((*keep)[0] == k[0] && strncmp(*keep, k, kl) == 0 && (*keep)[kl] == '\0')
			return 1;
	return 0;
}

/* An object of which only the members named in keep are built; the others are validated. */
static json_t *object_kept(struct fp *p, const char *const *keep)
{
	struct span keys[KEYS_MAX];
	size_t nkeys = 0;
	uint64_t seen = 0;
	json_t *o;

	if (++p->depth > p->max_depth)
		return NULL;
	o = json_object();
	if (!o)
		return NULL;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		p->depth--;
		return o;
	}
	for (;;) {
		const char *k;
		size_t kl;
		if (p->s >= p->end || *p->s != '"' ||
		    plain_key(p, keys, &nkeys, &seen, &k, &kl) != 0)
			goto fail;
		ws(p);
		if (p->s >= p->end || *p->s != ':')
			goto fail;
		p->s++;
		ws(p);
		if (kept(keep, k, kl)) {
			json_t *v = value(p);
			if (!v || json_object_setn_new_nocheck(o, k, kl, v) != 0)
				goto fail;
		} else if (skip_value(p) != 0) {
			goto fail;
		}
		ws(p);
		if (p->s >= p->end)
			goto fail;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != '}')
			goto fail;
		p->s++;
		p->depth--;
		return o;
	}
fail:
	json_decref(o);
	return NULL;
}

/* An object filtered by k: the members k->names names are built (all of them when names is
 * NULL), the member k->sub (an object, or an array whose object elements are) filtered in turn by
 * k->inner, the rest validated and dropped. */
static json_t *object_filtered(struct fp *p, const struct sl_fast_json_keep *k);

static json_t *sub_filtered(struct fp *p, const struct sl_fast_json_keep *k)
{
	json_t *a;

	if (*p->s == '{')
		return object_filtered(p, k);
	if (*p->s != '[')
		return value(p);
	if (++p->depth > p->max_depth)
		return NULL;
	a = json_array();
	if (!a)
		return NULL;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		p->depth--;
		return a;
	}
	for (;;) {
		json_t *v = p->s < p->end && *p->s == '{' ? object_filtered(p, k) : value(p);
		if (!v || json_array_append_new(a, v) != 0)
			goto fail;
		ws(p);
		if (p->s >= p->end)
			goto fail;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != ']')
			goto fail;
		p->s++;
		p->depth--;
		return a;
	}
fail:
	json_decref(a);
	return NULL;
}

static json_t *object_filtered(struct fp *p, const struct sl_fast_json_keep *k)
{
	struct span keys[KEYS_MAX];
	size_t nkeys = 0, subl = k->sub ? strlen(k->sub) : 0;
	uint64_t seen = 0;
	json_t *o;

	if (++p->depth > p->max_depth)
		return NULL;
	o = json_object();
	if (!o)
		return NULL;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		p->depth--;
		return o;
	}
	for (;;) {
		const char *key;
		size_t kl;
		if (p->s >= p->end || *p->s != '"' ||
		    plain_key(p, keys, &nkeys, &seen, &key, &kl) != 0 || memchr(key, 0, kl))
			goto fail;
		ws(p);
		if (p->s >= p->end || *p->s != ':')
			goto fail;
		p->s++;
		ws(p);
		if (p->s >= p->end)
			goto fail;
		if (k->sub && kl == subl && memcmp(key, k->sub, kl) == 0) {
			json_t *v = sub_filtered(p, k->inner);
			if (!v || json_object_setn_new_nocheck(o, key, kl, v) != 0)
				goto fail;
		} else if (!k->names || kept(k->names, key, kl)) {
			json_t *v = value(p);
			if (!v || json_object_setn_new_nocheck(o, key, kl, v) != 0)
				goto fail;
		} else if (skip_value(p) != 0) {
			goto fail;
		}
		ws(p);
		if (p->s >= p->end)
			goto fail;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != '}')
			goto fail;
		p->s++;
		p->depth--;
		return o;
	}
fail:
	json_decref(o);
	return NULL;
}

static json_t *object(struct fp *p)
{
	json_t *o;

	if (++p->depth > p->max_depth)
		return NULL;
	o = json_object();
	if (!o)
		return NULL;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		p->depth--;
		return o;
	}
	for (;;) {
		const char *k;
		size_t kl;
		char kbuf[64], *kheap = NULL;
		if (p->s >= p->end || *p->s != '"' || string(p, &k, &kl) != 0 || memchr(k, 0, kl))
			goto fail;
		/* the key may live in scratch, which the value's strings reuse */
		if (k == p->scratch) {
			if (kl < sizeof(kbuf)) {
				memcpy(kbuf, k, kl);
				k = kbuf;
			} else {
				kheap = malloc(kl);
				if (!kheap)
					goto fail;
				memcpy(kheap, k, kl);
				k = kheap;
			}
		}
		ws(p);
		if (p->s >= p->end || *p->s != ':') {
			free(kheap);
			goto fail;
		}
		p->s++;
		ws(p);
		json_t *v = value(p);
		if (!v) {
			free(kheap);
			goto fail;
		}
		size_t before = json_object_size(o);
		int r = json_object_setn_new_nocheck(o, k, kl, v);
		free(kheap);
		if (r != 0 || json_object_size(o) == before) /* a duplicate key */
			goto fail;
		ws(p);
		if (p->s >= p->end)
			goto fail;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != '}')
			goto fail;
		p->s++;
		p->depth--;
		return o;
	}
fail:
	json_decref(o);
	return NULL;
}

static json_t *array(struct fp *p)
{
	json_t *a;

	if (++p->depth > p->max_depth)
		return NULL;
	a = json_array();
	if (!a)
		return NULL;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		p->depth--;
		return a;
	}
	for (;;) {
		json_t *v = value(p);
		if (!v || json_array_append_new(a, v) != 0)
			goto fail;
		ws(p);
		if (p->s >= p->end)
			goto fail;
		if (*p->s == ',') {
			p->s++;
			ws(p);
			continue;
		}
		if (*p->s != ']')
			goto fail;
		p->s++;
		p->depth--;
		return a;
	}
fail:
	json_decref(a);
	return NULL;
}

static json_t *value(struct fp *p)
{
	const char *s;
	size_t n;

	if (p->s >= p->end)
		return NULL;
	switch (*p->s) {
	case '{':
		return object(p);
	case '[':
		return array(p);
	case '"':
		if (string(p, &s, &n) != 0)
			return NULL;
		return json_stringn_nocheck(s, n); /* validated above */
	case 't':
		return word(p, "true", 4) ? NULL : json_true();
	case 'f':
		return word(p, "false", 5) ? NULL : json_false();
	case 'n':
		return word(p, "null", 4) ? NULL : json_null();
	default:
		return number(p);
	}
}

json_t *sl_fast_json_parse(const char *buf, size_t len, int base_depth, int max_depth)
{
	struct fp p = {(const unsigned char *)buf,
	               (const unsigned char *)buf + len,
	               base_depth,
	               max_depth,
	               NULL,
	               0};
	json_t *v = NULL;

	ws(&p);
	if (p.s < p.end && (*p.s == '{' || *p.s == '[')) {
		v = value(&p);
		ws(&p);
		if (v && p.s != p.end) {
			json_decref(v);
			v = NULL;
		}
	}
	free(p.scratch);
	return v;
}

json_t *sl_fast_json_parse_value(const char *buf, size_t len, int base_depth, int max_depth,
                                 const char *const *keep, size_t *used)
{
	struct fp p = {(const unsigned char *)buf,
	               (const unsigned char *)buf + len,
	               base_depth,
	               max_depth,
	               NULL,
	               0};
	json_t *v = NULL;

	if (len && (*buf == '{' || *buf == '['))
		v = keep && *buf == '{' ? object_kept(&p, keep) : value(&p);
	free(p.scratch);
	if (v && used)
		*used = (size_t)(p.s - (const unsigned char *)buf);
	return v;
}

json_t *sl_fast_json_parse_kept(const char *buf, size_t len, int base_depth, int max_depth,
                                const struct sl_fast_json_keep *keep)
{
	struct fp p = {(const unsigned char *)buf,
	               (const unsigned char *)buf + len,
	               base_depth,
	               max_depth,
	               NULL,
	               0};
	json_t *v = NULL;

	ws(&p);
	if (p.s < p.end && *p.s == '{') {
		v = object_filtered(&p, keep);
		ws(&p);
		if (v && p.s != p.end) {
			json_decref(v);
			v = NULL;
		}
	}
	free(p.scratch);
	return v;
}

size_t sl_fast_json_skip(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf, *end = s + len;
	int depth = 0;

	if (s >= end)
		return 0;
	if (*s != '{' && *s != '[' && *s != '"') {
		/* a scalar: up to the next delimiter */
		while (s < end && *s != ',' && *s != '}' && *s != ']' && *s != ' ' && *s != '\n' &&
		       *s != '\r' && *s != '\t')
			s++;
		return (size_t)(s - (const unsigned char *)buf);
	}
	while (s < end) {
		unsigned c = *s++;
		if (c == '"') {
			while (s < end && *s != '"') {
				if (*s == '\\')
					s++;
				s++;
			}
			if (s >= end)
				return 0;
			s++;
			if (depth == 0)
				return (size_t)(s - (const unsigned char *)buf);
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return (size_t)(s - (const unsigned char *)buf);
		}
	}
	return 0;
}

/* ---- fields of a flat object, no tree -----------------------------------------------------------
 */

static int arena_put(char **arena, size_t *cap, size_t *n, const char *s, size_t len)
{
	if (*n + len + 1 > *cap) {
		size_t c = *cap ? *cap : 512;
		while (c < *n + len + 1)
			c *= 2;
		char *nb = realloc(*arena, c);
		if (!nb)
			return -1;
		*arena = nb;
		*cap = c;
	}
	memcpy(*arena + *n, s, len);
	(*arena)[*n + len] = '\0';
	*n += len + 1;
	return 0;
}

/* The kind of a kept member's value, read (and validated) at p->s. Strings and integers are kept
 * (strings decoded into the arena at offset *off); anything else is validated and only classed. */
static int field_value(struct fp *p, struct sl_fast_json_field *f, char **arena, size_t *cap,
                       size_t *an)
{
	const unsigned char *b = p->s;
	const char *s;
	size_t n;

	switch (*p->s) {
	case '"':
		if (string(p, &s, &n) != 0)
			return -1;
		f->kind = SL_FJ_STRING;
		f->off = *an;
		f->n = n;
		return arena_put(arena, cap, an, s, n);
	case 't':
		f->kind = SL_FJ_TRUE;
		return word(p, "true", 4);
	case 'f':
		f->kind = SL_FJ_FALSE;
		return word(p, "false", 5);
	case 'n':
		f->kind = SL_FJ_NULL;
		return word(p, "null", 4);
	case '[':
		if (skip_array(p) != 0)
			return -1;
		f->kind = SL_FJ_OTHER;
		for (b++; *b == ' ' || *b == '\n' || *b == '\r' || *b == '\t'; b++)
			;
		if (*b == ']')
			f->kind = SL_FJ_EMPTY_ARRAY;
		return 0;
	case '{':
		f->kind = SL_FJ_OTHER;
		return skip_object(p);
	default: {
		json_t *v = number(p);
		if (!v)
			return -1;
		if (json_is_integer(v)) {
			f->kind = SL_FJ_INTEGER;
			f->i = json_integer_value(v);
		} else {
			f->kind = SL_FJ_OTHER;
		}
		json_decref(v);
		return 0;
	}
	}
}

/* A key of a flat object: plain ASCII without escapes (anything else declines), checked against
 * the keys before it for duplicates through a 128-bit filter of a hash of the whole key. */
static int fields_key(struct fp *p, struct span *keys, size_t *nkeys, uint64_t seen[2],
                      const char **k, size_t *kl)
{
	const unsigned char *s = ++p->s, *end = p->end;
	uint32_t h = 2166136261u;

	while (s < end && *s != '"') {
		if (*s < 0x20 || *s == '\\' || *s >= 0x80)
			return -1;
		h = (h ^ *s) * 16777619u;
		s++;
	}
	if (s >= end)
		return -1;
	*k = (const char *)p->s;
	*kl = (size_t)(s - p->s);
	p->s = s + 1;
	uint64_t bit = 1ULL << (h & 63);
	int w = (h >> 6) & 1;
	if (seen[w] & bit)
		for (size_t i = 0; i < *nkeys; i++)
			if (keys[i].n == *kl && memcmp(keys[i].k, *k, *kl) == 0)
				return -1; /* a duplicate: the tree path reports it */
	seen[w] |= bit;
	if (*nkeys == KEYS_MAX)
		return -1;
	keys[*nkeys].k = *k;
	keys[(*nkeys)++].n = *kl;
	return 0;
}

int sl_fast_json_fields(const char *buf, size_t len, int base_depth, int max_depth,
                        const char *const *names, struct sl_fast_json_field *out, char **arena,
                        size_t *arena_cap, size_t *used)
{
	struct fp p = {(const unsigned char *)buf,
	               (const unsigned char *)buf + len,
	               base_depth,
	               max_depth,
	               NULL,
	               0};
	struct span keys[KEYS_MAX];
	size_t nkeys = 0, an = 0, nn = 0;
	uint64_t seen[2] = {0, 0};
	int ok = 0;

	while (names[nn])
		nn++;
	memset(out, 0, nn * sizeof(*out));
	if (!len || *buf != '{' || ++p.depth > p.max_depth)
		return 0;
	p.s++;
	ws(&p);
	if (p.s < p.end && *p.s == '}') {
		p.s++;
		ok = 1;
		goto done;
	}
	for (;;) {
		const char *k;
		size_t kl, i;
		if (p.s >= p.end || *p.s != '"' || fields_key(&p, keys, &nkeys, seen, &k, &kl) != 0)
			goto done;
		ws(&p);
		if (p.s >= p.end || *p.s != ':')
			goto done;
		p.s++;
		ws(&p);
		if (p.s >= p.end)
			goto done;
		for (i = 0; i < nn; i++)
			if (names[i][0] == k[0] && !strncmp(names[i], k, kl) && !names[i][kl])
				break;
		if (i < nn)
			out[i].at = (size_t)(p.s - (const unsigned char *)buf);
		if (i < nn ? field_value(&p, &out[i], arena, arena_cap, &an) != 0
		           : skip_value(&p) != 0)
			goto done;
		ws(&p);
		if (p.s >= p.end)
			goto done;
		if (*p.s == ',') {
			p.s++;
			ws(&p);
			continue;
		}
		if (*p.s != '}')
			goto done;
		p.s++;
		ok = 1;
		break;
	}
done:
	free(p.scratch);
	if (!ok)
		return 0;
	for (size_t i = 0; i < nn; i++)
		if (out[i].kind == SL_FJ_STRING)
			out[i].s = *arena + out[i].off;
	*used = (size_t)(p.s - (const unsigned char *)buf);
	return 1;
}
