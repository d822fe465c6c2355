/* test_pg_harness.c — proves the throwaway PostgreSQL: a fresh database, a table written and read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include "sltest.h"

static void table_round_trip(void **state)
{
	char *dsn = sltest_fresh_db("sl_harness");
	PGconn *c = PQconnectdb(dsn);
	const char *params[1] = {"it's \"quoted\" \\ text"};
	PGresult *r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "CREATE TABLE t (id serial PRIMARY KEY, v text NOT NULL)");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexecParams(c, "INSERT INTO t (v) VALUES ($1)", 1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexec(c, "SELECT v FROM t");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), params[0]);
	PQclear(r);
	PQfinish(c);
	free(dsn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
