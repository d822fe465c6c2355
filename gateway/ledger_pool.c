/* ledger_pool.c — worker threads with their own ledger connections; completions reach the loop
 * through a pipe watched by one libevent event.
 *
 * Why a pipe and not event_active() from the workers: event_active across threads needs
 * evthread_use_pthreads() called before the loop's event_base is created, process-wide, and puts
 * a lock in every libevent call. The pipe needs nothing from the rest of the program: a worker
 * writes one byte when the finished list goes from empty to non-empty, the loop reads and runs
 * every finished job's done. No polling: idle workers sleep on a condition variable, an idle loop
 * in epoll.
 *
 * Who touches what:
 *   loop thread only:   ev, pipe_rd, the loop side of every job (done)
 *   under mu:           queue, finished, notified, stopping, pending, worker.running_key
 *   worker thread only: worker.ledger and worker.ctx between pthread_create and pthread_join
 *                       (before and after, the thread calling _new/_free owns them)
 *   read-only:          opts, max_jobs, nworkers, pipe_wr
 * A job is on exactly one list at a time (queue -> a worker -> finished -> done), moved under mu,
 * so its work call happens before its done call. */
#include "ledger_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define DEFAULT_WORKERS 2u
#define DEFAULT_MAX_JOBS 256u

struct job {
	struct job *next;
	sl_ledger_pool_work work;
	sl_ledger_pool_done done;
	void *arg;
	bool keyed;
	char key[]; /* "" when not keyed */
};

struct jobs {
	struct job *head, **tail;
};

struct worker {
	struct sl_ledger_pool *pool;
	pthread_t thread;
	bool started;
	struct sl_ledger *ledger;
	void *ctx;
	const char *running_key; /* the key of the job it runs, NULL when idle or unkeyed */
};

struct sl_ledger_pool {
	struct sl_evloop *loop;
	struct event *ev;
	int pipe_rd, pipe_wr;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job was queued, a key was released, or stopping */
	struct jobs queue, finished;
	bool notified; /* a byte is in the pipe that the loop has not answered yet */
	bool stopping;
	unsigned pending;
	unsigned max_jobs;
	struct sl_ledger_pool_opts opts;
	unsigned nworkers;
	struct worker w[];
};

