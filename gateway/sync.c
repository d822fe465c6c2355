/* sync.c — timers, pulls into the pipeline, and outbox workers for push destinations (MISP events
 * or STIX bundles, by connector). HTTP runs on the loop; every ledger call runs as a job on the
 * ledger pool's worker threads, so a slow database never stalls a transfer. */
#include "sync.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "decision.h"
#include "http_client.h"
#include "idlocal.h"
#include "ledger_pool.h"
#include "log.h"
#include "peer.h"
#include "peer_misp.h"
#include "peer_opencti.h"
#include "peer_taxii.h"
#include "pipeline.h"
#include "misp_sighting.h"
#include "stix2misp.h"

#define PUSH_IDLE_MS 5000u
#define LEASE_S 60u
#define BUSY_RETRY_MS 200u
/* Items of one pull queued for the pipeline before the pull pauses (and resumes from its cursor
 * once they are in): bounds memory whatever the peer has. */
#define PULL_INFLIGHT_MAX 16u

/* Threads. Everything in struct sl_sync and struct speer belongs to the loop thread. A job struct
 * belongs to its work function from submit until work returns, then to its done callback (the
 * pool orders the two). Work functions read only their job, the immutable config snapshot and the
 * policy (read-only once loaded), and use the worker's ledger. */

struct push_event {
	json_t *event; /* {"Event": ...} or a bundle */
	size_t *rows;  /* indexes into work[] settled by this push */
	size_t nrows;
	json_t *carried; /* [[id, modified], ...]: stored versions sent inside it, not in rows */
};

/* One outbox row's outcome, written by a settle job. */
struct settle_row {
	int64_t outbox_id;
	enum sl_peer_push_result res;
	char *msg;
	int retry_s;
};

struct pull_run;

struct speer {
	struct sl_sync *s;
	const struct sl_config_peer *cfg;
	const struct sl_peer_ops *ops;
	struct sl_peer *conn;
	char push_key[SL_LEDGER_POOL_KEY_MAX]; /* the pool queue of this destination's outbox */
	bool pull, push;
	struct sl_timer *poll_timer, *push_timer;
	struct sl_timer *renew_timer; /* renews the leases of the batches in hand */
	unsigned pull_failures;
	struct sl_breaker *breaker;
	struct sl_backoff_policy bp;
	struct sl_rng rng;
	struct pull_run *run; /* the pull in progress, NULL between pulls */
	/* the outbox batch being pushed (claimed by a claim job, then pushed from the loop) */
	bool claiming;
	struct claim_job *ready; /* the next batch, claimed while this one was pushed */
	struct sl_ledger_work *work;
	size_t nwork;
	bool *settled;
	struct push_event *evs;
	size_t nevs, ev_next;
	struct settle_row *pend; /* settled on the loop, not yet written */
	size_t npend;
	char *seen_uuid, *seen_ts; /* a MISP event pushed: raise its seen mark with the settle */
	json_t *carried;           /* versions pushed inside events: settled with the settle */
	uint64_t push_t0;          /* when the push in flight began (mono ms), for the debug log */
};

struct sl_sync {
	struct sl_evloop *loop;
	struct sl_config *cfg;
	struct sl_ledger *ledger; /* the loop's own connection: start-up and shutdown only */
	const struct sl_policy *policy;
	struct sl_ledger_pool *pool;
	struct sl_http_client *http;
	struct sl_sync_opts opts;
	struct speer *peers;
	size_t npeers;
	bool stopping;
	struct sl_sync_stats st;
};

/* The lease of claimed rows, in seconds. */
static int lease_s(const struct sl_sync *s)
{
	return (int)(s->opts.lease_s ? s->opts.lease_s : LEASE_S);
}

/* The connector of a peer kind; NULL for kinds `sluice run` does not sync (MISP feeds are read
 * with `sluice feed pull` and published with `sluice feed publish`). */
static const struct sl_peer_ops *ops_for(enum sl_peer_kind kind)
{
	switch (kind) {
	case SL_PEER_MISP:
		return sl_peer_misp_ops();
	case SL_PEER_OPENCTI:
		return sl_peer_opencti_ops();
	case SL_PEER_TAXII:
		return sl_peer_taxii_ops();
	default:
		return NULL;
	}
}

/* Per worker: a pipeline on the worker's connection. */
static void *wctx_new(struct sl_ledger *l, void *hook_arg, struct sl_err *err)
{
	const struct sl_sync *s = hook_arg;
	struct sl_pipeline *pipe = sl_pipeline_new(l, s->policy, err);
	size_t i;

	if (!pipe)
		return NULL;
	/* Destinations that are not push peers are served (TAXII partners of sluice's own server,
	 * feeds): their allowed versions go to their views, no outbox rows. */
	for (i = 0; i < sl_policy_dest_count(s->policy); i++) {
		const char *d = sl_policy_dest_name(sl_policy_dest_at(s->policy, i));
		const struct sl_config_peer *pc = sl_config_peer_by_name(s->cfg, d);
		if ((!pc || !ops_for(pc->kind) || !(pc->direction & SL_PEER_PUSH)) &&
		    sl_pipeline_set_pull(pipe, d, err) < 0) {
			sl_pipeline_free(pipe);
			return NULL;
		}
	}
	return pipe;
}

static void wctx_free(void *ctx, void *hook_arg)
{
	(void)hook_arg;
	sl_pipeline_free(ctx);
}

/* Monotonic milliseconds on any thread (job timings for the debug log). */
static long long thread_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono(const struct sl_sync *s)
{
	return sl_clock_mono_ms(sl_evloop_clock(s->loop));
}

static long long wall_s(const struct sl_sync *s)
{
	return (long long)(sl_clock_wall_ms(sl_evloop_clock(s->loop)) / 1000u);
}

static uint64_t poll_ms(const struct speer *p)
{
	return p->s->opts.poll_ms ? p->s->opts.poll_ms : (uint64_t)p->cfg->poll_interval_s * 1000u;
}

/* ---- status notes ---------------------------------------------------------------------------- */

/* What `sluice status` shows: (peer, "sync:<what>") = "<epoch seconds> <message>" in the cursor
 * table. Best effort: a lost note loses no work. */
struct note_job {
	char *peer, *stream, *pos;
};

static int note_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct note_job *j = arg;
	struct sl_ledger_cursor c = {j->peer, j->stream, j->pos};
	struct sl_err err = {0};

	(void)ctx;
	return sl_ledger_cursor_set(l, &c, &err);
}

static void note_done(void *arg, bool cancelled)
{
	struct note_job *j = arg;
	(void)cancelled;
	free(j->peer);
	free(j->stream);
	free(j->pos);
	free(j);
}

static void note(struct speer *p, const char *what, const char *fmt, ...) SL_PRINTF(3, 4);
static void note(struct speer *p, const char *what, const char *fmt, ...)
{
	char stream[64], pos[SL_ERR_MSG_MAX + 32];
	struct note_job *j;
	struct sl_err err = {0};
	va_list ap;
	int n;

	if (p->s->stopping || !(j = calloc(1, sizeof(*j))))
		return;
	snprintf(stream, sizeof(stream), "sync:%s", what);
	n = snprintf(pos, sizeof(pos), "%lld ", wall_s(p->s));
	va_start(ap, fmt);
	vsnprintf(pos + n, sizeof(pos) - (size_t)n, fmt, ap);
	va_end(ap);
	j->peer = strdup(p->cfg->name);
	j->stream = strdup(stream);
	j->pos = strdup(pos);
	if (!j->peer || !j->stream || !j->pos ||
	    sl_ledger_pool_submit(p->s->pool, p->push_key, note_work, note_done, j, &err) < 0)
		note_done(j, true);
}

/* ---- seen marks ------------------------------------------------------------------------------ */

/* The newest timestamp of MISP event uuid that sluice has taken in from any peer or pushed to any
 * peer, kept in the ledger's cursor table (peer SL_SYNC_SEEN_PEER, stream "misp-event:<uuid>").
 * MISP's own sync rule: same uuid and timestamp = same version. -1 when none. */
static long long seen_get(struct sl_ledger *l, const char *uuid)
{
	char stream[96], pos[32];
	struct sl_err err = {0};

	snprintf(stream, sizeof(stream), "misp-event:%s", uuid);
	if (sl_ledger_cursor_get(l, SL_SYNC_SEEN_PEER, stream, pos, sizeof(pos), &err) < 0)
		return -1;
	return strtoll(pos, NULL, 10);
}

