/* ledger.c — the PostgreSQL ledger behind ledger.h. Synchronous libpq, one connection per handle;
 * every statement comes from gateway/sql/ (embedded) and binds its values as parameters. The bulk
 * ingest is in ledger_ingest.c; connection, queries, cursors, outbox, audit and erasure are here.
 */
#include "ledger.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "json.h"
#include "ledger_impl.h"
#include "ledger_sql.h"
#include "observable.h"

/* ---- small helpers -------------------------------------------------------------------------- */

void lg_buf_grow(struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom || b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

void lg_buf_put(struct buf *b, const char *s, size_t n)
{
	if (n == 0)
		return; /* s may be the NULL of a buffer never written */
	lg_buf_grow(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void lg_buf_str(struct buf *b, const char *s)
{
	lg_buf_put(b, s, strlen(s));
}

void lg_buf_ch(struct buf *b, char c)
{
	lg_buf_put(b, &c, 1);
}

/* A field of COPY's text format: backslash, tab, newline and carriage return escaped. */
void lg_buf_copy_field(struct buf *b, const char *s, size_t n)
{
	size_t i, start = 0;

	lg_buf_grow(b, n + n / 8 + 8);
	for (i = 0; i < n; i++) {
		const char *esc = NULL;

		switch (s[i]) {
		case '\\':
			esc = "\\\\";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		default:
			continue;
		}
		lg_buf_put(b, s + start, i - start);
		lg_buf_str(b, esc);
		start = i + 1;
	}
	lg_buf_put(b, s + start, n - start);
}

void lg_buf_copy_str(struct buf *b, const char *s)
{
	if (!s)
		lg_buf_str(b, "\\N");
	else
		lg_buf_copy_field(b, s, strlen(s));
}

/* An element of a PostgreSQL array literal: quoted, or NULL. */
void lg_buf_arr_elem(struct buf *b, const char *s)
{
	if (b->len > 1)
		lg_buf_ch(b, ',');
	if (!s) {
		lg_buf_str(b, "NULL");
		return;
	}
	lg_buf_ch(b, '"');
	while (*s) { /* runs without quotes or backslashes are copied whole */
		size_t run = strcspn(s, "\"\\");
		lg_buf_put(b, s, run);
		s += run;
		if (*s) {
			char esc[2] = {'\\', *s++};
			lg_buf_put(b, esc, 2);
		}
	}
	lg_buf_ch(b, '"');
}

void lg_buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

const char *lg_sql(const char *name)
{
	unsigned i;

	for (i = 0; i < sl_ledger_sql_nfiles; i++)
		if (strcmp(sl_ledger_sql_files[i].name, name) == 0)
			return sl_ledger_sql_files[i].text;
	return NULL;
}

/* The first line of libpq's message, without the "ERROR:  " prefix. */
int lg_db_fail(struct sl_ledger *l, PGresult *r, const char *what, struct sl_err *err)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	char line[SL_ERR_MSG_MAX];
	size_t n;

	if (!m || !*m)
		m = PQerrorMessage(l->conn);
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	n = strcspn(m, "\n");
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, m, n);
	line[n] = '\0';
	if (PQstatus(l->conn) == CONNECTION_BAD)
		return sl_err_set(err, SL_EDB, what,
		                  "database connection lost (%s); nothing was committed",
		                  *line ? line : "no message");
	return sl_err_set(err, SL_EDB, what, "%s", *line ? line : "database error");
}

/* Run named statement with text parameters; returns the result (caller PQclear) or NULL with err.
 */
PGresult *lg_run(struct sl_ledger *l, const char *name, int np, const char *const *params,
                 struct sl_err *err)
{
	const char *text = lg_sql(name);
	PGresult *r;
	ExecStatusType st;

	if (!text) {
		sl_err_set(err, SL_EDB, name, "no embedded SQL named %s", name);
		return NULL;
	}
	r = np ? PQexecParams(l->conn, text, np, NULL, params, NULL, NULL, 0)
	       : PQexec(l->conn, text);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		lg_db_fail(l, r, name, err);
		PQclear(r);
		return NULL;
	}
	return r;
}

int lg_run_ok(struct sl_ledger *l, const char *name, int np, const char *const *params,
              struct sl_err *err)
{
	PGresult *r = lg_run(l, name, np, params, err);

	if (!r)
		return err ? err->code : SL_EDB;
	PQclear(r);
	return 0;
}

int lg_exec_plain(struct sl_ledger *l, const char *text, const char *what, struct sl_err *err)
{
	PGresult *r = PQexec(l->conn, text);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = lg_db_fail(l, r, what, err);
	PQclear(r);
	return rc;
}

void lg_rollback(struct sl_ledger *l)
{
	if (PQstatus(l->conn) == CONNECTION_OK && PQtransactionStatus(l->conn) != PQTRANS_IDLE) {
		PGresult *r = PQexec(l->conn, "ROLLBACK");
		PQclear(r);
	}
}

/* A lost connection is re-established on the next call (temporary tables go with it). */
/* Settings of every ledger session. JIT off: the ledger's statements are many and short, and
 * PostgreSQL compiled those it costed high (a decision check over a few hundred rows: 30 ms of
 * compiling for 2 ms of work), whatever they really took. */
static int session_setup(struct sl_ledger *l, struct sl_err *err)
{
	return lg_exec_plain(l, "SET jit = off", "ledger session", err);
}

int lg_ready(struct sl_ledger *l, struct sl_err *err)
{
	if (!l)
		return sl_err_set(err, SL_EINVAL, "ledger", "no ledger handle");
	if (PQstatus(l->conn) != CONNECTION_OK) {
		PQreset(l->conn);
		l->staged = false;
		if (PQstatus(l->conn) != CONNECTION_OK)
			return lg_db_fail(l, NULL, "ledger", err);
		return session_setup(l, err);
	}
	return 0;
}

int lg_commit(struct sl_ledger *l, const char *what, struct sl_err *err)
{
	return lg_exec_plain(l, "COMMIT", what, err);
}

int lg_copy_in(struct sl_ledger *l, const char *stmt, const struct buf *b, struct sl_err *err)
{
	PGresult *r = PQexec(l->conn, stmt);
	size_t off;
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COPY_IN) {
		rc = lg_db_fail(l, r, stmt, err);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	for (off = 0; off < b->len; off += COPY_CHUNK) {
		size_t n = b->len - off < COPY_CHUNK ? b->len - off : COPY_CHUNK;

		if (PQputCopyData(l->conn, b->p + off, (int)n) != 1)
			return lg_db_fail(l, NULL, stmt, err);
	}
	if (PQputCopyEnd(l->conn, NULL) != 1)
		return lg_db_fail(l, NULL, stmt, err);
	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = lg_db_fail(l, r, stmt, err);
		PQclear(r);
	}
	return rc;
}

