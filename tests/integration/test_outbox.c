/* test_outbox.c — the ledger's bulk outbox calls that a push of a whole batch uses, on the real
 * test PostgreSQL: a claim that brings what to send (the stored version of an allowed row, the
 * changed payload of an allowed-with-changes one, nothing for a revocation), settling many rows in
 * one statement, the newest versions and containers of many ids in one round trip, recording
 * more decisions than one statement takes (slices of one transaction), and settling the versions
 * that went out inside another row's delivery. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "ledger.h"
#include "sltest.h"

#define IND1 "indicator--0a1c0f6e-3c43-4f83-9c33-2f3b6e0b0001"
#define IND2 "indicator--0a1c0f6e-3c43-4f83-9c33-2f3b6e0b0002"
#define IND3 "indicator--0a1c0f6e-3c43-4f83-9c33-2f3b6e0b0003"
#define REPORT "report--0a1c0f6e-3c43-4f83-9c33-2f3b6e0b00aa"
#define T1 "2026-11-20T10:00:00.000Z"
#define T2 "2026-11-21T10:00:00.000Z"

struct ctx {
	char *dsn;
	struct sl_ledger *l;
	PGconn *pg; /* a plain connection to look behind the API */
};

static int setup(void **state)
{
	static int n;
	char name[64];
	struct ctx *c = calloc(1, sizeof(*c));
	struct sl_err err = {0};

	snprintf(name, sizeof(name), "sl_outbox_%d", n++);
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

static char *q_text(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return v;
}

static json_t *indicator(const char *id, const char *modified, const char *value)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "indicator", "spec_version",
	                 "2.1", "id", id, "created", T1, "modified", modified, "pattern", value,
	                 "pattern_type", "stix", "valid_from", T1);
}

/* Store objs from peer "misp-a". */
static void ingest(struct ctx *c, json_t **objs, size_t n)
{
	struct sl_ledger_in in[8];
	struct sl_ledger_result res[8];
	struct sl_err err = {0};

	for (size_t i = 0; i < n; i++)
		in[i] = (struct sl_ledger_in){objs[i], "event-1"};
	assert_int_equal(sl_ledger_ingest(c->l, "misp-a", in, n, NULL, res, &err), 0);
}

/* Three versions decided for "partner": IND1 allowed (goes as stored), IND2 allowed with changes
 * (its own payload), IND3 denied (blocked, never claimed); then IND1's revocation queued. */
static void fill(struct ctx *c, json_t **objs)
{
	struct sl_err err = {0};
	json_t *changed = indicator(IND2, T1, "[domain-name:value = 'REDACTED']");
	struct sl_ledger_share rows[3] = {
	    {"partner", IND1, T1, SL_LEDGER_ALLOW, "r1", NULL, objs[0], 1, false, NULL},
	    {"partner", IND2, T1, SL_LEDGER_ALLOW_WITH_CHANGES, "r2", NULL, changed, 1, false, NULL},
	    {"partner", IND3, T1, SL_LEDGER_DENY, "r3", NULL, NULL, 1, false, NULL},
	};
	struct sl_ledger_ref rev = {IND1, T1};
	size_t fresh = 0;

	assert_int_equal(sl_ledger_share_record(c->l, rows, 3, &fresh, &err), 0);
	assert_int_equal(fresh, 3);
	assert_int_equal(sl_ledger_outbox_enqueue(c->l, "partner", &rev, 1, SL_LEDGER_REVOKE, &err),
	                 0);
	json_decref(changed);
}

