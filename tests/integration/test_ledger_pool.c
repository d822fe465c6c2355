/* test_ledger_pool.c — the ledger worker pool on the real test PostgreSQL: work runs off the loop
 * and done on it, per-key order under many jobs from several keys, different keys at once, the
 * queue bound, free cancelling what is queued, and a worker whose backend is terminated.
 * Work functions never assert (cmocka cannot fail from another thread): they record what they
 * saw in their job and the loop thread asserts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <pthread.h>

#include <libpq-fe.h>

#include "evloop.h"
#include "ledger.h"
#include "ledger_pool.h"
#include "sltest.h"

#define GUARD_MS 60000u /* a hung pool fails the test instead of hanging it */

struct fx {
	char *dsn;
	struct sl_ledger *l;
	struct sl_evloop *loop;
	struct sl_timer *guard;
	pthread_t loop_thread;
	unsigned ndone, want;
	bool timed_out;
	bool done_off_loop; /* a done ran on another thread than the loop's */
	/* ctx hooks */
	atomic_uint ctx_made, ctx_freed;
	unsigned fail_ctx_at; /* ctx_new fails when this many were made (0 = never) */
};

/* A worker's ctx: the connection it was made for, so work can check it got the matching pair. */
struct wctx {
	struct sl_ledger *l;
	struct fx *fx;
};

static void *ctx_new(struct sl_ledger *l, void *hook_arg, struct sl_err *err)
{
	struct fx *fx = hook_arg;
	struct wctx *c = calloc(1, sizeof(*c));

	if (fx->fail_ctx_at && atomic_load(&fx->ctx_made) == fx->fail_ctx_at) {
		free(c);
		sl_err_set(err, SL_ENOMEM, "test ctx", "no ctx for this worker");
		return NULL;
	}
	if (!c)
		return NULL;
	c->l = l;
	c->fx = fx;
	atomic_fetch_add(&fx->ctx_made, 1);
	return c;
}

static void ctx_free(void *ctx, void *hook_arg)
{
	struct fx *fx = hook_arg;

	atomic_fetch_add(&fx->ctx_freed, 1);
	free(ctx);
}

static void on_guard(struct sl_timer *t, void *arg)
{
	struct fx *fx = arg;

	(void)t;
	fx->timed_out = true;
	sl_evloop_stop(fx->loop);
}

/* Every done calls this: it counts, notes the thread, and ends the wait when enough are in. */
static void count_done(struct fx *fx)
{
	if (!pthread_equal(pthread_self(), fx->loop_thread))
		fx->done_off_loop = true;
	fx->ndone++;
	if (fx->want && fx->ndone >= fx->want)
		sl_evloop_stop(fx->loop);
}

/* Run the loop until n done callbacks have run in all (or the guard fires: a failure). */
static void wait_done(struct fx *fx, unsigned n)
{
	if (fx->ndone >= n)
		return;
	fx->want = n;
	assert_int_equal(sl_timer_arm(fx->guard, GUARD_MS), 0);
	assert_int_equal(sl_evloop_run(fx->loop), 0);
	sl_timer_cancel(fx->guard);
	fx->want = 0;
	assert_false(fx->timed_out);
	assert_int_equal(fx->ndone, n);
}

static int setup(void **state)
{
	static int n;
	char name[64];
	struct fx *fx = calloc(1, sizeof(*fx));
	struct sl_err err = {0};

	assert_non_null(fx);
	snprintf(name, sizeof(name), "sl_ledger_pool_%d", n++);
	fx->dsn = sltest_fresh_db(name);
	fx->l = sl_ledger_open(fx->dsn, &err);
	assert_non_null(fx->l);
	assert_int_equal(sl_ledger_migrate(fx->l, NULL, NULL, &err), 0);
	fx->loop = sl_evloop_new(&err);
	assert_non_null(fx->loop);
	fx->guard = sl_timer_new(fx->loop, false, on_guard, fx);
	assert_non_null(fx->guard);
	fx->loop_thread = pthread_self();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	sl_timer_free(fx->guard);
	sl_evloop_free(fx->loop);
	sl_ledger_close(fx->l);
	free(fx->dsn);
	free(fx);
	return 0;
}

