/* peer.h — the connector ops table every peer kind implements (MISP now; OpenCTI, TAXII, feeds
 * later): pull what changed since a cursor, push one item, check health. All calls are asynchronous
 * on the sync loop's HTTP client; results come back through callbacks. */
#ifndef SL_PEER_H
#define SL_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "err.h"
#include "http_client.h"

struct sl_peer; /* one connector instance, owned by whoever called ops->create */

/* Pull callbacks. item is one input for the pipeline (a MISP event {"Event": ...}), borrowed for
 * the call, or NULL when the peer's filters (tags_include/tags_exclude) passed over it; position is
 * the cursor to commit once item is fully taken in (or passed over). Return 0 to go on, a
 * negative sl_err_code (with err filled) to stop the pull: done then reports that error. */
struct sl_peer_pull_cb {
	int (*item)(void *arg, const json_t *item, const char *position, struct sl_err *err);
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

/* err names peer and request when result is not SENT. */
typedef void (*sl_peer_push_done)(void *arg, enum sl_peer_push_result result,
                                  const struct sl_err *err, int64_t retry_after_ms);

struct sl_peer_ops {
	const char *kind;
	/* cfg is borrowed and must outlive the connector (the sync holds the config snapshot);
	 * http is borrowed. NULL with err filled when the peer block cannot be used. */
	struct sl_peer *(*create)(const struct sl_config_peer *cfg, struct sl_http_client *http,
	                          struct sl_err *err);
	void (*destroy)(struct sl_peer *p); /* cancels what is in flight without calling back */
	/* Pull everything changed since cursor (NULL = from the beginning). One pull at a time. */
	int (*pull)(struct sl_peer *p, const char *cursor, const struct sl_peer_pull_cb *cb,
	            struct sl_err *err);
	/* Push one item (for MISP a {"Event": ...}, borrowed: the connector copies what it sends).
	 * One push at a time. */
	int (*push)(struct sl_peer *p, const json_t *item, sl_peer_push_done done, void *arg,
	            struct sl_err *err);
	/* True while a pull or push is in flight. */
	bool (*busy)(const struct sl_peer *p);
};

#endif
