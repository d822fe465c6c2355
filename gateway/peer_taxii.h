/* peer_taxii.h — the TAXII 2.1 client connector: pulls a partner's collections page by page
 * (following next, a per-collection date_added cursor read back with an overlap) and pushes bundles
 * as envelopes, polling the status resource until the partner has processed them. */
#ifndef SL_PEER_TAXII_H
#define SL_PEER_TAXII_H

#include <event2/event.h>

#include "peer.h"

/* The media type of every request and answer. */
#define SL_PEER_TAXII_MEDIA "application/taxii+json;version=2.1"
/* limit= asked per objects page (the partner may give fewer), and the largest the connector asks
 * for when a partner without next tokens hands out a page of one date_added. */
#define SL_PEER_TAXII_PAGE 500
#define SL_PEER_TAXII_MAX_LIMIT 10000
/* A pull asks added_after = cursor minus this: objects a partner stamps with a date_added earlier
 * than one already read (a POST still being processed) are read on the next pull. */
#define SL_PEER_TAXII_OVERLAP_US (60LL * 1000000LL)
/* Status polls after a POST before the push is given up as RETRY (the objects are POSTed again
 * later; a duplicate is not an error in TAXII). Pauses double from 50 ms up to 2 s. */
#define SL_PEER_TAXII_STATUS_POLLS 20

/* The TAXII ops table (static, never freed).
 *
 * Cursor / position: a JSON object {"<collection id>": "<TAXII timestamp>", ...}, the partner's
 * X-TAXII-Date-Added-Last of the last page handed over per collection. The credential (api_key):
 * "user:password" is sent as HTTP Basic, "Bearer x" / "Token x" / "Basic x" as they are, any other
 * key as "Bearer <key>"; no key = anonymous. */
const struct sl_peer_ops *sl_peer_taxii_ops(void);

/* Lend the connector the loop's event_base (borrowed; must outlive the connector) for the pauses
 * between status polls; call it after create, before the first pull or push. Without it, status
 * polls follow each other at once and a push gives up (RETRY) after 3 of them. */
void sl_peer_taxii_attach(struct sl_peer *p, struct event_base *base);

#endif