static struct sl_ledger_pool *pool_new(struct fx *fx, unsigned nworkers, unsigned max_jobs)
{
	struct sl_ledger_pool_opts o = {nworkers, max_jobs, ctx_new, ctx_free, fx};
	struct sl_err err = {0};
	struct sl_ledger_pool *p = sl_ledger_pool_new(fx->loop, fx->l, &o, &err);

	if (!p)
		fail_msg("pool: %s: %s", err.where, err.msg);
	return p;
}

/* Wait on cv until *flag or ms pass; true when the flag came. */
static bool wait_flag(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *flag, unsigned ms)
{
	struct timespec until;
	bool got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000u;
	until.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(mu);
	while (!*flag && pthread_cond_timedwait(cv, mu, &until) == 0)
		;
	got = *flag;
	pthread_mutex_unlock(mu);
	return got;
}

static void set_flag(pthread_mutex_t *mu, pthread_cond_t *cv, bool *flag)
{
	pthread_mutex_lock(mu);
	*flag = true;
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(mu);
}

/* ---- work runs on a worker with its own connection; done on the loop thread ------------------ */

struct basic_job {
	struct fx *fx;
	int i;
	pthread_t worker;
	bool ctx_matches;
	int rc;
	struct sl_err err;
	bool done, cancelled;
};

static int basic_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct basic_job *j = arg;
	struct wctx *c = ctx;
	char stream[32], pos[32];
	struct sl_ledger_cursor cur = {"peer-basic", stream, pos};

	j->worker = pthread_self();
	j->ctx_matches = c && c->l == l && c->fx == j->fx;
	snprintf(stream, sizeof(stream), "s%d", j->i);
	snprintf(pos, sizeof(pos), "pos-%d", j->i);
	j->rc = sl_ledger_cursor_set(l, &cur, &j->err);
	return j->rc;
}

static void basic_done(void *arg, bool cancelled)
{
	struct basic_job *j = arg;

	j->done = true;
	j->cancelled = cancelled;
	count_done(j->fx);
}

static void test_work_off_loop_done_on_loop(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool *p = pool_new(fx, 2, 0);
	struct basic_job jobs[20];
	struct sl_err err = {0};
	int i;

	assert_int_equal(atomic_load(&fx->ctx_made), 2); /* one ctx per worker */
	for (i = 0; i < 20; i++) {
		jobs[i] = (struct basic_job){.fx = fx, .i = i};
		assert_int_equal(sl_ledger_pool_submit(p, i % 2 ? "peer-basic" : NULL, basic_work,
		                                       basic_done, &jobs[i], &err),
		                 0);
	}
	wait_done(fx, 20);
	assert_false(fx->done_off_loop);
	assert_int_equal(sl_ledger_pool_pending(p), 0);
	for (i = 0; i < 20; i++) {
		char stream[32], want[32], got[64];

		assert_true(jobs[i].done);
		assert_false(jobs[i].cancelled);
		assert_int_equal(jobs[i].rc, 0);
		assert_true(jobs[i].ctx_matches);
		assert_false(pthread_equal(jobs[i].worker, fx->loop_thread));
		/* what a worker committed is there for everyone else */
		snprintf(stream, sizeof(stream), "s%d", i);
		snprintf(want, sizeof(want), "pos-%d", i);
		assert_int_equal(
		    sl_ledger_cursor_get(fx->l, "peer-basic", stream, got, sizeof(got), &err), 0);
		assert_string_equal(got, want);
	}
	sl_ledger_pool_free(p);
	assert_int_equal(atomic_load(&fx->ctx_freed), 2);
}

/* ---- jobs of one key run one at a time, in order; done follows in the same order ------------- */

#define NKEYS 4
#define PER_KEY 100

struct key_state {
	atomic_int running;   /* jobs of this key inside work right now */
	atomic_int next_work; /* the seq the next work must carry */
	atomic_int overlaps, out_of_order;
	int next_done; /* loop thread only */
	int done_out_of_order;
	int failed;
};

struct order_job {
	struct fx *fx;
	struct key_state *ks;
	int key, seq, rc;
	struct sl_err err;
};

