/* peer_misp.c — MISP REST connector: index-then-view pull with a timestamp cursor, then the
 * sightings since the cursor; add-or-edit push, sightings alone. One request in flight per
 * connector; every answer is checked for status, JSON and shape. */
#include "peer_misp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backoff.h"
#include "json.h"

struct sl_peer {
	const struct sl_config_peer *cfg;
	struct sl_http_client *http;
	struct sl_http_xfer *xfer; /* the request in flight, or NULL */
	char *auth;                /* "Authorization: <key>", wiped on destroy */
	/* pull */
	bool pulling;
	struct sl_peer_pull_cb pcb;
	char *cursor; /* the lower bound of this pull (inclusive: MISP's timestamp filter is >=) */
	int page;
	json_t *index;   /* the current index page */
	size_t next;     /* next entry of index to view */
	long long maxts; /* highest timestamp taken in during this pull */
	/* sightings pass, after the events: sightings dated since scur, oldest first */
	long long scur;     /* lower bound of date_sighting (inclusive); -1: none yet */
	json_t *sightings;  /* [{"Sighting": ...}] sorted by date_sighting */
	size_t snext;       /* next of sightings to hand over */
	long long started;  /* when this pull began (epoch seconds) */
	/* push */
	bool pushing;
	json_t *event;   /* {"Event": ...} being pushed, or {"x_sluice_delete": [...]} */
	size_t del_next; /* next attribute of x_sluice_delete to erase */
	char uuid[64];
	bool editing;
	sl_peer_push_done pdone;
	void *parg;
};

static const char *const json_headers[] = {"Accept: application/json",
                                           "Content-Type: application/json"};

