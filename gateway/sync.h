/* sync.h — the sync scheduler of `sluice run`: per peer a poll timer that pulls through its
 * connector into the pipeline, and per push destination an outbox worker that claims rows, rebuilds
 * what to send, pushes it and settles each row (sent / failed with backoff / parked), behind a
 * circuit breaker. */
#ifndef SL_SYNC_H
#define SL_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "evloop.h"
#include "ledger.h"
#include "policy.h"

struct sl_sync;

/* Overrides for tests; 0 = from the config. */
struct sl_sync_opts {
	unsigned poll_ms;      /* between pulls of one peer (config: poll_interval) */
	unsigned push_idle_ms; /* between outbox claims when the last one found nothing (5 s) */
	unsigned lease_s;      /* how long claimed outbox rows stay leased (60 s) */
	uint64_t seed;         /* backoff jitter seed (0 = from the clock) */
	unsigned workers;      /* ledger worker threads and connections (0 = 2) */
};

/* Counters since sl_sync_new, for tests and `sluice status`. */
struct sl_sync_stats {
	uint64_t pulls_ok, pulls_failed, events_in, events_echo, events_failed;
	uint64_t pushes_ok, pushes_failed, pushes_parked, rows_sent;
};

/* loop, ledger and policy are borrowed and must outlive the sync; cfg gets a reference of its own.
 * ledger is the loop thread's connection: the sync opens its workers' connections with its
 * parameters and uses it itself only while stopping. policy is read from worker threads too: it
 * must not change while the sync lives (a reload makes a new sync).
 * MISP, OpenCTI and TAXII 2.1 peers are run; other kinds are skipped with a warning in the log. The
 * first pull of every pull peer and the first outbox claim happen as soon as the loop runs. */
struct sl_sync *sl_sync_new(struct sl_evloop *loop, struct sl_config *cfg, struct sl_ledger *ledger,
                            const struct sl_policy *policy, const struct sl_sync_opts *opts,
                            struct sl_err *err) SL_MUSTCHECK;
/* Cancels what is in flight (leased outbox rows come back when their lease ends). NULL: no-op. */
void sl_sync_free(struct sl_sync *s);
void sl_sync_stats(const struct sl_sync *s, struct sl_sync_stats *out);

/* The ledger cursor stream sl_sync keeps per peer for its pulls. */
#define SL_SYNC_STREAM "events"
/* The longest pull cursor a connector may use (a TAXII peer keeps one position per collection). */
#define SL_SYNC_CURSOR_MAX 8192
/* The cursor-table "peer" under which sync remembers the newest version of every MISP event it has
 * taken in or pushed (stream "misp-event:<uuid>", position its timestamp). */
#define SL_SYNC_SEEN_PEER "sluice:seen"

#endif
