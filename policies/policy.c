/* policy.c — the policy file: libconfuse does the syntax, this file the meaning, and every error
 * names file:line. libconfuse's own line counter runs ahead of the token it complains about, so
 * lines are found again by scanning the text for the option inside its section. */
#include "policy.h"

#include <confuse.h>
#include <openssl/crypto.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_impl.h"

#define POLICY_MAX_BYTES (1u << 20)
#define POLICY_MAX_DESTS 4096
#define POLICY_MAX_LIST 10000

static cfg_opt_t gdpr_opts[] = {
    CFG_STR("email", "redact", CFGF_NONE),
    CFG_STR("person_name", "redact", CFGF_NONE),
    CFG_STR("phone", "redact", CFGF_NONE),
    CFG_STR("user_account", "redact", CFGF_NONE),
    CFG_STR("ip_address", "keep", CFGF_NONE),
    CFG_STR("hmac_key_file", NULL, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t dest_opts[] = {
    CFG_STR("kind", "taxii", CFGF_NONE),
    CFG_BOOL("own_org", cfg_false, CFGF_NONE),
    CFG_STR("max_tlp", "clear", CFGF_NONE),
    CFG_BOOL("allow_amber_strict", cfg_false, CFGF_NONE),
    CFG_STR("unmarked", "deny", CFGF_NONE),
    CFG_INT_LIST("distribution", "{3}", CFGF_NONE),
    CFG_STR_LIST("sharing_groups", "{}", CFGF_NONE),
    CFG_STR("org_uuid", NULL, CFGF_NONE),
    CFG_STR("server", NULL, CFGF_NONE),
    CFG_STR_LIST("allow_tags", "{}", CFGF_NONE),
    CFG_STR_LIST("deny_tags", "{}", CFGF_NONE),
    CFG_STR_LIST("allow_types", "{}", CFGF_NONE),
    CFG_STR_LIST("deny_types", "{}", CFGF_NONE),
    CFG_STR_LIST("allow_orgs", "{}", CFGF_NONE),
    CFG_STR_LIST("deny_orgs", "{}", CFGF_NONE),
    CFG_INT("retention_days", 0, CFGF_NONE),
    CFG_SEC("gdpr", gdpr_opts, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t root_opts[] = {
    CFG_STR("hmac_key_file", NULL, CFGF_NONE),
    CFG_SEC("destination", dest_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_END(),
};

/* libconfuse's error callback has no user pointer; this holds the first error of the parse running
 * on this thread. */
static _Thread_local struct {
	int set;
	char msg[SL_ERR_MSG_MAX];
	char section[64];
	char title[128];
	int line;
} parse_error;

static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	if (parse_error.set)
		return;
	parse_error.set = 1;
	vsnprintf(parse_error.msg, sizeof(parse_error.msg), fmt, ap);
	snprintf(parse_error.section, sizeof(parse_error.section), "%s",
	         cfg && cfg->name ? cfg->name : "");
	snprintf(parse_error.title, sizeof(parse_error.title), "%s",
	         cfg && cfg->title ? cfg->title : "");
	parse_error.line = cfg ? cfg->line : 0;
}

const char *sl_policy_kind_name(enum sl_dest_kind k)
{
	switch (k) {
	case SL_DEST_MISP:
		return "misp";
	case SL_DEST_OPENCTI:
		return "opencti";
	case SL_DEST_TAXII:
		return "taxii";
	case SL_DEST_TAXII_COLLECTION:
		return "taxii-collection";
	}
	return "unknown";
}

/* The line where `key` is set inside destination `title` (and sub-section `sub` when not NULL), or
 * where the destination opens when key is NULL. Top-level keys: title NULL. 0 when not found. */
static int find_line(const char *text, const char *title, const char *sub, const char *key)
{
	char stack[8][128];
	int depth = 0, line = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n'), *s = p, *w;
		size_t wl;

		line++;
		if (!eol)
			eol = p + strlen(p);
		while (s < eol && isspace((unsigned char)*s))
			s++;
		w = s;
		while (s < eol && (isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
			s++;
		wl = (size_t)(s - w);
		while (s < eol && isspace((unsigned char)*s))
			s++;
		if (wl > 0 && s < eol && (*s == '"' || *s == '{')) {
			/* a section opens: name ["title"] { */
			char t[128] = "";
			if (*s == '"') {
				const char *q = memchr(s + 1, '"', (size_t)(eol - s - 1));
				size_t tl = q ? (size_t)(q - s - 1) : 0;
				if (tl >= sizeof(t))
					tl = sizeof(t) - 1;
				memcpy(t, s + 1, tl);
				t[tl] = '\0';
			}
			if (depth == 0 && key == NULL && title && wl == 11 &&
			    strncmp(w, "destination", 11) == 0 && strcmp(t, title) == 0)
				return line;
			if (depth < 8)
				snprintf(stack[depth], sizeof(stack[depth]), "%.*s",
				         (int)(depth == 0 ? strlen(t) : wl), depth == 0 ? t : w);
			depth++;
		} else if (wl > 0 && key && wl == strlen(key) && strncmp(w, key, wl) == 0 &&
		           (*s == '=' || *s == '+')) {
			int want = title ? (sub ? 2 : 1) : 0;
			if (depth == want &&
			    (!title || strcmp(title, "*") == 0 || strcmp(stack[0], title) == 0) &&
			    (!sub || (depth >= 2 && strcmp(stack[1], sub) == 0)))
				return line;
		}
		for (s = p; s < eol; s++) {
			if (*s == '#')
				break;
			if (*s == '}' && depth > 0)
				depth--;
		}
		p = *eol ? eol + 1 : eol;
	}
	return 0;
}

/* libconfuse accepts a section left open at the end of the file; refuse it, naming where it opened.
 */
static int unclosed_line(const char *t)
{
	int open_lines[64], depth = 0, line = 1;

	for (; *t; t++) {
		if (*t == '\n') {
			line++;
		} else if (*t == '"') {
			for (t++; *t && *t != '"'; t++) {
				if (*t == '\\' && t[1])
					t++;
				else if (*t == '\n')
					line++;
			}
			if (!*t)
				break;
		} else if (*t == '#' || (*t == '/' && t[1] == '/')) {
			while (t[1] && t[1] != '\n')
				t++;
		} else if (*t == '/' && t[1] == '*') {
			for (t += 2; *t && !(*t == '*' && t[1] == '/'); t++)
				line += *t == '\n';
			if (!*t)
				break;
			t++;
		} else if (*t == '{') {
			if (depth < 64)
				open_lines[depth] = line;
			depth++;
		} else if (*t == '}' && depth > 0) {
			depth--;
		}
	}
	return depth > 0 ? open_lines[depth <= 64 ? depth - 1 : 63] : 0;
}

struct loadctx {
	const char *path;
	const char *text;
	struct sl_err *err;
};

static int fail(struct loadctx *c, const char *title, const char *sub, const char *key,
                const char *fmt, ...) SL_PRINTF(5, 6);

static int fail(struct loadctx *c, const char *title, const char *sub, const char *key,
                const char *fmt, ...)
{
	char where[SL_ERR_WHERE_MAX], msg[SL_ERR_MSG_MAX];
	int line = find_line(c->text, title, sub, key);
	va_list ap;

	if (line == 0 && title)
		line = find_line(c->text, title, NULL, NULL);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s:%d", c->path, line);
	if (title)
		return sl_err_set(c->err, SL_EINVAL, where, "destination '%s': %s%s%s: %s", title,
		                  sub ? sub : "", sub && key ? "." : "",
		                  key ? key : (sub ? "" : "section"), msg);
	return sl_err_set(c->err, SL_EINVAL, where, "%s: %s", key ? key : "policy", msg);
}

static int is_uuid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	int i, d = 0;

	if (!s || strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return 0;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static int copy_list(struct loadctx *c, cfg_t *sec, const char *title, const char *key, int uuids,
                     struct sl_strlist *out)
{
	unsigned n = cfg_size(sec, key), i;
	char q[80];

	if (n > POLICY_MAX_LIST)
		return fail(c, title, NULL, key, "more than %d entries", POLICY_MAX_LIST);
	out->v = n ? calloc(n, sizeof(char *)) : NULL;
	if (n && !out->v)
		return sl_err_set(c->err, SL_ENOMEM, c->path, "out of memory");
	for (i = 0; i < n; i++) {
		const char *s = cfg_getnstr(sec, key, i);
		if (!s || !*s)
			return fail(c, title, NULL, key, "empty entry");
		if (uuids && !is_uuid(s))
			return fail(c, title, NULL, key, "'%s' is not a uuid",
			            sl_err_quote(q, sizeof(q), s, 60));
		if (!(out->v[i] = strdup(s)))
			return sl_err_set(c->err, SL_ENOMEM, c->path, "out of memory");
		out->n = i + 1;
	}
	return 0;
}

static int read_key(struct loadctx *c, const char *title, const char *sub, const char *path,
                    unsigned char **key, size_t *keylen)
{
	char full[4096];
	const char *slash = strrchr(c->path, '/');
	struct sl_err e;

	/* a relative key path is relative to the policy file, not to wherever sluice was started */
	if (path[0] != '/' && slash)
		snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - c->path), c->path, path);
	else
		snprintf(full, sizeof(full), "%s", path);
	if (sl_gdpr_key_load(full, key, keylen, &e) != 0)
		return fail(c, title, sub, "hmac_key_file", "%s: %s", full, e.msg);
	return 0;
}

static int load_dest(struct loadctx *c, cfg_t *sec, struct sl_policy_dest *d, const char *rootkey)
{
	const char *title = cfg_title(sec), *s;
	static const char *const gkeys[SL_GDPR_NCAT] = {"email", "person_name", "phone",
	                                                "user_account", "ip_address"};
	cfg_t *g = cfg_getsec(sec, "gdpr");
	int i, r, pseudo = 0;
	unsigned n;
	long level;
	char q[80];

	if (!title || !*title)
		return fail(c, NULL, NULL, "destination",
		            "a destination needs a name: destination \"name\" { }");
	if (!(d->name = strdup(title)))
		return sl_err_set(c->err, SL_ENOMEM, c->path, "out of memory");

	s = cfg_getstr(sec, "kind");
	if (strcmp(s, "misp") == 0)
		d->kind = SL_DEST_MISP;
	else if (strcmp(s, "opencti") == 0)
		d->kind = SL_DEST_OPENCTI;
	else if (strcmp(s, "taxii") == 0)
		d->kind = SL_DEST_TAXII;
	else if (strcmp(s, "taxii-collection") == 0)
		d->kind = SL_DEST_TAXII_COLLECTION;
	else
		return fail(c, title, NULL, "kind",
		            "unknown kind '%s' (misp, opencti, taxii, taxii-collection)",
		            sl_err_quote(q, sizeof(q), s, 40));
	d->own_org = cfg_getbool(sec, "own_org");

	s = cfg_getstr(sec, "max_tlp");
	d->max_tlp = sl_tlp_from_name(s);
	d->allow_amber_strict = cfg_getbool(sec, "allow_amber_strict");
	if (d->max_tlp == SL_TLP_NONE)
		return fail(c, title, NULL, "max_tlp",
		            "unknown TLP level '%s' (clear, white, green, amber, amber+strict)",
		            sl_err_quote(q, sizeof(q), s, 40));
	if (d->max_tlp == SL_TLP_RED)
		return fail(c, title, NULL, "max_tlp",
		            "TLP:RED never leaves sluice; the highest is amber+strict");
	if (d->max_tlp == SL_TLP_AMBER_STRICT) {
		d->max_tlp = SL_TLP_AMBER;
		if (!d->own_org)
			return fail(c, title, NULL, "max_tlp",
			            "TLP:AMBER+STRICT may only go to the own organisation (set "
			            "own_org = true)");
		d->allow_amber_strict = 1;
	}
	if (d->allow_amber_strict && !d->own_org)
		return fail(
		    c, title, NULL, "allow_amber_strict",
		    "TLP:AMBER+STRICT may only go to the own organisation (set own_org = true)");
	if (d->allow_amber_strict && d->max_tlp < SL_TLP_AMBER)
		return fail(c, title, NULL, "allow_amber_strict", "needs max_tlp = amber");

	{
		size_t plen = strlen(title) + 80;
		if (!(d->rule_prefix = malloc(plen)))
			return sl_err_set(c->err, SL_ENOMEM, c->path, "out of memory");
		snprintf(d->rule_prefix, plen, "destination %s: max_tlp %s%s", title,
		         sl_tlp_name(d->max_tlp),
		         d->allow_amber_strict ? " (+AMBER+STRICT, own org)" : "");
	}
	s = cfg_getstr(sec, "unmarked");
	if (strcmp(s, "deny") == 0) {
		d->unmarked = SL_TLP_NONE;
	} else {
		d->unmarked = sl_tlp_from_name(s);
		if (d->unmarked == SL_TLP_NONE)
			return fail(c, title, NULL, "unmarked",
			            "'%s' is neither deny nor a TLP level (clear, green, amber, "
			            "amber+strict, red)",
			            sl_err_quote(q, sizeof(q), s, 40));
	}

	n = cfg_size(sec, "distribution");
	for (d->dist_mask = 0, i = 0; i < (int)n; i++) {
		level = cfg_getnint(sec, "distribution", (unsigned)i);
		if (level < 0 || level > 3)
			return fail(c, title, NULL, "distribution",
			            "level %ld: list MISP levels 0..3 (4 = sharing group: use "
			            "sharing_groups; 5 = "
			            "inherit is not a level a destination has)",
			            level);
		if (level == 0 && !d->own_org)
			return fail(c, title, NULL, "distribution",
			            "level 0 (your organisation only) needs own_org = true");
		d->dist_mask |= 1u << level;
	}
	if ((r = copy_list(c, sec, title, "sharing_groups", 1, &d->sharing_groups)) != 0)
		return r;
	s = cfg_getstr(sec, "org_uuid");
	if (s && !is_uuid(s))
		return fail(c, title, NULL, "org_uuid", "'%s' is not a uuid",
		            sl_err_quote(q, sizeof(q), s, 60));
	if (s && !(d->org_uuid = strdup(s)))
		return sl_err_set(c->err, SL_ENOMEM, c->path, "out of memory");
	s = cfg_getstr(sec, "server");
	if (s && !(d->server = strdup(s)))
		return sl_err_set(c->err, SL_ENOMEM, c->path, "out of memory");
	if ((r = copy_list(c, sec, title, "allow_tags", 0, &d->allow_tags)) != 0 ||
	    (r = copy_list(c, sec, title, "deny_tags", 0, &d->deny_tags)) != 0 ||
	    (r = copy_list(c, sec, title, "allow_types", 0, &d->allow_types)) != 0 ||
	    (r = copy_list(c, sec, title, "deny_types", 0, &d->deny_types)) != 0 ||
	    (r = copy_list(c, sec, title, "allow_orgs", 1, &d->allow_orgs)) != 0 ||
	    (r = copy_list(c, sec, title, "deny_orgs", 1, &d->deny_orgs)) != 0)
		return r;
	d->retention_days = cfg_getint(sec, "retention_days");
	if (d->retention_days < 0 || d->retention_days > 36500)
		return fail(c, title, NULL, "retention_days",
		            "%ld is outside 0..36500 (0 = no limit)", d->retention_days);

	for (i = 0; i < SL_GDPR_NCAT; i++) {
		int a = sl_gdpr_action_from_name(cfg_getstr(g, gkeys[i]));
		if (a < 0)
			return fail(c, title, "gdpr", gkeys[i],
			            "unknown action '%s' (keep, drop, redact, pseudonymise)",
			            sl_err_quote(q, sizeof(q), cfg_getstr(g, gkeys[i]), 40));
		d->gdpr[i] = (enum sl_gdpr_action)a;
		pseudo |= a == SL_GDPR_PSEUDONYMISE;
	}
	s = cfg_getstr(g, "hmac_key_file");
	if (s) {
		if ((r = read_key(c, title, "gdpr", s, &d->key, &d->keylen)) != 0)
			return r;
	} else if (pseudo) {
		if (!rootkey)
			return fail(c, title, "gdpr", NULL,
			            "pseudonymise needs an HMAC key: set hmac_key_file here or at "
			            "the top of the file");
		if ((r = read_key(c, NULL, NULL, rootkey, &d->key, &d->keylen)) != 0)
			return r;
	}
	return 0;
}

static void dest_clear(struct sl_policy_dest *d)
{
	struct sl_strlist *lists[] = {&d->sharing_groups, &d->allow_tags, &d->deny_tags,
	                              &d->allow_types,    &d->deny_types, &d->allow_orgs,
	                              &d->deny_orgs};
	size_t i, j;

	free(d->name);
	free(d->rule_prefix);
	free(d->org_uuid);
	free(d->server);
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (j = 0; j < lists[i]->n; j++)
			free(lists[i]->v[j]);
		free(lists[i]->v);
	}
	if (d->key) {
		OPENSSL_cleanse(d->key, d->keylen);
		free(d->key);
	}
}

void sl_policy_free(struct sl_policy *p)
{
	size_t i;

	/* decisions whose rule chain is not written yet hold the policy too (sl_policy_hold) */
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	sl_policy_classes_clear(p);
	sl_policy_spare_free(p);
	pthread_mutex_destroy(&p->classes_mu);
	for (i = 0; i < p->ndests; i++)
		dest_clear(&p->dests[i]);
	free(p->dests);
	if (p->key) {
		OPENSSL_cleanse(p->key, p->keylen);
		free(p->key);
	}
	free(p);
}

/* The name between the first pair of single quotes in a libconfuse message ("no such option 'x'").
 */
static const char *quoted_name(const char *msg, char *buf, size_t bufsz)
{
	const char *a = strchr(msg, '\''), *b;

	if (!a || !(b = strchr(a + 1, '\'')) || (size_t)(b - a - 1) >= bufsz)
		return NULL;
	memcpy(buf, a + 1, (size_t)(b - a - 1));
	buf[b - a - 1] = '\0';
	return buf;
}

int sl_policy_load(const char *path, struct sl_policy **out, struct sl_err *err)
{
	struct loadctx c = {path, NULL, err};
	struct sl_policy *p = NULL;
	char *text = NULL;
	size_t len = 0;
	cfg_t *cfg = NULL;
	unsigned n, i;
	int r;

	*out = NULL;
	if ((r = sl_json_slurp(path, POLICY_MAX_BYTES, &text, &len, err)) != 0)
		return r;
	if (memchr(text, '\0', len)) {
		free(text);
		return sl_err_set(err, SL_EINVAL, path, "policy file contains a NUL byte");
	}
	c.text = text;
	if ((r = unclosed_line(text)) > 0) {
		char where[SL_ERR_WHERE_MAX];
		snprintf(where, sizeof(where), "%s:%d", path, r);
		free(text);
		return sl_err_set(err, SL_EINVAL, where, "this '{' is never closed");
	}
	cfg = cfg_init(root_opts, CFGF_NONE);
	if (!cfg) {
		free(text);
		return sl_err_set(err, SL_ENOMEM, path, "out of memory");
	}
	cfg_set_error_function(cfg, on_cfg_error);
	memset(&parse_error, 0, sizeof(parse_error));
	r = cfg_parse_buf(cfg, text);
	if (r != CFG_SUCCESS) {
		char where[SL_ERR_WHERE_MAX], nb[64];
		const char *name = quoted_name(parse_error.msg, nb, sizeof(nb));
		int line = 0;
		int in_dest = strcmp(parse_error.section, "destination") == 0;
		int in_gdpr = strcmp(parse_error.section, "gdpr") == 0;

		if (name && in_dest)
			line = find_line(text, parse_error.title, NULL, name);
		else if (name && in_gdpr)
			line = find_line(text, "*", "gdpr",
			                 name); /* gdpr has no title: the first one that sets it */
		if (name && line == 0 && !in_dest && !in_gdpr)
			line = find_line(text, NULL, NULL, name);
		if (line == 0)
			line = parse_error.line;
		snprintf(where, sizeof(where), "%s:%d", path, line);
		if (in_dest || in_gdpr)
			sl_err_set(err, SL_EINVAL, where, "destination '%s': %s%s",
			           in_dest ? parse_error.title : "?", in_gdpr ? "gdpr: " : "",
			           parse_error.msg);
		else
			sl_err_set(err, SL_EINVAL, where, "%s",
			           parse_error.set ? parse_error.msg
			                           : "syntax error in the policy file");
		cfg_free(cfg);
		free(text);
		return SL_EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (p) {
		p->refs = 1;
		pthread_mutex_init(&p->classes_mu, NULL);
	}
	n = cfg_size(cfg, "destination");
	if (!p || n > POLICY_MAX_DESTS) {
		r = p ? sl_err_set(err, SL_ELIMIT, path, "more than %d destinations",
		                   POLICY_MAX_DESTS)
		      : sl_err_set(err, SL_ENOMEM, path, "out of memory");
		goto out;
	}
	if (cfg_getstr(cfg, "hmac_key_file") &&
	    (r = read_key(&c, NULL, NULL, cfg_getstr(cfg, "hmac_key_file"), &p->key, &p->keylen)) !=
	        0)
		goto out;
	p->dests = n ? calloc(n, sizeof(*p->dests)) : NULL;
	if (n && !p->dests) {
		r = sl_err_set(err, SL_ENOMEM, path, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		p->ndests = i + 1;
		p->dests[i].owner = p;
		if ((r = load_dest(&c, cfg_getnsec(cfg, "destination", i), &p->dests[i],
		                   cfg_getstr(cfg, "hmac_key_file"))) != 0)
			goto out;
	}
	sl_policy_intern_build(p);
	r = 0;
out:
	cfg_free(cfg);
	free(text);
	if (r != 0) {
		sl_policy_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void sl_policy_hold(const struct sl_policy_dest *d)
{
	__atomic_add_fetch(&d->owner->refs, 1, __ATOMIC_RELAXED);
}

size_t sl_policy_dest_count(const struct sl_policy *p)
{
	return p ? p->ndests : 0;
}

const struct sl_policy_dest *sl_policy_dest_at(const struct sl_policy *p, size_t i)
{
	return p && i < p->ndests ? &p->dests[i] : NULL;
}

const struct sl_policy_dest *sl_policy_dest_find(const struct sl_policy *p, const char *name)
{
	size_t i;

	for (i = 0; p && name && i < p->ndests; i++)
		if (strcmp(p->dests[i].name, name) == 0)
			return &p->dests[i];
	return NULL;
}

const char *sl_policy_dest_name(const struct sl_policy_dest *d)
{
	return d ? d->name : NULL;
}

enum sl_gdpr_action sl_policy_dest_gdpr(const struct sl_policy_dest *d, enum sl_gdpr_cat c)
{
	return d && (unsigned)c < SL_GDPR_NCAT ? d->gdpr[c] : SL_GDPR_DROP;
}

int sl_policy_audit_hash(const struct sl_policy *p, const char *value, char out[SL_GDPR_HASH_HEX])
{
	if (!p || !p->key)
		return SL_ENOTFOUND;
	return sl_gdpr_keyed_hash(p->key, p->keylen, value, out);
}