static int start(struct sl_peer *p, const char *method, const char *path, const char *body,
                 sl_http_done_cb cb, struct sl_err *err)
{
	struct sl_http_request req = {0};
	char url[2048];
	const char *base = p->cfg->url;
	size_t bl = strlen(base);

	while (bl && base[bl - 1] == '/')
		bl--;
	if (snprintf(url, sizeof(url), "%.*s%s", (int)bl, base, path) >= (int)sizeof(url))
		return sl_err_set(err, SL_ELIMIT, p->cfg->name, "%s %s: URL too long", method,
		                  path);
	req.method = method;
	req.url = url;
	req.headers = json_headers;
	req.nheaders = 2;
	sl_peer_request_base(&req, p->cfg, p->auth);
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.timeout_ms = p->cfg->timeout_s * 1000u;
	req.max_body = p->cfg->max_body_bytes;
	req.on_done = cb;
	req.arg = p;
	p->xfer = sl_http_client_start(p->http, &req, err);
	if (!p->xfer) {
		char m[SL_ERR_MSG_MAX];
		snprintf(m, sizeof(m), "%s %s: %s", method, path, err->msg);
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

/* A 2xx JSON answer parsed, or NULL with err naming peer, request and what was wrong. */
static json_t *answer_json(struct sl_peer *p, const char *req, const struct sl_http_response *r,
                           struct sl_err *err)
{
	struct sl_json_limits lim = sl_json_limits_default();
	struct sl_err jerr = {0};
	json_t *v;

	if (r->error == SL_HTTP_ESTATUS) {
		sl_err_set(err, SL_ENET, p->cfg->name, "%s: http %d: %.120s", req, r->status,
		           r->body ? r->body : "");
		return NULL;
	}
	if (r->error != SL_HTTP_OK) {
		sl_err_set(err, r->error == SL_HTTP_ETOO_LARGE ? SL_ELIMIT : SL_ENET, p->cfg->name,
		           "%s: %s: %s", req, sl_http_error_name(r->error), r->err.msg);
		return NULL;
	}
	lim.max_bytes = p->cfg->max_body_bytes;
	v = sl_json_parse(r->body ? r->body : "", r->body_len, &lim, req, &jerr);
	if (!v)
		sl_err_set(err, SL_EINVAL, p->cfg->name,
		           "%s: answer is not JSON (content-type %s): %s", req,
		           r->content_type ? r->content_type : "none", jerr.msg);
	return v;
}

/* ---- pull ------------------------------------------------------------------------------------ */

static void pull_finish(struct sl_peer *p, const struct sl_err *err, int64_t ra)
{
	struct sl_peer_pull_cb cb = p->pcb;
	struct sl_err ok = {0};

	p->pulling = false;
	json_decref(p->index);
	p->index = NULL;
	json_decref(p->sightings);
	p->sightings = NULL;
	free(p->cursor);
	p->cursor = NULL;
	cb.done(cb.arg, err ? err : &ok, ra);
}

static int pull_index(struct sl_peer *p, struct sl_err *err);
static int pull_next(struct sl_peer *p, struct sl_err *err);

/* Where a pull without a cursor starts: max_age_days back, else the beginning. */
static long long first_pull_from(const struct sl_peer *p)
{
	return p->cfg->max_age_days ? (long long)time(NULL) - (long long)p->cfg->max_age_days * 86400
	                            : 0;
}

static long long ts_of(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return -1;
}

static bool has_tag(const json_t *ev, const struct sl_strlist *l)
{
	const json_t *t;
	size_t i, k;

	json_array_foreach(json_object_get(ev, "Tag"), i, t)
	{
		const char *name = json_string_value(json_object_get(t, "name"));
		for (k = 0; name && k < l->n; k++)
			if (strcasecmp(name, l->v[k]) == 0)
				return true;
	}
	return false;
}

/* The peer block's tag filters (tags_include: one of them; tags_exclude: none of them), on the
 * event's own tags. */
static bool wanted(const struct sl_peer *p, const json_t *ev)
{
	if (p->cfg->tags_include.n && !has_tag(ev, &p->cfg->tags_include))
		return false;
	return !has_tag(ev, &p->cfg->tags_exclude);
}

/* The cursor a pulled item leaves: the events' timestamp, and once sightings have been read on
 * their own, ",<date_sighting>" of the newest taken in. */
static void position(const struct sl_peer *p, long long sdate, char out[48])
{
	if (sdate >= 0)
		snprintf(out, 48, "%lld,%lld", p->maxts, sdate);
	else
		snprintf(out, 48, "%lld", p->maxts);
}

static void on_view(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	const json_t *entry = json_array_get(p->index, p->next);
	const char *uuid = json_string_value(json_object_get(entry, "uuid"));
	char req[160], pos[48];
	json_t *ev, *inner;
	long long ts;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "GET /events/view/%s", uuid ? uuid : "?");
	ev = answer_json(p, req, r, &err);
	if (!ev) {
		pull_finish(p, &err, retry_after(r));
		return;
	}
	inner = json_object_get(ev, "Event");
	if (!json_is_object(inner) || !json_is_string(json_object_get(inner, "uuid"))) {
		sl_err_set(&err, SL_EINVAL, p->cfg->name, "%s: answer is not {\"Event\": {...}}",
		           req);
		json_decref(ev);
		pull_finish(p, &err, -1);
		return;
	}
	/* The index said when it changed; the cursor only moves to what the index listed, so an
	 * event edited since is read again next time. */
	ts = ts_of(json_object_get(entry, "timestamp"));
	if (ts > p->maxts)
		p->maxts = ts;
	position(p, p->scur, pos);
	/* a filtered-out event is still passed over: the cursor moves past it */
	if (p->pcb.item(p->pcb.arg, wanted(p, inner) ? ev : NULL,
	                json_string_value(json_object_get(inner, "uuid")), pos, &err) < 0) {
		json_decref(ev);
		pull_finish(p, &err, -1);
		return;
	}
	json_decref(ev);
	p->next++;
	if (pull_next(p, &err) < 0)
		pull_finish(p, &err, -1);
}

static int pull_sightings(struct sl_peer *p, struct sl_err *err);

static long long sighting_date(const json_t *entry)
{
	long long v = ts_of(json_object_get(json_object_get(entry, "Sighting"), "date_sighting"));
	return v < 0 ? 0 : v;
}

static int by_date(const void *a, const void *b)
{
	long long x = sighting_date(*(json_t *const *)a), y = sighting_date(*(json_t *const *)b);
	return x < y ? -1 : x > y;
}

/* Hand the sightings over one by one, oldest first: {"Sighting": {...}} with its Attribute and
 * Event, origin the event's uuid; the cursor moves to each one's date (>=: a later pull reads the
 * sightings of that second again; sluice keeps a sighting once, by uuid, as MISP does). */
static void sightings_next(struct sl_peer *p)
{
	struct sl_err err = {0};
	char pos[48];

	while (p->snext < json_array_size(p->sightings)) {
		const json_t *e = json_array_get(p->sightings, p->snext);
		const json_t *s = json_object_get(e, "Sighting");
		const char *eu = json_string_value(json_object_get(json_object_get(s, "Event"), "uuid"));

		position(p, sighting_date(e), pos);
		p->snext++;
		if (p->pcb.item(p->pcb.arg, json_is_object(s) ? e : NULL, eu, pos, &err) < 0) {
			pull_finish(p, &err, -1);
			return;
		}
	}
	pull_finish(p, NULL, -1);
}

static void on_sightings_search(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	const char *req = "POST /sightings/restSearch";
	json_t *v, *e;
	size_t i, n;

	p->xfer = NULL;
	if (!(v = answer_json(p, req, r, &err))) {
		pull_finish(p, &err, retry_after(r));
		return;
	}
	if (!json_is_array(v)) {
		sl_err_set(&err, SL_EINVAL, p->cfg->name, "%s: answer is not a list of sightings",
		           req);
		json_decref(v);
		pull_finish(p, &err, -1);
		return;
	}
	json_array_foreach(v, i, e)
	{
		if (!json_is_object(json_object_get(e, "Sighting"))) {
			sl_err_set(&err, SL_EINVAL, p->cfg->name,
			           "%s: entry %zu is not {\"Sighting\": {...}}", req, i);
			json_decref(v);
			pull_finish(p, &err, -1);
			return;
		}
	}
	/* oldest first, so that the cursor only ever moves past what was handed over */
	n = json_array_size(v);
	{
		json_t **sorted = calloc(n + 1, sizeof(*sorted));
		if (!sorted) {
			json_decref(v);
			sl_err_set(&err, SL_ENOMEM, p->cfg->name, "out of memory");
			pull_finish(p, &err, -1);
			return;
		}
		for (i = 0; i < n; i++)
			sorted[i] = json_incref(json_array_get(v, i));
		qsort(sorted, n, sizeof(*sorted), by_date);
		json_array_clear(v);
		for (i = 0; i < n; i++)
			json_array_append_new(v, sorted[i]);
		free(sorted);
	}
	json_decref(p->sightings);
	p->sightings = v;
	p->snext = 0;
	sightings_next(p);
}

/* After the events: the sightings recorded since the cursor, each with its attribute and event
 * (MISP's sightings search filters on date_sighting: from..to). A sighting added to an event does
 * not change the event's timestamp, so the event pass never brings it. */
static int pull_sightings(struct sl_peer *p, struct sl_err *err)
{
	/* A first pull viewed every event whole, sightings included: only those recorded since it
	 * began can be missing (5 minutes' margin for the peer's clock). */
	long long from = p->scur >= 0 ? p->scur
	                 : p->cursor  ? strtoll(p->cursor, NULL, 10)
	                              : p->started - 300;
	json_t *q = json_pack("{s:s,s:I,s:I,s:b,s:b}", "returnFormat", "json", "from",
	                      (json_int_t)from, "to", (json_int_t)(time(NULL) + 86400), "includeAttribute",
	                      1, "includeEvent", 1);
	char *body = q ? json_dumps(q, JSON_COMPACT) : NULL;
	int rc;

	json_decref(q);
	if (!body)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	rc = start(p, "POST", "/sightings/restSearch", body, on_sightings_search, err);
	free(body);
	return rc;
}

/* View the next published event of the page, or the next page, or finish. */
static int pull_next(struct sl_peer *p, struct sl_err *err)
{
	char path[160];

	while (p->next < json_array_size(p->index)) {
		const json_t *e = json_array_get(p->index, p->next);
		const char *uuid = json_string_value(json_object_get(e, "uuid"));
		const json_t *pub = json_object_get(e, "published");
		bool published =
		    json_is_true(pub) ||
		    (json_is_string(pub) && strcmp(json_string_value(pub), "1") == 0) ||
		    (json_is_integer(pub) && json_integer_value(pub) == 1);
		/* uuids go into a path: only the characters a uuid has */
		if (!uuid || (!published && p->cfg->published_only) || strlen(uuid) != 36 ||
		    strspn(uuid, "0123456789abcdefABCDEF-") != 36) {
			p->next++;
			continue;
		}
		/* with its soft-deleted attributes and objects, as MISP's own pull asks: that is how
		 * a deletion at the peer travels */
		snprintf(path, sizeof(path), "/events/view/%s?deleted=1", uuid);
		return start(p, "GET", path, NULL, on_view, err);
	}
	if (json_array_size(p->index) < SL_PEER_MISP_PAGE)
		return pull_sightings(p, err);
	p->page++;
	return pull_index(p, err);
}

static void on_index(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	char req[64];
	json_t *v;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "POST /events/index page %d", p->page);
	v = answer_json(p, req, r, &err);
	if (!v) {
		pull_finish(p, &err, retry_after(r));
		return;
	}
	if (!json_is_array(v)) {
		sl_err_set(&err, SL_EINVAL, p->cfg->name, "%s: answer is not a list of events",
		           req);
		json_decref(v);
		pull_finish(p, &err, -1);
		return;
	}
	json_decref(p->index);
	p->index = v;
	p->next = 0;
	if (pull_next(p, &err) < 0)
		pull_finish(p, &err, -1);
}

