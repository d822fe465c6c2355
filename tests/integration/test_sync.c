/* test_sync.c — the sync daemon's loop, in-process, against three misp-peer processes and a real
 * PostgreSQL ledger: an event made on A reaches B exactly once and is not pushed back to A; an edit
 * reaches B as one more version; TLP:RED never leaves; a peer answering 500s gets everything later
 * without duplicates; a push slower than the lease keeps its rows leased; an object of a
 * sharing-group event edited elsewhere reaches the member that belongs by its organisation. */
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
#include "pipeline.h"
#include "policy.h"
#include "sltest.h"
#include "sync.h"

#define KEY "sluiceTestMispKey0000000000000000000000a"
#define GREEN "5a0c8a2e-6f1b-4b7c-9d3e-000000000e01"
#define RED "5a0c8a2e-6f1b-4b7c-9d3e-000000000e02"
#define FROM_B "5a0c8a2e-6f1b-4b7c-9d3e-000000000e03"
#define INTERNAL "5a0c8a2e-6f1b-4b7c-9d3e-000000000e04"

static const char *const hdrs[] = {"Authorization: " KEY, "Accept: application/json",
                                   "Content-Type: application/json", NULL};

struct world {
	struct sl_peerproc *a, *b, *c;
	char dir[256], conf[512];
	struct sl_evloop *loop;
	struct sl_ledger *ledger;
	struct sl_config *cfg;
	struct sl_policy *policy;
	struct sl_sync *sync;
};

/* Peers still running when the process ends (a failed setup or assertion) are stopped here, so they
 * never outlive the test holding ctest's output pipe. */
static struct sl_peerproc *live[3];

static void stop_live(void)
{
	size_t i;
	for (i = 0; i < 3; i++)
		if (live[i])
			sl_peerproc_stop(live[i]);
}

static struct sl_peerproc *start_peer(void)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof bin), NULL};
	struct sl_peerproc *pp = sl_peerproc_start(argv);
	size_t i;
	assert_non_null(pp);
	for (i = 0; i < 3; i++)
		if (!live[i]) {
			live[i] = pp;
			break;
		}
	return pp;
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

/* The peer's delivery record of an event uuid (new reference), or NULL when it never got one. */
static json_t *delivery(struct sl_peerproc *pp, const char *uuid)
{
	json_t *d = call("GET", sl_peerproc_url(pp), "/_test/dump", NULL, 200);
	json_t *r = json_incref(json_object_get(json_object_get(d, "deliveries"), uuid));
	json_decref(d);
	return r;
}

static long long dcount(struct sl_peerproc *pp, const char *uuid, const char *what)
{
	json_t *d = delivery(pp, uuid);
	long long n = d ? json_integer_value(json_object_get(d, what)) : 0;
	json_decref(d);
	return n;
}

/* The timestamps of the versions the peer applied, as a JSON array (new reference, [] if none). */
static json_t *versions(struct sl_peerproc *pp, const char *uuid)
{
	json_t *d = delivery(pp, uuid);
	json_t *v = d ? json_incref(json_object_get(d, "versions")) : json_array();
	json_decref(d);
	return v;
}

static bool has_version(struct sl_peerproc *pp, const char *uuid, long long ts)
{
	json_t *v = versions(pp, uuid), *x;
	size_t i;
	bool found = false;
	json_array_foreach(v, i, x) if (json_integer_value(x) == ts) found = true;
	json_decref(v);
	return found;
}

static void assert_versions_unique(struct sl_peerproc *pp, const char *uuid)
{
	json_t *v = versions(pp, uuid);
	size_t i, j;
	for (i = 0; i < json_array_size(v); i++)
		for (j = i + 1; j < json_array_size(v); j++)
			assert_true(json_integer_value(json_array_get(v, i)) !=
			            json_integer_value(json_array_get(v, j)));
	assert_int_equal(dcount(pp, uuid, "applied"), (long long)json_array_size(v));
	json_decref(v);
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
	if (u->pred && u->pred(u->w)) {
		u->met = true;
		sl_evloop_stop(u->w->loop);
	} else if (--u->left <= 0) {
		sl_evloop_stop(u->w->loop);
	}
}

