/* test_evloop.c — the event loop: SIGHUP reaches the reload callback and SIGTERM the stop callback
 * on the loop, timers fire, and the fake clock only moves when told. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <cmocka.h>

#include "evloop.h"

struct counts {
	int stops, reloads, fires;
	struct sl_timer *t;
};

static void on_stop(struct sl_evloop *loop, void *arg)
{
	((struct counts *)arg)->stops++;
	sl_evloop_stop(loop);
}

static void on_reload(struct sl_evloop *loop, void *arg)
{
	struct counts *c = arg;

	c->reloads++;
	/* after a reload, ask for shutdown: the loop must survive the first signal */
	raise(SIGTERM);
}

static void signals_reach_callbacks(void **state)
{
	struct counts c = {0};
	struct sl_err err;
	struct sl_evloop *loop = sl_evloop_new(&err);

	assert_non_null(loop);
	assert_int_equal(sl_evloop_handle_signals(loop, on_stop, on_reload, &c, &err), 0);
	raise(SIGHUP);
	assert_int_equal(sl_evloop_run(loop), 0);
	assert_int_equal(c.reloads, 1);
	assert_int_equal(c.stops, 1);
	assert_true(sl_evloop_stopping(loop));
	sl_evloop_free(loop);
	sl_evloop_free(NULL);
}

static void on_fire(struct sl_timer *t, void *arg)
{
	struct counts *c = arg;

	if (++c->fires == 3)
		sl_timer_cancel(t);
}

static void timers_fire_and_cancel(void **state)
{
	struct counts c = {0};
	struct sl_err err;
	struct sl_evloop *loop = sl_evloop_new(&err);
	struct sl_timer *periodic = sl_timer_new(loop, true, on_fire, &c);
	struct sl_timer *never = sl_timer_new(loop, false, on_fire, &c);

	assert_int_equal(sl_timer_arm(periodic, 5), 0);
	assert_int_equal(sl_timer_arm(never, 60000), 0);
	assert_true(sl_timer_pending(never));
	sl_timer_cancel(never);
	assert_false(sl_timer_pending(never));
	/* the loop returns once nothing is pending: the periodic timer cancelled itself at 3 */
	assert_int_equal(sl_evloop_run(loop), 0);
	assert_int_equal(c.fires, 3);
	sl_timer_free(periodic);
	sl_timer_free(never);
	sl_evloop_free(loop);
}

static void fake_clock_is_injected(void **state)
{
	struct sl_clock_fake fake;
	struct sl_err err;
	struct sl_evloop *loop = sl_evloop_new(&err);
	const struct sl_clock *sys = sl_evloop_clock(loop);

	assert_ptr_equal(sys, sl_clock_system());
	/* the system clock is plausibly "now" (after 2020-01-01) */
	assert_true(sl_clock_wall_ms(sys) > 1577836800000ULL);
	sl_clock_fake_init(&fake, 1700000000000ULL, 5000);
	sl_evloop_set_clock(loop, &fake.clock);
	assert_int_equal(sl_clock_wall_ms(sl_evloop_clock(loop)), 1700000000000ULL);
	assert_int_equal(sl_clock_mono_ms(sl_evloop_clock(loop)), 5000);
	sl_clock_fake_advance(&fake, 1500);
	assert_int_equal(sl_clock_mono_ms(sl_evloop_clock(loop)), 6500);
	assert_int_equal(sl_clock_wall_ms(sl_evloop_clock(loop)), 1700000001500ULL);
	sl_evloop_set_clock(loop, NULL);
	assert_ptr_equal(sl_evloop_clock(loop), sl_clock_system());
	sl_evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(signals_reach_callbacks),
	    cmocka_unit_test(timers_fire_and_cancel),
	    cmocka_unit_test(fake_clock_is_injected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
