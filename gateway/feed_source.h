/* feed_source.h — a MISP feed in a local directory as a source peer: only events whose manifest
 * timestamp changed since the last committed run are read, checked against hashes.csv and sent down
 * the pipeline. */
#ifndef SL_FEED_SOURCE_H
#define SL_FEED_SOURCE_H

#include <stddef.h>

#include "err.h"
#include "http_client.h"
#include "ledger.h"
#include "pipeline.h"

/* Called once per event that failed (bad file, hash mismatch, unmappable): the sync goes on. */
typedef void (*sl_feed_event_error)(void *arg, const char *uuid, const struct sl_err *err);

/* Where a feed's files come from: a directory or a URL. fetch reads name ("manifest.json",
 * "hashes.csv", "<uuid>.json") into a malloc'd buffer of at most max bytes; SL_ENOTFOUND when the
 * feed has no such file. */
struct sl_feed_fetcher {
	int (*fetch)(void *ctx, const char *name, size_t max, char **buf, size_t *len,
	             struct sl_err *err);
	void *ctx;
};

/* Take in a feed as peer, reading its files through f (see sl_feed_source_sync_dir for the rules).
 */
int sl_feed_source_sync(struct sl_pipeline *p, struct sl_ledger *ledger, const char *peer,
                        const struct sl_feed_fetcher *f, long long now,
                        struct sl_pipeline_stats *st, sl_feed_event_error on_error, void *arg,
                        struct sl_err *err) SL_MUSTCHECK;

/* A feed at an http(s) URL (the folder holding manifest.json), fetched with TLS verification on;
 * tls may be NULL (system CAs), timeout_s 0 = 60. Blocking: for the CLI and tests, not for the
 * event loop. */
struct sl_feed_url;
struct sl_feed_url *sl_feed_url_new(const char *base_url, const struct sl_http_tls *tls,
                                    unsigned timeout_s, struct sl_err *err);
void sl_feed_url_free(struct sl_feed_url *u);
struct sl_feed_fetcher sl_feed_url_fetcher(struct sl_feed_url *u);

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