/* Run the sync until pred holds (checked every 100 ms) or ms pass; NULL pred = just run ms. */
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

/* ---- the world ------------------------------------------------------------------------------- */

static char *event_json(const char *uuid, const char *tlp, long long ts, const char *attr_uuid,
                        const char *value)
{
	json_t *e = json_pack(
	    "{s:{s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:[{s:s}],s:[{s:s,s:s,s:s,s:s,"
	    "s:b,s:s,s:s}]}}",
	    "Event", "uuid", uuid, "info", "sync test event", "date", "2026-11-01", "timestamp",
	    "0", "published", 1, "publish_timestamp", "0", "distribution", "3", "threat_level_id",
	    "2", "analysis", "2", "Orgc", "name", "OrgA", "uuid",
	    "5a0c8a2e-6f1b-4b7c-9d3e-0000000000aa", "Tag", "name", tlp, "Attribute", "uuid",
	    attr_uuid, "type", "domain", "category", "Network activity", "value", value, "to_ids",
	    1, "timestamp", "0", "distribution", "5");
	char b[32], *s;
	json_t *ev = json_object_get(e, "Event");
	snprintf(b, sizeof(b), "%lld", ts);
	json_object_set_new(ev, "timestamp", json_string(b));
	json_object_set_new(ev, "publish_timestamp", json_string(b));
	json_object_set_new(json_array_get(json_object_get(ev, "Attribute"), 0), "timestamp",
	                    json_string(b));
	s = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	return s;
}

/* event_json's text with one more event tag (takes and returns malloc'd text). */
static char *tag_more(char *text, const char *tag)
{
	json_t *e = json_loads(text, 0, NULL);
	char *out;
	json_array_append_new(json_object_get(json_object_get(e, "Event"), "Tag"),
	                      json_pack("{s:s}", "name", tag));
	out = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	free(text);
	return out;
}

/* misp-b's direction in the config written next (the stop test makes B push-only, so that no
 * pull of B holds its connector while the push hangs). */
static const char *b_direction = "both";
/* lines added to each peer block of the config written next (the filters test) */
static const char *peer_extra[3] = {"", "", ""};

