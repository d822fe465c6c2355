/* ledger_pool.h — ledger work off the event loop: a few worker threads, each with its own ledger
 * connection, run jobs in per-key order and hand each job's completion back to the loop thread.
 *
 * Threads: sl_ledger_pool_new, _free and every done callback run on the loop thread (the one that
 * runs sl_evloop_run). A work function runs on a worker thread and may touch only its arguments:
 * the worker's ledger, the worker's ctx and the job's arg, which belongs to the job from submit
 * until done is called (the pool orders the work call before done: no lock needed for arg).
 * sl_ledger_pool_submit may be called from any thread (from a done callback that _free runs it
 * fails with SL_EINVAL); never after _free has returned. */
#ifndef SL_LEDGER_POOL_H
#define SL_LEDGER_POOL_H

#include <stdbool.h>

#include "err.h"
#include "evloop.h"
#include "ledger.h"

struct sl_ledger_pool;

#define SL_LEDGER_POOL_MAX_WORKERS 32u
#define SL_LEDGER_POOL_KEY_MAX                                                                     \
	256u /* queue keys are peer names: same bound as SL_LEDGER_ID_MAX                          \
	      */

/* Runs on a worker thread. Returns 0 or a negative sl_err_code; the pool reads it only to renew
 * the worker's connection after SL_EDB (the next job then gets a fresh connection and ctx). The
 * job reports its outcome to its caller through arg; the pool never retries a job. */
typedef int (*sl_ledger_pool_work)(struct sl_ledger *l, void *ctx, void *arg);
/* Runs on the loop thread, exactly once per submitted job: after work (cancelled false), or
 * without work having run when the pool was freed first (cancelled true). */
typedef void (*sl_ledger_pool_done)(void *arg, bool cancelled);

struct sl_ledger_pool_opts {
	unsigned nworkers; /* threads and connections; 0 = 2 */
	unsigned max_jobs; /* jobs submitted whose done has not run yet; 0 = 256 */
	/* Optional per-worker state built on the worker's connection (e.g. an sl_pipeline on it):
	 * ctx_new is called at _new for every worker and again, on the worker thread, when the
	 * worker renews its connection; ctx_free at _free and when replaced. Both may run on any
	 * thread and must touch only their arguments and hook_arg (read-only). */
	void *(*ctx_new)(struct sl_ledger *l, void *hook_arg, struct sl_err *err);
	void (*ctx_free)(void *ctx, void *hook_arg);
	void *hook_arg;
};

/* Opens nworkers connections with proto's parameters (sl_ledger_open_sibling; proto is only read
 * here and not kept) and starts the workers. loop is borrowed and must outlive the pool. opts may
 * be NULL (defaults). NULL with err filled when a connection, a ctx or a thread cannot be made. */
struct sl_ledger_pool *sl_ledger_pool_new(struct sl_evloop *loop, struct sl_ledger *proto,
                                          const struct sl_ledger_pool_opts *opts,
                                          struct sl_err *err) SL_MUSTCHECK;

/* Queue work(l, ctx, arg) on a worker; done(arg, ...) follows on the loop thread. Jobs with the
 * same queue_key (e.g. a peer name, copied) run one at a time in submission order, and their done
 * callbacks run in that order too; jobs of different keys may run at once. queue_key NULL = no
 * order with any other job. SL_ELIMIT when max_jobs are pending (back-pressure: submit again after
 * some done ran), SL_EINVAL for a key longer than SL_LEDGER_POOL_KEY_MAX or a stopping pool;
 * then neither work nor done will be called. */
int sl_ledger_pool_submit(struct sl_ledger_pool *p, const char *queue_key, sl_ledger_pool_work work,
                          sl_ledger_pool_done done, void *arg, struct sl_err *err) SL_MUSTCHECK;

/* Jobs submitted whose done has not run yet (any thread). */
unsigned sl_ledger_pool_pending(struct sl_ledger_pool *p);

/* Stop: no more submits; running jobs finish (this waits for them), their done runs with
 * cancelled false; queued jobs are dropped, their done runs with cancelled true, in submission
 * order; threads are joined, ctxs freed and connections closed. Call on the loop thread, not from
 * inside a done callback. NULL is a no-op. */
void sl_ledger_pool_free(struct sl_ledger_pool *p);

#endif
