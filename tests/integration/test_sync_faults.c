/* test_sync_faults.c — the sync loop, in-process, with three misp-peers and a real PostgreSQL
 * ledger, while one peer (A, behind a faultproxy) misbehaves in each way issue 5 names: malformed
 * JSON, wrong shapes, HTML error pages, 401, 403, 429 with Retry-After, 5xx, truncated bodies,
 * hangs, connection resets, slow and stalled bodies. For each: a logged error names the peer and
 * the request, A is not hammered (its requests are counted), A's pull cursor never passes an event
 * the ledger has not taken in, B and C keep syncing, and once the fault is cleared A catches up
 * with nothing lost and no version applied twice. */
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

#include "config.h"
#include "evloop.h"
#include "ledger.h"
#include "log.h"
#include "peer_proc.h"
#include "policy.h"
#include "sltest.h"
#include "sync.h"

#define KEY "sluiceTestMispKey0000000000000000000000a"
#define T0 1790000000LL

/* The fault window, and the backoff settings of peer A (config) that the request bound is
 * derived from. */
#define WINDOW_MS 5000
#define POLL_MS 100
#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 2000
#define RETRY_AFTER_S 2

static const char *const hdrs[] = {"Authorization: " KEY, "Accept: application/json",
                                   "Content-Type: application/json", NULL};

/* One way for A to misbehave: set with misp-peer's /_test/fault, /_test/answer, or the proxy's
 * mode; what the logged pull and push errors must say. */
struct fault_case {
	const char *name;
	const char *misp_fault;  /* body of POST /_test/fault, or NULL */
	const char *misp_answer; /* body of POST /_test/answer, or NULL */
	const char *proxy_mode;  /* faultproxy mode, or NULL */
	const char *pull_says, *push_says;
	int retry_after_s; /* the peer's Retry-After, 0 when it sends none */
	/* only some answers are bad: A's cursor may move (never past unread events), A need not be
	 * backing off, and a push may go through the first time */
	int partial;
};

static const struct fault_case cases[] = {
    {"malformed JSON", "{\"kind\":\"malformed\"}", NULL, NULL, "answer is not JSON",
     "answer is not JSON", 0, 0},
    {"wrong shape", "{\"kind\":\"wrongshape\"}", NULL, NULL, "answer is not a list of events",
     "answer holds no Event", 0, 0},
    {"HTML error page", "{\"kind\":\"html\",\"status\":502}", NULL, NULL, "http 502: <html>",
     "http 502: <html>", 0, 0},
    {"HTML login page, status 200", "{\"kind\":\"html200\"}", NULL, NULL,
     "answer is not JSON (content-type text/html", "answer is not JSON (content-type text/html", 0,
     0},
    {"401", "{\"kind\":\"401\"}", NULL, NULL, "http 401", "http 401", 0, 0},
    {"403", NULL, "{\"status\":403}", NULL, "http 403", "http 403", 0, 0},
    {"429 with Retry-After", NULL, "{\"status\":429,\"retry_after\":\"2\"}", NULL, "http 429",
     "http 429", RETRY_AFTER_S, 0},
    {"500", "{\"kind\":\"500\"}", NULL, NULL, "http 500", "http 500", 0, 0},
    {"503", NULL, "{\"status\":503}", NULL, "http 503", "http 503", 0, 0},
    {"truncated body", NULL, NULL, "truncate:160", "reset/partial", "reset/partial", 0, 0},
    {"hang", "{\"kind\":\"hang\"}", NULL, NULL, "timeout", "timeout", 0, 0},
    {"connection reset", NULL, NULL, "reset:1", "reset/partial", "reset/partial", 0, 0},
    {"slow body", "{\"kind\":\"slow\"}", NULL, NULL, "timeout", "timeout", 0, 0},
    {"stalled body", NULL, NULL, "stall:160", "timeout", "timeout", 0, 0},
    {"malformed JSON, half the answers", "{\"kind\":\"malformed\",\"rate\":0.5}", NULL, NULL,
     "answer is not JSON", "answer is not JSON", 0, 1},
    {"connection reset, half the connections", NULL, NULL, "reset:0.5", "reset/partial",
     "reset/partial", 0, 1},
};

