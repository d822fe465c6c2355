/* payload.c — a changed object's JSON text written in one pass over the original: keys sorted,
 * strings substituted as they are written, everything else written as jansson writes it. */
#include "payload.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define PAYLOAD_MAX_DEPTH 128 /* what sl_gdpr_replaced_n refuses beyond */
#define KEYS_INLINE 32

struct writer {
	struct sl_payload_buf *b;
	const struct sl_gdpr_sub *subs;
	size_t n;
	size_t hits; /* strings in which a value occurs, so far */
};

struct member {
	const char *key;
	size_t len;
	const json_t *v;
};

/* Room for n more bytes and a NUL: the buffer grown. */
static int grow(struct sl_payload_buf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->len + n + 1 <= b->cap)
		return 0;
	if (n > SIZE_MAX / 4 - b->len)
		return SL_ENOMEM;
	for (cap = b->cap ? b->cap : 1024; cap < b->len + n + 1; cap *= 2)
		;
	if (!(np = realloc(b->p, cap)))
		return SL_ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

static inline int reserve(struct sl_payload_buf *b, size_t n)
{
	return b->len + n + 1 <= b->cap ? 0 : grow(b, n);
}

static int put(struct sl_payload_buf *b, const char *s, size_t n)
{
	if (reserve(b, n) != 0)
		return SL_ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

static int put1(struct sl_payload_buf *b, char c)
{
	if (b->len + 2 > b->cap && grow(b, 1) != 0)
		return SL_ENOMEM;
	b->p[b->len++] = c;
	return 0;
}

/* s[0..n) as the inside of a JSON string, as json_dumps writes it (sl_json_escape: escapes of
 * jansson 2.x, UTF-8 passed through, invalid UTF-8 refused). */
static int put_chars(struct sl_payload_buf *b, const char *str, size_t n)
{
	size_t k;

	/* the worst case (every byte a \u00XX): no check per byte */
	if (n > SIZE_MAX / 8 || reserve(b, 6 * n) != 0)
		return SL_ENOMEM;
	if ((k = sl_json_escape(b->p + b->len, str, n)) == SL_JSON_BAD_UTF8)
		return SL_EINVAL;
	b->len += k;
	return 0;
}

/* s[0..n) as a JSON string. */
static int put_str(struct sl_payload_buf *b, const char *s, size_t n)
{
	int rc = put1(b, '"');

	if (rc == 0)
		rc = put_chars(b, s, n);
	return rc ? rc : put1(b, '"');
}

/* Whether one of the values occurs in s[0..n): a cheap test before sl_gdpr_replace_each, which
 * decides (up to the string's NUL, as the tree path does). */
static int any_occurs(const struct writer *w, const char *s, size_t n)
{
	size_t k;

	for (k = 0; k < w->n; k++) {
		const char *v = w->subs[k].value, *p = s, *end = s + n;
		size_t vl = w->subs[k].vlen;
		while (vl <= (size_t)(end - p) && (p = memchr(p, v[0], (size_t)(end - p) - vl + 1))) {
			if (memcmp(p, v, vl) == 0)
				return 1;
			p++;
		}
	}
	return 0;
}

/* A string member or element, substituted when subst as sl_gdpr_replaced_n would. */
static int put_string(struct writer *w, const json_t *v, int subst)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	char *r;
	int oom = 0, rc;

	if (!subst || !w->n || !any_occurs(w, s, n))
		return put_str(w->b, s, n);
	w->hits++;
	if (w->n == 1 && strlen(s) == n) {
		/* one value (nearly always): its occurrences replaced as they are written, left
		 * to right without overlap as sl_gdpr_replace_each does, no string built */
		const char *val = w->subs[0].value, *with = w->subs[0].with, *p = s, *q;
		size_t vl = w->subs[0].vlen, wl = strlen(with);
		if ((rc = put1(w->b, '"')) != 0)
			return rc;
		while ((q = strstr(p, val)) != NULL) {
			if ((rc = put_chars(w->b, p, (size_t)(q - p))) != 0 ||
			    (rc = put_chars(w->b, with, wl)) != 0)
				return rc;
			p = q + vl;
		}
		if ((rc = put_chars(w->b, p, n - (size_t)(p - s))) != 0)
			return rc;
		return put1(w->b, '"');
	}
	r = sl_gdpr_replace_each(s, w->subs, w->n, &oom);
	if (oom)
		return SL_ENOMEM;
	if (!r)
		return put_str(w->b, s, n);
	rc = put_str(w->b, r, strlen(r));
	free(r);
	return rc;
}

