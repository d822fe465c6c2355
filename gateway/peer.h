/* peer.h — the connector ops table every peer kind implements (MISP, OpenCTI, TAXII 2.1): pull
 * what changed since a cursor, push one item, check health. All calls are asynchronous on the sync
 * loop's HTTP client; results come back through callbacks. Connectors know nothing of the ledger or
 * of policy: they speak their peer's API and hand over JSON items of their kind's shape. */
#ifndef SL_PEER_H
#define SL_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "config.h"
#include "err.h"
#include "http_client.h"

struct sl_peer; /* one connector instance, owned by whoever called ops->create */

/* The shape of the items a connector hands over and takes.
 *
 * SL_PEER_ITEM_MISP_EVENT: {"Event": {...}} as MISP's REST API has it, both ways. A pushed item
 *   may instead be {"x_sluice_delete": ["<attribute uuid>", ...]}: those attributes are erased at
 *   the peer (GDPR erasure of something it was sent); one the peer does not hold counts as gone.
 *   Or {"x_sluice_sightings": {"event_uuid": "<uuid>", "Sighting": [{"uuid", "attribute_uuid",
 *   "date_sighting", "type", "source"}, ...]}}: sightings of attributes of an event the peer
 *   already holds, sent alone (MISP's /sightings/bulkSaveSightings; a sighting the peer holds
 *   already is skipped there, so a re-push is harmless). Or {"x_sluice_delete_event": "<uuid>"}:
 *   the event was withdrawn (its report or grouping revoked) and is deleted at the peer; one the
 *   peer does not hold counts as gone. A pulled item may instead be
 *   {"Sighting": {..., "Attribute": {"uuid", ...}, "Event": {"uuid", ...}}}: a sighting recorded
 *   at the peer on its own (its event's timestamp did not change); origin is its event's uuid.
 *
 * SL_PEER_ITEM_STIX: a STIX 2.1 bundle {"type": "bundle", "id": ..., "objects": [...]}, both ways.
 *  - pulled objects keep the peer's own ids; a peer that renames ids (OpenCTI) leaves the ids it
 *    was given under "x_opencti_stix_ids" so the sync can map them back (ledger id map);
 *  - a deletion at the peer is handed in as the object's revoked version: a copy of the last
 *    version the peer had with "revoked": true and "modified" one millisecond later (deterministic,
 *    so a re-delivery after a crash is the same version);
 *  - an item the connector could not read is handed over as a bundle without "objects" and with
 *    "x_sluice_error": "<what and where>", for the pipeline to quarantine; the pull goes on;
 *  - a pushed bundle holds object versions exactly as the destination may see them; objects with
 *    "revoked": true are to be revoked or deleted at the peer as it does that; the optional
 *    top-level "x_sluice_delete": ["<id>", ...] names objects to delete at the peer (GDPR erasure
 *    of something it was sent); the connector never sends that key itself. */
enum sl_peer_item_kind { SL_PEER_ITEM_MISP_EVENT, SL_PEER_ITEM_STIX };

/* Pull callbacks. item is one input for the pipeline, borrowed for the call, or NULL when the
 * peer's filters (tags_include/tags_exclude, collections) passed over it; origin is where it came
 * from at the peer (MISP event uuid, OpenCTI stream event id, TAXII collection id; may be NULL);
 * position is the cursor to commit once item is fully taken in (or passed over): a later pull
 * given that position must deliver everything after item (an overlap that re-delivers versions
 * already taken in is fine: ingest is idempotent by (id, modified)). Return 0 to go on, a
 * negative sl_err_code (with err filled) to stop the pull: done then reports that error. */
struct sl_peer_pull_cb {
	int (*item)(void *arg, const json_t *item, const char *origin, const char *position,
	            struct sl_err *err);
	/* Called once when the pull ends: err->code 0 = everything since the cursor was delivered.
	 * retry_after_ms >= 0 when the peer said when to come back (429/503 Retry-After). */
	void (*done)(void *arg, const struct sl_err *err, int64_t retry_after_ms);
	void *arg;
};

enum sl_peer_push_result {
	SL_PEER_PUSH_SENT = 1,  /* the peer has it now (or already had this version or newer) */
	SL_PEER_PUSH_RETRY,     /* transient: network, timeout, 5xx, 429; retry with backoff */
	SL_PEER_PUSH_PERMANENT, /* the peer refused it for good (4xx): park it */
};

/* err names peer and request when result is not SENT. rejected (may be NULL, borrowed for the
 * call) is for a SENT push whose peer refused some objects for good: {"<id>": "<reason>", ...};
 * those are parked, the rest count as delivered. */
typedef void (*sl_peer_push_done)(void *arg, enum sl_peer_push_result result,
                                  const struct sl_err *err, int64_t retry_after_ms,
                                  const json_t *rejected);

struct sl_peer_ops {
	const char *kind;
	enum sl_peer_item_kind items;
	/* cfg is borrowed and must outlive the connector (the sync holds the config snapshot);
	 * http is borrowed. NULL with err filled when the peer block cannot be used. */
	struct sl_peer *(*create)(const struct sl_config_peer *cfg, struct sl_http_client *http,
	                          struct sl_err *err);
	void (*destroy)(struct sl_peer *p); /* cancels what is in flight without calling back */
	/* Pull everything changed since cursor (NULL = from the beginning). One pull at a time. */
	int (*pull)(struct sl_peer *p, const char *cursor, const struct sl_peer_pull_cb *cb,
	            struct sl_err *err);
	/* Push one item (borrowed: the connector copies what it sends). done is called once, later,
	 * never from inside push. One push at a time. */
	int (*push)(struct sl_peer *p, const json_t *item, sl_peer_push_done done, void *arg,
	            struct sl_err *err);
	/* True while a pull or push is in flight. */
	bool (*busy)(const struct sl_peer *p);
};

/* What every connector's requests take from its peer block: TLS settings, the connect timeout and
 * the credential header (borrowed: cfg and auth must outlive the request's start). The whole-
 * transfer timeout and the body bound stay the caller's (a stream has neither). */
static inline void sl_peer_request_base(struct sl_http_request *req,
                                        const struct sl_config_peer *cfg, const char *auth)
{
	req->tls.ca_file = cfg->ca_file;
	req->tls.ca_dir = cfg->ca_dir;
	req->tls.client_cert = cfg->client_cert;
	req->tls.client_key = cfg->client_key;
	req->tls.insecure_skip_verify = cfg->insecure_skip_verify;
	req->connect_timeout_ms = cfg->connect_timeout_s * 1000u;
	req->auth_header = auth;
}

/* Overwrite a secret (an "Authorization: ..." line) before freeing it. NULL: no-op. */
static inline void sl_peer_secret_free(char *s)
{
	if (s) {
		volatile char *v = s;
		while (*v)
			*v++ = 0;
		free(s);
	}
}

#endif
