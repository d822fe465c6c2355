/* test_pipeline.c — the pipeline's recording of a large bundle's decisions on the real test
 * PostgreSQL: a bundle whose decisions are recorded by two connections at once (7,000 objects x 4
 * destinations) ends with every decision recorded exactly once, what each destination's policy
 * says, and taking the same bundle again records nothing; objects changed for their personal data
 * (handed to the ledger as text) are stored as each destination's decision says; deletions at a
 * MISP peer are stored as revoked versions; an object that comes alone is decided with its stored
 * container; a MISP sharing group's members by organisation and server get its events, also when
 * a copy comes back from another peer with only the group's uuid. */
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

#include "decision.h"
#include "ledger.h"
#include "pipeline.h"
#include "policy.h"
#include "sltest.h"

#define NOBJ 7000
#define GREEN "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb" /* TLP 2.0 */
#define AMBER "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
#define CLEAR "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"

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

/* The object a destination may receive, as sl_policy_decide_bundle (one destination) gives it. */
static json_t *oracle_object(const struct sl_policy *pol, const char *dest, const json_t *b,
                             size_t k)
{
	struct sl_policy_decision **decs = NULL;
	json_t *out = NULL, *o;
	struct sl_err err = {0};
	size_t n = 0;

	assert_int_equal(sl_policy_decide_bundle(sl_policy_dest_find(pol, dest), b, 1795200000LL,
	                                         &out, &decs, &n, &err),
	                 0);
	assert_true(k < n);
	o = json_incref((json_t *)sl_policy_decision_object(decs[k]));
	json_decref(out);
	sl_policy_decisions_free(decs, n);
	return o;
}

static json_t *q_json(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	json_t *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	assert_non_null(v);
	return v;
}

/* An email address redacted for a push destination, pseudonymised for a pull one, and a MISP
 * destination's distribution 2 written as 1: the outbox payload and the view hold exactly the
 * object sl_policy_decide_bundle gives each destination. */
