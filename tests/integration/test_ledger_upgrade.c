/* test_ledger_upgrade.c — a database at schema 3 (as sluice before migration 004 left it: every
 * delivery in the provenance table) is upgraded by `migrate` without losing or changing any
 * provenance, and then ingests, shares, answers `sources` and erases as a fresh one does; its
 * observables' stix_id index becomes a hash index (migration 005) that still finds them, and
 * versions stored after the upgrade take seq values above the old ones (migration 009), and
 * sharing groups' definitions are kept (migration 010).
 */
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
#include "ledger_sql.h"
#include "sltest.h"

#define DOM "domain-name--11111111-1111-4111-8111-111111111111"
#define IP "ipv4-addr--22222222-2222-4222-8222-222222222222"
#define EPOCH "1970-01-01T00:00:00Z"

static void exec_ok(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%.60s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
}

static const char *embedded(const char *name)
{
	unsigned i;

	for (i = 0; i < sl_ledger_sql_nfiles; i++)
		if (strcmp(sl_ledger_sql_files[i].name, name) == 0)
			return sl_ledger_sql_files[i].text;
	fail_msg("no embedded SQL %s", name);
	return NULL;
}

static char *q_text(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void assert_query(PGconn *pg, const char *sql, const char *want)
{
	char *got = q_text(pg, sql);

	if (strcmp(got, want) != 0)
		fail_msg("%s\n got: %s\nwant: %s", sql, got, want);
	free(got);
}

/* The provenance rows as one line each, in a fixed order. */
#define PROV                                                                                       \
	"SELECT string_agg(concat_ws(' ', id, peer, origin_id, deliveries, "                       \
	"encode(content_hash, 'hex'), first_seen <= last_seen), ' | ' ORDER BY id, peer, "         \
	"origin_id) FROM provenance"

static void schema_3_upgrades_and_keeps_provenance(void **state)
{
	char *dsn = sltest_fresh_db("sl_ledger_upgrade");
	PGconn *pg = PQconnectdb(dsn);
	struct sl_err err = {0};
	struct sl_ledger *l;
	struct sl_ledger_in in[2];
	struct sl_ledger_result res[2];
	struct sl_ledger_share share[3];
	struct sl_ledger_erase_result er;
	json_t *dom, *ip, *src;
	char *before, *hash;
	int from = -1, to = -1;
	size_t n_new = 99;

	(void)state;
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	/* schema 3, written as migrations 001-003 left it, with data an older sluice stored:
	 * the domain delivered twice by misp-a and once by opencti */
	exec_ok(pg, embedded("schema_version_create"));
	exec_ok(pg, embedded("migrations/001_init"));
	exec_ok(pg, embedded("migrations/002_shares"));
	exec_ok(pg, embedded("migrations/003_notify"));
	exec_ok(pg, "INSERT INTO schema_version (version) VALUES (1), (2), (3)");
	exec_ok(pg, "INSERT INTO objects (id, modified, type, spec_version, content_hash, content, "
	            "date_added) VALUES ('" DOM "', '" EPOCH "', 'domain-name', '2.1', "
	            "sha256('x'), '{\"type\": \"domain-name\", \"id\": \"" DOM "\", "
	            "\"spec_version\": \"2.1\", \"value\": \"old.example.org\"}', now())");
	exec_ok(pg, "INSERT INTO observables VALUES ('domain-name', 'old.example.org', '" DOM "')");
	exec_ok(pg, "INSERT INTO provenance (id, modified, peer, origin_id, content_hash, "
	            "deliveries) VALUES ('" DOM "', '" EPOCH "', 'misp-a', 'ev-1', sha256('x'), 2),"
	            " ('" DOM "', '" EPOCH "', 'opencti', '', sha256('x'), 1)");
	before = q_text(pg, PROV);
	hash = q_text(pg, "SELECT encode(sha256('x'), 'hex')");

	l = sl_ledger_open(dsn, &err);
	assert_non_null(l);
	assert_int_equal(sl_ledger_migrate(l, &from, &to, &err), 0);
	assert_int_equal(from, 3);
	assert_int_equal(to, sl_ledger_schema_known());
	assert_true(to >= 4);
	assert_query(pg, PROV, before); /* the same rows, counts and hashes */
	/* 005: the observables' stix_id index is rebuilt as a hash index and still finds them */
	assert_query(pg,
	             "SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
	             "WHERE c.relname = 'observables_stix_id'",
	             "hash");
	exec_ok(pg, "SET enable_seqscan = off");
	assert_query(pg, "SELECT count(*) FROM observables WHERE stix_id = '" DOM "'", "1");
	exec_ok(pg, "RESET enable_seqscan");

	/* a repeat from misp-a counts on the old row; a new version's first delivery is listed */
	dom = json_pack("{s:s, s:s, s:s, s:s}", "type", "domain-name", "spec_version", "2.1", "id",
	                DOM, "value", "old.example.org");
	ip = json_pack("{s:s, s:s, s:s, s:s}", "type", "ipv4-addr", "spec_version", "2.1", "id", IP,
	               "value", "192.0.2.1");
	in[0].obj = dom;
	in[0].origin_id = "ev-1";
	in[1].obj = ip;
	in[1].origin_id = "ev-2";
	assert_int_equal(sl_ledger_ingest(l, "misp-a", in, 2, NULL, res, &err), 0);
	assert_int_equal(res[0].outcome, SL_LEDGER_SAME);
	assert_int_equal(res[1].outcome, SL_LEDGER_NEW);
	assert_query(
	    pg, "SELECT deliveries FROM provenance WHERE id = '" DOM "' AND peer = 'misp-a'", "3");
	assert_query(pg, "SELECT count(*) FROM provenance", "3");
	/* 009: versions stored after the upgrade page after those stored before it */
	assert_query(pg,
	             "SELECT bool_and(seq > (SELECT seq FROM objects WHERE id = '" DOM "')) "
	             "FROM objects WHERE id <> '" DOM "'",
	             "t");
	/* 010: sharing groups' definitions are kept */
	{
		const char *sgu = "cccccccc-0000-4000-8000-000000000003";
		json_t *sgs = json_pack("{s:{s:s}}", sgu, "uuid", sgu), *got;
		assert_int_equal(sl_ledger_sharing_groups_put(l, "misp-a", sgs, &err), 0);
		got = sl_ledger_sharing_groups_get(l, &sgu, 1, &err);
		assert_non_null(got);
		assert_int_equal(json_object_size(got), 1);
		json_decref(got);
		json_decref(sgs);
	}
	/* the IP again from misp-a (same origin: one row, twice) and from opencti (a second row) */
	assert_int_equal(sl_ledger_ingest(l, "misp-a", &in[1], 1, NULL, res, &err), 0);
	assert_int_equal(sl_ledger_ingest(l, "opencti", &in[1], 1, NULL, res, &err), 0);
	assert_int_equal(res[0].outcome, SL_LEDGER_SAME);
	assert_query(pg,
	             "SELECT string_agg(peer || ' ' || origin_id || ' ' || deliveries, ', ' "
	             "ORDER BY peer) FROM provenance WHERE id = '" IP "'",
	             "misp-a ev-2 2, opencti ev-2 1");
	src = sl_ledger_sources(l, NULL, "192.0.2.1", &err);
	assert_non_null(src);
	assert_int_equal(json_array_size(json_object_get(src, "sources")), 2);
	json_decref(src);
	src = sl_ledger_sources(l, NULL, "old.example.org", &err);
	assert_non_null(src);
	assert_int_equal(json_array_size(json_object_get(src, "sources")), 2);
	json_decref(src);

	/* never share a version back to a peer that delivered it, old or new */
	memset(share, 0, sizeof(share));
	share[0].destination = "opencti";
	share[0].id = IP;
	share[0].modified = EPOCH;
	share[0].decision = SL_LEDGER_ALLOW;
	share[0].rule = "default";
	share[0].obj = ip;
	share[0].deliver = 1;
	share[1] = share[0];
	share[1].destination = "misp-a";
	share[1].id = DOM;
	share[1].obj = dom;
	share[2] = share[0];
	share[2].destination = "misp-a"; /* the IP's first delivery */
	assert_int_equal(sl_ledger_share_record(l, share, 3, &n_new, &err), 0);
	assert_int_equal(n_new, 0);
	assert_false(share[0].recorded);
	assert_false(share[1].recorded);
	assert_false(share[2].recorded);
	share[0].destination = "partner"; /* a destination that never delivered it is recorded */
	assert_int_equal(sl_ledger_share_record(l, share, 1, &n_new, &err), 0);
	assert_int_equal(n_new, 1);

	/* erasure: the delivered hash stays in provenance, the content goes */
	assert_int_equal(sl_ledger_erase(l, IP, (const unsigned char *)"k", 1, &er, &err), 0);
	assert_int_equal(er.versions, 1);
	assert_query(pg,
	             "SELECT string_agg(peer || ' ' || deliveries || ' ' || "
	             "(content_hash = (SELECT sha256(convert_to(o.content::text, 'UTF8')) "
	             "FROM objects o WHERE o.id = '" IP "'))::text, ', ' ORDER BY peer) "
	             "FROM provenance WHERE id = '" IP "'",
	             "misp-a 2 false, opencti 1 false");
	assert_query(pg, "SELECT count(*) FROM objects WHERE content::text LIKE '%192.0.2.1%'",
	             "0");
	assert_query(pg,
	             "SELECT encode(content_hash, 'hex') FROM provenance WHERE id = '" DOM
	             "' AND peer = 'opencti'",
	             hash);

	json_decref(dom);
	json_decref(ip);
	free(before);
	free(hash);
	sl_ledger_close(l);
	PQfinish(pg);
	free(dsn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(schema_3_upgrades_and_keeps_provenance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
