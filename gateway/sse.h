/* sse.h — a Server-Sent Events (text/event-stream) parser for OpenCTI's live stream: feed it bytes
 * as they arrive, in chunks of any size, and it calls back once per complete event. Bounded lines.
 */
#ifndef SL_SSE_H
#define SL_SSE_H

#include <stddef.h>

#include "err.h"

/* One dispatched event; every pointer is borrowed and valid only during the callback. */
struct sl_sse_event {
	const char *type; /* the event: field, "message" when absent */
	const char *data; /* data: lines joined by '\n', NUL-terminated */
	size_t data_len;
	const char *id; /* the last event id seen on the stream so far ("" if none) */
	long retry_ms;  /* a retry: field in this event, else -1 */
};

/* Return 0 to continue, non-zero to stop: sl_sse_feed then returns that value. */
typedef int (*sl_sse_cb)(const struct sl_sse_event *ev, void *arg);

struct sl_sse;

/* max_line bounds one line, max_data the data of one event (0 = 64 KiB and 16 MiB). */
struct sl_sse *sl_sse_new(size_t max_line, size_t max_data, sl_sse_cb cb, void *arg);
void sl_sse_free(struct sl_sse *p); /* NULL is a no-op */

/* Parse len more bytes. Returns 0; the callback's non-zero value; or SL_ELIMIT with err filled
 * when a line or an event's data exceeds its bound (the parser must then be discarded). */
int sl_sse_feed(struct sl_sse *p, const char *buf, size_t len, struct sl_err *err);

/* The Last-Event-ID to resume with (borrowed, "" if none). */
const char *sl_sse_last_id(const struct sl_sse *p);

#endif