struct world {
	const struct fault_case *fc;
	struct sl_peerproc *a, *proxy, *b, *c;
	char proxy_ctl[128];
	char dir[256], conf[512];
	struct sl_evloop *loop;
	struct sl_ledger *ledger;
	struct sl_config *cfg;
	struct sl_policy *policy;
	struct sl_sync *sync;
	FILE *log;
	long long cursor_before;
	const struct fault_case *says; /* for the log predicates */
	unsigned violations; /* ticks on which A's cursor had passed an event not taken in */
	char violation[512];
};

/* Peers still running when the process ends (a failed assertion) are stopped here, so they never
 * outlive the test holding ctest's output pipe. */
static struct sl_peerproc *live[4];

static void stop_live(void)
{
	size_t i;
	for (i = 0; i < 4; i++)
		if (live[i])
			sl_peerproc_stop(live[i]);
}

static struct sl_peerproc *remember(struct sl_peerproc *pp)
{
	size_t i;
	assert_non_null(pp);
	for (i = 0; i < 4; i++)
		if (!live[i]) {
			live[i] = pp;
			break;
		}
	return pp;
}

static struct sl_peerproc *start_misp(const char *extra1, const char *extra2)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof bin), (char *)extra1,
	                (char *)extra2, NULL};
	return remember(sl_peerproc_start(argv));
}

static struct sl_peerproc *start_proxy(struct sl_peerproc *up)
{
	char bin[1024], target[64];
	char *argv[] = {(char *)sl_peerproc_bin("faultproxy", bin, sizeof bin), "--upstream",
	                target, NULL};
	snprintf(target, sizeof(target), "127.0.0.1:%d", sl_peerproc_port(up));
	return remember(sl_peerproc_start(argv));
}

static json_t *call(const char *method, const char *base, const char *path, const char *body,
                    long want)
{
	char url[512];
	struct sl_http_result r;
	json_t *v;

	snprintf(url, sizeof(url), "%s%s", base, path);
	assert_int_equal(sl_http(method, url, hdrs, body, 5000, &r), 0);
	if (r.status != want)
		fprintf(stderr, "%s %s -> %ld %s\n", method, url, r.status, r.body ? r.body : "");
	assert_int_equal(r.status, want);
	v = json_loads(r.body, 0, NULL);
	sl_http_result_free(&r);
	return v;
}

static void set_proxy_mode(struct world *w, const char *mode)
{
	char url[256];
	struct sl_http_result r;
	snprintf(url, sizeof(url), "%s/mode", w->proxy_ctl);
	assert_int_equal(sl_http("POST", url, NULL, mode, 5000, &r), 0);
	assert_int_equal(r.status, 200);
	sl_http_result_free(&r);
}

/* ---- what the peers hold ----------------------------------------------------------------------
 */

static json_t *deliveries(struct sl_peerproc *pp)
{
	json_t *d = call("GET", sl_peerproc_url(pp), "/_test/deliveries", NULL, 200);
	json_t *r = json_incref(json_object_get(d, "deliveries"));
	json_decref(d);
	return r;
}

static long long dcount(struct sl_peerproc *pp, const char *uuid, const char *what)
{
	json_t *all = deliveries(pp);
	json_t *d = json_object_get(all, uuid);
	long long n = d ? json_integer_value(json_object_get(d, what)) : 0;
	json_decref(all);
	return n;
}

