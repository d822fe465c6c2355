/* test_conn_opencti.c — the OpenCTI connector (gateway/peer_opencti) driven on an sl_evloop against
 * opencti-peer processes: pushes register the connector and land (read back through GraphQL), a
 * re-push is harmless, revoked objects and x_sluice_delete delete; the live stream is pulled in
 * order (create, update, delete as a revoked version), a saved position resumes with only newer
 * events, our own pushes are passed over, a bad event is handed on as a named error and the stream
 * goes on, and every fault ends in a named error with the right RETRY/PERMANENT. */
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
#include "peer_opencti.h"
#include "peer_proc.h"

#define TOKEN "opencti-test-token"
#define ADMIN_ID "88ec0c6a-13ce-5e39-b486-354fe4a7084f" /* the peer's user of TOKEN */
#define EXT_CORE "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

/* ---- peers ---- */

#define MAX_LIVE 8
static struct sl_peerproc *live[MAX_LIVE];

static void stop_live(void)
{
	for (size_t i = 0; i < MAX_LIVE; i++)
		if (live[i])
			sl_peerproc_stop(live[i]);
}

/* opencti-peer with a short heartbeat and apply delay, plus the extra arguments (NULL-ended). */
static struct sl_peerproc *start_peer(const char *first, ...)
{
	char bin[1024];
	char *argv[32];
	size_t n = 0, i;
	const char *a;
	va_list ap;
	struct sl_peerproc *pp;

	argv[n++] = (char *)sl_peerproc_bin("opencti-peer", bin, sizeof bin);
	argv[n++] = "--heartbeat-ms";
	argv[n++] = "300";
	argv[n++] = "--apply-delay-ms";
	argv[n++] = "50";
	va_start(ap, first);
	for (a = first; a && n < 30; a = va_arg(ap, const char *))
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
	static const char *const hdrs[] = {"Content-Type: application/json",
	                                   "Authorization: Bearer " TOKEN, NULL};
	char url[512];
	struct sl_http_result r;
	json_t *v;

	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(pp), path);
	if (sl_http(method, url, hdrs, body, 5000, &r) != 0)
		fail_msg("%s %s: curl %d status %ld after %.3f s", method, path, r.curl_code,
		         r.status, r.seconds);
	if (r.status != 200)
		fail_msg("%s %s: %ld %s", method, path, r.status, r.body);
	v = json_loads(r.body, 0, NULL);
	sl_http_result_free(&r);
	assert_non_null(v);
	return v;
}

static json_t *peer_json(struct sl_peerproc *pp, const char *path, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_t *v = peer_call(pp, "POST", path, s);
	free(s);
	json_decref(body);
	return v;
}

static void set_fault(struct sl_peerproc *pp, const char *kind, int count)
{
	json_decref(
	    peer_json(pp, "/_test/fault", json_pack("{s:s,s:i}", "kind", kind, "count", count)));
}

static void flush(struct sl_peerproc *pp)
{
	json_decref(peer_call(pp, "POST", "/_test/flush", "{}"));
}

/* The object OpenCTI holds under id (any of its ids), as its STIX, or NULL. */
static json_t *read_back(struct sl_peerproc *pp, const char *id)
{
	json_t *v =
	    peer_json(pp, "/graphql",
	              json_pack("{s:s,s:{s:s}}", "query", "query S($id: String) { stix(id: $id) }",
	                        "variables", "id", id));
	const char *s = json_string_value(json_object_get(json_object_get(v, "data"), "stix"));
	json_t *o = s ? json_loads(s, 0, NULL) : NULL;

	assert_null(json_object_get(v, "errors"));
	json_decref(v);
	return o;
}

static json_t *dump(struct sl_peerproc *pp)
{
	return peer_call(pp, "GET", "/_test/dump", NULL);
}

/* Someone else (another analyst) edits OpenCTI: objects (stolen) applied at once. */
static void analyst_edit(struct sl_peerproc *pp, json_t *objects)
{
	json_t *r = peer_json(pp, "/_test/stix", json_pack("{s:o}", "objects", objects));
	assert_int_equal(json_integer_value(json_object_get(r, "errors")), 0);
	json_decref(r);
}

static void analyst_delete(struct sl_peerproc *pp, const char *id)
{
	json_decref(peer_json(pp, "/_test/delete", json_pack("{s:s}", "id", id)));
}

