/* gql.c — recursive-descent reader for the GraphQL that OpenCTI clients send (operations,
 * variables, aliases, arguments, inline and named fragments; directives are read and ignored).
 * Bounded depth. */
#include "gql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GQL_MAX_DEPTH 32

struct rd {
	const char *s;
	size_t i, n;
	const json_t *vars;
	json_t *fragments; /* name -> sel (raw, unexpanded) */
	char *err;
	size_t errsz;
	int failed;
	int depth;
};

static void fail(struct rd *r, const char *what)
{
	if (r->failed)
		return;
	r->failed = 1;
	snprintf(r->err, r->errsz, "Syntax Error: %s at offset %zu.", what, r->i);
}

static void skip_ignored(struct rd *r)
{
	while (r->i < r->n) {
		char c = r->s[r->i];
		if (c == '#') {
			while (r->i < r->n && r->s[r->i] != '\n')
				r->i++;
		} else if (isspace((unsigned char)c) || c == ',') {
			r->i++;
		} else {
			break;
		}
	}
}

static int peek(struct rd *r, char c)
{
	skip_ignored(r);
	return r->i < r->n && r->s[r->i] == c;
}

static int eat(struct rd *r, char c)
{
	if (peek(r, c)) {
		r->i++;
		return 1;
	}
	return 0;
}

static void expect(struct rd *r, char c)
{
	char m[32];
	if (!eat(r, c)) {
		snprintf(m, sizeof(m), "Expected \"%c\"", c);
		fail(r, m);
	}
}

/* A name into buf; returns 0 when there is none. */
static int name(struct rd *r, char *buf, size_t bufsz)
{
	size_t k = 0;
	skip_ignored(r);
	if (r->i >= r->n || !(isalpha((unsigned char)r->s[r->i]) || r->s[r->i] == '_'))
		return 0;
	while (r->i < r->n && (isalnum((unsigned char)r->s[r->i]) || r->s[r->i] == '_')) {
		if (k + 1 < bufsz)
			buf[k++] = r->s[r->i];
		r->i++;
	}
	buf[k] = '\0';
	return 1;
}

static int peek_word(struct rd *r, const char *w)
{
	size_t l = strlen(w);
	skip_ignored(r);
	return r->n - r->i >= l && strncmp(r->s + r->i, w, l) == 0 &&
	       (r->i + l == r->n ||
	        !(isalnum((unsigned char)r->s[r->i + l]) || r->s[r->i + l] == '_'));
}

