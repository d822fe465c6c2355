/* peer_opencti.c — OpenCTI connector: the live stream (SSE) pulled from a resumable position until
 * caught up, and bundles pushed with stixBundlePush plus delete mutations. One request in flight
 * per connector; every answer is checked for status, JSON, GraphQL errors and shape. */
#include "peer_opencti.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backoff.h"
#include "json.h"
#include "stix_id.h"

/* OpenCTI's core extension (research note §4): its output keeps internal fields there. */
#define EXT_CORE "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"
#define SID_MAX 48  /* "<ms>-<seq>" */
#define DATE_MAX 40 /* an ISO date */
#define POS_MAX (SID_MAX + DATE_MAX + 2)
#define RAW_KEEP 4096 /* bytes of a bad event kept for the quarantine */

/* The namespace of the ids sluice derives here (connector id, bundle ids): uuid5(OASIS SCO ns,
 * "sluice-opencti"), fixed so a connector keeps its id across restarts. */
static const unsigned char sluice_ns[16] = {0x4f, 0x6e, 0x61, 0x2c, 0x8b, 0x1e, 0x5d, 0x33,
                                            0x9a, 0x70, 0x1c, 0x52, 0xe4, 0x0b, 0x6d, 0x11};

/* STOP_RECOVER: the stream no longer holds what follows our position (trimmed): read again with
 * recover from the position up to now. */
enum stop { STOP_NONE, STOP_CAUGHT_UP, STOP_ERROR, STOP_RECOVER };
enum pstep { PS_ME, PS_REGISTER, PS_BUNDLE, PS_DELETE };

struct sl_peer {
	const struct sl_config_peer *cfg;
	struct sl_http_client *http;
	struct event_base *base; /* lent by sl_peer_opencti_attach; may be NULL */
	struct event *timer;     /* quiet / stall timer of a pull */
	struct sl_http_xfer *xfer;
	char *auth; /* "Authorization: Bearer <key>", wiped on destroy */
	char connector_id[37];
	char me[128]; /* our OpenCTI user id, "" until asked */
	bool registered;
	/* pull */
	bool pulling;
	struct sl_peer_pull_cb pcb;
	char from[SID_MAX];     /* live: Last-Event-ID; backfill: from */
	char recover[DATE_MAX]; /* "" = live */
	char pos[POS_MAX];      /* the position handed over last (or the start) */
	char last_sid[SID_MAX]; /* the last live event id taken */
	char connect_last[SID_MAX];
	bool connected, got_event;
	bool since_heartbeat; /* a data event came since the last heartbeat (or connected) */
	bool recovered_gap;   /* this pull already fell back to recover once */
	unsigned nevents;
	enum stop stop;
	struct sl_err stop_err;
	/* push */
	bool pushing;
	enum pstep pstep;
	json_t *chunks; /* serialized bundles to stixBundlePush, in order */
	size_t next_chunk;
	json_t *dels; /* [[id, stix type], ...] to delete */
	size_t next_del, batch;
	json_t *rejected;
	bool reregistered;
	sl_peer_push_done pdone;
	void *parg;
};

/* ---- small helpers --------------------------------------------------------------------------- */

/* A stream event id "<ms>-<seq>" (or "<ms>"). 0, or -1 when it is not one. */
static int sid_parse(const char *s, unsigned long long *ms, unsigned long long *seq)
{
	char *end;

	if (!s || !isdigit((unsigned char)*s) || strlen(s) >= SID_MAX)
		return -1;
	*ms = strtoull(s, &end, 10);
	*seq = 0;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return -1;
		*seq = strtoull(end + 1, &end, 10);
	}
	return *end ? -1 : 0;
}

