/* bench_ledger_pool.c — what moving ledger calls off the loop costs and buys: the same small
 * committed write (a cursor move) done on the loop thread vs. through the pool with 1, 2 and 4
 * workers over 8 queue keys, how long the loop thread is held, and the longest gap a 1 ms
 * periodic timer sees meanwhile. Prints name=value lines. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evloop.h"
#include "ledger.h"
#include "ledger_pool.h"
#include "sltest.h"

#define N 2000
#define KEYS 8

struct job {
	int i, rc;
};

static struct run {
	struct sl_evloop *loop;
	struct sl_ledger_pool *pool;
	struct job jobs[N];
	int next, done, failed;
	bool noop;
	uint64_t loop_busy_ns, last_tick_ns, max_gap_ns;
} R; /* one run at a time; noop is set before the workers start */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cursor_move(struct sl_ledger *l, int i)
{
	char peer[32], pos[32];
	struct sl_ledger_cursor c = {peer, "bench", pos};
	struct sl_err err = {0};

	snprintf(peer, sizeof(peer), "bench-%d", i % KEYS);
	snprintf(pos, sizeof(pos), "%d", i);
	return sl_ledger_cursor_set(l, &c, &err);
}

static int work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct job *j = arg;

	(void)ctx;
	j->rc = R.noop ? 0 : cursor_move(l, j->i);
	return j->rc;
}

static void feed(struct run *r);

static void done(void *arg, bool cancelled)
{
	struct job *j = arg;
	struct run *r = &R;
	uint64_t t0 = now_ns();

	if (cancelled || j->rc != 0)
		r->failed++;
	r->done++;
	r->loop_busy_ns += now_ns() - t0;
	if (r->done == N)
		sl_evloop_stop(r->loop);
	else
		feed(r);
}

/* Submit until the queue is full (back-pressure) or everything is in. */
static void feed(struct run *r)
{
	uint64_t t0 = now_ns();
	struct sl_err err = {0};

	while (r->next < N) {
		struct job *j = &r->jobs[r->next];
		char key[16];

		j->i = r->next;
		snprintf(key, sizeof(key), "k%d", r->next % KEYS);
		if (sl_ledger_pool_submit(r->pool, key, work, done, j, &err) < 0)
			break;
		r->next++;
		if (r->noop)
			break; /* one at a time: a round trip each */
	}
	r->loop_busy_ns += now_ns() - t0;
}

static void on_tick(struct sl_timer *t, void *arg)
{
	struct run *r = arg;
	uint64_t n = now_ns();

	(void)t;
	if (r->last_tick_ns && n - r->last_tick_ns > r->max_gap_ns)
		r->max_gap_ns = n - r->last_tick_ns;
	r->last_tick_ns = n;
}

static void run_pool(struct sl_evloop *loop, struct sl_ledger *l, unsigned workers, bool noop)
{
	struct run *r = &R;
	struct sl_ledger_pool_opts o = {.nworkers = workers, .max_jobs = 256};
	struct sl_err err = {0};
	struct sl_timer *tick = sl_timer_new(loop, true, on_tick, r);
	uint64_t t0;
	double s;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->noop = noop;
	if (!(r->pool = sl_ledger_pool_new(loop, l, &o, &err))) {
		fprintf(stderr, "pool: %s: %s\n", err.where, err.msg);
		exit(1);
	}
	sl_timer_arm(tick, 1);
	t0 = now_ns();
	feed(r);
	sl_evloop_run(loop);
	s = (double)(now_ns() - t0) / 1e9;
	sl_timer_free(tick);
	sl_ledger_pool_free(r->pool);
	if (noop) {
		printf("pool_roundtrip_us=%.1f\n", s * 1e6 / N);
		return;
	}
	printf("pool%u_jobs_per_s=%.0f\n", workers, N / s);
	printf("pool%u_loop_busy_ms=%.1f\n", workers, (double)r->loop_busy_ns / 1e6);
	printf("pool%u_max_timer_gap_ms=%.2f\n", workers, (double)r->max_gap_ns / 1e6);
	printf("pool%u_failed=%d\n", workers, r->failed);
}

int main(void)
{
	char *dsn = sltest_fresh_db("sl_bench_ledger_pool");
	struct sl_err err = {0};
	struct sl_ledger *l = sl_ledger_open(dsn, &err);
	struct sl_evloop *loop = sl_evloop_new(&err);
	uint64_t t0, max_call = 0;
	int i, failed = 0;

	if (!l || !loop || sl_ledger_migrate(l, NULL, NULL, &err) < 0) {
		fprintf(stderr, "setup: %s: %s\n", err.where, err.msg);
		return 1;
	}
	/* on the loop thread, as sync.c does today: each call holds the loop for its whole time */
	t0 = now_ns();
	for (i = 0; i < N; i++) {
		uint64_t c0 = now_ns();

		failed += cursor_move(l, i) != 0;
		if (now_ns() - c0 > max_call)
			max_call = now_ns() - c0;
	}
	printf("sync_jobs_per_s=%.0f\n", N / ((double)(now_ns() - t0) / 1e9));
	printf("sync_loop_busy_ms=%.1f\n", (double)(now_ns() - t0) / 1e6);
	printf("sync_max_call_ms=%.2f\n", (double)max_call / 1e6);
	printf("sync_failed=%d\n", failed);
	run_pool(loop, l, 1, false);
	run_pool(loop, l, 2, false);
	run_pool(loop, l, 4, false);
	run_pool(loop, l, 2, true);
	sl_evloop_free(loop);
	sl_ledger_close(l);
	free(dsn);
	return 0;
}