/* MISP sends timestamps as strings of epoch seconds; some producers send numbers. */
static const char *ts_text(const json_t *v, char out[32])
{
	if (json_is_string(v) && strlen(json_string_value(v)) < 32)
		return strcpy(out, json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(out, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return out;
	}
	return NULL;
}

/* Only ever forward: an older version settled as "the peer has newer" must not lower it. */
static void seen_raise(struct sl_ledger *l, const char *uuid, const char *ts)
{
	char stream[96];
	struct sl_ledger_cursor c = {SL_SYNC_SEEN_PEER, stream, ts};
	struct sl_err err = {0};

	if (!uuid || !ts || strtoll(ts, NULL, 10) <= seen_get(l, uuid))
		return;
	snprintf(stream, sizeof(stream), "misp-event:%s", uuid);
	if (sl_ledger_cursor_set(l, &c, &err) < 0) {
		/* best effort: a lost mark costs one re-decision */
	}
}

/* ---- pull ------------------------------------------------------------------------------------ */

/* One pull of one peer: its items go to the pipeline as jobs on the peer's pool queue, in order. */
struct pull_run {
	struct speer *p;
	/* Worker side (the peer's jobs run one at a time, in order): set when a job could not
	 * commit (database lost); every later job of this pull then leaves its item alone, so the
	 * cursor never passes it. Read on the loop only in the last job's done. */
	bool aborted;
	struct sl_err abort_err;
	/* loop side */
	unsigned inflight;
	bool paused; /* the pull stopped itself for back-pressure: not a failure */
	bool took_in;
	/* the connector has finished: how, for the end job (queued once the pool has room) */
	bool ended;
	struct sl_err end_err;
	int64_t retry_after_ms;
};

enum pull_outcome { PULLED_IN, PULLED_ECHO, PULLED_FAILED, PULLED_PASSED, PULLED_SKIPPED };

struct pull_job {
	struct pull_run *run;
	const struct sl_config_peer *cfg;
	enum sl_peer_item_kind kind;
	json_t *item; /* owned: a copy; NULL = filtered out at the peer */
	char *origin, *position;
	long long now;
	/* results, for done */
	enum pull_outcome outcome;
	struct sl_pipeline_stats st;
	struct sl_err err;
	long long work_ms; /* time in the ledger worker, for the debug log */
};

static bool is_ref_key(const char *k)
{
	size_t n = strlen(k);
	return (n > 4 && strcmp(k + n - 4, "_ref") == 0) ||
	       (n > 5 && strcmp(k + n - 5, "_refs") == 0);
}

/* This version of the MISP event is already in: taken in from another peer (then every
 * destination but its origin was decided already, and deciding again would push it back to its
 * origin) or our own push read back. */
static bool is_echo(struct sl_ledger *l, const json_t *item)
{
	const json_t *ev = json_object_get(item, "Event");
	const char *uuid = json_string_value(json_object_get(ev, "uuid"));
	char ts[32];

	if (!uuid || !ts_text(json_object_get(ev, "timestamp"), ts))
		return false;
	return strtoll(ts, NULL, 10) <= seen_get(l, uuid);
}

/* Copy onto a sighting pulled alone what decides where it may go, from the object it sights (else
 * from that object's first MISP event): its markings and MISP distribution. Inside its event a
 * sighting is decided with the event's report as context; alone it has none, and unmarked it
 * would be refused everywhere a policy denies unmarked objects, or sent where the event may not
 * go. */
static void sighting_scope(struct sl_ledger *l, json_t *sg, const json_t *target)
{
	static const char *const keys[] = {"object_marking_refs", "x_misp_distribution",
	                                   "x_misp_sharing_group_uuid"};
	const char *tid = json_string_value(json_object_get(target, "id"));
	json_t *of = NULL, *report = NULL;
	struct sl_err err = {0};
	size_t i, k;
	const json_t *c;

	if (tid && (!json_object_get(target, "object_marking_refs") ||
	            !json_object_get(target, "x_misp_distribution"))) {
		of = sl_ledger_outbox_containers(l, &tid, 1, &err);
		json_array_foreach(json_object_get(of, tid), k, c)
		{
			const char *cid = json_string_value(c);
			if (cid && strncmp(cid, "report--", 8) == 0) {
				memset(&err, 0, sizeof(err));
				report = sl_ledger_get(l, cid, NULL, &err);
				break;
			}
		}
	}
	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const json_t *v = json_object_get(target, keys[i]);
		if (!v)
			v = json_object_get(report, keys[i]);
		if (v)
			json_object_set_new(sg, keys[i], json_deep_copy(v));
	}
	json_decref(report);
	json_decref(of);
}

/* A MISP sighting pulled on its own ({"Sighting": {..., "Attribute": {"uuid"}, "Event": {"uuid"}}}):
 * kept once per uuid, as MISP keeps sightings (a later copy, our own push read back included, is
 * passed over); mapped as misp2stix maps it inside its event, onto the attribute's indicator or
 * observed-data the ledger holds; into the pipeline with the cursor. 1 when passed over. */
static int take_sighting(struct sl_ledger *l, void *ctx, struct pull_job *j,
                         const struct sl_ledger_cursor *cur)
{
	const json_t *s = json_object_get(j->item, "Sighting");
	const char *su = json_string_value(json_object_get(s, "uuid"));
	const char *au = json_string_value(json_object_get(json_object_get(s, "Attribute"), "uuid"));
	char ids[4][SL_LEDGER_ID_MAX];
	const char *p[4] = {ids[0], ids[1], ids[2], ids[3]};
	json_t *known, *target, *sg, *bundle;
	bool has_ind, has_od;
	int rc;

	if (!au)
		au = json_string_value(json_object_get(s, "attribute_uuid"));
	if (!su || !au || strlen(su) != 36 || strlen(au) != 36)
		return 1;
	snprintf(ids[0], sizeof(ids[0]), "sighting--%s", su);
	snprintf(ids[1], sizeof(ids[1]), "opinion--%s", su);
	snprintf(ids[2], sizeof(ids[2]), "indicator--%s", au);
	snprintf(ids[3], sizeof(ids[3]), "observed-data--%s", au);
	/* one round trip: is the sighting held already, which objects did the attribute become */
	if (!(known = sl_ledger_known(l, p, 4, &j->err)))
		return j->err.code ? j->err.code : SL_EDB;
	has_ind = json_object_get(known, ids[2]) != NULL;
	has_od = json_object_get(known, ids[3]) != NULL;
	rc = json_object_get(known, ids[0]) || json_object_get(known, ids[1]) ||
	     (!has_ind && !has_od); /* held, or an attribute sluice does not hold: nothing to do */
	json_decref(known);
	if (rc)
		return 1;
	if (!(sg = sl_misp_sighting_to_stix(s, has_ind ? ids[2] : NULL, has_od ? ids[3] : NULL,
	                                    &j->err)))
		return j->err.code == SL_EUNSUPPORTED ? 1 : SL_EINVAL;
	if (!(target = sl_ledger_get(l, has_ind ? ids[2] : ids[3], NULL, &j->err))) {
		json_decref(sg);
		return j->err.code ? j->err.code : SL_EDB;
	}
	sighting_scope(l, sg, target);
	json_decref(target);
	bundle = json_pack("{s:s,s:s,s:[o]}", "type", "bundle", "id",
	                   "bundle--00000000-0000-4000-8000-000000000000", "objects", sg);
	if (!bundle)
		return sl_err_set(&j->err, SL_ENOMEM, j->cfg->name, "out of memory");
	rc = sl_pipeline_bundle(ctx, j->cfg->name, j->origin, bundle, cur, j->now, &j->st, &j->err);
	json_decref(bundle);
	return rc;
}

/* On a worker: one pulled item into the pipeline, the cursor with it. */
static int pull_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct pull_job *j = arg;
	struct sl_ledger_cursor cur = {j->cfg->name, SL_SYNC_STREAM, j->position};
	long long t0 = thread_ms();
	char uuid[64] = "", ts[32] = "";
	int rc;

	if (j->run->aborted) {
		j->outcome = PULLED_SKIPPED;
		return 0;
	}
	if (!j->item) {
		j->outcome = PULLED_PASSED;
		rc = sl_ledger_cursor_set(l, &cur, &j->err);
	} else if (j->kind == SL_PEER_ITEM_MISP_EVENT && is_echo(l, j->item)) {
		j->outcome = PULLED_ECHO;
		rc = sl_ledger_cursor_set(l, &cur, &j->err);
	} else if (j->kind == SL_PEER_ITEM_MISP_EVENT && json_object_get(j->item, "Sighting")) {
		rc = take_sighting(l, ctx, j, &cur);
		j->outcome = rc == 1 ? PULLED_PASSED : PULLED_IN;
		if (rc == 1) {
			rc = sl_ledger_cursor_set(l, &cur, &j->err);
		} else if (rc < 0 && rc != SL_EDB && rc != SL_ENOMEM) {
			/* quarantined (or unmappable): the rest of the peer's items go on */
			struct sl_err e2 = {0};
			j->outcome = PULLED_FAILED;
			rc = sl_ledger_cursor_set(l, &cur, &e2);
			if (rc < 0)
				j->err = e2;
		}
	} else {
		if (j->kind == SL_PEER_ITEM_STIX) {
			/* not recognised (the ledger failed): not taken in either, under the peer's
			 * ids it would be a second object; the item comes back */
			if (j->cfg->kind != SL_PEER_OPENCTI ||
			    (rc = sl_idlocal_bundle(l, j->cfg->name, j->item, &j->err)) >= 0)
				rc = sl_pipeline_bundle(ctx, j->cfg->name, j->origin, j->item, &cur,
				                        j->now, &j->st, &j->err);
		} else {
			const json_t *ev = json_object_get(j->item, "Event");
			const char *u = json_string_value(json_object_get(ev, "uuid"));
			snprintf(uuid, sizeof(uuid), "%s", u ? u : "");
			if (!ts_text(json_object_get(ev, "timestamp"), ts))
				ts[0] = '\0';
			/* the pipeline drops the event once mapped: not held while it is ingested
			 */
			rc = sl_pipeline_misp_event_take(ctx, j->cfg->name, &j->item, &cur, j->now,
			                                 &j->st, NULL, &j->err);
		}
		j->outcome = PULLED_IN;
		if (rc < 0 && rc != SL_EDB && rc != SL_ENOMEM) {
			/* quarantined by the pipeline; the rest of the peer's items go on */
			struct sl_err e2 = {0};
			j->outcome = PULLED_FAILED;
			rc = sl_ledger_cursor_set(l, &cur, &e2);
			if (rc < 0)
				j->err = e2;
		} else if (rc == 0 && j->kind == SL_PEER_ITEM_MISP_EVENT) {
			seen_raise(l, uuid[0] ? uuid : NULL, ts[0] ? ts : NULL);
		}
	}
	if (rc < 0) {
		/* nothing committed: the cursor stays before this item, and so must it for the rest
		 */
		j->run->aborted = true;
		j->run->abort_err = j->err;
		j->outcome = PULLED_SKIPPED;
	}
	j->work_ms = thread_ms() - t0;
	return rc;
}

static void pull_job_free(struct pull_job *j)
{
	json_decref(j->item);
	free(j->origin);
	free(j->position);
	free(j);
}

static void pull_done(void *arg, bool cancelled)
{
	struct pull_job *j = arg;
	struct pull_run *run = j->run;
	struct speer *p = run->p;

	run->inflight--;
	if (!cancelled && !p->s->stopping) {
		switch (j->outcome) {
		case PULLED_IN:
			p->s->st.events_in++;
			sl_debug(
			    "peer %s: took in %s: %zu objects, %zu new, %zu decisions in %lld ms",
			    p->cfg->name, j->origin ? j->origin : "an item", j->st.objects,
			    j->st.stored, j->st.allowed + j->st.changed + j->st.denied, j->work_ms);
			if (j->st.allowed || j->st.changed || j->st.denied)
				run->took_in = true;
			break;
		case PULLED_ECHO:
			p->s->st.events_echo++;
			break;
		case PULLED_FAILED:
			p->s->st.events_failed++;
			sl_log_err(SL_LOG_WARN, p->cfg->name, &j->err);
			break;
		default:
			break;
		}
	}
	pull_job_free(j);
}

static int on_pull_item(void *arg, const json_t *item, const char *origin, const char *position,
                        struct sl_err *err)
{
	struct speer *p = arg;
	struct pull_run *run = p->run;
	struct pull_job *j;
	int rc;