static int sid_cmp(const char *a, const char *b)
{
	unsigned long long am, as, bm, bs;

	if (sid_parse(a, &am, &as) < 0 || sid_parse(b, &bm, &bs) < 0)
		return 0;
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

static void iso_ms(long long ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* A STIX timestamp -> epoch ms (sub-millisecond digits dropped); -1 when it is not one. */
static long long stix_ms(const char *s)
{
	struct tm tm = {0};
	int Y, M, D, h, m, sec, n = 0, ms = 0, digits = 0;
	const char *c;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 ||
	    n != 19)
		return -1;
	c = s + n;
	if (*c == '.')
		for (c++; isdigit((unsigned char)*c); c++)
			if (digits++ < 3)
				ms = ms * 10 + (*c - '0');
	while (digits > 0 && digits < 3) {
		ms *= 10;
		digits++;
	}
	if (strcmp(c, "Z") != 0)
		return -1;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	return (long long)timegm(&tm) * 1000 + ms;
}

static bool date_ok(const char *s)
{
	return s && *s && strlen(s) < DATE_MAX && strspn(s, "0123456789-:.TZ") == strlen(s);
}

/* Whether s contains w, ignoring case. */
static bool has_words(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (; *s; s++)
		if (strncasecmp(s, w, n) == 0)
			return true;
	return false;
}

static const char *str_of(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- requests -------------------------------------------------------------------------------- */

static int base_url(const struct sl_peer *p, char *out, size_t n, const char *path,
                    struct sl_err *err)
{
	const char *base = p->cfg->url;
	size_t bl = strlen(base);

	while (bl && base[bl - 1] == '/')
		bl--;
	if (snprintf(out, n, "%.*s%s", (int)bl, base, path) >= (int)n)
		return sl_err_set(err, SL_ELIMIT, p->cfg->name, "%s: URL too long", path);
	return 0;
}

/* POST /graphql {query, variables (stolen)}. */
static int gql_start(struct sl_peer *p, const char *what, const char *query, json_t *vars,
                     sl_http_done_cb cb, struct sl_err *err)
{
	static const char *const hdrs[] = {"Accept: application/json",
	                                   "Content-Type: application/json"};
	struct sl_http_request req = {0};
	json_t *doc =
	    json_pack("{s:s,s:o}", "query", query, "variables", vars ? vars : json_object());
	char url[2048], *body;

	if (!doc)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!body)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	if (base_url(p, url, sizeof(url), "/graphql", err) < 0) {
		free(body);
		return err->code;
	}
	req.method = "POST";
	req.url = url;
	req.headers = hdrs;
	req.nheaders = 2;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = p->cfg->timeout_s * 1000u;
	req.max_body = p->cfg->max_body_bytes;
	sl_peer_request_base(&req, p->cfg, p->auth);
	req.on_done = cb;
	req.arg = p;
	p->xfer = sl_http_client_start(p->http, &req, err);
	free(body);
	if (!p->xfer) {
		char m[SL_ERR_MSG_MAX];
		snprintf(m, sizeof(m), "POST /graphql (%s): %s", what, err->msg);
		return sl_err_set(err, err->code ? err->code : SL_ENET, p->cfg->name, "%s", m);
	}
	return 0;
}

static int64_t retry_after(const struct sl_http_response *r)
{
	int64_t ms;
	if (r->retry_after && sl_backoff_parse_retry_after(r->retry_after, time(NULL), &ms) == 0)
		return ms;
	return -1;
}

/* What a GraphQL error's code means for a push: credentials, rights and server trouble can be
 * fixed without changing the request (retry); a refusal of the request itself is permanent. */
static enum sl_peer_push_result error_result(const json_t *e)
{
	static const char *const transient[] = {
	    "AUTH_REQUIRED",  "AUTH_FAILURE",          "FORBIDDEN_ACCESS", "UNKNOWN_ERROR",
	    "DATABASE_ERROR", "ENGINE_ERROR",          "LOCK_ERROR",       "TIMEOUT_ERROR",
	    "LOCK_TIMEOUT",   "INTERNAL_SERVER_ERROR", "RESOURCE_LIMITED"};
	const char *code = str_of(json_object_get(e, "extensions"), "code");

	if (!code)
		return SL_PEER_PUSH_RETRY;
	for (size_t i = 0; i < sizeof(transient) / sizeof(*transient); i++)
		if (strcmp(code, transient[i]) == 0)
			return SL_PEER_PUSH_RETRY;
	return SL_PEER_PUSH_PERMANENT;
}

static const char *error_text(const json_t *e)
{
	const char *m = str_of(e, "message");
	return m ? m : "(no message)";
}

static const char *error_code(const json_t *e)
{
	const char *c = str_of(json_object_get(e, "extensions"), "code");
	return c ? c : "no code";
}

/* The answer of a GraphQL request as a JSON object, or NULL with err naming peer and request and
 * *res saying whether a retry may help. GraphQL errors are left for the caller (they can be per
 * field). */
static json_t *gql_answer(struct sl_peer *p, const char *what, const struct sl_http_response *r,
                          enum sl_peer_push_result *res, struct sl_err *err)
{
	struct sl_json_limits lim = sl_json_limits_default();
	struct sl_err jerr = {0};
	json_t *v;

	*res = SL_PEER_PUSH_RETRY;
	if (r->error == SL_HTTP_ESTATUS) {
		const json_t *e;
		v = r->body ? json_loads(r->body, 0, NULL) : NULL;
		e = json_array_get(json_object_get(v, "errors"), 0);
		if (r->status == 401 || r->status == 403)
			sl_err_set(
			    err, SL_ENET, p->cfg->name,
			    "POST /graphql (%s): http %d: authentication refused (check the API "
			    "token and the user's rights)",
			    what, r->status);
		else
			sl_err_set(err, SL_ENET, p->cfg->name,
			           "POST /graphql (%s): http %d: %.160s", what, r->status,
			           e ? error_text(e) : (r->body ? r->body : ""));
		if (r->status != 401 && r->status != 403 && r->status < 500 &&
		    !sl_backoff_status_retryable(r->status))
			*res = SL_PEER_PUSH_PERMANENT;
		json_decref(v);
		return NULL;
	}
	if (r->error != SL_HTTP_OK) {
		sl_err_set(err, r->error == SL_HTTP_ETOO_LARGE ? SL_ELIMIT : SL_ENET, p->cfg->name,
		           "POST /graphql (%s): %s: %s", what, sl_http_error_name(r->error),
		           r->err.msg);
		return NULL;
	}
	if (p->cfg->max_body_bytes)
		lim.max_bytes = p->cfg->max_body_bytes;
	v = sl_json_parse(r->body ? r->body : "", r->body_len, &lim, "graphql answer", &jerr);
	if (!v) {
		sl_err_set(err, SL_ENET, p->cfg->name,
		           "POST /graphql (%s): answer is not JSON (content-type %s): %s", what,
		           r->content_type ? r->content_type : "none", jerr.msg);
		return NULL;
	}
	if (!json_is_object(v) || (!json_is_object(json_object_get(v, "data")) &&
	                           !json_is_array(json_object_get(v, "errors")))) {
		sl_err_set(
		    err, SL_ENET, p->cfg->name,
		    "POST /graphql (%s): answer is not a GraphQL result (no data, no errors)",
		    what);
		json_decref(v);
		return NULL;
	}
	return v;
}

/* The first error of a whole-request answer (one top-level field), or NULL. */
static const json_t *first_error(const json_t *v)
{
	return json_array_get(json_object_get(v, "errors"), 0);
}

/* ---- pull ------------------------------------------------------------------------------------ */

static void timer_stop(struct sl_peer *p)
{
	if (p->timer)
		evtimer_del(p->timer);
}

static void timer_arm(struct sl_peer *p, unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	if (p->timer)
		evtimer_add(p->timer, &tv);
}

static void pull_finish(struct sl_peer *p, const struct sl_err *err, int64_t ra)
{
	struct sl_peer_pull_cb cb = p->pcb;
	struct sl_err ok = {0};

	timer_stop(p);
	p->pulling = false;
	cb.done(cb.arg, err ? err : &ok, ra);
}

static void pull_stop(struct sl_peer *p, enum stop why, const struct sl_err *err)
{
	if (p->stop != STOP_NONE)
		return;
	p->stop = why;
	if (err)
		p->stop_err = *err;
}

/* Labels against the peer block's tag filters (tags_include: one of them; tags_exclude: none). */
static bool has_label(const json_t *obj, const struct sl_strlist *l)
{
	const json_t *t;
	size_t i, k;

	json_array_foreach(json_object_get(obj, "labels"), i, t)
	{
		const char *name = json_string_value(t);
		for (k = 0; name && k < l->n; k++)
			if (strcasecmp(name, l->v[k]) == 0)
				return true;
	}
	return false;
}

static bool wanted(const struct sl_peer *p, const json_t *obj)
{
	if (p->cfg->tags_include.n && !has_label(obj, &p->cfg->tags_include))
		return false;
	return !has_label(obj, &p->cfg->tags_exclude);
}

/* The deterministic revoked version of an object OpenCTI deleted or merged away: "revoked": true,
 * "modified" 1 ms after its last modified (or updated_at, or created: SCOs have no modified). */
static json_t *revoked_version(const json_t *obj)
{
	const json_t *ext = json_object_get(json_object_get(obj, "extensions"), EXT_CORE);
	const char *src = str_of(obj, "modified");
	json_t *r = json_deep_copy(obj);
	long long ms = stix_ms(src);
	char ts[32];

	if (ms < 0)
		ms = stix_ms(str_of(ext, "updated_at"));
	if (ms < 0)
		ms = stix_ms(str_of(obj, "created"));
	if (!r)
		return NULL;
	if (ms < 0)
		ms = 0;
	iso_ms(ms + 1, ts);
	json_object_set_new(r, "revoked", json_true());
	json_object_set_new(r, "modified", json_string(ts));
	return r;
}

static json_t *bundle_for(const char *sid, json_t *objects)
{
	char u[37], id[64];

	sl_stix_id_uuid5(sluice_ns, sid, strlen(sid), u);
	snprintf(id, sizeof(id), "bundle--%s", u);
	return json_pack("{s:s,s:s,s:o}", "type", "bundle", "id", id, "objects", objects);
}

/* A stream event that cannot be taken in, as an item the pipeline quarantines (a bundle with no
 * objects), naming the event. */
static json_t *bad_item(const char *sid, const char *data, size_t len, const char *why)
{
	char u[37], id[64], msg[SL_ERR_MSG_MAX];
	json_t *b;
	char *raw = strndup(data ? data : "", len < RAW_KEEP ? len : RAW_KEEP);

	sl_stix_id_uuid5(sluice_ns, sid, strlen(sid), u);
	snprintf(id, sizeof(id), "bundle--%s", u);
	snprintf(msg, sizeof(msg), "OpenCTI stream event %s: %s", sid, why);
	/* the raw data may not be UTF-8; jansson refuses it then and only the reason is kept */
	b = json_pack("{s:s,s:s,s:s}", "type", "bundle", "id", id, "x_sluice_error", msg);
	if (b && raw)
		json_object_set_new(b, "x_sluice_raw", json_string(raw));
	free(raw);
	return b;
}

/* Hand one item (or NULL: passed over) to the pull callback; remembers the position. */
static int hand_over(struct sl_peer *p, const json_t *item, const char *sid, const char *pos)
{
	struct sl_err err = {0};

	snprintf(p->pos, sizeof(p->pos), "%s", pos);
	if (p->pcb.item(p->pcb.arg, item, sid, pos, &err) < 0) {
		if (!err.code)
			sl_err_set(&err, SL_EINVAL, p->cfg->name, "stream event %s: not taken in",
			           sid);
		pull_stop(p, STOP_ERROR, &err);
		return -1;
	}
	return 0;
}

static bool is_ours(const struct sl_peer *p, const json_t *origin)
{
	const char *u = str_of(origin, "user_id"), *a = str_of(origin, "applicant_id");

	if (!p->me[0])
		return false;
	return (u && strcmp(u, p->me) == 0) || (a && strcmp(a, p->me) == 0);
}

/* create / update / merge / delete */
static int on_data_event(struct sl_peer *p, const struct sl_sse_event *ev)
{
	struct sl_json_limits lim = sl_json_limits_default();
	struct sl_err jerr = {0};
	unsigned long long ms, seq;
	const char *sid = ev->id, *referer, *ver;
	const json_t *data, *origin;
	json_t *env, *objs = NULL, *item = NULL, *x;
	char pos[POS_MAX], why[SL_ERR_MSG_MAX];
	bool recovered;
	size_t i;
	int rc;

	if (sid_parse(sid, &ms, &seq) < 0) {
		struct sl_err err;
		sl_err_set(&err, SL_EINVAL, p->cfg->name,
		           "GET /stream: a %s event after %s has no valid id (\"%.40s\")", ev->type,
		           p->pos[0] ? p->pos : "the start", sid);
		pull_stop(p, STOP_ERROR, &err);
		return -1;
	}
	if (p->cfg->max_body_bytes)
		lim.max_bytes = p->cfg->max_body_bytes;
	env = sl_json_parse(ev->data, ev->data_len, &lim, "data", &jerr);
	data = json_object_get(env, "data");
	origin = json_object_get(env, "origin");
	referer = str_of(origin, "referer");
	recovered = referer && strcmp(referer, "init-create") == 0 && p->recover[0];
	/* an unreadable event during a backfill cannot say whether it belongs to it: it must not
	 * end the backfill, so it keeps the position where it is */
	if (!env && p->recover[0] && ms <= (unsigned long long)stix_ms(p->recover)) {
		snprintf(why, sizeof(why), "%s event data is not JSON: %s", ev->type, jerr.msg);
		snprintf(pos, sizeof(pos), "%s", p->pos);
		goto bad;
	}
	/* The position to resume from once this event is in. A backfill event resumes 1 ms before
	 * its object's updated_at (several objects may share one): that millisecond is read again
	 * rather than the rest of it skipped. A dependency frame shares the id of the
	 * event it precedes: it does not move the position. */
	if (recovered) {
		/* the replay is ordered and filtered by the objects' updated_at: resume by that,
		 * not by whatever id the replayed event carries */
		long long u = stix_ms(str_of(
		    json_object_get(json_object_get(data, "extensions"), EXT_CORE), "updated_at"));
		unsigned long long at = u > 0 ? (unsigned long long)u : ms;
		snprintf(pos, sizeof(pos), "%llu-0@%s", at ? at - 1 : 0, p->recover);
	} else if (referer && strcmp(referer, "init-dependencies") == 0)
		snprintf(pos, sizeof(pos), "%s", p->pos);
	else
		snprintf(pos, sizeof(pos), "%s", sid);
	if (!recovered) {
		if (p->last_sid[0] && sid_cmp(sid, p->last_sid) < 0 &&
		    !(referer && strcmp(referer, "init-dependencies") == 0)) {
			struct sl_err err;
			json_decref(env);
			sl_err_set(&err, SL_EINVAL, p->cfg->name,
			           "GET /stream: event id %s goes back before %s", sid,
			           p->last_sid);
			pull_stop(p, STOP_ERROR, &err);
			return -1;
		}
		snprintf(p->last_sid, sizeof(p->last_sid), "%s", sid);
	}
	if (!env) {
		snprintf(why, sizeof(why), "%s event data is not JSON: %s", ev->type, jerr.msg);
		goto bad;
	}
	if (!json_is_object(data) || !str_of(data, "id") || !str_of(data, "type")) {
		snprintf(why, sizeof(why), "%s event without a STIX object (data.id, data.type)",
		         ev->type);
		goto bad;
	}
	ver = str_of(env, "version");
	if (ver && atoi(ver) < 4) {
		/* OpenCTI's own consumers skip events of older formats */
		json_decref(env);
		return hand_over(p, NULL, sid, pos);
	}
	if (is_ours(p, origin) || !wanted(p, data)) {
		json_decref(env);
		return hand_over(p, NULL, sid, pos);
	}
	objs = json_array();
	if (strcmp(ev->type, "delete") == 0) {
		json_array_append_new(objs, revoked_version(data));
	} else {
		json_array_append(objs, (json_t *)data);
		if (strcmp(ev->type, "merge") == 0)
			json_array_foreach(
			    json_object_get(json_object_get(env, "context"), "sources"), i,
			    x) if (json_is_object(x) && str_of(x, "id"))
			    json_array_append_new(objs, revoked_version(x));
	}
	item = bundle_for(sid, objs);
	json_decref(env);
	if (!item) {
		struct sl_err err;
		sl_err_set(&err, SL_ENOMEM, p->cfg->name, "out of memory");
		pull_stop(p, STOP_ERROR, &err);
		return -1;
	}
	rc = hand_over(p, item, sid, pos);
	json_decref(item);
	return rc;
bad:
	json_decref(env);
	item = bad_item(sid, ev->data, ev->data_len, why);
	if (!item) {
		struct sl_err err;
		sl_err_set(&err, SL_ENOMEM, p->cfg->name, "out of memory");
		pull_stop(p, STOP_ERROR, &err);
		return -1;
	}
	rc = hand_over(p, item, sid, pos);
	json_decref(item);
	return rc;
}

/* Reading OpenCTI's database replay (recover) and no live event yet. */
static bool backfilling(const struct sl_peer *p)
{
	return p->recover[0] && !p->last_sid[0];
}

static int on_sse(const struct sl_sse_event *ev, void *arg)
{
	struct sl_peer *p = arg;

	if (p->stop != STOP_NONE)
		return 1;
	if (strcmp(ev->type, "connected") == 0) {
		json_t *c = json_loadb(ev->data, ev->data_len, 0, NULL);
		const char *last = str_of(c, "lastEventId");
		unsigned long long a, b;

		const char *first = str_of(c, "firstEventId");
		char need[SID_MAX];

		p->connected = true;
		if (last && sid_parse(last, &a, &b) == 0)
			snprintf(p->connect_last, sizeof(p->connect_last), "%s", last);
		/* the first event the stream must still hold for nothing to be lost */
		if (p->recover[0])
			snprintf(need, sizeof(need), "%lld-0", stix_ms(p->recover));
		else
			snprintf(need, sizeof(need), "%s", p->from);
		if (!p->recovered_gap && first && sid_parse(first, &a, &b) == 0 && a > 0 &&
		    need[0] && sid_cmp(first, need) > 0) {
			json_decref(c);
			pull_stop(p, STOP_RECOVER, NULL);
			return 1;
		}
		json_decref(c);
		/* resuming a live position with nothing newer on the stream: caught up */
		if (!p->recover[0] && p->connect_last[0] && p->from[0] &&
		    sid_cmp(p->connect_last, p->from) <= 0) {
			pull_stop(p, STOP_CAUGHT_UP, NULL);
			return 1;
		}
		timer_arm(p, p->cfg->timeout_s * 1000u);
		return 0;
	}
	if (!p->connected) {
		struct sl_err err;
		sl_err_set(&err, SL_EINVAL, p->cfg->name,
		           "GET /stream: a %s event before the connected event", ev->type);
		pull_stop(p, STOP_ERROR, &err);
		return 1;
	}
	if (strcmp(ev->type, "heartbeat") == 0) {
		/* a whole heartbeat period (5 s at OpenCTI) without an event: nothing more to read.
		 * One that comes between events (a long backfill) only shows the peer is alive. */
		if (!p->since_heartbeat) {
			pull_stop(p, STOP_CAUGHT_UP, NULL);
			return 1;
		}
		p->since_heartbeat = false;
		if (backfilling(p))
			timer_arm(p, p->cfg->timeout_s * 1000u);
		return 0;
	}
	if (strcmp(ev->type, "create") != 0 && strcmp(ev->type, "update") != 0 &&
	    strcmp(ev->type, "merge") != 0 && strcmp(ev->type, "delete") != 0)
		return 0; /* an event kind this connector does not know: nothing to take in */
	if (on_data_event(p, ev) < 0)
		return 1;
	p->got_event = p->since_heartbeat = true;
	p->nevents++;
	/* caught up: a live event at or past what the stream held when we connected */
	if (p->nevents >= SL_PEER_OPENCTI_MAX_EVENTS ||
	    (p->connect_last[0] && p->last_sid[0] && sid_cmp(p->last_sid, p->connect_last) >= 0)) {
		pull_stop(p, STOP_CAUGHT_UP, NULL);
		return 1;
	}
	/* OpenCTI reads its database page by page during a backfill: pauses there are no sign of
	 * being caught up, only silence beyond the timeout is */
	timer_arm(p, backfilling(p) ? p->cfg->timeout_s * 1000u : SL_PEER_OPENCTI_QUIET_MS);
	return 0;
}

static int stream_start(struct sl_peer *p, struct sl_err *err);
static void set_recover_now(struct sl_peer *p);

static void on_stream_done(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};

	p->xfer = NULL;
	if (p->stop == STOP_CAUGHT_UP) {
		pull_finish(p, NULL, -1);
		return;
	}
	if (p->stop == STOP_ERROR) {
		pull_finish(p, &p->stop_err, -1);
		return;
	}
	if (p->stop == STOP_RECOVER) {
		/* OpenCTI trimmed its stream past our position: what changed since comes from its
		 * database instead (objects as they are now; deletions in the gap are not seen) */
		set_recover_now(p);
		p->recovered_gap = true;
		if (stream_start(p, &err) < 0)
			pull_finish(p, &err, -1);
		return;
	}
	if (r->error == SL_HTTP_ESTATUS) {
		const char *what = r->status == 401 || r->status == 403
		                       ? "authentication refused (check the API token and the "
		                         "user's rights)"
		                   : r->status == 410 ? "the live stream is stopped"
		                   : r->status == 404 ? "no such live stream"
		                                      : (r->body ? r->body : "");
		sl_err_set(&err, SL_ENET, p->cfg->name, "GET /stream: http %d: %.160s", r->status,
		           what);
		pull_finish(p, &err, retry_after(r));
		return;
	}
	if (!p->connected) {
		if (r->error == SL_HTTP_OK)
			sl_err_set(
			    &err, SL_ENET, p->cfg->name,
			    "GET /stream: answer is not an OpenCTI event stream (content-type "
			    "%s, no connected event)",
			    r->content_type ? r->content_type : "none");
		else
			sl_err_set(&err, r->error == SL_HTTP_ETOO_LARGE ? SL_ELIMIT : SL_ENET,
			           p->cfg->name, "GET /stream: %s: %s",
			           sl_http_error_name(r->error), r->err.msg);
		pull_finish(p, &err, retry_after(r));
		return;
	}
	/* the stream ended by itself: the peer closed it (fine: what came is in) or broke it */
	if (r->error == SL_HTTP_OK) {
		pull_finish(p, NULL, -1);
		return;
	}
	sl_err_set(&err, r->error == SL_HTTP_ETOO_LARGE ? SL_ELIMIT : SL_ENET, p->cfg->name,
	           "GET /stream after %s: %s: %s", p->pos[0] ? p->pos : "the start",
	           sl_http_error_name(r->error), r->err.msg);
	pull_finish(p, &err, -1);
}

