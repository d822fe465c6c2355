/* sync.c — timers, pulls into the pipeline, and outbox workers for push destinations (MISP events
 * or STIX bundles, by connector). Everything runs on the one loop; ledger calls are synchronous,
 * HTTP is not. */
#include "sync.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "decision.h"
#include "http_client.h"
#include "log.h"
#include "peer.h"
#include "peer_misp.h"
#include "peer_taxii.h"
#include "pipeline.h"
#include "stix2misp.h"

#define PUSH_IDLE_MS 5000u
#define LEASE_S 60u
#define BUSY_RETRY_MS 200u

struct push_event {
	json_t *event; /* {"Event": ...} */
	size_t *rows;  /* indexes into work[] settled by this push */
	size_t nrows;
};

struct speer {
	struct sl_sync *s;
	const struct sl_config_peer *cfg;
	const struct sl_peer_ops *ops;
	struct sl_peer *conn;
	bool pull, push;
	struct sl_timer *poll_timer, *push_timer;
	unsigned pull_failures;
	struct sl_breaker *breaker;
	struct sl_backoff_policy bp;
	struct sl_rng rng;
	bool took_in; /* the running pull stored something new */
	/* the outbox batch being pushed */
	struct sl_ledger_work *work;
	size_t nwork;
	bool *settled;
	struct push_event *evs;
	size_t nevs, ev_next;
};

struct sl_sync {
	struct sl_evloop *loop;
	struct sl_config *cfg;
	struct sl_ledger *ledger;
	const struct sl_policy *policy;
	struct sl_pipeline *pipe;
	struct sl_http_client *http;
	struct sl_sync_opts opts;
	struct speer *peers;
	size_t npeers;
	struct sl_sync_stats st;
};

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

/* What `sluice status` shows: (peer, "sync:<what>") = "<epoch seconds> <message>" in the cursor
 * table. Best effort: a lost note loses no work. */
static void note(struct speer *p, const char *what, const char *fmt, ...) SL_PRINTF(3, 4);
static void note(struct speer *p, const char *what, const char *fmt, ...)
{
	char stream[64], pos[SL_ERR_MSG_MAX + 32];
	struct sl_ledger_cursor c = {p->cfg->name, stream, pos};
	struct sl_err err = {0};
	va_list ap;
	int n;

	snprintf(stream, sizeof(stream), "sync:%s", what);
	n = snprintf(pos, sizeof(pos), "%lld ", wall_s(p->s));
	va_start(ap, fmt);
	vsnprintf(pos + n, sizeof(pos) - (size_t)n, fmt, ap);
	va_end(ap);
	if (sl_ledger_cursor_set(p->s->ledger, &c, &err) < 0)
		sl_log_err(SL_LOG_WARN, p->cfg->name, &err);
}

/* ---- pull ------------------------------------------------------------------------------------ */

/* The newest timestamp of MISP event uuid that sluice has taken in from any peer or pushed to any
 * peer, kept in the ledger's cursor table (peer SL_SYNC_SEEN_PEER, stream "misp-event:<uuid>").
 * MISP's own sync rule: same uuid and timestamp = same version. -1 when none. */
