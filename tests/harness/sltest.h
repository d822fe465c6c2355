/* sltest.h — what every sluice test shares: the throwaway PostgreSQL started by deploy/pgtmp.sh,
 * the path to ../shared (absent means skip), and the repo's fixtures. */
#ifndef SL_TEST_H
#define SL_TEST_H

/* CTest treats this exit code as "skipped" (SKIP_RETURN_CODE). */
#define SLTEST_SKIP 77

/* A DSN for a freshly created, empty database called name (dropped first if it exists) on the test
 * server. Returns a malloc'd string; aborts the test process with a message if there is no server. */
char *sltest_fresh_db(const char *name);

/* The base DSN of the test server (borrowed), or NULL when the suite did not start one. */
const char *sltest_pg_dsn(void);

/* ../shared/interop (borrowed), or NULL when it is absent: the caller then exits SLTEST_SKIP. */
const char *sltest_interop_dir(void);

/* The repo's fixtures/ directory (borrowed). */
const char *sltest_fixtures_dir(void);

/* The directory of the built sluice binary's build tree (borrowed): ${CMAKE_BINARY_DIR}. */
const char *sltest_build_dir(void);

#endif
