/* evloop.h — the daemon's one libevent event_base: SIGTERM/SIGINT -> stop, SIGHUP -> reload,
 * an injectable clock (tests drive time through it), and one-shot/periodic timers. */
#ifndef SL_EVLOOP_H
#define SL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "err.h"

/* Where time comes from. Code that schedules or stamps reads the clock, never time() directly. */
struct sl_clock_ops {
	uint64_t (*now_wall_ms)(void *ctx); /* milliseconds since the Unix epoch */
	uint64_t (*now_mono_ms)(void *ctx); /* monotonic milliseconds, for intervals */
};
struct sl_clock {
	const struct sl_clock_ops *ops;
	void *ctx;
};

/* The real clock (CLOCK_REALTIME / CLOCK_MONOTONIC); a static object, never freed. */
const struct sl_clock *sl_clock_system(void);
static inline uint64_t sl_clock_wall_ms(const struct sl_clock *c)
{
	return c->ops->now_wall_ms(c->ctx);
}
static inline uint64_t sl_clock_mono_ms(const struct sl_clock *c)
{
	return c->ops->now_mono_ms(c->ctx);
}

/* A clock for tests: it stands still until advanced. */
struct sl_clock_fake {
	struct sl_clock clock; /* pass &fake->clock where a clock is wanted */
	uint64_t wall_ms, mono_ms;
};
void sl_clock_fake_init(struct sl_clock_fake *f, uint64_t wall_ms, uint64_t mono_ms);
void sl_clock_fake_advance(struct sl_clock_fake *f, uint64_t ms);

struct sl_evloop;

typedef void (*sl_evloop_cb)(struct sl_evloop *loop, void *arg);

/* A new loop with its own event_base and the system clock. NULL with err filled on failure. */
struct sl_evloop *sl_evloop_new(struct sl_err *err) SL_MUSTCHECK;
void sl_evloop_free(struct sl_evloop *loop); /* NULL is a no-op; cancels signal handlers */

/* The loop's event_base (borrowed), for evhttp, the HTTP client, the ledger connection. */
struct event_base *sl_evloop_base(struct sl_evloop *loop);

/* The clock is borrowed and must outlive the loop; NULL restores the system clock. */
void sl_evloop_set_clock(struct sl_evloop *loop, const struct sl_clock *clock);
const struct sl_clock *sl_evloop_clock(const struct sl_evloop *loop);

/* Install SIGTERM/SIGINT -> on_stop and SIGHUP -> on_reload (either may be NULL), delivered on the
 * loop (not in signal context). SIGPIPE is ignored process-wide: peers hang up mid-write. */
int sl_evloop_handle_signals(struct sl_evloop *loop, sl_evloop_cb on_stop, sl_evloop_cb on_reload,
                             void *arg, struct sl_err *err) SL_MUSTCHECK;

/* Run until sl_evloop_stop or nothing is left to wait for. Returns 0, or -1 on a libevent error. */
int sl_evloop_run(struct sl_evloop *loop);
/* Leave sl_evloop_run after the current callbacks (safe to call from a callback). */
void sl_evloop_stop(struct sl_evloop *loop);
bool sl_evloop_stopping(const struct sl_evloop *loop);

/* A timer on the loop: fires cb once per arm (or every period when periodic). */
struct sl_timer;
typedef void (*sl_timer_cb)(struct sl_timer *t, void *arg);
struct sl_timer *sl_timer_new(struct sl_evloop *loop, bool periodic, sl_timer_cb cb, void *arg);
void sl_timer_free(struct sl_timer *t); /* cancels; NULL is a no-op */
int sl_timer_arm(struct sl_timer *t, uint64_t ms);
void sl_timer_cancel(struct sl_timer *t);
bool sl_timer_pending(const struct sl_timer *t);

#endif
