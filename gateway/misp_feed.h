/* misp_feed.h — MISP feeds (a folder or URL holding manifest.json, hashes.csv and one <uuid>.json
 * per event): decide from the manifest which events changed, check events against hashes.csv, and
 * write a feed. */
#ifndef SL_MISP_FEED_H
#define SL_MISP_FEED_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* ---- reading ---- */

struct sl_feed_manifest;

/* Parse manifest.json ({"<event uuid>": {"timestamp": ..., "info": ..., ...}, ...}). Entries whose
 * key is not a uuid or whose timestamp is missing/not a number are errors naming the key. *out is
 * owned. */
int sl_feed_manifest_parse(const char *buf, size_t len, struct sl_feed_manifest **out,
                           struct sl_err *err) SL_MUSTCHECK;
void sl_feed_manifest_free(struct sl_feed_manifest *m);
size_t sl_feed_manifest_count(const struct sl_feed_manifest *m);
/* The i-th entry, in the manifest's order: uuid (borrowed) and timestamp. */
const char *sl_feed_manifest_uuid(const struct sl_feed_manifest *m, size_t i);
long long sl_feed_manifest_timestamp(const struct sl_feed_manifest *m, size_t i);

/* Which entries to fetch: those absent from `seen` ({"<uuid>": <timestamp>, ...}, borrowed, may be
 * NULL) or whose manifest timestamp differs from the one seen. Returns a new JSON array of uuid
 * strings. The caller records an event in `seen` only after it was ingested, so a crash re-fetches
 * it. */
json_t *sl_feed_changed(const struct sl_feed_manifest *m, const json_t *seen);

struct sl_feed_hashes;

/* Parse hashes.csv ("<md5 hex>,<event uuid>" per line). Malformed lines are errors naming the line.
 */
int sl_feed_hashes_parse(const char *buf, size_t len, struct sl_feed_hashes **out,
                         struct sl_err *err) SL_MUSTCHECK;
void sl_feed_hashes_free(struct sl_feed_hashes *h);

/* Check that every attribute value of `event` ({"Event": ...} or the inner object; composite values
 * per part, as MISP hashes them) is listed in hashes.csv for that event uuid. A mismatch (a
 * tampered or half-updated feed) is SL_EINVAL naming the event and attribute uuid. */
int sl_feed_event_check(const struct sl_feed_hashes *h, const json_t *event, struct sl_err *err);

/* ---- writing ---- */

struct sl_feed_writer;

/* Open (create if needed) a feed directory. An existing manifest.json/hashes.csv there is loaded,
 * so putting one event keeps the others. */
struct sl_feed_writer *sl_feed_writer_open(const char *dir, struct sl_err *err);
/* Write <uuid>.json (atomically: temp file + rename) and update its manifest and hash entries. */
int sl_feed_writer_put(struct sl_feed_writer *w, const json_t *event,
                       struct sl_err *err) SL_MUSTCHECK;
/* Remove an event (revocation or erasure): its file, manifest entry and hashes. Absent is not an
 * error. */
int sl_feed_writer_remove(struct sl_feed_writer *w, const char *uuid,
                          struct sl_err *err) SL_MUSTCHECK;
/* Write manifest.json and hashes.csv atomically. Call after a batch of puts/removes. */
int sl_feed_writer_commit(struct sl_feed_writer *w, struct sl_err *err) SL_MUSTCHECK;
void sl_feed_writer_free(struct sl_feed_writer *w);

/* The md5 hex of a value as MISP feeds hash it; out must hold 33 bytes. */
void sl_feed_value_md5(const char *value, size_t len, char out[33]);

#endif
