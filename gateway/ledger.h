/* ledger.h — sluice's PostgreSQL ledger: object versions, provenance, observables, correlation,
 * cursors, id map, outbox, append-only audit, quarantine and GDPR erasure. All SQL lives behind it.
 */
#ifndef SL_LEDGER_H
#define SL_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* One connection to the ledger database. Not thread-safe: one per thread (several gateways and
 * threads may share one database; outbox claims never hand a row out twice). */
struct sl_ledger;

#define SL_LEDGER_ID_MAX 256  /* STIX ids, foreign ids, peer and destination names */
#define SL_LEDGER_TS_MAX 40   /* "2024-01-31T12:00:00.123456Z" */
#define SL_LEDGER_MSG_MAX 256 /* per-object reasons, delivery errors */
/* Canonical JSON of one object; larger = rejected. A MISP event's report lists every object made
 * from it (about 180 bytes a ref): 32 MiB holds an event of ~90,000 attributes; a 10,000-attribute
 * event's report is 1.8 MB. */
#define SL_LEDGER_MAX_OBJECT_BYTES (32u * 1024u * 1024u)
#define SL_LEDGER_QUARANTINE_RAW_MAX (64u * 1024u) /* raw text kept per quarantined input */
#define SL_LEDGER_MAX_BATCH 1000000u               /* objects in one ingest call */

/* Connect to dsn (a libpq conninfo or URI). Refuses (SL_ECONFLICT) a database whose schema is newer
 * than this build knows. Does not migrate: call sl_ledger_migrate() (or `sluice ledger migrate`).
 * Returns NULL with err filled. The DSN is never copied into messages (it may hold a password). */
struct sl_ledger *sl_ledger_open(const char *dsn, struct sl_err *err);
/* NULL is a no-op. */
void sl_ledger_close(struct sl_ledger *l);

/* Apply every migration newer than the database's schema_version, each in its own transaction.
 * Idempotent. from and to (may be NULL) get the versions before and after. SL_ECONFLICT when the
 * database is newer than this build. */
int sl_ledger_migrate(struct sl_ledger *l, int *from, int *to, struct sl_err *err) SL_MUSTCHECK;
/* The highest migration this build knows. */
int sl_ledger_schema_known(void);

/* ---- ingest ---------------------------------------------------------------------------------- */

/* What happened to one object of a batch, judged against the ledger after the batch. */
enum sl_ledger_outcome {
	SL_LEDGER_NEW = 1,  /* first version of this id: now the newest */
	SL_LEDGER_NEWER,    /* a newer version than the ledger had: now the newest */
	SL_LEDGER_SAME,     /* this (id, version) was already stored: no-op, provenance recorded */
	SL_LEDGER_OLDER,    /* stored as history; a newer version of the id is the newest */
	SL_LEDGER_REJECTED, /* invalid: quarantined with the reason, the rest of the batch went on
	                     */
};

struct sl_ledger_in {
	const json_t *obj;     /* borrowed STIX 2.1 object */
	const char *origin_id; /* its id at the peer (MISP event uuid, OpenCTI id, TAXII collection)
	                          or NULL */
};

struct sl_ledger_result {
	enum sl_ledger_outcome outcome;
	char msg[SL_LEDGER_MSG_MAX]; /* why it was rejected (names the field), else "" */
};

/* A resume position of one stream of one peer. position is opaque to the ledger: a timestamp,
 * a TAXII next token or added_after, an SSE event id. */
struct sl_ledger_cursor {
	const char *peer;
	const char *stream;
	const char *position;
};

/* Ingest n objects delivered by peer, in ONE transaction together with the cursor move (cursor may
 * be NULL): either all of it commits or none of it does; on SL_EDB nothing moved, and a retry of
 * the same call is safe (ingest is idempotent; provenance keeps one row per (object version,
 * peer, origin) and counts its deliveries). Versions are keyed by (id, modified); objects without
 * modified use created (marking-definition) or, for SCOs, which have no versions, the epoch
 * 1970-01-01T00:00:00Z. Invalid objects are quarantined and reported in results[i]; they do not
 * fail the call. results has n entries (required). Returns 0 or a negative sl_err_code. */