static void test_claim_brings_what_to_send(void **state)
{
	struct ctx *c = *state;
	json_t *objs[3] = {indicator(IND1, T1, "[domain-name:value = 'a.example']"),
	                   indicator(IND2, T1, "[domain-name:value = 'b.example']"),
	                   indicator(IND3, T1, "[domain-name:value = 'c.example']")};
	struct sl_ledger_work w[8];
	json_t *pay[8] = {0};
	struct sl_err err = {0};
	size_t n = 0, i, seen = 0;
	char *stored_payload;

	ingest(c, objs, 3);
	fill(c, objs);
	/* an allowed version keeps no copy of itself: it goes as stored */
	stored_payload = q_text(c->pg, "SELECT count(*) FROM outbox WHERE id = '" IND1
	                               "' AND action = 'deliver' AND payload IS NULL");
	assert_string_equal(stored_payload, "1");
	free(stored_payload);

	assert_int_equal(sl_ledger_outbox_claim_payloads(c->l, "partner", 8, 60, w, pay, &n, &err),
	                 0);
	assert_int_equal(n, 3); /* IND1 deliver, IND2 deliver, IND1 revoke; IND3 is blocked */
	for (i = 0; i < n; i++) {
		if (w[i].action == SL_LEDGER_REVOKE) {
			assert_string_equal(w[i].id, IND1);
			assert_null(pay[i]);
			seen |= 1;
		} else if (strcmp(w[i].id, IND1) == 0) {
			assert_non_null(pay[i]);
			assert_true(json_equal(pay[i], objs[0]));
			seen |= 2;
		} else {
			assert_string_equal(w[i].id, IND2);
			assert_non_null(pay[i]);
			assert_string_equal(json_string_value(json_object_get(pay[i], "pattern")),
			                    "[domain-name:value = 'REDACTED']");
			seen |= 4;
		}
		json_decref(pay[i]);
	}
	assert_int_equal(seen, 7);
	/* leased: a second claim gets nothing */
	assert_int_equal(sl_ledger_outbox_claim_payloads(c->l, "partner", 8, 60, w, pay, &n, &err),
	                 0);
	assert_int_equal(n, 0);
	for (i = 0; i < 3; i++)
		json_decref(objs[i]);
}

static void test_settle_many(void **state)
{
	struct ctx *c = *state;
	json_t *objs[3] = {indicator(IND1, T1, "[domain-name:value = 'a.example']"),
	                   indicator(IND2, T1, "[domain-name:value = 'b.example']"),
	                   indicator(IND3, T1, "[domain-name:value = 'c.example']")};
	struct sl_ledger_work w[8];
	struct sl_ledger_settle s[4];
	json_t *pay[8] = {0};
	struct sl_err err = {0};
	size_t n = 0, i;
	char *states;

	ingest(c, objs, 3);
	fill(c, objs);
	assert_int_equal(sl_ledger_outbox_claim_payloads(c->l, "partner", 8, 60, w, pay, &n, &err),
	                 0);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		json_decref(pay[i]);
		s[i] = (struct sl_ledger_settle){w[i].outbox_id, SL_LEDGER_SETTLE_SENT, NULL, 0};
	}
	s[1].state = SL_LEDGER_SETTLE_FAILED;
	s[1].msg = "http 503";
	s[1].retry_after_s = 0;
	s[2].state = SL_LEDGER_SETTLE_PARKED;
	s[2].msg = "refused: bad pattern";
	assert_int_equal(sl_ledger_outbox_settle_many(c->l, s, 3, &err), 0);
	states = q_text(c->pg, "SELECT string_agg(state || ':' || coalesce(last_error, '-'), ',' "
	                       "ORDER BY outbox_id) FROM outbox WHERE state <> 'blocked'");
	{
		char want[256];
		const char *names[3] = {"sent:-", "failed:http 503", "parked:refused: bad pattern"};
		const char *by_id[3];
		/* the rows in outbox_id order carry the state given for each */
		for (i = 0; i < 3; i++)
			by_id[i] = "";
		for (i = 0; i < 3; i++) {
			size_t rank = 0;
			for (size_t k = 0; k < 3; k++)
				if (s[k].outbox_id < s[i].outbox_id)
					rank++;
			by_id[rank] = names[i];
		}
		snprintf(want, sizeof(want), "%s,%s,%s", by_id[0], by_id[1], by_id[2]);
		assert_string_equal(states, want);
	}
	free(states);
	/* the failed row is due again (retry after 0 s); the sent and parked ones are not */
	assert_int_equal(sl_ledger_outbox_claim_payloads(c->l, "partner", 8, 60, w, pay, &n, &err),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(w[0].outbox_id, s[1].outbox_id);
	json_decref(pay[0]);
	/* a row that is gone is named; the others are settled all the same */
	s[0] = (struct sl_ledger_settle){w[0].outbox_id, SL_LEDGER_SETTLE_SENT, NULL, 0};
	s[1] = (struct sl_ledger_settle){987654321, SL_LEDGER_SETTLE_SENT, NULL, 0};
	memset(&err, 0, sizeof(err));
	assert_int_equal(sl_ledger_outbox_settle_many(c->l, s, 2, &err), SL_ENOTFOUND);
	assert_non_null(strstr(err.msg, "1 of 2"));
	states = q_text(c->pg, "SELECT count(*) FROM outbox WHERE state = 'sent'");
	assert_string_equal(states, "2");
	free(states);
	for (i = 0; i < 3; i++)
		json_decref(objs[i]);
}