static int schema_version(struct sl_ledger *l, int *v, struct sl_err *err)
{
	PGresult *r = lg_run(l, "schema_version_exists", 0, NULL, err);
	bool exists;

	if (!r)
		return SL_EDB;
	exists = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	*v = 0;
	if (!exists)
		return 0;
	if (!(r = lg_run(l, "schema_version_get", 0, NULL, err)))
		return SL_EDB;
	*v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static int migration_number(const char *name)
{
	const char *base = name + strlen("migrations/");

	if (strncmp(name, "migrations/", 11) != 0 || !isdigit((unsigned char)*base))
		return -1;
	return atoi(base);
}

int sl_ledger_schema_known(void)
{
	unsigned i;
	int max = 0;

	for (i = 0; i < sl_ledger_sql_nfiles; i++)
		if (migration_number(sl_ledger_sql_files[i].name) > max)
			max = migration_number(sl_ledger_sql_files[i].name);
	return max;
}

/* ---- open, close, migrate ------------------------------------------------------------------- */

static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

struct sl_ledger *sl_ledger_open(const char *dsn, struct sl_err *err)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {dsn, "sluice-ledger", NULL};
	struct sl_ledger *l;
	int v;

	if (!dsn || !*dsn) {
		sl_err_set(err, SL_EINVAL, "ledger", "no database given (--db DSN or SLUICE_DB)");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		sl_err_set(err, SL_ENOMEM, "ledger", "out of memory");
		return NULL;
	}
	l->conn = PQconnectdbParams(keys, vals, 1);
	if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
		if (l->conn)
			lg_db_fail(l, NULL, "ledger", err);
		else
			sl_err_set(err, SL_ENOMEM, "ledger", "out of memory");
		sl_ledger_close(l);
		return NULL;
	}
	/* Library code never prints: server NOTICEs (e.g. "already exists, skipping") are dropped.
	 */
	PQsetNoticeProcessor(l->conn, quiet_notice, NULL);
	if (session_setup(l, err) != 0 || schema_version(l, &v, err) != 0) {
		sl_ledger_close(l);
		return NULL;
	}
	if (v > sl_ledger_schema_known()) {
		sl_err_set(
		    err, SL_ECONFLICT, "ledger",
		    "database schema version %d is newer than this sluice knows (%d): upgrade "
		    "sluice",
		    v, sl_ledger_schema_known());
		sl_ledger_close(l);
		return NULL;
	}
	return l;
}

void sl_ledger_close(struct sl_ledger *l)
{
	if (!l)
		return;
	PQfinish(l->conn);
	free(l);
}

int sl_ledger_migrate(struct sl_ledger *l, int *from, int *to, struct sl_err *err)
{
	unsigned i;
	int v, rc, start;

	if ((rc = lg_ready(l, err)) != 0 || (rc = schema_version(l, &v, err)) != 0)
		return rc;
	start = v;
	if (v > sl_ledger_schema_known())
		return sl_err_set(err, SL_ECONFLICT, "ledger migrate",
		                  "database schema version %d is newer than this sluice knows (%d)",
		                  v, sl_ledger_schema_known());
	for (i = 0; i < sl_ledger_sql_nfiles; i++) {
		int num = migration_number(sl_ledger_sql_files[i].name);
		char nbuf[16];
		const char *p[1] = {nbuf};

		if (num <= v)
			continue;
		snprintf(nbuf, sizeof(nbuf), "%d", num);
		/* Two migrators at once: the second waits, then sees the work done. */
		if ((rc = lg_exec_plain(l, "BEGIN", "ledger migrate", err)) != 0 ||
		    (rc = lg_exec_plain(
		         l, "SELECT pg_advisory_xact_lock(hashtext('sluice.ledger.migrate'))",
		         "ledger migrate", err)) != 0 ||
		    (rc = schema_version(l, &v, err)) != 0)
			goto fail;
		if (num <= v) {
			lg_rollback(l);
			continue;
		}
		if ((rc = lg_run_ok(l, "schema_version_create", 0, NULL, err)) != 0 ||
		    (rc = lg_exec_plain(l, sl_ledger_sql_files[i].text, sl_ledger_sql_files[i].name,
		                        err)) != 0 ||
		    (rc = lg_run_ok(l, "schema_version_add", 1, p, err)) != 0 ||
		    (rc = lg_commit(l, sl_ledger_sql_files[i].name, err)) != 0)
			goto fail;
		v = num;
	}
	if (from)
		*from = start;
	if (to)
		*to = v;
	return 0;
fail:
	lg_rollback(l);
	return rc;
}

/* ---- cursors, id map ------------------------------------------------------------------------ */

static int get_one(struct sl_ledger *l, const char *name, int np, const char *const *params,
                   char *out, size_t n, const char *what, struct sl_err *err)
{
	PGresult *r;
	int rc;

	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	if (!(r = lg_run(l, name, np, params, err)))
		return SL_EDB;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sl_err_set(err, SL_ENOTFOUND, what, "not found");
	}
	if (strlen(PQgetvalue(r, 0, 0)) >= n) {
		PQclear(r);
		return sl_err_set(err, SL_ELIMIT, what, "value longer than the caller's buffer");
	}
	strcpy(out, PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int sl_ledger_cursor_get(struct sl_ledger *l, const char *peer, const char *stream, char *out,
                         size_t n, struct sl_err *err)
{
	const char *p[2] = {peer, stream};

	if (!peer || !stream || !out)
		return sl_err_set(err, SL_EINVAL, "cursor", "no peer or stream");
	return get_one(l, "cursor_get", 2, p, out, n, "cursor", err);
}

int sl_ledger_cursor_set(struct sl_ledger *l, const struct sl_ledger_cursor *c, struct sl_err *err)
{
	const char *p[3];
	int rc;

	if (!c || !c->peer || !c->stream || !c->position)
		return sl_err_set(err, SL_EINVAL, "cursor",
		                  "cursor without peer, stream or position");
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	p[0] = c->peer;
	p[1] = c->stream;
	p[2] = c->position;
	return lg_run_ok(l, "cursor_set", 3, p, err);
}

int sl_ledger_idmap_put(struct sl_ledger *l, const char *peer, const char *foreign_id,
                        const char *stix_id, struct sl_err *err)
{
	const char *p[3] = {peer, foreign_id, stix_id};
	int rc;

	if (!peer || !foreign_id || !*foreign_id || !lg_is_stix_id(stix_id))
		return sl_err_set(err, SL_EINVAL, "idmap",
		                  "need a peer, a foreign id and a STIX id");
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	return lg_run_ok(l, "idmap_put", 3, p, err);
}

int sl_ledger_idmap_to_stix(struct sl_ledger *l, const char *peer, const char *foreign_id,
                            char *out, size_t n, struct sl_err *err)
{
	const char *p[2] = {peer, foreign_id};

	if (!peer || !foreign_id || !out)
		return sl_err_set(err, SL_EINVAL, "idmap", "no peer or id");
	return get_one(l, "idmap_to_stix", 2, p, out, n, "idmap", err);
}

int sl_ledger_idmap_to_foreign(struct sl_ledger *l, const char *peer, const char *stix_id,
                               char *out, size_t n, struct sl_err *err)
{
	const char *p[2] = {peer, stix_id};

	if (!peer || !stix_id || !out)
		return sl_err_set(err, SL_EINVAL, "idmap", "no peer or id");
	return get_one(l, "idmap_to_foreign", 2, p, out, n, "idmap", err);
}

/* ---- reading -------------------------------------------------------------------------------- */

/* A modified timestamp given by a caller, checked and made canonical (NULL stays NULL). */
static int caller_ts(const char *in, char *out, const char **param, const char *what,
                     struct sl_err *err)
{
	char q[80];

	if (!in) {
		*param = NULL;
		return 0;
	}
	if (!lg_stix_ts(in, out))
		return sl_err_set(err, SL_EINVAL, what, "'%s' is not a STIX timestamp",
		                  sl_err_quote(q, sizeof(q), in, 60));
	*param = out;
	return 0;
}

/* The JSON text of one cell (stored by the ledger, so only bounded by its own length). */
static json_t *json_cell(PGresult *r, int row, int col, const char *what, struct sl_err *err)
{
	struct sl_json_limits lim = sl_json_limits_default();

	lim.max_bytes = (size_t)PQgetlength(r, row, col) + 1;
	return sl_json_parse(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), &lim, what,
	                     err);
}

static json_t *json_result(struct sl_ledger *l, const char *name, int np, const char *const *params,
                           const char *what, struct sl_err *err)
{
	PGresult *r;
	json_t *j;

	if (lg_ready(l, err) != 0)
		return NULL;
	if (!(r = lg_run(l, name, np, params, err)))
		return NULL;
	if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
		PQclear(r);
		sl_err_set(err, SL_ENOTFOUND, what, "not in the ledger");
		return NULL;
	}
	j = json_cell(r, 0, 0, what, err);
	PQclear(r);
	return j;
}