static int pull_index(struct sl_peer *p, struct sl_err *err)
{
	json_t *q = json_pack("{s:i,s:s,s:s,s:i,s:i}", "minimal", 1, "sort", "timestamp",
	                      "direction", "asc", "limit", SL_PEER_MISP_PAGE, "page", p->page);
	char *body;
	int rc;

	if (!q)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	if (p->cfg->published_only)
		json_object_set_new(q, "published", json_integer(1));
	if (p->cursor)
		json_object_set_new(q, "timestamp", json_string(p->cursor));
	else if (p->cfg->max_age_days) /* the first pull reaches back that far only */
		json_object_set_new(q, "timestamp", json_sprintf("%lld", first_pull_from(p)));
	body = json_dumps(q, JSON_COMPACT);
	json_decref(q);
	if (!body)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	rc = start(p, "POST", "/events/index", body, on_index, err);
	free(body);
	return rc;
}

static int misp_pull(struct sl_peer *p, const char *cursor, const struct sl_peer_pull_cb *cb,
                     struct sl_err *err)
{
	int rc;

	if (p->pulling || p->pushing)
		return sl_err_set(err, SL_ECONFLICT, p->cfg->name,
		                  "a request is already in flight");
	if (cursor) {
		size_t e = strspn(cursor, "0123456789");
		const char *sd = cursor[e] == ',' ? cursor + e + 1 : NULL;
		if (e == 0 || (cursor[e] && (!sd || !*sd || strspn(sd, "0123456789") != strlen(sd))))
			return sl_err_set(err, SL_EINVAL, p->cfg->name,
			                  "cursor \"%.40s\" is not a timestamp (or two)", cursor);
		p->scur = sd ? strtoll(sd, NULL, 10) : -1;
	} else {
		p->scur = -1;
	}
	p->pcb = *cb;
	p->started = (long long)time(NULL);
	p->cursor = cursor ? strndup(cursor, strspn(cursor, "0123456789")) : NULL;
	p->maxts = cursor ? strtoll(cursor, NULL, 10) : 0;
	p->page = 1;
	p->pulling = true;
	rc = pull_index(p, err);
	if (rc < 0) {
		p->pulling = false;
		free(p->cursor);
		p->cursor = NULL;
	}
	return rc;
}