static int put_integer(struct sl_payload_buf *b, json_int_t v)
{
	char tmp[24];
	size_t n;
	const char *p = sl_json_int_text(v, tmp, &n);

	return put(b, p, n);
}

static int put_value(struct writer *w, const json_t *v, int subst, int depth);

/* The top-level x_misp_distribution of an object pushed to MISP: 2 (after substitutions, as the
 * policy reads it) becomes 1, of the same kind. */
static int put_level(struct writer *w, const json_t *v, int *downgraded)
{
	char *r = NULL;
	const char *s;
	int oom = 0, rc;

	if (json_is_integer(v)) {
		if ((int)json_integer_value(v) != 2) /* as the policy reads it */
			return put_value(w, v, 0, 1);
		*downgraded = 1;
		return put1(w->b, '1');
	}
	if (!json_is_string(v))
		return put_value(w, v, 1, 1);
	s = json_string_value(v);
	if (w->n && (r = sl_gdpr_replace_each(s, w->subs, w->n, &oom)) != NULL)
		s = r;
	if (oom)
		return SL_ENOMEM;
	if (s[0] == '2' && s[1] == '\0') {
		*downgraded = 1;
		rc = put(w->b, "\"1\"", 3);
	} else {
		rc = r ? put_str(w->b, r, strlen(r)) : put_str(w->b, s, json_string_length(v));
	}
	free(r);
	return rc;
}

/* jansson's JSON_SORT_KEYS order: bytes compared, then the shorter key first. */
static int member_cmp(const struct member *a, const struct member *b)
{
	size_t m = a->len < b->len ? a->len : b->len;
	int r;

	if (m && a->key[0] != b->key[0])
		return (unsigned char)a->key[0] < (unsigned char)b->key[0] ? -1 : 1;
	r = memcmp(a->key, b->key, m);
	return r ? r : a->len < b->len ? -1 : a->len > b->len;
}

static int by_key(const void *a, const void *b)
{
	return member_cmp(a, b);
}

/* One member, `"key":value`. */
static int put_member(struct writer *w, const struct member *m, int first, int subst, int depth,
                      int downgrade, int *downgraded)
{
	const json_t *e = m->v;
	int rc;

	if ((rc = put1(w->b, first ? '{' : ',')) != 0 || (rc = put_str(w->b, m->key, m->len)) != 0 ||
	    (rc = put1(w->b, ':')) != 0)
		return rc;
	/* objects are always looked into; strings and arrays unless the key names an id, a type,
	 * a timestamp or a reference */
	if (subst && (json_is_string(e) || json_is_array(e)) && sl_gdpr_key_is_identity(m->key))
		subst = 0;
	if (downgrade && m->len == 19 && memcmp(m->key, "x_misp_distribution", 19) == 0)
		return put_level(w, e, downgraded);
	return put_value(w, e, subst, depth + 1);
}

static int is_level_key(const char *k, size_t len)
{
	return len == 19 && memcmp(k, "x_misp_distribution", 19) == 0;
}

/* The members of an object with a memo of it: untouched ones copied from the memo's text. */
static int put_object_memo(struct writer *w, const struct sl_payload_memo *memo, int downgrade,
                           int *downgraded)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < memo->nm && rc == 0; i++) {
		const struct sl_payload_seg *g = &memo->m[i];
		if (!g->touched && !(downgrade && is_level_key(g->key, g->klen))) {
			rc = put(w->b, memo->text + g->off, g->len);
		} else {
			struct member m = {g->key, g->klen, g->v};
			rc = put_member(w, &m, i == 0, 1, 0, downgrade, downgraded);
		}
	}
	return rc ? rc : put1(w->b, '}');
}

