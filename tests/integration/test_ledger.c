/* test_ledger.c — the ledger on the real test PostgreSQL: versions (newer wins, same is a no-op
 * that still records provenance), provenance from several peers, observable dedup across sources
 * and spellings, correlation, outbox claims from two connections at once, cursor + data atomicity
 * when the connection dies mid-transaction, append-only audit, quarantine, erasure, paging, id map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <pthread.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ledger.h"
#include "sltest.h"

struct ctx {
	char *dsn;
	struct sl_ledger *l;
	PGconn *pg; /* a second, plain connection to look behind the API */
};

static int setup(void **state)
{
	static int n;
	char name[64];
	struct ctx *c = calloc(1, sizeof(*c));
	struct sl_err err = {0};

	snprintf(name, sizeof(name), "sl_ledger_%d", n++);
	c->dsn = sltest_fresh_db(name);
	c->l = sl_ledger_open(c->dsn, &err);
	assert_non_null(c->l);
	assert_int_equal(sl_ledger_migrate(c->l, NULL, NULL, &err), 0);
	c->pg = PQconnectdb(c->dsn);
	assert_int_equal(PQstatus(c->pg), CONNECTION_OK);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	sl_ledger_close(c->l);
	PQfinish(c->pg);
	free(c->dsn);
	free(c);
	return 0;
}

static long long q_int(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	long long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static json_t *indicator(const char *uuid, const char *modified, const char *pattern)
{
	char id[80];

	snprintf(id, sizeof(id), "indicator--%s", uuid);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "indicator",
	                 "spec_version", "2.1", "id", id, "created", "2024-01-01T00:00:00Z",
	                 "modified", modified, "pattern_type", "stix", "pattern", pattern,
	                 "valid_from", "2024-01-01T00:00:00Z");
}

static json_t *sco(const char *type, const char *uuid, const char *value)
{
	char id[80];

	snprintf(id, sizeof(id), "%s--%s", type, uuid);
	return json_pack("{s:s, s:s, s:s, s:s}", "type", type, "spec_version", "2.1", "id", id,
	                 "value", value);
}

static json_t *report(const char *uuid, const char *modified, json_t *refs)
{
	char id[80];

	snprintf(id, sizeof(id), "report--%s", uuid);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "type", "report",
	                 "spec_version", "2.1", "id", id, "created", "2024-01-01T00:00:00Z",
	                 "modified", modified, "name", "event", "published", "2024-01-01T00:00:00Z",
	                 "object_refs", refs);
}

/* Ingest objs (stolen) from peer; outcomes into out (may be NULL). */
static int ingest(struct sl_ledger *l, const char *peer, json_t **objs, size_t n,
                  const struct sl_ledger_cursor *cur, enum sl_ledger_outcome *out,
                  struct sl_ledger_result *res_out, struct sl_err *err)
{
	struct sl_ledger_in in[32];
	struct sl_ledger_result res[32];
	size_t i;
	int rc;

	assert_true(n <= 32);
	for (i = 0; i < n; i++) {
		in[i].obj = objs[i];
		in[i].origin_id = "origin-1";
	}
	rc = sl_ledger_ingest(l, peer, in, n, cur, res, err);
	for (i = 0; i < n; i++) {
		if (out)
			out[i] = res[i].outcome;
		if (res_out)
			res_out[i] = res[i];
		json_decref(objs[i]);
	}
	return rc;
}

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"
#define U4 "44444444-4444-4444-8444-444444444444"
#define U5 "55555555-5555-4555-8555-555555555555"
#define U6 "66666666-6666-4666-8666-666666666666"

static void migrate_is_idempotent_and_refuses_newer(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger *l2;
	int from = -1, to = -1;
	PGresult *r;

	assert_int_equal(sl_ledger_migrate(c->l, &from, &to, &err), 0);
	assert_int_equal(from, to);
	assert_int_equal(to, sl_ledger_schema_known());
	r = PQexec(c->pg, "INSERT INTO schema_version (version) VALUES (999)");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	l2 = sl_ledger_open(c->dsn, &err);
	assert_null(l2);
	assert_int_equal(err.code, SL_ECONFLICT);
	assert_non_null(strstr(err.msg, "999"));
	assert_int_equal(sl_ledger_migrate(c->l, NULL, NULL, &err), SL_ECONFLICT);
}

static void newer_version_wins(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	enum sl_ledger_outcome o[2];
	json_t *objs[2], *got;

	objs[0] = indicator(U1, "2024-02-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.1']");
	assert_int_equal(ingest(c->l, "misp-a", objs, 1, NULL, o, NULL, &err), 0);
	assert_int_equal(o[0], SL_LEDGER_NEW);
	objs[0] = indicator(U1, "2024-03-01T00:00:00.5Z", "[ipv4-addr:value = '10.0.0.2']");
	assert_int_equal(ingest(c->l, "misp-a", objs, 1, NULL, o, NULL, &err), 0);
	assert_int_equal(o[0], SL_LEDGER_NEWER);
	/* an older version arriving late is kept as history, the newest stays newest */
	objs[0] = indicator(U1, "2024-01-15T00:00:00Z", "[ipv4-addr:value = '10.0.0.0']");
	assert_int_equal(ingest(c->l, "misp-b", objs, 1, NULL, o, NULL, &err), 0);
	assert_int_equal(o[0], SL_LEDGER_OLDER);
	/* two versions in one batch: the later one is the newest */
	objs[0] = indicator(U2, "2024-05-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.5']");
	objs[1] = indicator(U2, "2024-04-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.4']");
	assert_int_equal(ingest(c->l, "misp-a", objs, 2, NULL, o, NULL, &err), 0);
	assert_int_equal(o[0], SL_LEDGER_NEW);
	assert_int_equal(o[1], SL_LEDGER_OLDER);

	got = sl_ledger_get(c->l, "indicator--" U1, NULL, &err);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "pattern")),
	                    "[ipv4-addr:value = '10.0.0.2']");
	json_decref(got);
	got = sl_ledger_get(c->l, "indicator--" U1, "2024-02-01T00:00:00.000Z", &err);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "pattern")),
	                    "[ipv4-addr:value = '10.0.0.1']");
	json_decref(got);
	assert_null(sl_ledger_get(c->l, "indicator--" U3, NULL, &err));
	assert_int_equal(err.code, SL_ENOTFOUND);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 5);
}

static void same_version_is_noop_but_provenance_counts(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	enum sl_ledger_outcome o[1];
	json_t *objs[1], *src;
	const char *peers[] = {"misp-a", "opencti", "taxii-partner", "misp-a"};
	size_t i;

	for (i = 0; i < 4; i++) {
		objs[0] = sco("domain-name", U1, "evil.example.com");
		assert_int_equal(ingest(c->l, peers[i], objs, 1, NULL, o, NULL, &err), 0);
		assert_int_equal(o[0], i == 0 ? SL_LEDGER_NEW : SL_LEDGER_SAME);
	}
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 1);
	/* three sources: three provenance rows; misp-a twice is one row delivered twice */
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM provenance"), 3);
	assert_int_equal(q_int(c->pg, "SELECT deliveries FROM provenance WHERE peer = 'misp-a'"),
	                 2);
	src = sl_ledger_sources(c->l, NULL, "evil.example.com", &err);
	assert_non_null(src);
	assert_int_equal(json_array_size(json_object_get(src, "sources")), 3);
	json_decref(src);
}