static int order_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct order_job *j = arg;
	char peer[32], pos[32];
	struct sl_ledger_cursor cur = {peer, "order", pos};

	(void)ctx;
	if (atomic_fetch_add(&j->ks->running, 1) != 0)
		atomic_fetch_add(&j->ks->overlaps, 1);
	if (atomic_load(&j->ks->next_work) != j->seq)
		atomic_fetch_add(&j->ks->out_of_order, 1);
	/* a real round trip, so jobs of different keys have time to interleave */
	snprintf(peer, sizeof(peer), "key-%d", j->key);
	snprintf(pos, sizeof(pos), "%d", j->seq);
	j->rc = sl_ledger_cursor_set(l, &cur, &j->err);
	atomic_store(&j->ks->next_work, j->seq + 1);
	atomic_fetch_sub(&j->ks->running, 1);
	return j->rc;
}

static void order_done(void *arg, bool cancelled)
{
	struct order_job *j = arg;

	if (j->ks->next_done != j->seq)
		j->ks->done_out_of_order++;
	j->ks->next_done = j->seq + 1;
	if (cancelled || j->rc != 0)
		j->ks->failed++;
	count_done(j->fx);
}

static void test_per_key_order(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool *p = pool_new(fx, 3, NKEYS * PER_KEY);
	static struct key_state ks[NKEYS];
	static struct order_job jobs[NKEYS * PER_KEY];
	int seq[NKEYS] = {0};
	unsigned rng = 12345u;
	struct sl_err err = {0};
	int i, k;

	memset(ks, 0, sizeof(ks));
	/* keys interleaved in a seeded random order, each key's jobs numbered as submitted */
	for (i = 0; i < NKEYS * PER_KEY; i++) {
		char key[16];

		do {
			rng = rng * 1103515245u + 12345u;
			k = (int)((rng >> 16) % NKEYS);
		} while (seq[k] == PER_KEY);
		jobs[i] = (struct order_job){.fx = fx, .ks = &ks[k], .key = k, .seq = seq[k]++};
		snprintf(key, sizeof(key), "key-%d", k);
		assert_int_equal(
		    sl_ledger_pool_submit(p, key, order_work, order_done, &jobs[i], &err), 0);
	}
	wait_done(fx, NKEYS * PER_KEY);
	assert_false(fx->done_off_loop);
	for (k = 0; k < NKEYS; k++) {
		char peer[32], got[32];

		assert_int_equal(atomic_load(&ks[k].overlaps), 0);
		assert_int_equal(atomic_load(&ks[k].out_of_order), 0);
		assert_int_equal(ks[k].done_out_of_order, 0);
		assert_int_equal(ks[k].failed, 0);
		assert_int_equal(atomic_load(&ks[k].next_work), PER_KEY);
		/* the last cursor committed is the last submitted: no job of a key overtook another
		 */
		snprintf(peer, sizeof(peer), "key-%d", k);
		assert_int_equal(sl_ledger_cursor_get(fx->l, peer, "order", got, sizeof(got), &err),
		                 0);
		assert_int_equal(atoi(got), PER_KEY - 1);
	}
	sl_ledger_pool_free(p);
}

/* ---- different keys run at once, the same key never ----------------------------------------- */

struct meet {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool here[2];
};

struct meet_job {
	struct fx *fx;
	struct meet *m;
	int me;
	unsigned wait_ms;
	bool met; /* the other job was inside work while this one waited */
};

static int meet_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct meet_job *j = arg;

	(void)l;
	(void)ctx;
	set_flag(&j->m->mu, &j->m->cv, &j->m->here[j->me]);
	j->met = wait_flag(&j->m->mu, &j->m->cv, &j->m->here[1 - j->me], j->wait_ms);
	return 0;
}

static void meet_done(void *arg, bool cancelled)
{
	struct meet_job *j = arg;

	assert_false(cancelled);
	count_done(j->fx);
}

static void test_keys_overlap_same_key_does_not(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool *p = pool_new(fx, 2, 0);
	struct meet m1 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {false, false}};
	struct meet m2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {false, false}};
	/* each waits for the other: both meet only if they run at the same time */
	struct meet_job a = {fx, &m1, 0, 20000, false}, b = {fx, &m1, 1, 20000, false};
	/* the same key, two idle workers: the first must give up waiting for the second */
	struct meet_job c = {fx, &m2, 0, 300, false}, d = {fx, &m2, 1, 300, false};
	struct sl_err err = {0};

	assert_int_equal(sl_ledger_pool_submit(p, "peer-a", meet_work, meet_done, &a, &err), 0);
	assert_int_equal(sl_ledger_pool_submit(p, "peer-b", meet_work, meet_done, &b, &err), 0);
	wait_done(fx, 2);
	assert_true(a.met);
	assert_true(b.met);

	assert_int_equal(sl_ledger_pool_submit(p, "peer-c", meet_work, meet_done, &c, &err), 0);
	assert_int_equal(sl_ledger_pool_submit(p, "peer-c", meet_work, meet_done, &d, &err), 0);
	wait_done(fx, 4);
	assert_false(c.met); /* d had not started while c ran */
	assert_true(d.met);  /* c had been there before d started */
	sl_ledger_pool_free(p);
}