static void test_newest_and_containers(void **state)
{
	struct ctx *c = *state;
	json_t *objs[4] = {indicator(IND1, T1, "[domain-name:value = 'a.example']"),
	                   indicator(IND1, T2, "[domain-name:value = 'a2.example']"),
	                   indicator(IND2, T1, "[domain-name:value = 'b.example']"), NULL};
	const char *ids[3] = {IND1, IND2, IND3};
	struct sl_err err = {0};
	json_t *got, *refs;

	objs[3] = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s,s]}", "type", "report",
	                    "spec_version", "2.1", "id", REPORT, "created", T1, "modified", T1,
	                    "name", "event", "published", T1, "object_refs", IND1, IND2);
	ingest(c, objs, 4);
	got = sl_ledger_outbox_newest(c->l, ids, 3, &err);
	assert_non_null(got);
	assert_int_equal(json_object_size(got), 2); /* IND3 is not stored */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(got, IND1), "modified")), T2);
	assert_true(json_equal(json_object_get(got, IND2), objs[2]));
	json_decref(got);

	refs = sl_ledger_outbox_containers(c->l, ids, 3, &err);
	assert_non_null(refs);
	assert_int_equal(json_object_size(refs), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(refs, IND1), 0)),
	                    REPORT);
	assert_string_equal(json_string_value(json_array_get(json_object_get(refs, IND2), 0)),
	                    REPORT);
	assert_null(json_object_get(refs, IND3));
	json_decref(refs);
	/* nothing asked, nothing found */
	got = sl_ledger_outbox_newest(c->l, NULL, 0, &err);
	assert_non_null(got);
	assert_int_equal(json_object_size(got), 0);
	json_decref(got);
	for (size_t i = 0; i < 4; i++)
		json_decref(objs[i]);
}

/* 20,000 decisions (more than two slices): all recorded once, in one transaction; a bad row in
 * the last slice leaves nothing of the call behind. */
