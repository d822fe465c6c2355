/* stix2misp_pattern.c — a small scanner for STIX 2.1 patterns: finds each "path op literal"
 * comparison, ignoring brackets, parentheses and qualifiers; enough to recover the values MISP
 * attributes came from. */
#include "stix2misp_pattern.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SL_STIXPAT_MAX_CMP 4096

static int is_path_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == ':' || c == '.' || c == '[' || c == ']' ||
	       c == '*' || c == '\'';
}

/* Copy a raw object path, dropping quotes and turning [n] into [*]. */
static char *norm_path(const char *s, size_t n)
{
	char *out = malloc(n + 3);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			continue;
		if (s[i] == '[') {
			size_t j = i + 1;
			while (j < n && isdigit((unsigned char)s[j]))
				j++;
			if (j < n && s[j] == ']' && j > i + 1) {
				memcpy(out + o, "[*]", 3);
				o += 3;
				i = j;
				continue;
			}
		}
		out[o++] = s[i];
	}
	out[o] = 0;
	return out;
}

static int word_at(const char *p, const char *w)
{
	size_t n = strlen(w);
	return strncmp(p, w, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

static int push(struct sl_stixpat *p, char *path, char *op, char *value)
{
	if (p->n >= SL_STIXPAT_MAX_CMP)
		return SL_ELIMIT;
	if (p->n % 16 == 0) {
		struct sl_stixpat_cmp *c = realloc(p->cmp, (p->n + 16) * sizeof(*c));
		if (!c)
			return SL_ENOMEM;
		p->cmp = c;
	}
	p->cmp[p->n].path = path;
	p->cmp[p->n].op = op;
	p->cmp[p->n].value = value;
	p->n++;
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* Read a quoted literal starting at s (on the opening quote); *end is past the closing quote. */
static char *read_string(const char *s, const char **end)
{
	size_t cap = 0;
	const char *q = s + 1;
	while (*q && *q != '\'') {
		if (*q == '\\' && q[1])
			q++;
		q++;
		cap++;
	}
	if (*q != '\'')
		return NULL;
	char *out = malloc(cap * 2 + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (q = s + 1; *q != '\''; q++) {
		if (*q == '\\' && q[1]) {
			/* \\ and \' are STIX escapes; \% is misp-stix's escape in registry values.
			 */
			if (q[1] == '\\' || q[1] == '\'' || q[1] == '%') {
				out[o++] = q[1];
				q++;
				continue;
			}
			out[o++] = '\\';
			out[o++] = q[1];
			q++;
			continue;
		}
		out[o++] = *q;
	}
	out[o] = 0;
	*end = q + 1;
	return out;
}

void sl_stixpat_free(struct sl_stixpat *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->cmp[i].path);
		free(p->cmp[i].op);
		free(p->cmp[i].value);
	}
	free(p->cmp);
	memset(p, 0, sizeof(*p));
}

static const char *const ops[] = {"!=",   "<=",      ">=", "=",        "<",          ">",
                                  "LIKE", "MATCHES", "IN", "ISSUBSET", "ISSUPERSET", NULL};

int sl_stixpat_parse(const char *pattern, struct sl_stixpat *out, struct sl_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!pattern)
		return sl_err_set(err, SL_EINVAL, "pattern", "no pattern");
	const char *s = pattern;
	while (*s) {
		if (isspace((unsigned char)*s) || *s == '[' || *s == ']' || *s == '(' ||
		    *s == ')') {
			s++;
			continue;
		}
		if (word_at(s, "AND")) {
			s += 3;
			continue;
		}
		if (word_at(s, "OR")) {
			out->has_or = 1;
			s += 2;
			continue;
		}
		if (word_at(s, "FOLLOWEDBY") || word_at(s, "WITHIN") || word_at(s, "REPEATS") ||
		    word_at(s, "START") || word_at(s, "STOP") || word_at(s, "SECONDS") ||
		    word_at(s, "TIMES")) {
			out->has_followed = 1;
			while (isalpha((unsigned char)*s))
				s++;
			continue;
		}
		if (out->has_followed && (isdigit((unsigned char)*s) || *s == 't' || *s == '\'')) {
			/* qualifier arguments: numbers and t'...' timestamps */
			if (*s == 't')
				s++;
			if (*s == '\'') {
				const char *e;
				char *v = read_string(s, &e);
				if (!v)
					break;
				free(v);
				s = e;
			} else {
				while (isdigit((unsigned char)*s) || *s == '.')
					s++;
			}
			continue;
		}
		/* a comparison: path, optional NOT, operator, literal */
		const char *ps = s;
		while (*s && is_path_char((unsigned char)*s) && !isspace((unsigned char)*s)) {
			if (*s == '\'') { /* quoted path segment: 'SHA-256' */
				s++;
				while (*s && *s != '\'')
					s++;
				if (!*s)
					break;
			}
			s++;
		}
		if (s == ps || !memchr(ps, ':', (size_t)(s - ps))) {
			sl_stixpat_free(out);
			return sl_err_set(err, SL_EINVAL, "pattern",
			                  "expected an object path at byte %zu",
			                  (size_t)(ps - pattern));
		}
		char *path = norm_path(ps, (size_t)(s - ps));
		while (isspace((unsigned char)*s))
			s++;
		if (word_at(s, "NOT")) {
			s += 3;
			while (isspace((unsigned char)*s))
				s++;
		}
		const char *op = NULL;
		for (int i = 0; ops[i]; i++)
			if (strncmp(s, ops[i], strlen(ops[i])) == 0) {
				op = ops[i];
				break;
			}
		if (!op) {
			free(path);
			sl_stixpat_free(out);
			return sl_err_set(err, SL_EINVAL, "pattern",
			                  "expected a comparison operator at byte %zu",
			                  (size_t)(s - pattern));
		}
		s += strlen(op);
		while (isspace((unsigned char)*s))
			s++;
		char *val = NULL;
		if (*s == '\'') {
			const char *e;
			val = read_string(s, &e);
			if (val)
				s = e;
		} else if ((*s == 'h' || *s == 'b' || *s == 't') && s[1] == '\'') {
			const char *e;
			val = read_string(s + 1, &e);
			if (val)
				s = e;
		} else if (*s == '(') {
			const char *e = strchr(s, ')');
			if (e) {
				val = dup_n(s, (size_t)(e - s + 1));
				s = e + 1;
			}
		} else {
			const char *vs = s;
			while (*s && !isspace((unsigned char)*s) && *s != ']' && *s != ')')
				s++;
			if (s > vs)
				val = dup_n(vs, (size_t)(s - vs));
		}
		char *opd = dup_n(op, strlen(op));
		if (!val || !opd || !path) {
			free(path);
			free(val);
			free(opd);
			sl_stixpat_free(out);
			return sl_err_set(err, SL_EINVAL, "pattern",
			                  "unterminated or missing literal near byte %zu",
			                  (size_t)(s - pattern));
		}
		int rc = push(out, path, opd, val);
		if (rc) {
			free(path);
			free(val);
			free(opd);
			sl_stixpat_free(out);
			return sl_err_set(err, rc, "pattern", "too many comparisons (over %d)",
			                  SL_STIXPAT_MAX_CMP);
		}
	}
	return 0;
}