static long long seen_get(struct sl_sync *s, const char *uuid)
{
	char stream[96], pos[32];
	struct sl_err err = {0};

	snprintf(stream, sizeof(stream), "misp-event:%s", uuid);
	if (sl_ledger_cursor_get(s->ledger, SL_SYNC_SEEN_PEER, stream, pos, sizeof(pos), &err) < 0)
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
static void seen_raise(struct sl_sync *s, const char *uuid, const char *ts)
{
	char stream[96];
	struct sl_ledger_cursor c = {SL_SYNC_SEEN_PEER, stream, ts};
	struct sl_err err = {0};

	if (!uuid || !ts || strtoll(ts, NULL, 10) <= seen_get(s, uuid))
		return;
	snprintf(stream, sizeof(stream), "misp-event:%s", uuid);
	if (sl_ledger_cursor_set(s->ledger, &c, &err) < 0)
		sl_log_err(SL_LOG_WARN, "sync", &err);
}

/* This version of the event is already in: taken in from another peer (then every destination
 * but its origin was decided already, and deciding again would push it back to its origin) or
 * our own push read back. */
static bool is_echo(struct speer *p, const json_t *item)
{
	const json_t *ev = json_object_get(item, "Event");
	const char *uuid = json_string_value(json_object_get(ev, "uuid"));
	char ts[32];

	if (!uuid || !ts_text(json_object_get(ev, "timestamp"), ts))
		return false;
	return strtoll(ts, NULL, 10) <= seen_get(p->s, uuid);
}

/* OpenCTI's core extension, where its output keeps the other ids an object had. */
#define OCTI_CORE_EXT "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

/* The STIX id sluice knows foreign_id of peer by: the id map first, else one of the ids the peer
 * says the object had before (OpenCTI's x_opencti_stix_ids) that the ledger holds — remembered in
 * the id map from then on. NULL when the object is new to sluice (it keeps the peer's id). */
static const char *local_id(struct speer *p, const char *foreign_id, const json_t *obj,
                            char out[SL_LEDGER_ID_MAX])
{
	const json_t *c, *ids;
	struct sl_err err = {0};
	size_t i;

	if (sl_ledger_idmap_to_stix(p->s->ledger, p->cfg->name, foreign_id, out, SL_LEDGER_ID_MAX,
	                            &err) == 0)
		return out;
	ids = json_object_get(obj, "x_opencti_stix_ids");
	if (!ids) /* OpenCTI's own output form: its core extension */
		ids = json_object_get(
		    json_object_get(json_object_get(obj, "extensions"), OCTI_CORE_EXT), "stix_ids");
	json_array_foreach(ids, i, c)
	{
		const char *id = json_string_value(c);
		json_t *known;

		if (!id || strcmp(id, foreign_id) == 0 || strlen(id) >= SL_LEDGER_ID_MAX)
			continue;
		memset(&err, 0, sizeof(err));
		known = sl_ledger_get(p->s->ledger, id, NULL, &err);
		if (!known)
			continue;
		json_decref(known);
		memset(&err, 0, sizeof(err));
		if (sl_ledger_idmap_put(p->s->ledger, p->cfg->name, foreign_id, id, &err) < 0)
			sl_log_err(SL_LOG_WARN, p->cfg->name, &err);
		return strcpy(out, id);
	}
	return NULL;
}

static bool is_ref_key(const char *k)
{
	size_t n = strlen(k);
	return (n > 4 && strcmp(k + n - 4, "_ref") == 0) ||
	       (n > 5 && strcmp(k + n - 5, "_refs") == 0);
}

/* Give the objects of a peer that renames ids (OpenCTI) back the ids sluice knows them by: their
 * own id and every *_ref / *_refs value, so an edit at the peer is a new version of our object,
 * not a second object. */
static void localise_ids(struct speer *p, json_t *bundle)
{
	char buf[SL_LEDGER_ID_MAX];
	json_t *o, *v, *r;
	const char *k, *id;
	size_t i, j;

	json_array_foreach(json_object_get(bundle, "objects"), i, o)
	{
		if ((id = json_string_value(json_object_get(o, "id"))) != NULL &&
		    local_id(p, id, o, buf))
			json_object_set_new(o, "id", json_string(buf));
		json_object_foreach(o, k, v)
		{
			if (!is_ref_key(k))
				continue;
			if (json_is_string(v) && local_id(p, json_string_value(v), NULL, buf))
				json_string_set(v, buf);
			if (!json_is_array(v))
				continue;
			json_array_foreach(v, j, r)
			{
				if (json_is_string(r) &&
				    local_id(p, json_string_value(r), NULL, buf))
					json_string_set(r, buf);
			}
		}
	}
}

/* One pulled STIX bundle into the pipeline. A version the ledger has already (our own push read
 * back from a TAXII partner, the same object from two peers) is a no-op there; decisions are
 * recorded at most once per (destination, version). */
static int take_bundle(struct speer *p, const json_t *item, const char *origin,
                       const struct sl_ledger_cursor *cur, struct sl_err *err)
{
	struct sl_pipeline_stats st = {0};
	json_t *b = json_deep_copy(item);
	int rc;

	if (!b)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	if (p->cfg->kind == SL_PEER_OPENCTI)
		localise_ids(p, b);
	rc = sl_pipeline_bundle(p->s->pipe, p->cfg->name, origin, b, cur, wall_s(p->s), &st, err);
	json_decref(b);
	if (rc == SL_EDB || rc == SL_ENOMEM)
		return rc;
	if (rc < 0) {
		p->s->st.events_failed++;
		sl_log_err(SL_LOG_WARN, p->cfg->name, err);
		memset(err, 0, sizeof(*err));
		return sl_ledger_cursor_set(p->s->ledger, cur, err);
	}
	p->s->st.events_in++;
	if (st.allowed || st.changed || st.denied)
		p->took_in = true;
	return 0;
}

static int on_pull_item(void *arg, const json_t *item, const char *origin, const char *position,
                        struct sl_err *err)
{
	struct speer *p = arg;
	struct sl_ledger_cursor cur = {p->cfg->name, SL_SYNC_STREAM, position};
	struct sl_pipeline_stats st = {0};
	int rc;

	if (!item) /* filtered out by the peer block */
		return sl_ledger_cursor_set(p->s->ledger, &cur, err);
	if (p->ops->items == SL_PEER_ITEM_STIX)
		return take_bundle(p, item, origin, &cur, err);
	if (is_echo(p, item)) {
		p->s->st.events_echo++;
		return sl_ledger_cursor_set(p->s->ledger, &cur, err);
	}
	rc = sl_pipeline_misp_event(p->s->pipe, p->cfg->name, item, &cur, wall_s(p->s), &st, NULL,
	                            err);
	if (rc == SL_EDB || rc == SL_ENOMEM)
		return rc; /* nothing committed: stop, the cursor stays, the next pull retries */
	if (rc < 0) {
		/* quarantined by the pipeline; the rest of the peer's events go on */
		p->s->st.events_failed++;
		sl_log_err(SL_LOG_WARN, p->cfg->name, err);
		memset(err, 0, sizeof(*err));
		return sl_ledger_cursor_set(p->s->ledger, &cur, err);
	}
	p->s->st.events_in++;
	{
		const json_t *ev = json_object_get(item, "Event");
		char ts[32];
		seen_raise(p->s, json_string_value(json_object_get(ev, "uuid")),
		           ts_text(json_object_get(ev, "timestamp"), ts));
	}
	if (st.allowed || st.changed || st.denied)
		p->took_in = true;
	return 0;
}

static void wake_pushers(struct sl_sync *s)
{
	size_t i;
	for (i = 0; i < s->npeers; i++)
		if (s->peers[i].push && s->peers[i].push_timer &&
		    !s->peers[i].work) /* not mid-batch */
			sl_timer_arm(s->peers[i].push_timer, 0);
}

static void on_pull_done(void *arg, const struct sl_err *err, int64_t retry_after_ms)
{
	struct speer *p = arg;
	uint64_t delay;

	if (err->code == 0) {
		p->s->st.pulls_ok++;
		p->pull_failures = 0;
		delay = poll_ms(p);
		sl_debug("peer %s: pull done", p->cfg->name);
		note(p, "pull-ok", "ok");
	} else {
		p->s->st.pulls_failed++;
		delay = sl_backoff_delay_ms(&p->bp, p->pull_failures, retry_after_ms, &p->rng);
		p->pull_failures++;
		sl_error("peer %s: pull failed (%s: %s); retry in %" PRIu64 " ms, cursor not moved",
		         p->cfg->name, err->where, err->msg, delay);
		note(p, "pull-error", "%s", err->msg);
	}
	if (p->took_in)
		wake_pushers(p->s);
	p->took_in = false;
	sl_timer_arm(p->poll_timer, delay);
}

static void on_poll(struct sl_timer *t, void *arg)
{
	struct speer *p = arg;
	struct sl_peer_pull_cb cb = {on_pull_item, on_pull_done, p};
	struct sl_err err = {0};
	char cursor[SL_SYNC_CURSOR_MAX];
	int rc;

	if (p->ops->busy(p->conn)) {
		sl_timer_arm(t, BUSY_RETRY_MS);
		return;
	}
	rc = sl_ledger_cursor_get(p->s->ledger, p->cfg->name, SL_SYNC_STREAM, cursor,
	                          sizeof(cursor), &err);
	if (rc < 0 && rc != SL_ENOTFOUND) {
		on_pull_done(p, &err, -1);
		return;
	}
	memset(&err, 0, sizeof(err));
	p->took_in = false;
	if (p->ops->pull(p->conn, rc == 0 ? cursor : NULL, &cb, &err) < 0)
		on_pull_done(p, &err, -1);
}

/* ---- push ------------------------------------------------------------------------------------ */

static void batch_free(struct speer *p)
{
	size_t i;
	for (i = 0; i < p->nevs; i++) {
		json_decref(p->evs[i].event);
		free(p->evs[i].rows);
	}
	free(p->evs);
	free(p->work);
	free(p->settled);
	p->evs = NULL;
	p->work = NULL;
	p->settled = NULL;
	p->nevs = p->nwork = p->ev_next = 0;
}

static void settle(struct speer *p, size_t row, enum sl_peer_push_result res, const char *msg,
                   int retry_s)
{
	struct sl_err err = {0};
	int64_t id = p->work[row].outbox_id;
	int rc;

	if (p->settled[row])
		return;
	p->settled[row] = true;
	if (res == SL_PEER_PUSH_SENT) {
		rc = sl_ledger_outbox_sent(p->s->ledger, id, &err);
		p->s->st.rows_sent++;
	} else if (res == SL_PEER_PUSH_RETRY) {
		rc = sl_ledger_outbox_failed(p->s->ledger, id, msg, retry_s, &err);
	} else {
		rc = sl_ledger_outbox_parked(p->s->ledger, id, msg, &err);
	}
	/* A lost settle is not lost work: the lease runs out and the row is claimed again. */
	if (rc < 0)
		sl_log_err(SL_LOG_ERROR, p->cfg->name, &err);
}

static bool is_container(const char *id)
{
	return strncmp(id, "report--", 8) == 0 || strncmp(id, "grouping--", 10) == 0;
}

static bool refs_hold(const json_t *refs, const char *id)
{
	size_t i;
	json_t *r;
	json_array_foreach(refs, i, r) if (json_is_string(r) &&
	                                   strcmp(json_string_value(r), id) == 0) return true;
	return false;
}

static bool objs_hold(const json_t *objs, const char *id)
{
	size_t i;
	json_t *o;
	json_array_foreach(objs, i, o)
	{
		const char *oid = json_string_value(json_object_get(o, "id"));
		if (oid && strcmp(oid, id) == 0)
			return true;
	}
	return false;
}

/* Add to objs what the container refers to and the batch does not hold (unchanged objects of an
 * edited event, or rows claimed in an earlier batch): their newest stored version, decided again
 * for this destination with the container as context, so a partial batch never sends a partial
 * event and nothing the policy withholds or redacts goes out as stored. */
static void add_stored_refs(struct speer *p, const json_t *container, json_t *objs)
{
	const struct sl_policy_dest *d = sl_policy_dest_find(p->s->policy, p->cfg->name);
	json_t *ids = json_array(), *ctx_c = json_pack("[O]", container), *id;
	struct sl_policy_ctx ctx = {ctx_c, NULL, NULL};
	const json_t *v;
	size_t i;

	if (!d || !ids || !ctx_c)
		goto done;
	json_array_extend(ids, json_object_get(container, "object_refs"));
	json_array_extend(ids, json_object_get(container, "object_marking_refs"));
	if ((v = json_object_get(container, "created_by_ref")) != NULL)
		json_array_append(ids, (json_t *)v);
	json_array_foreach(ids, i, id)
	{
		struct sl_err err = {0};
		struct sl_policy_decision *dec;
		json_t *obj, *out;

		if (!json_is_string(id) || objs_hold(objs, json_string_value(id)))
			continue;
		obj = sl_ledger_get(p->s->ledger, json_string_value(id), NULL, &err);
		if (!obj)
			continue; /* e.g. a well-known TLP marking never stored */
		dec = sl_policy_decide_stix(d, obj, &ctx, wall_s(p->s), &err);
		out = dec ? sl_policy_decision_take_object(dec) : NULL;
		if (out)
			json_array_append_new(objs, out);
		sl_policy_decision_free(dec);
		json_decref(obj);
	}
done:
	json_decref(ids);
	json_decref(ctx_c);
}

/* Group the claimed rows into MISP events: one per report/grouping version, holding the objects
 * it refers to (from the batch, else as stored). Objects of the batch that no container of the
 * batch refers to (identities, marking definitions, ...) have nothing to be sent alone: they are
 * settled sent. */
static void batch_build(struct speer *p)
{
	json_t **pay = calloc(p->nwork ? p->nwork : 1, sizeof(*pay));
	bool *covered = calloc(p->nwork ? p->nwork : 1, sizeof(*covered));
	struct sl_err err = {0};
	size_t i, j;

	p->evs = calloc(p->nwork ? p->nwork : 1, sizeof(*p->evs));
	if (!pay || !covered || !p->evs) {
		free(pay);
		free(covered);
		return; /* rows stay leased and come back */
	}
	for (i = 0; i < p->nwork; i++) {
		if (p->work[i].action != SL_LEDGER_DELIVER) {
			settle(p, i, SL_PEER_PUSH_PERMANENT, "revoke is not supported for MISP yet",
			       0);
			continue;
		}
		pay[i] = sl_ledger_outbox_payload(p->s->ledger, p->work[i].outbox_id, &err);
		if (!pay[i]) {
			sl_log_err(SL_LOG_ERROR, p->cfg->name, &err);
			settle(p, i, SL_PEER_PUSH_RETRY, err.msg, 5);
		}
	}
	for (i = 0; i < p->nwork; i++) {
		const json_t *refs;
		json_t *bundle, *objs, *ev;
		struct push_event *pe;

		if (!pay[i] || !is_container(p->work[i].id))
			continue;
		refs = json_object_get(pay[i], "object_refs");
		pe = &p->evs[p->nevs];
		pe->rows = calloc(p->nwork, sizeof(*pe->rows));
		objs = json_array();
		if (!pe->rows || !objs) {
			free(pe->rows);
			pe->rows = NULL;
			json_decref(objs);
			continue;
		}
		json_array_append(objs, pay[i]);
		pe->rows[pe->nrows++] = i;
		for (j = 0; j < p->nwork; j++) {
			if (j == i || !pay[j] || is_container(p->work[j].id))
				continue;
			json_array_append(objs, pay[j]);
			if (refs_hold(refs, p->work[j].id)) {
				pe->rows[pe->nrows++] = j;
				covered[j] = true;
			}
		}
		covered[i] = true;
		add_stored_refs(p, pay[i], objs);
		bundle = json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
		                   "bundle--00000000-0000-4000-8000-000000000000", "objects", objs);
		memset(&err, 0, sizeof(err));
		ev = bundle ? sl_stix_to_misp(bundle, NULL, NULL, &err) : NULL;
		json_decref(bundle);
		if (!ev) {
			for (j = 0; j < pe->nrows; j++)
				settle(p, pe->rows[j], SL_PEER_PUSH_PERMANENT, err.msg, 0);
			sl_error("peer %s: %s cannot be rebuilt as a MISP event (%s: %s): parked",
			         p->cfg->name, p->work[i].id, err.where, err.msg);
			free(pe->rows);
			pe->rows = NULL;
			pe->nrows = 0;
			continue;
		}
		pe->event = ev;
		p->nevs++;
	}
	for (i = 0; i < p->nwork; i++)
		if (pay[i] && !covered[i])
			settle(p, i, SL_PEER_PUSH_SENT, NULL, 0);
	for (i = 0; i < p->nwork; i++)
		json_decref(pay[i]);
	free(pay);
	free(covered);
}