json_t *sl_ledger_get(struct sl_ledger *l, const char *id, const char *modified, struct sl_err *err)
{
	char ts[SL_LEDGER_TS_MAX];
	const char *p[2] = {id, NULL};

	if (!id) {
		sl_err_set(err, SL_EINVAL, "get", "no id");
		return NULL;
	}
	if (caller_ts(modified, ts, &p[1], id, err) != 0)
		return NULL;
	return json_result(l, "object_get", 2, p, id, err);
}

static int emit_rows(PGresult *r, int rows, sl_ledger_emit emit, void *arg)
{
	int i, rc;

	for (i = 0; i < rows; i++) {
		struct sl_ledger_version v;

		v.id = PQgetvalue(r, i, 0);
		v.type = PQgetvalue(r, i, 1);
		v.modified = PQgetvalue(r, i, 2);
		v.spec_version = PQgetvalue(r, i, 3);
		v.revoked = PQgetvalue(r, i, 4)[0] == 't';
		v.erased = PQgetvalue(r, i, 5)[0] == 't';
		v.date_added_us = strtoll(PQgetvalue(r, i, 6), NULL, 10);
		v.seq = strtoll(PQgetvalue(r, i, 7), NULL, 10);
		v.json = PQgetvalue(r, i, 8);
		v.json_len = (size_t)PQgetlength(r, i, 8);
		if ((rc = emit(arg, &v)) != 0)
			return rc;
	}
	return 0;
}

int sl_ledger_versions(struct sl_ledger *l, const char *id, sl_ledger_emit emit, void *arg,
                       struct sl_err *err)
{
	const char *p[1] = {id};
	PGresult *r;
	int rc;

	if (!id || !emit)
		return sl_err_set(err, SL_EINVAL, "versions", "no id or emit");
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	if (!(r = lg_run(l, "object_versions", 1, p, err)))
		return SL_EDB;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sl_err_set(err, SL_ENOTFOUND, id, "not in the ledger");
	}
	rc = emit_rows(r, PQntuples(r), emit, arg);
	PQclear(r);
	return rc;
}

int sl_ledger_view_versions(struct sl_ledger *l, const char *destination, const char *id,
                            sl_ledger_emit emit, void *arg, struct sl_err *err)
{
	const char *p[2] = {destination, id};
	PGresult *r;
	int rc;

	if (!destination || !id || !emit)
		return sl_err_set(err, SL_EINVAL, "versions", "no destination, id or emit");
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	if (!(r = lg_run(l, "share_versions", 2, p, err)))
		return SL_EDB;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sl_err_set(err, SL_ENOTFOUND, id, "not in this destination's view");
	}
	rc = emit_rows(r, PQntuples(r), emit, arg);
	PQclear(r);
	return rc;
}

int sl_ledger_page(struct sl_ledger *l, const struct sl_ledger_page_query *q, size_t limit,
                   sl_ledger_emit emit, void *arg, bool *more, struct sl_err *err)
{
	char after_us[24], after_seq[24], lim[24];
	struct buf types = {0};
	const char *p[6];
	PGresult *r;
	size_t i;
	int rc, rows;

	if (!q || !emit || limit == 0 || limit > 100000)
		return sl_err_set(err, SL_EINVAL, "page",
		                  "no query or emit, or limit not in 1..100000");
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	snprintf(after_us, sizeof(after_us), "%" PRId64, q->after_date_added_us);
	snprintf(after_seq, sizeof(after_seq), "%" PRId64, q->after_seq);
	snprintf(lim, sizeof(lim), "%zu", limit + 1);
	if (q->n_types) {
		lg_buf_ch(&types, '{');
		for (i = 0; i < q->n_types; i++)
			lg_buf_arr_elem(&types, q->types[i]);
		lg_buf_ch(&types, '}');
		if (types.oom) {
			lg_buf_free(&types);
			return sl_err_set(err, SL_ENOMEM, "page", "out of memory");
		}
	}
	p[0] = after_us;
	p[1] = after_seq;
	p[2] = q->n_types ? types.p : NULL;
	p[3] = q->latest_only ? "true" : "false";
	p[4] = lim;
	p[5] = q->destination;
	r = q->destination ? lg_run(l, "share_page", 6, p, err)
	                   : lg_run(l, "object_page", 5, p, err);
	lg_buf_free(&types);
	if (!r)
		return SL_EDB;
	rows = PQntuples(r);
	if (more)
		*more = (size_t)rows > limit;
	rc = emit_rows(r, (size_t)rows > limit ? (int)limit : rows, emit, arg);
	PQclear(r);
	return rc;
}

/* ---- correlation ---------------------------------------------------------------------------- */

json_t *sl_ledger_related(struct sl_ledger *l, const char *id, size_t limit, struct sl_err *err)
{
	char lim[24];
	const char *p[2] = {id, lim};

	if (!id || limit == 0) {
		sl_err_set(err, SL_EINVAL, "related", "no id or limit");
		return NULL;
	}
	snprintf(lim, sizeof(lim), "%zu", limit);
	return json_result(l, "related", 2, p, id, err);
}

json_t *sl_ledger_containers_of(struct sl_ledger *l, const char *id, struct sl_err *err)
{
	const char *p[1] = {id};

	if (!id) {
		sl_err_set(err, SL_EINVAL, "containers_of", "no id");
		return NULL;
	}
	return json_result(l, "containers_of", 1, p, id, err);
}

json_t *sl_ledger_sources(struct sl_ledger *l, const char *type, const char *value,
                          struct sl_err *err)
{
	char canon[SL_OBSERVABLE_VALUE_MAX];
	const char *p[2];

	if (!value) {
		sl_err_set(err, SL_EINVAL, "sources", "no value");
		return NULL;
	}
	if (sl_observable_canon(type ? type : sl_observable_guess(value), value, canon,
	                        sizeof(canon), err) != 0)
		return NULL;
	p[0] = type;
	p[1] = canon;
	return json_result(l, "sources", 2, p, "sources", err);
}

/* ---- outbox --------------------------------------------------------------------------------- */

static const char *action_name(enum sl_ledger_action a)
{
	return a == SL_LEDGER_REVOKE ? "revoke" : a == SL_LEDGER_DELIVER ? "deliver" : NULL;
}

int sl_ledger_outbox_enqueue(struct sl_ledger *l, const char *destination,
                             const struct sl_ledger_ref *refs, size_t n,
                             enum sl_ledger_action action, struct sl_err *err)
{
	struct buf ids = {0}, mods = {0};
	char ts[SL_LEDGER_TS_MAX];
	const char *p[4];
	PGresult *r;
	size_t i;
	int rc = 0;

	if (!destination || !*destination || !action_name(action) || (n && !refs))
		return sl_err_set(err, SL_EINVAL, "outbox", "no destination, refs or action");
	if (n == 0)
		return 0;
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	lg_buf_ch(&ids, '{');
	lg_buf_ch(&mods, '{');
	for (i = 0; i < n; i++) {
		const char *m;

		if (!refs[i].id)
			rc = sl_err_set(err, SL_EINVAL, destination, "ref %zu has no id", i);
		else if (caller_ts(refs[i].modified, ts, &m, refs[i].id, err) != 0)
			rc = SL_EINVAL;
		if (rc)
			goto out;
		lg_buf_arr_elem(&ids, refs[i].id);
		lg_buf_arr_elem(&mods, m);
	}
	lg_buf_ch(&ids, '}');
	lg_buf_ch(&mods, '}');
	if (ids.oom || mods.oom) {
		rc = sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
		goto out;
	}
	p[0] = ids.p;
	if (!(r = lg_run(l, "outbox_unknown", 1, p, err))) {
		rc = SL_EDB;
		goto out;
	}
	if (PQntuples(r) > 0) {
		rc = sl_err_set(err, SL_ENOTFOUND, destination, "%s is not in the ledger",
		                PQgetvalue(r, 0, 0));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	p[0] = destination;
	p[1] = ids.p;
	p[2] = mods.p;
	p[3] = action_name(action);
	rc = lg_run_ok(l, "outbox_enqueue", 4, p, err);
out:
	lg_buf_free(&ids);
	lg_buf_free(&mods);
	return rc;
}

/* A claim; with payloads non-NULL, also what to send for each row (parsed, or NULL). */
static int claim(struct sl_ledger *l, const char *destination, size_t max, int lease_s,
                 struct sl_ledger_work *out, json_t **payloads, size_t *n, struct sl_err *err)
{
	char lim[24], lease[24];
	const char *p[3] = {destination, lim, lease};
	PGresult *r;
	int rc, i, rows;