#define SL_LEDGER_SCO_MODIFIED "1970-01-01T00:00:00Z" /* the one version an SCO has */
int sl_ledger_ingest(struct sl_ledger *l, const char *peer, const struct sl_ledger_in *in, size_t n,
                     const struct sl_ledger_cursor *cursor, struct sl_ledger_result *results,
                     struct sl_err *err) SL_MUSTCHECK;

/* Record rejected input that never became an object (e.g. a bundle that is not JSON). raw is kept
 * up to SL_LEDGER_QUARANTINE_RAW_MAX bytes. */
int sl_ledger_quarantine(struct sl_ledger *l, const char *peer, const char *raw, size_t raw_len,
                         const char *reason, struct sl_err *err) SL_MUSTCHECK;

/* ---- cursors and id map ---------------------------------------------------------------------- */

/* Copy the committed position of (peer, stream) into out (size n). SL_ENOTFOUND when none. */
int sl_ledger_cursor_get(struct sl_ledger *l, const char *peer, const char *stream, char *out,
                         size_t n, struct sl_err *err) SL_MUSTCHECK;
/* Move a cursor on its own (when a stream position advances with no data). */
int sl_ledger_cursor_set(struct sl_ledger *l, const struct sl_ledger_cursor *c,
                         struct sl_err *err) SL_MUSTCHECK;

/* Remember that peer calls our object stix_id foreign_id (OpenCTI renames ids). Re-putting the same
 * pair is a no-op; a foreign id now naming another STIX id is updated. */
int sl_ledger_idmap_put(struct sl_ledger *l, const char *peer, const char *foreign_id,
                        const char *stix_id, struct sl_err *err) SL_MUSTCHECK;
/* Look up either way; SL_ENOTFOUND when unknown. */
int sl_ledger_idmap_to_stix(struct sl_ledger *l, const char *peer, const char *foreign_id,
                            char *out, size_t n, struct sl_err *err) SL_MUSTCHECK;
int sl_ledger_idmap_to_foreign(struct sl_ledger *l, const char *peer, const char *stix_id,
                               char *out, size_t n, struct sl_err *err) SL_MUSTCHECK;
/* sl_ledger_idmap_to_stix for foreign_ids[0..n) in one round trip: a new object foreign id -> our
 * STIX id, without the ids the map does not hold. NULL with err on failure. */
json_t *sl_ledger_idmap_to_stix_many(struct sl_ledger *l, const char *peer,
                                     const char *const *foreign_ids, size_t n, struct sl_err *err);
/* MISP sharing groups' definitions (the SharingGroup objects MISP events carry, with their
 * members), kept so that an object naming its group by uuid alone can be decided with its members.
 * Put: groups is a JSON object, group uuid -> SharingGroup (entries that are not objects are
 * skipped); each replaces the stored definition of its uuid (case-insensitive) unless that one is
 * newer by MISP's "modified" ("YYYY-MM-DD HH:MM:SS", UTC). 0 or a negative code with err. */
int sl_ledger_sharing_groups_put(struct sl_ledger *l, const char *peer, const json_t *groups,
                                 struct sl_err *err) SL_MUSTCHECK;
/* The stored definitions of uuids[0..n) in one round trip: a new object, uuid as asked ->
 * SharingGroup, without the ones the ledger does not hold; NULL with err on failure. */
json_t *sl_ledger_sharing_groups_get(struct sl_ledger *l, const char *const *uuids, size_t n,
                                     struct sl_err *err);
/* The stored definitions of the groups STIX objects name by x_misp_sharing_group_uuid, each asked
 * once: objs (may be NULL) is an array of objects or an object whose values are objects, also (may
 * be NULL) one more object; uuids that are keys of skip (may be NULL) are not asked for. A new
 * object as sl_ledger_sharing_groups_get gives it (empty when no other group is named); NULL with
 * err on failure. */
json_t *sl_ledger_sharing_groups_named(struct sl_ledger *l, const json_t *objs, const json_t *also,
                                       const json_t *skip, struct sl_err *err);