static void observables_dedup_across_sources_and_spellings(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	json_t *objs[3], *src;

	objs[0] = sco("domain-name", U1, "Evil.EXAMPLE.com.");
	objs[1] = sco("ipv4-addr", U2, "010.000.000.001");
	assert_int_equal(ingest(c->l, "misp-a", objs, 2, NULL, NULL, NULL, &err), 0);
	objs[0] = sco("domain-name", U3, "evil.example.com");
	objs[1] =
	    indicator(U4, "2024-01-01T00:00:00Z",
	              "[domain-name:value = 'EVIL.example.com'] OR [ipv4-addr:value = '10.0.0.1']");
	objs[2] = sco("ipv4-addr", U5, "10.0.0.1/32");
	assert_int_equal(ingest(c->l, "opencti", objs, 3, NULL, NULL, NULL, &err), 0);

	/* one observable per IoC, whatever the spelling or the source */
	assert_int_equal(q_int(c->pg, "SELECT count(DISTINCT (type, value)) FROM observables"), 2);
	src = sl_ledger_sources(c->l, NULL, "EVIL.Example.Com", &err);
	assert_non_null(src);
	assert_string_equal(json_string_value(json_object_get(src, "value")), "evil.example.com");
	assert_int_equal(json_array_size(json_object_get(src, "objects")), 3);
	json_decref(src);
	src = sl_ledger_sources(c->l, "ipv4-addr", "10.0.0.001", &err);
	assert_non_null(src);
	assert_int_equal(json_array_size(json_object_get(src, "objects")), 3);
	json_decref(src);
	assert_null(sl_ledger_sources(c->l, NULL, "unknown.example.org", &err));
	assert_int_equal(err.code, SL_ENOTFOUND);
}

static void correlation(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	json_t *objs[8], *rel, *src;
	char sid[80];

	objs[0] = sco("ipv4-addr", U1, "10.9.9.9");
	objs[1] =
	    sco("ipv4-addr", U2, "010.9.9.9"); /* same IoC, other id, other source's spelling */
	objs[2] = indicator(U3, "2024-01-01T00:00:00Z", "[domain-name:value = 'c2.example.net']");
	objs[3] = sco("domain-name", U4, "C2.example.net");
	objs[4] = report(U1, "2024-01-01T00:00:00Z",
	                 json_pack("[s,s]", "ipv4-addr--" U1, "indicator--" U3));
	objs[5] = report(U2, "2024-01-01T00:00:00Z",
	                 json_pack("[s,s]", "ipv4-addr--" U2, "domain-name--" U4));
	objs[6] = report(U3, "2024-01-01T00:00:00Z", json_pack("[s]", "domain-name--" U4));
	snprintf(sid, sizeof(sid), "sighting--%s", U5);
	objs[7] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "sighting", "spec_version",
	                    "2.1", "id", sid, "created", "2024-01-01T00:00:00Z", "modified",
	                    "2024-01-01T00:00:00Z", "sighting_of_ref", "indicator--" U3);
	assert_int_equal(ingest(c->l, "misp-a", objs, 8, NULL, NULL, NULL, &err), 0);

	rel = sl_ledger_related(c->l, "report--" U1, 10, &err);
	assert_non_null(rel);
	assert_int_equal(json_array_size(rel), 3); /* report 2 (2 shared), report 3, the sighting */
	assert_string_equal(json_string_value(json_object_get(json_array_get(rel, 0), "id")),
	                    "report--" U2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rel, 0), "shared")), 2);
	json_decref(rel);

	/* a newer version of report 1 no longer cites the IP: report 3 shares nothing more */
	objs[0] = report(U1, "2024-02-01T00:00:00Z", json_pack("[s]", "ipv4-addr--" U1));
	assert_int_equal(ingest(c->l, "misp-a", objs, 1, NULL, NULL, NULL, &err), 0);
	rel = sl_ledger_related(c->l, "report--" U1, 10, &err);
	assert_non_null(rel);
	assert_int_equal(json_array_size(rel), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rel, 0), "id")),
	                    "report--" U2);
	json_decref(rel);

	src = sl_ledger_sources(c->l, NULL, "c2.EXAMPLE.net", &err);
	assert_non_null(src);
	assert_int_equal(json_array_size(json_object_get(src, "containers")),
	                 3); /* r2, r3, sighting */
	json_decref(src);
}

struct claimer {
	const char *dsn;
	int64_t got[4000];
	size_t n;
	int rc;
};

