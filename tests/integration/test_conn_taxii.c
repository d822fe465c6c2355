/* test_conn_taxii.c — the TAXII 2.1 client connector (gateway/peer_taxii) driven on an sl_evloop
 * against taxii-peer processes: pulls over many pages with date_added ties lose nothing (with and
 * without next tokens), a saved position resumes with only newer objects plus the overlap, pushes
 * land and their status is polled to completion, per-object failures and deletes are reported, and
 * every fault ends in a named error, the right RETRY/PERMANENT, and no position past what was
 * handed over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "evloop.h"
#include "http_client.h"
#include "peer_proc.h"
#include "peer_taxii.h"

#define USER "sluice"
#define PW "sluiceTaxiiPw0"
/* ends start_peer's argument list: a typed null pointer, as varargs need */
#define END ((const char *)NULL)
#define BASE_S 1767225600LL /* 2026-01-01T00:00:00Z, where taxii-peer dates loaded objects */

static char g_dir[256];

/* ---- peers ---- */

#define MAX_LIVE 8
static struct sl_peerproc *live[MAX_LIVE];

static void stop_live(void)
{
	for (size_t i = 0; i < MAX_LIVE; i++)
		if (live[i])
			sl_peerproc_stop(live[i]);
}

/* taxii-peer with --data file and the extra arguments (NULL-terminated). */
static struct sl_peerproc *start_peer(const char *data, ...)
{
	char bin[1024];
	char *argv[32];
	size_t n = 0, i;
	const char *a;
	va_list ap;
	struct sl_peerproc *pp;

	argv[n++] = (char *)sl_peerproc_bin("taxii-peer", bin, sizeof bin);
	if (data) {
		argv[n++] = "--data";
		argv[n++] = (char *)data;
	}
	va_start(ap, data);
	while ((a = va_arg(ap, const char *)) && n < 30)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	pp = sl_peerproc_start(argv);
	assert_non_null(pp);
	for (i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = pp;
			break;
		}
	return pp;
}

static void stop_peer(struct sl_peerproc *pp)
{
	for (size_t i = 0; i < MAX_LIVE; i++)
		if (live[i] == pp)
			live[i] = NULL;
	/* a clean exit: under -DSANITIZE=ON a leak in the peer fails here */
	assert_int_equal(sl_peerproc_stop(pp), 0);
}

static json_t *peer_call(struct sl_peerproc *pp, const char *method, const char *path,
                         const char *body)
{
	static const char *const hdrs[] = {"Content-Type: application/json", NULL};
	char url[512];
	struct sl_http_result r;
	json_t *v;

	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(pp), path);
	assert_int_equal(sl_http(method, url, hdrs, body, 5000, &r), 0);
	assert_int_equal(r.status, 200);
	v = json_loads(r.body, 0, NULL);
	sl_http_result_free(&r);
	assert_non_null(v);
	return v;
}

static void set_fault(struct sl_peerproc *pp, const char *kind)
{
	char body[128];
	snprintf(body, sizeof(body), "{\"kind\":\"%s\",\"count\":1}", kind);
	json_decref(peer_call(pp, "POST", "/_test/fault", body));
}

/* The ids stored in a collection of the peer, as {"<id>": true}. */
static json_t *stored_ids(struct sl_peerproc *pp, const char *coll)
{
	json_t *d = peer_call(pp, "GET", "/_test/dump", NULL), *ids = json_object(), *e;
	size_t i;

	json_array_foreach(
	    json_object_get(json_object_get(json_object_get(d, "collections"), coll), "objects"), i,
	    e)
	    json_object_set_new(
	        ids, json_string_value(json_object_get(json_object_get(e, "object"), "id")),
	        json_true());
	json_decref(d);
	return ids;
}

static json_int_t dump_count(struct sl_peerproc *pp, const char *what)
{
	json_t *d = peer_call(pp, "GET", "/_test/dump", NULL);
	json_int_t n = json_integer_value(json_object_get(d, what));
	json_decref(d);
	return n;
}

/* ---- data ---- */

static json_t *indicator(unsigned tag, unsigned i)
{
	char id[80];
	snprintf(id, sizeof(id), "indicator--%08x-0000-4000-8000-%012x", tag, i);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "indicator", "spec_version",
	                 "2.1", "id", id, "created", "2026-01-01T00:00:00.000Z", "modified",
	                 "2026-01-01T00:00:00.000Z", "pattern", "[ipv4-addr:value = '10.0.0.1']",
	                 "pattern_type", "stix", "valid_from", "2026-01-01T00:00:00Z");
}

static const char *id_of(const json_t *o)
{
	return json_string_value(json_object_get(o, "id"));
}

static json_t *indicators(unsigned tag, unsigned n)
{
	json_t *l = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(l, indicator(tag, i));
	return l;
}

static json_t *coll(const char *id, bool r, bool w, json_t *objects)
{
	return json_pack("{s:s,s:b,s:b,s:o}", "id", id, "can_read", r, "can_write", w, "objects",
	                 objects ? objects : json_array());
}

