/* stix_pattern.c — STIX 2.1 pattern building (escaping) and a recursive-descent syntax validator.
 */
#include "stix_pattern.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct sl_pattern {
	char *buf;
	size_t len, cap;
	size_t count;
	int in_group; /* inside a group: next item needs " AND " only if the group is not empty */
	int group_empty; /* the open group has no comparison yet */
	int need_and;    /* something precedes at the current level */
	int closed;      /* buf currently ends with the closing ']' */
};

struct sl_pattern *sl_pattern_new(void)
{
	struct sl_pattern *p = calloc(1, sizeof(*p));

	if (p)
		sl_pattern_reset(p);
	return p;
}

void sl_pattern_free(struct sl_pattern *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

static int put(struct sl_pattern *p, const char *s, size_t n)
{
	if (p->len + n + 2 > p->cap) {
		size_t nc = p->cap ? p->cap : 128;
		while (p->len + n + 2 > nc)
			nc *= 2;
		char *nb = realloc(p->buf, nc);
		if (!nb)
			return SL_ENOMEM;
		p->buf = nb;
		p->cap = nc;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
	return 0;
}

void sl_pattern_reset(struct sl_pattern *p)
{
	p->len = 0;
	p->count = 0;
	p->in_group = 0;
	p->group_empty = 0;
	p->need_and = 0;
	p->closed = 0;
	if (put(p, "[", 1) != 0)
		p->len = 0;
}

static void unclose(struct sl_pattern *p)
{
	if (p->closed) {
		p->len--;
		p->buf[p->len] = '\0';
		p->closed = 0;
	}
}

static int put_escaped(struct sl_pattern *p, const char *v, size_t n, int pct)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		const char *rep = NULL;
		if (v[i] == '\\')
			rep = "\\\\";
		else if (v[i] == '\'')
			rep = "\\'";
		else if (pct && v[i] == '%')
			rep = "\\\\%";
		if (!rep)
			continue;
		if (put(p, v + start, i - start) || put(p, rep, strlen(rep)))
			return SL_ENOMEM;
		start = i + 1;
	}
	return put(p, v + start, n - start);
}

static int add(struct sl_pattern *p, const char *path, const char *v, size_t n, int pct)
{
	if (!p->buf)
		return SL_ENOMEM;
	unclose(p);
	if (p->in_group ? !p->group_empty : p->need_and)
		if (put(p, " AND ", 5))
			return SL_ENOMEM;
	if (put(p, path, strlen(path)) || put(p, " = '", 4) || put_escaped(p, v, n, pct) ||
	    put(p, "'", 1))
		return SL_ENOMEM;
	p->count++;
	if (p->in_group)
		p->group_empty = 0;
	else
		p->need_and = 1;
	return 0;
}

int sl_pattern_add(struct sl_pattern *p, const char *path, const char *value, size_t len)
{
	return add(p, path, value, len, 0);
}

int sl_pattern_add_pct(struct sl_pattern *p, const char *path, const char *value, size_t len)
{
	return add(p, path, value, len, 1);
}

int sl_pattern_group_begin(struct sl_pattern *p)
{
	if (!p->buf)
		return SL_ENOMEM;
	unclose(p);
	if (p->need_and && put(p, " AND ", 5))
		return SL_ENOMEM;
	if (put(p, "(", 1))
		return SL_ENOMEM;
	p->in_group = 1;
	p->group_empty = 1;
	return 0;
}

int sl_pattern_group_end(struct sl_pattern *p)
{
	if (!p->buf)
		return SL_ENOMEM;
	unclose(p);
	p->in_group = 0;
	if (p->group_empty) {
		/* an empty group "(": drop it and the " AND " before it */
		p->len--;
		if (p->need_and)
			p->len -= 5;
		p->buf[p->len] = '\0';
		return 0;
	}
	p->need_and = 1;
	return put(p, ")", 1);
}

size_t sl_pattern_count(const struct sl_pattern *p)
{
	return p->count;
}

const char *sl_pattern_str(struct sl_pattern *p)
{
	if (!p->buf || p->count == 0 || p->in_group)
		return NULL;
	if (!p->closed) {
		if (put(p, "]", 1))
			return NULL;
		p->closed = 1;
	}
	return p->buf;
}