/* ---- a bounded queue: submit says so when it is full ----------------------------------------- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open, entered;
};

struct gate_job {
	struct fx *fx;
	struct gate *g;
	int seq, *order; /* where done writes seq; order[0] counts */
	bool ran, gate_seen, done, cancelled;
	bool done_on_loop;
};

static int gate_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct gate_job *j = arg;

	(void)l;
	(void)ctx;
	j->ran = true;
	if (j->g) {
		set_flag(&j->g->mu, &j->g->cv, &j->g->entered);
		j->gate_seen = wait_flag(&j->g->mu, &j->g->cv, &j->g->open, GUARD_MS);
	}
	return 0;
}

static void gate_done(void *arg, bool cancelled)
{
	struct gate_job *j = arg;

	j->done = true;
	j->cancelled = cancelled;
	j->done_on_loop = pthread_equal(pthread_self(), j->fx->loop_thread);
	if (j->order)
		j->order[++j->order[0]] = j->seq;
	count_done(j->fx);
}

static void test_back_pressure(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool *p = pool_new(fx, 1, 4);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
	struct gate_job jobs[6];
	struct sl_err err = {0};
	int i;

	for (i = 0; i < 6; i++)
		jobs[i] = (struct gate_job){.fx = fx, .g = i == 0 ? &g : NULL, .seq = i};
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    sl_ledger_pool_submit(p, "peer-a", gate_work, gate_done, &jobs[i], &err), 0);
	assert_int_equal(sl_ledger_pool_pending(p), 4);
	/* full: refused with a message, and nothing of it will run */
	assert_int_equal(sl_ledger_pool_submit(p, "peer-b", gate_work, gate_done, &jobs[4], &err),
	                 SL_ELIMIT);
	assert_int_equal(err.code, SL_ELIMIT);
	assert_string_equal(err.where, "peer-b");
	assert_non_null(strstr(err.msg, "full (4 jobs pending)"));
	assert_int_equal(sl_ledger_pool_pending(p), 4);

	set_flag(&g.mu, &g.cv, &g.open);
	wait_done(fx, 4);
	assert_int_equal(sl_ledger_pool_pending(p), 0);
	/* room again */
	memset(&err, 0, sizeof(err));
	assert_int_equal(sl_ledger_pool_submit(p, "peer-b", gate_work, gate_done, &jobs[5], &err),
	                 0);
	wait_done(fx, 5);
	for (i = 0; i < 6; i++) {
		assert_int_equal(jobs[i].ran, i != 4);
		assert_int_equal(jobs[i].done, i != 4);
		assert_false(jobs[i].cancelled);
	}
	assert_true(jobs[0].gate_seen);
	sl_ledger_pool_free(p);
}

/* ---- free: the running job finishes, queued ones are cancelled in order ---------------------- */

#define MAX_PROBES 300 /* more than the default bound: the prober is stopped by SL_ELIMIT first */

struct prober {
	struct sl_ledger_pool *p;
	struct fx *fx;
	struct gate *g;
	struct gate_job probes[MAX_PROBES];
	int submitted, refused_code;
	char refused_msg[SL_ERR_MSG_MAX];
};

/* Submits from another thread until the pool says it is stopping, then lets the running job end:
 * so free has certainly begun before the worker could take another job. */
static void *probe_main(void *arg)
{
	struct prober *pr = arg;

	while (pr->submitted < MAX_PROBES) {
		struct sl_err err = {0};
		struct gate_job *j = &pr->probes[pr->submitted];
		int rc;

		*j = (struct gate_job){.fx = pr->fx, .seq = 1000 + pr->submitted};
		rc = sl_ledger_pool_submit(pr->p, "probe", gate_work, gate_done, j, &err);
		if (rc == 0) {
			pr->submitted++;
		} else if (rc != SL_ELIMIT) {
			pr->refused_code = rc;
			snprintf(pr->refused_msg, sizeof(pr->refused_msg), "%s", err.msg);
			break;
		}
		usleep(1000);
	}
	set_flag(&pr->g->mu, &pr->g->cv, &pr->g->open);
	return NULL;
}