/* Write {"collections": [...]} (stolen) to a file in the test directory; returns its path. */
static const char *data_file(const char *name, json_t *colls)
{
	static char paths[8][512];
	static size_t next;
	char *p = paths[next++ % 8];
	json_t *doc = json_pack("{s:o}", "collections", colls);

	snprintf(p, 512, "%s/%s.json", g_dir, name);
	assert_int_equal(json_dump_file(doc, p, 0), 0);
	json_decref(doc);
	return p;
}

/* ---- the connector on a loop ---- */

struct run {
	struct sl_evloop *loop;
	struct sl_http_client *http;
	struct sl_config_peer cfg;
	const char *colls[4];
	char url[512];
	struct sl_peer *conn;
	struct sl_timer *guard;
	bool done, timed_out;
	/* pull */
	json_t *items; /* [{"origin", "position", "ids": [...]}] */
	struct sl_err err;
	int64_t ra;
	struct sl_peerproc *fault_peer; /* set fault_kind on it after fault_after items */
	const char *fault_kind;
	size_t fault_after;
	/* push */
	enum sl_peer_push_result res;
	json_t *rejected;
};

static void on_guard(struct sl_timer *t, void *arg)
{
	struct run *r = arg;
	(void)t;
	r->timed_out = true;
	sl_evloop_stop(r->loop);
}

static struct run *run_new(struct sl_peerproc *pp, const char *path, const char *key)
{
	struct run *r = calloc(1, sizeof(*r));
	struct sl_err err = {0};

	assert_non_null(r);
	snprintf(r->url, sizeof(r->url), "%s%s", sl_peerproc_url(pp), path ? path : "/taxii2/");
	r->loop = sl_evloop_new(&err);
	assert_non_null(r->loop);
	r->http = sl_http_client_new(sl_evloop_base(r->loop), 8, &err);
	assert_non_null(r->http);
	r->cfg.name = "tx";
	r->cfg.where = "test:1";
	r->cfg.kind = SL_PEER_TAXII;
	r->cfg.direction = SL_PEER_BOTH;
	r->cfg.url = r->url;
	r->cfg.api_key = key;
	r->cfg.api_key_configured = key != NULL;
	r->cfg.allow_plain_http = true;
	r->cfg.timeout_s = 5;
	r->cfg.connect_timeout_s = 2;
	r->cfg.max_body_bytes = 16u << 20;
	r->cfg.collections.v = r->colls;
	r->conn = sl_peer_taxii_ops()->create(&r->cfg, r->http, &err);
	assert_non_null(r->conn);
	sl_peer_taxii_attach(r->conn, sl_evloop_base(r->loop));
	r->guard = sl_timer_new(r->loop, false, on_guard, r);
	r->items = json_array();
	return r;
}

static void run_free(struct run *r)
{
	sl_peer_taxii_ops()->destroy(r->conn);
	sl_timer_free(r->guard);
	sl_http_client_free(r->http);
	sl_evloop_free(r->loop);
	json_decref(r->items);
	json_decref(r->rejected);
	free(r);
}

static void wait_done(struct run *r)
{
	sl_timer_arm(r->guard, 60000);
	if (!r->done)
		sl_evloop_run(r->loop);
	sl_timer_cancel(r->guard);
	assert_false(r->timed_out);
	assert_true(r->done);
	assert_false(sl_peer_taxii_ops()->busy(r->conn));
}

static int on_item(void *arg, const json_t *item, const char *origin, const char *position,
                   struct sl_err *err)
{
	struct run *r = arg;
	json_t *ids = json_array(), *o;
	size_t i;

	(void)err;
	assert_non_null(item);
	assert_string_equal(json_string_value(json_object_get(item, "type")), "bundle");
	assert_non_null(origin);
	assert_non_null(position);
	json_array_foreach(json_object_get(item, "objects"), i, o)
	    json_array_append_new(ids, json_string(id_of(o)));
	assert_true(json_array_size(ids) > 0);
	json_array_append_new(r->items, json_pack("{s:s,s:s,s:o}", "origin", origin, "position",
	                                          position, "ids", ids));
	if (r->fault_kind && json_array_size(r->items) == r->fault_after)
		set_fault(r->fault_peer, r->fault_kind);
	return 0;
}

static void on_pull_done(void *arg, const struct sl_err *err, int64_t ra)
{
	struct run *r = arg;
	r->done = true;
	r->err = *err;
	r->ra = ra;
	sl_evloop_stop(r->loop);
}

static void pull(struct run *r, const char *cursor)
{
	struct sl_peer_pull_cb cb = {on_item, on_pull_done, r};
	struct sl_err err = {0};

	r->done = false;
	memset(&r->err, 0, sizeof(r->err));
	json_array_clear(r->items);
	assert_int_equal(sl_peer_taxii_ops()->pull(r->conn, cursor, &cb, &err), 0);
	wait_done(r);
}

static void on_push_done(void *arg, enum sl_peer_push_result res, const struct sl_err *err,
                         int64_t ra, const json_t *rejected)
{
	struct run *r = arg;
	r->done = true;
	r->res = res;
	r->err = *err;
	r->ra = ra;
	json_decref(r->rejected);
	r->rejected = rejected ? json_deep_copy(rejected) : NULL;
	sl_evloop_stop(r->loop);
}