static void write_conf(struct world *w, const char *dsn)
{
	FILE *f;
	const char *names[] = {"misp-a", "misp-b", "misp-c"};
	struct sl_peerproc *pp[] = {w->a, w->b, w->c};
	size_t i;

	snprintf(w->conf, sizeof(w->conf), "%s/sluice.conf", w->dir);
	f = fopen(w->conf, "w");
	assert_non_null(f);
	fprintf(
	    f, "ledger_dsn = \"%s\"\npolicy_file = \"%s/sync/sync.policy\"\nlog_level = \"info\"\n",
	    dsn, sltest_fixtures_dir());
	for (i = 0; i < 3; i++)
		fprintf(
		    f,
		    "peer \"%s\" {\n kind = \"misp\"\n url = \"%s\"\n direction = \"%s\"\n"
		    " api_key_env = \"SLTEST_SYNC_MISP_KEY\"\n allow_plain_http = true\n"
		    " timeout = 5\n connect_timeout = 2\n retry_base_ms = 50\n retry_cap_ms = 400\n"
		    " breaker_failures = 3\n breaker_cooldown = 1\n%s%s}\n",
		    names[i], sl_peerproc_url(pp[i]), i == 1 ? b_direction : "both",
		    /* B's events tagged "internal" stay with B */
		    i == 1 ? " tags_exclude = {\"Internal\"}\n" : "", peer_extra[i]);
	fclose(f);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct sl_err err = {0};
	char *dsn;
	struct sl_sync_opts opts = {.poll_ms = 150, .push_idle_ms = 150, .lease_s = 2, .seed = 7};

	assert_non_null(w);
	setenv("SLTEST_SYNC_MISP_KEY", KEY, 1);
	snprintf(w->dir, sizeof(w->dir), "/tmp/sl_test_sync.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	w->a = start_peer();
	w->b = start_peer();
	w->c = start_peer();
	dsn = sltest_fresh_db("sl_test_sync");
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

	sl_sync_free(w->sync);
	sl_evloop_free(w->loop);
	sl_ledger_close(w->ledger);
	sl_policy_free(w->policy);
	sl_config_unref(w->cfg);
	live[0] = live[1] = live[2] = NULL;
	assert_int_equal(sl_peerproc_stop(w->a), 0);
	assert_int_equal(sl_peerproc_stop(w->b), 0);
	assert_int_equal(sl_peerproc_stop(w->c), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", w->dir);
	free(w);
	return 0;
}

/* ---- the story ------------------------------------------------------------------------------- */

#define T1 1790000000LL
#define T2 1790000300LL

static bool b_has_v1(struct world *w)
{
	return has_version(w->b, GREEN, T1);
}
static bool b_has_v2(struct world *w)
{
	return has_version(w->b, GREEN, T2);
}
static bool c_has_v2(struct world *w)
{
	return has_version(w->c, GREEN, T2);
}

/* `sluice status --json -c conf`, parsed (new reference). */
static json_t *status_json(struct world *w)
{
	char cmd[1200], buf[65536];
	const char *bin = getenv("SLUICE_BIN");
	FILE *f;
	size_t n;
	json_t *v;

	assert_non_null(bin);
	snprintf(cmd, sizeof(cmd), "'%s' status --json -c '%s'", bin, w->conf);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	assert_int_equal(pclose(f), 0);
	v = json_loads(buf, 0, NULL);
	assert_non_null(v);
	return v;
}

static const json_t *status_peer(const json_t *st, const char *name)
{
	size_t i;
	const json_t *p;
	json_array_foreach(json_object_get(st, "peers"), i,
	                   p) if (strcmp(json_string_value(json_object_get(p, "name")), name) ==
	                          0) return p;
	fail_msg("no peer %s in status", name);
	return NULL;
}

static void test_sync_story(void **state)
{
	struct world *w = *state;
	struct sl_sync_stats st;
	char *green = event_json(GREEN, "tlp:green", T1, "5a0c8a2e-6f1b-4b7c-9d3e-0000000a0001",
	                         "login-secure-bank.example");
	char *red = event_json(RED, "tlp:red", T1, "5a0c8a2e-6f1b-4b7c-9d3e-0000000a0002",
	                       "red-only.example");
	char *edit;
	json_t *v, *ev;

	json_decref(call("POST", sl_peerproc_url(w->a), "/events/add", green, 200));
	json_decref(call("POST", sl_peerproc_url(w->a), "/events/add", red, 200));
	/* C fails every API request until told otherwise */
	json_decref(call("POST", sl_peerproc_url(w->c), "/_test/fault",
	                 "{\"kind\":\"500\",\"rate\":1}", 200));

	/* 1. A's green event reaches B once; nothing goes back to A; RED stays. */
	assert_true(run_until(w, b_has_v1, 20000));
	run_until(w, NULL, 1500); /* more rounds: pulls of B, retries; nothing may change */
	assert_int_equal(dcount(w->b, GREEN, "applied"), 1);
	assert_int_equal(dcount(w->b, GREEN, "add"), 1);
	assert_versions_unique(w->b, GREEN);
	assert_int_equal(dcount(w->a, GREEN, "add"), 1); /* the test's own add */
	assert_int_equal(dcount(w->a, GREEN, "edit"), 0);
	assert_int_equal(dcount(w->b, RED, "add"), 0);
	assert_int_equal(dcount(w->c, RED, "add"), 0);
	v = call("GET", sl_peerproc_url(w->b), "/events/view/" GREEN, NULL, 200);
	ev = json_object_get(v, "Event");
	assert_string_equal(json_string_value(json_object_get(ev, "timestamp")), "1790000000");
	assert_int_equal(json_array_size(json_object_get(ev, "Attribute")), 1);
	json_decref(v);
	json_decref(call("GET", sl_peerproc_url(w->b), "/events/view/" RED, NULL, 404));
	sl_sync_stats(w->sync, &st);
	assert_true(st.pushes_failed > 0); /* C refused with 500s */
	assert_int_equal(dcount(w->c, GREEN, "applied"), 0);

	/* 2. An edit on A (newer timestamp, one more attribute) reaches B as one more version. */
	edit = event_json(GREEN, "tlp:green", T2, "5a0c8a2e-6f1b-4b7c-9d3e-0000000a0003",
	                  "second-stage.example");
	json_decref(call("POST", sl_peerproc_url(w->a), "/events/edit/" GREEN, edit, 200));
	assert_true(run_until(w, b_has_v2, 20000));
	run_until(w, NULL, 1500);
	assert_int_equal(dcount(w->b, GREEN, "applied"), 2);
	assert_versions_unique(w->b, GREEN);
	assert_int_equal(dcount(w->a, GREEN, "edit"), 1); /* the test's own edit only */
	v = call("GET", sl_peerproc_url(w->b), "/events/view/" GREEN, NULL, 200);
	ev = json_object_get(v, "Event");
	assert_string_equal(json_string_value(json_object_get(ev, "timestamp")), "1790000300");
	assert_int_equal(json_array_size(json_object_get(ev, "Attribute")), 2);
	json_decref(v);

	/* 3. C comes back: it gets the newest version, no duplicates, still no RED. */
	json_decref(
	    call("POST", sl_peerproc_url(w->c), "/_test/fault", "{\"kind\":\"none\"}", 200));
	assert_true(run_until(w, c_has_v2, 30000));
	run_until(w, NULL, 1500);
	assert_versions_unique(w->c, GREEN);
	assert_int_equal(dcount(w->c, RED, "add"), 0);
	v = call("GET", sl_peerproc_url(w->c), "/events/view/" GREEN, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(json_object_get(v, "Event"), "Attribute")),
	                 2);
	json_decref(v);
	/* B and A unchanged by C's recovery */
	assert_int_equal(dcount(w->b, GREEN, "applied"), 2);
	assert_int_equal(dcount(w->a, GREEN, "edit"), 1);

	/* 4. sluice status tells what happened, from the ledger */
	v = status_json(w);
	assert_string_equal(json_string_value(json_object_get(status_peer(v, "misp-a"), "cursor")),
	                    "1790000300");
	assert_true(json_is_object(json_object_get(status_peer(v, "misp-b"), "push-ok")));
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_object_get(status_peer(v, "misp-c"), "push-error"), "msg")),
	                       "POST /events/add: http 500"));
	assert_true(json_is_object(json_object_get(status_peer(v, "misp-c"), "push-ok")));
	json_decref(v);
	free(green);
	free(red);
	free(edit);
}

