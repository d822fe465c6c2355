/* peer_opencti.h — the OpenCTI connector: pulls the live stream (GET /stream, SSE) from a resumable
 * position, with recover for the first backfill, and pushes bundles with stixBundlePush as a
 * registered connector, deleting revoked and erased objects with OpenCTI's delete mutations. */
#ifndef SL_PEER_OPENCTI_H
#define SL_PEER_OPENCTI_H

#include <event2/event.h>

#include "peer.h"

/* A pull ends once it has caught up: an event at or past the stream's last id when it connected,
 * a heartbeat period without events, or (with a loop attached, past the backfill) no frame for
 * QUIET_MS after an event; or after MAX_EVENTS events. No frame at all for the peer's timeout
 * (OpenCTI sends a heartbeat every 5 s) is an error. */
#define SL_PEER_OPENCTI_QUIET_MS 500
#define SL_PEER_OPENCTI_MAX_EVENTS 5000
/* Objects per stixBundlePush (a bigger bundle goes in several), and deletes per GraphQL request. */
#define SL_PEER_OPENCTI_CHUNK 500
#define SL_PEER_OPENCTI_CHUNK_BYTES (8u << 20)
#define SL_PEER_OPENCTI_DELETES 50

/* The OpenCTI ops table (static, never freed).
 *
 * Credential: api_key is the OpenCTI user's API token, sent as "Bearer <key>". Use a user of its
 * own for sluice: stream events caused by that user (origin.user_id or origin.applicant_id) are
 * passed over, which is what stops our pushes from coming back.
 *
 * Stream: collections[0] when set is the live stream id (GET /stream/<id>), else the raw /stream.
 *
 * Cursor / position: "<ms>-<seq>", a stream event id (resumed with Last-Event-ID), or during the
 * first backfill "<ms>-<seq>@<ISO date>": resumed with from=<ms>-<seq>&recover=<date>, so an
 * interrupted backfill goes on from the last object handed over (minus 1 ms: the overlap
 * re-delivers objects updated in that millisecond, never skips one).
 *
 * Items: one bundle per stream event: create/update -> the event's object as OpenCTI sends it (its
 * ids and extensions kept); delete -> its revoked version; merge -> the kept object plus the
 * revoked versions of the merged-away ones. An event that cannot be read is handed over as a bundle
 * without "objects" carrying "x_sluice_error" (which names the stream event id) for the pipeline
 * to quarantine; the stream goes on past it.
 *
 * Push: SENT once OpenCTI has queued the bundle (its workers import it shortly after), and the
 * deletes are done. The connector registers itself first (registerConnector, id = uuid5 of
 * "sluice:<peer name>"). */
const struct sl_peer_ops *sl_peer_opencti_ops(void);

/* Lend the connector the loop's event_base (borrowed; must outlive the connector; ignored while a
 * pull is in flight) for the quiet and stall timers of a pull. Without it a pull ends at a
 * heartbeat period without events (OpenCTI's is 5 s) and a silent stream is cut by libcurl's
 * low-speed limit after the peer's timeout. */
void sl_peer_opencti_attach(struct sl_peer *p, struct event_base *base);

/* The connector id it registers with OpenCTI (borrowed, 36 characters). */
const char *sl_peer_opencti_connector_id(const struct sl_peer *p);

#endif