/* Push the bundle (stolen). */
static void push(struct run *r, json_t *bundle)
{
	struct sl_err err = {0};

	r->done = false;
	memset(&r->err, 0, sizeof(r->err));
	assert_int_equal(sl_peer_taxii_ops()->push(r->conn, bundle, on_push_done, r, &err), 0);
	/* done comes later, never from inside push */
	assert_false(r->done);
	assert_true(sl_peer_taxii_ops()->busy(r->conn));
	json_decref(bundle);
	wait_done(r);
}

static json_t *bundle_of(json_t *objects, json_t *deletes)
{
	json_t *b = json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
	                      "bundle--00000000-0000-4000-8000-000000000000", "objects",
	                      objects ? objects : json_array());
	if (deletes)
		json_object_set_new(b, "x_sluice_delete", deletes);
	return b;
}

/* Every id pulled from origin, as {"<id>": times seen}. */
static json_t *pulled_ids(const struct run *r, const char *origin)
{
	json_t *set = json_object(), *it, *id;
	size_t i, k;

	json_array_foreach(r->items, i, it)
	{
		if (strcmp(json_string_value(json_object_get(it, "origin")), origin) != 0)
			continue;
		json_array_foreach(json_object_get(it, "ids"), k, id)
		{
			const char *s = json_string_value(id);
			json_object_set_new(
			    set, s, json_integer(json_integer_value(json_object_get(set, s)) + 1));
		}
	}
	return set;
}

/* Every id of the list is in the set and the set holds nothing else. */
static void assert_same_ids(const json_t *set, const json_t *list)
{
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
	{
		if (!json_object_get(set, id_of(x)))
			fail_msg("%s was not delivered", id_of(x));
	}
	assert_int_equal(json_object_size(set), json_array_size(list));
}

static const char *last_position(const struct run *r)
{
	size_t n = json_array_size(r->items);
	assert_true(n > 0);
	return json_string_value(json_object_get(json_array_get(r->items, n - 1), "position"));
}

/* The timestamp a position holds for a collection (malloc'd), or NULL. */
static char *position_of(const char *position, const char *coll)
{
	json_t *p = json_loads(position, 0, NULL);
	const char *ts = json_string_value(json_object_get(p, coll));
	char *r = ts ? strdup(ts) : NULL;
	assert_non_null(p);
	json_decref(p);
	return r;
}

static void assert_contains(const char *s, const char *what)
{
	if (!strstr(s, what))
		fail_msg("\"%s\" does not name \"%s\"", s, what);
}

/* ---- pull ---- */

/* 23 objects in groups of 5 sharing one date_added, pages of 4: every page boundary but one cuts
 * a group. Walked with next, all 23 arrive; the unreadable collection is not pulled. */