static void *claim_loop(void *arg)
{
	struct claimer *cl = arg;
	struct sl_err err = {0};
	struct sl_ledger *l = sl_ledger_open(cl->dsn, &err);
	struct sl_ledger_work w[7];
	size_t n, i;

	if (!l) {
		cl->rc = -1;
		return NULL;
	}
	for (;;) {
		if ((cl->rc = sl_ledger_outbox_claim(l, "partner", 7, 300, w, &n, &err)) != 0 ||
		    n == 0)
			break;
		for (i = 0; i < n && cl->n < 4000; i++)
			cl->got[cl->n++] = w[i].outbox_id;
	}
	sl_ledger_close(l);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void outbox_claims_are_disjoint_and_complete(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_ref refs[1000];
	static char ids[1000][80];
	struct sl_ledger_in in[1000];
	struct sl_ledger_result res[1000];
	static struct claimer a, b;
	static int64_t all[4000];
	pthread_t ta, tb;
	size_t i, n;

	for (i = 0; i < 1000; i++) {
		snprintf(ids[i], sizeof(ids[i]), "ipv4-addr--%08zx-0000-4000-8000-000000000000", i);
		in[i].obj = json_pack("{s:s, s:s, s:s}", "type", "ipv4-addr", "id", ids[i], "value",
		                      "10.1.2.3");
		in[i].origin_id = NULL;
		refs[i].id = ids[i];
		refs[i].modified = NULL;
	}
	assert_int_equal(sl_ledger_ingest(c->l, "misp-a", in, 1000, NULL, res, &err), 0);
	for (i = 0; i < 1000; i++)
		json_decref((json_t *)in[i].obj);
	assert_int_equal(
	    sl_ledger_outbox_enqueue(c->l, "partner", refs, 1000, SL_LEDGER_DELIVER, &err), 0);
	assert_int_equal(
	    sl_ledger_outbox_enqueue(c->l, "partner", refs, 1000, SL_LEDGER_REVOKE, &err), 0);
	/* enqueueing again does not duplicate open rows */
	assert_int_equal(
	    sl_ledger_outbox_enqueue(c->l, "partner", refs, 1000, SL_LEDGER_DELIVER, &err), 0);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM outbox"), 2000);
	refs[0].id = "ipv4-addr--99999999-0000-4000-8000-000000000000";
	assert_int_equal(
	    sl_ledger_outbox_enqueue(c->l, "partner", refs, 1, SL_LEDGER_DELIVER, &err),
	    SL_ENOTFOUND);

	a.dsn = b.dsn = c->dsn;
	assert_int_equal(pthread_create(&ta, NULL, claim_loop, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, claim_loop, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(a.n + b.n, 2000);
	memcpy(all, a.got, a.n * sizeof(int64_t));
	memcpy(all + a.n, b.got, b.n * sizeof(int64_t));
	qsort(all, 2000, sizeof(int64_t), cmp64);
	for (i = 1; i < 2000; i++)
		assert_true(all[i] != all[i - 1]); /* never the same row twice */
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM outbox WHERE attempts = 1"), 2000);

	/* leased rows are not handed out again; settled rows leave the queue */
	{
		struct sl_ledger_work w[4];

		assert_int_equal(sl_ledger_outbox_claim(c->l, NULL, 4, 300, w, &n, &err), 0);
		assert_int_equal(n, 0);
		assert_int_equal(sl_ledger_outbox_sent(c->l, all[0], &err), 0);
		assert_int_equal(sl_ledger_outbox_parked(c->l, all[1], "HTTP 400 invalid", &err),
		                 0);
		assert_int_equal(sl_ledger_outbox_failed(c->l, all[2], "timeout", 0, &err), 0);
		assert_int_equal(sl_ledger_outbox_claim(c->l, "partner", 4, 300, w, &n, &err), 0);
		assert_int_equal(n, 1); /* only the failed one, due again at once */
		assert_true(w[0].outbox_id == all[2]);
		assert_int_equal(w[0].attempts, 2);
		assert_int_equal(sl_ledger_outbox_sent(c->l, 0, &err), SL_ENOTFOUND);
	}
}

/* `sluice status` shows each destination's queue: counts per state and the oldest pending age. */
static void outbox_depth_per_destination(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_depth *d = NULL;
	struct sl_ledger_ref refs[5];
	struct sl_ledger_work w[5];
	static char ids[5][80];
	json_t *objs[5];
	size_t i, n = 99;

	assert_int_equal(sl_ledger_outbox_depth(c->l, &d, &n, &err), 0);
	assert_int_equal(n, 0); /* an empty outbox: no destinations */
	assert_null(d);

	for (i = 0; i < 5; i++) {
		char uuid[40];

		snprintf(uuid, sizeof(uuid), "%08zx-0000-4000-8000-000000000000", i);
		snprintf(ids[i], sizeof(ids[i]), "domain-name--%s", uuid);
		objs[i] = sco("domain-name", uuid, "example.org");
		refs[i].id = ids[i];
		refs[i].modified = NULL;
	}
	assert_int_equal(ingest(c->l, "misp-a", objs, 5, NULL, NULL, NULL, &err), 0);
	assert_int_equal(sl_ledger_outbox_enqueue(c->l, "alpha", refs, 5, SL_LEDGER_DELIVER, &err),
	                 0);
	assert_int_equal(sl_ledger_outbox_enqueue(c->l, "beta", refs, 2, SL_LEDGER_DELIVER, &err),
	                 0);
	assert_int_equal(sl_ledger_outbox_enqueue(c->l, "gamma", refs, 1, SL_LEDGER_DELIVER, &err),
	                 0);
	/* alpha: four claimed and settled four ways, one left pending */
	assert_int_equal(sl_ledger_outbox_claim(c->l, "alpha", 4, 300, w, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(sl_ledger_outbox_sent(c->l, w[0].outbox_id, &err), 0);
	assert_int_equal(sl_ledger_outbox_failed(c->l, w[1].outbox_id, "http 503", 600, &err), 0);
	assert_int_equal(sl_ledger_outbox_parked(c->l, w[2].outbox_id, "http 400", &err), 0);
	assert_int_equal(sl_ledger_outbox_blocked(c->l, w[3].outbox_id, "tlp-red", &err), 0);
	/* gamma: everything sent, so it owes nothing */
	assert_int_equal(sl_ledger_outbox_claim(c->l, "gamma", 4, 300, w, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl_ledger_outbox_sent(c->l, w[0].outbox_id, &err), 0);
	/* beta: one row claimed (leased, still pending), the oldest enqueued an hour ago */
	assert_int_equal(sl_ledger_outbox_claim(c->l, "beta", 1, 300, w, &n, &err), 0);
	assert_int_equal(n, 1);
	PQclear(PQexec(c->pg, "UPDATE outbox SET created_at = now() - interval '1 hour' "
	                      "WHERE outbox_id = (SELECT min(outbox_id) FROM outbox "
	                      "WHERE destination = 'beta')"));

	assert_int_equal(sl_ledger_outbox_depth(c->l, &d, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d[0].destination, "alpha");
	assert_int_equal(d[0].pending, 1);
	assert_int_equal(d[0].failed, 1);
	assert_int_equal(d[0].parked, 1);
	assert_int_equal(d[0].blocked, 1);
	assert_true(d[0].oldest_pending_s >= 0 && d[0].oldest_pending_s < 3600);
	assert_string_equal(d[1].destination, "beta");
	assert_int_equal(d[1].pending, 2);
	assert_int_equal(d[1].failed + d[1].parked + d[1].blocked, 0);
	assert_true(d[1].oldest_pending_s >= 3600 && d[1].oldest_pending_s < 3600 + 600);
	sl_ledger_outbox_depth_free(d);

	/* nothing pending left: the age says so */
	assert_int_equal(sl_ledger_outbox_claim(c->l, "alpha", 4, 300, w, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl_ledger_outbox_sent(c->l, w[0].outbox_id, &err), 0);
	assert_int_equal(sl_ledger_outbox_depth(c->l, &d, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(d[0].pending, 0);
	assert_int_equal(d[0].oldest_pending_s, -1);
	assert_int_equal(d[0].failed + d[0].parked + d[0].blocked, 3);
	sl_ledger_outbox_depth_free(d);
	sl_ledger_outbox_depth_free(NULL);
}

struct ingester {
	const char *dsn;
	int rc;
	struct sl_err err;
};

static void *ingest_with_cursor(void *arg)
{
	struct ingester *g = arg;
	struct sl_ledger *l = sl_ledger_open(g->dsn, &g->err);
	struct sl_ledger_cursor cur = {"misp-a", "events", "2024-06-01T00:00:00Z"};
	json_t *objs[2];

	if (!l) {
		g->rc = -100;
		return NULL;
	}
	objs[0] = sco("ipv4-addr", U1, "10.7.7.7");
	objs[1] = indicator(U2, "2024-01-01T00:00:00Z", "[ipv4-addr:value = '10.7.7.7']");
	g->rc = ingest(l, "misp-a", objs, 2, &cur, NULL, NULL, &g->err);
	sl_ledger_close(l);
	return NULL;
}

static void cursor_and_data_commit_together(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_cursor start = {"misp-a", "events", "2024-01-01T00:00:00Z"};
	static struct ingester g;
	PGconn *locker = PQconnectdb(c->dsn);
	PGresult *r;
	pthread_t t;
	char pos[64], pid[32] = "";
	int tries;

	assert_int_equal(sl_ledger_cursor_set(c->l, &start, &err), 0);
	/* hold the cursor table so the ingest stops inside its transaction, after its data */
	r = PQexec(locker, "BEGIN; LOCK TABLE cursors IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	g.dsn = c->dsn;
	assert_int_equal(pthread_create(&t, NULL, ingest_with_cursor, &g), 0);
	for (tries = 0; tries < 200 && !*pid; tries++) {
		r = PQexec(
		    c->pg,
		    "SELECT pid FROM pg_stat_activity WHERE application_name = "
		    "'sluice-ledger' AND wait_event_type = 'Lock' AND query LIKE '%cursor%'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			snprintf(pid, sizeof(pid), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (!*pid)
			usleep(50000);
	}
	assert_true(*pid);
	/* the ingest has written its objects but not committed: kill its connection */
	{
		const char *p[1] = {pid};

		r = PQexecParams(c->pg, "SELECT pg_terminate_backend($1::int)", 1, NULL, p, NULL,
		                 NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		PQclear(r);
	}
	pthread_join(t, NULL);
	r = PQexec(locker, "ROLLBACK");
	PQclear(r);
	PQfinish(locker);
	assert_int_equal(g.rc, SL_EDB);
	assert_non_null(strstr(g.err.msg, "nothing was committed"));
	/* neither the data nor the cursor moved */
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 0);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM provenance"), 0);
	assert_int_equal(sl_ledger_cursor_get(c->l, "misp-a", "events", pos, sizeof(pos), &err), 0);
	assert_string_equal(pos, "2024-01-01T00:00:00Z");
	/* the same call again succeeds, and then both moved */
	ingest_with_cursor(&g);
	assert_int_equal(g.rc, 0);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 2);
	assert_int_equal(sl_ledger_cursor_get(c->l, "misp-a", "events", pos, sizeof(pos), &err), 0);
	assert_string_equal(pos, "2024-06-01T00:00:00Z");
	assert_int_equal(sl_ledger_cursor_get(c->l, "misp-a", "nope", pos, sizeof(pos), &err),
	                 SL_ENOTFOUND);
}

static void audit_is_append_only(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	json_t *changes = json_pack("[{s:s, s:s}]", "path", "description", "action", "redact");
	struct sl_ledger_audit rows[2] = {
	    {"indicator--" U1, "2024-01-01T00:00:00Z", "partner", SL_LEDGER_ALLOW_WITH_CHANGES,
	     "policy.conf:12 gdpr", changes, "sent"},
	    {"indicator--" U2, "2024-01-01T00:00:00Z", "other", SL_LEDGER_DENY, "policy.conf:3 tlp",
	     NULL, NULL},
	};
	const char *bad[] = {"UPDATE audit SET decision = 'allow'", "DELETE FROM audit",
	                     "TRUNCATE audit"};
	json_t *list;
	size_t i;

	assert_int_equal(sl_ledger_audit_append(c->l, rows, 2, &err), 0);
	json_decref(changes);
	for (i = 0; i < 3; i++) {
		PGresult *r = PQexec(c->pg, bad[i]);

		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		assert_non_null(strstr(PQresultErrorMessage(r), "append-only"));
		PQclear(r);
	}
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM audit"), 2);
	list = sl_ledger_audit_list(c->l, "partner", NULL, 100, &err);
	assert_non_null(list);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "decision")),
	                    "allow-with-changes");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(json_array_get(list, 0), "changes"), 0), "action")),
	    "redact");
	json_decref(list);
	list = sl_ledger_audit_list(c->l, NULL, "2999-01-01T00:00:00Z", 100, &err);
	assert_non_null(list);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/* The one text value of sql with parameter p1 (NULL when the value is NULL), a new string. */
static char *q_text1(PGconn *pg, const char *sql, const char *p1)
{
	PGresult *r = PQexecParams(pg, sql, 1, NULL, &p1, NULL, NULL, 0);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void assert_q1(PGconn *pg, const char *sql, const char *p1, const char *want)
{
	char *got = q_text1(pg, sql, p1);

	if (!got || strcmp(got, want) != 0)
		fail_msg("%s [%s]\n got: %s\nwant: %s", sql, p1, got ? got : "NULL", want);
	free(got);
}

/* Each version is stored as delivered: its content, version key, created and revoked, and as
 * content_hash the SHA-256 of the canonical text (compact, keys sorted, as jansson writes it),
 * whatever the strings hold, however many keys, with or without real numbers. */
static void stored_as_delivered_with_its_canonical_hash(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	json_t *objs[3], *nested;
	char *canon[3], hexd[65], key[16];
	unsigned char md[SHA256_DIGEST_LENGTH];
	enum sl_ledger_outcome o[3];
	size_t i, k;

	objs[0] =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:I}", "type", "note", "spec_version",
	              "2.1", "id", "note--" U1, "created", "1999-12-31T23:59:59.999999Z",
	              "modified", "2024-02-29T12:34:56.1234567Z", "revoked", 1, "content",
	              "tab\there \"q\" back\\slash \x01\x1f del\x7f /s \xc3\xa9 "
	              "\xe2\x82\xac \xf0\x9f\x98\x80",
	              "x_n", (json_int_t)-9007199254740993LL);
	nested =
	    json_pack("{s:[i, i, {s:b, s:n}], s:s, s:{}}", "b", 1, -2, "z", 1, "a", "a", "A", "c");
	json_object_set_new(objs[0], "x_nested", nested);
	for (k = 0; k < 40; k++) { /* more keys than sorted on the stack, in reverse order */
		snprintf(key, sizeof(key), "x_k%02zu", 39 - k);
		json_object_set_new(objs[0], key, json_integer((json_int_t)k));
	}
	objs[1] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f}", "type", "opinion", "spec_version",
	                    "2.1", "id", "opinion--" U2, "created", "2024-01-01T00:00:00Z",
	                    "modified", "2024-01-01T00:00:00.5Z", "x_real", 0.1);
	objs[2] = sco("ipv4-addr", U3, "192.0.2.7");
	for (i = 0; i < 3; i++) {
		canon[i] = json_dumps(objs[i], JSON_COMPACT | JSON_SORT_KEYS);
		json_incref(objs[i]);
	}
	assert_int_equal(ingest(c->l, "misp-a", objs, 3, NULL, o, NULL, &err), 0);
	for (i = 0; i < 3; i++) {
		char id[80];

		assert_int_equal(o[i], SL_LEDGER_NEW);
		snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(objs[i], "id")));
		SHA256((const unsigned char *)canon[i], strlen(canon[i]), md);
		for (k = 0; k < sizeof(md); k++)
			snprintf(hexd + 2 * k, 3, "%02x", md[k]);
		assert_q1(c->pg, "SELECT encode(content_hash, 'hex') FROM objects WHERE id = $1",
		          id, hexd);
		{ /* the stored content is the object as delivered */
			const char *p[2] = {id, canon[i]};
			PGresult *r = PQexecParams(
			    c->pg, "SELECT content = $2::jsonb FROM objects WHERE id = $1", 2, NULL,
			    p, NULL, NULL, 0);

			assert_int_equal(PQntuples(r), 1);
			assert_string_equal(PQgetvalue(r, 0, 0), "t");
			PQclear(r);
		}
		json_decref(objs[i]);
	}
	/* the version key, created and revoked of the note */
	{
		const char *p[2] = {"note--" U1, canon[0]};
		PGresult *r =
		    PQexecParams(c->pg,
		                 "SELECT content = $2::jsonb, revoked, "
		                 "to_char(modified AT TIME ZONE 'UTC', "
		                 "'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
		                 "to_char(created AT TIME ZONE 'UTC', "
		                 "'YYYY-MM-DD\"T\"HH24:MI:SS.US') FROM objects WHERE id = $1",
		                 2, NULL, p, NULL, NULL, 0);

		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(r), 1);
		assert_string_equal(PQgetvalue(r, 0, 0), "t");
		assert_string_equal(PQgetvalue(r, 0, 1), "t");
		/* digits past the microsecond are dropped from the key */
		assert_string_equal(PQgetvalue(r, 0, 2), "2024-02-29T12:34:56.123456");
		assert_string_equal(PQgetvalue(r, 0, 3), "1999-12-31T23:59:59.999999");
		PQclear(r);
	}
	assert_q1(
	    c->pg,
	    "SELECT to_char(modified AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || ' ' || "
	    "revoked || ' ' || (created IS NULL) FROM objects WHERE id = $1",
	    "ipv4-addr--" U3, "1970-01-01 00:00:00.000000 false true");
	assert_q1(c->pg,
	          "SELECT to_char(modified AT TIME ZONE 'UTC', 'SS.US') FROM objects WHERE id = $1",
	          "opinion--" U2, "00.500000");
	for (i = 0; i < 3; i++)
		free(canon[i]);
}