char *sl_pattern_escape(const char *value, size_t len)
{
	struct sl_pattern tmp = {0};
	char *out;

	if (put(&tmp, "", 0) || put_escaped(&tmp, value, len, 0)) {
		free(tmp.buf);
		return NULL;
	}
	out = tmp.buf;
	return out;
}

/* ---- validator ----------------------------------------------------------------------------------
 */

#define MAX_DEPTH 64

struct lex {
	const char *s;
	size_t i;
	int depth;
	const char *why;
};

static void ws(struct lex *l)
{
	while (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' || l->s[l->i] == '\r')
		l->i++;
}

static int fail(struct lex *l, const char *why)
{
	if (!l->why)
		l->why = why;
	return -1;
}

/* Keyword match: case-sensitive, whole word. */
static int kw(struct lex *l, const char *w)
{
	size_t n = strlen(w);

	ws(l);
	if (strncmp(l->s + l->i, w, n) != 0)
		return 0;
	char c = l->s[l->i + n];
	if (isalnum((unsigned char)c) || c == '_')
		return 0;
	l->i += n;
	return 1;
}

static int ch(struct lex *l, char c)
{
	ws(l);
	if (l->s[l->i] != c)
		return 0;
	l->i++;
	return 1;
}

static int string_lit(struct lex *l)
{
	if (l->s[l->i] != '\'')
		return fail(l, "expected a quoted string");
	l->i++;
	for (;;) {
		char c = l->s[l->i];
		if (c == '\0')
			return fail(l, "unterminated string literal");
		if (c == '\\') {
			char e = l->s[l->i + 1];
			if (e != '\\' && e != '\'')
				return fail(l,
				            "invalid escape in string literal (only \\\\ and \\')");
			l->i += 2;
			continue;
		}
		if (c == '\'') {
			l->i++;
			return 0;
		}
		l->i++;
	}
}

static int ident(struct lex *l)
{
	size_t st = l->i;

	if (!(isalpha((unsigned char)l->s[l->i]) || l->s[l->i] == '_'))
		return fail(l, "expected an identifier");
	while (isalnum((unsigned char)l->s[l->i]) || l->s[l->i] == '_' || l->s[l->i] == '-')
		l->i++;
	return l->i > st ? 0 : -1;
}

static int object_path(struct lex *l)
{
	size_t st;

	ws(l);
	st = l->i;
	while (islower((unsigned char)l->s[l->i]) || isdigit((unsigned char)l->s[l->i]) ||
	       l->s[l->i] == '-')
		l->i++;
	if (l->i == st || l->s[l->i] != ':')
		return fail(l, "expected an object type followed by ':'");
	l->i++;
	if (l->s[l->i] == '\'') {
		if (string_lit(l))
			return -1;
	} else if (ident(l)) {
		return -1;
	}
	for (;;) {
		if (l->s[l->i] == '.') {
			l->i++;
			if (l->s[l->i] == '\'') {
				if (string_lit(l))
					return -1;
			} else if (ident(l)) {
				return -1;
			}
		} else if (l->s[l->i] == '[') {
			l->i++;
			if (l->s[l->i] == '*') {
				l->i++;
			} else {
				size_t d = l->i;
				if (l->s[l->i] == '-')
					l->i++;
				while (isdigit((unsigned char)l->s[l->i]))
					l->i++;
				if (l->i == d)
					return fail(l, "expected an index or '*'");
			}
			if (l->s[l->i] != ']')
				return fail(l, "expected ']' after an index");
			l->i++;
		} else {
			return 0;
		}
	}
}

static int number(struct lex *l)
{
	size_t st = l->i;

	if (l->s[l->i] == '-' || l->s[l->i] == '+')
		l->i++;
	while (isdigit((unsigned char)l->s[l->i]))
		l->i++;
	if (l->s[l->i] == '.') {
		l->i++;
		while (isdigit((unsigned char)l->s[l->i]))
			l->i++;
	}
	return l->i > st && isdigit((unsigned char)l->s[l->i - 1]) ? 0
	                                                           : fail(l, "expected a literal");
}

static int prefixed_lit(struct lex *l, char prefix)
{
	if (l->s[l->i] == prefix && l->s[l->i + 1] == '\'') {
		l->i++;
		return string_lit(l);
	}
	return 1;
}

static int primitive(struct lex *l)
{
	int r;

	ws(l);
	if (l->s[l->i] == '\'')
		return string_lit(l);
	if ((r = prefixed_lit(l, 'h')) <= 0 || (r = prefixed_lit(l, 'b')) <= 0 ||
	    (r = prefixed_lit(l, 't')) <= 0)
		return r;
	if (kw(l, "true") || kw(l, "false"))
		return 0;
	return number(l);
}

static int comparison_or(struct lex *l);

static int prop_test(struct lex *l)
{
	ws(l);
	if (l->s[l->i] == '(') {
		l->i++;
		if (++l->depth > MAX_DEPTH)
			return fail(l, "pattern nested too deeply");
		if (comparison_or(l))
			return -1;
		l->depth--;
		return ch(l, ')') ? 0 : fail(l, "expected ')'");
	}
	if (kw(l, "EXISTS"))
		return object_path(l);
	if (object_path(l))
		return -1;
	kw(l, "NOT");
	ws(l);
	const char *s = l->s + l->i;
	if (!strncmp(s, "<=", 2) || !strncmp(s, ">=", 2) || !strncmp(s, "!=", 2)) {
		l->i += 2;
		return primitive(l);
	}
	if (*s == '=' || *s == '<' || *s == '>') {
		l->i++;
		return primitive(l);
	}
	if (kw(l, "LIKE") || kw(l, "MATCHES") || kw(l, "ISSUBSET") || kw(l, "ISSUPERSET")) {
		ws(l);
		return string_lit(l);
	}
	if (kw(l, "IN")) {
		if (!ch(l, '('))
			return fail(l, "expected '(' after IN");
		do {
			if (primitive(l))
				return -1;
		} while (ch(l, ','));
		return ch(l, ')') ? 0 : fail(l, "expected ')' closing a set");
	}
	return fail(l, "expected a comparison operator");
}

static int comparison_and(struct lex *l)
{
	do {
		if (prop_test(l))
			return -1;
	} while (kw(l, "AND"));
	return 0;
}

static int comparison_or(struct lex *l)
{
	do {
		if (comparison_and(l))
			return -1;
	} while (kw(l, "OR"));
	return 0;
}

static int integer(struct lex *l)
{
	size_t st;

	ws(l);
	st = l->i;
	while (isdigit((unsigned char)l->s[l->i]))
		l->i++;
	return l->i > st ? 0 : fail(l, "expected an integer");
}

static int qualifiers(struct lex *l)
{
	for (;;) {
		if (kw(l, "START")) {
			ws(l);
			if (prefixed_lit(l, 't') != 0 || !kw(l, "STOP"))
				return fail(l, "expected START t'...' STOP t'...'");
			ws(l);
			if (prefixed_lit(l, 't') != 0)
				return fail(l, "expected a t'...' timestamp after STOP");
		} else if (kw(l, "WITHIN")) {
			ws(l);
			if (number(l) || !kw(l, "SECONDS"))
				return fail(l, "expected WITHIN <n> SECONDS");
		} else if (kw(l, "REPEATS")) {
			if (integer(l) || !kw(l, "TIMES"))
				return fail(l, "expected REPEATS <n> TIMES");
		} else {
			return 0;
		}
	}
}

static int observation_seq(struct lex *l);

static int observation(struct lex *l)
{
	if (++l->depth > MAX_DEPTH)
		return fail(l, "pattern nested too deeply");
	if (ch(l, '[')) {
		if (comparison_or(l))
			return -1;
		if (!ch(l, ']'))
			return fail(l, "expected ']' closing an observation");
	} else if (ch(l, '(')) {
		if (observation_seq(l))
			return -1;
		if (!ch(l, ')'))
			return fail(l, "expected ')'");
	} else {
		return fail(l, "expected '[' or '('");
	}
	l->depth--;
	return qualifiers(l);
}

static int observation_seq(struct lex *l)
{
	do {
		do {
			do {
				if (observation(l))
					return -1;
			} while (kw(l, "AND"));
		} while (kw(l, "OR"));
	} while (kw(l, "FOLLOWEDBY"));
	return 0;
}

int sl_pattern_validate(const char *pattern, struct sl_err *err)
{
	struct lex l = {pattern ? pattern : "", 0, 0, NULL};
	char where[32];

	if (observation_seq(&l) == 0) {
		ws(&l);
		if (l.s[l.i] == '\0')
			return 0;
		fail(&l, "unexpected text after the pattern");
	}
	snprintf(where, sizeof(where), "pattern offset %zu", l.i);
	return sl_err_set(err, SL_EINVAL, where, "invalid STIX pattern: %s", l.why);
}
