/* config.c — sluice.conf: the key table, libconfuse options built from it, validation that names
 * file:line and key, secrets read from files or the environment, and the immutable snapshot. */
#include "config.h"

#include <confuse.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define SECRET_MAX 4096
#define LIST_MAX 1024

/* The table: one row per key. Everything else (libconfuse options, range and choice checks,
 * docs/config.md and check-config) follows from it. */
static const struct sl_config_key keys[] = {
    {"", "ledger_dsn", "string", NULL, 0, 0, false,
     "libpq connection string of the ledger database (use a .pgpass file or PGPASSFILE for the "
     "password)"},
    {"", "log_level", "debug|info|warn|error", "info", 0, 0, false, "least severe level logged"},
    {"", "policy_file", "string", NULL, 0, 0, false, "sharing policy file (must be readable)"},

    {"limits", "max_body_bytes", "int", "16777216", 1024, 1073741824, false,
     "largest HTTP body read from a peer or accepted by the TAXII server"},
    {"limits", "max_json_depth", "int", "64", 2, 1000, false, "deepest JSON nesting parsed"},
    {"limits", "batch_size", "int", "500", 1, 100000, false,
     "objects per ledger transaction and per outbound page"},
    {"limits", "max_transfers", "int", "100", 1, 10000, false,
     "concurrent HTTP transfers, all peers together"},

    {"taxii_server", "listen", "string", "127.0.0.1:9443", 0, 0, false,
     "host:port (or [v6]:port) the TAXII 2.1 server binds; TLS is required unless loopback"},
    {"taxii_server", "tls_cert", "string", NULL, 0, 0, false, "PEM certificate chain"},
    {"taxii_server", "tls_key", "string", NULL, 0, 0, false, "PEM private key"},
    {"taxii_server", "tls_client_ca", "string", NULL, 0, 0, false,
     "PEM CA file; when set, partners must present a client certificate it signs"},
    {"taxii_server", "max_page_size", "int", "1000", 1, 100000, false,
     "most objects returned per page"},

    {"partner", "user", "string", NULL, 0, 0, false, "HTTP Basic user name (required)"},
    {"partner", "password_file", "string", NULL, 0, 0, true,
     "file holding the partner's password (one of password_file / password_env is required)"},
    {"partner", "password_env", "string", NULL, 0, 0, true,
     "environment variable holding the partner's password"},
    {"partner", "collections", "string list", "{}", 0, 0, false,
     "collection ids the partner may read"},

    {"peer", "kind", "misp|opencti|taxii|misp-feed", NULL, 0, 0, false, "peer type (required)"},
    {"peer", "url", "string", NULL, 0, 0, false,
     "base URL (required); https:// unless allow_plain_http = true"},
    {"peer", "direction", "pull|push|both", "pull", 0, 0, false, "which way objects flow"},
    {"peer", "api_key_file", "string", NULL, 0, 0, true,
     "file holding the API key (misp and opencti need this or api_key_env)"},
    {"peer", "api_key_env", "string", NULL, 0, 0, true, "environment variable holding the API key"},
    {"peer", "ca_file", "string", NULL, 0, 0, false, "PEM CA bundle to verify the peer with"},
    {"peer", "ca_dir", "string", NULL, 0, 0, false, "directory of hashed CA certificates"},
    {"peer", "client_cert", "string", NULL, 0, 0, false,
     "PEM client certificate (needs client_key)"},
    {"peer", "client_key", "string", NULL, 0, 0, false, "PEM client key (needs client_cert)"},
    {"peer", "insecure_skip_verify", "bool", "false", 0, 0, false,
     "disable TLS verification (logged as a warning at start-up; for tests only)"},
    {"peer", "allow_plain_http", "bool", "false", 0, 0, false,
     "permit an http:// url (the API key then travels in clear text)"},
    {"peer", "poll_interval", "int", "300", 5, 86400, false, "seconds between pulls"},
    {"peer", "timeout", "int", "60", 1, 3600, false, "seconds a whole request may take"},
    {"peer", "connect_timeout", "int", "10", 1, 600, false, "seconds to connect (incl. TLS)"},
    {"peer", "max_body_bytes", "int", "0", 0, 1073741824, false,
     "largest response body from this peer; 0 = limits.max_body_bytes"},
    {"peer", "retry_base_ms", "int", "500", 10, 600000, false,
     "first backoff ceiling (full jitter, doubling)"},
    {"peer", "retry_cap_ms", "int", "300000", 100, 86400000, false, "largest backoff ceiling"},
    {"peer", "breaker_failures", "int", "5", 1, 1000, false,
     "consecutive failures that open the circuit breaker"},
    {"peer", "breaker_cooldown", "int", "30", 1, 86400, false,
     "seconds an open breaker waits before a probe"},
    {"peer", "collections", "string list", "{}", 0, 0, false,
     "filter: TAXII collection / OpenCTI stream ids to pull (empty = all)"},
    {"peer", "tags_include", "string list", "{}", 0, 0, false,
     "filter: only objects carrying one of these tags (empty = all)"},
    {"peer", "tags_exclude", "string list", "{}", 0, 0, false,
     "filter: drop objects carrying any of these tags"},
    {"peer", "published_only", "bool", "true", 0, 0, false,
     "filter: MISP events must be published (as MISP's own sync); false also pulls drafts"},
    {"peer", "max_age_days", "int", "0", 0, 36500, false,
     "filter: skip objects older than this on first pull (MISP, TAXII); 0 = no limit"},
};

