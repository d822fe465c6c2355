/* taxii_store.h — what the TAXII 2.1 server asks of whatever holds the objects: who a caller is,
 * which collections (views) they see, pages of records in (date_added, seq) order, adds, deletes
 * and an audit. Policy (which objects a partner may see, redaction) is the store's business; the
 * server is policy-free. */
#ifndef SL_TAXII_STORE_H
#define SL_TAXII_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define SL_TAXII_NAME_MAX 128 /* partner names, collection ids */
#define SL_TAXII_TEXT_MAX 512 /* titles, descriptions */
#define SL_TAXII_MSG_MAX 256  /* per-object failure messages */
#define SL_TAXII_MAX_LIST 64  /* values in one match[...] parameter */

/* What a request carried to say who it is; NULL for each absent item. Borrowed for one call. */
struct sl_taxii_credentials {
	const char *user;         /* HTTP Basic */
	const char *password;     /* HTTP Basic */
	const char *bearer;       /* Authorization: Bearer <key> (or Token <key>) */
	const char *cert_subject; /* verified TLS client certificate subject (RFC 2253) */
};

/* A collection as one partner sees it. */
struct sl_taxii_collection {
	char id[SL_TAXII_NAME_MAX]; /* a UUID for TAXII clients */
	char title[SL_TAXII_TEXT_MAX];
	char description[SL_TAXII_TEXT_MAX];
	char alias[SL_TAXII_NAME_MAX]; /* "" = none */
	bool can_read;
	bool can_write;
};

/* A position in a collection: records strictly after (date_added_us, seq). */
struct sl_taxii_cursor {
	int64_t date_added_us;
	uint64_t seq;
};

/* match[version] flags; explicit versions go in versions_us. No flag and no explicit version =
 * last. */
#define SL_TAXII_VERSION_LAST 1u
#define SL_TAXII_VERSION_FIRST 2u
#define SL_TAXII_VERSION_ALL 4u

/* The filters of one request, already validated by the server. Different fields are ANDed, values
 * of one field ORed. first/last/the default spec_version are judged among the versions the partner
 * sees. */
struct sl_taxii_filter {
	bool has_added_after;
	int64_t added_after_us; /* date_added strictly later */
	bool has_after;
	struct sl_taxii_cursor after; /* from a `next` token */
	const char *const *ids;       /* match[id] */
	size_t n_ids;
	const char *const *types; /* match[type] */
	size_t n_types;
	unsigned version_flags;     /* SL_TAXII_VERSION_* */
	const int64_t *versions_us; /* exact match[version] values (STIX modified, else created) */
	size_t n_versions;
	const char *const
	    *spec_versions; /* match[spec_version]; none = the latest spec version of each id */
	size_t n_spec_versions;
};

/* One object version as served. Every pointer is borrowed for the duration of the emit call. */
struct sl_taxii_record {
	const char *id;
	const char *version;      /* STIX modified (else created, else the date_added timestamp) */
	const char *spec_version; /* "2.1", "2.0" */
	const char *media_type;   /* "application/stix+json;version=2.1" */
	int64_t date_added_us;
	uint64_t seq; /* strictly increasing per collection: the tiebreak within one date_added */
	const char
	    *json; /* the object as the partner may see it (after policy); NULL if !want_json */
	size_t json_len;
};

/* How a page ended (filled by the store's page op; the server zeroes it first). */
struct sl_taxii_page_end {
	bool more;                     /* further matching records may exist */
	bool has_resume;               /* resume is set: continue after it */
	struct sl_taxii_cursor resume; /* the last position examined (>= the last emitted record) */
};

/* Called once per record, in (date_added, seq) order. Return 0 to go on, non-zero to stop (error).
 */
typedef int (*sl_taxii_emit)(void *arg, const struct sl_taxii_record *rec);

/* Result of one object of a POSTed envelope. */
struct sl_taxii_add_result {
	int code; /* 0 = stored (or an exact duplicate), else a negative sl_err_code */
	char msg[SL_TAXII_MSG_MAX]; /* why it failed (no secrets) */
};

/* An object handed to a partner, for the audit. */
struct sl_taxii_served {
	const char *id;
	const char *version;
};

/* Every callback gets ctx first; partner is the name authenticate returned. Return 0 or a negative
 * sl_err_code with err filled. SL_ENOTFOUND has a meaning where noted. */
struct sl_taxii_store_ops {
	/* Who is calling? Fill partner (size n). SL_ENOTFOUND/SL_EINVAL = bad or missing
	 * credentials. */
	int (*authenticate)(void *ctx, const struct sl_taxii_credentials *cred, char *partner,
	                    size_t n, struct sl_err *err);
	/* The collections partner may know of, in a stable order; *n set (at most max). */
	int (*list_collections)(void *ctx, const char *partner, struct sl_taxii_collection *out,
	                        size_t max, size_t *n, struct sl_err *err);
	/* One collection; SL_ENOTFOUND when it does not exist or partner may not know it exists. */
	int (*get_collection)(void *ctx, const char *partner, const char *id,
	                      struct sl_taxii_collection *out, struct sl_err *err);
	/* Emit up to limit records of collection matching f in (date_added, seq) order, json filled
	 * when want_json; set end->more when further matching records exist after the last one
	 * emitted. A store that filters while scanning may stop early (bounded work per request):
	 * it then sets end->more and end->resume (with has_resume) to the last position it
	 * examined, and the next page starts after that instead of after the last emitted record.
	 */
	int (*page)(void *ctx, const char *partner, const char *collection,
	            const struct sl_taxii_filter *f, size_t limit, bool want_json,
	            sl_taxii_emit emit, void *emit_arg, struct sl_taxii_page_end *end,
	            struct sl_err *err);
	/* Store n objects (each a JSON object that the server checked has a valid id and type)
	 * stamped with one date_added; fill results[i] for each. Returns non-zero only when nothing
	 * was stored. */
	int (*add)(void *ctx, const char *partner, const char *collection, json_t *const *objs,
	           size_t n, struct sl_taxii_add_result *results, struct sl_err *err);
	/* Delete the versions of object id matching f's version/spec_version; *n_deleted set.
	 * SL_EUNSUPPORTED when this store never deletes (the server answers 403). */
	int (*delete_object)(void *ctx, const char *partner, const char *collection, const char *id,
	                     const struct sl_taxii_filter *f, size_t *n_deleted,
	                     struct sl_err *err);
	/* The server handed these objects to partner (objects or object-by-id GET). May be NULL. */
	int (*note_served)(void *ctx, const char *partner, const char *collection,
	                   const struct sl_taxii_served *items, size_t n, struct sl_err *err);
};

#endif