static int put_object(struct writer *w, const json_t *v, int subst, int depth, int downgrade,
                      int *downgraded, struct sl_payload_memo *memo)
{
	struct member sm[KEYS_INLINE], *m = sm;
	size_t size = json_object_size(v), i, k;
	void *it;
	int rc = 0;

	if (size == 0)
		return put(w->b, "{}", 2);
	if (size > KEYS_INLINE && !(m = malloc(size * sizeof(*m))))
		return SL_ENOMEM;
	for (i = 0, it = json_object_iter((json_t *)v); it && i < size;
	     i++, it = json_object_iter_next((json_t *)v, it)) {
		m[i].key = json_object_iter_key(it);
		m[i].len = json_object_iter_key_len(it);
		m[i].v = json_object_iter_value(it);
	}
	size = i;
	if (size > KEYS_INLINE) {
		qsort(m, size, sizeof(*m), by_key);
	} else {
		/* an object of a dozen members: insertion sort, no qsort call per object */
		for (i = 1; i < size; i++) {
			struct member x = m[i];
			for (k = i; k > 0 && member_cmp(&m[k - 1], &x) > 0; k--)
				m[k] = m[k - 1];
			m[k] = x;
		}
	}
	if (memo)
		memo->nm = size <= SL_PAYLOAD_MEMO_MEMBERS ? size : 0;
	for (i = 0; i < size && rc == 0; i++) {
		size_t at = w->b->len, hits = w->hits;
		rc = put_member(w, &m[i], i == 0, subst, depth, downgrade, downgraded);
		if (memo && memo->nm) {
			struct sl_payload_seg *g = &memo->m[i];
			g->key = m[i].key;
			g->klen = m[i].len;
			g->v = m[i].v;
			g->off = at;
			g->len = w->b->len - at;
			g->touched = w->hits != hits || is_level_key(m[i].key, m[i].len);
		}
	}
	if (rc == 0)
		rc = put1(w->b, '}');
	if (m != sm)
		free(m);
	return rc;
}

/* Reals: jansson's own formatting (precision, ".0", exponent), by asking it (rare in STIX). */
static int put_real(struct sl_payload_buf *b, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	if (!s)
		return SL_ENOMEM;
	rc = put(b, s, strlen(s));
	free(s);
	return rc;
}

static int put_value(struct writer *w, const json_t *v, int subst, int depth)
{
	size_t i, n;
	int rc;

	if (subst && depth > PAYLOAD_MAX_DEPTH)
		return SL_ELIMIT;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(w, v, subst, depth, 0, NULL, NULL);
	case JSON_ARRAY:
		n = json_array_size(v);
		if (n == 0)
			return put(w->b, "[]", 2);
		for (i = 0; i < n; i++)
			if ((rc = put1(w->b, i ? ',' : '[')) != 0 ||
			    (rc = put_value(w, json_array_get(v, i), subst, depth + 1)) != 0)
				return rc;
		return put1(w->b, ']');
	case JSON_STRING:
		return put_string(w, v, subst);
	case JSON_INTEGER:
		return put_integer(w->b, json_integer_value(v));
	case JSON_REAL:
		return put_real(w->b, v);
	case JSON_TRUE:
		return put(w->b, "true", 4);
	case JSON_FALSE:
		return put(w->b, "false", 5);
	default:
		return put(w->b, "null", 4);
	}
}

int sl_payload_text_memo(struct sl_payload_buf *b, const json_t *obj,
                         const struct sl_gdpr_sub *subs, size_t n, int downgrade, int *downgraded,
                         struct sl_payload_memo *memo, unsigned long long sig)
{
	struct writer w = {b, subs, n, 0};
	int dg = 0, rc;
	size_t k;

	b->len = 0;
	if (downgraded)
		*downgraded = 0;
	for (k = 0; k < n; k++)
		if (!subs[k].value || !subs[k].value[0] || !subs[k].with ||
		    subs[k].vlen != strlen(subs[k].value))
			return SL_EINVAL;
	if (!obj)
		return SL_EINVAL;
	if (!json_is_object(obj)) {
		rc = put_value(&w, obj, 1, 0);
	} else if (memo && memo->obj == obj && memo->sig == sig && memo->text && memo->nm &&
	           memo->nm == json_object_size(obj)) {
		rc = put_object_memo(&w, memo, downgrade, &dg);
	} else {
		if (memo) {
			memo->obj = NULL;
			memo->text = NULL;
			memo->nm = 0;
		}
		rc = put_object(&w, obj, 1, 0, downgrade, &dg, memo);
		if (rc == 0 && memo && memo->nm) {
			memo->obj = obj;
			memo->sig = sig;
		}
	}
	if (rc == 0 && (rc = reserve(b, 0)) == 0)
		b->p[b->len] = '\0';
	if (rc == 0 && downgraded)
		*downgraded = dg;
	return rc;
}

int sl_payload_text(struct sl_payload_buf *b, const json_t *obj, const struct sl_gdpr_sub *subs,
                    size_t n, int downgrade, int *downgraded)
{
	return sl_payload_text_memo(b, obj, subs, n, downgrade, downgraded, NULL, 0);
}