static bool c_has_b_event(struct world *w)
{
	return dcount(w->c, FROM_B, "applied") > 0;
}
static bool a_has_b_event(struct world *w)
{
	return dcount(w->a, FROM_B, "applied") > 0;
}

static bool log_has(FILE *log, const char *needle)
{
	char line[2048];
	bool found = false;
	rewind(log);
	while (fgets(line, sizeof(line), log))
		if (strstr(line, needle))
			found = true;
	fseek(log, 0, SEEK_END);
	return found;
}

/* A peer answering HTML login pages, then JSON of the wrong shape, then garbage: each is a logged
 * error naming the peer and the request, its cursor never moves, and the other peers go on. */
static void test_sync_bad_answers(void **state)
{
	struct world *w = *state;
	struct sl_err err = {0};
	char pos[64];
	char *ev = event_json(FROM_B, "tlp:amber", T1, "5a0c8a2e-6f1b-4b7c-9d3e-0000000b0001",
	                      "amber.example");
	/* TLP:GREEN (the policy would let it go) but tagged for B's own use */
	char *internal =
	    tag_more(event_json(INTERNAL, "tlp:green", T1, "5a0c8a2e-6f1b-4b7c-9d3e-0000000b0002",
	                        "internal-only.example"),
	             "internal");
	FILE *log = tmpfile();
	const char *const kinds[] = {"{\"kind\":\"html200\",\"rate\":1}",
	                             "{\"kind\":\"wrongshape\",\"rate\":1}",
	                             "{\"kind\":\"malformed\",\"rate\":1}"};
	size_t k;

	assert_non_null(log);
	sl_log_setup(log, SL_LOG_INFO);
	json_decref(call("POST", sl_peerproc_url(w->a), "/_test/fault", kinds[0], 200));
	json_decref(call("POST", sl_peerproc_url(w->b), "/events/add", ev, 200));
	json_decref(call("POST", sl_peerproc_url(w->b), "/events/add", internal, 200));
	/* B's event still reaches C while A is broken */
	assert_true(run_until(w, c_has_b_event, 20000));
	for (k = 1; k < 3; k++) {
		json_decref(call("POST", sl_peerproc_url(w->a), "/_test/fault", kinds[k], 200));
		run_until(w, NULL, 800);
	}
	assert_int_equal(
	    sl_ledger_cursor_get(w->ledger, "misp-a", SL_SYNC_STREAM, pos, sizeof(pos), &err),
	    SL_ENOTFOUND);
	assert_int_equal(
	    sl_ledger_cursor_get(w->ledger, "misp-b", SL_SYNC_STREAM, pos, sizeof(pos), &err), 0);
	assert_string_equal(pos, "1790000000");
	assert_true(log_has(log, "peer misp-a: pull failed (misp-a: POST /events/index page 1: "
	                         "answer is not JSON (content-type text/html"));
	assert_true(log_has(log, "POST /events/index page 1: answer is not a list of events"));
	assert_true(log_has(log, "peer misp-a: push of event " FROM_B " failed"));
	/* A comes back and gets the event, once */
	json_decref(
	    call("POST", sl_peerproc_url(w->a), "/_test/fault", "{\"kind\":\"none\"}", 200));
	assert_true(run_until(w, a_has_b_event, 30000));
	run_until(w, NULL, 1000);
	assert_versions_unique(w->a, FROM_B);
	assert_int_equal(dcount(w->b, FROM_B, "edit"), 0); /* never pushed back to its origin */
	/* the filtered event reached nobody */
	assert_int_equal(dcount(w->a, INTERNAL, "add"), 0);
	assert_int_equal(dcount(w->c, INTERNAL, "add"), 0);
	free(internal);
	sl_log_setup(stderr, SL_LOG_INFO);
	fclose(log);
	free(ev);
}