/* The quiet or stall timer: caught up after events, or a stream that says nothing at all. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};

	(void)fd;
	(void)what;
	if (!p->pulling || !p->xfer)
		return;
	sl_http_xfer_cancel(p->xfer);
	p->xfer = NULL;
	if (p->got_event) {
		pull_finish(p, NULL, -1);
		return;
	}
	sl_err_set(&err, SL_ENET, p->cfg->name, "GET /stream: %s for %u s (no heartbeat)",
	           p->connected ? "silent" : "no answer", p->cfg->timeout_s);
	pull_finish(p, &err, -1);
}

static int stream_start(struct sl_peer *p, struct sl_err *err)
{
	static const char *const hdrs_base[] = {"Accept: text/event-stream",
	                                        "Cache-Control: no-cache"};
	const char *hdrs[3] = {hdrs_base[0], hdrs_base[1], NULL};
	struct sl_http_request req = {0};
	char path[512], url[2048], lei[SID_MAX + 20];
	const char *sid = p->cfg->collections.n ? p->cfg->collections.v[0] : NULL;
	size_t nh = 2;
	int n;

	if (sid &&
	    (!*sid || strlen(sid) > 64 ||
	     strspn(sid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
	         strlen(sid)))
		return sl_err_set(
		    err, SL_EINVAL, p->cfg->name,
		    "live stream id \"%.64s\" (collections[0]) has characters a stream "
		    "id never has",
		    sid);
	/* no-dependencies: every event its own id, so positions resume exactly */
	if (p->recover[0])
		n = snprintf(
		    path, sizeof(path),
		    "/stream%s%s?from=%s&recover=%s&listen-delete=true&no-dependencies=true",
		    sid ? "/" : "", sid ? sid : "", p->from, p->recover);
	else
		n = snprintf(path, sizeof(path),
		             "/stream%s%s?listen-delete=true&no-dependencies=true", sid ? "/" : "",
		             sid ? sid : "");
	if (n >= (int)sizeof(path) || base_url(p, url, sizeof(url), path, err) < 0)
		return sl_err_set(err, SL_ELIMIT, p->cfg->name, "GET /stream: URL too long");
	if (!p->recover[0] && p->from[0]) {
		snprintf(lei, sizeof(lei), "Last-Event-ID: %s", p->from);
		hdrs[nh++] = lei;
	}
	req.method = "GET";
	req.url = url;
	req.headers = hdrs;
	req.nheaders = nh;
	sl_peer_request_base(&req, p->cfg, p->auth);
	/* no whole-transfer limit (a stream), but bytes must keep coming: OpenCTI's heartbeat */
	req.low_speed_bytes = 1;
	req.low_speed_s = p->cfg->timeout_s;
	req.sse_max_line = p->cfg->max_body_bytes;
	req.on_sse_event = on_sse;
	req.on_done = on_stream_done;
	req.arg = p;
	p->connected = p->got_event = p->since_heartbeat = false;
	p->connect_last[0] = p->last_sid[0] = '\0';
	p->nevents = 0;
	p->stop = STOP_NONE;
	memset(&p->stop_err, 0, sizeof(p->stop_err));
	p->xfer = sl_http_client_start(p->http, &req, err);
	if (!p->xfer) {
		char m[SL_ERR_MSG_MAX];
		snprintf(m, sizeof(m), "GET /stream: %s", err->msg);
		return sl_err_set(err, err->code ? err->code : SL_ENET, p->cfg->name, "%s", m);
	}
	timer_arm(p, p->cfg->timeout_s * 1000u);
	return 0;
}