static void test_free_cancels_queued(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool *p = pool_new(fx, 1, 0);
	struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
	struct gate_job jobs[6];
	static struct prober pr;
	int order[16] = {0}, i;
	struct sl_err err = {0};
	pthread_t t;

	for (i = 0; i < 6; i++)
		jobs[i] =
		    (struct gate_job){.fx = fx, .g = i == 0 ? &g : NULL, .seq = i, .order = order};
	assert_int_equal(sl_ledger_pool_submit(p, "peer-a", gate_work, gate_done, &jobs[0], &err),
	                 0);
	assert_true(wait_flag(&g.mu, &g.cv, &g.entered, GUARD_MS));
	for (i = 1; i < 6; i++)
		assert_int_equal(sl_ledger_pool_submit(p, i % 2 ? "peer-b" : "peer-a", gate_work,
		                                       gate_done, &jobs[i], &err),
		                 0);
	memset(&pr, 0, sizeof(pr));
	pr.p = p;
	pr.fx = fx;
	pr.g = &g;
	assert_int_equal(pthread_create(&t, NULL, probe_main, &pr), 0);
	sl_ledger_pool_free(p); /* waits for jobs[0], which waits for the prober */
	assert_int_equal(pthread_join(t, NULL), 0);

	assert_int_equal(pr.refused_code, SL_EINVAL);
	assert_non_null(strstr(pr.refused_msg, "stopping"));
	assert_true(jobs[0].ran && jobs[0].done && !jobs[0].cancelled && jobs[0].gate_seen);
	for (i = 1; i < 6; i++) {
		assert_false(jobs[i].ran);
		assert_true(jobs[i].done);
		assert_true(jobs[i].cancelled);
		assert_true(jobs[i].done_on_loop);
	}
	for (i = 0; i < pr.submitted; i++) {
		assert_false(pr.probes[i].ran);
		assert_true(pr.probes[i].cancelled);
	}
	/* the finished job's done first, then the cancelled ones as submitted */
	assert_int_equal(order[0], 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(order[1 + i], i);
	assert_int_equal(fx->ndone, 6 + (unsigned)pr.submitted);
	assert_false(fx->done_off_loop);
}

/* ---- a worker whose backend is terminated: its job sees SL_EDB, the next job works ----------- */

struct db_job {
	struct fx *fx;
	int rc;
	struct sl_err err;
	char got[64];
	bool ctx_matches;
	const char *pos; /* set the cursor to this, or read it when NULL */
};

static int db_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct db_job *j = arg;
	struct wctx *c = ctx;

	j->ctx_matches = c && c->l == l;
	if (j->pos) {
		struct sl_ledger_cursor cur = {"peer-kill", "s", j->pos};
		j->rc = sl_ledger_cursor_set(l, &cur, &j->err);
	} else {
		j->rc = sl_ledger_cursor_get(l, "peer-kill", "s", j->got, sizeof(j->got), &j->err);
	}
	return j->rc;
}

static void db_done(void *arg, bool cancelled)
{
	struct db_job *j = arg;

	assert_false(cancelled);
	count_done(j->fx);
}