static void test_changed_payloads(void **state)
{
	struct ctx *c = *state;
	struct sl_pipeline_stats st = {0};
	struct sl_err err = {0};
	struct sl_policy *pol = NULL;
	struct sl_pipeline *p;
	char dir[] = "/tmp/sl_pipeline_pd_XXXXXX", path[128], key[128], text[1024];
	static const char *const dests[3] = {"redact-push", "pseudo-pull", "misp"};
	json_t *b;
	FILE *f;
	int i;

	assert_non_null(mkdtemp(dir));
	snprintf(key, sizeof(key), "%s/key", dir);
	assert_non_null(f = fopen(key, "w"));
	fputs("pipeline-test-key-0123456789abcdef", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/policy.conf", dir);
	snprintf(text, sizeof(text),
	         "hmac_key_file = \"%s\"\n"
	         "destination \"redact-push\" {\n max_tlp = \"amber\"\n unmarked = \"green\"\n"
	         " distribution = {2, 3}\n gdpr {\n  email = \"redact\"\n }\n}\n"
	         "destination \"pseudo-pull\" {\n max_tlp = \"amber\"\n unmarked = \"green\"\n"
	         " distribution = {2, 3}\n gdpr {\n  email = \"pseudonymise\"\n }\n}\n"
	         "destination \"misp\" {\n kind = \"misp\"\n max_tlp = \"amber\"\n unmarked = "
	         "\"green\"\n distribution = {2, 3}\n gdpr {\n  email = \"redact\"\n }\n}\n",
	         key);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(sl_policy_load(path, &pol, &err), 0);
	unlink(path);
	unlink(key);
	rmdir(dir);
	b = json_loads(
	    "{\"type\": \"bundle\", \"id\": \"bundle--5d1c2e3f-0000-4000-8000-000000000001\", "
	    "\"objects\": [{\"type\": \"indicator\", \"spec_version\": \"2.1\", \"id\": "
	    "\"indicator--5d1c2e3f-0000-4000-8000-000000000002\", \"created\": "
	    "\"2026-11-20T10:00:00.000Z\", \"modified\": \"2026-11-20T10:00:00.000Z\", "
	    "\"pattern\": \"[email-addr:value = 'j.doe@mail.example.org']\", \"pattern_type\": "
	    "\"stix\", \"valid_from\": \"2026-11-20T10:00:00Z\", \"description\": \"Sent by "
	    "j.doe@mail.example.org \\\"quoted\\\" \\u00e4\", \"x_misp_distribution\": 2, "
	    "\"labels\": [\"a\", \"b\"], \"object_marking_refs\": [\"" GREEN "\"]}]}",
	    0, NULL);
	assert_non_null(b);
	assert_non_null(p = sl_pipeline_new(c->l, pol, &err));
	assert_int_equal(sl_pipeline_set_pull(p, "pseudo-pull", &err), 0);
	assert_int_equal(sl_pipeline_bundle(p, "misp-a", "event-2", b, NULL, 1795200000LL, &st, &err),
	                 0);
	assert_int_equal(st.changed, 3);
	for (i = 0; i < 3; i++) {
		char sql[512];
		json_t *want = oracle_object(pol, dests[i], b, 0), *got;
		snprintf(sql, sizeof(sql),
		         i == 1 ? "SELECT content::text FROM shares WHERE destination = '%s' AND id = "
		                  "'indicator--5d1c2e3f-0000-4000-8000-000000000002'"
		                : "SELECT payload::text FROM outbox WHERE destination = '%s' AND id = "
		                  "'indicator--5d1c2e3f-0000-4000-8000-000000000002'",
		         dests[i]);
		got = q_json(c->pg, sql);
		assert_non_null(want);
		if (!json_equal(want, got)) {
			char *w = json_dumps(want, JSON_COMPACT), *g = json_dumps(got, JSON_COMPACT);
			fail_msg("%s: stored %s, want %s", dests[i], g, w);
		}
		/* what each destination's policy says was changed, not the input */
		assert_false(json_equal(got, json_array_get(json_object_get(b, "objects"), 0)));
		json_decref(want);
		json_decref(got);
	}
	json_decref(b);
	sl_pipeline_free(p);
	sl_policy_free(pol);
}

/* Deletions at a MISP peer arrive as MISP's sync carries them: attributes and objects with
 * "deleted": true (and newer timestamps). What a deleted attribute maps to is stored revoked, an
 * attribute deleted inside a live object is left out of the object, the live rest is not revoked,
 * and the caller's event is not edited. */
static void test_misp_deletions(void **state)
{
	struct ctx *c = *state;
	struct sl_pipeline *p;
	struct sl_err err = {0};
	json_t *ev = json_loads(
	    "{\"Event\":{\"uuid\":\"6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01\",\"info\":\"d\","
	    "\"date\":\"2026-11-01\",\"timestamp\":\"1793800000\",\"published\":true,"
	    "\"publish_timestamp\":\"1793800000\",\"distribution\":\"3\","
	    "\"Orgc\":{\"uuid\":\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CERT-A\"},"
	    "\"Tag\":[{\"name\":\"tlp:green\"}],\"Attribute\":["
	    "{\"uuid\":\"6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01\",\"type\":\"domain\","
	    "\"category\":\"Network activity\",\"value\":\"gone.example\",\"to_ids\":true,"
	    "\"timestamp\":\"1793800000\",\"deleted\":true},"
	    "{\"uuid\":\"6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b02\",\"type\":\"domain\","
	    "\"category\":\"Network activity\",\"value\":\"kept.example\",\"to_ids\":true,"
	    "\"timestamp\":\"1793700000\",\"deleted\":false}],"
	    "\"Object\":[{\"uuid\":\"6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5c01\",\"name\":\"domain-ip\","
	    "\"meta-category\":\"network\",\"timestamp\":\"1793800000\",\"Attribute\":["
	    "{\"uuid\":\"6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5c02\",\"type\":\"domain\","
	    "\"object_relation\":\"domain\",\"category\":\"Network activity\","
	    "\"value\":\"object-kept.example\",\"to_ids\":true,\"timestamp\":\"1793700000\"},"
	    "{\"uuid\":\"6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5c03\",\"type\":\"ip-dst\","
	    "\"object_relation\":\"ip\",\"category\":\"Network activity\","
	    "\"value\":\"203.0.113.77\",\"to_ids\":true,\"timestamp\":\"1793800000\","
	    "\"deleted\":\"1\"}]}]}}",
	    0, NULL);
	char *before = json_dumps(ev, JSON_SORT_KEYS);
	char *after;

	assert_non_null(ev);
	assert_non_null(p = sl_pipeline_new(c->l, c->pol, &err));
	if (sl_pipeline_misp_event(p, "misp-a", ev, NULL, 1793900000LL, NULL, NULL, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	after = json_dumps(ev, JSON_SORT_KEYS);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM objects WHERE id = "
	                               "'indicator--6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
	                               "content->>'revoked' = 'true'"),
	                 1);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM objects WHERE id = "
	                               "'indicator--6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b02' AND "
	                               "content->>'revoked' IS NULL"),
	                 1);
	/* the object: live, its deleted address left out */
	assert_true(q_long(c->pg, "SELECT count(*) FROM objects WHERE id LIKE "
	                          "'%--6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5c01' AND "
	                          "content->>'revoked' IS NULL") >= 1);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM objects WHERE id LIKE "
	                               "'%--6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5c01' AND "
	                               "content::text LIKE '%203.0.113.77%'"),
	                 0);
	assert_true(q_long(c->pg, "SELECT count(*) FROM objects WHERE id LIKE "
	                          "'%--6b1c3e10-5b2d-4f6e-9a01-1c2d3e4f5c01' AND "
	                          "content::text LIKE '%object-kept.example%'") >= 1);
	sl_pipeline_free(p);
	json_decref(ev);
}

