/* stix_emit.c — compact JSON serialisation into a growing buffer, byte-identical to
 * json_dumps(v, JSON_COMPACT) of jansson 2.x: insertion key order, "\uXXXX" (upper-case hex) for
 * control characters, short escapes for \b \f \n \r \t \" \\, UTF-8 passed through, invalid UTF-8
 * refused. json_dumps pays for a callback per chunk and a loop-detection hash per container;
 * here a string is one scan and one memcpy in the common case. */
#include "stix_emit.h"
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* jansson refuses deeper output too; it also keeps a circular structure from recursing forever */
#define EMIT_MAX_DEPTH 2048

struct sl_stix_emit {
	char *buf;
	size_t len, cap, max;
	FILE *sink;      /* set: bytes past `block` are written out as they come */
	size_t block;    /* a full block is written before the buffer grows */
	unsigned writes; /* blocks written to sink (a value that spans one cannot be undone) */
	int sink_err;
};

struct sl_stix_emit *sl_stix_emit_new(size_t max_bytes)
{
	struct sl_stix_emit *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->max = max_bytes ? max_bytes : SL_STIX_EMIT_DEFAULT_MAX;
	/* cap never exceeds max + 1, so a capacity check is also the bound check */
	e->cap = e->max < 4096 ? e->max + 1 : 4096;
	e->buf = malloc(e->cap);
	if (!e->buf) {
		free(e);
		return NULL;
	}
	e->buf[0] = '\0';
	return e;
}

void sl_stix_emit_free(struct sl_stix_emit *e)
{
	if (!e)
		return;
	free(e->buf);
	free(e);
}

/* Room for n more bytes plus the terminating NUL. 0, SL_ELIMIT, SL_ENOMEM or SL_EIO. */
static int reserve(struct sl_stix_emit *e, size_t n)
{
	size_t need = e->len + n + 1, cap;
	char *nb;

	if (need <= e->cap)
		return 0;
	if (e->sink && e->len >= e->block) {
		/* streaming: write what is there instead of growing (a long object_refs list) */
		if (fwrite(e->buf, 1, e->len, e->sink) != e->len)
			return e->sink_err = SL_EIO;
		e->len = 0;
		e->writes++;
		need = n + 1;
		if (need <= e->cap)
			return 0;
	}
	if (n > e->max || e->len + n > e->max)
		return SL_ELIMIT;
	cap = e->cap;
	while (cap < need)
		cap *= 2;
	if (cap > e->max + 1)
		cap = e->max + 1;
	nb = realloc(e->buf, cap);
	if (!nb)
		return SL_ENOMEM;
	e->buf = nb;
	e->cap = cap;
	return 0;
}

static int put(struct sl_stix_emit *e, const char *s, size_t n)
{
	int r = reserve(e, n);

	if (r)
		return r;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	return 0;
}

static int putc1(struct sl_stix_emit *e, char ch)
{
	if (e->len + 2 > e->cap) {
		int r = reserve(e, 1);
		if (r)
			return r;
	}
	e->buf[e->len++] = ch;
	return 0;
}

/* s[0..n) as a JSON string, as json_dumps writes it (sl_json_escape). */
static int put_string(struct sl_stix_emit *e, const char *str, size_t n)
{
	size_t k;
	char *tmp;
	int r;

	/* room for the worst case (every byte a \u00XX) when the bound allows it: the escapes are
	 * written in place; near the bound, into a scratch block, and the bound decides */
	if (n <= (e->max - e->len) / 6) {
		if ((r = reserve(e, 6 * n + 2)) != 0)
			return r;
		e->buf[e->len++] = '"';
		if ((k = sl_json_escape(e->buf + e->len, str, n)) == SL_JSON_BAD_UTF8)
			return SL_EINVAL;
		e->len += k;
		return putc1(e, '"');
	}
	if (n > SIZE_MAX / 6 || !(tmp = malloc(6 * n + 1)))
		return SL_ENOMEM;
	k = sl_json_escape(tmp, str, n);
	r = k == SL_JSON_BAD_UTF8 ? SL_EINVAL : putc1(e, '"');
	if (r == 0)
		r = put(e, tmp, k);
	free(tmp);
	return r ? r : putc1(e, '"');
}

static int put_integer(struct sl_stix_emit *e, json_int_t v)
{
	char tmp[24];
	size_t n;
	const char *p = sl_json_int_text(v, tmp, &n);

	return put(e, p, n);
}

/* Reals are rare in STIX output; jansson's own formatting (precision, ".0", exponent) is kept
 * by asking it. */
static int put_real(struct sl_stix_emit *e, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int r;

	if (!s)
		return SL_EINVAL;
	r = put(e, s, strlen(s));
	free(s);
	return r;
}