static long long q_int(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	long long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void test_killed_connection(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool *p = pool_new(fx, 1, 0);
	struct db_job set = {.fx = fx, .pos = "41"}, lost = {.fx = fx}, again = {.fx = fx};
	struct sl_err err = {0};
	PGconn *pg = PQconnectdb(fx->dsn);
	int i;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	/* the pool keeps nothing of proto: closing it leaves the worker the only other backend */
	sl_ledger_close(fx->l);
	fx->l = NULL;
	assert_int_equal(sl_ledger_pool_submit(p, "peer-kill", db_work, db_done, &set, &err), 0);
	wait_done(fx, 1);
	assert_int_equal(set.rc, 0);
	/* proto's backend goes away on its own time after the close: wait until the worker's is the
	 * only other one (counting it at once found 2 now and then) */
	for (i = 0; i < 1000; i++) {
		if (q_int(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
		              "current_database() AND pid <> pg_backend_pid() AND backend_type = "
		              "'client backend'") == 1)
			break;
		usleep(10000);
	}
	assert_true(i < 1000);

	assert_int_equal(q_int(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	                           "WHERE datname = current_database() AND pid <> pg_backend_pid() "
	                           "AND backend_type = 'client backend'"),
	                 1);
	for (i = 0; i < 1000; i++) {
		if (q_int(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
		              "current_database() AND pid <> pg_backend_pid() AND backend_type = "
		              "'client backend'") == 0)
			break;
		usleep(10000);
	}
	assert_true(i < 1000);

	assert_int_equal(sl_ledger_pool_submit(p, "peer-kill", db_work, db_done, &lost, &err), 0);
	assert_int_equal(sl_ledger_pool_submit(p, "peer-kill", db_work, db_done, &again, &err), 0);
	wait_done(fx, 3);
	assert_int_equal(lost.rc, SL_EDB);
	assert_int_equal(lost.err.code, SL_EDB);
	assert_non_null(strstr(lost.err.msg, "connection"));
	/* the worker renewed its connection and its ctx after the SL_EDB */
	assert_int_equal(again.rc, 0);
	assert_string_equal(again.got, "41");
	assert_true(again.ctx_matches);
	assert_int_equal(atomic_load(&fx->ctx_made), 2);
	assert_int_equal(atomic_load(&fx->ctx_freed), 1);
	sl_ledger_pool_free(p);
	assert_int_equal(atomic_load(&fx->ctx_freed), 2);
	PQfinish(pg);
}

/* ---- bad use is refused with a named error -------------------------------------------------- */

static void test_bad_use(void **state)
{
	struct fx *fx = *state;
	struct sl_ledger_pool_opts o = {.nworkers = SL_LEDGER_POOL_MAX_WORKERS + 1};
	struct sl_ledger_pool *p;
	struct sl_err err = {0};
	char key[SL_LEDGER_POOL_KEY_MAX + 1];
	struct gate_job j = {.fx = fx};

	assert_null(sl_ledger_pool_new(fx->loop, fx->l, &o, &err));
	assert_int_equal(err.code, SL_EINVAL);
	assert_string_equal(err.where, "ledger pool");
	assert_non_null(strstr(err.msg, "workers"));

	/* a worker whose ctx cannot be made: nothing is left behind (ASan checks the rest) */
	fx->fail_ctx_at = 1;
	o = (struct sl_ledger_pool_opts){2, 0, ctx_new, ctx_free, fx};
	memset(&err, 0, sizeof(err));
	assert_null(sl_ledger_pool_new(fx->loop, fx->l, &o, &err));
	assert_int_equal(err.code, SL_ENOMEM);
	assert_string_equal(err.where, "test ctx");
	assert_int_equal(atomic_load(&fx->ctx_made), 1);
	assert_int_equal(atomic_load(&fx->ctx_freed), 1);
	/* hooks go in pairs */
	o.ctx_free = NULL;
	memset(&err, 0, sizeof(err));
	assert_null(sl_ledger_pool_new(fx->loop, fx->l, &o, &err));
	assert_non_null(strstr(err.msg, "ctx_new and ctx_free"));
	fx->fail_ctx_at = 0;
	atomic_store(&fx->ctx_made, 0);
	atomic_store(&fx->ctx_freed, 0);

	p = pool_new(fx, 0, 0); /* defaults */
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	memset(&err, 0, sizeof(err));
	assert_int_equal(sl_ledger_pool_submit(p, key, gate_work, gate_done, &j, &err), SL_EINVAL);
	assert_non_null(strstr(err.msg, "queue key"));
	assert_int_equal(sl_ledger_pool_pending(p), 0);
	/* the pool still works after the refusal */
	assert_int_equal(sl_ledger_pool_submit(p, "peer-a", gate_work, gate_done, &j, &err), 0);
	wait_done(fx, 1);
	assert_true(j.ran);
	sl_ledger_pool_free(p);
	assert_int_equal(atomic_load(&fx->ctx_made), 2); /* default: two workers */
	sl_ledger_pool_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_work_off_loop_done_on_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_per_key_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys_overlap_same_key_does_not, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_cancels_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_killed_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_use, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