	if (!out || !n || max == 0 || lease_s <= 0)
		return sl_err_set(err, SL_EINVAL, "outbox",
		                  "claim needs room, a count and a lease");
	*n = 0;
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	snprintf(lim, sizeof(lim), "%zu", max);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	/* The claim must walk outbox_due in order and stop at max rows. Before autovacuum has
	 * analyzed a freshly filled outbox, PostgreSQL took a destination's open rows for a handful
	 * and read and sorted all of them (70,000 behind a large sync) for every claim of 500. */
	if ((rc = lg_exec_plain(l,
	                        "BEGIN; SET LOCAL enable_bitmapscan = off; "
	                        "SET LOCAL enable_sort = off",
	                        "outbox claim", err)) != 0)
		return rc;
	if (!(r = lg_run(l, "outbox_claim", 3, p, err))) {
		lg_rollback(l);
		return SL_EDB;
	}
	if ((rc = lg_commit(l, "outbox claim", err)) != 0) {
		PQclear(r);
		lg_rollback(l);
		return rc;
	}
	rows = PQntuples(r);
	for (i = 0; i < rows && (size_t)i < max; i++) {
		struct sl_ledger_work *w = &out[i];

		w->outbox_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		snprintf(w->destination, sizeof(w->destination), "%s", PQgetvalue(r, i, 1));
		snprintf(w->id, sizeof(w->id), "%s", PQgetvalue(r, i, 2));
		snprintf(w->modified, sizeof(w->modified), "%s", PQgetvalue(r, i, 3));
		w->action = strcmp(PQgetvalue(r, i, 4), "revoke") == 0 ? SL_LEDGER_REVOKE
		                                                       : SL_LEDGER_DELIVER;
		w->attempts = atoi(PQgetvalue(r, i, 5));
		if (payloads) {
			struct sl_err e2 = {0};
			payloads[i] = PQgetisnull(r, i, 6) ? NULL : json_cell(r, i, 6, w->id, &e2);
		}
	}
	*n = (size_t)i;
	PQclear(r);
	return 0;
}

int sl_ledger_outbox_claim(struct sl_ledger *l, const char *destination, size_t max, int lease_s,
                           struct sl_ledger_work *out, size_t *n, struct sl_err *err)
{
	return claim(l, destination, max, lease_s, out, NULL, n, err);
}

int sl_ledger_outbox_claim_payloads(struct sl_ledger *l, const char *destination, size_t max,
                                    int lease_s, struct sl_ledger_work *out, json_t **payloads,
                                    size_t *n, struct sl_err *err)
{
	if (!payloads)
		return sl_err_set(err, SL_EINVAL, "outbox", "claim needs room for the payloads");
	return claim(l, destination, max, lease_s, out, payloads, n, err);
}

/* Run statement name with ids[0..n) (n > 0) as its last text[] parameter, after first (NULL: it
 * has only that one). */
static PGresult *run_ids_after(struct sl_ledger *l, const char *name, const char *first,
                               const char *const *ids, size_t n, struct sl_err *err)
{
	struct buf a = {0};
	const char *p[2] = {first, NULL};
	PGresult *r = NULL;
	size_t i;

	lg_buf_ch(&a, '{');
	for (i = 0; i < n; i++)
		lg_buf_arr_elem(&a, ids[i]);
	lg_buf_ch(&a, '}');
	p[first ? 1 : 0] = a.p;
	if (a.oom)
		sl_err_set(err, SL_ENOMEM, name, "out of memory");
	else if (lg_ready(l, err) == 0)
		r = lg_run(l, name, first ? 2 : 1, p, err);
	lg_buf_free(&a);
	return r;
}

static PGresult *run_ids(struct sl_ledger *l, const char *name, const char *const *ids, size_t n,
                         struct sl_err *err)
{
	return run_ids_after(l, name, NULL, ids, n, err);
}

/* A new object of the rows of r: column 0 -> column 1 (a string), or -> true when r has one. */
static json_t *ids_result(PGresult *r, struct sl_err *err)
{
	json_t *out = json_object();
	int k;

	if (!out)
		return sl_err_set(err, SL_ENOMEM, "ledger", "out of memory"), NULL;
	for (k = 0; k < PQntuples(r); k++)
		json_object_set_new(out, PQgetvalue(r, k, 0),
		                    PQnfields(r) > 1 ? json_string(PQgetvalue(r, k, 1)) : json_true());
	return out;
}

json_t *sl_ledger_idmap_to_stix_many(struct sl_ledger *l, const char *peer,
                                     const char *const *foreign_ids, size_t n, struct sl_err *err)
{
	PGresult *r;
	json_t *out;

	if (!peer || (n && !foreign_ids))
		return sl_err_set(err, SL_EINVAL, "idmap", "no peer or ids"), NULL;
	if (n == 0)
		return json_object();
	if (!(r = run_ids_after(l, "idmap_to_stix_many", peer, foreign_ids, n, err)))
		return NULL;
	out = ids_result(r, err);
	PQclear(r);
	return out;
}

/* MISP's "modified" of a sharing group ("2024-01-02 03:04:05", UTC) as a timestamptz literal in
 * out (32 bytes); false when it is missing or not that. */
static bool sg_modified(const json_t *sg, char *out)
{
	const char *s = json_string_value(json_object_get(sg, "modified"));
	int y, mo, d, h, mi, se, n = 0;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
	    n != 19 || s[n] || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 60)
		return false;
	snprintf(out, 32, "%04d-%02d-%02d %02d:%02d:%02d+00", y, mo, d, h, mi, se);
	return true;
}

int sl_ledger_sharing_groups_put(struct sl_ledger *l, const char *peer, const json_t *groups,
                                 struct sl_err *err)
{
	const char *uuid;
	json_t *sg;
	int rc;