	if (run->inflight >= PULL_INFLIGHT_MAX) {
		run->paused = true;
		return sl_err_set(err, SL_ELIMIT, p->cfg->name,
		                  "pull paused: %u items wait for the ledger", run->inflight);
	}
	if (!(j = calloc(1, sizeof(*j))))
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	j->run = run;
	j->cfg = p->cfg;
	j->kind = p->ops->items;
	j->now = wall_s(p->s);
	j->item = item ? json_deep_copy(item) : NULL;
	j->origin = origin ? strdup(origin) : NULL;
	j->position = strdup(position ? position : "");
	if ((item && !j->item) || (origin && !j->origin) || !j->position) {
		pull_job_free(j);
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	}
	rc = sl_ledger_pool_submit(p->s->pool, p->cfg->name, pull_work, pull_done, j, err);
	if (rc < 0) {
		pull_job_free(j);
		if (rc == SL_ELIMIT)
			run->paused = true;
		return rc;
	}
	run->inflight++;
	return 0;
}

static void wake_pushers(struct sl_sync *s)
{
	size_t i;
	for (i = 0; i < s->npeers; i++)
		if (s->peers[i].push && s->peers[i].push_timer && !s->peers[i].work &&
		    !s->peers[i].claiming) /* not mid-batch */
			sl_timer_arm(s->peers[i].push_timer, 0);
}

/* The last job of a pull: after every item of it (same queue), it says how the pull ended. */
struct end_job {
	struct pull_run *run;
	const struct sl_config_peer *cfg;
	struct sl_err err; /* the connector's error; then the run's, when it aborted */
	int64_t retry_after_ms;
	long long now;
};

static int end_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct end_job *j = arg;
	char stream[64], pos[SL_ERR_MSG_MAX + 32];
	struct sl_ledger_cursor c = {j->cfg->name, stream, pos};
	struct sl_err err = {0};

	(void)ctx;
	if (j->run->aborted)
		j->err = j->run->abort_err;
	snprintf(stream, sizeof(stream), "sync:%s", j->err.code ? "pull-error" : "pull-ok");
	snprintf(pos, sizeof(pos), "%lld %s", j->now, j->err.code ? j->err.msg : "ok");
	return sl_ledger_cursor_set(l, &c, &err);
}

static void end_done(void *arg, bool cancelled)
{
	struct end_job *j = arg;
	struct pull_run *run = j->run;
	struct speer *p = run->p;
	uint64_t delay;

	if (cancelled || p->s->stopping) {
		free(run);
		p->run = NULL;
		free(j);
		return;
	}
	if (j->err.code == 0) {
		p->s->st.pulls_ok++;
		p->pull_failures = 0;
		/* paused for back-pressure: go on at once from the cursor its items committed */
		delay = run->paused ? 0 : poll_ms(p);
		sl_debug("peer %s: pull %s", p->cfg->name, run->paused ? "paused" : "done");
	} else {
		p->s->st.pulls_failed++;
		delay = sl_backoff_delay_ms(&p->bp, p->pull_failures, j->retry_after_ms, &p->rng);
		p->pull_failures++;
		sl_error("peer %s: pull failed (%s: %s); retry in %" PRIu64 " ms, cursor not moved",
		         p->cfg->name, j->err.where, j->err.msg, delay);
	}
	if (run->took_in)
		wake_pushers(p->s);
	free(run);
	p->run = NULL;
	free(j);
	sl_timer_arm(p->poll_timer, delay);
}

/* Queue the run's end job. When the pool is full (or memory short) try again from the poll timer:
 * the run's item jobs may still be queued and point at it, so it must not end here. */
static void submit_end(struct speer *p)
{
	struct pull_run *run = p->run;
	struct end_job *j = calloc(1, sizeof(*j));
	struct sl_err e = {0};

	if (!j) {
		sl_err_set(&e, SL_ENOMEM, p->cfg->name, "out of memory");
	} else {
		j->run = run;
		j->cfg = p->cfg;
		j->retry_after_ms = run->retry_after_ms;
		j->now = wall_s(p->s);
		j->err = run->end_err;
		if (sl_ledger_pool_submit(p->s->pool, p->cfg->name, end_work, end_done, j, &e) == 0)
			return;
		free(j);
	}
	sl_debug("peer %s: the end of the pull waits for the ledger pool (%s)", p->cfg->name,
	         e.msg);
	sl_timer_arm(p->poll_timer, BUSY_RETRY_MS);
}

static void on_pull_done(void *arg, const struct sl_err *err, int64_t retry_after_ms)
{
	struct speer *p = arg;
	struct pull_run *run = p->run;

	run->ended = true;
	run->retry_after_ms = retry_after_ms;
	if (err->code && !(run->paused && err->code == SL_ELIMIT))
		run->end_err = *err;
	submit_end(p);
}

/* The cursor is read on the peer's queue: after every job of the previous pull. */
struct start_job {
	struct speer *p;
	const struct sl_config_peer *cfg;
	int rc;
	struct sl_err err;
	char cursor[SL_SYNC_CURSOR_MAX];
};

static int start_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct start_job *j = arg;
	(void)ctx;
	j->rc = sl_ledger_cursor_get(l, j->cfg->name, SL_SYNC_STREAM, j->cursor, sizeof(j->cursor),
	                             &j->err);
	return j->rc == SL_ENOTFOUND ? 0 : j->rc;
}

static void start_done(void *arg, bool cancelled)
{
	struct start_job *j = arg;
	struct speer *p = j->p;
	struct sl_peer_pull_cb cb = {on_pull_item, on_pull_done, p};
	struct sl_err err = {0};

	if (cancelled || p->s->stopping) {
		free(p->run);
		p->run = NULL;
		free(j);
		return;
	}
	if (j->rc < 0 && j->rc != SL_ENOTFOUND) {
		on_pull_done(p, &j->err, -1);
	} else if (p->ops->busy(p->conn)) {
		/* a push started while the cursor was read: the connector does one thing at a
		 * time; nothing of this pull began, so try again shortly */
		free(p->run);
		p->run = NULL;
		sl_timer_arm(p->poll_timer, BUSY_RETRY_MS);
	} else if (p->ops->pull(p->conn, j->rc == 0 ? j->cursor : NULL, &cb, &err) < 0) {
		on_pull_done(p, &err, -1);
	}
	free(j);
}

static void on_poll(struct sl_timer *t, void *arg)
{
	struct speer *p = arg;
	struct start_job *j;
	struct sl_err err = {0};

	if (p->run && p->run->ended) {
		submit_end(p);
		return;
	}
	if (p->run || p->ops->busy(p->conn)) {
		sl_timer_arm(t, BUSY_RETRY_MS);
		return;
	}
	p->run = calloc(1, sizeof(*p->run));
	j = calloc(1, sizeof(*j));
	if (!p->run || !j) {
		free(p->run);
		free(j);
		p->run = NULL;
		sl_timer_arm(t, BUSY_RETRY_MS);
		return;
	}
	p->run->p = p;
	j->p = p;
	j->cfg = p->cfg;
	if (sl_ledger_pool_submit(p->s->pool, p->cfg->name, start_work, start_done, j, &err) < 0) {
		free(j);
		free(p->run);
		p->run = NULL;
		sl_timer_arm(t, BUSY_RETRY_MS);
	}
}

/* ---- push ------------------------------------------------------------------------------------ */

static void events_free(struct push_event *evs, size_t n)
{
	size_t i;
	for (i = 0; evs && i < n; i++) {
		json_decref(evs[i].event);
		json_decref(evs[i].carried);
		free(evs[i].rows);
	}
	free(evs);
}

static void pend_free(struct settle_row *r, size_t n)
{
	size_t i;
	for (i = 0; r && i < n; i++)
		free(r[i].msg);
	free(r);
}

static void batch_free(struct speer *p)
{
	events_free(p->evs, p->nevs);
	free(p->work);
	free(p->settled);
	p->evs = NULL;
	p->work = NULL;
	p->settled = NULL;
	p->nevs = p->nwork = p->ev_next = 0;
}

/* Write settled rows, all in one statement. */
static int settle_rows(struct sl_ledger *l, const struct settle_row *r, size_t n,
                       struct sl_err *err)
{
	struct sl_ledger_settle *rows = calloc(n ? n : 1, sizeof(*rows));
	size_t i;
	int rc;

	if (!rows)
		return sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
	for (i = 0; i < n; i++) {
		rows[i].outbox_id = r[i].outbox_id;
		rows[i].state = r[i].res == SL_PEER_PUSH_SENT    ? SL_LEDGER_SETTLE_SENT
		                : r[i].res == SL_PEER_PUSH_RETRY ? SL_LEDGER_SETTLE_FAILED
		                                                 : SL_LEDGER_SETTLE_PARKED;
		rows[i].msg = r[i].msg;
		rows[i].retry_after_s = r[i].retry_s;
	}
	rc = sl_ledger_outbox_settle_many(l, rows, n, err);
	free(rows);
	return rc;
}

/* The open rows of versions that went out inside an event (carried: [[id, modified], ...]). */
static int settle_carried(struct sl_ledger *l, const char *destination, const json_t *carried,
                          struct sl_err *err)
{
	size_t n = json_array_size(carried), i;
	const char **ids = calloc(n ? n : 1, sizeof(*ids)),
	           **mods = calloc(n ? n : 1, sizeof(*mods));
	const json_t *v;
	int rc;

	if (!ids || !mods) {
		free(ids);
		free(mods);
		return 0; /* the rows are claimed later and found sent then */
	}
	json_array_foreach(carried, i, v)
	{
		ids[i] = json_string_value(json_array_get(v, 0));
		mods[i] = json_string_value(json_array_get(v, 1));
	}
	rc = sl_ledger_outbox_sent_with(l, destination, ids, mods, n, NULL, err);
	free(ids);
	free(mods);
	return rc;
}

/* Settled rows are written by a job on the destination's queue (before its next claim). */
struct settle_job {
	struct sl_sync *s;
	const struct sl_config_peer *cfg;
	struct settle_row *rows;
	size_t n;
	char *seen_uuid, *seen_ts;
	json_t *carried;
	struct sl_err err; /* the first failure */
};

static int settle_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct settle_job *j = arg;
	int rc = 0;

	(void)ctx;
	/* A lost settle is not lost work: the lease runs out and the row is claimed again. */
	rc = settle_rows(l, j->rows, j->n, &j->err);
	if (rc == SL_ENOTFOUND)
		rc = 0; /* a row gone (erased) is settled enough; the others are written */
	if (rc == 0 && j->carried) /* not claimed again only to be found sent */
		rc = settle_carried(l, j->cfg->name, j->carried, &j->err);
	if (rc == 0 && j->seen_uuid) /* so that pulling the peer does not take our push back in */
		seen_raise(l, j->seen_uuid, j->seen_ts);
	return rc;
}

