/* map_stream.c — a small byte-level scanner: it tracks strings, escapes and bracket depth to find
 * where each element ends, and copies only that element; the JSON parser then reads the element
 * alone. */
#define _POSIX_C_SOURCE 200809L /* getc_unlocked */
#include "map_stream.h"

#include <stdlib.h>
#include <string.h>

enum mode { M_TOP, M_ARRAY, M_END };

struct sl_map_stream {
	FILE *f;
	size_t max_bytes;
	int max_depth;
	enum mode mode;
	int in_object; /* the array is the value of "response" inside a top-level object */
	char *buf;
	size_t len, cap;
	int over;        /* the current element passed max_bytes: count it, do not keep it */
	int long_string; /* the current element holds a string longer than SL_MAP_STREAM_MAX_STRING
	                  */
	unsigned long long off; /* bytes read */
	size_t index;
};

struct sl_map_stream *sl_map_stream_new(FILE *f, size_t max_bytes, int max_depth)
{
	struct sl_map_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->f = f;
	s->max_bytes = max_bytes;
	s->max_depth = max_depth;
	return s;
}

void sl_map_stream_free(struct sl_map_stream *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

static int rd(struct sl_map_stream *s)
{
	int c = getc_unlocked(s->f); /* one reader per stream: no locking per byte */
	if (c != EOF)
		s->off++;
	return c;
}

static void unrd(struct sl_map_stream *s, int c)
{
	if (c != EOF) {
		ungetc(c, s->f);
		s->off--;
	}
}

static int put(struct sl_map_stream *s, int c)
{
	if (s->over)
		return 0;
	if (s->len + 2 > s->max_bytes) {
		s->over = 1;
		return 0;
	}
	if (s->len + 2 > s->cap) {
		size_t n = s->cap ? s->cap * 2 : 65536;
		if (n > s->max_bytes + 2)
			n = s->max_bytes + 2;
		char *b = realloc(s->buf, n);
		if (!b)
			return SL_ENOMEM;
		s->buf = b;
		s->cap = n;
	}
	s->buf[s->len++] = (char)c;
	return 0;
}

static int skip_ws(struct sl_map_stream *s)
{
	int c;
	do
		c = rd(s);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	return c;
}

/* Copy the rest of a string (the opening quote already consumed and copied). */
static int copy_string(struct sl_map_stream *s, struct sl_err *err)
{
	int c;
	size_t n = 0;
	while ((c = rd(s)) != EOF) {
		if (++n > SL_MAP_STREAM_MAX_STRING && !s->long_string) {
			s->long_string = 1;
			s->over = 1;
		}
		if (put(s, c))
			return sl_err_set(err, SL_ENOMEM, "input", "out of memory");
		if (c == '\\') {
			c = rd(s);
			if (c == EOF)
				break;
			if (put(s, c))
				return sl_err_set(err, SL_ENOMEM, "input", "out of memory");
		} else if (c == '"') {
			return 0;
		}
	}
	return sl_err_set(err, SL_EINVAL, "input", "unterminated string at byte %llu", s->off);
}

/* Copy one value whose first byte c was read; depth = brackets already open in the buffer. */
static int copy_value(struct sl_map_stream *s, int c, int depth, int *too_deep, struct sl_err *err)
{
	int rc;
	if (c == '"') {
		if (put(s, c))
			return sl_err_set(err, SL_ENOMEM, "input", "out of memory");
		return copy_string(s, err);
	}
	if (c != '{' && c != '[' && depth == 0) { /* a scalar */
		while (c != EOF && c != ',' && c != ']' && c != '}' && c != ' ' && c != '\n' &&
		       c != '\r' && c != '\t') {
			if (put(s, c))
				return sl_err_set(err, SL_ENOMEM, "input", "out of memory");
			c = rd(s);
		}
		unrd(s, c);
		return 0;
	}
	for (;;) {
		if (c == EOF)
			return sl_err_set(err, SL_EINVAL, "input",
			                  "unexpected end of input at byte %llu", s->off);
		if (put(s, c))
			return sl_err_set(err, SL_ENOMEM, "input", "out of memory");
		if (c == '"') {
			if ((rc = copy_string(s, err)) != 0)
				return rc;
		} else if (c == '{' || c == '[') {
			if (++depth > s->max_depth)
				*too_deep = 1;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return 0;
			if (depth < 0)
				return sl_err_set(err, SL_EINVAL, "input",
				                  "unbalanced '%c' at byte %llu", c, s->off);
		}
		c = rd(s);
	}
}

static int finish(struct sl_map_stream *s, int too_deep, const char **buf, size_t *len,
                  size_t *index, struct sl_err *err)
{
	*index = s->index++;
	*buf = s->buf ? s->buf : "";
	*len = s->len;
	if (s->buf)
		s->buf[s->len] = 0;
	if (s->long_string)
		return sl_err_set(
		    err, SL_ELIMIT, "input",
		    "element holds a string longer than %u bytes, skipped (ends at byte %llu)",
		    (unsigned)SL_MAP_STREAM_MAX_STRING, s->off);
	if (s->over)
		return sl_err_set(err, SL_ELIMIT, "input",
		                  "element larger than %zu bytes, skipped (ends at byte %llu)",
		                  s->max_bytes, s->off);
	if (too_deep)
		return sl_err_set(err, SL_ELIMIT, "input",
		                  "element nested deeper than %d, skipped (ends at byte %llu)",
		                  s->max_depth, s->off);
	s->buf[s->len] = 0;
	*buf = s->buf;
	*len = s->len;
	return 1;
}

static int fail(struct sl_map_stream *s, int rc)
{
	s->mode = M_END;
	return rc;
}

int sl_map_stream_next(struct sl_map_stream *s, const char **buf, size_t *len, size_t *index,
                       struct sl_err *err)
{
	int rc = 0, too_deep = 0;
	s->len = 0;
	s->over = 0;
	s->long_string = 0;
	for (;;) {
		if (s->mode == M_END)
			return 0;
		int c = skip_ws(s);
		if (s->mode == M_ARRAY) {
			if (c == ',')
				continue;
			if (c == ']') {
				s->mode = M_TOP;
				if (s->in_object) { /* the rest of {"response": [...], ...} */
					s->in_object = 0;
					s->over = 1; /* discard */
					if ((rc = copy_value(s, '{', 0, &too_deep, err)) != 0)
						return fail(s, rc);
					s->over = 0;
					s->len = 0;
				}
				continue;
			}
			if (c == EOF)
				return fail(
				    s,
				    sl_err_set(err, SL_EINVAL, "input",
				               "unexpected end of input in an array at byte %llu",
				               s->off));
			if ((rc = copy_value(s, c, 0, &too_deep, err)) != 0)
				return fail(s, rc);
			return finish(s, too_deep, buf, len, index, err);
		}
		/* top level */
		if (c == EOF)
			return fail(s, 0);
		if (c == '[') {
			s->mode = M_ARRAY;
			continue;
		}
		if (c != '{')
			return fail(s, sl_err_set(err, SL_EINVAL, "input",
			                          "expected '{' or '[' at byte %llu", s->off));
		/* peek the first key: "response" streams its array, anything else is one document
		 */
		if (put(s, c))
			return fail(s, sl_err_set(err, SL_ENOMEM, "input", "out of memory"));
		c = skip_ws(s);
		if (c == '"') {
			size_t key_at = s->len;
			if (put(s, c) || (rc = copy_string(s, err)) != 0)
				return fail(s, rc ? rc : SL_ENOMEM);
			if (s->len - key_at == 10 &&
			    memcmp(s->buf + key_at, "\"response\"", 10) == 0) {
				int d = skip_ws(s);
				int a = d == ':' ? skip_ws(s) : d;
				if (d == ':' && a == '[') {
					s->mode = M_ARRAY;
					s->in_object = 1;
					s->len = 0;
					continue;
				}
				if (put(s, ' ') || put(s, d))
					return fail(s, SL_ENOMEM);
				if (d == ':')
					unrd(s, a);
			}
			c = rd(s);
		}
		if ((rc = copy_value(s, c, 1, &too_deep, err)) != 0)
			return fail(s, rc);
		return finish(s, too_deep, buf, len, index, err);
	}
}