static void test_share_in_slices(void **state)
{
	struct ctx *c = *state;
	enum { N = 20000 };
	struct sl_ledger_share *rows = calloc(N, sizeof(*rows));
	char(*ids)[80] = calloc(N, sizeof(*ids));
	struct sl_err err = {0};
	size_t fresh = 0, i;
	char *count;

	assert_non_null(rows);
	assert_non_null(ids);
	for (i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "indicator--0a1c0f6e-3c43-4f83-9c33-%012zx",
		         i / 2);
		rows[i] = (struct sl_ledger_share){i % 2 ? "alpha" : "beta",
		                                   ids[i],
		                                   T1,
		                                   i % 3 ? SL_LEDGER_ALLOW : SL_LEDGER_DENY,
		                                   "rule",
		                                   NULL,
		                                   NULL,
		                                   1,
		                                   false,
		                                   NULL};
	}
	rows[N - 1].modified = "not a time";
	assert_int_not_equal(sl_ledger_share_record(c->l, rows, N, &fresh, &err), 0);
	assert_non_null(strstr(err.msg, "not a time"));
	assert_false(rows[0].recorded);
	count = q_text(c->pg, "SELECT count(*) FROM audit");
	assert_string_equal(count, "0");
	free(count);

	rows[N - 1].modified = T1;
	memset(&err, 0, sizeof(err));
	assert_int_equal(sl_ledger_share_record(c->l, rows, N, &fresh, &err), 0);
	assert_int_equal(fresh, N);
	assert_true(rows[0].recorded && rows[N - 1].recorded);
	count =
	    q_text(c->pg, "SELECT count(*) || ' ' || count(DISTINCT (destination, id)) FROM audit");
	assert_string_equal(count, "20000 20000");
	free(count);
	count = q_text(c->pg, "SELECT count(*) FILTER (WHERE state = 'pending') || ' ' || "
	                      "count(*) FILTER (WHERE state = 'blocked') FROM outbox");
	{
		char want[32];
		size_t denied = 0;
		for (i = 0; i < N; i++)
			denied += rows[i].decision == SL_LEDGER_DENY;
		snprintf(want, sizeof(want), "%zu %zu", (size_t)N - denied, denied);
		assert_string_equal(count, want);
	}
	free(count);
	/* once recorded, never again */
	assert_int_equal(sl_ledger_share_record(c->l, rows, N, &fresh, &err), 0);
	assert_int_equal(fresh, 0);
	free(rows);
	free(ids);
}

/* Versions sent inside another delivery (a MISP event built from its report): their open deliver
 * rows at that destination are settled sent and never claimed; a revocation, a blocked row, another
 * destination's row and another version are left as they were. */
static void test_sent_with(void **state)
{
	struct ctx *c = *state;
	json_t *objs[3] = {indicator(IND1, T1, "[domain-name:value = 'a.example']"),
	                   indicator(IND2, T1, "[domain-name:value = 'b.example']"),
	                   indicator(IND3, T1, "[domain-name:value = 'c.example']")};
	struct sl_ledger_share other = {"other", IND1, T1,   SL_LEDGER_ALLOW, "r1", NULL,
	                                objs[0], 1,    false, NULL};
	const char *ids[4] = {IND1, IND2, IND3, IND2};
	const char *mods[4] = {"2026-11-20T10:00:00Z", T1, T1, T2};
	struct sl_ledger_work w[8];
	json_t *pay[8] = {0};
	struct sl_err err = {0};
	size_t n = 0, settled = 0, fresh = 0;
	char *states;

	ingest(c, objs, 3);
	fill(c, objs);
	assert_int_equal(sl_ledger_share_record(c->l, &other, 1, &fresh, &err), 0);
	/* IND1 named with fewer fraction digits is the same version; IND2 at T2 is not stored */
	assert_int_equal(sl_ledger_outbox_sent_with(c->l, "partner", ids, mods, 4, &settled, &err),
	                 0);
	assert_int_equal(settled, 2);
	states =
	    q_text(c->pg, "SELECT string_agg(destination || ' ' || right(id, 1) || ' ' || action "
	                  "|| ' ' || state, ',' ORDER BY destination, id, action) FROM outbox");
	assert_string_equal(states, "other 1 deliver pending,partner 1 deliver sent,"
	                            "partner 1 revoke pending,partner 2 deliver sent,"
	                            "partner 3 deliver blocked");
	free(states);
	/* only the revocation is left to claim at partner */
	assert_int_equal(sl_ledger_outbox_claim_payloads(c->l, "partner", 8, 60, w, pay, &n, &err),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(w[0].action, SL_LEDGER_REVOKE);
	/* bad input is named */
	assert_int_equal(sl_ledger_outbox_sent_with(c->l, NULL, ids, mods, 1, NULL, &err),
	                 SL_EINVAL);
	for (size_t i = 0; i < 3; i++)
		json_decref(objs[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_claim_brings_what_to_send, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settle_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newest_and_containers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_share_in_slices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sent_with, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