static void on_me(const struct sl_http_response *r, void *arg);

static void set_recover_now(struct sl_peer *p)
{
	char now[32];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	iso_ms((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, now);
	snprintf(p->recover, sizeof(p->recover), "%s", now);
}

static int me_start(struct sl_peer *p, sl_http_done_cb cb, struct sl_err *err)
{
	return gql_start(p, "me", "query Me { me { id } }", NULL, cb, err);
}

/* The id of the user the token belongs to, from an answer of me_start; 0 or -1 with err. */
static int take_me(struct sl_peer *p, const struct sl_http_response *r,
                   enum sl_peer_push_result *res, struct sl_err *err)
{
	json_t *v = gql_answer(p, "me", r, res, err);
	const json_t *e;
	const char *id;

	if (!v)
		return -1;
	e = first_error(v);
	id = str_of(json_object_get(json_object_get(v, "data"), "me"), "id");
	if (e || !id || strlen(id) >= sizeof(p->me)) {
		if (e) {
			*res = error_result(e);
			sl_err_set(err, SL_ENET, p->cfg->name, "POST /graphql (me): %s: %.200s",
			           error_code(e), error_text(e));
		} else {
			*res = SL_PEER_PUSH_RETRY;
			sl_err_set(err, SL_ENET, p->cfg->name,
			           "POST /graphql (me): answer holds no user id");
		}
		json_decref(v);
		return -1;
	}
	snprintf(p->me, sizeof(p->me), "%s", id);
	json_decref(v);
	return 0;
}

static void on_me(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	enum sl_peer_push_result res;

	p->xfer = NULL;
	if (take_me(p, r, &res, &err) < 0 || stream_start(p, &err) < 0)
		pull_finish(p, &err, retry_after(r));
}

/* "<sid>" or "<sid>@<date>" */
static int parse_cursor(struct sl_peer *p, const char *cursor, struct sl_err *err)
{
	const char *at = cursor ? strchr(cursor, '@') : NULL;
	unsigned long long a, b;
	char sid[SID_MAX];

	p->from[0] = p->recover[0] = '\0';
	if (!cursor) {
		/* the first pull: the whole knowledge base from OpenCTI's database up to now, then
		 * the stream from there */
		snprintf(p->from, sizeof(p->from), "0-0");
		set_recover_now(p);
		return 0;
	}
	if ((size_t)(at ? at - cursor : (ptrdiff_t)strlen(cursor)) >= sizeof(sid))
		goto bad;
	snprintf(sid, sizeof(sid), "%.*s", (int)(at ? at - cursor : (ptrdiff_t)strlen(cursor)),
	         cursor);
	if (sid_parse(sid, &a, &b) < 0 || (at && (!date_ok(at + 1) || stix_ms(at + 1) < 0)))
		goto bad;
	snprintf(p->from, sizeof(p->from), "%s", sid);
	if (at)
		snprintf(p->recover, sizeof(p->recover), "%s", at + 1);
	return 0;
bad:
	return sl_err_set(err, SL_EINVAL, p->cfg->name,
	                  "cursor \"%.60s\" is not an OpenCTI stream position", cursor);
}

static int octi_pull(struct sl_peer *p, const char *cursor, const struct sl_peer_pull_cb *cb,
                     struct sl_err *err)
{
	int rc;

	if (p->pulling || p->pushing)
		return sl_err_set(err, SL_ECONFLICT, p->cfg->name,
		                  "a request is already in flight");
	if (parse_cursor(p, cursor, err) < 0)
		return err->code;
	snprintf(p->pos, sizeof(p->pos), "%s", cursor ? cursor : "");
	if (!cursor)
		snprintf(p->pos, sizeof(p->pos), "%s@%s", p->from, p->recover);
	p->pcb = *cb;
	p->pulling = true;
	p->recovered_gap = false;
	/* who we are, once: events we caused are passed over */
	rc = p->me[0] ? stream_start(p, err) : me_start(p, on_me, err);
	if (rc < 0)
		p->pulling = false;
	return rc;
}

/* ---- push ------------------------------------------------------------------------------------ */

static void push_finish(struct sl_peer *p, enum sl_peer_push_result res, const struct sl_err *err,
                        int64_t ra)
{
	sl_peer_push_done done = p->pdone;
	void *arg = p->parg;
	struct sl_err ok = {0};
	json_t *rej = p->rejected;

	p->pushing = false;
	json_decref(p->chunks);
	json_decref(p->dels);
	p->chunks = p->dels = NULL;
	p->rejected = NULL;
	done(arg, res, err ? err : &ok, ra,
	     res == SL_PEER_PUSH_SENT && json_object_size(rej) ? rej : NULL);
	json_decref(rej);
}

static int push_step(struct sl_peer *p, struct sl_err *err);

static void on_push_me(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	enum sl_peer_push_result res;

	p->xfer = NULL;
	if (take_me(p, r, &res, &err) < 0) {
		push_finish(p, res, &err, retry_after(r));
		return;
	}
	p->pstep = PS_REGISTER;
	if (push_step(p, &err) < 0)
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
}

static void on_register(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	enum sl_peer_push_result res;
	json_t *v;
	const json_t *e;
	const char *id;

	p->xfer = NULL;
	v = gql_answer(p, "registerConnector", r, &res, &err);
	if (!v) {
		push_finish(p, res, &err, retry_after(r));
		return;
	}
	e = first_error(v);
	id = str_of(json_object_get(json_object_get(v, "data"), "registerConnector"), "id");
	if (e || !id || strcmp(id, p->connector_id) != 0) {
		if (e)
			sl_err_set(&err, SL_ENET, p->cfg->name,
			           "POST /graphql (registerConnector): %s: %.200s", error_code(e),
			           error_text(e));
		else
			sl_err_set(
			    &err, SL_ENET, p->cfg->name,
			    "POST /graphql (registerConnector): answer holds no connector %s",
			    p->connector_id);
		/* a connector that cannot register cannot push anything: not this bundle's fault */
		json_decref(v);
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
		return;
	}
	json_decref(v);
	p->registered = true;
	p->pstep = PS_BUNDLE;
	if (push_step(p, &err) < 0)
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
}

static void on_bundle(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	enum sl_peer_push_result res;
	char what[64];
	json_t *v;
	const json_t *e;

	p->xfer = NULL;
	snprintf(what, sizeof(what), "stixBundlePush %zu/%zu", p->next_chunk + 1,
	         json_array_size(p->chunks));
	v = gql_answer(p, what, r, &res, &err);
	if (!v) {
		push_finish(p, res, &err, retry_after(r));
		return;
	}
	e = first_error(v);
	if (e) {
		/* OpenCTI lost our registration (reset, connector deleted): register again, once */
		if (has_words(error_text(e), "connector not found") && !p->reregistered) {
			json_decref(v);
			p->reregistered = true;
			p->registered = false;
			p->pstep = PS_REGISTER;
			if (push_step(p, &err) < 0)
				push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
			return;
		}
		sl_err_set(&err, SL_ENET, p->cfg->name, "POST /graphql (%s): %s: %.200s", what,
		           error_code(e), error_text(e));
		res = error_result(e);
		json_decref(v);
		push_finish(p, res, &err, -1);
		return;
	}
	if (!json_is_true(json_object_get(json_object_get(v, "data"), "stixBundlePush"))) {
		sl_err_set(&err, SL_ENET, p->cfg->name,
		           "POST /graphql (%s): the bundle was not queued (stixBundlePush is not "
		           "true)",
		           what);
		json_decref(v);
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
		return;
	}
	json_decref(v);
	p->next_chunk++;
	if (push_step(p, &err) < 0)
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
}

/* The mutation that deletes an object of this STIX type; OpenCTI finds it by internal id,
 * standard_id or any of its x_opencti_stix_ids. */
static const char *delete_mutation(const char *type)
{
	if (strcmp(type, "relationship") == 0)
		return "stixCoreRelationshipEdit";
	if (strcmp(type, "sighting") == 0)
		return "stixSightingRelationshipEdit";
	if (strcmp(type, "marking-definition") == 0)
		return "markingDefinitionEdit";
	return "stixCoreObjectEdit";
}

static bool not_found(const json_t *e)
{
	const char *m = error_text(e), *c = error_code(e);
	return has_words(m, "find element") || has_words(m, "not found") ||
	       has_words(m, "does not exist") || strcmp(c, "NOT_FOUND") == 0;
}

static void on_deletes(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	enum sl_peer_push_result res;
	json_t *v;
	const json_t *e;
	size_t i, k;

	p->xfer = NULL;
	v = gql_answer(p, "delete", r, &res, &err);
	if (!v) {
		push_finish(p, res, &err, retry_after(r));
		return;
	}
	json_array_foreach(json_object_get(v, "errors"), i, e)
	{
		const char *alias =
		    json_string_value(json_array_get(json_object_get(e, "path"), 0));
		const char *id = NULL;

		if (alias && alias[0] == 'd' && isdigit((unsigned char)alias[1])) {
			k = strtoul(alias + 1, NULL, 10);
			if (k < p->batch)
				id = json_string_value(
				    json_array_get(json_array_get(p->dels, p->next_del + k), 0));
		}
		if (id && not_found(e))
			continue; /* gone already (or never arrived): what a delete wants */
		if (!id || error_result(e) == SL_PEER_PUSH_RETRY) {
			sl_err_set(&err, SL_ENET, p->cfg->name,
			           "POST /graphql (delete %s): %s: %.200s", id ? id : "batch",
			           error_code(e), error_text(e));
			res = id ? SL_PEER_PUSH_RETRY : error_result(e);
			json_decref(v);
			push_finish(p, res, &err, -1);
			return;
		}
		{
			char why[SL_ERR_MSG_MAX];
			snprintf(why, sizeof(why), "delete refused: %s: %.200s", error_code(e),
			         error_text(e));
			json_object_set_new(p->rejected, id, json_string(why));
		}
	}
	json_decref(v);
	p->next_del += p->batch;
	if (push_step(p, &err) < 0)
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
}

static int deletes_start(struct sl_peer *p, struct sl_err *err)
{
	size_t n = json_array_size(p->dels) - p->next_del, i;
	char *q, *sig;
	size_t qcap, slen = 0, qlen = 0;
	json_t *vars = json_object();
	int rc;

	if (n > SL_PEER_OPENCTI_DELETES)
		n = SL_PEER_OPENCTI_DELETES;
	qcap = 64 + n * 96;
	q = malloc(qcap);
	sig = malloc(n * 16 + 16);
	if (!q || !sig || !vars) {
		free(q);
		free(sig);
		json_decref(vars);
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	}
	sig[0] = '\0';
	for (i = 0; i < n; i++) {
		const json_t *d = json_array_get(p->dels, p->next_del + i);
		char var[16];
		snprintf(var, sizeof(var), "i%zu", i);
		slen += (size_t)sprintf(sig + slen, "%s$%s: ID!", i ? ", " : "", var);
		json_object_set(vars, var, json_array_get(d, 0));
	}
	qlen = (size_t)snprintf(q, qcap, "mutation Delete(%s) {", sig);
	for (i = 0; i < n; i++) {
		const json_t *d = json_array_get(p->dels, p->next_del + i);
		qlen +=
		    (size_t)snprintf(q + qlen, qcap - qlen, " d%zu: %s(id: $i%zu) { delete }", i,
		                     delete_mutation(json_string_value(json_array_get(d, 1))), i);
	}
	snprintf(q + qlen, qcap - qlen, " }");
	p->batch = n;
	rc = gql_start(p, "delete", q, vars, on_deletes, err);
	free(q);
	free(sig);
	return rc;
}

/* The next request of the push, or done. */
static int push_step(struct sl_peer *p, struct sl_err *err)
{
	if (p->pstep == PS_ME) {
		if (!p->me[0])
			return me_start(p, on_push_me, err);
		p->pstep = PS_REGISTER;
	}
	if (p->pstep == PS_REGISTER) {
		if (!p->registered) {
			/* pycti's register_connector: an import connector sluice runs itself */
			json_t *vars = json_pack(
			    "{s:{s:s,s:s+,s:s,s:[s],s:b,s:b}}", "input", "id", p->connector_id,
			    "name", "sluice ", p->cfg->name, "type", "EXTERNAL_IMPORT", "scope",
			    "application/stix+json", "auto", 0, "only_contextual", 0);
			return gql_start(
			    p, "registerConnector",
			    "mutation Register($input: RegisterConnectorInput) { "
			    "registerConnector(input: $input) { id connector_state } }",
			    vars, on_register, err);
		}
		p->pstep = PS_BUNDLE;
	}
	if (p->pstep == PS_BUNDLE) {
		if (p->next_chunk < json_array_size(p->chunks)) {
			char what[64];
			snprintf(what, sizeof(what), "stixBundlePush %zu/%zu", p->next_chunk + 1,
			         json_array_size(p->chunks));
			return gql_start(
			    p, what,
			    "mutation Push($c: String!, $b: String!) { stixBundlePush(connectorId: "
			    "$c, bundle: $b) }",
			    json_pack("{s:s,s:O}", "c", p->connector_id, "b",
			              json_array_get(p->chunks, p->next_chunk)),
			    on_bundle, err);
		}
		p->pstep = PS_DELETE;
	}
	if (p->next_del < json_array_size(p->dels))
		return deletes_start(p, err);
	push_finish(p, SL_PEER_PUSH_SENT, NULL, -1);
	return 0;
}

/* A stub that asks OpenCTI's importer to delete id: queued behind the bundles already pushed, so
 * a delete of an object whose create is still in OpenCTI's queue is applied after it. */
static json_t *delete_op(const json_t *obj, const char *id, const char *type)
{
	json_t *o = obj ? json_deep_copy(obj)
	                : json_pack("{s:s,s:s,s:s}", "type", type, "spec_version", "2.1", "id", id);
	json_t *exts, *core;

	if (!o)
		return NULL;
	exts = json_object_get(o, "extensions");
	if (!json_is_object(exts)) {
		exts = json_object();
		json_object_set_new(o, "extensions", exts);
	}
	core = json_object_get(exts, EXT_CORE);
	if (!json_is_object(core)) {
		core = json_pack("{s:s}", "extension_type", "property-extension");
		json_object_set_new(exts, EXT_CORE, core);
	}
	json_object_set_new(core, "opencti_operation", json_string("delete"));
	return o;
}

static int add_chunk(struct sl_peer *p, json_t *objs, size_t *chunk_no)
{
	char u[37], id[80], name[64];
	json_t *b;
	char *s;

	if (json_array_size(objs) == 0)
		return 0;
	snprintf(name, sizeof(name), "%s#%zu", p->connector_id, (*chunk_no)++);
	sl_stix_id_uuid5(sluice_ns, name, strlen(name), u);
	snprintf(id, sizeof(id), "bundle--%s", u);
	b = json_pack("{s:s,s:s,s:O}", "type", "bundle", "id", id, "objects", objs);
	s = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!s)
		return -1;
	json_array_append_new(p->chunks, json_string(s));
	free(s);
	json_array_clear(objs);
	return 0;
}