	if (!peer)
		return sl_err_set(err, SL_EINVAL, "sharing groups", "no peer");
	if (!json_object_size(groups))
		return 0;
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	json_object_foreach((json_t *)groups, uuid, sg)
	{
		char mod[32];
		char *text;
		const char *p[4];
		if (!json_is_object(sg))
			continue;
		if (!(text = json_dumps(sg, JSON_COMPACT)))
			return sl_err_set(err, SL_ENOMEM, "sharing groups", "out of memory");
		p[0] = uuid;
		p[1] = text;
		p[2] = sg_modified(sg, mod) ? mod : NULL;
		p[3] = peer;
		rc = lg_run_ok(l, "sharing_group_put", 4, p, err);
		free(text);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* run_ids(name), then a new object of its rows: column 0 -> the JSON of column 1. strict: a cell
 * that is not JSON fails the call (err names it); else that row is left out. */
static json_t *run_ids_json(struct sl_ledger *l, const char *name, const char *what,
                            const char *const *ids, size_t n, bool strict, struct sl_err *err)
{
	json_t *out;
	PGresult *r;
	int k;

	if (n && !ids)
		return sl_err_set(err, SL_EINVAL, what, "no ids"), NULL;
	if (!(out = json_object()))
		return sl_err_set(err, SL_ENOMEM, what, "out of memory"), NULL;
	if (n == 0)
		return out;
	if (!(r = run_ids(l, name, ids, n, err))) {
		json_decref(out);
		return NULL;
	}
	for (k = 0; k < PQntuples(r); k++) {
		struct sl_err e2 = {0};
		json_t *o = json_cell(r, k, 1, PQgetvalue(r, k, 0), strict ? err : &e2);
		if (!o && !strict)
			continue;
		if (!o || json_object_set_new(out, PQgetvalue(r, k, 0), o) != 0) {
			PQclear(r);
			json_decref(out);
			if (o)
				sl_err_set(err, SL_ENOMEM, what, "out of memory");
			return NULL;
		}
	}
	PQclear(r);
	return out;
}

json_t *sl_ledger_sharing_groups_get(struct sl_ledger *l, const char *const *uuids, size_t n,
                                     struct sl_err *err)
{
	return run_ids_json(l, "sharing_groups_get", "sharing groups", uuids, n, true, err);
}

/* Note in want the group o names, unless skip holds it. false when out of memory. */
static bool sg_want(json_t *want, const json_t *o, const json_t *skip)
{
	const char *u = json_string_value(json_object_get(o, "x_misp_sharing_group_uuid"));

	return !u || json_object_get(skip, u) || json_object_set_new(want, u, json_true()) == 0;
}

json_t *sl_ledger_sharing_groups_named(struct sl_ledger *l, const json_t *objs, const json_t *also,
                                       const json_t *skip, struct sl_err *err)
{
	json_t *want = json_object(), *out = NULL, *o;
	const char **uuids = NULL, *k;
	bool ok = want != NULL;
	size_t i, n = 0;

	if (json_is_array(objs)) {
		json_array_foreach(objs, i, o) ok = ok && sg_want(want, o, skip);
	} else if (json_is_object(objs)) {
		json_object_foreach((json_t *)objs, k, o) ok = ok && sg_want(want, o, skip);
	}
	ok = ok && (!also || sg_want(want, also, skip));
	if (ok && (uuids = malloc((json_object_size(want) + 1) * sizeof(*uuids))) != NULL) {
		json_object_foreach(want, k, o) uuids[n++] = k;
		out = sl_ledger_sharing_groups_get(l, uuids, n, err);
	} else {
		sl_err_set(err, SL_ENOMEM, "sharing groups", "out of memory");
	}
	free(uuids);
	json_decref(want);
	return out;
}

json_t *sl_ledger_known(struct sl_ledger *l, const char *const *ids, size_t n, struct sl_err *err)
{
	PGresult *r;
	json_t *out;

	if (n && !ids)
		return sl_err_set(err, SL_EINVAL, "ledger", "no ids"), NULL;
	if (n == 0)
		return json_object();
	if (!(r = run_ids(l, "objects_known", ids, n, err)))
		return NULL;
	out = ids_result(r, err);
	PQclear(r);
	return out;
}

json_t *sl_ledger_outbox_newest(struct sl_ledger *l, const char *const *ids, size_t n,
                                struct sl_err *err)
{
	return run_ids_json(l, "outbox_newest", "outbox", ids, n, false, err);
}

/* One row: the same statement as a batch. */
static int settle(struct sl_ledger *l, int64_t id, enum sl_ledger_settle_state state,
                  const char *msg, int retry_s, struct sl_err *err)
{
	struct sl_ledger_settle r = {id, state, msg, retry_s};

	return sl_ledger_outbox_settle_many(l, &r, 1, err);
}

int sl_ledger_outbox_sent(struct sl_ledger *l, int64_t outbox_id, struct sl_err *err)
{
	return settle(l, outbox_id, SL_LEDGER_SETTLE_SENT, NULL, 0, err);
}

int sl_ledger_outbox_failed(struct sl_ledger *l, int64_t outbox_id, const char *msg,
                            int retry_after_s, struct sl_err *err)
{
	return settle(l, outbox_id, SL_LEDGER_SETTLE_FAILED, msg, retry_after_s, err);
}

int sl_ledger_outbox_parked(struct sl_ledger *l, int64_t outbox_id, const char *msg,
                            struct sl_err *err)
{
	return settle(l, outbox_id, SL_LEDGER_SETTLE_PARKED, msg, 0, err);
}

int sl_ledger_outbox_blocked(struct sl_ledger *l, int64_t outbox_id, const char *rule,
                             struct sl_err *err)
{
	return settle(l, outbox_id, SL_LEDGER_SETTLE_BLOCKED, rule, 0, err);
}

/* n PostgreSQL array literals built side by side, one element per row (statements take a batch
 * as parallel arrays): open them, append with lg_buf_arr_elem, close them (p[k] then points at
 * array k's text; false when one ran out of memory), free them. */
static void arrays_open(struct buf *a, size_t n)
{
	size_t k;

	memset(a, 0, n * sizeof(*a));
	for (k = 0; k < n; k++)
		lg_buf_ch(&a[k], '{');
}

static bool arrays_close(struct buf *a, size_t n, const char **p)
{
	bool ok = true;
	size_t k;

	for (k = 0; k < n; k++) {
		lg_buf_ch(&a[k], '}');
		p[k] = a[k].p;
		ok = ok && !a[k].oom;
	}
	return ok;
}

static void arrays_free(struct buf *a, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		lg_buf_free(&a[k]);
}

int sl_ledger_outbox_settle_many(struct sl_ledger *l, const struct sl_ledger_settle *rows, size_t n,
                                 struct sl_err *err)
{
	static const char *const states[] = {"sent", "failed", "parked", "blocked"};
	struct buf a[4];
	const char *p[4];
	char num[24];
	PGresult *r;
	size_t i, found;
	int rc = 0;

	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "outbox", "no rows to settle");
	if (n == 0)
		return 0;
	arrays_open(a, 4);
	for (i = 0; i < n; i++) {
		if ((unsigned)rows[i].state > SL_LEDGER_SETTLE_BLOCKED) {
			rc = sl_err_set(err, SL_EINVAL, "outbox", "settle row %zu has no state", i);
			goto out;
		}
		snprintf(num, sizeof(num), "%" PRId64, rows[i].outbox_id);
		lg_buf_arr_elem(&a[0], num);
		lg_buf_arr_elem(&a[1], states[rows[i].state]);
		lg_buf_arr_elem(&a[2], rows[i].msg);
		snprintf(num, sizeof(num), "%d",
		         rows[i].retry_after_s < 0 ? 0 : rows[i].retry_after_s);
		lg_buf_arr_elem(&a[3], num);
	}
	if (!arrays_close(a, 4, p)) {
		rc = sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
		goto out;
	}
	if ((rc = lg_ready(l, err)) != 0)
		goto out;
	if (!(r = lg_run(l, "outbox_settle_many", 4, p, err))) {
		rc = SL_EDB;
		goto out;
	}
	found = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (found < n)
		rc = sl_err_set(err, SL_ENOTFOUND, "outbox", "%zu of %zu outbox rows were gone",
		                n - found, n);
out:
	arrays_free(a, 4);
	return rc;
}

int sl_ledger_outbox_renew(struct sl_ledger *l, const int64_t *outbox_ids, size_t n, int lease_s,
                           size_t *renewed, struct sl_err *err)
{
	struct buf a[1];
	const char *p[2];
	char num[24], lease[16];
	PGresult *r;
	size_t i;
	int rc = 0;

	if (renewed)
		*renewed = 0;
	if (n == 0)
		return 0;
	if (!outbox_ids || lease_s <= 0)
		return sl_err_set(err, SL_EINVAL, "outbox", "no rows or no lease to renew");
	arrays_open(a, 1);
	for (i = 0; i < n; i++) {
		snprintf(num, sizeof(num), "%" PRId64, outbox_ids[i]);
		lg_buf_arr_elem(&a[0], num);
	}
	if (!arrays_close(a, 1, p)) {
		rc = sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
		goto out;
	}
	snprintf(lease, sizeof(lease), "%d", lease_s);
	p[1] = lease;
	if ((rc = lg_ready(l, err)) != 0)
		goto out;
	if (!(r = lg_run(l, "outbox_renew", 2, p, err))) {
		rc = SL_EDB;
		goto out;
	}
	if (renewed)
		*renewed = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
out:
	arrays_free(a, 1);
	return rc;
}

int sl_ledger_outbox_sent_with(struct sl_ledger *l, const char *destination, const char *const *ids,
                               const char *const *modified, size_t n, size_t *settled,
                               struct sl_err *err)
{
	struct buf a[2];
	const char *p[3];
	char ts[SL_LEDGER_TS_MAX];
	PGresult *r;
	size_t i;
	int rc = 0;