static void jobs_init(struct jobs *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void jobs_push(struct jobs *l, struct job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

static bool key_running(const struct sl_ledger_pool *p, const char *key)
{
	unsigned i;

	for (i = 0; i < p->nworkers; i++)
		if (p->w[i].running_key && strcmp(p->w[i].running_key, key) == 0)
			return true;
	return false;
}

/* The oldest queued job whose key is not running (under mu). Every queued job of a running key
 * is skipped, so the next one of that key is always its oldest. */
static struct job *pick(struct sl_ledger_pool *p)
{
	struct job **pp, *j;

	for (pp = &p->queue.head; (j = *pp) != NULL; pp = &j->next) {
		if (j->keyed && key_running(p, j->key))
			continue;
		*pp = j->next;
		if (p->queue.tail == &j->next)
			p->queue.tail = pp;
		j->next = NULL;
		return j;
	}
	return NULL;
}

/* A fresh connection (and ctx on it) after the job said the database failed: only some ledger
 * calls reconnect by themselves (those that start a transaction), so a worker whose backend was
 * terminated would otherwise fail every read until one of those came along. On failure the old
 * ones stay and the next SL_EDB tries again. */
static void renew(struct worker *w)
{
	const struct sl_ledger_pool_opts *o = &w->pool->opts;
	struct sl_err err = {0};
	struct sl_ledger *nl = sl_ledger_open_sibling(w->ledger, &err);
	void *nctx = NULL;

	if (!nl)
		return;
	if (o->ctx_new && !(nctx = o->ctx_new(nl, o->hook_arg, &err))) {
		sl_ledger_close(nl);
		return;
	}
	if (o->ctx_free && w->ctx)
		o->ctx_free(w->ctx, o->hook_arg);
	sl_ledger_close(w->ledger);
	w->ledger = nl;
	w->ctx = nctx;
}

/* Hand a finished job to the loop (under mu). */
static void finish(struct sl_ledger_pool *p, struct job *j)
{
	jobs_push(&p->finished, j);
	if (!p->notified) {
		char b = 1;
		ssize_t n;

		p->notified = true;
		/* Never blocks: at most a byte or two are ever in the pipe. */
		do
			n = write(p->pipe_wr, &b, 1);
		while (n < 0 && errno == EINTR);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sl_ledger_pool *p = w->pool;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct job *j = NULL;
		int rc;

		while (!p->stopping && !(j = pick(p)))
			pthread_cond_wait(&p->cv, &p->mu);
		if (!j)
			break;
		w->running_key = j->keyed ? j->key : NULL;
		pthread_mutex_unlock(&p->mu);

		rc = j->work(w->ledger, w->ctx, j->arg);
		if (rc == SL_EDB)
			renew(w);

		pthread_mutex_lock(&p->mu);
		w->running_key = NULL;
		finish(p, j);
		/* the key is free: a worker may be waiting with only jobs of this key queued */
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Run the done of every job in l (loop thread, without mu), counting each out first so a done
 * may submit again. */
static void run_done(struct sl_ledger_pool *p, struct job *j, bool cancelled)
{
	while (j) {
		struct job *next = j->next;

		pthread_mutex_lock(&p->mu);
		p->pending--;
		pthread_mutex_unlock(&p->mu);
		j->done(j->arg, cancelled);
		free(j);
		j = next;
	}
}

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
	struct sl_ledger_pool *p = arg;
	struct job *list;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&p->mu);
	list = p->finished.head;
	jobs_init(&p->finished);
	p->notified = false;
	pthread_mutex_unlock(&p->mu);
	run_done(p, list, false);
}

static int nonblocking_pipe(int fds[2])
{
	int i;

	if (pipe(fds) < 0)
		return -1;
	for (i = 0; i < 2; i++)
		if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) < 0 ||
		    fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
			close(fds[0]);
			close(fds[1]);
			return -1;
		}
	return 0;
}

/* Workers start with every signal blocked: SIGTERM/SIGHUP belong to the loop thread. */
static int start_workers(struct sl_ledger_pool *p, struct sl_err *err)
{
	sigset_t all, old;
	unsigned i;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < p->nworkers && rc == 0; i++) {
		rc = pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]);
		if (rc == 0)
			p->w[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return sl_err_set(err, SL_ENOMEM, "ledger pool", "cannot start worker %u: %s", i,
		                  strerror(rc));
	return 0;
}

struct sl_ledger_pool *sl_ledger_pool_new(struct sl_evloop *loop, struct sl_ledger *proto,
                                          const struct sl_ledger_pool_opts *opts,
                                          struct sl_err *err)
{
	static const struct sl_ledger_pool_opts defaults;
	const struct sl_ledger_pool_opts *o = opts ? opts : &defaults;
	unsigned n = o->nworkers ? o->nworkers : DEFAULT_WORKERS, i;
	struct sl_ledger_pool *p;
	int fds[2];