static void settle_job_free(struct settle_job *j)
{
	pend_free(j->rows, j->n);
	free(j->seen_uuid);
	free(j->seen_ts);
	json_decref(j->carried);
	free(j);
}

static void settle_done(void *arg, bool cancelled)
{
	struct settle_job *j = arg;

	if (cancelled && settle_work(j->s->ledger, NULL, j) < 0) {
		/* sluice is stopping: written now on the loop's own connection; j->err says */
	}
	if (j->err.code)
		sl_log_err(SL_LOG_ERROR, j->cfg->name, &j->err);
	settle_job_free(j);
}

/* Send what was settled so far to the ledger. */
static void flush_settles(struct speer *p)
{
	struct settle_job *j;
	struct sl_err err = {0};

	if (!p->npend && !p->seen_uuid && !p->carried)
		return;
	j = calloc(1, sizeof(*j));
	if (!j) {
		pend_free(p->pend, p->npend);
		goto out; /* the rows come back when their lease ends */
	}
	j->s = p->s;
	j->cfg = p->cfg;
	j->rows = p->pend;
	j->n = p->npend;
	j->seen_uuid = p->seen_uuid;
	j->seen_ts = p->seen_ts;
	j->carried = p->carried;
	p->seen_uuid = p->seen_ts = NULL;
	p->carried = NULL;
	if (p->s->stopping ||
	    sl_ledger_pool_submit(p->s->pool, p->push_key, settle_work, settle_done, j, &err) < 0)
		settle_done(j, true);
out:
	p->pend = NULL;
	p->npend = 0;
	free(p->seen_uuid);
	free(p->seen_ts);
	json_decref(p->carried);
	p->seen_uuid = p->seen_ts = NULL;
	p->carried = NULL;
}

static void settle(struct speer *p, size_t row, enum sl_peer_push_result res, const char *msg,
                   int retry_s)
{
	struct settle_row *r;

	if (p->settled[row])
		return;
	p->settled[row] = true;
	if (res == SL_PEER_PUSH_SENT)
		p->s->st.rows_sent++;
	r = realloc(p->pend, (p->npend + 1) * sizeof(*p->pend));
	if (!r)
		return; /* the row comes back when its lease ends */
	p->pend = r;
	r = &p->pend[p->npend++];
	r->outbox_id = p->work[row].outbox_id;
	r->res = res;
	r->msg = msg ? strdup(msg) : NULL;
	r->retry_s = retry_s;
}

static bool is_container(const char *id)
{
	return strncmp(id, "report--", 8) == 0 || strncmp(id, "grouping--", 10) == 0;
}

/* Every id o refers to (*_ref, *_refs, object_refs) into the set in (a JSON object). */
static void add_refs(json_t *in, const json_t *o)
{
	const char *k;
	json_t *v, *r;
	size_t i;

	json_object_foreach((json_t *)o, k, v)
	{
		if (!is_ref_key(k))
			continue;
		if (json_is_string(v))
			json_object_set_new(in, json_string_value(v), json_true());
		json_array_foreach(v, i, r)
		{
			if (json_is_string(r))
				json_object_set_new(in, json_string_value(r), json_true());
		}
	}
}

/* Whether o belongs with the objects in the set in: referred to by one of them, or a relationship
 * or sighting between them. */
static bool belongs(const json_t *o, const json_t *in)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *src = json_string_value(json_object_get(o, "source_ref"));
	const char *dst = json_string_value(json_object_get(o, "target_ref"));
	const char *of = json_string_value(json_object_get(o, "sighting_of_ref"));

	if (id && json_object_get(in, id))
		return true;
	if (src && dst && json_object_get(in, src) && json_object_get(in, dst))
		return true;
	return of && json_object_get(in, of);
}

/* The stored definitions of the MISP sharing groups that the objects of objs (an array or an
 * object of objects, may be NULL) and also (may be NULL) name: for sl_policy_ctx.sharing_groups,
 * so a destination that is a member by its organisation or server is found one (new reference;
 * NULL when the ledger cannot say, and then only a destination's list of groups makes it a
 * member: stricter, never laxer). */
static json_t *sg_directory(struct sl_ledger *l, const json_t *objs, const json_t *also)
{
	struct sl_err err = {0};
	json_t *dir = sl_ledger_sharing_groups_named(l, objs, also, NULL, &err);

	if (!dir)
		sl_warn("sharing groups of a rebuilt event: %s (members by organisation or server "
		        "are refused it)",
		        err.msg);
	return dir;
}

/* Add to objs what the container refers to and the batch does not hold (unchanged objects of an
 * edited event, or rows claimed in an earlier batch): their newest stored version, decided again
 * for this destination with the container as context, so a partial batch never sends a partial
 * event and nothing the policy withholds or redacts goes out as stored. */
static void add_stored_refs(struct sl_ledger *l, const struct sl_policy_dest *d, long long now,
                            const json_t *container, json_t *objs, json_t *carried)
{
	json_t *ids = json_array(), *ctx_c = json_pack("[O]", container), *id, *o;
	json_t *have = json_object(); /* ids objs holds: a hash, for events of 10,000s of refs */
	json_t *stored = NULL, *sgs = NULL;
	struct sl_policy_ctx ctx = {ctx_c, NULL, NULL, NULL};
	struct sl_err err = {0};
	const json_t *v;
	const char **want = NULL;
	size_t i, nwant = 0;

	if (!d || !ids || !ctx_c || !have)
		goto done;
	json_array_foreach(objs, i, o)
	{
		if (json_is_string(json_object_get(o, "id")))
			json_object_set_new(have, json_string_value(json_object_get(o, "id")),
			                    json_true());
	}
	json_array_extend(ids, json_object_get(container, "object_refs"));
	json_array_extend(ids, json_object_get(container, "object_marking_refs"));
	if ((v = json_object_get(container, "created_by_ref")) != NULL)
		json_array_append(ids, (json_t *)v);
	/* the missing ones, fetched in one round trip (an event may refer to 10,000s) */
	if (!(want = calloc(json_array_size(ids) + 1, sizeof(*want))))
		goto done;
	json_array_foreach(ids, i, id)
	{
		if (!json_is_string(id) || json_object_get(have, json_string_value(id)))
			continue;
		json_object_set_new(have, json_string_value(id), json_true());
		want[nwant++] = json_string_value(id);
	}
	if (!(stored = sl_ledger_outbox_newest(l, want, nwant, &err)))
		goto done;
	/* the groups the stored objects and the container name */
	ctx.sharing_groups = sgs = sg_directory(l, stored, container);
	for (i = 0; i < nwant; i++) {
		struct sl_policy_decision *dec;
		json_t *obj = json_object_get(stored, want[i]), *out;

		if (!obj)
			continue; /* e.g. a well-known TLP marking never stored */
		dec = sl_policy_decide_stix(d, obj, &ctx, now, &err);
		out = dec ? sl_policy_decision_take_object(dec) : NULL;
		if (out) {
			json_array_append_new(objs, out);
			if (carried)
				json_array_append_new(
				    carried,
				    json_pack("[s,O]", want[i], json_object_get(obj, "modified")));
		}
		sl_policy_decision_free(dec);
	}
done:
	free(want);
	json_decref(stored);
	json_decref(sgs);
	json_decref(ids);
	json_decref(ctx_c);
	json_decref(have);
}

/* The SCOs the observed-data of objs point at travel with them (their values are the event's
 * attributes): carried too, in the one version an SCO has in the ledger. */
static void carry_scos(const json_t *objs, json_t *carried)
{
	const json_t *o, *ref;
	size_t i, k;

	json_array_foreach(objs, i, o)
	{
		const char *type = json_string_value(json_object_get(o, "type"));

		if (!type || strcmp(type, "observed-data") != 0)
			continue;
		json_array_foreach(json_object_get(o, "object_refs"), k, ref)
		{
			if (json_is_string(ref))
				json_array_append_new(
				    carried, json_pack("[O,s]", ref, SL_LEDGER_SCO_MODIFIED));
		}
	}
}

/* A claim and the building of what to send, on a worker. */
struct claim_job {
	struct speer *p; /* for done only */
	const struct sl_config_peer *cfg;
	const struct sl_policy_dest *dest;
	enum sl_peer_item_kind kind;
	unsigned max;
	int lease_s;
	long long now;
	/* results */
	int rc;
	struct sl_err err;
	struct sl_ledger_work *work;
	size_t nwork;
	bool *settled;
	struct push_event *evs;
	size_t nevs;
	json_t **pay;           /* what to send for each claimed row (owned; NULL once taken) */
	struct settle_row *pre; /* rows settled while building, written at the end of the job */
	size_t npre, nsent_pre;
	long long claim_ms, build_ms; /* for the debug log */
	char **logs;                  /* messages for the loop to log */
	size_t nlogs;
};

static void claim_log(struct claim_job *j, const char *fmt, ...) SL_PRINTF(2, 3);
static void claim_log(struct claim_job *j, const char *fmt, ...)
{
	char buf[SL_ERR_MSG_MAX + 256];
	char **l = realloc(j->logs, (j->nlogs + 1) * sizeof(*j->logs));
	va_list ap;

	if (!l)
		return;
	j->logs = l;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((j->logs[j->nlogs] = strdup(buf)) != NULL)
		j->nlogs++;
}

/* Settle row i of the claim right away, on the worker's connection. */
static void claim_settle(struct sl_ledger *l, struct claim_job *j, size_t i,
                         enum sl_peer_push_result res, const char *msg, int retry_s)
{
	struct settle_row *r;

	(void)l;
	if (j->settled[i])
		return;
	j->settled[i] = true;
	if (res == SL_PEER_PUSH_SENT)
		j->nsent_pre++; /* counted as sent on the loop */
	r = &j->pre[j->npre++]; /* room for every claimed row */
	r->outbox_id = j->work[i].outbox_id;
	r->res = res;
	r->msg = msg ? strdup(msg) : NULL;
	r->retry_s = retry_s;
}

/* MISP decides "newer" by the event's timestamp: an event rebuilt because one of its objects
 * changed on its own (edited at OpenCTI) carries that object's newer timestamp, so it must carry it
 * too. */