/* Split the item into bundles of at most CHUNK objects / CHUNK_BYTES and the list of deletes. */
static int push_plan(struct sl_peer *p, const json_t *item, struct sl_err *err)
{
	const json_t *objs = json_object_get(item, "objects"), *o;
	const json_t *erase = json_object_get(item, "x_sluice_delete");
	json_t *cur = json_array(), *seen = json_object();
	size_t i, bytes = 0, chunk_no = 0;
	int rc = 0;

	p->chunks = json_array();
	p->dels = json_array();
	p->rejected = json_object();
	if (!cur || !seen || !p->chunks || !p->dels || !p->rejected) {
		rc = sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
		goto out;
	}
	json_array_foreach(objs, i, o)
	{
		const char *id = str_of(o, "id"), *type = str_of(o, "type");
		const char *dash = id ? strstr(id, "--") : NULL;
		json_t *send;
		char *s;

		if (!json_is_object(o) || !id || !type || !dash ||
		    strncmp(id, type, (size_t)(dash - id)) != 0 ||
		    strlen(type) != (size_t)(dash - id)) {
			char where[48];
			snprintf(where, sizeof(where), "objects[%zu]", i);
			json_object_set_new(p->rejected, id ? id : where,
			                    json_string("not a STIX object: id must be "
			                                "\"<type>--<uuid>\" of its type"));
			continue;
		}
		if (json_is_true(json_object_get(o, "revoked"))) {
			json_array_append_new(p->dels, json_pack("[s,s]", id, type));
			json_object_set_new(seen, id, json_true());
			send = delete_op(o, id, type);
		} else {
			send = json_incref((json_t *)o);
		}
		s = send ? json_dumps(send, JSON_COMPACT) : NULL;
		if (!s) {
			json_decref(send);
			rc = sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
			goto out;
		}
		if (json_array_size(cur) && (json_array_size(cur) >= SL_PEER_OPENCTI_CHUNK ||
		                             bytes + strlen(s) > SL_PEER_OPENCTI_CHUNK_BYTES)) {
			if (add_chunk(p, cur, &chunk_no) < 0) {
				free(s);
				json_decref(send);
				rc = sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
				goto out;
			}
			bytes = 0;
		}
		bytes += strlen(s);
		free(s);
		json_array_append_new(cur, send);
	}
	json_array_foreach(erase, i, o)
	{
		const char *id = json_string_value(o);
		const char *dash = id ? strstr(id, "--") : NULL;
		char type[64];

		if (!dash || dash == id || (size_t)(dash - id) >= sizeof(type)) {
			char where[48];
			snprintf(where, sizeof(where), "x_sluice_delete[%zu]", i);
			json_object_set_new(p->rejected, id ? id : where,
			                    json_string("not a STIX id"));
			continue;
		}
		if (json_object_get(seen, id))
			continue;
		json_object_set_new(seen, id, json_true());
		snprintf(type, sizeof(type), "%.*s", (int)(dash - id), id);
		json_array_append_new(p->dels, json_pack("[s,s]", id, type));
		if (json_array_size(cur) >= SL_PEER_OPENCTI_CHUNK &&
		    add_chunk(p, cur, &chunk_no) < 0) {
			rc = sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
			goto out;
		}
		json_array_append_new(cur, delete_op(NULL, id, type));
	}
	if (add_chunk(p, cur, &chunk_no) < 0)
		rc = sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
out:
	json_decref(cur);
	json_decref(seen);
	return rc;
}

