/* test_pipeline.c — the pipeline's recording of a large bundle's decisions on the real test
 * PostgreSQL: a bundle whose decisions are recorded by two connections at once (7,000 objects x 4
 * destinations) ends with every decision recorded exactly once, what each destination's policy
 * says, and taking the same bundle again records nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "ledger.h"
#include "pipeline.h"
#include "policy.h"
#include "sltest.h"

#define NOBJ 7000
#define GREEN "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb" /* TLP 2.0 */

struct ctx {
	char *dsn;
	char dir[64];
	struct sl_ledger *l;
	struct sl_policy *pol;
	PGconn *pg;
};

static const char policy_text[] =
    "destination \"misp-b\" {\n kind = \"misp\"\n max_tlp = \"amber\"\n unmarked = \"green\"\n}\n"
    "destination \"opencti\" {\n kind = \"opencti\"\n max_tlp = \"amber\"\n unmarked = "
    "\"green\"\n}\n"
    "destination \"partner\" {\n kind = \"taxii\"\n max_tlp = \"amber\"\n unmarked = "
    "\"green\"\n}\n"
    "destination \"public\" {\n kind = \"taxii\"\n max_tlp = \"clear\"\n unmarked = "
    "\"green\"\n}\n";

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct sl_err err = {0};
	char path[128];
	FILE *f;

	c->dsn = sltest_fresh_db("sl_pipeline");
	c->l = sl_ledger_open(c->dsn, &err);
	assert_non_null(c->l);
	assert_int_equal(sl_ledger_migrate(c->l, NULL, NULL, &err), 0);
	snprintf(c->dir, sizeof(c->dir), "/tmp/sl_pipeline_XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(path, sizeof(path), "%s/policy.conf", c->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(policy_text, f);
	fclose(f);
	assert_int_equal(sl_policy_load(path, &c->pol, &err), 0);
	unlink(path);
	rmdir(c->dir);
	c->pg = PQconnectdb(c->dsn);
	assert_int_equal(PQstatus(c->pg), CONNECTION_OK);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	sl_policy_free(c->pol);
	sl_ledger_close(c->l);
	PQfinish(c->pg);
	free(c->dsn);
	free(c);
	return 0;
}

static long q_long(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* NOBJ indicators marked TLP:GREEN: allowed to the three amber destinations, denied to public. */
static json_t *bundle(void)
{
	json_t *objs = json_array();

	for (unsigned i = 0; i < NOBJ; i++) {
		char id[80], pat[96];
		snprintf(id, sizeof(id), "indicator--%08x-1111-4222-8333-%012x", i, i * 7u);
		snprintf(pat, sizeof(pat), "[domain-name:value = 'host%u.bad.example']", i);
		json_array_append_new(
		    objs,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s]}", "type", "indicator",
		              "spec_version", "2.1", "id", id, "created",
		              "2026-11-20T10:00:00.000Z", "modified", "2026-11-20T10:00:00.000Z",
		              "pattern", pat, "pattern_type", "stix", "valid_from",
		              "2026-11-20T10:00:00Z", "object_marking_refs", GREEN));
	}
	return json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
	                 "bundle--3c9a1f0e-2b7d-4e5a-9c8b-1d2e3f4a5b6c", "objects", objs);
}

static void test_large_bundle_recorded_once(void **state)
{
	struct ctx *c = *state;
	struct sl_pipeline_stats st = {0};
	struct sl_err err = {0};
	struct sl_pipeline *p = sl_pipeline_new(c->l, c->pol, &err);
	json_t *b = bundle();

	assert_non_null(p);
	assert_int_equal(
	    sl_pipeline_bundle(p, "misp-a", "event-1", b, NULL, 1795200000LL, &st, &err), 0);
	assert_int_equal(st.objects, NOBJ);
	assert_int_equal(st.allowed, 3 * NOBJ);
	assert_int_equal(st.denied, NOBJ);
	/* every decision once: an audit row each, and one outbox row per push destination */
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit"), 4 * NOBJ);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM (SELECT DISTINCT id, modified, "
	                               "destination FROM audit) d"),
	                 4 * NOBJ);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM outbox WHERE state = 'pending' AND "
	                               "destination IN ('misp-b', 'opencti', 'partner')"),
	                 3 * NOBJ);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM outbox WHERE destination = 'public' "
	                               "AND state = 'blocked'"),
	                 NOBJ);
	assert_int_equal(q_long(c->pg,
	                        "SELECT count(*) FROM audit WHERE destination = 'public' AND "
	                        "decision <> 'deny'"),
	                 0);
	/* the same bundle again (a retry after a crash): nothing new is recorded */
	memset(&st, 0, sizeof(st));
	assert_int_equal(
	    sl_pipeline_bundle(p, "misp-a", "event-1", b, NULL, 1795200000LL, &st, &err), 0);
	assert_int_equal(st.allowed + st.changed + st.denied, 0);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit"), 4 * NOBJ);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM outbox"), 4 * NOBJ);
	json_decref(b);
	sl_pipeline_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_large_bundle_recorded_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
