/* map_stream.h — reading a large input one element at a time: each event of a MISP restSearch
 * response
 * ({"response": [...]}) or of a top-level array, or each top-level document (one event, a bundle,
 * NDJSON), so memory is bounded by the largest element, not by the input. */
#ifndef SL_MAP_STREAM_H
#define SL_MAP_STREAM_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

struct sl_map_stream;

/* A longer JSON string (10 MB of junk in a field) makes its element fail with SL_ELIMIT; attachment
 * data up to about 6 MB raw (8 MiB base64) still passes. */
#define SL_MAP_STREAM_MAX_STRING (8u * 1024u * 1024u)

/* Read from f (borrowed; the caller closes it). An element larger than max_bytes or nested deeper
 * than max_depth is skipped with SL_ELIMIT and the stream goes on. Returns NULL on OOM. */
struct sl_map_stream *sl_map_stream_new(FILE *f, size_t max_bytes, int max_depth);
void sl_map_stream_free(struct sl_map_stream *s);

/* The next element's bytes in *buf (borrowed, valid until the next call), its length and its number
 * (0-based) in *index. Returns 1, 0 at the end, SL_ELIMIT for an element that was skipped (the next
 * call goes on after it; *buf then holds the part kept, for naming the event), or SL_EINVAL /
 * SL_EIO when the input cannot be read further (err names the byte offset; later calls return 0).
 */
int sl_map_stream_next(struct sl_map_stream *s, const char **buf, size_t *len, size_t *index,
                       struct sl_err *err);

#endif
