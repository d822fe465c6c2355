/* config.h — sluice.conf: a table of keys (type, default, range, secret?) parsed with libconfuse
 * into an immutable, reference-counted snapshot. Reload = load a new snapshot, then swap; holders
 * keep the old. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum sl_peer_kind { SL_PEER_MISP, SL_PEER_OPENCTI, SL_PEER_TAXII, SL_PEER_MISP_FEED };
enum sl_peer_direction { SL_PEER_PULL = 1, SL_PEER_PUSH = 2, SL_PEER_BOTH = 3 };

/* A list of strings from the file (e.g. collections = {"a", "b"}). */
struct sl_strlist {
	size_t n;
	const char *const *v;
};

struct sl_config_limits {
	size_t max_body_bytes;   /* largest HTTP body read or accepted */
	unsigned max_json_depth; /* deepest JSON nesting parsed */
	unsigned batch_size;     /* objects per ledger transaction / outbound page */
	unsigned max_transfers;  /* concurrent HTTP transfers, all peers together */
};

/* Everything below is read-only and lives as long as the snapshot it came from. */
struct sl_config_peer {
	const char *name;
	const char *where; /* "file:line" of the block, for messages */
	enum sl_peer_kind kind;
	enum sl_peer_direction direction;
	const char *url;
	/* The API key read from api_key_file / api_key_env at load time; NULL when none is
	 * configured or (only with SL_CONFIG_ALLOW_MISSING_SECRETS) it could not be read. Never log
	 * it. */
	const char *api_key;
	bool api_key_configured;
	const char *ca_file, *ca_dir, *client_cert, *client_key; /* NULL = unset */
	bool insecure_skip_verify; /* the caller must log a warning when true */
	bool allow_plain_http;
	unsigned poll_interval_s, timeout_s, connect_timeout_s;
	size_t max_body_bytes; /* already resolved: the peer's value, else limits.max_body_bytes */
	unsigned retry_base_ms, retry_cap_ms, breaker_failures, breaker_cooldown_s;
	/* filters */
	struct sl_strlist collections, tags_include, tags_exclude;
	bool published_only;
	unsigned max_age_days; /* 0 = no age limit */
};

struct sl_config_partner {
	const char *name;
	const char *where;
	const char *user;
	const char *password; /* from password_file / password_env; secret, never logged */
	struct sl_strlist collections;
};

struct sl_config_taxii {
	bool enabled; /* a taxii_server block is present */
	const char *listen_host;
	uint16_t listen_port;
	const char *tls_cert, *tls_key, *tls_client_ca; /* NULL = unset */
	unsigned max_page_size;
	size_t npartners;
	const struct sl_config_partner *partners;
};

struct sl_config;

enum sl_config_flags {
	SL_CONFIG_STRICT = 0,
	/* Secrets that are configured but cannot be read (env var unset, file missing) are recorded
	 * as missing instead of failing the load: for check-config on a machine without them. */
	SL_CONFIG_ALLOW_MISSING_SECRETS = 1,
};

/* Parse and validate path. Returns a snapshot with one reference, or NULL with err filled:
 * err->where is "file:line" and err->msg names the key (and section). */
struct sl_config *sl_config_load(const char *path, unsigned flags, struct sl_err *err) SL_MUSTCHECK;
/* Take / drop a reference; the last unref frees (secrets are wiped first). unref(NULL) is a no-op.
 */
struct sl_config *sl_config_ref(struct sl_config *cfg);
void sl_config_unref(struct sl_config *cfg);

/* Borrowed getters, valid while the caller holds a reference. */
const char *sl_config_path(const struct sl_config *cfg);
const char *sl_config_db_dsn(const struct sl_config *cfg);      /* NULL when ledger_dsn is unset */
int sl_config_log_level(const struct sl_config *cfg);           /* an enum sl_log_level */
const char *sl_config_policy_file(const struct sl_config *cfg); /* NULL when unset */
const struct sl_config_limits *sl_config_limits(const struct sl_config *cfg);
const struct sl_config_taxii *sl_config_taxii(const struct sl_config *cfg);
size_t sl_config_npeers(const struct sl_config *cfg);
const struct sl_config_peer *sl_config_peer(const struct sl_config *cfg, size_t i);
const struct sl_config_peer *sl_config_peer_by_name(const struct sl_config *cfg, const char *name);

const char *sl_config_peer_kind_name(enum sl_peer_kind k);
const char *sl_config_direction_name(enum sl_peer_direction d);

/* The key table, for docs and check-config: one row per key. */
struct sl_config_key {
	const char *section; /* "" (top level), "limits", "taxii_server", "partner", "peer" */
	const char *name;
	const char *type; /* "string", "int", "bool", "string list", or "a|b|c" for enums */
	const char *def;  /* default as text, NULL = none */
	long min, max;    /* for ints */
	bool secret;      /* names where a secret comes from; the value itself is never printed */
	const char *doc;
};
const struct sl_config_key *sl_config_keys(size_t *n);

#endif
