/* sltest.c — shared test plumbing: test database, shared interop data, fixture paths. */
#include "sltest.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char pg_dsn[1024];

const char *sltest_pg_dsn(void)
{
	const char *envfile = getenv("SLUICE_TEST_PGENV");
	FILE *f;
	size_t n;

	if (pg_dsn[0])
		return pg_dsn;
	if (!envfile || !(f = fopen(envfile, "r")))
		return NULL;
	n = fread(pg_dsn, 1, sizeof(pg_dsn) - 1, f);
	fclose(f);
	pg_dsn[n] = '\0';
	while (n && (pg_dsn[n - 1] == '\n' || pg_dsn[n - 1] == ' '))
		pg_dsn[--n] = '\0';
	return n ? pg_dsn : NULL;
}

char *sltest_fresh_db(const char *name)
{
	const char *base = sltest_pg_dsn();
	char sql[256], *dsn;
	PGconn *c;
	PGresult *r;
	size_t len;

	if (!base) {
		fprintf(stderr, "sltest: no test PostgreSQL (SLUICE_TEST_PGENV unset or empty)\n");
		exit(1);
	}
	c = PQconnectdb(base);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "sltest: cannot connect to test PostgreSQL: %s", PQerrorMessage(c));
		exit(1);
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
	r = PQexec(c, sql);
	PQclear(r);
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "sltest: %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
	PQfinish(c);
	len = strlen(base) + strlen(name) + 32;
	dsn = malloc(len);
	if (!dsn)
		abort();
	/* A later dbname= overrides the earlier one in a libpq keyword/value string. */
	snprintf(dsn, len, "%s dbname=%s", base, name);
	return dsn;
}

static int is_dir(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *sltest_interop_dir(void)
{
	const char *d = getenv("SLUICE_SHARED_INTEROP");
	return is_dir(d) ? d : NULL;
}

const char *sltest_fixtures_dir(void)
{
	const char *d = getenv("SLUICE_FIXTURES");
	return d ? d : SLTEST_FIXTURES_DIR;
}

const char *sltest_build_dir(void)
{
	const char *d = getenv("SLUICE_BUILD_DIR");
	return d ? d : SLTEST_BUILD_DIR;
}
