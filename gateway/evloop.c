/* evloop.c — libevent base, signals via evsignal, clocks and timers. */
#include "evloop.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t sys_wall(void *ctx)
{
	(void)ctx;
	return clock_ms(CLOCK_REALTIME);
}

static uint64_t sys_mono(void *ctx)
{
	(void)ctx;
	return clock_ms(CLOCK_MONOTONIC);
}

static const struct sl_clock_ops sys_ops = {sys_wall, sys_mono};
static const struct sl_clock sys_clock = {&sys_ops, NULL};

const struct sl_clock *sl_clock_system(void)
{
	return &sys_clock;
}

static uint64_t fake_wall(void *ctx)
{
	return ((struct sl_clock_fake *)ctx)->wall_ms;
}

static uint64_t fake_mono(void *ctx)
{
	return ((struct sl_clock_fake *)ctx)->mono_ms;
}

static const struct sl_clock_ops fake_ops = {fake_wall, fake_mono};

void sl_clock_fake_init(struct sl_clock_fake *f, uint64_t wall_ms, uint64_t mono_ms)
{
	f->clock.ops = &fake_ops;
	f->clock.ctx = f;
	f->wall_ms = wall_ms;
	f->mono_ms = mono_ms;
}

void sl_clock_fake_advance(struct sl_clock_fake *f, uint64_t ms)
{
	f->wall_ms += ms;
	f->mono_ms += ms;
}

struct sl_evloop {
	struct event_base *base;
	const struct sl_clock *clock;
	struct event *sig[3]; /* TERM, INT, HUP */
	sl_evloop_cb on_stop, on_reload;
	void *arg;
	bool stopping;
};

struct sl_evloop *sl_evloop_new(struct sl_err *err)
{
	struct sl_evloop *loop = calloc(1, sizeof(*loop));

	if (!loop) {
		sl_err_set(err, SL_ENOMEM, "evloop", "out of memory");
		return NULL;
	}
	loop->base = event_base_new();
	if (!loop->base) {
		free(loop);
		sl_err_set(err, SL_EIO, "evloop", "event_base_new failed");
		return NULL;
	}
	loop->clock = sl_clock_system();
	return loop;
}

void sl_evloop_free(struct sl_evloop *loop)
{
	size_t i;

	if (!loop)
		return;
	for (i = 0; i < 3; i++)
		if (loop->sig[i])
			event_free(loop->sig[i]);
	event_base_free(loop->base);
	free(loop);
}

struct event_base *sl_evloop_base(struct sl_evloop *loop)
{
	return loop->base;
}

void sl_evloop_set_clock(struct sl_evloop *loop, const struct sl_clock *clock)
{
	loop->clock = clock ? clock : sl_clock_system();
}

const struct sl_clock *sl_evloop_clock(const struct sl_evloop *loop)
{
	return loop->clock;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sl_evloop *loop = arg;

	(void)what;
	if (sig == SIGHUP) {
		if (loop->on_reload)
			loop->on_reload(loop, loop->arg);
		return;
	}
	/* a second SIGTERM while shutting down still reaches the callback, which may force the exit
	 */
	loop->stopping = true;
	if (loop->on_stop)
		loop->on_stop(loop, loop->arg);
	else
		event_base_loopexit(loop->base, NULL);
}

int sl_evloop_handle_signals(struct sl_evloop *loop, sl_evloop_cb on_stop, sl_evloop_cb on_reload,
                             void *arg, struct sl_err *err)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	loop->on_stop = on_stop;
	loop->on_reload = on_reload;
	loop->arg = arg;
	for (i = 0; i < 3; i++) {
		if (loop->sig[i])
			continue;
		loop->sig[i] = evsignal_new(loop->base, sigs[i], on_signal, loop);
		if (!loop->sig[i] || evsignal_add(loop->sig[i], NULL) != 0)
			return sl_err_set(err, SL_EIO, "evloop",
			                  "cannot install handler for signal %d", sigs[i]);
	}
	return 0;
}

int sl_evloop_run(struct sl_evloop *loop)
{
	loop->stopping = false;
	return event_base_dispatch(loop->base) < 0 ? -1 : 0;
}

void sl_evloop_stop(struct sl_evloop *loop)
{
	loop->stopping = true;
	event_base_loopbreak(loop->base);
}

bool sl_evloop_stopping(const struct sl_evloop *loop)
{
	return loop->stopping;
}

struct sl_timer {
	struct event *ev;
	bool periodic;
	sl_timer_cb cb;
	void *arg;
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sl_timer *t = arg;

	(void)fd;
	(void)what;
	t->cb(t, t->arg);
}

struct sl_timer *sl_timer_new(struct sl_evloop *loop, bool periodic, sl_timer_cb cb, void *arg)
{
	struct sl_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ev = event_new(loop->base, -1, periodic ? EV_PERSIST : 0, on_timer, t);
	if (!t->ev) {
		free(t);
		return NULL;
	}
	t->periodic = periodic;
	t->cb = cb;
	t->arg = arg;
	return t;
}

void sl_timer_free(struct sl_timer *t)
{
	if (!t)
		return;
	event_free(t->ev);
	free(t);
}

int sl_timer_arm(struct sl_timer *t, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

	return event_add(t->ev, &tv) == 0 ? 0 : SL_EIO;
}

void sl_timer_cancel(struct sl_timer *t)
{
	event_del(t->ev);
}

bool sl_timer_pending(const struct sl_timer *t)
{
	return event_pending(t->ev, EV_TIMEOUT, NULL) != 0;
}