const struct sl_config_key *sl_config_keys(size_t *n)
{
	*n = sizeof(keys) / sizeof(keys[0]);
	return keys;
}

struct sl_config {
	int refs;
	char *path;
	char *dsn;
	int log_level;
	char *policy_file;
	struct sl_config_limits limits;
	struct sl_config_taxii taxii;
	size_t npeers;
	struct sl_config_peer *peers;
	struct sl_config_partner *partners;
	/* every allocation hanging off the snapshot, freed together; secrets are wiped first */
	void **allocs;
	size_t nallocs, capallocs;
	char **secrets;
	size_t nsecrets;
};

/* libconfuse's error and validation callbacks get no user pointer, so the one load in progress on
 * this thread is found here. Set and cleared inside sl_config_load only. */
static _Thread_local struct load_ctx {
	struct sl_err *err;
	unsigned flags;
	bool failed;
	const char *path; /* libconfuse leaves filename unset in default-created sections */
} * cur;

static void *track(struct sl_config *c, void *p)
{
	if (!p)
		return NULL;
	if (c->nallocs == c->capallocs) {
		size_t ncap = c->capallocs ? c->capallocs * 2 : 32;
		void **n = realloc(c->allocs, ncap * sizeof(*n));

		if (!n) {
			free(p);
			return NULL;
		}
		c->allocs = n;
		c->capallocs = ncap;
	}
	c->allocs[c->nallocs++] = p;
	return p;
}

static char *dupstr(struct sl_config *c, const char *s)
{
	return s ? track(c, strdup(s)) : NULL;
}

static const char *section_of(cfg_t *sec)
{
	return strcmp(sec->name, "root") == 0 ? "" : sec->name;
}

static const struct sl_config_key *find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "peer \"misp1\": " or "limits: " or "" — where in the file's structure a key sits. */
static void context_of(cfg_t *sec, char *out, size_t outsz)
{
	char q[96];

	if (!sec || strcmp(sec->name, "root") == 0)
		out[0] = '\0';
	else if (cfg_title(sec))
		snprintf(out, outsz, "%s \"%s\": ", sec->name,
		         sl_err_quote(q, sizeof(q), cfg_title(sec), 64));
	else
		snprintf(out, outsz, "%s: ", sec->name);
}

static void on_confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[384], ctx[128], where[SL_ERR_WHERE_MAX];

	if (!cur || cur->failed)
		return;
	cur->failed = true;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	context_of(cfg, ctx, sizeof(ctx));
	snprintf(where, sizeof(where), "%s:%d", cfg && cfg->filename ? cfg->filename : cur->path,
	         cfg ? cfg->line : 0);
	if (strncmp(msg, "no such option ", 15) == 0)
		sl_err_set(cur->err, SL_EINVAL, where, "%sunknown key %s", ctx, msg + 15);
	else
		sl_err_set(cur->err, SL_EINVAL, where, "%s%s", ctx, msg);
}

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static bool is_path_key(const char *name)
{
	static const char *const paths[] = {"policy_file",   "tls_cert",     "tls_key",
	                                    "tls_client_ca", "ca_file",      "client_cert",
	                                    "client_key",    "api_key_file", "password_file"};
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(name, paths[i]) == 0)
			return true;
	return false;
}

