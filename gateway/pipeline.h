/* pipeline.h — the one way everything flows: a peer's input -> mapper -> ledger -> policy for every
 * destination -> one atomic record per (destination, object version) of the decision, the audit row
 * and, when allowed, the object as that destination may see it (served by TAXII views, sent by the
 * outbox). */
#ifndef SL_PIPELINE_H
#define SL_PIPELINE_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "ledger.h"
#include "policy.h"

/* Every function here takes a non-NULL err: errors are always named, never dropped. */
struct sl_pipeline;

/* What one call did; counters add up across calls. */
struct sl_pipeline_stats {
	size_t events;   /* MISP events or bundles taken in */
	size_t failed;   /* events/bundles refused whole (not JSON, no uuid, ...): quarantined */
	size_t objects;  /* STIX objects handed to the ledger */
	size_t stored;   /* of which new versions (new, newer or older history) */
	size_t rejected; /* of which quarantined by the ledger */
	size_t warnings; /* mapper warnings (unmapped types, invalid values skipped) */
	size_t allowed;  /* new (destination, version) decisions: allow */
	size_t changed;  /* ... allow-with-changes */
	size_t denied;   /* ... deny */
};

/* ledger and policy are borrowed and must outlive the pipeline. Every destination of the policy
 * gets a decision for every object version, except the peer the version came from. An object that
 * comes without a report or grouping listing it is decided with the newest stored version of each
 * one the ledger knows lists it (context only: not ingested again, not decided itself). Like its
 * ledger connection, a pipeline is used by one thread at a time (it keeps its decision rows from
 * one bundle to the next). */
struct sl_pipeline *sl_pipeline_new(struct sl_ledger *ledger, const struct sl_policy *policy,
                                    struct sl_err *err);
void sl_pipeline_free(struct sl_pipeline *p);
/* Mark destination as pull-only (a partner of sluice's TAXII server, a feed): its allowed versions
 * are kept for it to fetch and no outbox delivery is queued. Other destinations get outbox rows. */
int sl_pipeline_set_pull(struct sl_pipeline *p, const char *destination, struct sl_err *err);

/* Take one MISP event ({"Event": ...} or the inner object) from peer. The event is mapped to
 * STIX 2.1, ingested with provenance (origin = event uuid), and decided for every destination.
 * cursor (may be NULL) moves only after all of that is committed, so a crash at any point
 * re-fetches and the retry is a no-op where work was done. now is epoch seconds (retention). Mapper
 * warnings are appended to warnings (may be NULL). An event that cannot be mapped at all is
 * quarantined and reported in err; the caller goes on with the next event. */
int sl_pipeline_misp_event(struct sl_pipeline *p, const char *peer, const json_t *event,
                           const struct sl_ledger_cursor *cursor, long long now,
                           struct sl_pipeline_stats *st, json_t *warnings,
                           struct sl_err *err) SL_MUSTCHECK;
/* The same, taking the caller's reference to *event and dropping it as soon as the event is
 * mapped (*event is NULL on return): a 10,000-attribute event's tree is not held while its
 * objects are ingested and decided. */
int sl_pipeline_misp_event_take(struct sl_pipeline *p, const char *peer, json_t **event,
                                const struct sl_ledger_cursor *cursor, long long now,
                                struct sl_pipeline_stats *st, json_t *warnings,
                                struct sl_err *err) SL_MUSTCHECK;

/* Loose STIX objects from peer (a TAXII partner's POSTed envelope): ingested with per-object
 * results in res (n entries, as sl_ledger_ingest fills them, for the caller to report), then
 * decided together like one bundle for every destination but peer. */
int sl_pipeline_objects(struct sl_pipeline *p, const char *peer, const struct sl_ledger_in *in,
                        size_t n, struct sl_ledger_result *res, long long now,
                        struct sl_pipeline_stats *st, struct sl_err *err) SL_MUSTCHECK;

/* The same for a STIX 2.1 bundle (origin_id may be NULL). */
int sl_pipeline_bundle(struct sl_pipeline *p, const char *peer, const char *origin_id,
                       const json_t *bundle, const struct sl_ledger_cursor *cursor, long long now,
                       struct sl_pipeline_stats *st, struct sl_err *err) SL_MUSTCHECK;

#endif