/* Start the sync again with opts and B as a push-only destination (its own pulls would hang too,
 * and hold its connector), B hanging on every request (timeout 5 s), and A's green event added. */
static void restart_b_hanging(struct world *w, const struct sl_sync_opts *opts)
{
	struct sl_err err = {0};
	struct sl_config *cfg;
	char *dsn = strdup(sl_config_db_dsn(w->cfg));
	char *green = event_json(GREEN, "tlp:green", T1, "5a0c8a2e-6f1b-4b7c-9d3e-0000000a0001",
	                         "login-secure-bank.example");

	b_direction = "push";
	write_conf(w, dsn);
	b_direction = "both";
	free(dsn);
	cfg = sl_config_load(w->conf, SL_CONFIG_STRICT, &err);
	assert_non_null(cfg);
	sl_sync_free(w->sync);
	sl_config_unref(w->cfg);
	w->cfg = cfg;
	w->sync = sl_sync_new(w->loop, w->cfg, w->ledger, w->policy, opts, &err);
	assert_non_null(w->sync);
	json_decref(
	    call("POST", sl_peerproc_url(w->b), "/_test/fault", "{\"kind\":\"hang\"}", 200));
	json_decref(call("POST", sl_peerproc_url(w->a), "/events/add", green, 200));
	free(green);
}