/* Called by libconfuse right after each value is parsed, so errors carry that value's line. */
static int validate_value(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct sl_config_key *k = find_key(section_of(cfg), opt->name);
	char ctx[128], q[160];
	unsigned last = cfg_opt_size(opt) ? cfg_opt_size(opt) - 1 : 0;

	/* on_confuse_error adds the section context to what cfg_error reports */
	ctx[0] = '\0';
	if (!k || cfg_opt_size(opt) == 0)
		return 0;
	if (opt->type == CFGT_INT) {
		long v = cfg_opt_getnint(opt, last);

		if (v < k->min || v > k->max) {
			cfg_error(cfg, "%s%s = %ld is out of range [%ld, %ld]", ctx, k->name, v,
			          k->min, k->max);
			return -1;
		}
		return 0;
	}
	if (opt->type != CFGT_STR || (opt->flags & CFGF_LIST))
		return 0;
	{
		const char *v = cfg_opt_getnstr(opt, last);

		if (strchr(k->type, '|') && !choice_ok(k->type, v)) {
			cfg_error(cfg, "%s%s = \"%s\" is not one of %s", ctx, k->name,
			          sl_err_quote(q, sizeof(q), v, 64), k->type);
			return -1;
		}
		if (*v == '\0' && strcmp(k->type, "string") == 0) {
			cfg_error(cfg, "%s%s is empty", ctx, k->name);
			return -1;
		}
		if (strcmp(k->name, "ca_dir") == 0) {
			struct stat st;

			if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) {
				cfg_error(cfg, "%s%s: '%s' is not a directory", ctx, k->name,
				          sl_err_quote(q, sizeof(q), v, 128));
				return -1;
			}
		}
		if (is_path_key(k->name) && access(v, R_OK) != 0 &&
		    !(k->secret && cur && (cur->flags & SL_CONFIG_ALLOW_MISSING_SECRETS))) {
			cfg_error(cfg, "%s%s: cannot read '%s': %s", ctx, k->name,
			          sl_err_quote(q, sizeof(q), v, 128), strerror(errno));
			return -1;
		}
		if (k->secret && strstr(k->name, "_env") &&
		    !(cur && (cur->flags & SL_CONFIG_ALLOW_MISSING_SECRETS))) {
			const char *e = getenv(v);

			if (!e || !*e) {
				cfg_error(cfg, "%s%s: environment variable '%s' is not set", ctx,
				          k->name, sl_err_quote(q, sizeof(q), v, 128));
				return -1;
			}
		}
	}
	return 0;
}

/* libconfuse option arrays for one section, built from the table (plus nested sections). */
static cfg_opt_t *build_opts(const char *section, const cfg_opt_t *extra, size_t nextra)
{
	size_t i, n = 0, nk = sizeof(keys) / sizeof(keys[0]);
	cfg_opt_t *o = calloc(nk + nextra + 1, sizeof(*o));
	static const cfg_opt_t end = CFG_END();

	if (!o)
		return NULL;
	for (i = 0; i < nk; i++) {
		const struct sl_config_key *k = &keys[i];
		cfg_opt_t one;

		if (strcmp(k->section, section) != 0)
			continue;
		if (strcmp(k->type, "int") == 0) {
			cfg_opt_t t = CFG_INT(NULL, 0, CFGF_NONE);
			t.def.number = strtol(k->def, NULL, 10);
			one = t;
		} else if (strcmp(k->type, "bool") == 0) {
			cfg_opt_t t = CFG_BOOL(NULL, cfg_false, CFGF_NONE);
			t.def.boolean = strcmp(k->def, "true") == 0 ? cfg_true : cfg_false;
			one = t;
		} else if (strcmp(k->type, "string list") == 0) {
			cfg_opt_t t = CFG_STR_LIST(NULL, NULL, CFGF_NONE);
			one = t;
		} else {
			cfg_opt_t t = CFG_STR(NULL, NULL, CFGF_NONE);
			/* libconfuse copies defaults, so pointing at the table is fine */
			t.def.string = (char *)(uintptr_t)k->def;
			one = t;
		}
		one.name = k->name;
		one.validcb = validate_value;
		o[n++] = one;
	}
	for (i = 0; i < nextra; i++)
		o[n++] = extra[i];
	o[n] = end;
	return o;
}