/* Which of ids[0..n) the ledger holds a version of, in one round trip: a new object id -> true.
 * NULL with err on failure. */
json_t *sl_ledger_known(struct sl_ledger *l, const char *const *ids, size_t n, struct sl_err *err);

/* ---- reading object versions ----------------------------------------------------------------- */

/* One stored version. Pointers are borrowed for the duration of the emit call. */
struct sl_ledger_version {
	const char *id;
	const char *type;
	const char *modified;     /* the version key, "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
	const char *spec_version; /* "2.1" */
	bool revoked;
	bool erased;           /* content replaced by a tombstone (GDPR erasure) */
	int64_t date_added_us; /* server time it was first stored; never decreases along seq */
	int64_t seq;           /* strictly increasing per stored version: the tiebreak */
	const char *json;      /* the stored canonical JSON */
	size_t json_len;
};

/* Called once per version; return 0 to go on, non-zero to stop (that value is returned). */
typedef int (*sl_ledger_emit)(void *arg, const struct sl_ledger_version *v);

/* The newest version of id (modified NULL) or the version with that modified timestamp, as a new
 * reference. NULL with SL_ENOTFOUND when absent. */
json_t *sl_ledger_get(struct sl_ledger *l, const char *id, const char *modified,
                      struct sl_err *err);

/* Every stored version of id, oldest first. */
int sl_ledger_versions(struct sl_ledger *l, const char *id, sl_ledger_emit emit, void *arg,
                       struct sl_err *err) SL_MUSTCHECK;
/* Every version of id in destination's view, oldest first (SL_ENOTFOUND when none). */
int sl_ledger_view_versions(struct sl_ledger *l, const char *destination, const char *id,
                            sl_ledger_emit emit, void *arg, struct sl_err *err) SL_MUSTCHECK;

/* A page of versions in (date_added, seq) order, for a TAXII collection view: strictly after
 * (after_date_added_us, after_seq) (both 0 = from the start), at most limit, optionally only
 * types in types[0..n_types) and only the newest version of each id. *more says whether further
 * matching versions exist. Versions committed later always sort after every earlier page. */
struct sl_ledger_page_query {
	int64_t after_date_added_us;
	int64_t after_seq;
	const char *const *types;
	size_t n_types;
	bool latest_only;
	const char *destination; /* NULL: every stored version; else only that destination's view:
	                          * the versions its policy allowed, as it may see them (shares) */
};
int sl_ledger_page(struct sl_ledger *l, const struct sl_ledger_page_query *q, size_t limit,
                   sl_ledger_emit emit, void *arg, bool *more, struct sl_err *err) SL_MUSTCHECK;

/* ---- correlation ----------------------------------------------------------------------------- */

/* Containers (report, grouping, observed-data, note, opinion, sighting: i.e. MISP events and
 * sightings) that share observables with container id, most shared first:
 * a new JSON array of {"id", "type", "shared"} (at most limit). */
json_t *sl_ledger_related(struct sl_ledger *l, const char *id, size_t limit, struct sl_err *err);
/* The reports and groupings (MISP events) whose newest version refers to id: a new JSON array of
 * their ids (empty when none). */
json_t *sl_ledger_containers_of(struct sl_ledger *l, const char *id, struct sl_err *err);

/* Everything known of an observable value (canonicalised; type NULL = guessed from the value): a
 * new JSON object {"type", "value", "objects": [{"id","type"}], "sources": [{"id","modified",
 * "peer","origin_id","first_seen","last_seen","count"}], "containers": [{"id","type"}]}.
 * SL_ENOTFOUND when the value is not in the ledger. */
json_t *sl_ledger_sources(struct sl_ledger *l, const char *type, const char *value,
                          struct sl_err *err);

/* ---- outbox ---------------------------------------------------------------------------------- */

enum sl_ledger_action { SL_LEDGER_DELIVER = 1, SL_LEDGER_REVOKE };

enum sl_ledger_state {
	SL_LEDGER_PENDING = 1,
	SL_LEDGER_SENT,
	SL_LEDGER_FAILED,  /* will be retried at next_attempt */
	SL_LEDGER_BLOCKED, /* policy said no */
	SL_LEDGER_PARKED,  /* permanently rejected by the destination */
};