/* An object that comes alone (an OpenCTI edit, a partner's copy) is decided with the stored
 * container that lists it: a TLP:AMBER report's indicator, re-marked TLP:CLEAR by another peer,
 * still does not reach the TLP:CLEAR destination; the container is context only (no decision and
 * no provenance recorded for it from that peer). The same for objects a partner POSTs. */
static void test_context_containers(void **state)
{
	struct ctx *c = *state;
	struct sl_pipeline *p;
	struct sl_err err = {0};
	const char *ind = "indicator--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5b01";
	json_t *b1 = json_pack(
	    "{s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[s]},"
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s]}]}",
	    "type", "bundle", "id", "bundle--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5a00", "objects",
	    "type", "report", "spec_version", "2.1", "id",
	    "report--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5a01", "created", "2026-11-20T10:00:00.000Z",
	    "modified", "2026-11-20T10:00:00.000Z", "name", "an amber event", "published",
	    "2026-11-20T10:00:00Z", "object_refs", ind, "object_marking_refs", AMBER, "type",
	    "indicator", "spec_version", "2.1", "id", ind, "created", "2026-11-20T10:00:00.000Z",
	    "modified", "2026-11-20T10:00:00.000Z", "pattern",
	    "[domain-name:value = 'amber.example']", "pattern_type", "stix", "valid_from",
	    "2026-11-20T10:00:00Z", "object_marking_refs", CLEAR);
	json_t *b2 = json_deep_copy(b1), *edit;
	long audit_report;

	assert_non_null(b1);
	/* the second bundle: only the indicator, edited (a newer version), still marked CLEAR */
	edit = json_deep_copy(json_array_get(json_object_get(b2, "objects"), 1));
	json_object_set_new(edit, "modified", json_string("2026-11-21T10:00:00.000Z"));
	json_object_set_new(edit, "description", json_string("edited alone"));
	json_object_set_new(b2, "objects", json_pack("[o]", edit));
	assert_non_null(p = sl_pipeline_new(c->l, c->pol, &err));
	if (sl_pipeline_bundle(p, "misp-a", "event-ctx", b1, NULL, 1795200000LL, NULL, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	audit_report = q_long(c->pg, "SELECT count(*) FROM audit WHERE id = "
	                             "'report--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5a01'");
	assert_int_equal(audit_report, 4);
	if (sl_pipeline_bundle(p, "opencti", "stream-1", b2, NULL, 1795200000LL, NULL, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	/* the edit: decided (opencti is its origin: not for it), AMBER from its report */
	assert_int_equal(q_long(c->pg,
	                        "SELECT count(*) FROM audit WHERE id = "
	                        "'indicator--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
	                        "modified = '2026-11-21T10:00:00Z' AND decision = 'deny' AND "
	                        "destination = 'public'"),
	                 1);
	assert_int_equal(q_long(c->pg,
	                        "SELECT count(*) FROM audit WHERE id = "
	                        "'indicator--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
	                        "modified = '2026-11-21T10:00:00Z' AND decision = 'allow' AND "
	                        "destination IN ('misp-b', 'partner')"),
	                 2);
	/* the report was context: nothing more recorded for it, nor from opencti */
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit WHERE id = "
	                               "'report--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5a01'"),
	                 audit_report);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM provenance_extra WHERE id = "
	                               "'report--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5a01'"),
	                 0);
	/* the same through sluice's TAXII server's ingest hook: a partner POSTs a third version */
	{
		struct sl_ledger_in in = {0};
		struct sl_ledger_result res = {0};
		json_t *third = json_deep_copy(edit);

		json_object_set_new(third, "modified", json_string("2026-11-22T10:00:00.000Z"));
		in.obj = third;
		if (sl_pipeline_objects(p, "partner", &in, 1, &res, 1795200000LL, NULL, &err) != 0)
			fail_msg("%s: %s", err.where, err.msg);
		assert_int_equal(q_long(c->pg,
		                        "SELECT count(*) FROM audit WHERE id = "
		                        "'indicator--7c2d4e10-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
		                        "modified = '2026-11-22T10:00:00Z' AND decision = "
		                        "'deny' AND destination = 'public'"),
		                 1);
		json_decref(third);
	}
	sl_pipeline_free(p);
	json_decref(b1);
	json_decref(b2);
}