static int fail_at(struct sl_err *err, cfg_t *sec, const char *fmt, ...) SL_PRINTF(3, 4);
static int fail_at(struct sl_err *err, cfg_t *sec, const char *fmt, ...)
{
	char msg[384], ctx[128], where[SL_ERR_WHERE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	context_of(sec, ctx, sizeof(ctx));
	snprintf(where, sizeof(where), "%s:%d", sec->filename ? sec->filename : "config",
	         sec->line);
	return sl_err_set(err, SL_EINVAL, where, "%s%s", ctx, msg);
}

static int get_list(struct sl_config *c, cfg_t *sec, const char *name, struct sl_strlist *out,
                    struct sl_err *err)
{
	unsigned i, n = cfg_size(sec, name);
	const char **v;

	out->n = 0;
	out->v = NULL;
	if (n == 0)
		return 0;
	if (n > LIST_MAX)
		return fail_at(err, sec, "%s has %u entries, more than %d", name, n, LIST_MAX);
	v = track(c, calloc(n, sizeof(*v)));
	if (!v)
		return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
	for (i = 0; i < n; i++)
		if (!(v[i] = dupstr(c, cfg_getnstr(sec, name, i))))
			return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
	out->n = n;
	out->v = v;
	return 0;
}

static int read_secret_file(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	char buf[SECRET_MAX + 1];
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n > SECRET_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return -2;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
	                 buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	*out = n ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	return n ? 0 : -3;
}

/* Read the secret named by <prefix>_file or <prefix>_env. *value stays NULL when neither is set,
 * or when it cannot be read and missing secrets are allowed. */
static int load_secret(struct sl_config *c, cfg_t *sec, const char *prefix, unsigned flags,
                       bool *configured, const char **value, struct sl_err *err)
{
	char kf[32], ke[32], q[160];
	const char *file, *env;
	char *s = NULL;

	snprintf(kf, sizeof(kf), "%s_file", prefix);
	snprintf(ke, sizeof(ke), "%s_env", prefix);
	file = cfg_getstr(sec, kf);
	env = cfg_getstr(sec, ke);
	*value = NULL;
	*configured = file || env;
	if (file && env)
		return fail_at(err, sec, "%s and %s are both set; use one", kf, ke);
	if (file) {
		int r = read_secret_file(file, &s);

		if (r != 0 && !(flags & SL_CONFIG_ALLOW_MISSING_SECRETS))
			return fail_at(err, sec, "%s: '%s' %s", kf,
			               sl_err_quote(q, sizeof(q), file, 128),
			               r == -1   ? "cannot be read"
			               : r == -2 ? "is larger than 4096 bytes"
			                         : "is empty");
	} else if (env) {
		const char *e = getenv(env);

		if (e && *e)
			s = strdup(e);
		else if (!(flags & SL_CONFIG_ALLOW_MISSING_SECRETS))
			return fail_at(err, sec, "%s: environment variable '%s' is not set", ke,
			               sl_err_quote(q, sizeof(q), env, 128));
	}
	if (s) {
		char **ns = realloc(c->secrets, (c->nsecrets + 1) * sizeof(*ns));

		if (!ns) {
			explicit_bzero(s, strlen(s));
			free(s);
			return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
		}
		c->secrets = ns;
		c->secrets[c->nsecrets++] = s;
		*value = s;
	}
	return 0;
}

static const char *opt_path(struct sl_config *c, cfg_t *sec, const char *name)
{
	return dupstr(c, cfg_getstr(sec, name));
}

static bool oom_if_set_but_null(cfg_t *sec, const char *name, const char *copy)
{
	return cfg_getstr(sec, name) && !copy;
}

static int build_peer(struct sl_config *c, cfg_t *sec, unsigned flags, struct sl_config_peer *p,
                      struct sl_err *err)
{
	char where[SL_ERR_WHERE_MAX], q[160];
	const char *kind = cfg_getstr(sec, "kind"), *url = cfg_getstr(sec, "url");
	const char *dir = cfg_getstr(sec, "direction");
	static const char *const kinds[] = {"misp", "opencti", "taxii", "misp-feed"};
	unsigned i;
	long mb;

	if (!kind)
		return fail_at(err, sec, "missing required key 'kind'");
	if (!url)
		return fail_at(err, sec, "missing required key 'url'");
	snprintf(where, sizeof(where), "%s:%d", sec->filename ? sec->filename : "config",
	         sec->line);
	p->name = dupstr(c, cfg_title(sec));
	p->where = dupstr(c, where);
	p->url = dupstr(c, url);
	for (i = 0; i < 4; i++)
		if (strcmp(kind, kinds[i]) == 0)
			p->kind = (enum sl_peer_kind)i;
	p->direction = strcmp(dir, "push") == 0   ? SL_PEER_PUSH
	               : strcmp(dir, "both") == 0 ? SL_PEER_BOTH
	                                          : SL_PEER_PULL;
	p->insecure_skip_verify = cfg_getbool(sec, "insecure_skip_verify");
	p->allow_plain_http = cfg_getbool(sec, "allow_plain_http");
	if (strncmp(url, "https://", 8) != 0) {
		if (strncmp(url, "http://", 7) != 0)
			return fail_at(err, sec, "url '%s' must start with https://",
			               sl_err_quote(q, sizeof(q), url, 128));
		if (!p->allow_plain_http)
			return fail_at(
			    err, sec,
			    "url '%s' is plain http; set allow_plain_http = true to permit it",
			    sl_err_quote(q, sizeof(q), url, 128));
	}
	if (strlen(url) <= (strncmp(url, "https://", 8) == 0 ? 8u : 7u))
		return fail_at(err, sec, "url has no host");
	p->ca_file = opt_path(c, sec, "ca_file");
	p->ca_dir = opt_path(c, sec, "ca_dir");
	p->client_cert = opt_path(c, sec, "client_cert");
	p->client_key = opt_path(c, sec, "client_key");
	if (!p->name || !p->where || !p->url || oom_if_set_but_null(sec, "ca_file", p->ca_file) ||
	    oom_if_set_but_null(sec, "ca_dir", p->ca_dir) ||
	    oom_if_set_but_null(sec, "client_cert", p->client_cert) ||
	    oom_if_set_but_null(sec, "client_key", p->client_key))
		return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
	if (!p->client_cert != !p->client_key)
		return fail_at(err, sec, "client_cert and client_key must be set together");
	p->poll_interval_s = (unsigned)cfg_getint(sec, "poll_interval");
	p->timeout_s = (unsigned)cfg_getint(sec, "timeout");
	p->connect_timeout_s = (unsigned)cfg_getint(sec, "connect_timeout");
	if (p->connect_timeout_s > p->timeout_s)
		return fail_at(err, sec, "connect_timeout (%u) is longer than timeout (%u)",
		               p->connect_timeout_s, p->timeout_s);
	mb = cfg_getint(sec, "max_body_bytes");
	p->max_body_bytes = mb ? (size_t)mb : c->limits.max_body_bytes;
	p->retry_base_ms = (unsigned)cfg_getint(sec, "retry_base_ms");
	p->retry_cap_ms = (unsigned)cfg_getint(sec, "retry_cap_ms");
	if (p->retry_base_ms > p->retry_cap_ms)
		return fail_at(err, sec, "retry_base_ms (%u) is larger than retry_cap_ms (%u)",
		               p->retry_base_ms, p->retry_cap_ms);
	p->breaker_failures = (unsigned)cfg_getint(sec, "breaker_failures");
	p->breaker_cooldown_s = (unsigned)cfg_getint(sec, "breaker_cooldown");
	p->published_only = cfg_getbool(sec, "published_only");
	p->max_age_days = (unsigned)cfg_getint(sec, "max_age_days");
	if (get_list(c, sec, "collections", &p->collections, err) ||
	    get_list(c, sec, "tags_include", &p->tags_include, err) ||
	    get_list(c, sec, "tags_exclude", &p->tags_exclude, err))
		return err ? err->code : SL_EINVAL;
	if (load_secret(c, sec, "api_key", flags, &p->api_key_configured, &p->api_key, err))
		return err ? err->code : SL_EINVAL;
	if (!p->api_key_configured && (p->kind == SL_PEER_MISP || p->kind == SL_PEER_OPENCTI))
		return fail_at(err, sec, "kind %s needs api_key_file or api_key_env", kind);
	return 0;
}

static int parse_listen(const char *s, char *host, size_t hostsz, uint16_t *port)
{
	const char *colon;
	size_t hl;
	char *end;
	long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostsz)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

static bool is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "localhost") == 0;
}

