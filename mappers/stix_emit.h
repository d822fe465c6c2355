/* stix_emit.h — fast compact JSON serialisation of the mapper's output: exactly the bytes
 * json_dumps(v, JSON_COMPACT) gives (same key order, escaping and UTF-8 policy), appended to a
 * growing, bounded buffer instead of going through jansson's per-chunk callbacks. */
#ifndef SL_STIX_EMIT_H
#define SL_STIX_EMIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

#define SL_STIX_EMIT_DEFAULT_MAX (256u * 1024u * 1024u)

/* The output buffer (opaque). _new(max_bytes) / _free(NULL is a no-op). */
struct sl_stix_emit;

/* max_bytes bounds the buffer (0 = SL_STIX_EMIT_DEFAULT_MAX). NULL when out of memory. */
struct sl_stix_emit *sl_stix_emit_new(size_t max_bytes);
void sl_stix_emit_free(struct sl_stix_emit *e);

/* Append v as compact JSON. Returns 0, or a negative sl_err_code with err filled and the buffer
 * left as before the call: SL_EINVAL for a string that is not valid UTF-8 (json_dumps fails
 * too), SL_ELIMIT past max_bytes, SL_ENOMEM. */
int sl_stix_emit_value(struct sl_stix_emit *e, const json_t *v, struct sl_err *err) SL_MUSTCHECK;
/* Append raw bytes (the caller's own JSON punctuation, e.g. "," between objects). */
int sl_stix_emit_raw(struct sl_stix_emit *e, const char *s, size_t n,
                     struct sl_err *err) SL_MUSTCHECK;

/* Append s[0..n) as a JSON string (quotes, escapes) exactly as json_dumps writes a string value;
 * errors as for sl_stix_emit_value. For writers that build objects as text without a tree. */
int sl_stix_emit_string(struct sl_stix_emit *e, const char *s, size_t n,
                        struct sl_err *err) SL_MUSTCHECK;

/* The bytes so far (borrowed, NUL-terminated, valid until the next append/reset/free). */
const char *sl_stix_emit_data(const struct sl_stix_emit *e, size_t *len);
/* Forget the bytes (the allocation is kept for reuse). */
void sl_stix_emit_reset(struct sl_stix_emit *e);
/* Write the bytes to out and reset. Returns 0 or SL_EIO. */
int sl_stix_emit_flush(struct sl_stix_emit *e, FILE *out, struct sl_err *err) SL_MUSTCHECK;

/* Streaming: when appending would grow a buffer already holding block bytes or more, those bytes
 * are written to out first, so even one huge value (a container's object_refs) needs no more than
 * about twice block (at least 4 KiB) plus its longest string. A value that fails after such a write
 * cannot be taken back (the stream is then broken and must be discarded, as the caller's contract
 * says). */
void sl_stix_emit_set_sink(struct sl_stix_emit *e, FILE *out, size_t block);

/* One-shot: a malloc'd NUL-terminated compact JSON text of v (caller frees), or NULL when
 * json_dumps would fail (invalid UTF-8) or memory runs out. The drop-in for
 * json_dumps(v, JSON_COMPACT). */
char *sl_stix_emit_dumps(const json_t *v, size_t *len);

#endif