/* Provenance counts each (version, peer, origin) once, also when a batch repeats a version: the
 * first delivery (on the version's row) and its repeats are one row, other origins their own. */
static void repeats_within_a_batch_count_on_the_right_row(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_in in[3];
	struct sl_ledger_result res[3];
	json_t *x = sco("domain-name", U1, "repeat.example.com");
	const char *o1[] = {"e1", "e1", "e2"}, *o2[] = {"e1", "e2", "e3"};
	size_t i;

	for (i = 0; i < 3; i++) {
		in[i].obj = x;
		in[i].origin_id = o1[i];
	}
	assert_int_equal(sl_ledger_ingest(c->l, "misp-a", in, 3, NULL, res, &err), 0);
	assert_int_equal(res[0].outcome, SL_LEDGER_NEW);
	assert_int_equal(res[1].outcome, SL_LEDGER_SAME);
	assert_int_equal(res[2].outcome, SL_LEDGER_SAME);
	assert_q1(c->pg,
	          "SELECT string_agg(peer || ' ' || origin_id || ' ' || deliveries, ', ' ORDER BY "
	          "peer, origin_id) FROM provenance WHERE id = $1",
	          "domain-name--" U1, "misp-a e1 2, misp-a e2 1");
	for (i = 0; i < 3; i++)
		in[i].origin_id = o2[i];
	assert_int_equal(sl_ledger_ingest(c->l, "misp-a", in, 3, NULL, res, &err), 0);
	in[0].origin_id = "e1";
	assert_int_equal(sl_ledger_ingest(c->l, "opencti", in, 1, NULL, res, &err), 0);
	assert_int_equal(res[0].outcome, SL_LEDGER_SAME);
	assert_q1(c->pg,
	          "SELECT string_agg(peer || ' ' || origin_id || ' ' || deliveries, ', ' ORDER BY "
	          "peer, origin_id) FROM provenance WHERE id = $1",
	          "domain-name--" U1, "misp-a e1 3, misp-a e2 2, misp-a e3 1, opencti e1 1");
	/* a stored version twice in one batch from a new source: one row, counted twice */
	in[0].origin_id = in[1].origin_id = "e9";
	assert_int_equal(sl_ledger_ingest(c->l, "taxii", in, 2, NULL, res, &err), 0);
	assert_q1(c->pg,
	          "SELECT string_agg(peer || ' ' || origin_id || ' ' || deliveries, ', ' ORDER BY "
	          "peer, origin_id) FROM provenance WHERE id = $1 AND peer = 'taxii'",
	          "domain-name--" U1, "taxii e9 2");
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 1);
	json_decref(x);
}