static int build_taxii(struct sl_config *c, cfg_t *sec, unsigned flags, struct sl_err *err)
{
	struct sl_config_taxii *t = &c->taxii;
	char host[256], q[160];
	unsigned i, n = cfg_size(sec, "partner");

	t->enabled = true;
	if (parse_listen(cfg_getstr(sec, "listen"), host, sizeof(host), &t->listen_port))
		return fail_at(err, sec, "listen '%s' is not host:port",
		               sl_err_quote(q, sizeof(q), cfg_getstr(sec, "listen"), 128));
	t->listen_host = dupstr(c, host);
	t->tls_cert = opt_path(c, sec, "tls_cert");
	t->tls_key = opt_path(c, sec, "tls_key");
	t->tls_client_ca = opt_path(c, sec, "tls_client_ca");
	if (!t->listen_host)
		return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
	if (!t->tls_cert != !t->tls_key)
		return fail_at(err, sec, "tls_cert and tls_key must be set together");
	if (!t->tls_cert && !is_loopback(host))
		return fail_at(
		    err, sec,
		    "listen on '%s' without tls_cert/tls_key would send partner passwords "
		    "in clear text",
		    sl_err_quote(q, sizeof(q), host, 128));
	t->max_page_size = (unsigned)cfg_getint(sec, "max_page_size");
	if (n == 0)
		return 0;
	c->partners = track(c, calloc(n, sizeof(*c->partners)));
	if (!c->partners)
		return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
	t->partners = c->partners;
	for (i = 0; i < n; i++) {
		cfg_t *ps = cfg_getnsec(sec, "partner", i);
		struct sl_config_partner *p = &c->partners[i];
		char where[SL_ERR_WHERE_MAX];
		bool configured;

		t->npartners = i + 1;
		snprintf(where, sizeof(where), "%s:%d", ps->filename ? ps->filename : "config",
		         ps->line);
		p->name = dupstr(c, cfg_title(ps));
		p->where = dupstr(c, where);
		if (!cfg_getstr(ps, "user"))
			return fail_at(err, ps, "missing required key 'user'");
		p->user = dupstr(c, cfg_getstr(ps, "user"));
		if (!p->name || !p->where || !p->user)
			return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
		if (load_secret(c, ps, "password", flags, &configured, &p->password, err))
			return err ? err->code : SL_EINVAL;
		if (!configured)
			return fail_at(err, ps, "needs password_file or password_env");
		if (get_list(c, ps, "collections", &p->collections, err))
			return err ? err->code : SL_EINVAL;
	}
	return 0;
}