/* A stream event with this data line (as it is); returns its id (malloc'd). */
static char *raw_event(struct sl_peerproc *pp, const char *event, const char *data)
{
	json_t *r =
	    peer_json(pp, "/_test/raw_event", json_pack("{s:s,s:s}", "event", event, "data", data));
	char *id = strdup(json_string_value(json_object_get(r, "id")));
	json_decref(r);
	return id;
}

/* ---- data ---- */

static json_t *indicator(unsigned i, const char *name)
{
	char id[80], pat[80];
	snprintf(id, sizeof(id), "indicator--0c7a0000-0000-4000-8000-%012x", i);
	snprintf(pat, sizeof(pat), "[ipv4-addr:value = '10.0.%u.%u']", i / 256, i % 256);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "indicator",
	                 "spec_version", "2.1", "id", id, "created", "2026-01-01T00:00:00.000Z",
	                 "modified", "2026-01-01T00:00:00.000Z", "name", name, "pattern", pat,
	                 "pattern_type", "stix", "valid_from", "2026-01-01T00:00:00Z");
}

static const char *id_of(const json_t *o)
{
	return json_string_value(json_object_get(o, "id"));
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

static void assert_contains(const char *s, const char *what)
{
	if (!strstr(s, what))
		fail_msg("\"%s\" does not name \"%s\"", s, what);
}

/* ---- the connector on a loop ---- */

struct run {
	struct sl_evloop *loop;
	struct sl_http_client *http;
	struct sl_config_peer cfg;
	const char *streams[2];
	struct sl_peer *conn;
	struct sl_timer *guard;
	bool done, timed_out;
	/* pull: [{"origin", "position", "item" (null when passed over)}] */
	json_t *items;
	struct sl_err err;
	int64_t ra;
	size_t fail_at; /* the item callback fails (SL_EDB) on this item (1-based), 0 = never */
	/* push */
	enum sl_peer_push_result res;
	json_t *rejected;
};

static const struct sl_peer_ops *ops(void)
{
	return sl_peer_opencti_ops();
}

static void on_guard(struct sl_timer *t, void *arg)
{
	struct run *r = arg;
	(void)t;
	r->timed_out = true;
	sl_evloop_stop(r->loop);
}

static struct run *run_new(struct sl_peerproc *pp, const char *token, bool attach)
{
	struct run *r = calloc(1, sizeof(*r));
	struct sl_err err = {0};

	assert_non_null(r);
	r->loop = sl_evloop_new(&err);
	assert_non_null(r->loop);
	r->http = sl_http_client_new(sl_evloop_base(r->loop), 8, &err);
	assert_non_null(r->http);
	r->cfg.name = "octi";
	r->cfg.where = "test:1";
	r->cfg.kind = SL_PEER_OPENCTI;
	r->cfg.direction = SL_PEER_BOTH;
	r->cfg.url = sl_peerproc_url(pp);
	r->cfg.api_key = token;
	r->cfg.api_key_configured = token != NULL;
	r->cfg.allow_plain_http = true;
	r->cfg.timeout_s = 2;
	r->cfg.connect_timeout_s = 2;
	r->cfg.max_body_bytes = 16u << 20;
	r->cfg.collections.v = r->streams;
	r->conn = ops()->create(&r->cfg, r->http, &err);
	assert_non_null(r->conn);
	if (attach)
		sl_peer_opencti_attach(r->conn, sl_evloop_base(r->loop));
	r->guard = sl_timer_new(r->loop, false, on_guard, r);
	r->items = json_array();
	return r;
}

static void run_free(struct run *r)
{
	ops()->destroy(r->conn);
	sl_timer_free(r->guard);
	sl_http_client_free(r->http);
	sl_evloop_free(r->loop);
	json_decref(r->items);
	json_decref(r->rejected);
	free(r);
}

static void wait_done(struct run *r)
{
	sl_timer_arm(r->guard, 30000);
	if (!r->done)
		sl_evloop_run(r->loop);
	sl_timer_cancel(r->guard);
	assert_false(r->timed_out);
	assert_true(r->done);
	assert_false(ops()->busy(r->conn));
}

static int on_item(void *arg, const json_t *item, const char *origin, const char *position,
                   struct sl_err *err)
{
	struct run *r = arg;

	assert_non_null(origin);
	assert_non_null(position);
	if (r->fail_at && json_array_size(r->items) + 1 == r->fail_at)
		return sl_err_set(err, SL_EDB, "ledger", "the database went away");
	json_array_append_new(r->items,
	                      json_pack("{s:s,s:s,s:o}", "origin", origin, "position", position,
	                                "item", item ? json_deep_copy(item) : json_null()));
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
	assert_int_equal(ops()->pull(r->conn, cursor, &cb, &err), 0);
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
	assert_int_equal(ops()->push(r->conn, bundle, on_push_done, r, &err), 0);
	/* done comes later, never from inside push */
	assert_false(r->done);
	assert_true(ops()->busy(r->conn));
	json_decref(bundle);
	wait_done(r);
}

static const char *last_position(const struct run *r)
{
	size_t n = json_array_size(r->items);
	assert_true(n > 0);
	return json_string_value(json_object_get(json_array_get(r->items, n - 1), "position"));
}

/* The handed-over items that carry objects, as "<first object id>" in order. */
static const json_t *item_at(const struct run *r, size_t i)
{
	return json_object_get(json_array_get(r->items, i), "item");
}

static const json_t *obj_at(const struct run *r, size_t i)
{
	return json_array_get(json_object_get(item_at(r, i), "objects"), 0);
}

/* Whether the object was given our id (x_opencti_stix_ids in OpenCTI's core extension). */
static bool keeps_id(const json_t *obj, const char *ours)
{
	const json_t *ids = json_object_get(
	    json_object_get(json_object_get(obj, "extensions"), EXT_CORE), "stix_ids");
	const json_t *x;
	size_t i;

	json_array_foreach(ids, i, x) if (strcmp(json_string_value(x), ours) == 0) return true;
	return false;
}

/* The index of the first item whose object had our id ours, from index from; -1 if none. */
static long find_item(const struct run *r, const char *ours, size_t from)
{
	for (size_t i = from; i < json_array_size(r->items); i++) {
		const json_t *o = obj_at(r, i);
		if (o && (strcmp(id_of(o), ours) == 0 || keeps_id(o, ours)))
			return (long)i;
	}
	return -1;
}

/* ---- push ---- */

/* A push registers the connector once (stable id), queues the bundle, and the objects land with
 * our ids kept; the same bundle again changes nothing. */
static void test_push_creates_and_repush_is_harmless(void **state)
{
	struct sl_peerproc *pp = start_peer(NULL);
	struct run *r = run_new(pp, TOKEN, true);
	json_t *d, *o, *c;
	char cid[40];

	(void)state;
	push(r, bundle_of(json_pack("[o,o]", indicator(1, "one"), indicator(2, "two")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_null(r->rejected);
	snprintf(cid, sizeof(cid), "%s", sl_peer_opencti_connector_id(r->conn));
	flush(pp);
	o = read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000001");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "one");
	/* OpenCTI renames it to its standard id and keeps ours */
	assert_true(keeps_id(o, "indicator--0c7a0000-0000-4000-8000-000000000001"));
	json_decref(o);
	o = read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000002");
	assert_non_null(o);
	json_decref(o);

	push(r, bundle_of(json_pack("[o,o]", indicator(1, "one"), indicator(2, "two")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	flush(pp);
	d = dump(pp);
	assert_int_equal(json_integer_value(json_object_get(d, "count")), 2);
	/* registered once, under the id derived from the peer name */
	c = json_object_get(d, "connectors");
	assert_int_equal(json_object_size(c), 1);
	assert_non_null(json_object_get(c, cid));
	{
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(d, "deliveries"), k, v)
		{
			assert_int_equal(json_integer_value(json_object_get(v, "created")), 1);
			assert_int_equal(json_integer_value(json_object_get(v, "updated")), 0);
			assert_int_equal(json_integer_value(json_object_get(v, "unchanged")), 1);
		}
	}
	json_decref(d);
	run_free(r);

	/* another connector for the same peer name registers under the same id */
	r = run_new(pp, TOKEN, true);
	assert_string_equal(sl_peer_opencti_connector_id(r->conn), cid);
	run_free(r);
	stop_peer(pp);
}

/* Revoked objects and x_sluice_delete ids are deleted, by our ids; deleting what is not there (or
 * not there yet: its create still in OpenCTI's queue) ends deleted too. Bad objects are named in
 * rejected and the rest goes. */
static void test_push_deletes(void **state)
{
	struct sl_peerproc *pp = start_peer(NULL);
	struct run *r = run_new(pp, TOKEN, true);
	json_t *a, *o;

	(void)state;
	push(r, bundle_of(json_pack("[o,o,o]", indicator(1, "one"), indicator(2, "two"),
	                            indicator(3, "three")),
	                  NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	flush(pp);
	a = indicator(1, "one");
	json_object_set_new(a, "revoked", json_true());
	json_object_set_new(a, "modified", json_string("2026-01-02T00:00:00.000Z"));
	push(r, bundle_of(json_pack("[o]", a),
	                  json_pack("[s,s]", "indicator--0c7a0000-0000-4000-8000-000000000002",
	                            "indicator--0c7a0000-0000-4000-8000-0000000000ff")));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_null(r->rejected);
	/* deleted at once by the mutations, no queue involved */
	assert_null(read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000001"));
	assert_null(read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000002"));
	o = read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000003");
	assert_non_null(o);
	json_decref(o);

	/* a create still queued, then its deletion: deleted once the queue is applied */
	push(r, bundle_of(json_pack("[o]", indicator(4, "four")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	push(r,
	     bundle_of(NULL, json_pack("[s]", "indicator--0c7a0000-0000-4000-8000-000000000004")));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	flush(pp);
	assert_null(read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000004"));

	/* one object without a usable id: named, the other lands */
	push(r, bundle_of(json_pack("[o,{s:s,s:s}]", indicator(5, "five"), "type", "indicator",
	                            "id", "malware--0c7a0000-0000-4000-8000-000000000006"),
	                  NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	assert_non_null(r->rejected);
	assert_non_null(
	    json_object_get(r->rejected, "malware--0c7a0000-0000-4000-8000-000000000006"));
	assert_int_equal(json_object_size(r->rejected), 1);
	flush(pp);
	o = read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000005");
	assert_non_null(o);
	json_decref(o);
	run_free(r);
	stop_peer(pp);
}

/* A bundle larger than OpenCTI takes at once goes in pieces, all of it. */
static void test_push_big_bundle_in_pieces(void **state)
{
	struct sl_peerproc *pp = start_peer("--max-bundle-objects", "500", (const char *)NULL);
	struct run *r = run_new(pp, TOKEN, true);
	json_t *objs = json_array(), *d;
	unsigned i, n = 1203;

	(void)state;
	for (i = 0; i < n; i++)
		json_array_append_new(objs, indicator(i, "many"));
	push(r, bundle_of(objs, NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	flush(pp);
	d = dump(pp);
	assert_int_equal(json_integer_value(json_object_get(d, "count")), n);
	assert_int_equal(json_array_size(json_object_get(d, "import_errors")), 0);
	json_decref(d);
	run_free(r);
	stop_peer(pp);
}

/* Faults on push: each a named error with the right verdict, and the next push goes through. */
static void test_push_faults(void **state)
{
	struct sl_peerproc *pp = start_peer("--max-bundle-objects", "3", (const char *)NULL);
	struct run *r = run_new(pp, TOKEN, true), *bad;
	json_t *four;

	(void)state;
	set_fault(pp, "401", 1);
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "401");
	assert_contains(r->err.msg, "authentication");
	assert_string_equal(r->err.where, "octi");

	set_fault(pp, "500", 1);
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "http 500");

	set_fault(pp, "429", 1);
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "429");
	assert_int_equal(r->ra, 1000);

	set_fault(pp, "html200", 1);
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "not JSON");

	set_fault(pp, "wrongshape", 1);
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);

	/* OpenCTI refuses the bundle itself (here: over its size limit): permanent */
	four = json_pack("[o,o,o,o]", indicator(1, "a"), indicator(2, "b"), indicator(3, "c"),
	                 indicator(4, "d"));
	push(r, bundle_of(four, NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_PERMANENT);
	assert_contains(r->err.msg, "stixBundlePush");
	assert_contains(r->err.msg, "over this peer's limit");

	/* a peer that never answers: the request times out (timeout 2 s) */
	set_fault(pp, "hang", 1);
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_RETRY);
	assert_contains(r->err.msg, "timeout");

	/* after all that the next push lands */
	push(r, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	flush(pp);
	json_decref(read_back(pp, "indicator--0c7a0000-0000-4000-8000-000000000001"));

	/* a wrong token: OpenCTI answers 200 with AUTH_REQUIRED; retry (an operator fixes it) */
	bad = run_new(pp, "not-the-token", true);
	push(bad, bundle_of(json_pack("[o]", indicator(1, "one")), NULL));
	assert_int_equal(bad->res, SL_PEER_PUSH_RETRY);
	assert_contains(bad->err.msg, "AUTH_REQUIRED");
	/* the token is never in a message */
	assert_null(strstr(bad->err.msg, "not-the-token"));
	run_free(bad);

	/* plain http only when allowed; a key is needed */
	{
		struct sl_config_peer cfg = r->cfg;
		struct sl_err err = {0};
		cfg.allow_plain_http = false;
		assert_null(ops()->create(&cfg, r->http, &err));
		assert_contains(err.msg, "https://");
		cfg = r->cfg;
		cfg.api_key = NULL;
		memset(&err, 0, sizeof(err));
		assert_null(ops()->create(&cfg, r->http, &err));
		assert_contains(err.msg, "API key");
	}
	run_free(r);
	stop_peer(pp);
}

/* ---- pull ---- */

/* The first pull backfills what OpenCTI holds (recover); later pulls read create, update and
 * delete events in order; a saved position resumes with only the newer events. */
static void test_pull_order_and_resume(void **state)
{
	struct sl_peerproc *pp = start_peer(NULL);
	struct run *r = run_new(pp, TOKEN, true);
	char *pos1, *pos2, *pos3;
	const json_t *o;
	long i1, i2, i3;
	json_t *upd;

	(void)state;
	analyst_edit(pp, json_pack("[o,o]", indicator(1, "one"), indicator(2, "two")));
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	assert_true(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000001", 0) >= 0);
	assert_true(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000002", 0) >= 0);
	pos1 = strdup(last_position(r));

	/* nothing new: the same position again delivers at most the backfill's last millisecond */
	pull(r, pos1);
	assert_int_equal(r->err.code, 0);
	assert_true(json_array_size(r->items) <= 2);

	analyst_edit(pp, json_pack("[o]", indicator(3, "three")));
	upd = indicator(1, "one");
	json_object_set_new(upd, "description", json_string("now with a description"));
	analyst_edit(pp, json_pack("[o]", upd));
	analyst_delete(pp, "indicator--0c7a0000-0000-4000-8000-000000000002");
	pull(r, pos1);
	assert_int_equal(r->err.code, 0);
	i3 = find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000003", 0);
	assert_true(i3 >= 0);
	i1 = find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000001", (size_t)i3);
	assert_true(i1 > i3);
	o = obj_at(r, (size_t)i1);
	assert_string_equal(json_string_value(json_object_get(o, "description")),
	                    "now with a description");
	i2 = find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000002", (size_t)i1);
	assert_true(i2 > i1);
	/* the deletion comes as the revoked version, 1 ms after the last modified */
	o = obj_at(r, (size_t)i2);
	assert_true(json_is_true(json_object_get(o, "revoked")));
	{
		const char *m = json_string_value(json_object_get(o, "modified"));
		assert_non_null(m);
		assert_true(strcmp(m, "2026-01-01T00:00:00.000Z") > 0);
	}
	/* live events: origin is the event id and so is the position */
	for (size_t i = (size_t)i3; i < json_array_size(r->items); i++) {
		const json_t *it = json_array_get(r->items, i);
		assert_string_equal(json_string_value(json_object_get(it, "origin")),
		                    json_string_value(json_object_get(it, "position")));
		assert_null(strchr(json_string_value(json_object_get(it, "position")), '@'));
	}
	pos2 = strdup(last_position(r));

	/* from the saved position: exactly the newer events */
	analyst_edit(pp, json_pack("[o]", indicator(4, "four")));
	pull(r, pos2);
	assert_int_equal(r->err.code, 0);
	assert_int_equal(json_array_size(r->items), 1);
	assert_int_equal(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000004", 0), 0);
	pos3 = strdup(last_position(r));
	assert_true(strcmp(pos3, pos2) != 0);

	/* the sync failing to take an item in stops the pull there: the next pull from the last
	 * position it took gets that item again */
	analyst_edit(pp, json_pack("[o]", indicator(6, "six")));
	analyst_edit(pp, json_pack("[o]", indicator(7, "seven")));
	r->fail_at = 2;
	pull(r, pos3);
	r->fail_at = 0;
	assert_int_equal(r->err.code, SL_EDB);
	assert_contains(r->err.msg, "database went away");
	assert_int_equal(json_array_size(r->items), 1);
	assert_int_equal(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000006", 0), 0);
	free(pos3);
	pos3 = strdup(last_position(r));
	pull(r, pos3);
	assert_int_equal(r->err.code, 0);
	assert_int_equal(json_array_size(r->items), 1);
	assert_int_equal(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000007", 0), 0);
	free(pos3);
	pos3 = strdup(last_position(r));
	pull(r, pos3);
	assert_int_equal(r->err.code, 0);
	assert_int_equal(json_array_size(r->items), 0);

	/* without a loop lent, a pull ends at the heartbeat */
	run_free(r);
	r = run_new(pp, TOKEN, false);
	analyst_edit(pp, json_pack("[o]", indicator(5, "five")));
	pull(r, pos3);
	assert_int_equal(r->err.code, 0);
	assert_int_equal(json_array_size(r->items), 1);
	assert_int_equal(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000005", 0), 0);

	/* a bad cursor is refused up front */
	{
		struct sl_peer_pull_cb cb = {on_item, on_pull_done, r};
		struct sl_err err = {0};
		assert_true(ops()->pull(r->conn, "yesterday", &cb, &err) < 0);
		assert_contains(err.msg, "yesterday");
	}
	free(pos1);
	free(pos2);
	free(pos3);
	run_free(r);
	stop_peer(pp);
}

/* The first pull reads OpenCTI's database (recover), not only the stream, which has been trimmed
 * here to its last 3 events; an interrupted backfill resumes from the position of the last object
 * handed over and still misses nothing; then the stream goes on from there. */
static void test_pull_backfill_beyond_trimmed_stream(void **state)
{
	struct sl_peerproc *pp = start_peer("--stream-max", "3", (const char *)NULL);
	struct run *r = run_new(pp, TOKEN, true);
	char id[80], *mid, *last;
	unsigned i;

	(void)state;
	for (i = 1; i <= 8; i++) {
		analyst_edit(pp, json_pack("[o]", indicator(i, "backfilled")));
		usleep(2000);
	}
	usleep(5000);
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	for (i = 1; i <= 8; i++) {
		snprintf(id, sizeof(id), "indicator--0c7a0000-0000-4000-8000-%012x", i);
		if (find_item(r, id, 0) < 0)
			fail_msg("%s was not backfilled", id);
	}
	/* backfill positions resume the backfill */
	assert_non_null(strchr(
	    json_string_value(json_object_get(json_array_get(r->items, 3), "position")), '@'));
	mid = strdup(json_string_value(json_object_get(json_array_get(r->items, 3), "position")));
	last = strdup(last_position(r));

	/* as if the sync had stopped after the fourth object: the rest still comes */
	pull(r, mid);
	assert_int_equal(r->err.code, 0);
	for (i = 5; i <= 8; i++) {
		snprintf(id, sizeof(id), "indicator--0c7a0000-0000-4000-8000-%012x", i);
		if (find_item(r, id, 0) < 0)
			fail_msg("%s was lost resuming the backfill from %s", id, mid);
	}
	assert_true(json_array_size(r->items) <= 6);

	/* from the end of the backfill: the stream's new events */
	analyst_edit(pp, json_pack("[o]", indicator(9, "live")));
	pull(r, last);
	assert_int_equal(r->err.code, 0);
	assert_true(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000009", 0) >= 0);
	assert_true(json_array_size(r->items) <= 2);
	assert_null(strchr(last_position(r), '@'));
	free(mid);
	free(last);

	/* sluice away while more changed than the stream keeps: read from the database instead */
	last = strdup(last_position(r));
	for (i = 10; i <= 15; i++) {
		analyst_edit(pp, json_pack("[o]", indicator(i, "while away")));
		usleep(2000);
	}
	usleep(5000);
	pull(r, last);
	assert_int_equal(r->err.code, 0);
	for (i = 10; i <= 15; i++) {
		snprintf(id, sizeof(id), "indicator--0c7a0000-0000-4000-8000-%012x", i);
		if (find_item(r, id, 0) < 0)
			fail_msg("%s was lost: the stream was trimmed past %s", id, last);
	}
	free(last);
	run_free(r);
	stop_peer(pp);
}

/* What our own connector pushed comes back on the stream as caused by our user: passed over (no
 * item) while the position moves past it; another analyst's edit of the same object is taken. */
static void test_pull_passes_over_own_pushes(void **state)
{
	struct sl_peerproc *pp = start_peer(NULL);
	struct run *r = run_new(pp, TOKEN, true);
	char *start;
	json_t *upd;

	(void)state;
	analyst_edit(pp, json_pack("[o]", indicator(9, "nine")));
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	start = strdup(last_position(r));

	push(r, bundle_of(json_pack("[o]", indicator(1, "ours")), NULL));
	assert_int_equal(r->res, SL_PEER_PUSH_SENT);
	flush(pp);
	upd = indicator(1, "ours");
	json_object_set_new(upd, "description", json_string("an analyst adds this"));
	analyst_edit(pp, json_pack("[o]", upd));

	pull(r, start);
	assert_int_equal(r->err.code, 0);
	/* [maybe the backfill overlap], our create passed over, the analyst's update */
	{
		size_t n = json_array_size(r->items), nulls = 0, i;
		long k = find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000001", 0);
		assert_true(k >= 1);
		assert_true((size_t)k == n - 1);
		assert_string_equal(
		    json_string_value(json_object_get(obj_at(r, (size_t)k), "description")),
		    "an analyst adds this");
		for (i = 0; i < n; i++)
			if (json_is_null(item_at(r, i)))
				nulls++;
		assert_int_equal(nulls, 1);
		assert_true(json_is_null(item_at(r, (size_t)k - 1)));
		/* the position moved past our event */
		assert_null(strchr(json_string_value(json_object_get(
		                       json_array_get(r->items, (size_t)k - 1), "position")),
		                   '@'));
	}
	free(start);
	run_free(r);
	stop_peer(pp);
}

/* Bad events are handed on as named errors (a bundle without objects, which the pipeline
 * quarantines) and the stream goes on past them. */
static void test_pull_bad_events(void **state)
{
	struct sl_peerproc *pp = start_peer(NULL);
	struct run *r = run_new(pp, TOKEN, true);
	char *start, *bad1, *bad2;
	const json_t *it;
	const char *e;

	(void)state;
	analyst_edit(pp, json_pack("[o]", indicator(1, "one")));
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	start = strdup(last_position(r));

	bad1 = raw_event(pp, "create", "{\"version\":\"4\",\"type\":\"create\",\"data\":{\"no\":");
	bad2 = raw_event(pp, "update",
	                 "{\"version\":\"4\",\"type\":\"update\",\"origin\":{},\"data\":{\"name\":"
	                 "\"no id\"}}");
	analyst_edit(pp, json_pack("[o]", indicator(2, "two")));
	pull(r, start);
	assert_int_equal(r->err.code, 0);
	{
		long k1 = -1, k2 = -1;
		for (size_t i = 0; i < json_array_size(r->items); i++) {
			const char *origin = json_string_value(
			    json_object_get(json_array_get(r->items, i), "origin"));
			if (strcmp(origin, bad1) == 0)
				k1 = (long)i;
			if (strcmp(origin, bad2) == 0)
				k2 = (long)i;
		}
		assert_true(k1 >= 0);
		assert_int_equal(k2, k1 + 1);
		it = item_at(r, (size_t)k1);
		assert_null(json_object_get(it, "objects"));
		e = json_string_value(json_object_get(it, "x_sluice_error"));
		assert_non_null(e);
		assert_contains(e, bad1);
		assert_contains(e, "not JSON");
		it = item_at(r, (size_t)k2);
		e = json_string_value(json_object_get(it, "x_sluice_error"));
		assert_non_null(e);
		assert_contains(e, bad2);
		assert_contains(e, "without a STIX object");
		/* the position moves past them, and the good event after them arrives */
		assert_string_equal(json_string_value(json_object_get(
		                        json_array_get(r->items, (size_t)k2), "position")),
		                    bad2);
		assert_int_equal(
		    find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000002", (size_t)k2),
		    k2 + 1);
	}
	free(start);
	start = strdup(last_position(r));

	/* a merge: the kept object, and the merged-away one revoked; an old-format event passed
	 * over */
	{
		json_t *kept = indicator(20, "kept"), *gone = indicator(21, "merged away");
		json_t *env = json_pack("{s:s,s:s,s:s,s:{s:s},s:o,s:{s:[o]}}", "version", "4",
		                        "type", "merge", "message", "merges", "origin", "user_id",
		                        "6a4b11e1-90ca-4e42-ba42-db7bc7f7d505", "data", kept,
		                        "context", "sources", gone);
		char *txt = json_dumps(env, JSON_COMPACT), *merge_id, *old_id;
		const json_t *objs;

		json_decref(env);
		merge_id = raw_event(pp, "merge", txt);
		free(txt);
		old_id = raw_event(pp, "create",
		                   "{\"version\":\"3\",\"type\":\"create\",\"data\":{\"id\":"
		                   "\"indicator--0c7a0000-0000-4000-8000-000000000016\",\"type\":"
		                   "\"indicator\"}}");
		pull(r, start);
		assert_int_equal(r->err.code, 0);
		assert_int_equal(json_array_size(r->items), 2);
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(r->items, 0), "origin")),
		    merge_id);
		objs = json_object_get(item_at(r, 0), "objects");
		assert_int_equal(json_array_size(objs), 2);
		assert_string_equal(id_of(json_array_get(objs, 0)),
		                    "indicator--0c7a0000-0000-4000-8000-000000000014");
		assert_false(json_is_true(json_object_get(json_array_get(objs, 0), "revoked")));
		assert_string_equal(id_of(json_array_get(objs, 1)),
		                    "indicator--0c7a0000-0000-4000-8000-000000000015");
		assert_true(json_is_true(json_object_get(json_array_get(objs, 1), "revoked")));
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(objs, 1), "modified")),
		    "2026-01-01T00:00:00.001Z");
		assert_true(json_is_null(item_at(r, 1)));
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(r->items, 1), "position")),
		    old_id);
		free(merge_id);
		free(old_id);
	}
	free(start);
	free(bad1);
	free(bad2);
	run_free(r);
	stop_peer(pp);
}

/* Faults on the stream end the pull with a named error, the position untouched. */
static void test_pull_faults(void **state)
{
	struct sl_peerproc *pp = start_peer(NULL);
	struct run *r = run_new(pp, TOKEN, true), *bad;
	char *start;

	(void)state;
	analyst_edit(pp, json_pack("[o]", indicator(1, "one")));
	pull(r, NULL);
	assert_int_equal(r->err.code, 0);
	start = strdup(last_position(r));

	set_fault(pp, "401", 1);
	pull(r, start);
	assert_true(r->err.code < 0);
	assert_contains(r->err.msg, "GET /stream");
	assert_contains(r->err.msg, "401");
	assert_int_equal(json_array_size(r->items), 0);

	set_fault(pp, "500", 1);
	pull(r, start);
	assert_true(r->err.code < 0);
	assert_contains(r->err.msg, "http 500");

	set_fault(pp, "429", 1);
	pull(r, start);
	assert_true(r->err.code < 0);
	assert_int_equal(r->ra, 1000);

	set_fault(pp, "html200", 1);
	pull(r, start);
	assert_true(r->err.code < 0);
	assert_contains(r->err.msg, "not an OpenCTI event stream");

	/* a peer that accepts and never answers: cut after the timeout (2 s) */
	set_fault(pp, "hang", 1);
	pull(r, start);
	assert_true(r->err.code < 0);
	assert_contains(r->err.msg, "GET /stream");
	assert_int_equal(json_array_size(r->items), 0);

	/* and it recovers */
	analyst_edit(pp, json_pack("[o]", indicator(2, "two")));
	pull(r, start);
	assert_int_equal(r->err.code, 0);
	assert_true(find_item(r, "indicator--0c7a0000-0000-4000-8000-000000000002", 0) >= 0);

	/* a wrong token */
	bad = run_new(pp, "not-the-token", true);
	pull(bad, start);
	assert_true(bad->err.code < 0);
	assert_contains(bad->err.msg, "AUTH_REQUIRED");
	assert_null(strstr(bad->err.msg, "not-the-token"));
	run_free(bad);

	/* an unknown live stream id */
	r->streams[0] = "no-such-stream";
	r->cfg.collections.n = 1;
	pull(r, start);
	assert_true(r->err.code < 0);
	assert_contains(r->err.msg, "404");
	free(start);
	run_free(r);
	stop_peer(pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_push_creates_and_repush_is_harmless),
	    cmocka_unit_test(test_push_deletes),
	    cmocka_unit_test(test_push_big_bundle_in_pieces),
	    cmocka_unit_test(test_push_faults),
	    cmocka_unit_test(test_pull_order_and_resume),
	    cmocka_unit_test(test_pull_backfill_beyond_trimmed_stream),
	    cmocka_unit_test(test_pull_passes_over_own_pushes),
	    cmocka_unit_test(test_pull_bad_events),
	    cmocka_unit_test(test_pull_faults),
	};
	int rc;

	atexit(stop_live);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	return rc;
}