/* ---- push ------------------------------------------------------------------------------------ */

static void push_finish(struct sl_peer *p, enum sl_peer_push_result res, const struct sl_err *err,
                        int64_t ra)
{
	sl_peer_push_done done = p->pdone;
	void *arg = p->parg;
	struct sl_err ok = {0};

	p->pushing = false;
	json_decref(p->event);
	p->event = NULL;
	done(arg, res, err ? err : &ok, ra, NULL);
}

static int push_send(struct sl_peer *p, struct sl_err *err);

/* A push the peer answered with an error status: 5xx and the retryable 4xx come back later, and
 * so do 401/403 (the key or its role is wrong, not the item: retried with backoff and the breaker
 * until an operator fixes the key, never parked); any other 4xx refuses the item for good. */
static enum sl_peer_push_result refusal(const struct sl_http_response *r)
{
	return r->status >= 500 || r->status == 401 || r->status == 403 ||
	               sl_backoff_status_retryable(r->status)
	           ? SL_PEER_PUSH_RETRY
	           : SL_PEER_PUSH_PERMANENT;
}

static bool body_says(const struct sl_http_response *r, const char *what)
{
	return r->body && strstr(r->body, what) != NULL;
}

/* A push the peer did not answer with 2xx (gone_ok: nor 404, which then means the thing to delete
 * is gone already), or did not answer at all: finished (refused, or to retry), true. */