/* Stopping while a push hangs hands the unsettled rows back at once instead of leaving them leased,
 * so a restarted daemon sends them without waiting. */
static void test_sync_stop_releases(void **state)
{
	struct world *w = *state;
	struct sl_ledger_work work[16];
	struct sl_err err = {0};
	struct sl_sync_opts opts = {.poll_ms = 150, .push_idle_ms = 150, .lease_s = 2, .seed = 7};
	size_t n = 0, i;
	bool retried = false;

	restart_b_hanging(w, &opts);
	run_until(w, NULL, 800); /* A pulled, the push to B hangs (timeout 5 s, lease 2 s) */
	sl_sync_free(w->sync);
	w->sync = NULL;
	assert_int_equal(sl_ledger_outbox_claim(w->ledger, "misp-b", 16, 60, work, &n, &err), 0);
	assert_true(n >= 2); /* the report and its attribute, at least */
	for (i = 0; i < n; i++)
		if (work[i].attempts == 2)
			retried =
			    true; /* claimed by the stopped sync, handed back, claimed again */
	assert_true(retried);
	json_decref(
	    call("POST", sl_peerproc_url(w->b), "/_test/fault", "{\"kind\":\"none\"}", 200));
}

/* A push that takes longer than the lease keeps its rows: their leases are renewed while it is in
 * flight, so a second gateway on the same ledger (a claim of its own here) gets none of them. B
 * hangs (timeout 5 s); the lease is 1 s; 3 s later the rows are still leased. */
static void test_sync_lease_renewed(void **state)
{
	struct world *w = *state;
	struct sl_ledger_work work[16];
	struct sl_err err = {0};
	struct sl_sync_opts opts = {.poll_ms = 150, .push_idle_ms = 150, .lease_s = 1, .seed = 7};
	size_t n = 99;

	restart_b_hanging(w, &opts);
	run_until(w, NULL, 3000); /* A pulled; the push to B hangs for 5 s, three leases */
	assert_int_equal(sl_ledger_outbox_claim(w->ledger, "misp-b", 16, 60, work, &n, &err), 0);
	assert_int_equal(n, 0);
	json_decref(
	    call("POST", sl_peerproc_url(w->b), "/_test/fault", "{\"kind\":\"none\"}", 200));
	assert_true(run_until(w, b_has_v1, 15000)); /* the hung push fails, the retry goes out */
	assert_versions_unique(w->b, GREEN);
}

/* The pull filters of a MISP peer block: published_only = false also takes drafts (A), the default
 * takes published events only (C), and max_age_days keeps a first pull from reaching further back
 * (B). What was taken in is read from the ledger: each event's report (a grouping when it is not
 * published, as misp-stix maps it). */
static bool in_ledger(struct world *w, const char *event_uuid)
{
	static const char *const kinds[] = {"report", "grouping"};
	char id[96];
	struct sl_err err = {0};
	json_t *o = NULL;
	size_t i;

	for (i = 0; i < 2 && !o; i++) {
		snprintf(id, sizeof(id), "%s--%s", kinds[i], event_uuid);
		o = sl_ledger_get(w->ledger, id, NULL, &err);
		json_decref(o);
	}
	return o != NULL;
}

static char *unpublished(char *text)
{
	json_t *e = json_loads(text, 0, NULL);
	char *out;
	json_object_set_new(json_object_get(e, "Event"), "published", json_false());
	out = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	free(text);
	return out;
}