/* An object refused only once serialised (a NUL in a string) does not count as a version: the
 * valid version of the same id is the newest, and a valid copy of the refused version is new. */
static void refused_while_serialising_is_no_version(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_in in[4];
	struct sl_ledger_result res[4];
	json_t *objs[4], *got;
	size_t i;

	objs[0] = indicator(U1, "2024-01-01T00:00:00Z", "[domain-name:value = 'a.example.com']");
	objs[1] = indicator(U1, "2024-02-01T00:00:00Z", "[domain-name:value = 'b.example.com']");
	json_object_set_new(objs[1], "description", json_stringn("nul\0in", 6));
	objs[2] = indicator(U2, "2024-01-01T00:00:00Z", "[domain-name:value = 'c.example.com']");
	json_object_set_new(objs[2], "description", json_stringn("nul\0in", 6));
	objs[3] = indicator(U2, "2024-01-01T00:00:00Z", "[domain-name:value = 'c.example.com']");
	for (i = 0; i < 4; i++) {
		in[i].obj = objs[i];
		in[i].origin_id = NULL;
	}
	assert_int_equal(sl_ledger_ingest(c->l, "feed-x", in, 4, NULL, res, &err), 0);
	assert_int_equal(res[0].outcome, SL_LEDGER_NEW);
	assert_int_equal(res[1].outcome, SL_LEDGER_REJECTED);
	assert_non_null(strstr(res[1].msg, "NUL"));
	assert_int_equal(res[2].outcome, SL_LEDGER_REJECTED);
	assert_int_equal(res[3].outcome, SL_LEDGER_NEW);
	got = sl_ledger_get(c->l, "indicator--" U1, NULL, &err);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "modified")),
	                    "2024-01-01T00:00:00Z");
	json_decref(got);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 2);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM quarantine"), 2);
	assert_int_equal(
	    q_int(c->pg, "SELECT count(*) FROM observables WHERE value = 'c.example.com'"), 1);
	for (i = 0; i < 4; i++)
		json_decref(objs[i]);
}

/* The same refusals at the end of a batch large enough that the outcomes arrive while objects are
 * still serialised, so new versions are already going out when the refusals show: the batch must
 * still come out as if they had never been sent. */
static void refused_while_serialising_late_in_a_large_batch(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	enum { N = 20000 };
	struct sl_ledger_in *in = calloc(N, sizeof(*in));
	struct sl_ledger_result *res = calloc(N, sizeof(*res));
	json_t *got;
	size_t i, k;

	assert_non_null(in);
	assert_non_null(res);
	for (i = 0; i < N - 4; i++) {
		char u[40], id[64];
		json_t *o;

		snprintf(u, sizeof(u), "%08zx-2222-4222-8222-222222222222", i);
		snprintf(id, sizeof(id), "domain-name--%s", u);
		o = json_pack("{s:s, s:s, s:s, s:s}", "type", "domain-name", "spec_version", "2.1",
		              "id", id, "value", "filler.example.com");
		for (k = 0; k < 30; k++) { /* slow to serialise, as real objects are */
			char key[16];

			snprintf(key, sizeof(key), "x_k%02zu", 29 - k);
			json_object_set_new(o, key, json_integer((json_int_t)k));
		}
		in[i].obj = o;
	}
	in[N - 4].obj =
	    indicator(U1, "2024-01-01T00:00:00Z", "[domain-name:value = 'a.example.com']");
	in[N - 3].obj =
	    indicator(U1, "2024-02-01T00:00:00Z", "[domain-name:value = 'b.example.com']");
	json_object_set_new((json_t *)in[N - 3].obj, "description", json_stringn("nul\0in", 6));
	in[N - 2].obj =
	    indicator(U2, "2024-01-01T00:00:00Z", "[domain-name:value = 'c.example.com']");
	json_object_set_new((json_t *)in[N - 2].obj, "description", json_stringn("nul\0in", 6));
	in[N - 1].obj =
	    indicator(U2, "2024-01-01T00:00:00Z", "[domain-name:value = 'c.example.com']");
	assert_int_equal(sl_ledger_ingest(c->l, "feed-x", in, N, NULL, res, &err), 0);
	for (i = 0; i < N - 4; i++)
		assert_int_equal(res[i].outcome, SL_LEDGER_NEW);
	assert_int_equal(res[N - 4].outcome, SL_LEDGER_NEW);
	assert_int_equal(res[N - 3].outcome, SL_LEDGER_REJECTED);
	assert_non_null(strstr(res[N - 3].msg, "NUL"));
	assert_int_equal(res[N - 2].outcome, SL_LEDGER_REJECTED);
	assert_int_equal(res[N - 1].outcome, SL_LEDGER_NEW);
	got = sl_ledger_get(c->l, "indicator--" U1, NULL, &err);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "modified")),
	                    "2024-01-01T00:00:00Z");
	json_decref(got);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), N - 2);
	assert_int_equal(q_int(c->pg, "SELECT count(DISTINCT (id, modified)) FROM objects"), N - 2);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM quarantine"), 2);
	assert_int_equal(
	    q_int(c->pg, "SELECT count(*) FROM observables WHERE value = 'c.example.com'"), 1);
	assert_int_equal(
	    q_int(c->pg, "SELECT count(*) FROM observables WHERE value = 'filler.example.com'"),
	    N - 4);
	for (i = 0; i < N; i++)
		json_decref((json_t *)in[i].obj);
	free(in);
	free(res);
}