/* An object version to act on. */
struct sl_ledger_ref {
	const char *id;
	const char *modified; /* NULL = the newest version at enqueue time */
};

/* Enqueue n (version, action) rows for destination. An existing row for the same (destination,
 * id, modified, action) that is not yet sent is left as it is (no duplicates). */
int sl_ledger_outbox_enqueue(struct sl_ledger *l, const char *destination,
                             const struct sl_ledger_ref *refs, size_t n,
                             enum sl_ledger_action action, struct sl_err *err) SL_MUSTCHECK;

struct sl_ledger_work {
	int64_t outbox_id;
	char destination[SL_LEDGER_ID_MAX];
	char id[SL_LEDGER_ID_MAX];
	char modified[SL_LEDGER_TS_MAX];
	enum sl_ledger_action action;
	int attempts; /* including this one */
};

/* Claim up to max due rows (pending, or failed whose next attempt is due) for destination (NULL =
 * any), oldest first, leasing them for lease_s seconds: no other connection gets them until the
 * lease runs out (FOR UPDATE SKIP LOCKED), so a crashed claimer's rows come back by themselves.
 * *n set to the number filled. */
int sl_ledger_outbox_claim(struct sl_ledger *l, const char *destination, size_t max, int lease_s,
                           struct sl_ledger_work *out, size_t *n, struct sl_err *err) SL_MUSTCHECK;
/* The same claim, with what to send for each row in the same round trip: payloads[i] (room for max)
 * is a new reference to the row's payload, else its stored version, or NULL for a revocation (and
 * for a version no longer stored, which the caller retries). The caller decrefs each. */
int sl_ledger_outbox_claim_payloads(struct sl_ledger *l, const char *destination, size_t max,
                                    int lease_s, struct sl_ledger_work *out, json_t **payloads,
                                    size_t *n, struct sl_err *err) SL_MUSTCHECK;
/* The newest stored version of each of ids[0..n) in one round trip: a new object id -> object,
 * without the ids the ledger does not hold; NULL with err on failure. */
json_t *sl_ledger_outbox_newest(struct sl_ledger *l, const char *const *ids, size_t n,
                                struct sl_err *err);
/* Extend the lease of claimed rows still being pushed (outbox_ids[0..n)) to lease_s seconds from
 * now; rows settled meanwhile are left alone. *renewed (may be NULL) gets how many it found. */
int sl_ledger_outbox_renew(struct sl_ledger *l, const int64_t *outbox_ids, size_t n, int lease_s,
                           size_t *renewed, struct sl_err *err) SL_MUSTCHECK;
/* Settle a claimed row. failed: retried after retry_after_s; parked and blocked are final.
 * msg (may be NULL) is the delivery error or the policy rule. */
int sl_ledger_outbox_sent(struct sl_ledger *l, int64_t outbox_id, struct sl_err *err) SL_MUSTCHECK;
int sl_ledger_outbox_failed(struct sl_ledger *l, int64_t outbox_id, const char *msg,
                            int retry_after_s, struct sl_err *err) SL_MUSTCHECK;
int sl_ledger_outbox_parked(struct sl_ledger *l, int64_t outbox_id, const char *msg,
                            struct sl_err *err) SL_MUSTCHECK;
int sl_ledger_outbox_blocked(struct sl_ledger *l, int64_t outbox_id, const char *rule,
                             struct sl_err *err) SL_MUSTCHECK;

/* Settle many claimed rows in one statement (one transaction): what a push of a whole batch
 * ends in. state is SL_LEDGER_SETTLE_*; msg and retry_after_s as above. SL_ENOTFOUND when some
 * row was gone (the others are settled all the same). */
enum sl_ledger_settle_state {
	SL_LEDGER_SETTLE_SENT,
	SL_LEDGER_SETTLE_FAILED,
	SL_LEDGER_SETTLE_PARKED,
	SL_LEDGER_SETTLE_BLOCKED
};
struct sl_ledger_settle {
	int64_t outbox_id;
	enum sl_ledger_settle_state state;
	const char *msg;
	int retry_after_s;
};
int sl_ledger_outbox_settle_many(struct sl_ledger *l, const struct sl_ledger_settle *rows, size_t n,
                                 struct sl_err *err) SL_MUSTCHECK;