static json_t *string_value(struct rd *r)
{
	/* r->s[r->i] == '"' */
	size_t cap = 64, k = 0;
	char *b = malloc(cap);
	json_t *out;

	if (r->n - r->i >= 3 && strncmp(r->s + r->i, "\"\"\"", 3) == 0) {
		r->i += 3;
		while (r->i < r->n &&
		       !(r->n - r->i >= 3 && strncmp(r->s + r->i, "\"\"\"", 3) == 0)) {
			if (k + 2 >= cap)
				b = realloc(b, cap *= 2);
			b[k++] = r->s[r->i++];
		}
		if (r->i >= r->n) {
			free(b);
			fail(r, "Unterminated string");
			return NULL;
		}
		r->i += 3;
		b[k] = '\0';
		out = json_stringn(b, k);
		free(b);
		return out;
	}
	r->i++;
	while (r->i < r->n && r->s[r->i] != '"') {
		char c = r->s[r->i++];
		if (k + 8 >= cap)
			b = realloc(b, cap *= 2);
		if (c == '\\' && r->i < r->n) {
			char e = r->s[r->i++];
			switch (e) {
			case 'n':
				b[k++] = '\n';
				break;
			case 't':
				b[k++] = '\t';
				break;
			case 'r':
				b[k++] = '\r';
				break;
			case 'b':
				b[k++] = '\b';
				break;
			case 'f':
				b[k++] = '\f';
				break;
			case 'u': {
				unsigned cp = 0;
				if (r->n - r->i < 4 || sscanf(r->s + r->i, "%4x", &cp) != 1) {
					free(b);
					fail(r, "Invalid unicode escape");
					return NULL;
				}
				r->i += 4;
				if (cp < 0x80) {
					b[k++] = (char)cp;
				} else if (cp < 0x800) {
					b[k++] = (char)(0xC0 | (cp >> 6));
					b[k++] = (char)(0x80 | (cp & 0x3F));
				} else {
					b[k++] = (char)(0xE0 | (cp >> 12));
					b[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
					b[k++] = (char)(0x80 | (cp & 0x3F));
				}
				break;
			}
			default:
				b[k++] = e;
			}
		} else if (c == '\n') {
			free(b);
			fail(r, "Unterminated string");
			return NULL;
		} else {
			b[k++] = c;
		}
	}
	if (r->i >= r->n) {
		free(b);
		fail(r, "Unterminated string");
		return NULL;
	}
	r->i++;
	out = json_stringn(b, k);
	free(b);
	if (!out)
		fail(r, "Invalid UTF-8 in string");
	return out;
}

static json_t *value(struct rd *r)
{
	char nm[128];
	json_t *v;

	if (r->failed)
		return NULL;
	if (++r->depth > GQL_MAX_DEPTH) {
		fail(r, "Value nested too deeply");
		return NULL;
	}
	skip_ignored(r);
	if (r->i >= r->n) {
		fail(r, "Unexpected <EOF>");
		v = NULL;
	} else if (eat(r, '$')) {
		if (!name(r, nm, sizeof(nm))) {
			fail(r, "Expected Name");
			v = NULL;
		} else {
			json_t *x = json_object_get(r->vars, nm);
			v = x ? json_deep_copy(x) : json_null();
		}
	} else if (r->s[r->i] == '"') {
		v = string_value(r);
	} else if (eat(r, '[')) {
		v = json_array();
		while (!r->failed && !eat(r, ']')) {
			json_t *x = value(r);
			if (!x)
				break;
			json_array_append_new(v, x);
		}
	} else if (eat(r, '{')) {
		v = json_object();
		while (!r->failed && !eat(r, '}')) {
			json_t *x;
			if (!name(r, nm, sizeof(nm))) {
				fail(r, "Expected Name");
				break;
			}
			expect(r, ':');
			x = value(r);
			if (!x)
				break;
			json_object_set_new(v, nm, x);
		}
	} else if (r->s[r->i] == '-' || isdigit((unsigned char)r->s[r->i])) {
		size_t st = r->i;
		int is_float = 0;
		char num[64];
		if (r->s[r->i] == '-')
			r->i++;
		while (r->i < r->n &&
		       (isdigit((unsigned char)r->s[r->i]) || strchr(".eE+-", r->s[r->i]))) {
			if (!isdigit((unsigned char)r->s[r->i]))
				is_float = 1;
			r->i++;
		}
		snprintf(num, sizeof(num), "%.*s", (int)(r->i - st), r->s + st);
		v = is_float ? json_real(strtod(num, NULL)) : json_integer(strtoll(num, NULL, 10));
	} else if (name(r, nm, sizeof(nm))) {
		if (strcmp(nm, "true") == 0)
			v = json_true();
		else if (strcmp(nm, "false") == 0)
			v = json_false();
		else if (strcmp(nm, "null") == 0)
			v = json_null();
		else
			v = json_string(nm); /* an enum value */
	} else {
		fail(r, "Unexpected character");
		v = NULL;
	}
	r->depth--;
	if (r->failed) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static void directives(struct rd *r)
{
	char nm[128];
	while (!r->failed && eat(r, '@')) {
		if (!name(r, nm, sizeof(nm)))
			fail(r, "Expected Name");
		if (eat(r, '(')) {
			while (!r->failed && !eat(r, ')')) {
				json_t *v;
				if (!name(r, nm, sizeof(nm))) {
					fail(r, "Expected Name");
					break;
				}
				expect(r, ':');
				v = value(r);
				json_decref(v);
			}
		}
	}
}

static json_t *selection_set(struct rd *r);

static json_t *field(struct rd *r, const char *first)
{
	char nm[128];
	json_t *f = json_object(), *args = json_object();

	json_object_set_new(f, "alias", json_string(first));
	json_object_set_new(f, "name", json_string(first));
	if (eat(r, ':')) {
		if (!name(r, nm, sizeof(nm))) {
			fail(r, "Expected Name");
		} else {
			json_object_set_new(f, "name", json_string(nm));
		}
	}
	if (eat(r, '(')) {
		while (!r->failed && !eat(r, ')')) {
			json_t *v;
			if (!name(r, nm, sizeof(nm))) {
				fail(r, "Expected Name");
				break;
			}
			expect(r, ':');
			v = value(r);
			if (!v)
				break;
			json_object_set_new(args, nm, v);
		}
	}
	json_object_set_new(f, "args", args);
	directives(r);
	if (peek(r, '{'))
		json_object_set_new(f, "sel", selection_set(r));
	else
		json_object_set_new(f, "sel", json_array());
	return f;
}

static json_t *selection_set(struct rd *r)
{
	char nm[128];
	json_t *sel = json_array();

	if (++r->depth > GQL_MAX_DEPTH) {
		fail(r, "Selection nested too deeply");
		return sel;
	}
	expect(r, '{');
	while (!r->failed && !eat(r, '}')) {
		skip_ignored(r);
		if (r->n - r->i >= 3 && strncmp(r->s + r->i, "...", 3) == 0) {
			r->i += 3;
			if (peek_word(r, "on")) {
				name(r, nm, sizeof(nm));
				if (!name(r, nm, sizeof(nm)))
					fail(r, "Expected Name");
				directives(r);
				json_array_append_new(
				    sel, json_pack("{s:o}", "inline", selection_set(r)));
			} else if (peek(r, '{') || peek(r, '@')) {
				directives(r);
				json_array_append_new(
				    sel, json_pack("{s:o}", "inline", selection_set(r)));
			} else if (name(r, nm, sizeof(nm))) {
				directives(r);
				json_array_append_new(sel, json_pack("{s:s}", "spread", nm));
			} else {
				fail(r, "Expected Name");
			}
		} else if (name(r, nm, sizeof(nm))) {
			json_array_append_new(sel, field(r, nm));
		} else {
			fail(r, r->i >= r->n ? "Expected Name, found <EOF>" : "Expected Name");
		}
	}
	r->depth--;
	return sel;
}

static void skip_type(struct rd *r)
{
	char nm[128];
	if (eat(r, '[')) {
		skip_type(r);
		expect(r, ']');
	} else if (!name(r, nm, sizeof(nm))) {
		fail(r, "Expected Name");
	}
	eat(r, '!');
}

/* Variable definitions: fill defaults into a copy of the variables. */
static void variable_defs(struct rd *r, json_t *vars)
{
	char nm[128];
	if (!eat(r, '('))
		return;
	while (!r->failed && !eat(r, ')')) {
		expect(r, '$');
		if (!name(r, nm, sizeof(nm))) {
			fail(r, "Expected Name");
			break;
		}
		expect(r, ':');
		skip_type(r);
		if (eat(r, '=')) {
			const json_t *saved = r->vars;
			json_t *d;
			r->vars = NULL;
			d = value(r);
			r->vars = saved;
			if (d && !json_object_get(vars, nm))
				json_object_set_new(vars, nm, d);
			else
				json_decref(d);
		}
		directives(r);
	}
}

/* Replace spreads and inline fragments by their fields. */
static json_t *expand(json_t *fragments, const json_t *sel, int depth)
{
	json_t *out = json_array(), *x;
	size_t i;

	if (depth > GQL_MAX_DEPTH)
		return out;
	json_array_foreach(sel, i, x)
	{
		const json_t *inl = json_object_get(x, "inline");
		const char *sp = json_string_value(json_object_get(x, "spread"));
		if (inl || sp) {
			const json_t *src = inl ? inl : json_object_get(fragments, sp);
			json_t *e = src ? expand(fragments, src, depth + 1) : json_array();
			json_array_extend(out, e);
			json_decref(e);
		} else {
			json_t *f = json_deep_copy(x);
			json_object_set_new(
			    f, "sel", expand(fragments, json_object_get(x, "sel"), depth + 1));
			json_array_append_new(out, f);
		}
	}
	return out;
}

json_t *sl_gql_parse(const char *query, const json_t *variables, const char *operation_name,
                     char *errbuf, size_t errsz)
{
	struct rd r = {0};
	json_t *vars =
	    variables && json_is_object(variables) ? json_deep_copy(variables) : json_object();
	json_t *chosen = NULL, *out = NULL;
	char nm[128], opname[128];

	r.s = query;
	r.n = strlen(query);
	r.err = errbuf;
	r.errsz = errsz;
	r.fragments = json_object();
	r.vars = vars;
	skip_ignored(&r);
	if (r.i >= r.n)
		fail(&r, "Unexpected <EOF>");
	while (!r.failed) {
		skip_ignored(&r);
		if (r.i >= r.n)
			break;
		if (peek_word(&r, "fragment")) {
			name(&r, nm, sizeof(nm));
			if (!name(&r, nm, sizeof(nm))) {
				fail(&r, "Expected Name");
				break;
			}
			if (!peek_word(&r, "on")) {
				fail(&r, "Expected \"on\"");
				break;
			}
			name(&r, opname, sizeof(opname));
			name(&r, opname, sizeof(opname));
			directives(&r);
			json_object_set_new(r.fragments, nm, selection_set(&r));
		} else if (peek(&r, '{')) {
			json_t *sel = selection_set(&r);
			if (!chosen && !operation_name)
				chosen = json_pack("{s:s,s:o}", "type", "query", "fields", sel);
			else
				json_decref(sel);
		} else if (name(&r, nm, sizeof(nm)) &&
		           (strcmp(nm, "query") == 0 || strcmp(nm, "mutation") == 0 ||
		            strcmp(nm, "subscription") == 0)) {
			json_t *sel;
			opname[0] = '\0';
			name(&r, opname, sizeof(opname));
			variable_defs(&r, vars);
			directives(&r);
			sel = selection_set(&r);
			if (!chosen && (!operation_name || strcmp(operation_name, opname) == 0))
				chosen = json_pack("{s:s,s:o}", "type", nm, "fields", sel);
			else
				json_decref(sel);
		} else {
			fail(&r, "Unexpected Name");
		}
	}
	if (!r.failed && !chosen)
		snprintf(errbuf, errsz, "Unknown operation named \"%s\".",
		         operation_name ? operation_name : "");
	if (!r.failed && chosen) {
		out = json_pack("{s:O,s:o}", "type", json_object_get(chosen, "type"), "fields",
		                expand(r.fragments, json_object_get(chosen, "fields"), 0));
	}
	json_decref(chosen);
	json_decref(r.fragments);
	json_decref(vars);
	return out;
}

json_t *sl_gql_project(const json_t *value, const json_t *sel)
{
	json_t *out, *f;
	size_t i;

	if (!value)
		return json_null();
	if (!sel || json_array_size(sel) == 0 || json_is_null(value))
		return json_deep_copy(value);
	if (json_is_array(value)) {
		json_t *x;
		out = json_array();
		json_array_foreach(value, i, x) json_array_append_new(out, sl_gql_project(x, sel));
		return out;
	}
	if (!json_is_object(value))
		return json_deep_copy(value);
	out = json_object();
	json_array_foreach(sel, i, f)
	{
		const char *nm = json_string_value(json_object_get(f, "name"));
		const char *alias = json_string_value(json_object_get(f, "alias"));
		json_t *v = json_object_get(value, nm);
		json_object_set_new(out, alias,
		                    v ? sl_gql_project(v, json_object_get(f, "sel")) : json_null());
	}
	return out;
}