#define DRAFT_A "5a0c8a2e-6f1b-4b7c-9d3e-0000000f0001"
#define DRAFT_C "5a0c8a2e-6f1b-4b7c-9d3e-0000000f0002"
#define OLD_B "5a0c8a2e-6f1b-4b7c-9d3e-0000000f0003"
#define NEW_B "5a0c8a2e-6f1b-4b7c-9d3e-0000000f0004"

static bool filters_done(struct world *w)
{
	return in_ledger(w, DRAFT_A) && in_ledger(w, NEW_B);
}

static void test_sync_pull_filters(void **state)
{
	struct world *w = *state;
	struct sl_err err = {0};
	struct sl_sync_opts opts = {.poll_ms = 150, .push_idle_ms = 150, .lease_s = 2, .seed = 7};
	char *dsn = strdup(sl_config_db_dsn(w->cfg));
	long long now = (long long)time(NULL);
	char *ev;

	peer_extra[0] = " published_only = false\n";
	peer_extra[1] = " max_age_days = 30\n";
	write_conf(w, dsn);
	peer_extra[0] = peer_extra[1] = "";
	free(dsn);
	sl_sync_free(w->sync);
	sl_config_unref(w->cfg);
	w->cfg = sl_config_load(w->conf, SL_CONFIG_STRICT, &err);
	assert_non_null(w->cfg);
	assert_false(sl_config_peer_by_name(w->cfg, "misp-a")->published_only);
	assert_true(sl_config_peer_by_name(w->cfg, "misp-c")->published_only);
	ev = unpublished(event_json(DRAFT_A, "tlp:green", now - 3600,
	                            "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa001", "draft-a.example"));
	json_decref(call("POST", sl_peerproc_url(w->a), "/events/add", ev, 200));
	free(ev);
	ev = unpublished(event_json(DRAFT_C, "tlp:green", now - 3600,
	                            "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa002", "draft-c.example"));
	json_decref(call("POST", sl_peerproc_url(w->c), "/events/add", ev, 200));
	free(ev);
	ev = event_json(OLD_B, "tlp:green", now - 60 * 86400, "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa003",
	                "old-b.example");
	json_decref(call("POST", sl_peerproc_url(w->b), "/events/add", ev, 200));
	free(ev);
	ev = event_json(NEW_B, "tlp:green", now - 86400, "5a0c8a2e-6f1b-4b7c-9d3e-0000000fa004",
	                "new-b.example");
	json_decref(call("POST", sl_peerproc_url(w->b), "/events/add", ev, 200));
	free(ev);
	w->sync = sl_sync_new(w->loop, w->cfg, w->ledger, w->policy, &opts, &err);
	assert_non_null(w->sync);
	assert_true(run_until(w, filters_done, 20000));
	run_until(w, NULL, 1000); /* a few more pulls of each */
	assert_true(in_ledger(w, DRAFT_A));
	assert_false(in_ledger(w, DRAFT_C));
	assert_true(in_ledger(w, NEW_B));
	assert_false(in_ledger(w, OLD_B));
}

#define SG_EVENT "5a0c8a2e-6f1b-4b7c-9d3e-000000005e01"
#define SG_ATTR "5a0c8a2e-6f1b-4b7c-9d3e-000000005a01"
#define SG_UUID "5a0c8a2e-6f1b-4b7c-9d3e-000000005601"
#define SG_EDIT "Confirmed by a partner analyst"

static bool b_has_sg(struct world *w)
{
	return has_version(w->b, SG_EVENT, T1);
}