/* Versions (ids[i], modified[i], n of them) that went out to destination inside another row's
 * delivery — the attributes of a MISP event rebuilt from its report — are sent: their open deliver
 * rows are settled so, and are never claimed to be sent again. *settled (may be NULL) says how many
 * rows that was; a version without an open row is no error. */
int sl_ledger_outbox_sent_with(struct sl_ledger *l, const char *destination, const char *const *ids,
                               const char *const *modified, size_t n, size_t *settled,
                               struct sl_err *err) SL_MUSTCHECK;
/* sl_ledger_containers_of for ids[0..n) in one round trip: a new object id -> array of container
 * ids, without the ids no container refers to; NULL with err on failure. */
json_t *sl_ledger_outbox_containers(struct sl_ledger *l, const char *const *ids, size_t n,
                                    struct sl_err *err);

/* ---- audit (append-only: the database refuses UPDATE and DELETE) ------------------------------
 */

enum sl_ledger_decision {
	SL_LEDGER_ALLOW = 1,
	SL_LEDGER_ALLOW_WITH_CHANGES,
	SL_LEDGER_DENY,
	SL_LEDGER_ERASE, /* written by sl_ledger_erase() */
};

struct sl_ledger_audit {
	const char *id;
	const char *modified;
	const char *destination;
	enum sl_ledger_decision decision;
	const char *rule;      /* the policy rule that decided, e.g. "policy.conf:12 tlp-amber" */
	const json_t *changes; /* redactions/changes applied (no personal data in clear), or NULL */
	const char *result;    /* delivery result ("sent", "http 500 ...") or NULL */
};

int sl_ledger_audit_append(struct sl_ledger *l, const struct sl_ledger_audit *rows, size_t n,
                           struct sl_err *err) SL_MUSTCHECK;
/* Audit rows, oldest first, for destination (NULL = all) at or after since (an ISO 8601 timestamp,
 * NULL = all): a new JSON array of {"seq","at","id","modified","destination","decision","rule",
 * "changes","result","subject_hash"} (at most limit). */
json_t *sl_ledger_audit_list(struct sl_ledger *l, const char *destination, const char *since,
                             size_t limit, struct sl_err *err);

/* One policy decision for one destination about one stored object version (the pipeline's output).
 * All pointers borrowed for the call. */
struct sl_ledger_share {
	const char *destination;
	const char *id;
	const char *modified;             /* the version (STIX timestamp) */
	enum sl_ledger_decision decision; /* allow, allow-with-changes or deny */
	const char *rule;                 /* the rule that decided */
	const json_t *changes;            /* redactions/changes applied, or NULL */
	const json_t *obj; /* the object as this destination may receive it; NULL when denied */
	int deliver;       /* non-zero: a push destination, enqueue a deliver (or blocked) row */
	bool recorded;     /* out: true when this decision was recorded by this call */
	/* when set: the object's JSON text as this destination may receive it (compact, keys
	 * sorted), stored instead of serialising obj, which then only gives the type */
	const char *payload;
};

/* Record decisions, each once per (destination, id, modified): an audit row; for deliver rows an
 * outbox row (pending when allowed — with obj as its payload when allowed with changes, else it
 * goes as stored — blocked with the rule when denied); for the other (pull) rows that are allowed,
 * obj joins the destination's view (sl_ledger_page with destination set); all in one transaction.
 * Decisions recorded before are skipped (recorded = false). *n_new (may be NULL) = the number
 * recorded now. */
int sl_ledger_share_record(struct sl_ledger *l, struct sl_ledger_share *rows, size_t n,
                           size_t *n_new, struct sl_err *err) SL_MUSTCHECK;