static void bump_timestamp(json_t *ev)
{
	json_t *e = json_object_get(ev, "Event"), *a, *o;
	long long max = 0, t;
	size_t i, k;
	char ts[32];

	if (ts_text(json_object_get(e, "timestamp"), ts))
		max = strtoll(ts, NULL, 10);
	json_array_foreach(json_object_get(e, "Attribute"), i, a)
	{
		if (ts_text(json_object_get(a, "timestamp"), ts) &&
		    (t = strtoll(ts, NULL, 10)) > max)
			max = t;
	}
	json_array_foreach(json_object_get(e, "Object"), i, o)
	{
		json_array_foreach(json_object_get(o, "Attribute"), k, a)
		{
			if (ts_text(json_object_get(a, "timestamp"), ts) &&
			    (t = strtoll(ts, NULL, 10)) > max)
				max = t;
		}
	}
	snprintf(ts, sizeof(ts), "%lld", max);
	json_object_set_new(e, "timestamp", json_string(ts));
}

/* Whether a's modified is later than b's (RFC 3339 UTC, any number of fraction digits). */
static bool ts_after(const json_t *a, const json_t *b)
{
	const char *x = json_string_value(json_object_get(a, "modified"));
	const char *y = json_string_value(json_object_get(b, "modified"));
	size_t i;

	if (!x || !y)
		return false;
	/* the same up to the seconds compares as text; then the fractions digit by digit */
	for (i = 0; i < 19; i++) {
		if (!x[i] || !y[i] || x[i] != y[i])
			return x[i] && y[i] && x[i] > y[i];
	}
	x += 19;
	y += 19;
	x += *x == '.';
	y += *y == '.';
	for (;;) {
		int dx = isdigit((unsigned char)*x) ? *x++ - '0' : 0;
		int dy = isdigit((unsigned char)*y) ? *y++ - '0' : 0;
		if (dx != dy)
			return dx > dy;
		if (!isdigit((unsigned char)*x) && !isdigit((unsigned char)*y))
			return false;
	}
}

/* Rows of the batch that no container of the batch refers to but a stored report or grouping does
 * (an indicator edited at OpenCTI, a TAXII partner's new version of one object): MISP has no
 * place for them alone, so each such container is rebuilt as it stands — decided again for this
 * destination — with the new versions in it, and sent as an edit of its event. */
static void build_orphans(struct sl_ledger *l, struct claim_job *j, json_t **pay, bool *covered)
{
	json_t *by_container = json_object(), *rows, *cid, *of = NULL;
	const char *key, **ids = calloc(j->nwork + 1, sizeof(*ids));
	size_t i, k, nids = 0;
	struct sl_err oerr = {0};

	for (i = 0; ids && i < j->nwork; i++)
		if (pay[i] && !covered[i] && !is_container(j->work[i].id) &&
		    strncmp(j->work[i].id, "identity--", 10) != 0 &&
		    strncmp(j->work[i].id, "marking-definition--", 20) != 0)
			ids[nids++] = j->work[i].id;
	/* the events of every such row, in one round trip */
	if (nids && !(of = sl_ledger_outbox_containers(l, ids, nids, &oerr))) {
		/* not known which events they go in: they come back, never counted sent */
		claim_log(j, "%s: %s", oerr.where, oerr.msg);
		for (i = 0; i < j->nwork; i++)
			if (pay[i] && !covered[i] && !is_container(j->work[i].id))
				claim_settle(l, j, i, SL_PEER_PUSH_RETRY, oerr.msg, 5);
	}
	free(ids);
	for (i = 0; of && by_container && i < j->nwork; i++) {
		const json_t *cs;

		if (!pay[i] || covered[i] || is_container(j->work[i].id) ||
		    strncmp(j->work[i].id, "identity--", 10) == 0 ||
		    strncmp(j->work[i].id, "marking-definition--", 20) == 0)
			continue;
		cs = json_object_get(of, j->work[i].id);
		json_array_foreach(cs, k, cid)
		{
			const char *c = json_string_value(cid);
			if (!c)
				continue;
			if (!(rows = json_object_get(by_container, c))) {
				rows = json_array();
				json_object_set_new(by_container, c, rows);
			}
			json_array_append_new(rows, json_integer((json_int_t)i));
		}
	}
	json_decref(of);
	json_object_foreach(by_container, key, rows)
	{
		struct sl_err err = {0};
		json_t *stored = sl_ledger_get(l, key, NULL, &err), *ctx_c = json_array(), *objs,
		       *bundle, *ev, *idx;
		struct sl_policy_ctx ctx = {ctx_c, NULL, NULL, NULL};
		struct sl_policy_decision *dec;
		json_t *container = NULL;
		struct push_event *pe, *grown = realloc(j->evs, (j->nevs + 1) * sizeof(*j->evs));

		if (!grown) /* out of memory: the rows stay uncovered and are settled below */
			break;
		j->evs = grown;
		pe = &j->evs[j->nevs];
		memset(pe, 0, sizeof(*pe));
		/* a withdrawn event (its container revoked: deleted at the peer by its own row) has
		 * no place for them: they are settled with the rest below, never rebuilt into it */
		if (json_is_true(json_object_get(stored, "revoked"))) {
			json_decref(stored);
			json_decref(ctx_c);
			continue;
		}

		/* Only rows newer than the container's version changed on their own: the others
		 * came with that version, which its own row carries (earlier or later) with its
		 * stored refs; sending the event again would be refused as not newer. */
		if (stored) {
			size_t kept = 0;
			json_array_foreach(rows, k, idx)
			{
				size_t r = (size_t)json_integer_value(idx);
				/* a revocation (a deletion at OpenCTI: the last version plus
				 * 1 ms) is news whatever its timestamp */
				if (ts_after(pay[r], stored) ||
				    json_is_true(json_object_get(pay[r], "revoked")))
					json_array_set(rows, kept++, idx);
			}
			while (json_array_size(rows) > kept)
				json_array_remove(rows, kept);
		}
		if (stored && j->dest && json_array_size(rows)) {
			/* with its sharing group's members, as the pipeline decided it */
			json_t *sgs = sg_directory(l, NULL, stored);
			ctx.sharing_groups = sgs;
			dec = sl_policy_decide_stix(j->dest, stored, &ctx, j->now, &err);
			container = dec ? sl_policy_decision_take_object(dec) : NULL;
			sl_policy_decision_free(dec);
			json_decref(sgs);
		}
		json_decref(stored);
		json_decref(ctx_c);
		/* withheld from this destination: so are the rows */
		objs = container ? json_array() : NULL;
		pe->rows = objs ? calloc(j->nwork, sizeof(*pe->rows)) : NULL;
		if (!pe->rows) {
			json_decref(objs);
			json_decref(container);
			continue;
		}
		json_array_append(objs, container);
		json_array_foreach(rows, k, idx)
		{
			size_t r = (size_t)json_integer_value(idx);
			json_array_append(objs, pay[r]);
			pe->rows[pe->nrows++] = r;
		}
		pe->carried = json_array();
		add_stored_refs(l, j->dest, j->now, container, objs, pe->carried);
		carry_scos(objs, pe->carried);
		json_decref(container);
		bundle = json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
		                   "bundle--00000000-0000-4000-8000-000000000000", "objects", objs);
		memset(&err, 0, sizeof(err));
		ev = bundle ? sl_stix_to_misp(bundle, NULL, NULL, &err) : NULL;
		json_decref(bundle);
		if (!ev) {
			claim_log(j, "%s cannot be rebuilt as a MISP event (%s: %s)", key,
			          err.where, err.msg);
			json_decref(pe->carried);
			pe->carried = NULL;
			free(pe->rows);
			pe->rows = NULL;
			pe->nrows = 0;
			continue;
		}
		bump_timestamp(ev);
		for (k = 0; k < pe->nrows; k++)
			covered[pe->rows[k]] = true;
		pe->event = ev;
		j->nevs++;
	}
	json_decref(by_container);
}

/* Sightings (and false-positive opinions) of the batch that no event of the batch carries: a
 * partner saw an indicator of a MISP event, or a MISP peer's sighting came in alone. An event
 * edit cannot carry them (MISP applies an edit only with a newer event timestamp, and a sighting
 * does not change the event), so they go as MISP's own sync sends sightings: one
 * /sightings/bulkSaveSightings item per event holding their attributes (the event whose stored
 * report refers to the sighted object). One whose object is in no event has no place at a MISP
 * peer and is settled with the rest below. */
static void build_sightings(struct sl_ledger *l, struct claim_job *j, json_t **pay,
                            bool *covered)
{
	const char **targets = calloc(j->nwork + 1, sizeof(*targets));
	json_t **sg = calloc(j->nwork + 1, sizeof(*sg));
	json_t *of = NULL, *by_event = json_object(), *list;
	size_t i, k, n = 0;
	const char *key;
	struct sl_err err = {0};

	for (i = 0; targets && sg && i < j->nwork; i++) {
		const char *t = pay[i] && !covered[i]
		                    ? json_string_value(json_object_get(pay[i], "type"))
		                    : NULL;
		if (!t || (strcmp(t, "sighting") != 0 && strcmp(t, "opinion") != 0))
			continue;
		memset(&err, 0, sizeof(err));
		if (!(sg[i] = sl_stix_sighting_to_misp(pay[i], &err)))
			continue;
		targets[i] = strcmp(t, "sighting") == 0
		                 ? json_string_value(json_object_get(pay[i], "sighting_of_ref"))
		                 : json_string_value(
		                       json_array_get(json_object_get(pay[i], "object_refs"), 0));
		n++;
	}
	if (n) {
		const char **ids = calloc(n, sizeof(*ids));
		for (i = 0, k = 0; ids && i < j->nwork; i++)
			if (sg[i])
				ids[k++] = targets[i];
		memset(&err, 0, sizeof(err));
		if (!ids || !(of = sl_ledger_outbox_containers(l, ids, k, &err))) {
			/* not known which events they belong to: they come back later */
			claim_log(j, "sightings: %s", ids ? err.msg : "out of memory");
			for (i = 0; i < j->nwork; i++)
				if (sg[i]) {
					claim_settle(l, j, i, SL_PEER_PUSH_RETRY,
					             ids ? err.msg : "out of memory", 5);
					covered[i] = true;
				}
		}
		free(ids);
	}
	for (i = 0; of && by_event && i < j->nwork; i++) {
		const json_t *cid;
		const char *ev = NULL;

		if (!sg[i])
			continue;
		json_array_foreach(json_object_get(of, targets[i]), k, cid)
		{
			const char *c = json_string_value(cid);
			if (c && (strncmp(c, "report--", 8) == 0 || strncmp(c, "grouping--", 10) == 0)) {
				ev = strstr(c, "--") + 2;
				break;
			}
		}
		if (!ev)
			continue;
		if (!(list = json_object_get(by_event, ev))) {
			list = json_array();
			json_object_set_new(by_event, ev, list);
		}
		json_object_set_new(sg[i], "x_row", json_integer((json_int_t)i));
		json_array_append(list, sg[i]);
	}
	json_object_foreach(by_event, key, list)
	{
		struct push_event *pe, *grown = realloc(j->evs, (j->nevs + 1) * sizeof(*j->evs));
		json_t *s;

		if (!grown) /* out of memory: see below */
			break;
		j->evs = grown;
		pe = &j->evs[j->nevs];
		memset(pe, 0, sizeof(*pe));
		if (!(pe->rows = calloc(json_array_size(list), sizeof(*pe->rows))))
			break;
		json_array_foreach(list, k, s)
		{
			size_t r = (size_t)json_integer_value(json_object_get(s, "x_row"));
			json_object_del(s, "x_row");
			pe->rows[pe->nrows++] = r;
			covered[r] = true;
		}
		pe->event = json_pack("{s:{s:s,s:O}}", "x_sluice_sightings", "event_uuid", key,
		                      "Sighting", list);
		if (!pe->event) {
			for (k = 0; k < pe->nrows; k++) {
				claim_settle(l, j, pe->rows[k], SL_PEER_PUSH_RETRY, "out of memory", 5);
				covered[pe->rows[k]] = true;
			}
			free(pe->rows);
			pe->rows = NULL;
			break;
		}
		j->nevs++;
	}
	/* out of memory above: what was to go (x_row still set) comes back later, never as sent */
	for (i = 0; sg && i < j->nwork; i++) {
		if (sg[i] && !covered[i] && json_object_get(sg[i], "x_row")) {
			claim_settle(l, j, i, SL_PEER_PUSH_RETRY, "out of memory", 5);
			covered[i] = true;
		}
		json_decref(sg[i]);
	}
	free(sg);
	free(targets);
	json_decref(of);
	json_decref(by_event);
}