/* B's copy of the sharing-group event has the partner's edit as its attribute's comment. */
static bool b_has_sg_edit(struct world *w)
{
	json_t *v = call("GET", sl_peerproc_url(w->b), "/events/view/" SG_EVENT, NULL, 200), *a;
	size_t i;
	bool found = false;

	json_array_foreach(json_object_get(json_object_get(v, "Event"), "Attribute"), i, a)
	{
		const char *c = json_string_value(json_object_get(a, "comment"));
		if (strcmp(json_string_value(json_object_get(a, "uuid")), SG_ATTR) == 0 && c &&
		    strcmp(c, SG_EDIT) == 0)
			found = true;
	}
	json_decref(v);
	return found;
}

/* A's event for the Banks sharing group (A's and B's organisations; sync.policy gives misp-b
 * B's organisation and no list of groups, so B is a member only by the group's definition). Once
 * B holds it, a partner (no MISP: a peer that sends STIX) sends a new version of its indicator
 * alone. The push to B rebuilds the event around that row from the stored report: the report must
 * be decided with the group's definition from the ledger, or B is refused the edit. C, no member,
 * never sees the event. */
static void test_sync_sharing_group_edit(void **state)
{
	struct world *w = *state;
	struct sl_err err = {0};
	struct sl_pipeline *pl;
	char *text = event_json(SG_EVENT, "tlp:green", T1, SG_ATTR, "bank-mules.example");
	json_t *e = json_loads(text, 0, NULL), *ev = json_object_get(e, "Event"), *ind, *bundle;

	free(text);
	json_object_set_new(ev, "distribution", json_string("4"));
	json_object_set_new(ev, "sharing_group_id", json_string("1"));
	json_object_set_new(
	    ev, "SharingGroup",
	    json_pack("{s:s,s:s,s:s,s:[{s:s,s:b,s:{s:s,s:s}},{s:s,s:b,s:{s:s,s:s}}]}", "id", "1",
	              "name", "Banks", "uuid", SG_UUID, "SharingGroupOrg", "org_id", "1", "extend",
	              0, "Organisation", "name", "OrgA", "uuid",
	              "5a0c8a2e-6f1b-4b7c-9d3e-0000000000aa", "org_id", "2", "extend", 0,
	              "Organisation", "name", "OrgB", "uuid",
	              "5a0c8a2e-6f1b-4b7c-9d3e-0000000000bb"));
	text = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	json_decref(call("POST", sl_peerproc_url(w->a), "/events/add", text, 200));
	free(text);
	assert_true(run_until(w, b_has_sg, 20000));

	/* the partner's new version of the indicator, alone */
	ind = sl_ledger_get(w->ledger, "indicator--" SG_ATTR, NULL, &err);
	assert_non_null(ind);
	json_object_del(ind, "revoked");
	json_object_set_new(ind, "modified", json_string("2026-11-02T10:00:00.000Z"));
	json_object_set_new(ind, "description", json_string(SG_EDIT));
	bundle = json_pack("{s:s,s:s,s:[o]}", "type", "bundle", "id",
	                   "bundle--5a0c8a2e-6f1b-4b7c-9d3e-000000005b01", "objects", ind);
	pl = sl_pipeline_new(w->ledger, w->policy, &err);
	assert_non_null(pl);
	assert_int_equal(sl_pipeline_bundle(pl, "partner", NULL, bundle, NULL,
	                                    (long long)time(NULL), NULL, &err),
	                 0);
	sl_pipeline_free(pl);
	json_decref(bundle);

	assert_true(run_until(w, b_has_sg_edit, 20000));
	run_until(w, NULL, 1000);
	assert_int_equal(dcount(w->c, SG_EVENT, "add"), 0);
	assert_int_equal(dcount(w->c, SG_EVENT, "edit"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sync_story, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_bad_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_stop_releases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_lease_renewed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_pull_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_sharing_group_edit, setup, teardown),
	};
	if (!sltest_pg_dsn()) {
		fprintf(stderr, "no test PostgreSQL (run through ctest)\n");
		return SLTEST_SKIP;
	}
	sl_log_setup(stderr, SL_LOG_INFO);
	atexit(stop_live);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