static int build(struct sl_config *c, cfg_t *root, unsigned flags, struct sl_err *err)
{
	cfg_t *lim = cfg_getsec(root, "limits");
	const char *lvl = cfg_getstr(root, "log_level");
	unsigned i, n;

	c->dsn = dupstr(c, cfg_getstr(root, "ledger_dsn"));
	c->policy_file = dupstr(c, cfg_getstr(root, "policy_file"));
	c->log_level = sl_log_level_parse(lvl);
	if (c->log_level < 0)
		c->log_level = SL_LOG_INFO;
	c->limits.max_body_bytes = (size_t)cfg_getint(lim, "max_body_bytes");
	c->limits.max_json_depth = (unsigned)cfg_getint(lim, "max_json_depth");
	c->limits.batch_size = (unsigned)cfg_getint(lim, "batch_size");
	c->limits.max_transfers = (unsigned)cfg_getint(lim, "max_transfers");
	if (cfg_size(root, "taxii_server") > 0 &&
	    build_taxii(c, cfg_getsec(root, "taxii_server"), flags, err))
		return err ? err->code : SL_EINVAL;
	n = cfg_size(root, "peer");
	if (n == 0)
		return 0;
	c->peers = track(c, calloc(n, sizeof(*c->peers)));
	if (!c->peers)
		return sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
	for (i = 0; i < n; i++) {
		c->npeers = i + 1;
		if (build_peer(c, cfg_getnsec(root, "peer", i), flags, &c->peers[i], err))
			return err ? err->code : SL_EINVAL;
	}
	return 0;
}

static void config_free(struct sl_config *c)
{
	size_t i;

	for (i = 0; i < c->nsecrets; i++) {
		explicit_bzero(c->secrets[i], strlen(c->secrets[i]));
		free(c->secrets[i]);
	}
	free(c->secrets);
	for (i = 0; i < c->nallocs; i++)
		free(c->allocs[i]);
	free(c->allocs);
	free(c->path);
	free(c);
}