/* How much one destination's outbox holds, for `sluice status`. */
struct sl_ledger_depth {
	char destination[SL_LEDGER_ID_MAX];
	int64_t pending; /* waiting to be sent (including rows a claimer holds right now) */
	int64_t failed;  /* failed, retried at their next attempt */
	int64_t parked;  /* refused for good by the destination */
	int64_t blocked; /* held back by policy */
	/* seconds since the oldest pending row was enqueued; -1 when none is pending */
	int64_t oldest_pending_s;
};

/* Per destination with any row not yet sent (a destination with everything sent is absent), in
 * destination order: *out a new array of *n entries (free with sl_ledger_outbox_depth_free;
 * NULL when *n is 0). */
int sl_ledger_outbox_depth(struct sl_ledger *l, struct sl_ledger_depth **out, size_t *n,
                           struct sl_err *err) SL_MUSTCHECK;
/* NULL is a no-op. */
void sl_ledger_outbox_depth_free(struct sl_ledger_depth *d);

/* ---- GDPR erasure ---------------------------------------------------------------------------- */

struct sl_ledger_erase_result {
	size_t versions;  /* stored versions replaced by tombstones */
	size_t revokes;   /* revoke rows enqueued (one per destination and version it received) */
	size_t withdrawn; /* versions taken out of pull destinations' views */
};

/* Erase subject: a STIX id (every version of it) or an observable value (every version of every
 * object whose content holds it, and its observable index rows and quarantined inputs). Stored
 * content becomes a tombstone keeping type, id, spec_version, created and modified; a revoke is
 * enqueued for every destination that was sent an affected version and the version leaves every
 * destination's view; audit rows record the erasure
 * with only HMAC-SHA256(key, subject) in hex, never the subject itself. One transaction. */
int sl_ledger_erase(struct sl_ledger *l, const char *subject, const unsigned char *key,
                    size_t keylen, struct sl_ledger_erase_result *res,
                    struct sl_err *err) SL_MUSTCHECK;

/* ---- stats ----------------------------------------------------------------------------------- */

struct sl_ledger_stats {
	int64_t objects;     /* distinct STIX ids */
	int64_t versions;    /* stored (id, modified) versions */
	int64_t provenance;  /* provenance rows */
	int64_t observables; /* distinct (type, canonical value) */
	int64_t quarantined;
	int64_t outbox_pending; /* pending + failed */
	int64_t audit;
	int64_t cursors;
	int schema_version;
};
int sl_ledger_stats(struct sl_ledger *l, struct sl_ledger_stats *out,
                    struct sl_err *err) SL_MUSTCHECK;

/* ---- a side connection for long-running servers ---------------------------------------------- */

/* A new connection to l's database with l's connection parameters (close with sl_ledger_close). */
struct sl_ledger *sl_ledger_open_sibling(struct sl_ledger *l, struct sl_err *err);
/* Receive the ledger's change notifications on l (schema 3 and later; SL_EUNSUPPORTED before):
 * rows added to objects or shares, and rows updated or deleted there (erasure). Call again after
 * sl_ledger_notifications reported a lost connection. l should then be used for nothing else but
 * sl_ledger_audit_send/collect. */
int sl_ledger_listen(struct sl_ledger *l, struct sl_err *err) SL_MUSTCHECK;
/* Without waiting: how many "added" and "erased" notifications arrived since the last call.
 * SL_EDB when the connection is lost (notifications may have been missed). */
int sl_ledger_notifications(struct sl_ledger *l, unsigned *added, unsigned *erased,
                            struct sl_err *err) SL_MUSTCHECK;
/* sl_ledger_audit_append without waiting for the database: the rows are sent as one statement and
 * sl_ledger_audit_collect says how it ended. One batch at a time (SL_ECONFLICT while one is out).
 */
int sl_ledger_audit_send(struct sl_ledger *l, const struct sl_ledger_audit *rows, size_t n,
                         struct sl_err *err) SL_MUSTCHECK;
/* The outcome of the batch sent last: *busy = true (and 0) while it is still being written unless
 * wait; 0 once stored (or when none was sent), else the database's error (the batch is not stored).
 */
int sl_ledger_audit_collect(struct sl_ledger *l, bool wait, bool *busy,
                            struct sl_err *err) SL_MUSTCHECK;

#endif
