/* test_backoff.c — full-jitter backoff, Retry-After, and the circuit breaker, all with a fixed
 * seed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "backoff.h"

static void same_seed_same_schedule(void **state)
{
	struct sl_backoff_policy p = {.base_ms = 100, .cap_ms = 10000};
	struct sl_rng a, b, c;
	unsigned i, differ = 0;

	sl_rng_seed(&a, 42);
	sl_rng_seed(&b, 42);
	sl_rng_seed(&c, 43);
	for (i = 0; i < 20; i++) {
		uint64_t da = sl_backoff_delay_ms(&p, i, -1, &a);
		uint64_t dc = sl_backoff_delay_ms(&p, i, -1, &c);
		assert_int_equal(da, sl_backoff_delay_ms(&p, i, -1, &b));
		differ += da != dc;
	}
	/* two peers with different seeds must not retry in lock-step */
	assert_true(differ > 10);
}

static void delay_stays_under_the_growing_ceiling(void **state)
{
	struct sl_backoff_policy p = {.base_ms = 100, .cap_ms = 5000};
	struct sl_rng r;
	uint64_t max_seen[12] = {0};
	unsigned attempt, k;

	sl_rng_seed(&r, 7);
	for (attempt = 0; attempt < 12; attempt++) {
		uint64_t ceiling = 100ULL << attempt;
		if (ceiling > 5000)
			ceiling = 5000;
		for (k = 0; k < 2000; k++) {
			uint64_t d = sl_backoff_delay_ms(&p, attempt, -1, &r);
			assert_true(d <= ceiling);
			if (d > max_seen[attempt])
				max_seen[attempt] = d;
		}
		/* full jitter spreads over the whole range: the top tenth is reached */
		assert_true(max_seen[attempt] >= ceiling * 9 / 10);
	}
	/* huge attempt numbers do not overflow past the cap */
	assert_true(sl_backoff_delay_ms(&p, 4000000000u, -1, &r) <= 5000);
}

static void retry_after_is_a_floor_with_a_bound(void **state)
{
	struct sl_backoff_policy p = {.base_ms = 100, .cap_ms = 1000, .max_retry_after_ms = 60000};
	struct sl_rng r;
	unsigned k;

	sl_rng_seed(&r, 1);
	for (k = 0; k < 100; k++)
		assert_true(sl_backoff_delay_ms(&p, 0, 3000, &r) >= 3000);
	assert_int_equal(sl_backoff_delay_ms(&p, 0, 86400000, &r), 60000);
}

static void parse_retry_after(void **state)
{
	int64_t ms = -1;
	/* 2015-10-21 07:28:00 GMT = 1445412480 */
	const time_t now = 1445412480 - 90;

	assert_int_equal(sl_backoff_parse_retry_after("120", now, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(sl_backoff_parse_retry_after(" 3 ", now, &ms), 0);
	assert_int_equal(ms, 3000);
	assert_int_equal(sl_backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now, &ms),
	                 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(
	    sl_backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 1000, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(sl_backoff_parse_retry_after("soon", now, &ms), -1);
	assert_int_equal(sl_backoff_parse_retry_after("-5", now, &ms), -1);
	assert_int_equal(sl_backoff_parse_retry_after("12abc", now, &ms), -1);
	assert_int_equal(sl_backoff_parse_retry_after("Wed, 21 Foo 2015 07:28:00 GMT", now, &ms),
	                 -1);
	assert_int_equal(sl_backoff_parse_retry_after(NULL, now, &ms), -1);
}

static void retryable_statuses(void **state)
{
	assert_true(sl_backoff_status_retryable(429));
	assert_true(sl_backoff_status_retryable(503));
	assert_true(sl_backoff_status_retryable(500));
	assert_false(sl_backoff_status_retryable(400));
	assert_false(sl_backoff_status_retryable(403));
	assert_false(sl_backoff_status_retryable(404));
	assert_false(sl_backoff_status_retryable(200));
}

static void breaker_opens_after_threshold_and_probes_once(void **state)
{
	struct sl_breaker *b = sl_breaker_new(3, 1000);
	uint64_t t = 5000;

	assert_non_null(b);
	assert_true(sl_breaker_allow(b, t));
	sl_breaker_failure(b, t);
	sl_breaker_failure(b, t);
	/* a success in between resets the count: failures must be consecutive */
	sl_breaker_success(b, t);
	sl_breaker_failure(b, t);
	sl_breaker_failure(b, t);
	assert_int_equal(sl_breaker_state(b, t), SL_BREAKER_CLOSED);
	sl_breaker_failure(b, t);
	assert_int_equal(sl_breaker_state(b, t), SL_BREAKER_OPEN);
	assert_false(sl_breaker_allow(b, t + 999));
	assert_int_equal(sl_breaker_wait_ms(b, t + 400), 600);

	t += 1000;
	assert_int_equal(sl_breaker_state(b, t), SL_BREAKER_HALF_OPEN);
	assert_true(sl_breaker_allow(b, t));
	assert_false(sl_breaker_allow(b, t)); /* only one probe at a time */
	sl_breaker_failure(b, t);             /* probe failed: open again for a full cool-down */
	assert_int_equal(sl_breaker_state(b, t + 500), SL_BREAKER_OPEN);
	assert_false(sl_breaker_allow(b, t + 500));

	t += 1000;
	assert_true(sl_breaker_allow(b, t));
	sl_breaker_success(b, t);
	assert_int_equal(sl_breaker_state(b, t), SL_BREAKER_CLOSED);
	assert_true(sl_breaker_allow(b, t));
	assert_true(sl_breaker_allow(b, t));
	assert_string_equal(sl_breaker_state_name(SL_BREAKER_HALF_OPEN), "half-open");
	sl_breaker_free(b);
	sl_breaker_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(same_seed_same_schedule),
	    cmocka_unit_test(delay_stays_under_the_growing_ceiling),
	    cmocka_unit_test(retry_after_is_a_floor_with_a_bound),
	    cmocka_unit_test(parse_retry_after),
	    cmocka_unit_test(retryable_statuses),
	    cmocka_unit_test(breaker_opens_after_threshold_and_probes_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