static void bad_input_is_quarantined_and_the_rest_stored(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_result res[9];
	json_t *objs[9];
	char *big = malloc(SL_LEDGER_MAX_OBJECT_BYTES + 10);
	size_t i;

	memset(big, 'a', SL_LEDGER_MAX_OBJECT_BYTES + 9);
	big[SL_LEDGER_MAX_OBJECT_BYTES + 9] = '\0';
	objs[0] = sco("ipv4-addr", U1, "10.0.0.1");
	objs[1] = json_pack("{s:s, s:s}", "type", "indicator", "modified", "2024-01-01T00:00:00Z");
	objs[2] = json_pack("{s:s, s:s, s:s}", "type", "indicator", "id", "malware--" U2,
	                    "modified", "2024-01-01T00:00:00Z");
	objs[3] = json_pack("{s:s, s:s, s:s}", "type", "indicator", "id", "indicator--not-a-uuid",
	                    "modified", "2024-01-01T00:00:00Z");
	objs[4] = json_pack("{s:s, s:s, s:s, s:s}", "type", "indicator", "id", "indicator--" U3,
	                    "created", "2024-02-01T00:00:00Z", "modified", "2024-01-01T00:00:00Z");
	objs[5] = json_pack("{s:s, s:s, s:s}", "type", "indicator", "id", "indicator--" U4,
	                    "description", "no modified");
	objs[6] = json_pack("{s:s, s:s, s:s, s:s}", "type", "note", "id", "note--" U5, "modified",
	                    "2024-01-01T00:00:00Z", "content", big);
	objs[7] = json_pack("{s:s, s:s, s:s, s:s%}", "type", "note", "id", "note--" U6, "modified",
	                    "2024-01-01T00:00:00Z", "content", "nul\0inside", (size_t)10);
	objs[8] = sco("domain-name", U2, "fine.example.com");
	free(big);
	assert_int_equal(ingest(c->l, "feed-x", objs, 9, NULL, NULL, res, &err), 0);
	assert_int_equal(res[0].outcome, SL_LEDGER_NEW);
	assert_int_equal(res[8].outcome, SL_LEDGER_NEW);
	for (i = 1; i < 8; i++)
		assert_int_equal(res[i].outcome, SL_LEDGER_REJECTED);
	assert_non_null(strstr(res[1].msg, "missing 'id'"));
	assert_non_null(strstr(res[2].msg, "does not start with its type 'indicator--'"));
	assert_non_null(strstr(res[3].msg, "does not end in a UUID"));
	assert_non_null(strstr(res[4].msg, "earlier than 'created'"));
	assert_non_null(strstr(res[5].msg, "missing 'modified'"));
	assert_non_null(strstr(res[6].msg, "over the limit"));
	assert_non_null(strstr(res[7].msg, "NUL"));
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 2);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM quarantine WHERE peer = 'feed-x'"), 7);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM quarantine WHERE raw LIKE "
	                              "'%indicator--not-a-uuid%' AND reason LIKE '%UUID%'"),
	                 1);
	/* the raw text kept is bounded; the original size is recorded */
	assert_int_equal(q_int(c->pg, "SELECT max(length(raw)) FROM quarantine"),
	                 SL_LEDGER_QUARANTINE_RAW_MAX);
	assert_true(q_int(c->pg, "SELECT max(raw_bytes) FROM quarantine") >
	            (long long)SL_LEDGER_MAX_OBJECT_BYTES);
	assert_int_equal(
	    sl_ledger_quarantine(c->l, "feed-x", "{not json", 9, "not JSON: line 1", &err), 0);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM quarantine"), 8);
}

static void erasure_tombstones_revokes_and_audits_a_hash(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct sl_ledger_erase_result er;
	struct sl_ledger_ref ref = {"email-addr--" U1, NULL};
	struct sl_ledger_work w[4];
	const unsigned char key[] = "test-erasure-key";
	unsigned char mac[32];
	unsigned maclen = 0;
	char machex[65], q[256];
	json_t *objs[4], *got;
	size_t n, i;

	objs[0] = sco("email-addr", U1, "Alice@Example.org");
	objs[1] = indicator(U2, "2024-01-01T00:00:00Z", "[email-addr:value = 'alice@example.org']");
	objs[2] = report(U3, "2024-01-01T00:00:00Z", json_pack("[s]", "email-addr--" U1));
	json_object_set_new(objs[2], "description", json_string("phish sent by ALICE@example.org"));
	objs[3] = sco("domain-name", U4, "unrelated.example.com");
	assert_int_equal(ingest(c->l, "misp-a", objs, 4, NULL, NULL, NULL, &err), 0);
	assert_int_equal(sl_ledger_quarantine(c->l, "misp-a", "{\"v\":\"alice@example.org\"", 24,
	                                      "truncated", &err),
	                 0);
	/* the SCO was delivered to one partner */
	assert_int_equal(
	    sl_ledger_outbox_enqueue(c->l, "partner", &ref, 1, SL_LEDGER_DELIVER, &err), 0);
	assert_int_equal(sl_ledger_outbox_claim(c->l, "partner", 4, 60, w, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sl_ledger_outbox_sent(c->l, w[0].outbox_id, &err), 0);

	assert_int_equal(
	    sl_ledger_erase(c->l, "alice@EXAMPLE.org", key, sizeof(key) - 1, &er, &err), 0);
	assert_int_equal(er.versions, 3);
	assert_int_equal(er.revokes, 1);
	/* no stored content, index row or quarantined input holds the value any more */
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects WHERE "
	                              "lower(content::text) LIKE '%alice@example.org%'"),
	                 0);
	assert_int_equal(
	    q_int(c->pg, "SELECT count(*) FROM observables WHERE value LIKE '%alice%'"), 0);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM quarantine WHERE raw LIKE '%alice%'"),
	                 0);
	got = sl_ledger_get(c->l, "email-addr--" U1, NULL, &err);
	assert_non_null(got);
	assert_true(json_is_true(json_object_get(got, "x_sluice_erased")));
	assert_null(json_object_get(got, "value"));
	assert_string_equal(json_string_value(json_object_get(got, "id")), "email-addr--" U1);
	json_decref(got);
	got = sl_ledger_get(c->l, "report--" U3, NULL, &err);
	assert_string_equal(json_string_value(json_object_get(got, "modified")),
	                    "2024-01-01T00:00:00Z");
	json_decref(got);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects WHERE NOT erased"), 1);
	/* a revoke is owed to the partner that received it */
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM outbox WHERE action = 'revoke' AND "
	                              "destination = 'partner' AND state = 'pending' AND "
	                              "id = 'email-addr--" U1 "'"),
	                 1);
	/* audit rows carry the keyed hash of what the caller gave, never the value */
	HMAC(EVP_sha256(), key, (int)sizeof(key) - 1, (const unsigned char *)"alice@EXAMPLE.org",
	     17, mac, &maclen);
	for (i = 0; i < maclen; i++)
		sprintf(machex + 2 * i, "%02x", mac[i]);
	snprintf(q, sizeof(q),
	         "SELECT count(*) FROM audit WHERE decision = 'erase' AND subject_hash = '%s'",
	         machex);
	assert_int_equal(q_int(c->pg, q), 4);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM audit WHERE lower(audit::text) LIKE "
	                              "'%alice%'"),
	                 0);
	assert_null(sl_ledger_sources(c->l, NULL, "alice@example.org", &err));
	assert_int_equal(sl_ledger_erase(c->l, "alice@example.org", NULL, 0, &er, &err), SL_EINVAL);
}