	if (settled)
		*settled = 0;
	if (!destination || (n && (!ids || !modified)))
		return sl_err_set(err, SL_EINVAL, "outbox", "no destination or versions");
	if (n == 0)
		return 0;
	arrays_open(a, 2);
	for (i = 0; i < n; i++) {
		if (!ids[i] || !modified[i] || !lg_stix_ts(modified[i], ts))
			continue; /* not a version the ledger could hold: nothing to settle */
		lg_buf_arr_elem(&a[0], ids[i]);
		lg_buf_arr_elem(&a[1], ts);
	}
	p[0] = destination;
	if (!arrays_close(a, 2, p + 1)) {
		rc = sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
		goto out;
	}
	if ((rc = lg_ready(l, err)) != 0)
		goto out;
	if (!(r = lg_run(l, "outbox_sent_with", 3, p, err))) {
		rc = SL_EDB;
		goto out;
	}
	if (settled)
		*settled = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
out:
	arrays_free(a, 2);
	return rc;
}

json_t *sl_ledger_outbox_containers(struct sl_ledger *l, const char *const *ids, size_t n,
                                    struct sl_err *err)
{
	json_t *out, *arr;
	PGresult *r;
	int k;

	if (n && !ids)
		return sl_err_set(err, SL_EINVAL, "outbox", "no ids"), NULL;
	if (!(out = json_object()))
		return sl_err_set(err, SL_ENOMEM, "outbox", "out of memory"), NULL;
	if (n == 0)
		return out;
	if (!(r = run_ids(l, "outbox_containers", ids, n, err))) {
		json_decref(out);
		return NULL;
	}
	for (k = 0; k < PQntuples(r); k++) {
		const char *ref = PQgetvalue(r, k, 0);
		if (!(arr = json_object_get(out, ref))) {
			arr = json_array();
			if (!arr || json_object_set_new(out, ref, arr) != 0)
				continue;
		}
		json_array_append_new(arr, json_string(PQgetvalue(r, k, 1)));
	}
	PQclear(r);
	return out;
}

int sl_ledger_outbox_depth(struct sl_ledger *l, struct sl_ledger_depth **out, size_t *n,
                           struct sl_err *err)
{
	struct sl_ledger_depth *d = NULL;
	PGresult *r;
	int rc, i, rows;

	if (!out || !n)
		return sl_err_set(err, SL_EINVAL, "outbox depth", "no output");
	*out = NULL;
	*n = 0;
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	if (!(r = lg_run(l, "outbox_depth", 0, NULL, err)))
		return SL_EDB;
	rows = PQntuples(r);
	if (rows > 0 && !(d = calloc((size_t)rows, sizeof(*d)))) {
		PQclear(r);
		return sl_err_set(err, SL_ENOMEM, "outbox depth", "out of memory");
	}
	for (i = 0; i < rows; i++) {
		snprintf(d[i].destination, sizeof(d[i].destination), "%s", PQgetvalue(r, i, 0));
		d[i].pending = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		d[i].failed = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		d[i].parked = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		d[i].blocked = strtoll(PQgetvalue(r, i, 4), NULL, 10);
		d[i].oldest_pending_s = -1;
		if (!PQgetisnull(r, i, 5)) {
			long long age = strtoll(PQgetvalue(r, i, 5), NULL, 10);

			d[i].oldest_pending_s = age > 0 ? age : 0; /* the clock may step back */
		}
	}
	PQclear(r);
	*out = d;
	*n = (size_t)rows;
	return 0;
}

void sl_ledger_outbox_depth_free(struct sl_ledger_depth *d)
{
	free(d);
}

/* ---- audit ---------------------------------------------------------------------------------- */

static const char *decision_name(enum sl_ledger_decision d)
{
	switch (d) {
	case SL_LEDGER_ALLOW:
		return "allow";
	case SL_LEDGER_ALLOW_WITH_CHANGES:
		return "allow-with-changes";
	case SL_LEDGER_DENY:
		return "deny";
	case SL_LEDGER_ERASE:
		return "erase";
	}
	return NULL;
}

/* The seven parameter arrays of audit_append for rows (p points into a; the caller frees a). */
static int audit_params(const struct sl_ledger_audit *rows, size_t n, struct buf a[7],
                        const char *p[7], struct sl_err *err)
{
	char ts[SL_LEDGER_TS_MAX];
	size_t i;
	int rc = 0;

	arrays_open(a, 7);
	for (i = 0; i < n && rc == 0; i++) {
		const struct sl_ledger_audit *r = &rows[i];
		const char *m = NULL;
		char *changes = NULL;

		if (!r->id || !decision_name(r->decision)) {
			rc =
			    sl_err_set(err, SL_EINVAL, "audit", "row %zu has no id or decision", i);
			break;
		}
		if (caller_ts(r->modified, ts, &m, r->id, err) != 0) {
			rc = SL_EINVAL;
			break;
		}
		if (r->changes && !(changes = json_dumps(r->changes, JSON_COMPACT | JSON_SORT_KEYS |
		                                                         JSON_ENCODE_ANY))) {
			rc = sl_err_set(err, SL_ENOMEM, "audit", "out of memory");
			break;
		}
		lg_buf_arr_elem(&a[0], r->id);
		lg_buf_arr_elem(&a[1], m);
		lg_buf_arr_elem(&a[2], r->destination);
		lg_buf_arr_elem(&a[3], decision_name(r->decision));
		lg_buf_arr_elem(&a[4], r->rule);
		lg_buf_arr_elem(&a[5], changes);
		lg_buf_arr_elem(&a[6], r->result);
		free(changes);
	}
	if (!arrays_close(a, 7, p) && rc == 0)
		rc = sl_err_set(err, SL_ENOMEM, "audit", "out of memory");
	return rc;
}

int sl_ledger_audit_append(struct sl_ledger *l, const struct sl_ledger_audit *rows, size_t n,
                           struct sl_err *err)
{
	struct buf a[7];
	const char *p[7];
	int rc = 0;

	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "audit", "no rows");
	if (n == 0)
		return 0;
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	rc = audit_params(rows, n, a, p, err);
	if (rc == 0)
		rc = lg_run_ok(l, "audit_append", 7, p, err);
	arrays_free(a, 7);
	return rc;
}

json_t *sl_ledger_audit_list(struct sl_ledger *l, const char *destination, const char *since,
                             size_t limit, struct sl_err *err)
{
	char lim[24];
	const char *p[3] = {destination, since, lim};

	snprintf(lim, sizeof(lim), "%zu", limit ? limit : 1000);
	return json_result(l, "audit_list", 3, p, "audit", err);
}

/* ---- erasure -------------------------------------------------------------------------------- */