/* Group the claimed rows into MISP events: one per report/grouping version, holding the objects
 * it refers to (from the batch, else as stored). Objects of the batch that no container of the
 * batch refers to (identities, marking definitions, ...) have nothing to be sent alone: they are
 * settled sent. */
static void build_misp(struct sl_ledger *l, struct claim_job *j)
{
	size_t n = j->nwork ? j->nwork : 1, i, k, nerase = 0, *erase_rows = NULL;
	json_t *dels = NULL;
	json_t **pay = calloc(n, sizeof(*pay));
	bool *covered = calloc(n, sizeof(*covered));
	struct sl_err err = {0};

	j->evs = calloc(n, sizeof(*j->evs));
	if (!pay || !covered || !j->evs) {
		free(pay);
		free(covered);
		return; /* rows stay leased and come back */
	}
	for (i = 0; i < j->nwork; i++) {
		if (j->work[i].action != SL_LEDGER_DELIVER) {
			/* an erasure: the attribute of the same uuid goes (see below) */
			const char *u = strstr(j->work[i].id, "--");
			if (!dels)
				dels = json_array();
			if (!erase_rows)
				erase_rows = calloc(n, sizeof(*erase_rows));
			if (!u || !dels || !erase_rows) {
				claim_settle(l, j, i, SL_PEER_PUSH_RETRY, "out of memory", 5);
				continue;
			}
			json_array_append_new(dels, json_string(u + 2));
			erase_rows[nerase++] = i;
			continue;
		}
		pay[i] = j->pay[i];
		j->pay[i] = NULL;
		if (!pay[i]) {
			claim_log(j, "%s: its stored version cannot be read", j->work[i].id);
			claim_settle(l, j, i, SL_PEER_PUSH_RETRY, "stored version cannot be read",
			             5);
		}
	}
	for (i = 0; i < j->nwork; i++) {
		json_t *bundle, *objs, *ev;
		struct push_event *pe;

		if (!pay[i] || !is_container(j->work[i].id))
			continue;
		if (json_is_true(json_object_get(pay[i], "revoked"))) {
			/* the container withdrawn (a deletion at OpenCTI, a partner's revoked report):
			 * MISP has no revoked event; the event is deleted at the peer */
			const char *u = strstr(j->work[i].id, "--");
			pe = &j->evs[j->nevs];
			pe->rows = calloc(1, sizeof(*pe->rows));
			pe->event = pe->rows ? json_pack("{s:s}", "x_sluice_delete_event", u + 2) : NULL;
			if (!pe->event) {
				free(pe->rows);
				pe->rows = NULL;
				claim_settle(l, j, i, SL_PEER_PUSH_RETRY, "out of memory", 5);
			} else {
				pe->rows[pe->nrows++] = i;
				j->nevs++;
			}
			covered[i] = true;
			continue;
		}
		pe = &j->evs[j->nevs];
		pe->rows = calloc(j->nwork, sizeof(*pe->rows));
		objs = json_array();
		if (!pe->rows || !objs) {
			free(pe->rows);
			pe->rows = NULL;
			json_decref(objs);
			continue;
		}
		json_array_append(objs, pay[i]);
		pe->rows[pe->nrows++] = i;
		/* Only what belongs to this event: what the container refers to, what that refers
		 * to, and the relationships and sightings between them — never the batch's other
		 * payloads, which belong to other events (with other TLP and distribution). */
		{
			json_t *in = json_object();
			bool grew = true;
			json_t *taken = json_object();
			add_refs(in, pay[i]);
			while (in && taken && grew) {
				grew = false;
				for (k = 0; k < j->nwork; k++) {
					if (k == i || !pay[k] || is_container(j->work[k].id) ||
					    json_object_get(taken, j->work[k].id) ||
					    !belongs(pay[k], in))
						continue;
					json_object_set_new(taken, j->work[k].id, json_true());
					add_refs(in, pay[k]);
					json_array_append(objs, pay[k]);
					pe->rows[pe->nrows++] = k;
					covered[k] = true;
					grew = true;
				}
			}
			json_decref(in);
			json_decref(taken);
		}
		covered[i] = true;
		pe->carried = json_array();
		add_stored_refs(l, j->dest, j->now, pay[i], objs, pe->carried);
		carry_scos(objs, pe->carried);
		bundle = json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
		                   "bundle--00000000-0000-4000-8000-000000000000", "objects", objs);
		memset(&err, 0, sizeof(err));
		ev = bundle ? sl_stix_to_misp(bundle, NULL, NULL, &err) : NULL;
		json_decref(bundle);
		if (!ev) {
			for (k = 0; k < pe->nrows; k++)
				claim_settle(l, j, pe->rows[k], SL_PEER_PUSH_PERMANENT, err.msg, 0);
			claim_log(j, "%s cannot be rebuilt as a MISP event (%s: %s): parked",
			          j->work[i].id, err.where, err.msg);
			json_decref(pe->carried);
			pe->carried = NULL;
			free(pe->rows);
			pe->rows = NULL;
			pe->nrows = 0;
			continue;
		}
		pe->event = ev;
		j->nevs++;
	}
	build_orphans(l, j, pay, covered);
	build_sightings(l, j, pay, covered);
	/* Erasures (GDPR): MISP attributes carry the uuid of the STIX objects made from them, so
	 * every revoked id's uuid is erased at the peer (one that is not an attribute there is
	 * answered "Invalid attribute" and counts as gone). */
	if (nerase) {
		struct push_event *grown = realloc(j->evs, (j->nevs + 1) * sizeof(*j->evs));
		json_t *item = json_pack("{s:O}", "x_sluice_delete", dels);
		if (grown)
			j->evs = grown;
		if (!grown || !item) {
			json_decref(item);
			for (i = 0; i < nerase; i++)
				claim_settle(l, j, erase_rows[i], SL_PEER_PUSH_RETRY,
				             "out of memory", 5);
		} else {
			j->evs[j->nevs].event = item;
			j->evs[j->nevs].rows = erase_rows;
			j->evs[j->nevs].nrows = nerase;
			j->nevs++;
			erase_rows = NULL;
		}
	}
	json_decref(dels);
	free(erase_rows);
	for (i = 0; i < j->nwork; i++)
		if (pay[i] && !covered[i])
			claim_settle(l, j, i, SL_PEER_PUSH_SENT, NULL, 0);
	for (i = 0; i < j->nwork; i++)
		json_decref(pay[i]);
	free(pay);
	free(covered);
}

/* For a STIX peer the whole batch is one bundle: every claimed version as this destination may
 * see it, and the revocations as "x_sluice_delete" (peer.h). */
static void build_stix(struct sl_ledger *l, struct claim_job *j)
{
	json_t *objs = json_array(), *del = json_array(), *bundle;
	struct push_event *pe;
	size_t i;

	j->evs = calloc(1, sizeof(*j->evs));
	if (!j->evs || !objs || !del || !(j->evs->rows = calloc(j->nwork, sizeof(size_t))))
		goto fail; /* rows stay leased and come back */
	pe = j->evs;
	for (i = 0; i < j->nwork; i++) {
		json_t *pay;

		if (j->work[i].action == SL_LEDGER_REVOKE) {
			json_array_append_new(del, json_string(j->work[i].id));
			pe->rows[pe->nrows++] = i;
			continue;
		}
		pay = j->pay[i];
		j->pay[i] = NULL;
		if (!pay) {
			claim_log(j, "%s: its stored version cannot be read", j->work[i].id);
			claim_settle(l, j, i, SL_PEER_PUSH_RETRY, "stored version cannot be read",
			             5);
			continue;
		}
		json_array_append_new(objs, pay);
		pe->rows[pe->nrows++] = i;
	}
	if (pe->nrows == 0)
		goto fail;
	bundle = json_pack("{s:s,s:s,s:O}", "type", "bundle", "id",
	                   "bundle--00000000-0000-4000-8000-000000000000", "objects", objs);
	if (bundle && json_array_size(del))
		json_object_set(bundle, "x_sluice_delete", del);
	if (!bundle)
		goto fail;
	pe->event = bundle;
	j->nevs = 1;
	json_decref(objs);
	json_decref(del);
	return;
fail:
	json_decref(objs);
	json_decref(del);
	events_free(j->evs, j->evs && j->evs->rows ? 1 : 0);
	if (j->evs && !j->evs->rows)
		free(j->evs);
	j->evs = NULL;
}