/* A MISP event for a sharing group (distribution 4) goes to the destinations that belong to the
 * group by their organisation or server, as its SharingGroup lists them, and not to the others;
 * the definition is kept in the ledger, so a copy of the event's indicator that another peer
 * sends later with only the group's uuid is decided with the same members. */
static void test_sharing_group_members(void **state)
{
	struct ctx *c = *state;
	struct sl_policy *pol = NULL;
	struct sl_pipeline *p;
	struct sl_err err = {0};
	char path[128];
	FILE *f;
	json_t *ev = json_loads(
	    "{\"Event\":{\"uuid\":\"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5a01\",\"info\":\"banks\","
	    "\"date\":\"2026-11-01\",\"timestamp\":\"1793800000\",\"published\":true,"
	    "\"publish_timestamp\":\"1793800000\",\"distribution\":\"4\","
	    "\"sharing_group_id\":\"1\",\"SharingGroup\":{\"id\":\"1\","
	    "\"uuid\":\"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5d01\",\"name\":\"Banks-CERT\","
	    "\"modified\":\"2026-10-01 10:00:00\",\"SharingGroupOrg\":[{\"org_id\":\"2\","
	    "\"Organisation\":{\"uuid\":\"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5e01\","
	    "\"name\":\"Bank-X\"}}],\"SharingGroupServer\":[{\"all_orgs\":false,\"Server\":"
	    "{\"url\":\"https://taxii.member.example\",\"name\":\"member\"}}]},"
	    "\"Orgc\":{\"uuid\":\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CERT-A\"},"
	    "\"Tag\":[{\"name\":\"tlp:green\"}],\"Attribute\":["
	    "{\"uuid\":\"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5b01\",\"type\":\"domain\","
	    "\"category\":\"Network activity\",\"value\":\"banks.example\",\"to_ids\":true,"
	    "\"distribution\":\"4\",\"sharing_group_id\":\"1\",\"SharingGroup\":{"
	    "\"uuid\":\"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5d01\",\"name\":\"Banks-CERT\","
	    "\"SharingGroupOrg\":[{\"org_uuid\":\"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5e01\"}],"
	    "\"SharingGroupServer\":[{\"Server\":{\"url\":\"https://taxii.member.example\"}}]},"
	    "\"timestamp\":\"1793700000\"}]}}",
	    0, NULL);
	json_t *copy, *b;
	PGresult *r;

	snprintf(c->dir, sizeof(c->dir), "/tmp/sl_pipeline_XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(path, sizeof(path), "%s/policy.conf", c->dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("destination \"misp-x\" {\n kind = \"misp\"\n max_tlp = \"amber\"\n"
	      " org_uuid = \"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5e01\"\n}\n"
	      "destination \"misp-y\" {\n kind = \"misp\"\n max_tlp = \"amber\"\n"
	      " org_uuid = \"8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5e02\"\n}\n"
	      "destination \"taxii-s\" {\n kind = \"taxii\"\n max_tlp = \"amber\"\n"
	      " server = \"https://taxii.member.example\"\n}\n",
	      f);
	fclose(f);
	assert_int_equal(sl_policy_load(path, &pol, &err), 0);
	unlink(path);
	rmdir(c->dir);
	assert_non_null(ev);
	assert_non_null(p = sl_pipeline_new(c->l, pol, &err));
	if (sl_pipeline_misp_event(p, "misp-a", ev, NULL, 1793900000LL, NULL, NULL, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	/* the member by org and the member by server get the indicator and its report */
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit WHERE id = "
	                               "'indicator--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
	                               "decision = 'allow' AND destination IN ('misp-x', "
	                               "'taxii-s')"),
	                 2);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit WHERE id LIKE "
	                               "'%--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5a01' AND "
	                               "decision = 'allow' AND destination = 'misp-x'"),
	                 1);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit WHERE id LIKE "
	                               "'%--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5%' AND "
	                               "decision <> 'deny' AND destination = 'misp-y'"),
	                 0);
	assert_true(q_long(c->pg, "SELECT count(*) FROM audit WHERE destination = 'misp-y' AND "
	                          "decision = 'deny'") >= 2);
	assert_int_equal(q_long(c->pg,
	                        "SELECT count(*) FROM sharing_groups WHERE uuid = "
	                        "'8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5d01' AND peer = 'misp-a' AND "
	                        "modified = '2026-10-01 10:00:00+00'"),
	                 1);
	/* OpenCTI sends the indicator back edited, with only the group's uuid */
	r = PQexec(c->pg,
	           "SELECT content::text FROM objects WHERE id = "
	           "'indicator--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5b01' ORDER BY seq DESC LIMIT 1");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	copy = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	assert_non_null(copy);
	assert_string_equal(json_string_value(json_object_get(copy, "x_misp_sharing_group_uuid")),
	                    "8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5d01");
	json_object_set_new(copy, "modified", json_string("2026-11-21T10:00:00.000Z"));
	json_object_set_new(copy, "description", json_string("edited at OpenCTI"));
	b = json_pack("{s:s,s:s,s:[o]}", "type", "bundle", "id",
	              "bundle--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5a99", "objects", copy);
	if (sl_pipeline_bundle(p, "opencti", "stream-1", b, NULL, 1795200000LL, NULL, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit WHERE id = "
	                               "'indicator--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
	                               "modified = '2026-11-21T10:00:00Z' AND decision = 'allow' "
	                               "AND destination IN ('misp-x', 'taxii-s')"),
	                 2);
	assert_int_equal(q_long(c->pg, "SELECT count(*) FROM audit WHERE id = "
	                               "'indicator--8d3e5f20-5b2d-4f6e-9a01-1c2d3e4f5b01' AND "
	                               "modified = '2026-11-21T10:00:00Z' AND decision = 'deny' "
	                               "AND destination = 'misp-y'"),
	                 1);
	json_decref(b);
	sl_pipeline_free(p);
	sl_policy_free(pol);
	json_decref(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_large_bundle_recorded_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changed_payloads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_misp_deletions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_context_containers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sharing_group_members, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