struct page_acc {
	char ids[64][80];
	int64_t last_added, last_seq;
	size_t n;
	bool ordered;
};

static int page_emit(void *arg, const struct sl_ledger_version *v)
{
	struct page_acc *a = arg;

	if (v->date_added_us < a->last_added ||
	    (v->date_added_us == a->last_added && v->seq <= a->last_seq))
		a->ordered = false;
	a->last_added = v->date_added_us;
	a->last_seq = v->seq;
	if (a->n < 64)
		snprintf(a->ids[a->n++], sizeof(a->ids[0]), "%s@%s", v->id, v->modified);
	return 0;
}

static void pages_by_date_added(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	struct page_acc acc = {.ordered = true};
	struct sl_ledger_page_query q = {0};
	const char *types[] = {"indicator"};
	json_t *objs[3];
	bool more = true;
	size_t i, j, pages = 0;

	objs[0] = sco("ipv4-addr", U1, "10.0.0.1");
	objs[1] = indicator(U2, "2024-01-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.1']");
	assert_int_equal(ingest(c->l, "a", objs, 2, NULL, NULL, NULL, &err), 0);
	objs[0] = indicator(U2, "2024-02-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.2']");
	objs[1] = sco("domain-name", U3, "x.example.com");
	objs[2] = indicator(U4, "2024-01-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.4']");
	assert_int_equal(ingest(c->l, "a", objs, 3, NULL, NULL, NULL, &err), 0);
	while (more) {
		assert_int_equal(sl_ledger_page(c->l, &q, 2, page_emit, &acc, &more, &err), 0);
		q.after_date_added_us = acc.last_added;
		q.after_seq = acc.last_seq;
		pages++;
	}
	assert_int_equal(acc.n, 5);
	assert_int_equal(pages, 3);
	assert_true(acc.ordered);
	for (i = 0; i < acc.n; i++)
		for (j = i + 1; j < acc.n; j++)
			assert_string_not_equal(acc.ids[i], acc.ids[j]);
	/* newest indicators only */
	memset(&acc, 0, sizeof(acc));
	acc.ordered = true;
	memset(&q, 0, sizeof(q));
	q.types = types;
	q.n_types = 1;
	q.latest_only = true;
	assert_int_equal(sl_ledger_page(c->l, &q, 100, page_emit, &acc, &more, &err), 0);
	assert_int_equal(acc.n, 2);
	assert_false(more);
	assert_string_equal(acc.ids[0], "indicator--" U2 "@2024-02-01T00:00:00.000000Z");
}

static void idmap_and_shared_decisions(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	char out[SL_LEDGER_ID_MAX];
	json_t *objs[1], *redacted, *payload;
	struct sl_ledger_share rows[2];
	struct sl_ledger_work w[4];
	json_t *pays[4] = {0};
	size_t n_new = 0, n;

	assert_int_equal(
	    sl_ledger_idmap_put(c->l, "opencti", "octi-internal-1", "indicator--" U1, &err), 0);
	assert_int_equal(
	    sl_ledger_idmap_to_stix(c->l, "opencti", "octi-internal-1", out, sizeof(out), &err), 0);
	assert_string_equal(out, "indicator--" U1);
	assert_int_equal(
	    sl_ledger_idmap_to_foreign(c->l, "opencti", "indicator--" U1, out, sizeof(out), &err),
	    0);
	assert_string_equal(out, "octi-internal-1");
	assert_int_equal(
	    sl_ledger_idmap_to_stix(c->l, "misp", "octi-internal-1", out, sizeof(out), &err),
	    SL_ENOTFOUND);

	objs[0] = indicator(U1, "2024-01-01T00:00:00Z", "[ipv4-addr:value = '10.0.0.1']");
	assert_int_equal(ingest(c->l, "misp-a", objs, 1, NULL, NULL, NULL, &err), 0);
	redacted = json_pack("{s:s, s:s}", "id", "indicator--" U1, "description", "[redacted]");
	memset(rows, 0, sizeof(rows));
	rows[0] = (struct sl_ledger_share){"partner",
	                                   "indicator--" U1,
	                                   "2024-01-01T00:00:00Z",
	                                   SL_LEDGER_ALLOW_WITH_CHANGES,
	                                   "rule 1",
	                                   NULL,
	                                   redacted,
	                                   1,
	                                   false,
	                                   NULL};
	rows[1] = (struct sl_ledger_share){"closed",
	                                   "indicator--" U1,
	                                   "2024-01-01T00:00:00Z",
	                                   SL_LEDGER_DENY,
	                                   "tlp:red",
	                                   NULL,
	                                   NULL,
	                                   1,
	                                   false,
	                                   NULL};
	assert_int_equal(sl_ledger_share_record(c->l, rows, 2, &n_new, &err), 0);
	assert_int_equal(n_new, 2);
	assert_true(rows[0].recorded && rows[1].recorded);
	assert_int_equal(sl_ledger_share_record(c->l, rows, 2, &n_new, &err), 0);
	assert_int_equal(n_new, 0); /* decided once */
	assert_false(rows[0].recorded);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM outbox WHERE state = 'blocked' AND "
	                              "destination = 'closed'"),
	                 1);
	assert_int_equal(sl_ledger_outbox_claim_payloads(c->l, NULL, 4, 60, w, pays, &n, &err), 0);
	assert_int_equal(n, 1);
	payload = pays[0];
	assert_non_null(payload);
	assert_string_equal(json_string_value(json_object_get(payload, "description")),
	                    "[redacted]");
	json_decref(payload);
	json_decref(redacted);
}