int sl_ledger_erase(struct sl_ledger *l, const char *subject, const unsigned char *key,
                    size_t keylen, struct sl_ledger_erase_result *res, struct sl_err *err)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	char machex[2 * EVP_MAX_MD_SIZE + 1], canon[SL_OBSERVABLE_VALUE_MAX];
	const char *p[2];
	PGresult *r;
	bool by_id;
	int rc, i, rows;

	if (res)
		memset(res, 0, sizeof(*res));
	if (!subject || !*subject || !key || keylen == 0)
		return sl_err_set(err, SL_EINVAL, "erase", "need a subject and a key");
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)subject, strlen(subject),
	          mac, &maclen))
		return sl_err_set(err, SL_EINVAL, "erase", "cannot compute the keyed hash");
	lg_hex(mac, maclen, machex);
	by_id = lg_is_stix_id(subject);
	if (by_id || sl_observable_canon(sl_observable_guess(subject), subject, canon,
	                                 sizeof(canon), NULL) != 0)
		snprintf(canon, sizeof(canon), "%s", subject);
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	p[0] = subject;
	p[1] = canon;
	/* ingests wait while we erase: none adds a version holding the subject after we looked,
	 * and none counts on provenance rows we are adding (repeats are COPYed when known new) */
	if ((rc = lg_exec_plain(l, "BEGIN", "erase", err)) != 0 ||
	    (rc = lg_run_ok(l, "ingest_lock", 0, NULL, err)) != 0 ||
	    (rc = lg_run_ok(l, "erase_set_create", 0, NULL, err)) != 0 ||
	    (rc = by_id ? lg_run_ok(l, "erase_select_id", 1, p, err)
	                : lg_run_ok(l, "erase_select_value", 2, p, err)) != 0 ||
	    (rc = lg_run_ok(l, "erase_provenance", 0, NULL, err)) != 0 ||
	    (rc = lg_run_ok(l, "erase_tombstone", 0, NULL, err)) != 0 ||
	    (rc = lg_run_ok(l, "erase_observables", 1, &p[1], err)) != 0 ||
	    (rc = lg_run_ok(l, "erase_quarantine", 2, p, err)) != 0 ||
	    (rc = lg_run_ok(l, "erase_cancel", 0, NULL, err)) != 0)
		goto fail;
	p[0] = machex;
	if (!(r = lg_run(l, "erase_revoke_audit", 1, p, err))) {
		rc = SL_EDB;
		goto fail;
	}
	rows = PQntuples(r);
	for (i = 0; i < rows && res; i++) {
		if (PQgetisnull(r, i, 0))
			res->versions++;
		else
			res->revokes++;
	}
	PQclear(r);
	if (!(r = lg_run(l, "erase_shares", 1, p, err))) {
		rc = SL_EDB;
		goto fail;
	}
	if (res)
		res->withdrawn = (size_t)PQntuples(r);
	PQclear(r);
	if ((rc = lg_commit(l, "erase", err)) != 0)
		goto fail;
	return 0;
fail:
	lg_rollback(l);
	if (res)
		memset(res, 0, sizeof(*res));
	return rc;
}

/* ---- stats ---------------------------------------------------------------------------------- */

int sl_ledger_stats(struct sl_ledger *l, struct sl_ledger_stats *out, struct sl_err *err)
{
	PGresult *r;
	int rc;

	if (!out)
		return sl_err_set(err, SL_EINVAL, "stats", "no output");
	memset(out, 0, sizeof(*out));
	if ((rc = lg_ready(l, err)) != 0 ||
	    (rc = schema_version(l, &out->schema_version, err)) != 0)
		return rc;
	if (out->schema_version == 0)
		return sl_err_set(err, SL_ENOTFOUND, "stats",
		                  "the database has no ledger schema: run 'sluice ledger migrate'");
	if (!(r = lg_run(l, "stats", 0, NULL, err)))
		return SL_EDB;
	out->objects = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->versions = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	out->provenance = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	out->observables = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	out->quarantined = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	out->outbox_pending = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
	out->audit = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
	out->cursors = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
	PQclear(r);
	return 0;
}

/* ---- policy decisions ----------------------------------------------------------------------- */

#define SHARE_SLICE 8192u /* rows per statement of sl_ledger_share_record */

/* One slice of sl_ledger_share_record, inside its transaction. */
static int share_slice(struct sl_ledger *l, struct sl_ledger_share *rows, size_t n, size_t *n_new,
                       struct sl_err *err)
{
	struct buf d = {0}, ids = {0}, mods = {0}, a[7], o[6], v[5];
	const char *p[7];
	char(*ts)[SL_LEDGER_TS_MAX] = NULL;
	PGresult *r;
	size_t i, k, fresh = 0, queued = 0, viewed = 0;
	int rc = 0;

	if (n_new)
		*n_new = 0;
	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "share", "no rows");
	if (n == 0)
		return 0;
	memset(a, 0, sizeof(a));
	memset(o, 0, sizeof(o));
	memset(v, 0, sizeof(v));
	if (!(ts = calloc(n, sizeof(*ts))))
		return sl_err_set(err, SL_ENOMEM, "share", "out of memory");
	lg_buf_ch(&d, '{');
	lg_buf_ch(&ids, '{');
	lg_buf_ch(&mods, '{');
	for (i = 0; i < n; i++) {
		const char *m;

		rows[i].recorded = false;
		if (!rows[i].destination || !rows[i].id || !rows[i].modified ||
		    !decision_name(rows[i].decision) || rows[i].decision == SL_LEDGER_ERASE) {
			rc = sl_err_set(err, SL_EINVAL, "share",
			                "row %zu lacks destination, id, modified or a decision", i);
			goto out;
		}
		if ((rc = caller_ts(rows[i].modified, ts[i], &m, rows[i].id, err)) != 0)
			goto out;
		lg_buf_arr_elem(&d, rows[i].destination);
		lg_buf_arr_elem(&ids, rows[i].id);
		lg_buf_arr_elem(&mods, m);
	}
	lg_buf_ch(&d, '}');
	lg_buf_ch(&ids, '}');
	lg_buf_ch(&mods, '}');
	p[0] = d.p;
	p[1] = ids.p;
	p[2] = mods.p;
	if (d.oom || ids.oom || mods.oom) {
		rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
		goto out;
	}
	if (!(r = lg_run(l, "share_recorded", 3, p, err))) {
		rc = SL_EDB;
		goto out;
	}
	for (i = 0; i < n; i++)
		rows[i].recorded = true;
	for (k = 0; k < (size_t)PQntuples(r); k++) {
		long ord = strtol(PQgetvalue(r, (int)k, 0), NULL, 10);

		if (ord >= 1 && (size_t)ord <= n)
			rows[ord - 1].recorded = false;
	}
	PQclear(r);
	arrays_open(a, 7);
	arrays_open(o, 6);
	arrays_open(v, 5);
	for (i = 0; i < n; i++) {
		struct sl_ledger_share *s = &rows[i];
		char *changes = NULL, *payload = NULL;
		bool deny = s->decision == SL_LEDGER_DENY;

		if (!s->recorded)
			continue;
		fresh++;
		if (s->changes)
			changes =
			    json_dumps(s->changes, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		lg_buf_arr_elem(&a[0], s->id);
		lg_buf_arr_elem(&a[1], ts[i]);
		lg_buf_arr_elem(&a[2], s->destination);
		lg_buf_arr_elem(&a[3], decision_name(s->decision));
		lg_buf_arr_elem(&a[4], s->rule);
		lg_buf_arr_elem(&a[5], changes);
		lg_buf_arr_elem(&a[6], s->deliver ? (deny ? "blocked" : "queued") : "pull");
		free(changes);
		if (!s->deliver) {
			/* A pull destination: what it may see joins its view. */
			const char *type = json_string_value(json_object_get(s->obj, "type"));
			if (deny || !s->obj || !type)
				continue;
			if (!s->payload &&
			    !(payload = json_dumps(s->obj, JSON_COMPACT | JSON_SORT_KEYS))) {
				rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
				goto out;
			}
			lg_buf_arr_elem(&v[0], s->destination);
			lg_buf_arr_elem(&v[1], s->id);
			lg_buf_arr_elem(&v[2], ts[i]);
			lg_buf_arr_elem(&v[3], type);
			lg_buf_arr_elem(&v[4], s->payload ? s->payload : payload);
			free(payload);
			viewed++;
			continue;
		}
		/* an allowed version goes as stored: only a changed one needs its own payload */
		if (s->decision == SL_LEDGER_ALLOW_WITH_CHANGES && s->obj && !s->payload)
			payload = json_dumps(s->obj, JSON_COMPACT | JSON_SORT_KEYS);
		lg_buf_arr_elem(&o[0], s->destination);
		lg_buf_arr_elem(&o[1], s->id);
		lg_buf_arr_elem(&o[2], ts[i]);
		lg_buf_arr_elem(&o[3], deny ? "blocked" : "pending");
		lg_buf_arr_elem(&o[4], s->decision == SL_LEDGER_ALLOW_WITH_CHANGES && s->obj &&
		                               s->payload
		                           ? s->payload
		                           : payload);
		lg_buf_arr_elem(&o[5], deny ? (s->rule ? s->rule : "denied by policy") : NULL);
		free(payload);
		queued++;
	}
	if (!arrays_close(a, 7, p)) {
		rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
		goto out;
	}
	if (fresh && (rc = lg_run_ok(l, "audit_append", 7, p, err)) != 0)
		goto out;
	if (!arrays_close(o, 6, p)) {
		rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
		goto out;
	}
	if (queued && (rc = lg_run_ok(l, "outbox_share", 6, p, err)) != 0)
		goto out;
	if (!arrays_close(v, 5, p)) {
		rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
		goto out;
	}
	if (viewed && ((rc = lg_run_ok(l, "share_lock", 0, NULL, err)) != 0 ||
	               (rc = lg_run_ok(l, "share_view_insert", 5, p, err)) != 0))
		goto out;
	if (rc == 0 && n_new)
		*n_new = fresh;
out:
	lg_buf_free(&d);
	lg_buf_free(&ids);
	lg_buf_free(&mods);
	arrays_free(a, 7);
	arrays_free(o, 6);
	arrays_free(v, 5);
	free(ts);
	return rc;
}