static int claim_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct claim_job *j = arg;
	long long t0;

	(void)ctx;
	j->work = calloc(j->max, sizeof(*j->work));
	j->settled = calloc(j->max, sizeof(*j->settled));
	j->pay = calloc(j->max, sizeof(*j->pay));
	j->pre = calloc(j->max, sizeof(*j->pre));
	if (!j->work || !j->settled || !j->pay || !j->pre)
		return j->rc = sl_err_set(&j->err, SL_ENOMEM, j->cfg->name, "out of memory");
	t0 = thread_ms();
	j->rc = sl_ledger_outbox_claim_payloads(l, j->cfg->name, j->max, j->lease_s, j->work,
	                                        j->pay, &j->nwork, &j->err);
	j->claim_ms = thread_ms() - t0;
	if (j->rc < 0 || j->nwork == 0)
		return j->rc;
	t0 = thread_ms();
	if (j->kind == SL_PEER_ITEM_STIX)
		build_stix(l, j);
	else
		build_misp(l, j);
	if (j->npre) {
		struct sl_err err = {0};
		if (settle_rows(l, j->pre, j->npre, &err) < 0 && err.code != SL_ENOTFOUND)
			claim_log(j, "%s: %s", err.where, err.msg);
	}
	j->build_ms = thread_ms() - t0;
	return 0;
}

static void claim_job_free(struct claim_job *j)
{
	size_t i;
	events_free(j->evs, j->nevs);
	for (i = 0; j->pay && i < j->nwork; i++)
		json_decref(j->pay[i]);
	free(j->pay);
	pend_free(j->pre, j->npre);
	free(j->work);
	free(j->settled);
	for (i = 0; i < j->nlogs; i++)
		free(j->logs[i]);
	free(j->logs);
	free(j);
}

static void push_next(struct speer *p);
static void take_batch(struct speer *p, struct claim_job *j);
static bool start_claim(struct speer *p);

static void claim_done(void *arg, bool cancelled)
{
	struct claim_job *j = arg;
	struct speer *p = j->p;
	size_t i;

	p->claiming = false;
	for (i = 0; i < j->nlogs; i++)
		sl_error("peer %s: %s", p->cfg->name, j->logs[i]);
	if (cancelled || p->s->stopping) {
		/* Hand back what was claimed, so a restart need not wait out the lease (the job's
		 * own pre-settled rows were written by it). */
		struct settle_row *back = cancelled ? NULL : calloc(j->nwork + 1, sizeof(*back));
		size_t nback = 0;
		struct sl_err err = {0};

		for (i = 0; back && i < j->nwork; i++)
			if (!j->settled[i])
				back[nback++] = (struct settle_row){
				    j->work[i].outbox_id, SL_PEER_PUSH_RETRY,
				    (char *)"sluice stopped before it was sent", 0};
		if (nback && settle_rows(p->s->ledger, back, nback, &err) < 0)
			sl_log_err(SL_LOG_WARN, p->cfg->name, &err);
		free(back);
		claim_job_free(j);
		return;
	}
	/* With a batch in hand (this was the claim of the next one) the end of that batch
	 * arms the timer: armed now, it would push the batch in hand a second time. */
	if (j->rc < 0) {
		sl_log_err(SL_LOG_ERROR, p->cfg->name, &j->err);
		claim_job_free(j);
		if (!p->work)
			sl_timer_arm(p->push_timer, PUSH_IDLE_MS);
		return;
	}
	if (j->nwork == 0) {
		claim_job_free(j);
		if (!p->work)
			sl_timer_arm(p->push_timer, p->s->opts.push_idle_ms
			                                ? p->s->opts.push_idle_ms
			                                : PUSH_IDLE_MS);
		return;
	}
	sl_debug("peer %s: claimed %zu rows in %lld ms, built %zu items in %lld ms", p->cfg->name,
	         j->nwork, j->claim_ms, j->nevs, j->build_ms);
	if (p->work) {
		p->ready = j; /* pushed when the batch in hand is done */
		return;
	}
	take_batch(p, j);
}

/* Make j's claimed batch the one in hand and push it; while it goes out, a full batch of STIX
 * objects has the next one claimed and built (the ledger and the peer work at the same time). A
 * MISP destination waits: pushing an event settles rows a claim made now would hold. */
static void take_batch(struct speer *p, struct claim_job *j)
{
	bool full = j->nwork == sl_config_limits(p->s->cfg)->batch_size;

	p->s->st.rows_sent += j->nsent_pre;
	p->work = j->work;
	p->nwork = j->nwork;
	p->settled = j->settled;
	p->evs = j->evs;
	p->nevs = j->nevs;
	p->ev_next = 0;
	j->work = NULL;
	j->settled = NULL;
	j->evs = NULL;
	j->nevs = 0;
	claim_job_free(j);
	if (p->renew_timer && !sl_timer_pending(p->renew_timer))
		sl_timer_arm(p->renew_timer, (uint64_t)lease_s(p->s) * 1000u / 3u);
	if (full && p->ops->items == SL_PEER_ITEM_STIX &&
	    sl_breaker_state(p->breaker, mono(p->s)) != SL_BREAKER_OPEN)
		start_claim(p);
	push_next(p);
}

/* What a log line calls the pushed item: the MISP event uuid, or the batch size of a bundle. */
static const char *item_name(const struct speer *p, const struct push_event *pe, char buf[64])
{
	if (p->ops->items == SL_PEER_ITEM_STIX) {
		snprintf(buf, 64, "bundle of %zu objects", pe->nrows);
		return buf;
	}
	if (json_object_get(pe->event, "x_sluice_delete_event")) {
		snprintf(buf, 64, "deletion of event %.36s",
		         json_string_value(json_object_get(pe->event, "x_sluice_delete_event")));
		return buf;
	}
	if (json_object_get(pe->event, "x_sluice_sightings")) {
		snprintf(buf, 64, "%zu sightings of event %.36s", pe->nrows,
		         json_string_value(json_object_get(
		             json_object_get(pe->event, "x_sluice_sightings"), "event_uuid")));
		return buf;
	}
	if (!json_object_get(pe->event, "Event")) {
		snprintf(buf, 64, "erasure of %zu attributes", pe->nrows);
		return buf;
	}
	snprintf(buf, 64, "event %s",
	         json_string_value(json_object_get(json_object_get(pe->event, "Event"), "uuid")));
	return buf;
}

static void on_pushed(void *arg, enum sl_peer_push_result res, const struct sl_err *err,
                      int64_t retry_after_ms, const json_t *rejected)
{
	struct speer *p = arg;
	struct push_event *pe = &p->evs[p->ev_next];
	const json_t *ev = json_object_get(pe->event, "Event");
	uint64_t now = mono(p->s);
	size_t j;
	int retry_s = 0;
	char ts[32], name[64];

	item_name(p, pe, name);
	if (res == SL_PEER_PUSH_SENT) {
		sl_breaker_success(p->breaker, now);
		p->s->st.pushes_ok++;
		note(p, "push-ok", "%s", name);
		if (ev && ts_text(json_object_get(ev, "timestamp"), ts) &&
		    json_string_value(json_object_get(ev, "uuid"))) {
			free(p->seen_uuid);
			free(p->seen_ts);
			p->seen_uuid = strdup(json_string_value(json_object_get(ev, "uuid")));
			p->seen_ts = strdup(ts);
		}
		if (json_array_size(pe->carried)) {
			if (!p->carried)
				p->carried = json_array();
			json_array_extend(p->carried, pe->carried);
		}
		sl_debug("peer %s: pushed %s in %llu ms", p->cfg->name, name,
		         (unsigned long long)(now - p->push_t0));
	} else if (res == SL_PEER_PUSH_RETRY) {
		uint64_t d;
		sl_breaker_failure(p->breaker, now);
		p->s->st.pushes_failed++;
		d = sl_backoff_delay_ms(&p->bp, (unsigned)(p->work[pe->rows[0]].attempts - 1),
		                        retry_after_ms, &p->rng);
		retry_s = (int)((d + 999) / 1000);
		if (retry_s < 1)
			retry_s = 1;
		sl_error("peer %s: push of %s failed (%s); retry in %d s", p->cfg->name, name,
		         err->msg, retry_s);
		note(p, "push-error", "%s", err->msg);
	} else {
		sl_breaker_success(p->breaker, now); /* the peer answered */
		p->s->st.pushes_parked++;
		sl_error("peer %s: %s refused for good (%s): parked", p->cfg->name, name, err->msg);
		note(p, "push-error", "parked: %s", err->msg);
	}
	for (j = 0; j < pe->nrows; j++) {
		const char *why =
		    res == SL_PEER_PUSH_SENT
		        ? json_string_value(json_object_get(rejected, p->work[pe->rows[j]].id))
		        : NULL;
		if (why) {
			p->s->st.pushes_parked++;
			sl_error("peer %s: %s refused for good (%s): parked", p->cfg->name,
			         p->work[pe->rows[j]].id, why);
			settle(p, pe->rows[j], SL_PEER_PUSH_PERMANENT, why, 0);
		} else {
			settle(p, pe->rows[j], res, err->msg, retry_s);
		}
	}
	flush_settles(p);
	p->ev_next++;
	push_next(p);
}

static void push_next(struct speer *p)
{
	struct sl_err err = {0};

	while (p->ev_next < p->nevs) {
		struct push_event *pe = &p->evs[p->ev_next];
		size_t j;

		if (p->ops->busy(p->conn)) {
			/* a pull is in flight (the connector does one thing at a time): the batch
			 * waits, leased, and the push timer comes back for it */
			flush_settles(p);
			sl_timer_arm(p->push_timer, BUSY_RETRY_MS);
			return;
		}
		if (!sl_breaker_allow(p->breaker, mono(p->s))) {
			/* leave the rest for when the breaker lets a probe through */
			for (; p->ev_next < p->nevs; p->ev_next++)
				for (j = 0; j < p->evs[p->ev_next].nrows; j++)
					settle(p, p->evs[p->ev_next].rows[j], SL_PEER_PUSH_RETRY,
					       "circuit breaker open",
					       (int)(sl_breaker_wait_ms(p->breaker, mono(p->s)) /
					                 1000 +
					             1));
			break;
		}
		p->push_t0 = mono(p->s);
		if (p->ops->push(p->conn, pe->event, on_pushed, p, &err) == 0)
			return; /* on_pushed goes on */
		sl_breaker_failure(p->breaker, mono(p->s));
		sl_log_err(SL_LOG_ERROR, p->cfg->name, &err);
		for (j = 0; j < pe->nrows; j++)
			settle(p, pe->rows[j], SL_PEER_PUSH_RETRY, err.msg, 5);
		p->ev_next++;
	}
	flush_settles(p);
	{
		bool full = p->nwork == sl_config_limits(p->s->cfg)->batch_size;
		struct claim_job *next = p->ready;

		batch_free(p);
		p->ready = NULL;
		if (next)
			take_batch(p, next);
		else if (!p->claiming) /* else the claim in flight brings the next batch */
			sl_timer_arm(p->push_timer,
			             full ? 0
			                  : (p->s->opts.push_idle_ms ? p->s->opts.push_idle_ms
			                                             : PUSH_IDLE_MS));
	}
}