struct racer {
	const char *dsn, *peer;
	int rc;
	size_t new_or_newer;
};

/* A sharing group's definition is kept per uuid (any case), a newer one (MISP's "modified")
 * replaces an older one, an older one never replaces a newer one, and the lookup answers with the
 * uuids as asked. */
static void sharing_groups_newer_definition_wins(void **state)
{
	struct ctx *c = *state;
	struct sl_err err = {0};
	const char *ask[3] = {"AAAAAAAA-0000-4000-8000-000000000001",
	                      "aaaaaaaa-0000-4000-8000-000000000001",
	                      "bbbbbbbb-0000-4000-8000-000000000002"};
	json_t *v1 = json_pack("{s:{s:s, s:s, s:[{s:s}]}}", "aaaaaaaa-0000-4000-8000-000000000001",
	                       "uuid", "aaaaaaaa-0000-4000-8000-000000000001", "modified",
	                       "2026-01-01 10:00:00", "SharingGroupOrg", "org_uuid", "org-1");
	json_t *v2 = json_pack("{s:{s:s, s:s, s:[{s:s}]}}", "AAAAAAAA-0000-4000-8000-000000000001",
	                       "uuid", "aaaaaaaa-0000-4000-8000-000000000001", "modified",
	                       "2026-02-01 10:00:00", "SharingGroupOrg", "org_uuid", "org-2");
	json_t *got;

	assert_int_equal(sl_ledger_sharing_groups_put(c->l, "misp-a", v1, &err), 0);
	assert_int_equal(sl_ledger_sharing_groups_put(c->l, "misp-b", v2, &err), 0);
	/* v1 again (older): v2 stays */
	assert_int_equal(sl_ledger_sharing_groups_put(c->l, "misp-a", v1, &err), 0);
	got = sl_ledger_sharing_groups_get(c->l, ask, 3, &err);
	assert_non_null(got);
	assert_int_equal(json_object_size(got), 2);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(json_object_get(got, ask[0]), "SharingGroupOrg"), 0),
	        "org_uuid")),
	    "org-2");
	assert_non_null(json_object_get(got, ask[1]));
	assert_null(json_object_get(got, ask[2]));
	json_decref(got);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM sharing_groups WHERE peer = 'misp-b'"),
	                 1);
	/* nothing asked, nothing to put */
	got = sl_ledger_sharing_groups_get(c->l, NULL, 0, &err);
	assert_int_equal(json_object_size(got), 0);
	json_decref(got);
	assert_int_equal(sl_ledger_sharing_groups_put(c->l, "misp-a", NULL, &err), 0);
	/* by the objects that name them: an array or an object of objects, one more object, and
	 * the groups of skip left out */
	{
		json_t *objs =
		    json_pack("[{s:s}, {s:s}, {s:s}]", "x_misp_sharing_group_uuid", ask[0],
		              "x_misp_sharing_group_uuid", ask[0], "type", "indicator");
		json_t *byid =
		    json_pack("{s:{s:s}}", "indicator--1", "x_misp_sharing_group_uuid", ask[1]);
		json_t *also = json_pack("{s:s}", "x_misp_sharing_group_uuid", ask[2]);
		json_t *skip = json_pack("{s:b}", ask[1], 1);
		got = sl_ledger_sharing_groups_named(c->l, objs, also, NULL, &err);
		assert_non_null(got);
		assert_int_equal(json_object_size(got), 1); /* ask[2] is not held */
		assert_non_null(json_object_get(got, ask[0]));
		json_decref(got);
		got = sl_ledger_sharing_groups_named(c->l, byid, NULL, NULL, &err);
		assert_non_null(json_object_get(got, ask[1]));
		json_decref(got);
		got = sl_ledger_sharing_groups_named(c->l, byid, NULL, skip, &err);
		assert_int_equal(json_object_size(got), 0);
		json_decref(got);
		got = sl_ledger_sharing_groups_named(c->l, NULL, NULL, NULL, &err);
		assert_int_equal(json_object_size(got), 0);
		json_decref(got);
		json_decref(objs);
		json_decref(byid);
		json_decref(also);
		json_decref(skip);
	}
	json_decref(v1);
	json_decref(v2);
}

static void *ingest_same_objects(void *arg)
{
	struct racer *rc = arg;
	struct sl_err err = {0};
	struct sl_ledger *l = sl_ledger_open(rc->dsn, &err);
	static __thread struct sl_ledger_in in[500];
	static __thread struct sl_ledger_result res[500];
	char id[80];
	size_t i, round;

	if (!l) {
		rc->rc = -100;
		return NULL;
	}
	for (round = 0; round < 4 && rc->rc == 0; round++) {
		for (i = 0; i < 500; i++) {
			snprintf(id, sizeof(id), "domain-name--%08zx-1111-4111-8111-%012zx", i,
			         round);
			in[i].obj = json_pack("{s:s, s:s, s:s}", "type", "domain-name", "id", id,
			                      "value", "race.example.com");
			in[i].origin_id = NULL;
		}
		rc->rc = sl_ledger_ingest(l, rc->peer, in, 500, NULL, res, &err);
		for (i = 0; i < 500; i++) {
			if (res[i].outcome == SL_LEDGER_NEW || res[i].outcome == SL_LEDGER_NEWER)
				rc->new_or_newer++;
			json_decref((json_t *)in[i].obj);
		}
	}
	sl_ledger_close(l);
	return NULL;
}

static void concurrent_ingests_of_the_same_objects(void **state)
{
	struct ctx *c = *state;
	static struct racer a, b;
	pthread_t ta, tb;

	a.dsn = b.dsn = c->dsn;
	a.peer = "gateway-1";
	b.peer = "gateway-2";
	assert_int_equal(pthread_create(&ta, NULL, ingest_same_objects, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, ingest_same_objects, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	/* each version stored once and called new once; both deliveries recorded */
	assert_int_equal(a.new_or_newer + b.new_or_newer, 2000);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM objects"), 2000);
	assert_int_equal(q_int(c->pg, "SELECT count(*) FROM provenance"), 4000);
	assert_int_equal(q_int(c->pg, "SELECT count(DISTINCT seq) FROM objects"), 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(migrate_is_idempotent_and_refuses_newer, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(newer_version_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(same_version_is_noop_but_provenance_counts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(observables_dedup_across_sources_and_spellings, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(correlation, setup, teardown),
	    cmocka_unit_test_setup_teardown(outbox_claims_are_disjoint_and_complete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(outbox_depth_per_destination, setup, teardown),
	    cmocka_unit_test_setup_teardown(cursor_and_data_commit_together, setup, teardown),
	    cmocka_unit_test_setup_teardown(audit_is_append_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_input_is_quarantined_and_the_rest_stored, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(stored_as_delivered_with_its_canonical_hash, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(repeats_within_a_batch_count_on_the_right_row, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(refused_while_serialising_late_in_a_large_batch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(refused_while_serialising_is_no_version, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(erasure_tombstones_revokes_and_audits_a_hash, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(pages_by_date_added, setup, teardown),
	    cmocka_unit_test_setup_teardown(idmap_and_shared_decisions, setup, teardown),
	    cmocka_unit_test_setup_teardown(sharing_groups_newer_definition_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_ingests_of_the_same_objects, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
