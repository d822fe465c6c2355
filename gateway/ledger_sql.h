/* ledger_sql.h — the ledger's SQL, embedded at build time from gateway/sql/ (migrations under
 * migrations/NNN_name, named statements by file name). Used by ledger.c (and the upgrade test,
 * which builds an older schema from the migrations). */
#ifndef SL_LEDGER_SQL_H
#define SL_LEDGER_SQL_H

struct sl_ledger_sql_file {
	const char *name; /* path under gateway/sql/ without ".sql", e.g. "migrations/001_init" */
	const char *text;
};

extern const struct sl_ledger_sql_file sl_ledger_sql_files[];
extern const unsigned sl_ledger_sql_nfiles;

#endif