static int octi_push(struct sl_peer *p, const json_t *item, sl_peer_push_done done, void *arg,
                     struct sl_err *err)
{
	const json_t *objs = json_object_get(item, "objects");
	const json_t *dels = json_object_get(item, "x_sluice_delete");
	int rc;

	if (p->pulling || p->pushing)
		return sl_err_set(err, SL_ECONFLICT, p->cfg->name,
		                  "a request is already in flight");
	if (!json_is_object(item) || (objs && !json_is_array(objs)) ||
	    (dels && !json_is_array(dels)) || (!objs && !dels))
		return sl_err_set(err, SL_EINVAL, p->cfg->name,
		                  "item to push is not a bundle (objects list, x_sluice_delete "
		                  "list)");
	if (push_plan(p, item, err) < 0) {
		json_decref(p->chunks);
		json_decref(p->dels);
		json_decref(p->rejected);
		p->chunks = p->dels = p->rejected = NULL;
		return err->code;
	}
	p->next_chunk = p->next_del = 0;
	p->reregistered = false;
	p->pdone = done;
	p->parg = arg;
	p->pushing = true;
	p->pstep = PS_ME;
	/* With nothing valid to send, still ask the peer once (who we are): done must come later,
	 * never from inside push. Otherwise push_step always starts a request. */
	if (json_array_size(p->chunks) == 0 && json_array_size(p->dels) == 0)
		rc = me_start(p, on_push_me, err);
	else
		rc = push_step(p, err);
	if (rc < 0) {
		p->pushing = false;
		json_decref(p->chunks);
		json_decref(p->dels);
		json_decref(p->rejected);
		p->chunks = p->dels = p->rejected = NULL;
	}
	return rc;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static struct sl_peer *octi_create(const struct sl_config_peer *cfg, struct sl_http_client *http,
                                   struct sl_err *err)
{
	struct sl_peer *p;
	char name[512];
	size_t n;