static void test_pull_ties_with_next(void **state)
{
	json_t *a = indicators(0xa, 23), *b = indicators(0xb, 4);
	const char *f =
	    data_file("ties", json_pack("[o,o,o]", coll("coll-a", true, false, json_incref(a)),
	                                coll("coll-b", true, true, json_incref(b)),
	                                coll("coll-hidden", false, true, indicators(0xc, 3))));
	struct sl_peerproc *pp = start_peer(f, "--page-size", "4", "--tie-groups", "5", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	json_t *got, *pos;
	char *ts;
	const char *prev = NULL;
	size_t i;

	(void)state;
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-a");
	assert_same_ids(got, a);
	json_decref(got);
	got = pulled_ids(r, "coll-b");
	assert_same_ids(got, b);
	json_decref(got);
	got = pulled_ids(r, "coll-hidden");
	assert_int_equal(json_object_size(got), 0);
	json_decref(got);
	/* 6 pages of coll-a + 1 of coll-b, each a bundle of at most 4 */
	assert_int_equal(json_array_size(r->items), 7);
	json_array_foreach(r->items, i, pos)
	{
		assert_true(json_array_size(json_object_get(pos, "ids")) <= 4);
		/* positions never go back */
		if (prev &&
		    strcmp(json_string_value(json_object_get(pos, "origin")), "coll-a") == 0) {
			char *x = position_of(prev, "coll-a"),
			     *y = position_of(json_string_value(json_object_get(pos, "position")),
			                      "coll-a");
			assert_true(strcmp(x, y) <= 0);
			free(x);
			free(y);
		}
		prev = json_string_value(json_object_get(pos, "position"));
	}
	/* the last group (objects 20-22) was stamped BASE + 4 s */
	ts = position_of(last_position(r), "coll-a");
	assert_string_equal(ts, "2026-01-01T00:00:04.000000Z");
	free(ts);
	ts = position_of(last_position(r), "coll-b");
	assert_non_null(ts);
	free(ts);
	run_free(r);
	stop_peer(pp);
	json_decref(a);
	json_decref(b);
}

/* A partner without next tokens: the connector pages with added_after just before the last
 * date_added, so ties are read again, not skipped — all 23 arrive. When one date_added holds more
 * objects than the partner's page, paging on would lose some: a named error instead. */
static void test_pull_ties_without_next(void **state)
{
	json_t *a = indicators(0xa, 23), *got;
	const char *f =
	    data_file("nonext", json_pack("[o]", coll("coll-a", true, false, json_incref(a))));
	struct sl_peerproc *pp =
	    start_peer(f, "--page-size", "4", "--tie-groups", "3", "--no-next", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	char *ts;

	(void)state;
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-a");
	assert_same_ids(got, a);
	json_decref(got);
	ts = position_of(last_position(r), "coll-a");
	assert_string_equal(ts, "2026-01-01T00:00:07.000000Z"); /* object 22: group 7 */
	free(ts);
	run_free(r);
	stop_peer(pp);

	pp = start_peer(f, "--page-size", "4", "--tie-groups", "6", "--no-next", END);
	r = run_new(pp, NULL, USER ":" PW);
	pull(r, NULL);
	assert_int_equal(r->err.code, SL_ELIMIT);
	assert_string_equal(r->err.where, "tx");
	assert_contains(r->err.msg, "share date_added 2026-01-01T00:00:00.000000Z");
	assert_contains(r->err.msg, "/collections/coll-a/objects/");
	/* what was handed over is kept: a later pull reads the tie again from before it */
	ts = position_of(last_position(r), "coll-a");
	assert_string_equal(ts, "2026-01-01T00:00:00.000000Z");
	free(ts);
	run_free(r);
	stop_peer(pp);
	json_decref(a);
}

/* Objects 10 minutes apart; the saved position resumes with the objects added since plus those
 * within the overlap before it (here: the last one), nothing older. */
static void test_pull_resume(void **state)
{
	json_t *objs = json_array(), *news = indicators(0xe, 3), *got, *want;
	struct sl_peerproc *pp;
	struct run *r;
	char *pos, body[4096], *s, *ts;
	const char *f;
	unsigned i;

	(void)state;
	for (i = 0; i < 10; i++) {
		char d[40];
		time_t t = (time_t)(BASE_S + 600 * i);
		strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&t));
		json_array_append_new(
		    objs, json_pack("{s:s,s:o}", "date_added", d, "object", indicator(0xd, i)));
	}
	f = data_file("resume", json_pack("[o]", coll("coll-r", true, false, objs)));
	pp = start_peer(f, "--page-size", "3", END);
	r = run_new(pp, NULL, USER ":" PW);
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-r");
	assert_int_equal(json_object_size(got), 10);
	json_decref(got);
	pos = strdup(last_position(r));
	ts = position_of(pos, "coll-r");
	assert_string_equal(ts, "2026-01-01T01:30:00.000000Z");
	free(ts);

	s = json_dumps(news, JSON_COMPACT);
	snprintf(body, sizeof(body),
	         "{\"collection\":\"coll-r\",\"date_added\":\"2026-01-01T03:00:00Z\","
	         "\"objects\":%s}",
	         s);
	free(s);
	json_decref(peer_call(pp, "POST", "/_test/add", body));

	pull(r, pos);
	assert_int_equal(r->err.code, 0);
	/* the overlap (SL_PEER_TAXII_OVERLAP_US) is under 10 minutes: only object 9 again */
	assert_true(SL_PEER_TAXII_OVERLAP_US < 600LL * 1000000LL);
	want = json_deep_copy(news);
	json_array_append_new(want, indicator(0xd, 9));
	got = pulled_ids(r, "coll-r");
	assert_same_ids(got, want);
	json_decref(got);
	json_decref(want);
	ts = position_of(last_position(r), "coll-r");
	assert_string_equal(ts, "2026-01-01T03:00:00.000000Z");
	free(ts);

	/* nothing new: nothing but the overlap, and a bad cursor is refused up front */
	free(pos);
	pos = strdup(last_position(r));
	pull(r, pos);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-r");
	assert_int_equal(json_object_size(got), 3);
	json_decref(got);
	{
		struct sl_peer_pull_cb cb = {on_item, on_pull_done, r};
		struct sl_err err = {0};
		assert_int_equal(sl_peer_taxii_ops()->pull(r->conn, "12345", &cb, &err), SL_EINVAL);
		assert_contains(err.msg, "cursor");
		assert_false(sl_peer_taxii_ops()->busy(r->conn));
	}
	free(pos);
	run_free(r);
	stop_peer(pp);
	json_decref(news);
}

/* Configured collections: the readable one is pulled, an unknown one and an unreadable one are
 * named errors at the end, and the readable one still arrives. */
static void test_pull_configured(void **state)
{
	json_t *b = indicators(0xb, 4), *got;
	const char *f =
	    data_file("conf", json_pack("[o,o]", coll("coll-b", true, true, json_incref(b)),
	                                coll("coll-hidden", false, true, indicators(0xc, 2))));
	struct sl_peerproc *pp = start_peer(f, "--relative-roots", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);

	(void)state;
	r->colls[0] = "nope";
	r->colls[1] = "coll-hidden";
	r->colls[2] = "coll-b";
	r->cfg.collections.n = 3;
	pull(r, NULL);
	assert_int_equal(r->err.code, SL_ENOTFOUND);
	assert_contains(r->err.msg, "collection nope is not listed");
	got = pulled_ids(r, "coll-b");
	assert_same_ids(got, b);
	json_decref(got);
	assert_int_equal(json_array_size(r->items), 1);
	run_free(r);

	/* the api root itself as url, and wrong credentials */
	r = run_new(pp, "/api1/", USER ":wrong");
	pull(r, NULL);
	assert_int_equal(r->err.code, SL_EINVAL);
	assert_contains(r->err.msg, "http 401");
	assert_contains(r->err.msg, "GET ");
	assert_int_equal(json_array_size(r->items), 0);
	run_free(r);
	stop_peer(pp);

	/* discovery naming an api root on another host: the credentials do not follow it */
	pp = start_peer(f, "--foreign-root", "https://elsewhere.example/api1/", END);
	r = run_new(pp, NULL, USER ":" PW);
	pull(r, NULL);
	assert_int_equal(r->err.code, SL_EINVAL);
	assert_contains(r->err.msg,
	                "api root https://elsewhere.example/api1/ is not on http://127.0.0.1:");
	assert_int_equal(json_array_size(r->items), 0);
	run_free(r);
	stop_peer(pp);

	/* a bearer token */
	pp = start_peer(f, "--no-auth", "--token", "t0k3n", END);
	r = run_new(pp, "/api1", "t0k3n");
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-b");
	assert_same_ids(got, b);
	json_decref(got);
	run_free(r);
	stop_peer(pp);
	json_decref(b);
}

