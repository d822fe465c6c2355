/* feed_source.h — a MISP feed in a local directory as a source peer: only events whose manifest
 * timestamp changed since the last committed run are read, checked against hashes.csv and sent down
 * the pipeline. */
#ifndef SL_FEED_SOURCE_H
#define SL_FEED_SOURCE_H

#include <stddef.h>

#include "err.h"
#include "ledger.h"
#include "pipeline.h"

/* Called once per event that failed (bad file, hash mismatch, unmappable): the sync goes on. */
typedef void (*sl_feed_event_error)(void *arg, const char *uuid, const struct sl_err *err);

/* Sync directory dir as peer. The feed's position (uuid -> manifest timestamp of every event taken
 * in) is the ledger cursor (peer, "manifest"), moved with each event, so a crash re-reads only what
 * was not committed. An event that fails is reported through on_error and left out of the position,
 * so the next run tries it again. Returns 0, or a negative code when the feed itself is unusable
 * (no manifest). */
int sl_feed_source_sync_dir(struct sl_pipeline *p, struct sl_ledger *ledger, const char *peer,
                            const char *dir, long long now, struct sl_pipeline_stats *st,
                            sl_feed_event_error on_error, void *arg,
                            struct sl_err *err) SL_MUSTCHECK;

#endif