struct sl_config *sl_config_load(const char *path, unsigned flags, struct sl_err *err)
{
	struct load_ctx ctx = {err ? err : &(struct sl_err){0}, flags, false, path};
	cfg_opt_t *partner = NULL, *taxii = NULL, *limits = NULL, *peer = NULL, *root = NULL;
	struct sl_config *c = NULL;
	cfg_t *cfg = NULL;
	FILE *probe;
	int r;

	sl_err_clear(err);
	if (!path)
		return sl_err_set(err, SL_EINVAL, NULL, "no configuration file given"), NULL;
	/* libconfuse reports a missing file as a bare error code; say which file and why. */
	probe = fopen(path, "r");
	if (!probe) {
		sl_err_set(err, SL_EIO, path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	fclose(probe);
	partner = build_opts("partner", NULL, 0);
	if (partner) {
		cfg_opt_t sub[] = {
		    CFG_SEC("partner", partner, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES)};
		taxii = build_opts("taxii_server", sub, 1);
	}
	limits = build_opts("limits", NULL, 0);
	peer = build_opts("peer", NULL, 0);
	if (taxii && limits && peer) {
		cfg_opt_t sub[] = {
		    CFG_SEC("limits", limits, CFGF_NONE),
		    CFG_SEC("taxii_server", taxii, CFGF_NODEFAULT),
		    CFG_SEC("peer", peer, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		};
		root = build_opts("", sub, 3);
	}
	c = calloc(1, sizeof(*c));
	if (!root || !c || !(cfg = cfg_init(root, CFGF_NONE))) {
		sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	c->refs = 1;
	c->path = strdup(path);
	if (!c->path) {
		sl_err_set(err, SL_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	cfg_set_error_function(cfg, on_confuse_error);
	cur = &ctx;
	r = cfg_parse(cfg, path);
	cur = NULL;
	if (r != CFG_SUCCESS) {
		if (!ctx.failed)
			sl_err_set(err, r == CFG_FILE_ERROR ? SL_EIO : SL_EINVAL, path,
			           "cannot parse the configuration");
		goto fail;
	}
	if (build(c, cfg, flags, err) != 0)
		goto fail;
	cfg_free(cfg);
	free(partner);
	free(taxii);
	free(limits);
	free(peer);
	free(root);
	return c;
fail:
	cur = NULL;
	if (cfg)
		cfg_free(cfg);
	if (c)
		config_free(c);
	free(partner);
	free(taxii);
	free(limits);
	free(peer);
	free(root);
	return NULL;
}

struct sl_config *sl_config_ref(struct sl_config *cfg)
{
	if (cfg)
		cfg->refs++;
	return cfg;
}

void sl_config_unref(struct sl_config *cfg)
{
	if (cfg && --cfg->refs == 0)
		config_free(cfg);
}

const char *sl_config_path(const struct sl_config *cfg)
{
	return cfg->path;
}

const char *sl_config_db_dsn(const struct sl_config *cfg)
{
	return cfg->dsn;
}

int sl_config_log_level(const struct sl_config *cfg)
{
	return cfg->log_level;
}

const char *sl_config_policy_file(const struct sl_config *cfg)
{
	return cfg->policy_file;
}

const struct sl_config_limits *sl_config_limits(const struct sl_config *cfg)
{
	return &cfg->limits;
}

const struct sl_config_taxii *sl_config_taxii(const struct sl_config *cfg)
{
	return &cfg->taxii;
}

size_t sl_config_npeers(const struct sl_config *cfg)
{
	return cfg->npeers;
}

const struct sl_config_peer *sl_config_peer(const struct sl_config *cfg, size_t i)
{
	return i < cfg->npeers ? &cfg->peers[i] : NULL;
}

const struct sl_config_peer *sl_config_peer_by_name(const struct sl_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->npeers; i++)
		if (strcmp(cfg->peers[i].name, name) == 0)
			return &cfg->peers[i];
	return NULL;
}

const char *sl_config_peer_kind_name(enum sl_peer_kind k)
{
	switch (k) {
	case SL_PEER_MISP:
		return "misp";
	case SL_PEER_OPENCTI:
		return "opencti";
	case SL_PEER_TAXII:
		return "taxii";
	case SL_PEER_MISP_FEED:
		return "misp-feed";
	}
	return "?";
}

const char *sl_config_direction_name(enum sl_peer_direction d)
{
	switch (d) {
	case SL_PEER_PULL:
		return "pull";
	case SL_PEER_PUSH:
		return "push";
	case SL_PEER_BOTH:
		return "both";
	}
	return "?";
}