	if (!cfg->api_key || !*cfg->api_key) {
		sl_err_set(err, SL_EINVAL, cfg->where, "peer %s: no API key (OpenCTI token)",
		           cfg->name);
		return NULL;
	}
	if (!cfg->url || (strncasecmp(cfg->url, "https://", 8) != 0 &&
	                  !(cfg->allow_plain_http && strncasecmp(cfg->url, "http://", 7) == 0))) {
		sl_err_set(err, SL_EINVAL, cfg->where,
		           "peer %s: url must be https:// (http:// only with allow_plain_http)",
		           cfg->name);
		return NULL;
	}
	if (strchr(cfg->api_key, '\r') || strchr(cfg->api_key, '\n')) {
		sl_err_set(err, SL_EINVAL, cfg->where, "peer %s: API key holds a line break",
		           cfg->name);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	n = strlen("Authorization: Bearer ") + strlen(cfg->api_key) + 1;
	if (p)
		p->auth = malloc(n);
	if (!p || !p->auth) {
		free(p);
		sl_err_set(err, SL_ENOMEM, cfg->name, "out of memory");
		return NULL;
	}
	snprintf(p->auth, n, "Authorization: Bearer %s", cfg->api_key);
	p->cfg = cfg;
	p->http = http;
	snprintf(name, sizeof(name), "sluice:%s", cfg->name);
	sl_stix_id_uuid5(sluice_ns, name, strlen(name), p->connector_id);
	return p;
}

static void octi_destroy(struct sl_peer *p)
{
	if (!p)
		return;
	if (p->xfer)
		sl_http_xfer_cancel(p->xfer);
	if (p->timer)
		event_free(p->timer);
	json_decref(p->chunks);
	json_decref(p->dels);
	json_decref(p->rejected);
	sl_peer_secret_free(p->auth);
	free(p);
}

static bool octi_busy(const struct sl_peer *p)
{
	return p->pulling || p->pushing;
}

static const struct sl_peer_ops octi_ops = {
    .kind = "opencti",
    .items = SL_PEER_ITEM_STIX,
    .create = octi_create,
    .destroy = octi_destroy,
    .pull = octi_pull,
    .push = octi_push,
    .busy = octi_busy,
};

const struct sl_peer_ops *sl_peer_opencti_ops(void)
{
	return &octi_ops;
}

void sl_peer_opencti_attach(struct sl_peer *p, struct event_base *base)
{
	if (p->pulling)
		return; /* the pull in flight keeps the timer it has */
	if (p->timer) {
		event_free(p->timer);
		p->timer = NULL;
	}
	p->base = base;
	if (base)
		p->timer = evtimer_new(base, on_timer, p);
}

const char *sl_peer_opencti_connector_id(const struct sl_peer *p)
{
	return p->connector_id;
}