/* A next token the partner refuses (expired: 400) restarts the walk from what was handed over;
 * nothing is skipped. A third refusal in one walk ends the pull with the 400. */
static void test_pull_next_expired(void **state)
{
	json_t *a = indicators(0x41, 10), *got;
	const char *f =
	    data_file("expire", json_pack("[o]", coll("coll-x", true, false, json_incref(a))));
	struct sl_peerproc *pp = start_peer(f, "--page-size", "3", "--expire-next", "2", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);

	(void)state;
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-x");
	assert_same_ids(got, a);
	json_decref(got);
	run_free(r);
	stop_peer(pp);

	pp = start_peer(f, "--page-size", "3", "--expire-next", "3", END);
	r = run_new(pp, NULL, USER ":" PW);
	pull(r, NULL);
	assert_int_equal(r->err.code, SL_EINVAL);
	assert_contains(r->err.msg, "http 400");
	assert_contains(r->err.msg, "next token expired");
	run_free(r);
	stop_peer(pp);
	json_decref(a);
}

/* max_age_days: the first pull skips what the partner added before that many days ago. */
static void test_pull_max_age(void **state)
{
	json_t *fresh = indicators(0x42, 2), *got;
	const char *f =
	    data_file("age", json_pack("[o]", coll("coll-y", true, false, indicators(0x43, 5))));
	struct sl_peerproc *pp = start_peer(f, END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	char body[2048], *s = json_dumps(fresh, JSON_COMPACT);

	(void)state;
	snprintf(body, sizeof(body), "{\"collection\":\"coll-y\",\"objects\":%s}", s);
	free(s);
	json_decref(peer_call(pp, "POST", "/_test/add", body)); /* date_added = now */
	/* the seeded objects are from 2026-01-01: make sure "1 day" is before now and after them */
	assert_true(time(NULL) > BASE_S + 2 * 86400);
	r->cfg.max_age_days = 1;
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	got = pulled_ids(r, "coll-y");
	assert_same_ids(got, fresh);
	json_decref(got);
	run_free(r);
	stop_peer(pp);
	json_decref(fresh);
}

struct fault_case {
	const char *kind;
	int code;
	int64_t ra;
};

/* A fault on page 2 of 3: the pull ends with a named error, nothing after page 1 was handed over,
 * and a pull from page 1's position brings the rest. */
static void test_pull_faults(void **state)
{
	static const struct fault_case cases[] = {
	    {"500", SL_ENET, -1},         {"429", SL_ENET, 1000},     {"401", SL_EINVAL, -1},
	    {"html", SL_ENET, -1},        {"html200", SL_EINVAL, -1}, {"wrongshape", SL_EINVAL, -1},
	    {"malformed", SL_EINVAL, -1}, {"reset", SL_ENET, -1},     {"hang", SL_ENET, -1},
	    {"slow", SL_ENET, -1},
	};
	json_t *a = indicators(0xf, 12);
	const char *f =
	    data_file("faults", json_pack("[o]", coll("coll-f", true, false, json_incref(a))));
	struct sl_peerproc *pp = start_peer(f, "--page-size", "4", "--slow-bytes", "8", END);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run *r = run_new(pp, NULL, USER ":" PW);
		json_t *first, *rest, *all = json_object(), *x;
		const char *k;
		char *pos, *ts;

		r->cfg.timeout_s = 2;
		r->fault_peer = pp;
		r->fault_kind = cases[i].kind;
		r->fault_after = 1;
		pull(r, NULL);
		if (r->err.code != cases[i].code)
			fail_msg("fault %s: code %d (%s)", cases[i].kind, r->err.code, r->err.msg);
		assert_string_equal(r->err.where, "tx");
		assert_contains(r->err.msg, "GET ");
		assert_contains(r->err.msg, "/collections/coll-f/objects/");
		assert_int_equal(r->ra, cases[i].ra);
		assert_int_equal(json_array_size(r->items), 1);
		pos = strdup(last_position(r));
		ts = position_of(pos, "coll-f");
		assert_string_equal(ts, "2026-01-01T00:00:03.000000Z"); /* object 3, page 1 */
		free(ts);
		first = pulled_ids(r, "coll-f");
		r->fault_kind = NULL;
		pull(r, pos);
		assert_int_equal(r->err.code, 0);
		rest = pulled_ids(r, "coll-f");
		json_object_foreach(first, k, x) json_object_set(all, k, x);
		json_object_foreach(rest, k, x) json_object_set(all, k, x);
		assert_same_ids(all, a);
		json_decref(first);
		json_decref(rest);
		json_decref(all);
		free(pos);
		run_free(r);
	}
	stop_peer(pp);
	json_decref(a);
}