/* Lease renewal, on a worker: the claimed rows a push still has in hand. */
struct renew_job {
	const struct sl_config_peer *cfg;
	int64_t *ids;
	size_t n;
	int lease_s;
	struct sl_err err;
};

static int renew_work(struct sl_ledger *l, void *ctx, void *arg)
{
	struct renew_job *j = arg;

	(void)ctx;
	return sl_ledger_outbox_renew(l, j->ids, j->n, j->lease_s, NULL, &j->err);
}

static void renew_done(void *arg, bool cancelled)
{
	struct renew_job *j = arg;

	if (!cancelled && j->err.code) /* the rows come back when their lease ends */
		sl_log_err(SL_LOG_WARN, j->cfg->name, &j->err);
	free(j->ids);
	free(j);
}

/* Every third of a lease while a batch is in hand (a push in flight, a claimed-ahead batch
 * waiting for it), its unsettled rows' leases are renewed: a push that takes longer than the lease
 * (a slow peer, a long timeout) must not see its rows claimed again, by this gateway's next claim
 * or another gateway's. Renewals queue behind the destination's claims and settles, so a settle
 * always lands after the renewal before it. */
static void on_renew_timer(struct sl_timer *t, void *arg)
{
	struct speer *p = arg;
	struct claim_job *r = p->ready;
	struct renew_job *j;
	struct sl_err err = {0};
	size_t i, cap = p->nwork + (r ? r->nwork : 0);

	if (p->s->stopping || cap == 0)
		return; /* armed again when the next batch is taken */
	if (!(j = calloc(1, sizeof(*j))) || !(j->ids = malloc(cap * sizeof(*j->ids)))) {
		free(j);
		sl_timer_arm(t, (uint64_t)lease_s(p->s) * 1000u / 3u);
		return;
	}
	for (i = 0; i < p->nwork; i++)
		if (!p->settled[i])
			j->ids[j->n++] = p->work[i].outbox_id;
	for (i = 0; r && i < r->nwork; i++)
		if (!r->settled[i])
			j->ids[j->n++] = r->work[i].outbox_id;
	j->cfg = p->cfg;
	j->lease_s = lease_s(p->s);
	if (j->n == 0 ||
	    sl_ledger_pool_submit(p->s->pool, p->push_key, renew_work, renew_done, j, &err) < 0)
		renew_done(j, true);
	sl_timer_arm(t, (uint64_t)lease_s(p->s) * 1000u / 3u);
}

static void on_push_timer(struct sl_timer *t, void *arg)
{
	struct speer *p = arg;
	uint64_t now = mono(p->s);

	if (p->work && !p->ops->busy(p->conn)) {
		push_next(p); /* a batch that waited for a pull to end */
		return;
	}
	if (p->work || p->claiming || p->ops->busy(p->conn)) {
		sl_timer_arm(t, BUSY_RETRY_MS);
		return;
	}
	if (sl_breaker_state(p->breaker, now) == SL_BREAKER_OPEN) {
		sl_timer_arm(t, sl_breaker_wait_ms(p->breaker, now) + 1);
		return;
	}
	if (!start_claim(p))
		sl_timer_arm(t, BUSY_RETRY_MS);
}

/* Submit a claim job for p's next batch; false when it could not be. */
static bool start_claim(struct speer *p)
{
	struct sl_err err = {0};
	struct claim_job *j;

	if (p->claiming || p->s->stopping || !(j = calloc(1, sizeof(*j))))
		return false;
	j->p = p;
	j->cfg = p->cfg;
	j->dest = sl_policy_dest_find(p->s->policy, p->cfg->name);
	j->kind = p->ops->items;
	j->max = sl_config_limits(p->s->cfg)->batch_size;
	j->lease_s = lease_s(p->s);
	j->now = wall_s(p->s);
	if (sl_ledger_pool_submit(p->s->pool, p->push_key, claim_work, claim_done, j, &err) < 0) {
		claim_job_free(j);
		return false;
	}
	p->claiming = true;
	return true;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int peer_init(struct sl_sync *s, struct speer *p, const struct sl_config_peer *cfg,
                     struct sl_err *err)
{
	p->s = s;
	p->cfg = cfg;
	p->ops = ops_for(cfg->kind);
	snprintf(p->push_key, sizeof(p->push_key), "push:%s", cfg->name);
	p->conn = p->ops->create(cfg, s->http, err);
	if (!p->conn)
		return err->code ? err->code : SL_EINVAL;
	/* both keep timers of their own (status polls; a quiet stream) */
	if (cfg->kind == SL_PEER_TAXII)
		sl_peer_taxii_attach(p->conn, sl_evloop_base(s->loop));
	else if (cfg->kind == SL_PEER_OPENCTI)
		sl_peer_opencti_attach(p->conn, sl_evloop_base(s->loop));
	p->bp.base_ms = cfg->retry_base_ms;
	p->bp.cap_ms = cfg->retry_cap_ms;
	sl_rng_seed(&p->rng,
	            s->opts.seed ? s->opts.seed : sl_clock_wall_ms(sl_evloop_clock(s->loop)));
	p->breaker =
	    sl_breaker_new(cfg->breaker_failures, (uint64_t)cfg->breaker_cooldown_s * 1000u);
	p->pull = (cfg->direction & SL_PEER_PULL) != 0;
	/* a push peer needs a policy section saying what it may receive */
	p->push = (cfg->direction & SL_PEER_PUSH) != 0 && sl_policy_dest_find(s->policy, cfg->name);
	if ((cfg->direction & SL_PEER_PUSH) && !p->push)
		sl_warn(
		    "peer %s: direction includes push but the policy has no destination \"%s\": "
		    "nothing will be pushed to it",
		    cfg->name, cfg->name);
	if (p->pull)
		p->poll_timer = sl_timer_new(s->loop, false, on_poll, p);
	if (p->push) {
		p->push_timer = sl_timer_new(s->loop, false, on_push_timer, p);
		p->renew_timer = sl_timer_new(s->loop, false, on_renew_timer, p);
	}
	if (!p->breaker || (p->pull && !p->poll_timer) ||
	    (p->push && (!p->push_timer || !p->renew_timer)))
		return sl_err_set(err, SL_ENOMEM, cfg->name, "out of memory");
	if (p->poll_timer)
		sl_timer_arm(p->poll_timer, 0);
	if (p->push_timer)
		sl_timer_arm(p->push_timer, 0);
	return 0;
}

struct sl_sync *sl_sync_new(struct sl_evloop *loop, struct sl_config *cfg, struct sl_ledger *ledger,
                            const struct sl_policy *policy, const struct sl_sync_opts *opts,
                            struct sl_err *err)
{
	struct sl_sync *s = calloc(1, sizeof(*s));
	struct sl_ledger_pool_opts po = {0};
	size_t i, n = sl_config_npeers(cfg);

	if (!s) {
		sl_err_set(err, SL_ENOMEM, "sync", "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->cfg = sl_config_ref(cfg);
	s->ledger = ledger;
	s->policy = policy;
	if (opts)
		s->opts = *opts;
	s->peers = calloc(n ? n : 1, sizeof(*s->peers));
	if (!s->peers)
		goto fail;
	po.nworkers = s->opts.workers;
	po.ctx_new = wctx_new;
	po.ctx_free = wctx_free;
	po.hook_arg = s;
	s->pool = sl_ledger_pool_new(loop, ledger, &po, err);
	if (!s->pool)
		goto fail;
	s->http =
	    sl_http_client_new(sl_evloop_base(loop), sl_config_limits(cfg)->max_transfers, err);
	if (!s->http)
		goto fail;
	for (i = 0; i < n; i++) {
		const struct sl_config_peer *pc = sl_config_peer(cfg, i);
		if (!ops_for(pc->kind)) {
			sl_warn("peer %s: %s peers are not synced by `sluice run`", pc->name,
			        sl_config_peer_kind_name(pc->kind));
			continue;
		}
		if (pc->insecure_skip_verify)
			sl_warn("peer %s: TLS verification is off", pc->name);
		if (peer_init(s, &s->peers[s->npeers], pc, err) < 0) {
			s->npeers++;
			goto fail;
		}
		s->npeers++;
	}
	return s;
fail:
	sl_sync_free(s);
	return NULL;
}

void sl_sync_free(struct sl_sync *s)
{
	size_t i, j;

	if (!s)
		return;
	s->stopping = true;
	for (i = 0; i < s->npeers; i++) {
		struct speer *p = &s->peers[i];
		sl_timer_free(p->poll_timer);
		sl_timer_free(p->push_timer);
		sl_timer_free(p->renew_timer);
		p->poll_timer = p->push_timer = p->renew_timer = NULL;
		if (p->conn)
			p->ops->destroy(p->conn);
		p->conn = NULL;
		/* Hand back what this batch had not settled, so a restart need not wait out the
		 * lease; a push cancelled after the peer applied it is answered "not newer" next
		 * time. */
		for (j = 0; p->work && j < p->nwork; j++)
			settle(p, j, SL_PEER_PUSH_RETRY, "sluice stopped before it was sent", 0);
		flush_settles(p); /* written at once on the loop's connection: stopping */
		batch_free(p);
		if (p->ready) { /* the next batch too (claim_done hands it back: stopping) */
			struct claim_job *next = p->ready;
			p->ready = NULL;
			claim_done(next, false);
		}
	}
	/* Jobs running finish and their done callbacks see stopping; queued ones are cancelled. */
	sl_ledger_pool_free(s->pool);
	for (i = 0; i < s->npeers; i++) {
		struct speer *p = &s->peers[i];
		free(p->run);
		pend_free(p->pend, p->npend);
		free(p->seen_uuid);
		free(p->seen_ts);
		json_decref(p->carried);
		sl_breaker_free(p->breaker);
	}
	free(s->peers);
	sl_http_client_free(s->http);
	sl_config_unref(s->cfg);
	free(s);
}

void sl_sync_stats(const struct sl_sync *s, struct sl_sync_stats *out)
{
	*out = s->st;
}