static int put_value(struct sl_stix_emit *e, const json_t *v, int depth)
{
	int r = 0;

	if (depth > EMIT_MAX_DEPTH)
		return SL_ELIMIT;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		void *it = json_object_iter((json_t *)v);
		int first = 1;
		if ((r = putc1(e, '{')) != 0)
			return r;
		for (; it; it = json_object_iter_next((json_t *)v, it)) {
			if (!first && (r = putc1(e, ',')) != 0)
				return r;
			first = 0;
			if ((r = put_string(e, json_object_iter_key(it),
			                    json_object_iter_key_len(it))) != 0 ||
			    (r = putc1(e, ':')) != 0 ||
			    (r = put_value(e, json_object_iter_value(it), depth + 1)) != 0)
				return r;
		}
		return putc1(e, '}');
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		if ((r = putc1(e, '[')) != 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			if (i && (r = putc1(e, ',')) != 0)
				return r;
			if ((r = put_value(e, json_array_get(v, i), depth + 1)) != 0)
				return r;
		}
		return putc1(e, ']');
	}
	case JSON_STRING:
		return put_string(e, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return put_integer(e, json_integer_value(v));
	case JSON_REAL:
		return put_real(e, v);
	case JSON_TRUE:
		return put(e, "true", 4);
	case JSON_FALSE:
		return put(e, "false", 5);
	case JSON_NULL:
		return put(e, "null", 4);
	}
	return SL_EINVAL;
}

int sl_stix_emit_value(struct sl_stix_emit *e, const json_t *v, struct sl_err *err)
{
	size_t at = e->len;
	unsigned writes = e->writes;
	int r = v ? put_value(e, v, 0) : SL_EINVAL;

	if (r == 0) {
		e->buf[e->len] = '\0';
		return 0;
	}
	if (writes == e->writes)
		e->len = at; /* else part of the value is already written: the output is broken */
	e->buf[e->len] = '\0';
	if (r == SL_EIO)
		return sl_err_set(err, r, "output", "writing JSON failed");
	if (r == SL_ELIMIT)
		return sl_err_set(err, r, "output", "JSON output over the limit of %zu bytes",
		                  e->max);
	if (r == SL_ENOMEM)
		return sl_err_set(err, r, "output", "out of memory serialising JSON");
	return sl_err_set(err, r, "output", "value cannot be serialised (invalid UTF-8 string)");
}

int sl_stix_emit_string(struct sl_stix_emit *e, const char *s, size_t n, struct sl_err *err)
{
	size_t at = e->len;
	unsigned writes = e->writes;
	int r = put_string(e, s, n);

	if (r == 0) {
		e->buf[e->len] = '\0';
		return 0;
	}
	if (writes == e->writes)
		e->len = at;
	e->buf[e->len] = '\0';
	if (r == SL_EIO)
		return sl_err_set(err, r, "output", "writing JSON failed");
	if (r == SL_ELIMIT)
		return sl_err_set(err, r, "output", "JSON output over the limit of %zu bytes",
		                  e->max);
	if (r == SL_ENOMEM)
		return sl_err_set(err, r, "output", "out of memory serialising JSON");
	return sl_err_set(err, r, "output", "value cannot be serialised (invalid UTF-8 string)");
}

int sl_stix_emit_raw(struct sl_stix_emit *e, const char *s, size_t n, struct sl_err *err)
{
	int r = put(e, s, n);

	e->buf[e->len] = '\0';
	if (r == SL_EIO)
		return sl_err_set(err, r, "output", "writing JSON failed");
	if (r)
		return sl_err_set(err, r, "output", "JSON output over the limit of %zu bytes",
		                  e->max);
	return 0;
}

const char *sl_stix_emit_data(const struct sl_stix_emit *e, size_t *len)
{
	if (len)
		*len = e->len;
	return e->buf;
}

void sl_stix_emit_set_sink(struct sl_stix_emit *e, FILE *out, size_t block)
{
	e->sink = out;
	e->block = block;
}

void sl_stix_emit_reset(struct sl_stix_emit *e)
{
	e->len = 0;
	e->buf[0] = '\0';
}

int sl_stix_emit_flush(struct sl_stix_emit *e, FILE *out, struct sl_err *err)
{
	size_t n = e->len;
	int ok = n == 0 || fwrite(e->buf, 1, n, out) == n;

	sl_stix_emit_reset(e);
	if (!ok)
		return sl_err_set(err, SL_EIO, "output", "writing JSON failed");
	return 0;
}

char *sl_stix_emit_dumps(const json_t *v, size_t *len)
{
	struct sl_stix_emit *e = sl_stix_emit_new(0);
	char *s;

	if (!e)
		return NULL;
	if (sl_stix_emit_value(e, v, NULL) != 0) {
		sl_stix_emit_free(e);
		return NULL;
	}
	s = e->buf;
	if (len)
		*len = e->len;
	free(e);
	return s;
}