/* ---- push ---- */

/* A pushed bundle lands; the status stays pending for 3 polls and is polled to completion. */
static void test_push_status(void **state)
{
	const char *f = data_file("push", json_pack("[o,o]", coll("ro", true, false, NULL),
	                                            coll("rw", true, true, NULL)));
	struct sl_peerproc *pp = start_peer(f, "--pending-polls", "3", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	json_t *objs = indicators(0x1, 3), *ids, *x;
	size_t i;

	(void)state;
	push(r, bundle_of(json_incref(objs), NULL));
	if (r->res != SL_PEER_PUSH_SENT)
		fail_msg("push: %d %s", r->res, r->err.msg);
	assert_null(r->rejected);
	ids = stored_ids(pp, "rw");
	json_array_foreach(objs, i, x) assert_non_null(json_object_get(ids, id_of(x)));
	assert_int_equal(json_object_size(ids), 3);
	json_decref(ids);
	assert_int_equal(dump_count(pp, "status_polls"), 3);
	assert_int_equal(dump_count(pp, "posts"), 1);
	run_free(r);

	/* without the loop's base there are no pauses: 3 polls, then RETRY naming the status */
	stop_peer(pp);
	pp = start_peer(f, "--pending-polls", "5", END);
	r = run_new(pp, NULL, USER ":" PW);
	sl_peer_taxii_attach(r->conn, NULL);
	push(r, bundle_of(indicators(0x2, 2), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "still pending after 3 polls");
	assert_int_equal(dump_count(pp, "status_polls"), 3);
	run_free(r);
	stop_peer(pp);
	json_decref(objs);
}

/* Objects the partner refuses are reported one by one; the others are delivered. */
static void test_push_failures(void **state)
{
	const char *f = data_file("fail", json_pack("[o]", coll("rw", true, true, NULL)));
	struct sl_peerproc *pp = start_peer(f, "--reject-type", "malware", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	json_t *objs = indicators(0x3, 2), *ids;
	const char *mal = "malware--00000000-0000-4000-8000-0000000000aa";
	const char *old = "indicator--00000000-0000-4000-8000-0000000000bb";
	json_t *o20 = indicator(0x4, 0);

	(void)state;
	json_object_set_new(o20, "id", json_string(old));
	json_object_set_new(o20, "spec_version", json_string("2.0"));
	json_array_append_new(
	    objs, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "type", "malware", "spec_version",
	                    "2.1", "id", mal, "created", "2026-01-01T00:00:00.000Z", "modified",
	                    "2026-01-01T00:00:00.000Z", "name", "m", "is_family", 0));
	json_array_append_new(objs, o20);
	push(r, bundle_of(json_incref(objs), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_non_null(r->rejected);
	assert_int_equal(json_object_size(r->rejected), 2);
	assert_contains(json_string_value(json_object_get(r->rejected, mal)),
	                "type malware does not belong in this collection");
	assert_contains(json_string_value(json_object_get(r->rejected, mal)), "refused by tx");
	assert_contains(json_string_value(json_object_get(r->rejected, old)), "spec_version 2.1");
	ids = stored_ids(pp, "rw");
	assert_int_equal(json_object_size(ids), 2);
	assert_non_null(json_object_get(ids, id_of(json_array_get(objs, 0))));
	assert_non_null(json_object_get(ids, id_of(json_array_get(objs, 1))));
	json_decref(ids);
	run_free(r);
	stop_peer(pp);
	json_decref(objs);
}

/* x_sluice_delete: DELETE where the partner allows it; refused per object where it does not. */
static void test_push_delete(void **state)
{
	json_t *seed = indicators(0x5, 2), *ids;
	const char *f =
	    data_file("del", json_pack("[o]", coll("rw", true, true, json_incref(seed))));
	struct sl_peerproc *pp = start_peer(f, END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	const char *x = id_of(json_array_get(seed, 0)), *y = id_of(json_array_get(seed, 1));
	const char *gone = "indicator--00000000-0000-4000-8000-0000000000ff";

	(void)state;
	push(r, bundle_of(indicators(0x6, 1), json_pack("[s,s,s]", x, gone, "not an id")));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	ids = stored_ids(pp, "rw");
	assert_null(json_object_get(ids, x));
	assert_non_null(json_object_get(ids, y));
	assert_int_equal(json_object_size(ids), 2); /* y and the new indicator */
	json_decref(ids);
	assert_int_equal(dump_count(pp, "deletes"), 1);
	/* an id already gone is done; one that is not an id is refused */
	assert_non_null(r->rejected);
	assert_int_equal(json_object_size(r->rejected), 1);
	assert_contains(json_string_value(json_object_get(r->rejected, "not an id")),
	                "not a STIX id");
	run_free(r);
	stop_peer(pp);

	pp = start_peer(f, "--no-delete", END);
	r = run_new(pp, NULL, USER ":" PW);
	push(r, bundle_of(NULL, json_pack("[s]", y)));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_non_null(r->rejected);
	assert_contains(json_string_value(json_object_get(r->rejected, y)),
	                "does not allow deleting objects in collection rw (http 405)");
	ids = stored_ids(pp, "rw");
	assert_non_null(json_object_get(ids, y));
	json_decref(ids);
	run_free(r);
	stop_peer(pp);

	/* a collection that is write-only: DELETE needs can_read too, so nothing is asked */
	f = data_file("del2", json_pack("[o]", coll("wo", false, true, json_incref(seed))));
	pp = start_peer(f, END);
	r = run_new(pp, NULL, USER ":" PW);
	push(r, bundle_of(NULL, json_pack("[s]", y)));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_contains(json_string_value(json_object_get(r->rejected, y)), "needs can_read");
	assert_int_equal(dump_count(pp, "deletes"), 0);
	run_free(r);
	stop_peer(pp);
	json_decref(seed);
}

/* Envelopes are cut to the api root's max_content_length; one object over it alone is refused. */
static void test_push_max_content(void **state)
{
	const char *f = data_file("mcl", json_pack("[o]", coll("rw", true, true, NULL)));
	struct sl_peerproc *pp = start_peer(f, "--max-content-length", "1500", END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	json_t *objs = indicators(0x7, 10), *big = indicator(0x8, 0), *ids;
	char pad[2000];

	(void)state;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	json_object_set_new(big, "description", json_string(pad));
	json_array_append(objs, big);
	push(r, bundle_of(json_incref(objs), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_int_equal(json_object_size(r->rejected), 1);
	assert_contains(json_string_value(json_object_get(r->rejected, id_of(big))),
	                "max_content_length 1500");
	ids = stored_ids(pp, "rw");
	assert_int_equal(json_object_size(ids), 10);
	json_decref(ids);
	assert_true(dump_count(pp, "posts") >= 2);
	run_free(r);
	stop_peer(pp);
	json_decref(objs);
	json_decref(big);
}

/* Each fault on the POST: a named error and RETRY; a partner that refuses the content: PERMANENT.
 */
static void test_push_faults(void **state)
{
	static const struct fault_case cases[] = {
	    {"500", 0, -1},       {"429", 0, 1000},   {"401", 0, -1},
	    {"html", 0, -1},      {"html200", 0, -1}, {"wrongshape", 0, -1},
	    {"malformed", 0, -1}, {"reset", 0, -1},   {"hang", 0, -1},
	};
	static const char *const refusals[] = {"400", "413", "422"};
	const char *f = data_file("pushf", json_pack("[o]", coll("rw", true, true, NULL)));
	struct sl_peerproc *pp = start_peer(f, END);
	struct run *r = run_new(pp, NULL, USER ":" PW);
	size_t i;

	(void)state;
	r->cfg.timeout_s = 2;
	push(r, bundle_of(indicators(0x9, 1), NULL)); /* the collections are known from now on */
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_fault(pp, cases[i].kind);
		push(r, bundle_of(indicators(0x10 + (unsigned)i, 2), NULL));
		if (r->res != SL_PEER_PUSH_RETRY)
			fail_msg("fault %s: result %d (%s)", cases[i].kind, r->res, r->err.msg);
		assert_string_equal(r->err.where, "tx");
		assert_contains(r->err.msg, "POST ");
		assert_contains(r->err.msg, "/collections/rw/objects/");
		assert_int_equal(r->ra, cases[i].ra);
	}
	/* after the faults the same connector delivers again */
	push(r, bundle_of(indicators(0x20, 1), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	run_free(r);
	stop_peer(pp);

	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		char want[32];
		pp = start_peer(f, "--refuse-post", refusals[i], END);
		r = run_new(pp, NULL, USER ":" PW);
		push(r, bundle_of(indicators(0x30, 1), NULL));
		assert_int_equal(r->res, SL_PEER_PUSH_PERMANENT);
		snprintf(want, sizeof(want), "http %s", refusals[i]);
		assert_contains(r->err.msg, want);
		assert_contains(r->err.msg, "POST ");
		run_free(r);
		stop_peer(pp);
	}
	/* can_write false everywhere: a configuration matter, the rows wait (RETRY) */
	f = data_file("pushro", json_pack("[o]", coll("ro", true, false, NULL)));
	pp = start_peer(f, END);
	r = run_new(pp, NULL, USER ":" PW);
	push(r, bundle_of(indicators(0x31, 1), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "no writable collection");
	run_free(r);
	stop_peer(pp);
}

/* ---- the test peer itself ---- */

static struct sl_http_result taxii_get(struct sl_peerproc *pp, const char *path, const char *accept)
{
	char url[512], acc[160];
	const char *hdrs[] = {"Authorization: Basic c2x1aWNlOnNsdWljZVRheGlpUHcw", acc, NULL};
	struct sl_http_result r;

	snprintf(acc, sizeof(acc), "Accept: %s", accept ? accept : SL_PEER_TAXII_MEDIA);
	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(pp), path);
	assert_int_equal(sl_http("GET", url, hdrs, NULL, 5000, &r), 0);
	return r;
}

static json_t *taxii_json(struct sl_peerproc *pp, const char *path, long want)
{
	struct sl_http_result r = taxii_get(pp, path, NULL);
	json_t *v;

	if (r.status != want)
		fail_msg("GET %s: %ld %s", path, r.status, r.body);
	assert_non_null(strstr(r.headers, "application/taxii+json;version=2.1"));
	v = json_loads(r.body, 0, NULL);
	sl_http_result_free(&r);
	assert_non_null(v);
	return v;
}

/* taxii-peer answers as TAXII 2.1 says: filters, versions, manifest, and its refusals. */
static void test_peer_endpoints(void **state)
{
	json_t *objs = indicators(0x40, 3), *v2 = indicator(0x40, 1), *v, *l;
	const char *f;
	struct sl_peerproc *pp;
	struct sl_http_result r;

	(void)state;
	/* a second version of object 1, added later */
	json_object_set_new(v2, "modified", json_string("2026-02-01T00:00:00.000Z"));
	json_array_append_new(objs, v2);
	f = data_file(
	    "ep", json_pack("[o,o]", coll("c", true, false, objs), coll("w", false, true, NULL)));
	pp = start_peer(f, "--page-size", "2", END);

	v = taxii_json(pp, "/api1/collections/c/objects/", 200); /* default: last versions */
	assert_true(json_is_true(json_object_get(v, "more")));
	assert_non_null(json_object_get(v, "next"));
	assert_int_equal(json_array_size(json_object_get(v, "objects")), 2);
	json_decref(v);
	v = taxii_json(pp, "/api1/collections/c/objects/?match[version]=all&limit=10", 200);
	assert_int_equal(json_array_size(json_object_get(v, "objects")), 2); /* server cap */
	json_decref(v);
	v = taxii_json(pp,
	               "/api1/collections/c/objects/?match[id]=indicator--00000040-0000-4000-8000-"
	               "000000000001&match[version]=first",
	               200);
	l = json_object_get(v, "objects");
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "modified")),
	                    "2026-01-01T00:00:00.000Z");
	json_decref(v);
	v = taxii_json(pp, "/api1/collections/c/objects/?match[type]=malware", 200);
	assert_int_equal(json_object_size(v), 0); /* the empty envelope */
	json_decref(v);
	v = taxii_json(pp, "/api1/collections/c/objects/?added_after=2026-01-01T00:00:02.000000Z",
	               200);
	assert_int_equal(json_array_size(json_object_get(v, "objects")), 1);
	assert_false(json_is_true(json_object_get(v, "more")));
	json_decref(v);
	v = taxii_json(pp, "/api1/collections/c/manifest/?match[version]=all&limit=2", 200);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(v, "objects"), 0), "date_added")),
	                    "2026-01-01T00:00:00.000000Z");
	json_decref(v);
	json_decref(taxii_json(pp, "/api1/collections/c/objects/?limit=0", 400));
	json_decref(taxii_json(pp, "/api1/collections/c/objects/?next=garbage", 400));
	json_decref(taxii_json(pp, "/api1/collections/w/objects/", 403));
	json_decref(taxii_json(pp, "/api1/collections/nope/objects/", 404));
	json_decref(taxii_json(pp, "/api1/status/nope/", 404));
	r = taxii_get(pp, "/api1/", "application/json");
	assert_int_equal(r.status, 406);
	sl_http_result_free(&r);
	/* percent-encoded keys (match%5Bversion%5D, as the connector sends them) are understood:
	 * the connector's pull brings both versions of object 1 */
	v = taxii_json(pp,
	               "/api1/collections/c/objects/?match%5Bid%5D=indicator--00000040-0000-4000-"
	               "8000-000000000001&match%5Bversion%5D=last&limit=1",
	               200);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(v, "objects"), 0), "modified")),
	                    "2026-02-01T00:00:00.000Z");
	json_decref(v);
	{
		struct run *cr = run_new(pp, NULL, USER ":" PW);
		json_t *got;
		pull(cr, NULL);
		assert_int_equal(cr->err.code, 0);
		got = pulled_ids(cr, "c");
		assert_int_equal(json_object_size(got), 3);
		assert_int_equal(json_integer_value(json_object_get(
		                     got, "indicator--00000040-0000-4000-8000-000000000001")),
		                 2);
		json_decref(got);
		run_free(cr);
	}
	stop_peer(pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pull_ties_with_next),
	    cmocka_unit_test(test_pull_ties_without_next),
	    cmocka_unit_test(test_pull_resume),
	    cmocka_unit_test(test_pull_configured),
	    cmocka_unit_test(test_pull_faults),
	    cmocka_unit_test(test_push_status),
	    cmocka_unit_test(test_push_failures),
	    cmocka_unit_test(test_push_delete),
	    cmocka_unit_test(test_push_max_content),
	    cmocka_unit_test(test_push_faults),
	    cmocka_unit_test(test_peer_endpoints),
	    cmocka_unit_test(test_pull_next_expired),
	    cmocka_unit_test(test_pull_max_age),
	};
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(g_dir, sizeof(g_dir), "%s/sl-conn-taxii-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	atexit(stop_live);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