static bool push_failed(struct sl_peer *p, const char *req, const struct sl_http_response *r,
                        bool gone_ok)
{
	struct sl_err err = {0};

	if (r->error == SL_HTTP_ESTATUS && !(gone_ok && r->status == 404)) {
		sl_err_set(&err, SL_ENET, p->cfg->name, "%s: http %d: %.120s", req, r->status,
		           r->body ? r->body : "");
		push_finish(p, refusal(r), &err, retry_after(r));
		return true;
	}
	if (r->error != SL_HTTP_OK && r->error != SL_HTTP_ESTATUS) {
		sl_err_set(&err, r->error == SL_HTTP_ETOO_LARGE ? SL_ELIMIT : SL_ENET, p->cfg->name,
		           "%s: %s: %s", req, sl_http_error_name(r->error), r->err.msg);
		push_finish(p, SL_PEER_PUSH_RETRY, &err, retry_after(r));
		return true;
	}
	return false;
}

/* A 2xx answer to a save: sent when it is JSON holding key (an object, else a boolean), else to
 * retry (an HTML login page with 200, another shape: not a save). */
static void push_saved(struct sl_peer *p, const char *req, const struct sl_http_response *r,
                       const char *key, bool object)
{
	struct sl_err err = {0};
	json_t *v = answer_json(p, req, r, &err), *x;

	if (!v) {
		push_finish(p, SL_PEER_PUSH_RETRY, &err, retry_after(r));
		return;
	}
	x = json_object_get(v, key);
	if (object ? !json_is_object(x) : !json_is_boolean(x)) {
		sl_err_set(&err, SL_EINVAL, p->cfg->name, "%s: answer holds no %s", req, key);
		json_decref(v);
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
		return;
	}
	json_decref(v);
	push_finish(p, SL_PEER_PUSH_SENT, NULL, -1);
}

static void on_push(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	char req[128];

	p->xfer = NULL;
	snprintf(req, sizeof(req), "POST /events/%s%s", p->editing ? "edit/" : "add",
	         p->editing ? p->uuid : "");
	if (r->error == SL_HTTP_ESTATUS) {
		/* MISP's "already exists" (404 with a Location) on add: edit it instead. */
		if (!p->editing && r->status == 404 && body_says(r, "already exists")) {
			p->editing = true;
			if (push_send(p, &err) < 0)
				push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
			return;
		}
		/* The peer holds this version or a newer one: nothing to do. */
		if (p->editing && r->status == 403 && body_says(r, "not newer")) {
			push_finish(p, SL_PEER_PUSH_SENT, NULL, -1);
			return;
		}
	}
	if (!push_failed(p, req, r, false))
		push_saved(p, req, r, "Event", true);
}

static int push_send(struct sl_peer *p, struct sl_err *err)
{
	char path[128];
	char *body = json_dumps(p->event, JSON_COMPACT);
	int rc;

	if (!body)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	if (p->editing)
		snprintf(path, sizeof(path), "/events/edit/%s", p->uuid);
	else
		snprintf(path, sizeof(path), "/events/add");
	rc = start(p, "POST", path, body, on_push, err);
	free(body);
	return rc;
}

static bool is_uuid(const char *u)
{
	return u && strlen(u) == 36 && strspn(u, "0123456789abcdefABCDEF-") == 36;
}

static int delete_next(struct sl_peer *p, struct sl_err *err);

/* One attribute erased: 200, or 404 (MISP's "Invalid attribute": it is gone already, or never
 * arrived), goes on with the next; anything else ends the push as a failed one would. */