	if (!loop || !proto || n > SL_LEDGER_POOL_MAX_WORKERS)
		return sl_err_set(err, SL_EINVAL, "ledger pool",
		                  "need a loop, a ledger and 1..%u workers (got %u)",
		                  SL_LEDGER_POOL_MAX_WORKERS, n),
		       NULL;
	if (!PQisthreadsafe())
		return sl_err_set(err, SL_EUNSUPPORTED, "ledger pool",
		                  "this libpq is not built thread-safe"),
		       NULL;
	if (!!o->ctx_new != !!o->ctx_free)
		return sl_err_set(err, SL_EINVAL, "ledger pool",
		                  "ctx_new and ctx_free go together"),
		       NULL;
	if (!(p = calloc(1, sizeof(*p) + n * sizeof(p->w[0]))))
		return sl_err_set(err, SL_ENOMEM, "ledger pool", "out of memory"), NULL;
	if (nonblocking_pipe(fds) < 0) {
		sl_err_set(err, SL_EIO, "ledger pool", "pipe: %s", strerror(errno));
		free(p);
		return NULL;
	}
	p->loop = loop;
	p->pipe_rd = fds[0];
	p->pipe_wr = fds[1];
	p->opts = *o;
	p->nworkers = n;
	p->max_jobs = o->max_jobs ? o->max_jobs : DEFAULT_MAX_JOBS;
	jobs_init(&p->queue);
	jobs_init(&p->finished);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (i = 0; i < n; i++)
		p->w[i].pool = p;
	p->ev = event_new(sl_evloop_base(loop), p->pipe_rd, EV_READ | EV_PERSIST, on_finished, p);
	if (!p->ev || event_add(p->ev, NULL) < 0) {
		sl_err_set(err, SL_ENOMEM, "ledger pool", "cannot watch the completion pipe");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct worker *w = &p->w[i];

		if (!(w->ledger = sl_ledger_open_sibling(proto, err)))
			goto fail;
		if (o->ctx_new && !(w->ctx = o->ctx_new(w->ledger, o->hook_arg, err))) {
			if (!err || !err->code)
				sl_err_set(err, SL_ENOMEM, "ledger pool", "worker context failed");
			goto fail;
		}
	}
	if (start_workers(p, err) < 0)
		goto fail;
	return p;
fail:
	sl_ledger_pool_free(p);
	return NULL;
}

int sl_ledger_pool_submit(struct sl_ledger_pool *p, const char *queue_key, sl_ledger_pool_work work,
                          sl_ledger_pool_done done, void *arg, struct sl_err *err)
{
	size_t klen = queue_key ? strlen(queue_key) : 0;
	struct job *j;

	if (!p || !work || !done)
		return sl_err_set(err, SL_EINVAL, "ledger pool",
		                  "submit needs a pool, work and done");
	if (klen >= SL_LEDGER_POOL_KEY_MAX)
		return sl_err_set(err, SL_EINVAL, "ledger pool",
		                  "queue key of %zu bytes (at most %u)", klen,
		                  SL_LEDGER_POOL_KEY_MAX - 1);
	if (!(j = calloc(1, sizeof(*j) + klen + 1)))
		return sl_err_set(err, SL_ENOMEM, "ledger pool", "out of memory");
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->keyed = queue_key != NULL;
	if (queue_key)
		memcpy(j->key, queue_key, klen + 1);

	pthread_mutex_lock(&p->mu);
	if (p->stopping || p->pending >= p->max_jobs) {
		bool stopping = p->stopping;
		unsigned pending = p->pending;

		pthread_mutex_unlock(&p->mu);
		free(j);
		if (stopping)
			return sl_err_set(err, SL_EINVAL, queue_key ? queue_key : "ledger pool",
			                  "ledger pool is stopping");
		return sl_err_set(err, SL_ELIMIT, queue_key ? queue_key : "ledger pool",
		                  "ledger work queue is full (%u jobs pending): try again later",
		                  pending);
	}
	p->pending++;
	jobs_push(&p->queue, j);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

unsigned sl_ledger_pool_pending(struct sl_ledger_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->mu);
	n = p->pending;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void sl_ledger_pool_free(struct sl_ledger_pool *p)
{
	struct job *finished, *queued;
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nworkers; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].thread, NULL);
	if (p->ev)
		event_free(p->ev);

	/* Every worker is gone: what ran gets its done first, then the queue, each in order. */
	pthread_mutex_lock(&p->mu);
	finished = p->finished.head;
	queued = p->queue.head;
	jobs_init(&p->finished);
	jobs_init(&p->queue);
	pthread_mutex_unlock(&p->mu);
	run_done(p, finished, false);
	run_done(p, queued, true);

	for (i = 0; i < p->nworkers; i++) {
		if (p->w[i].ctx && p->opts.ctx_free)
			p->opts.ctx_free(p->w[i].ctx, p->opts.hook_arg);
		sl_ledger_close(p->w[i].ledger);
	}
	close(p->pipe_rd);
	close(p->pipe_wr);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