int sl_ledger_share_record(struct sl_ledger *l, struct sl_ledger_share *rows, size_t n,
                           size_t *n_new, struct sl_err *err)
{
	size_t off, fresh = 0, i;
	int rc;

	if (n_new)
		*n_new = 0;
	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "share", "no rows");
	if (n == 0)
		return 0;
	/* Whether a decision is recorded is a few index probes per row (audit, objects,
	 * provenance_extra by version). Right after a bulk load, before autovacuum has analyzed the
	 * tables, PostgreSQL took them for small and scanned one of them whole per row, or hashed
	 * it whole per call: 30 to 250 us a decision instead of 5. Sequential scans are off for
	 * this transaction, whose other statements are inserts. */
	if ((rc = lg_ready(l, err)) != 0 ||
	    (rc = lg_exec_plain(l, "BEGIN; SET LOCAL enable_seqscan = off", "share", err)) != 0)
		return rc;
	/* In slices, one transaction: the arrays sent for a 10,000-attribute event decided for
	 * several destinations (100,000s of rows) would otherwise be held all at once. */
	for (off = 0; rc == 0 && off < n; off += SHARE_SLICE) {
		size_t cnt = n - off < SHARE_SLICE ? n - off : SHARE_SLICE, got = 0;
		rc = share_slice(l, rows + off, cnt, &got, err);
		fresh += got;
	}
	if (rc == 0)
		rc = lg_commit(l, "share", err);
	if (rc != 0) {
		lg_rollback(l);
		for (i = 0; i < n; i++)
			rows[i].recorded = false;
		return rc;
	}
	if (n_new)
		*n_new = fresh;
	return 0;
}

/* ---- a side connection for long-running servers: notifications, audit off the request path ----
 */

struct sl_ledger *sl_ledger_open_sibling(struct sl_ledger *l, struct sl_err *err)
{
	PQconninfoOption *opts, *o;
	const char *keys[64], *vals[64];
	struct sl_ledger *s;
	int k = 0;

	if (!l || !l->conn)
		return sl_err_set(err, SL_EINVAL, "ledger", "no ledger handle"), NULL;
	if (!(opts = PQconninfo(l->conn)))
		return sl_err_set(err, SL_ENOMEM, "ledger", "out of memory"), NULL;
	for (o = opts; o->keyword && k < 63; o++)
		if (o->val && *o->val) {
			keys[k] = o->keyword;
			vals[k++] = o->val;
		}
	keys[k] = vals[k] = NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		PQconninfoFree(opts);
		return sl_err_set(err, SL_ENOMEM, "ledger", "out of memory"), NULL;
	}
	s->conn = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		if (s->conn)
			lg_db_fail(s, NULL, "ledger", err);
		else
			sl_err_set(err, SL_ENOMEM, "ledger", "out of memory");
		sl_ledger_close(s);
		return NULL;
	}
	PQsetNoticeProcessor(s->conn, quiet_notice, NULL);
	if (session_setup(s, err) != 0) {
		sl_ledger_close(s);
		return NULL;
	}
	return s;
}

int sl_ledger_listen(struct sl_ledger *l, struct sl_err *err)
{
	int rc, v;

	if ((rc = lg_ready(l, err)) != 0 || (rc = schema_version(l, &v, err)) != 0)
		return rc;
	if (v < 3)
		return sl_err_set(
		    err, SL_EUNSUPPORTED, "ledger listen",
		    "the database (schema %d) sends no notifications: run sluice ledger "
		    "migrate",
		    v);
	return lg_run_ok(l, "ledger_listen", 0, NULL, err);
}

int sl_ledger_notifications(struct sl_ledger *l, unsigned *added, unsigned *erased,
                            struct sl_err *err)
{
	PGnotify *nf;

	*added = *erased = 0;
	if (!l || PQstatus(l->conn) != CONNECTION_OK || PQconsumeInput(l->conn) != 1)
		return sl_err_set(err, SL_EDB, "ledger listen",
		                  "connection lost: notifications may have been missed");
	while ((nf = PQnotifies(l->conn)) != NULL) {
		if (strcmp(nf->extra, "added") == 0)
			(*added)++;
		else
			(*erased)++;
		PQfreemem(nf);
	}
	return 0;
}

int sl_ledger_audit_send(struct sl_ledger *l, const struct sl_ledger_audit *rows, size_t n,
                         struct sl_err *err)
{
	struct buf a[7];
	const char *p[7];
	int rc = 0;

	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "audit", "no rows");
	if (n == 0)
		return 0;
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	if (PQisBusy(l->conn))
		return sl_err_set(err, SL_ECONFLICT, "audit", "a batch is still being written");
	rc = audit_params(rows, n, a, p, err);
	if (rc == 0 &&
	    !PQsendQueryParams(l->conn, lg_sql("audit_append"), 7, NULL, p, NULL, NULL, 0))
		rc = lg_db_fail(l, NULL, "audit_append", err);
	arrays_free(a, 7);
	return rc;
}

int sl_ledger_audit_collect(struct sl_ledger *l, bool wait, bool *busy, struct sl_err *err)
{
	PGresult *r;
	int rc = 0;

	*busy = false;
	if (!l || PQstatus(l->conn) != CONNECTION_OK)
		return sl_err_set(err, SL_EDB, "audit_append",
		                  "database connection lost; the batch may not be stored");
	if (!wait) {
		if (PQconsumeInput(l->conn) != 1)
			return lg_db_fail(l, NULL, "audit_append", err);
		if (PQisBusy(l->conn)) {
			*busy = true;
			return 0;
		}
	}
	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = lg_db_fail(l, r, "audit_append", err);
		PQclear(r);
	}
	return rc;
}