static void on_delete(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	struct sl_err err = {0};
	char req[96];
	const char *u = json_string_value(
	    json_array_get(json_object_get(p->event, "x_sluice_delete"), p->del_next));

	p->xfer = NULL;
	snprintf(req, sizeof(req), "POST /attributes/delete/%s/1", u ? u : "?");
	if (push_failed(p, req, r, true))
		return;
	p->del_next++;
	if (delete_next(p, &err) < 0)
		push_finish(p, SL_PEER_PUSH_RETRY, &err, -1);
}

static int delete_next(struct sl_peer *p, struct sl_err *err)
{
	const json_t *dels = json_object_get(p->event, "x_sluice_delete");
	char path[96];

	if (p->del_next >= json_array_size(dels)) {
		push_finish(p, SL_PEER_PUSH_SENT, NULL, -1);
		return 0;
	}
	/* /1: a hard delete. Erasure is what sends these (GDPR): a soft-deleted attribute would
	 * keep the value at the peer. */
	snprintf(path, sizeof(path), "/attributes/delete/%s/1",
	         json_string_value(json_array_get(dels, p->del_next)));
	return start(p, "POST", path, "{}", on_delete, err);
}

/* Sightings alone, as MISP's own sync pushes them: one bulkSaveSightings request per event. The
 * peer skips a sighting whose uuid it holds (a re-push after a crash is a no-op) and one whose
 * attribute it lacks; an event it does not hold (its answer: 405 "Event not found") is refused for
 * good: the sightings are parked, visible in `sluice status`. */
static void on_sightings(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	char req[128];

	p->xfer = NULL;
	snprintf(req, sizeof(req), "POST /sightings/bulkSaveSightings/%s", p->uuid);
	/* {"saved": true|false, "success": "..."}: false means every one was held already or
	 * names an attribute the peer lacks */
	if (!push_failed(p, req, r, false))
		push_saved(p, req, r, "saved", false);
}

static int push_sightings(struct sl_peer *p, const json_t *item, struct sl_err *err)
{
	const json_t *list = json_object_get(item, "Sighting"), *s;
	const char *ev = json_string_value(json_object_get(item, "event_uuid"));
	char path[96], *body;
	size_t i;
	int rc;

	if (!is_uuid(ev))
		return sl_err_set(err, SL_EINVAL, p->cfg->name,
		                  "x_sluice_sightings: no valid event_uuid");
	if (!json_is_array(list) || json_array_size(list) == 0)
		return sl_err_set(err, SL_EINVAL, p->cfg->name, "x_sluice_sightings: no sightings");
	json_array_foreach(list, i, s)
	{
		if (!is_uuid(json_string_value(json_object_get(s, "uuid"))) ||
		    !is_uuid(json_string_value(json_object_get(s, "attribute_uuid"))))
			return sl_err_set(err, SL_EINVAL, p->cfg->name,
			                  "x_sluice_sightings: Sighting[%zu] lacks a uuid or an "
			                  "attribute_uuid",
			                  i);
	}
	snprintf(p->uuid, sizeof(p->uuid), "%s", ev);
	snprintf(path, sizeof(path), "/sightings/bulkSaveSightings/%s", ev);
	if (!(body = json_dumps(list, JSON_COMPACT)))
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	rc = start(p, "POST", path, body, on_sightings, err);
	free(body);
	return rc;
}

/* A withdrawn event deleted: 200, or 404 (MISP's "Invalid event": gone already, or never sent). */
static void on_event_delete(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	char req[96];

	p->xfer = NULL;
	snprintf(req, sizeof(req), "POST /events/delete/%s", p->uuid);
	if (!push_failed(p, req, r, true))
		push_finish(p, SL_PEER_PUSH_SENT, NULL, -1);
}

static int misp_push(struct sl_peer *p, const json_t *item, sl_peer_push_done done, void *arg,
                     struct sl_err *err)
{
	const json_t *ev = json_object_get(item, "Event");
	const char *uuid = json_string_value(json_object_get(ev, "uuid"));
	int rc;