/* The timestamp of the event the peer holds (0 when it holds none). */
static long long held_ts(struct sl_peerproc *pp, const char *uuid)
{
	char url[512];
	struct sl_http_result r;
	long long ts = 0;
	json_t *v;

	snprintf(url, sizeof(url), "%s/events/view/%s", sl_peerproc_url(pp), uuid);
	assert_int_equal(sl_http("GET", url, hdrs, NULL, 5000, &r), 0);
	if (r.status == 200 && (v = json_loads(r.body, 0, NULL)) != NULL) {
		ts = strtoll(
		    json_string_value(json_object_get(json_object_get(v, "Event"), "timestamp")),
		    NULL, 10);
		json_decref(v);
	}
	sl_http_result_free(&r);
	return ts;
}

/* API requests the peer has seen (faulted ones too; /_test/ ones never). */
static long long requests(struct sl_peerproc *pp)
{
	json_t *d = call("GET", sl_peerproc_url(pp), "/_test/dump", NULL, 200);
	long long n = json_integer_value(json_object_get(json_object_get(d, "stats"), "requests"));
	json_decref(d);
	return n;
}

/* No version applied twice on this peer: each uuid's versions are distinct and counted once. */
static void assert_no_duplicates(struct sl_peerproc *pp, const char *name)
{
	json_t *all = deliveries(pp), *d, *v;
	const char *uuid;
	size_t i, j;

	json_object_foreach(all, uuid, d)
	{
		v = json_object_get(d, "versions");
		for (i = 0; i < json_array_size(v); i++)
			for (j = i + 1; j < json_array_size(v); j++)
				if (json_integer_value(json_array_get(v, i)) ==
				    json_integer_value(json_array_get(v, j)))
					fail_msg(
					    "%s applied version %lld of %s twice", name,
					    (long long)json_integer_value(json_array_get(v, i)),
					    uuid);
		assert_int_equal(json_integer_value(json_object_get(d, "applied")),
		                 (long long)json_array_size(v));
	}
	json_decref(all);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the ledger ------------------------------------------------------------------------------ */

static long long cursor_of(struct world *w, const char *peer)
{
	char pos[64];
	struct sl_err err = {0};
	if (sl_ledger_cursor_get(w->ledger, peer, SL_SYNC_STREAM, pos, sizeof(pos), &err) < 0)
		return -1;
	return strtoll(pos, NULL, 10);
}

/* The newest version of a MISP event the sync has taken in or pushed (-1: none). */
static long long seen_of(struct world *w, const char *uuid)
{
	char stream[96], pos[64];
	struct sl_err err = {0};
	snprintf(stream, sizeof(stream), "misp-event:%s", uuid);
	if (sl_ledger_cursor_get(w->ledger, SL_SYNC_SEEN_PEER, stream, pos, sizeof(pos), &err) < 0)
		return -1;
	return strtoll(pos, NULL, 10);
}

/* A's cursor says "everything older than me is in": check it against A's events. The cursor is
 * inclusive (MISP's timestamp filter is >=), so events at the cursor are read again; only events
 * strictly older must have been taken in. */
static void check_cursor(struct world *w)
{
	long long cur = cursor_of(w, "misp-a");
	json_t *d, *ev;
	size_t i;

	if (cur < 0)
		return;
	d = call("GET", sl_peerproc_url(w->a), "/_test/dump", NULL, 200);
	json_array_foreach(json_object_get(d, "events"), i, ev)
	{
		const json_t *e = json_object_get(ev, "Event");
		const char *uuid = json_string_value(json_object_get(e, "uuid"));
		long long ts =
		    strtoll(json_string_value(json_object_get(e, "timestamp")), NULL, 10);
		if (ts < cur && seen_of(w, uuid) < ts) {
			w->violations++;
			snprintf(w->violation, sizeof(w->violation),
			         "misp-a cursor %lld passed event %s (timestamp %lld) that the "
			         "ledger has not taken in",
			         cur, uuid, ts);
		}
	}
	json_decref(d);
}

/* ---- running the loop until something holds -------------------------------------------------- */

struct until {
	struct world *w;
	bool (*pred)(struct world *w);
	bool met;
	int left;
};

static void on_check(struct sl_timer *t, void *arg)
{
	struct until *u = arg;
	(void)t;
	check_cursor(u->w);
	if (u->pred && u->pred(u->w)) {
		u->met = true;
		sl_evloop_stop(u->w->loop);
	} else if (--u->left <= 0) {
		sl_evloop_stop(u->w->loop);
	}
}

/* Run the sync until pred holds (checked every 100 ms, with A's cursor) or ms pass; NULL pred =
 * run ms. */
static bool run_until(struct world *w, bool (*pred)(struct world *w), int ms)
{
	struct until u = {w, pred, false, ms / 100};
	struct sl_timer *t = sl_timer_new(w->loop, true, on_check, &u);
	assert_non_null(t);
	assert_int_equal(sl_timer_arm(t, 100), 0);
	assert_int_equal(sl_evloop_run(w->loop), 0);
	sl_timer_free(t);
	return u.met;
}

/* ---- events ---------------------------------------------------------------------------------- */

#define EV_A0 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa000"
#define EV_B0 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fb000"
#define EV_A1 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa001"
#define EV_A2 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa002"
#define EV_A3 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa003"
#define EV_B1 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fb001"
#define EV_C1 "5a0c8a2e-6f1b-4b7c-9d3e-0000000fc001"

static char *event_json(const char *uuid, long long ts, const char *value)
{
	char tsb[32], au[40];
	json_t *e;
	char *s;

	snprintf(tsb, sizeof(tsb), "%lld", ts);
	/* the attribute's uuid: the event's with another last digit group */
	snprintf(au, sizeof(au), "%.24s1%.11s", uuid, uuid + 25);
	e = json_pack("{s:{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:[{s:s}],"
	              "s:[{s:s,s:s,s:s,s:s,s:b,s:s,s:s}]}}",
	              "Event", "uuid", uuid, "info", "fault test event", "date", "2026-11-01",
	              "timestamp", tsb, "published", 1, "publish_timestamp", tsb, "distribution",
	              "3", "threat_level_id", "2", "analysis", "2", "Orgc", "name", "OrgA", "uuid",
	              "5a0c8a2e-6f1b-4b7c-9d3e-0000000000aa", "Tag", "name", "tlp:green",
	              "Attribute", "uuid", au, "type", "domain", "category", "Network activity",
	              "value", value, "to_ids", 1, "timestamp", tsb, "distribution", "5");
	s = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	return s;
}

static void seed_event(struct sl_peerproc *pp, const char *uuid, long long ts, const char *value)
{
	char *ev = event_json(uuid, ts, value);
	json_decref(call("POST", sl_peerproc_url(pp), "/_test/seed", ev, 200));
	free(ev);
}

static void add_event(struct sl_peerproc *pp, const char *path, const char *uuid, long long ts,
                      const char *value)
{
	char *ev = event_json(uuid, ts, value);
	json_decref(call("POST", sl_peerproc_url(pp), path, ev, 200));
	free(ev);
}

/* ---- the world ------------------------------------------------------------------------------- */

static void write_conf(struct world *w, const char *dsn)
{
	FILE *f;
	const char *names[] = {"misp-a", "misp-b", "misp-c"};
	const char *urls[] = {sl_peerproc_url(w->proxy), sl_peerproc_url(w->b),
	                      sl_peerproc_url(w->c)};
	size_t i;

	snprintf(w->conf, sizeof(w->conf), "%s/sluice.conf", w->dir);
	f = fopen(w->conf, "w");
	assert_non_null(f);
	fprintf(f,
	        "ledger_dsn = \"%s\"\npolicy_file = \"%s/sync/sync.policy\"\nlog_level = "
	        "\"info\"\n",
	        dsn, sltest_fixtures_dir());
	for (i = 0; i < 3; i++)
		fprintf(f,
		        "peer \"%s\" {\n kind = \"misp\"\n url = \"%s\"\n direction = \"both\"\n"
		        " api_key_env = \"SLTEST_SYNC_MISP_KEY\"\n allow_plain_http = true\n"
		        " timeout = 2\n connect_timeout = 1\n retry_base_ms = %d\n"
		        " retry_cap_ms = %d\n breaker_failures = 3\n breaker_cooldown = 1\n}\n",
		        names[i], urls[i], RETRY_BASE_MS, RETRY_CAP_MS);
	fclose(f);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct sl_err err = {0};
	char *dsn;
	struct sl_sync_opts opts = {
	    .poll_ms = POLL_MS, .push_idle_ms = POLL_MS, .lease_s = 3, .seed = 7};
	const char *line, *ctl;

	assert_non_null(w);
	w->fc = *state;
	setenv("SLTEST_SYNC_MISP_KEY", KEY, 1);
	snprintf(w->dir, sizeof(w->dir), "/tmp/sl_test_sync_faults.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	/* A's slow answers: 8 bytes every 200 ms, so even a one-event index outlasts the timeout */
	w->a = start_misp("--slow-ms", "200");
	w->proxy = start_proxy(w->a);
	line = sl_peerproc_line(w->proxy);
	ctl = strstr(line, "CONTROL ");
	assert_non_null(ctl);
	snprintf(w->proxy_ctl, sizeof(w->proxy_ctl), "%s", ctl + 8);
	w->b = start_misp(NULL, NULL);
	w->c = start_misp(NULL, NULL);
	dsn = sltest_fresh_db("sl_test_sync_faults");
	write_conf(w, dsn);
	free(dsn);
	w->cfg = sl_config_load(w->conf, SL_CONFIG_STRICT, &err);
	if (!w->cfg)
		fprintf(stderr, "%s: %s\n", err.where, err.msg);
	assert_non_null(w->cfg);
	assert_int_equal(sl_policy_load(sl_config_policy_file(w->cfg), &w->policy, &err), 0);
	w->ledger = sl_ledger_open(sl_config_db_dsn(w->cfg), &err);
	assert_non_null(w->ledger);
	assert_int_equal(sl_ledger_migrate(w->ledger, NULL, NULL, &err), 0);
	w->loop = sl_evloop_new(&err);
	assert_non_null(w->loop);
	w->log = tmpfile();
	assert_non_null(w->log);
	sl_log_setup(w->log, SL_LOG_INFO);
	w->sync = sl_sync_new(w->loop, w->cfg, w->ledger, w->policy, &opts, &err);
	if (!w->sync)
		fprintf(stderr, "%s: %s\n", err.where, err.msg);
	assert_non_null(w->sync);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[600];
	size_t i;

	sl_sync_free(w->sync);
	sl_evloop_free(w->loop);
	sl_ledger_close(w->ledger);
	sl_policy_free(w->policy);
	sl_config_unref(w->cfg);
	sl_log_setup(stderr, SL_LOG_INFO);
	fclose(w->log);
	for (i = 0; i < 4; i++)
		live[i] = NULL;
	assert_int_equal(sl_peerproc_stop(w->proxy), 0);
	assert_int_equal(sl_peerproc_stop(w->a), 0);
	assert_int_equal(sl_peerproc_stop(w->b), 0);
	assert_int_equal(sl_peerproc_stop(w->c), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", w->dir);
	free(w);
	return 0;
}

/* ---- the log --------------------------------------------------------------------------------- */

/* The first logged line holding both needles (copied to out), or false. */
static bool log_line(struct world *w, const char *n1, const char *n2, char *out, size_t outsz)
{
	char line[4096];
	bool found = false;

	fflush(w->log);
	rewind(w->log);
	while (!found && fgets(line, sizeof(line), w->log))
		if (strstr(line, n1) && (!n2 || strstr(line, n2))) {
			snprintf(out, outsz, "%s", line);
			found = true;
		}
	fseek(w->log, 0, SEEK_END);
	return found;
}

static void dump_log(struct world *w)
{
	char line[4096];
	int n = 0;
	fflush(w->log);
	rewind(w->log);
	while (fgets(line, sizeof(line), w->log) && n++ < 200)
		fputs(line, stderr);
	fseek(w->log, 0, SEEK_END);
}

/* ---- the case -------------------------------------------------------------------------------- */

/* A push error of misp-a about B1 or C1 saying what the case says: "push of event X failed (...)"
 * (retried) or "event X refused for good (...)" (parked). */
static bool push_logged(struct world *w, char *line, size_t linesz)
{
	static const char *const forms[] = {"peer misp-a: push of event " EV_B1 " failed (",
	                                    "peer misp-a: push of event " EV_C1 " failed (",
	                                    "peer misp-a: event " EV_B1 " refused for good (",
	                                    "peer misp-a: event " EV_C1 " refused for good ("};
	size_t i;
	for (i = 0; i < 4; i++)
		if (log_line(w, forms[i], w->says->push_says, line, linesz))
			return true;
	return false;
}

/* A pull error of A's on any of its requests (index page, event view, sightings search). */
static bool logged_any_pull(struct world *w)
{
	char line[4096];
	return log_line(w, "peer misp-a: pull failed (misp-a: ", w->says->pull_says, line,
	                sizeof(line));
}

static bool logged_both(struct world *w)
{
	char line[4096];
	return log_line(w, "peer misp-a: pull failed (misp-a: POST /events/index page 1: ",
	                w->says->pull_says, line, sizeof(line)) &&
	       push_logged(w, line, sizeof(line));
}

/* Retry-After honoured by the pull: A's index requests since since_ms (its own request log) are at
 * least that far apart (50 ms of slack for the clocks' rounding). */
static void assert_retry_after_kept(struct world *w, long long since_ms, int retry_after_s)
{
	json_t *r = call("GET", sl_peerproc_url(w->a), "/_test/requests", NULL, 200), *e;
	long long prev = -1;
	size_t i, n = 0;

	json_array_foreach(json_object_get(r, "requests"), i, e)
	{
		long long t = json_integer_value(json_object_get(e, "t"));
		if (t < since_ms ||
		    strcmp(json_string_value(json_object_get(e, "p")), "/events/index") != 0)
			continue;
		n++;
		if (prev >= 0 && t - prev < retry_after_s * 1000LL - 50)
			fail_msg(
			    "A's index was asked again %lld ms after a 429 with Retry-After: %d",
			    t - prev, retry_after_s);
		prev = t;
	}
	assert_true(n >= 2);
	json_decref(r);
}

static bool baseline_done(struct world *w)
{
	return held_ts(w->b, EV_A0) == T0 && held_ts(w->c, EV_A0) == T0 &&
	       held_ts(w->a, EV_B0) == T0 + 1 && held_ts(w->c, EV_B0) == T0 + 1;
}

static bool others_synced(struct world *w)
{
	return held_ts(w->c, EV_B1) == T0 + 101 && held_ts(w->b, EV_C1) == T0 + 102;
}

static bool caught_up(struct world *w)
{
	return others_synced(w) && held_ts(w->b, EV_A1) == T0 + 100 &&
	       held_ts(w->c, EV_A1) == T0 + 100 && held_ts(w->b, EV_A2) == T0 + 103 &&
	       held_ts(w->c, EV_A2) == T0 + 103 && held_ts(w->b, EV_A3) == T0 + 104 &&
	       held_ts(w->c, EV_A3) == T0 + 104 && held_ts(w->a, EV_B1) == T0 + 101 &&
	       held_ts(w->a, EV_C1) == T0 + 102;
}

/* The most requests A may see in the window: each failing stream (pull; push) waits at least the
 * peer's Retry-After between tries, or, without one, backs off exponentially from RETRY_BASE_MS
 * with full jitter (mean ceiling/2) to RETRY_CAP_MS. Allow twice the expected count plus a few;
 * a sync that did not back off would poll A every POLL_MS (WINDOW_MS / POLL_MS per stream). */
static long long request_bound(const struct fault_case *fc)
{
	long long per_stream;
	if (fc->retry_after_s)
		per_stream = WINDOW_MS / (fc->retry_after_s * 1000LL) + 2;
	else
		per_stream = WINDOW_MS / (RETRY_CAP_MS / 2) + 6;
	return 2 * per_stream + 4;
}

static void test_fault(void **state)
{
	struct world *w = *state;
	const struct fault_case *fc = w->fc;
	char line[4096];
	long long before, during, b_during, bound, cur, before_ms;

	fprintf(stderr, "---- A misbehaves: %s\n", fc->name);
	/* 1. everyone healthy: A's event reaches B and C, B's reaches A and C */
	add_event(w->a, "/events/add", EV_A0, T0, "a0.example");
	add_event(w->b, "/events/add", EV_B0, T0 + 1, "b0.example");
	if (!run_until(w, baseline_done, 20000)) {
		dump_log(w);
		fail_msg("the healthy sync did not settle");
	}
	run_until(w, NULL, 600);
	w->cursor_before = cursor_of(w, "misp-a");
	assert_true(w->cursor_before >= T0);

	/* 2. A breaks; new events appear on all three */
	if (fc->misp_fault)
		json_decref(
		    call("POST", sl_peerproc_url(w->a), "/_test/fault", fc->misp_fault, 200));
	if (fc->misp_answer)
		json_decref(
		    call("POST", sl_peerproc_url(w->a), "/_test/answer", fc->misp_answer, 200));
	if (fc->proxy_mode)
		set_proxy_mode(w, fc->proxy_mode);
	/* through /_test/seed, which is never faulted */
	seed_event(w->a, EV_A1, T0 + 100, "a1.example");
	seed_event(w->a, EV_A2, T0 + 103, "a2.example");
	seed_event(w->a, EV_A3, T0 + 104, "a3.example");
	add_event(w->b, "/events/add", EV_B1, T0 + 101, "b1.example");
	add_event(w->c, "/events/add", EV_C1, T0 + 102, "c1.example");
	before_ms = now_ms();
	before = requests(w->a);
	b_during = requests(w->b);
	run_until(w, NULL, WINDOW_MS);
	during = requests(w->a) - before;
	b_during = requests(w->b) - b_during;
	bound = request_bound(fc);
	fprintf(stderr, "%s: A got %lld requests in %d ms (bound %lld), healthy B %lld\n", fc->name,
	        during, WINDOW_MS, bound, b_during);

	/* B and C went on syncing with each other meanwhile */
	if (!others_synced(w)) {
		dump_log(w);
		fail_msg("%s on A stopped B and C from syncing", fc->name);
	}
	/* a clear error naming the peer and the request, for the pull and for the push (a push
	 * and a pull of one peer take turns: with timeouts, the pull's may come after the window)
	 */
	w->says = fc;
	if (!fc->partial && !logged_both(w))
		run_until(w, logged_both, 3 * 2000 + 2000);
	/* Half-faulty: which request meets a fault is chance (and a connection that was not reset
	 * is kept alive and reused), so the one clear error may be the pull's, on any of its
	 * requests (an event view as well as an index page), or the push's; at least one must be
	 * logged, naming peer and request. */
	if (fc->partial && !logged_any_pull(w) && !push_logged(w, line, sizeof(line)))
		run_until(w, logged_any_pull, 3 * 2000 + 2000);
	if (fc->partial) {
		if (!logged_any_pull(w) && !push_logged(w, line, sizeof(line))) {
			dump_log(w);
			fail_msg("no logged error of misp-a saying \"%s\"", fc->pull_says);
		}
	} else if (!log_line(w, "peer misp-a: pull failed (misp-a: POST /events/index page 1: ",
	                     fc->pull_says, line, sizeof(line))) {
		dump_log(w);
		fail_msg("no logged pull error of misp-a saying \"%s\"", fc->pull_says);
	}
	if (push_logged(w, line, sizeof(line)))
		assert_non_null(strstr(line, "POST /events/add"));
	else if (!fc->partial) {
		dump_log(w);
		fail_msg("no logged push error of misp-a saying \"%s\"", fc->push_says);
	}
	if (fc->retry_after_s)
		assert_retry_after_kept(w, before_ms, fc->retry_after_s);
	/* backoff: A was not hammered */
	if (!fc->partial && during > bound)
		fail_msg("%s: A got %lld requests in %d ms, more than %lld: no backoff", fc->name,
		         during, WINDOW_MS, bound);
	/* nothing of A's was taken in, so the cursor stayed, and never passed unread data */
	cur = cursor_of(w, "misp-a");
	if (!fc->partial && cur != w->cursor_before)
		fail_msg("misp-a cursor moved from %lld to %lld while every answer was bad",
		         w->cursor_before, cur);
	if (w->violations)
		fail_msg("%s", w->violation);
	if (!fc->partial)
		assert_int_equal(held_ts(w->b, EV_A1), 0);

	/* 3. the fault clears: A catches up both ways, nothing lost, nothing twice */
	if (fc->misp_fault)
		json_decref(call("POST", sl_peerproc_url(w->a), "/_test/fault",
		                 "{\"kind\":\"none\"}", 200));
	if (fc->misp_answer)
		json_decref(
		    call("POST", sl_peerproc_url(w->a), "/_test/answer", "{\"status\":0}", 200));
	if (fc->proxy_mode)
		set_proxy_mode(w, "pass");
	if (!run_until(w, caught_up, 30000)) {
		dump_log(w);
		fail_msg(
		    "after %s cleared, A did not catch up (A holds B1 %lld, C1 %lld; B holds A1 "
		    "%lld; C holds A1 %lld)",
		    fc->name, held_ts(w->a, EV_B1), held_ts(w->a, EV_C1), held_ts(w->b, EV_A1),
		    held_ts(w->c, EV_A1));
	}
	run_until(w, NULL, 1000);
	if (w->violations)
		fail_msg("%s", w->violation);
	assert_true(cursor_of(w, "misp-a") >= T0 + 104);
	assert_no_duplicates(w->a, "misp-a");
	assert_no_duplicates(w->b, "misp-b");
	assert_no_duplicates(w->c, "misp-c");
	/* nothing went back to where it came from */
	assert_int_equal(dcount(w->a, EV_A0, "edit"), 0);
	assert_int_equal(dcount(w->a, EV_A1, "add") + dcount(w->a, EV_A1, "edit"), 0);
	assert_int_equal(dcount(w->a, EV_A3, "add") + dcount(w->a, EV_A3, "edit"), 0);
	assert_int_equal(dcount(w->b, EV_B1, "add"), 1); /* the test's own */
	assert_int_equal(dcount(w->b, EV_B1, "edit"), 0);
	assert_int_equal(dcount(w->c, EV_C1, "add"), 1);
	assert_int_equal(dcount(w->c, EV_C1, "edit"), 0);
}

/* test_sync_faults [CASE...]: the named cases (as listed in cases[]), or all of them. */
int main(int argc, char **argv)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0])];
	size_t i, n = 0;
	int k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool wanted = argc < 2;
		for (k = 1; k < argc; k++)
			if (strcmp(argv[k], cases[i].name) == 0)
				wanted = true;
		if (!wanted)
			continue;
		tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
		    test_fault, setup, teardown, (void *)&cases[i]);
		tests[n++].name = cases[i].name;
	}
	if (n == 0 || (argc > 1 && n != (size_t)argc - 1)) {
		fprintf(stderr, "usage: test_sync_faults [CASE...]; cases:");
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			fprintf(stderr, " \"%s\"", cases[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	if (!sltest_pg_dsn()) {
		fprintf(stderr, "no test PostgreSQL (run through ctest)\n");
		return SLTEST_SKIP;
	}
	atexit(stop_live);
	return _cmocka_run_group_tests("sync_faults", tests, n, NULL, NULL);
}