/* For a STIX peer the whole batch is one bundle: every claimed version as this destination may
 * see it, and the revocations as "x_sluice_delete" (peer.h). */
static void batch_build_stix(struct speer *p)
{
	json_t *objs = json_array(), *del = json_array(), *bundle;
	struct push_event *pe;
	struct sl_err err = {0};
	size_t i;

	p->evs = calloc(1, sizeof(*p->evs));
	if (!p->evs || !objs || !del || !(p->evs->rows = calloc(p->nwork, sizeof(size_t))))
		goto fail; /* rows stay leased and come back */
	pe = p->evs;
	for (i = 0; i < p->nwork; i++) {
		json_t *pay;

		if (p->work[i].action == SL_LEDGER_REVOKE) {
			json_array_append_new(del, json_string(p->work[i].id));
			pe->rows[pe->nrows++] = i;
			continue;
		}
		memset(&err, 0, sizeof(err));
		pay = sl_ledger_outbox_payload(p->s->ledger, p->work[i].outbox_id, &err);
		if (!pay) {
			sl_log_err(SL_LOG_ERROR, p->cfg->name, &err);
			settle(p, i, SL_PEER_PUSH_RETRY, err.msg, 5);
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
	p->nevs = 1;
	json_decref(objs);
	json_decref(del);
	return;
fail:
	json_decref(objs);
	json_decref(del);
	if (p->evs)
		free(p->evs->rows);
	free(p->evs);
	p->evs = NULL;
}

/* What a log line calls the pushed item: the MISP event uuid, or the batch size of a bundle. */
static const char *item_name(const struct speer *p, const struct push_event *pe, char buf[64])
{
	if (p->ops->items == SL_PEER_ITEM_STIX) {
		snprintf(buf, 64, "bundle of %zu objects", pe->nrows);
		return buf;
	}
	snprintf(buf, 64, "event %s",
	         json_string_value(json_object_get(json_object_get(pe->event, "Event"), "uuid")));
	return buf;
}

static void push_next(struct speer *p);

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
		/* so that pulling the peer does not take our own push back in */
		if (ev)
			seen_raise(p->s, json_string_value(json_object_get(ev, "uuid")),
			           ts_text(json_object_get(ev, "timestamp"), ts));
		sl_debug("peer %s: pushed %s", p->cfg->name, name);
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
	p->ev_next++;
	push_next(p);
}

static void push_next(struct speer *p)
{
	struct sl_err err = {0};

	while (p->ev_next < p->nevs) {
		struct push_event *pe = &p->evs[p->ev_next];
		size_t j;

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
		if (p->ops->push(p->conn, pe->event, on_pushed, p, &err) == 0)
			return; /* on_pushed goes on */
		sl_breaker_failure(p->breaker, mono(p->s));
		sl_log_err(SL_LOG_ERROR, p->cfg->name, &err);
		for (j = 0; j < pe->nrows; j++)
			settle(p, pe->rows[j], SL_PEER_PUSH_RETRY, err.msg, 5);
		p->ev_next++;
	}
	{
		bool full = p->nwork == sl_config_limits(p->s->cfg)->batch_size;
		batch_free(p);
		sl_timer_arm(
		    p->push_timer,
		    full ? 0 : (p->s->opts.push_idle_ms ? p->s->opts.push_idle_ms : PUSH_IDLE_MS));
	}
}

static void on_push_timer(struct sl_timer *t, void *arg)
{
	struct speer *p = arg;
	struct sl_err err = {0};
	unsigned max = sl_config_limits(p->s->cfg)->batch_size;
	uint64_t now = mono(p->s);

	if (p->work || p->ops->busy(p->conn)) {
		sl_timer_arm(t, BUSY_RETRY_MS);
		return;
	}
	if (sl_breaker_state(p->breaker, now) == SL_BREAKER_OPEN) {
		sl_timer_arm(t, sl_breaker_wait_ms(p->breaker, now) + 1);
		return;
	}
	p->work = calloc(max, sizeof(*p->work));
	p->settled = calloc(max, sizeof(*p->settled));
	if (!p->work || !p->settled ||
	    sl_ledger_outbox_claim(p->s->ledger, p->cfg->name, max,
	                           (int)(p->s->opts.lease_s ? p->s->opts.lease_s : LEASE_S),
	                           p->work, &p->nwork, &err) < 0) {
		if (err.code)
			sl_log_err(SL_LOG_ERROR, p->cfg->name, &err);
		batch_free(p);
		sl_timer_arm(t, PUSH_IDLE_MS);
		return;
	}
	if (p->nwork == 0) {
		batch_free(p);
		sl_timer_arm(t, p->s->opts.push_idle_ms ? p->s->opts.push_idle_ms : PUSH_IDLE_MS);
		return;
	}
	if (p->ops->items == SL_PEER_ITEM_STIX)
		batch_build_stix(p);
	else
		batch_build(p);
	push_next(p);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* The connector of a peer kind; NULL for kinds `sluice run` does not sync (MISP feeds are read
 * with `sluice feed pull` and published with `sluice feed publish`). */
static const struct sl_peer_ops *ops_for(enum sl_peer_kind kind)
{
	switch (kind) {
	case SL_PEER_MISP:
		return sl_peer_misp_ops();
	case SL_PEER_TAXII:
		return sl_peer_taxii_ops();
	default:
		return NULL;
	}
}

static int peer_init(struct sl_sync *s, struct speer *p, const struct sl_config_peer *cfg,
                     struct sl_err *err)
{
	p->s = s;
	p->cfg = cfg;
	p->ops = ops_for(cfg->kind);
	p->conn = p->ops->create(cfg, s->http, err);
	if (!p->conn)
		return err->code ? err->code : SL_EINVAL;
	if (cfg->kind == SL_PEER_TAXII)
		sl_peer_taxii_attach(p->conn, sl_evloop_base(s->loop));
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
	if (p->push)
		p->push_timer = sl_timer_new(s->loop, false, on_push_timer, p);
	if (!p->breaker || (p->pull && !p->poll_timer) || (p->push && !p->push_timer))
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
	s->pipe = sl_pipeline_new(ledger, policy, err);
	if (!s->peers || !s->pipe)
		goto fail;
	s->http =
	    sl_http_client_new(sl_evloop_base(loop), sl_config_limits(cfg)->max_transfers, err);
	if (!s->http)
		goto fail;
	/* Destinations that are not push peers are served (TAXII partners, feeds): no outbox rows.
	 */
	for (i = 0; i < sl_policy_dest_count(policy); i++) {
		const char *d = sl_policy_dest_name(sl_policy_dest_at(policy, i));
		const struct sl_config_peer *pc = sl_config_peer_by_name(cfg, d);
		if ((!pc || !ops_for(pc->kind) || !(pc->direction & SL_PEER_PUSH)) &&
		    sl_pipeline_set_pull(s->pipe, d, err) < 0)
			goto fail;
	}
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
	for (i = 0; i < s->npeers; i++) {
		struct speer *p = &s->peers[i];
		sl_timer_free(p->poll_timer);
		sl_timer_free(p->push_timer);
		if (p->conn)
			p->ops->destroy(p->conn);
		/* Hand back what this batch had not settled, so a restart need not wait out the
		 * lease; a push cancelled after the peer applied it is answered "not newer" next
		 * time. */
		for (j = 0; p->work && j < p->nwork; j++)
			settle(p, j, SL_PEER_PUSH_RETRY, "sluice stopped before it was sent", 0);
		batch_free(p);
		sl_breaker_free(p->breaker);
	}
	free(s->peers);
	sl_http_client_free(s->http);
	sl_pipeline_free(s->pipe);
	sl_config_unref(s->cfg);
	free(s);
}

void sl_sync_stats(const struct sl_sync *s, struct sl_sync_stats *out)
{
	*out = s->st;
}