	if (p->pulling || p->pushing)
		return sl_err_set(err, SL_ECONFLICT, p->cfg->name,
		                  "a request is already in flight");
	if (!ev && json_is_array(json_object_get(item, "x_sluice_delete"))) {
		const json_t *u;
		size_t i;
		json_array_foreach(json_object_get(item, "x_sluice_delete"), i, u)
		{
			if (!is_uuid(json_string_value(u)))
				return sl_err_set(err, SL_EINVAL, p->cfg->name,
				                  "x_sluice_delete[%zu]: not an attribute uuid", i);
		}
		if (!(p->event = json_deep_copy(item)))
			return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
		p->del_next = 0;
		p->pdone = done;
		p->parg = arg;
		p->pushing = true;
		/* finishing at once (nothing to erase) calls done from inside push: not allowed */
		if (json_array_size(json_object_get(item, "x_sluice_delete")) == 0) {
			p->pushing = false;
			json_decref(p->event);
			p->event = NULL;
			return sl_err_set(err, SL_EINVAL, p->cfg->name, "nothing to delete");
		}
		rc = delete_next(p, err);
		if (rc < 0) {
			p->pushing = false;
			json_decref(p->event);
			p->event = NULL;
		}
		return rc;
	}
	if (!ev && json_is_string(json_object_get(item, "x_sluice_delete_event"))) {
		const char *u = json_string_value(json_object_get(item, "x_sluice_delete_event"));
		char path[96];
		if (!is_uuid(u))
			return sl_err_set(err, SL_EINVAL, p->cfg->name,
			                  "x_sluice_delete_event: not an event uuid");
		snprintf(p->uuid, sizeof(p->uuid), "%s", u);
		snprintf(path, sizeof(path), "/events/delete/%s", u);
		p->pdone = done;
		p->parg = arg;
		p->pushing = true;
		if ((rc = start(p, "POST", path, "{}", on_event_delete, err)) < 0)
			p->pushing = false;
		return rc;
	}
	if (!ev && json_is_object(json_object_get(item, "x_sluice_sightings"))) {
		p->pdone = done;
		p->parg = arg;
		p->pushing = true;
		rc = push_sightings(p, json_object_get(item, "x_sluice_sightings"), err);
		if (rc < 0)
			p->pushing = false;
		return rc;
	}
	if (!is_uuid(uuid))
		return sl_err_set(err, SL_EINVAL, p->cfg->name, "event to push has no valid uuid");
	snprintf(p->uuid, sizeof(p->uuid), "%s", uuid);
	p->event = json_deep_copy(item);
	if (!p->event)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	p->editing = false;
	p->pdone = done;
	p->parg = arg;
	p->pushing = true;
	rc = push_send(p, err);
	if (rc < 0) {
		p->pushing = false;
		json_decref(p->event);
		p->event = NULL;
	}
	return rc;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static struct sl_peer *misp_create(const struct sl_config_peer *cfg, struct sl_http_client *http,
                                   struct sl_err *err)
{
	struct sl_peer *p;
	size_t n;

	if (!cfg->api_key) {
		sl_err_set(err, SL_EINVAL, cfg->where, "peer %s: no API key", cfg->name);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	n = strlen("Authorization: ") + strlen(cfg->api_key) + 1;
	if (p)
		p->auth = malloc(n);
	if (!p || !p->auth) {
		free(p);
		sl_err_set(err, SL_ENOMEM, cfg->name, "out of memory");
		return NULL;
	}
	snprintf(p->auth, n, "Authorization: %s", cfg->api_key);
	p->cfg = cfg;
	p->http = http;
	return p;
}

static void misp_destroy(struct sl_peer *p)
{
	if (!p)
		return;
	if (p->xfer)
		sl_http_xfer_cancel(p->xfer);
	json_decref(p->index);
	json_decref(p->sightings);
	json_decref(p->event);
	free(p->cursor);
	sl_peer_secret_free(p->auth);
	free(p);
}

static bool misp_busy(const struct sl_peer *p)
{
	return p->pulling || p->pushing;
}

static const struct sl_peer_ops misp_ops = {
    .kind = "misp",
    .items = SL_PEER_ITEM_MISP_EVENT,
    .create = misp_create,
    .destroy = misp_destroy,
    .pull = misp_pull,
    .push = misp_push,
    .busy = misp_busy,
};

const struct sl_peer_ops *sl_peer_misp_ops(void)
{
	return &misp_ops;
}
