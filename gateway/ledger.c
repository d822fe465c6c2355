/* ledger.c — the PostgreSQL ledger behind ledger.h. Synchronous libpq, one connection per handle;
 * every statement comes from gateway/sql/ (embedded) and binds its values as parameters. Bulk
 * ingest COPYs a batch into temporary staging tables and applies it with a few set-based
 * statements in one transaction, together with the cursor it covers. */
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
#include "ledger_sql.h"
#include "observable.h"

struct sl_ledger {
	PGconn *conn;
	bool staged; /* this session has its temporary staging tables */
};

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

#define COPY_CHUNK (1u << 20)
#define EPOCH_TS "1970-01-01T00:00:00.000000Z"

/* ---- small helpers -------------------------------------------------------------------------- */

static void buf_grow(struct buf *b, size_t more)
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

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (n == 0)
		return; /* s may be the NULL of a buffer never written */
	buf_grow(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_ch(struct buf *b, char c)
{
	buf_put(b, &c, 1);
}

/* A field of COPY's text format: backslash, tab, newline and carriage return escaped. */
static void buf_copy_field(struct buf *b, const char *s, size_t n)
{
	size_t i, start = 0;

	buf_grow(b, n + n / 8 + 8);
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
		buf_put(b, s + start, i - start);
		buf_str(b, esc);
		start = i + 1;
	}
	buf_put(b, s + start, n - start);
}

static void buf_copy_str(struct buf *b, const char *s)
{
	if (!s)
		buf_str(b, "\\N");
	else
		buf_copy_field(b, s, strlen(s));
}

/* An element of a PostgreSQL array literal: quoted, or NULL. */
static void buf_arr_elem(struct buf *b, const char *s)
{
	if (b->len > 1)
		buf_ch(b, ',');
	if (!s) {
		buf_str(b, "NULL");
		return;
	}
	buf_ch(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_ch(b, '\\');
		buf_ch(b, *s);
	}
	buf_ch(b, '"');
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static const char *sql(const char *name)
{
	unsigned i;

	for (i = 0; i < sl_ledger_sql_nfiles; i++)
		if (strcmp(sl_ledger_sql_files[i].name, name) == 0)
			return sl_ledger_sql_files[i].text;
	return NULL;
}

/* The first line of libpq's message, without the "ERROR:  " prefix. */
static int db_fail(struct sl_ledger *l, PGresult *r, const char *what, struct sl_err *err)
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
static PGresult *run(struct sl_ledger *l, const char *name, int np, const char *const *params,
                     struct sl_err *err)
{
	const char *text = sql(name);
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
		db_fail(l, r, name, err);
		PQclear(r);
		return NULL;
	}
	return r;
}

static int run_ok(struct sl_ledger *l, const char *name, int np, const char *const *params,
                  struct sl_err *err)
{
	PGresult *r = run(l, name, np, params, err);

	if (!r)
		return err ? err->code : SL_EDB;
	PQclear(r);
	return 0;
}

static int exec_plain(struct sl_ledger *l, const char *text, const char *what, struct sl_err *err)
{
	PGresult *r = PQexec(l->conn, text);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = db_fail(l, r, what, err);
	PQclear(r);
	return rc;
}

static void rollback(struct sl_ledger *l)
{
	if (PQstatus(l->conn) == CONNECTION_OK && PQtransactionStatus(l->conn) != PQTRANS_IDLE) {
		PGresult *r = PQexec(l->conn, "ROLLBACK");
		PQclear(r);
	}
}

/* A lost connection is re-established on the next call (temporary tables go with it). */
static int ready(struct sl_ledger *l, struct sl_err *err)
{
	if (!l)
		return sl_err_set(err, SL_EINVAL, "ledger", "no ledger handle");
	if (PQstatus(l->conn) != CONNECTION_OK) {
		PQreset(l->conn);
		l->staged = false;
		if (PQstatus(l->conn) != CONNECTION_OK)
			return db_fail(l, NULL, "ledger", err);
	}
	return 0;
}

static int commit(struct sl_ledger *l, const char *what, struct sl_err *err)
{
	return exec_plain(l, "COMMIT", what, err);
}

static int copy_in(struct sl_ledger *l, const char *stmt, const struct buf *b, struct sl_err *err)
{
	PGresult *r = PQexec(l->conn, stmt);
	size_t off;
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COPY_IN) {
		rc = db_fail(l, r, stmt, err);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	for (off = 0; off < b->len; off += COPY_CHUNK) {
		size_t n = b->len - off < COPY_CHUNK ? b->len - off : COPY_CHUNK;

		if (PQputCopyData(l->conn, b->p + off, (int)n) != 1)
			return db_fail(l, NULL, stmt, err);
	}
	if (PQputCopyEnd(l->conn, NULL) != 1)
		return db_fail(l, NULL, stmt, err);
	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = db_fail(l, r, stmt, err);
		PQclear(r);
	}
	return rc;
}

static int schema_version(struct sl_ledger *l, int *v, struct sl_err *err)
{
	PGresult *r = run(l, "schema_version_exists", 0, NULL, err);
	bool exists;

	if (!r)
		return SL_EDB;
	exists = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	*v = 0;
	if (!exists)
		return 0;
	if (!(r = run(l, "schema_version_get", 0, NULL, err)))
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
			db_fail(l, NULL, "ledger", err);
		else
			sl_err_set(err, SL_ENOMEM, "ledger", "out of memory");
		sl_ledger_close(l);
		return NULL;
	}
	/* Library code never prints: server NOTICEs (e.g. "already exists, skipping") are dropped.
	 */
	PQsetNoticeProcessor(l->conn, quiet_notice, NULL);
	if (schema_version(l, &v, err) != 0) {
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

	if ((rc = ready(l, err)) != 0 || (rc = schema_version(l, &v, err)) != 0)
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
		if ((rc = exec_plain(l, "BEGIN", "ledger migrate", err)) != 0 ||
		    (rc = exec_plain(
		         l, "SELECT pg_advisory_xact_lock(hashtext('sluice.ledger.migrate'))",
		         "ledger migrate", err)) != 0 ||
		    (rc = schema_version(l, &v, err)) != 0)
			goto fail;
		if (num <= v) {
			rollback(l);
			continue;
		}
		if ((rc = run_ok(l, "schema_version_create", 0, NULL, err)) != 0 ||
		    (rc = exec_plain(l, sl_ledger_sql_files[i].text, sl_ledger_sql_files[i].name,
		                     err)) != 0 ||
		    (rc = run_ok(l, "schema_version_add", 1, p, err)) != 0 ||
		    (rc = commit(l, sl_ledger_sql_files[i].name, err)) != 0)
			goto fail;
		v = num;
	}
	if (from)
		*from = start;
	if (to)
		*to = v;
	return 0;
fail:
	rollback(l);
	return rc;
}

/* ---- STIX checks ---------------------------------------------------------------------------- */

/* Parse a STIX timestamp (RFC 3339, UTC, "Z") into canonical microsecond form (out >=
 * SL_LEDGER_TS_MAX). Digits past microseconds are dropped. */
static bool stix_ts(const char *s, char *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se, us = 0, dim, i;
	const char *p;

	if (!s || strlen(s) < 20)
		return false;
	for (i = 0; i < 19; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return false;
		} else if (i == 10) {
			if (s[i] != 'T' && s[i] != 't')
				return false;
		} else if (i == 13 || i == 16) {
			if (s[i] != ':')
				return false;
		} else if (!isdigit((unsigned char)s[i])) {
			return false;
		}
	}
	y = atoi(s);
	mo = atoi(s + 5);
	d = atoi(s + 8);
	h = atoi(s + 11);
	mi = atoi(s + 14);
	se = atoi(s + 17);
	p = s + 19;
	if (*p == '.') {
		int digits = 0;

		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 6)
				us = us * 10 + (*p - '0');
		for (; digits < 6; digits++)
			us *= 10;
	}
	if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
		return false;
	if (y < 1 || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return false;
	dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d < 1 || d > dim)
		return false;
	/* "YYYY-MM-DDTHH:MM:SS.ffffffZ", by hand: this runs twice per ingested object */
	{
		const int parts[7] = {y, mo, d, h, mi, se, us};
		static const int width[7] = {4, 2, 2, 2, 2, 2, 6};
		static const char after[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
		char *o = out;

		for (i = 0; i < 7; i++) {
			int k, v = parts[i];

			for (k = width[i] - 1; k >= 0; k--, v /= 10)
				o[k] = (char)('0' + v % 10);
			o += width[i];
			*o++ = after[i];
		}
		*o = '\0';
	}
	return true;
}

static bool is_sco(const char *type)
{
	static const char *const scos[] = {"artifact",
	                                   "autonomous-system",
	                                   "directory",
	                                   "domain-name",
	                                   "email-addr",
	                                   "email-message",
	                                   "file",
	                                   "ipv4-addr",
	                                   "ipv6-addr",
	                                   "mac-addr",
	                                   "mutex",
	                                   "network-traffic",
	                                   "process",
	                                   "software",
	                                   "url",
	                                   "user-account",
	                                   "windows-registry-key",
	                                   "x509-certificate"};
	size_t i;

	for (i = 0; i < sizeof(scos) / sizeof(scos[0]); i++)
		if (strcmp(type, scos[i]) == 0)
			return true;
	return false;
}

static bool is_container(const char *type)
{
	return strcmp(type, "report") == 0 || strcmp(type, "grouping") == 0 ||
	       strcmp(type, "observed-data") == 0 || strcmp(type, "note") == 0 ||
	       strcmp(type, "opinion") == 0 || strcmp(type, "sighting") == 0;
}

static bool is_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

/* A STIX id: "<type>--<uuid>". */
static bool is_stix_id(const char *s)
{
	const char *sep = s ? strstr(s, "--") : NULL;

	return sep && sep > s && strlen(sep + 2) == 36 && is_uuid(sep + 2);
}

struct prepared {
	const char *id, *type;
	char modified[SL_LEDGER_TS_MAX];
	char created[SL_LEDGER_TS_MAX];
	bool has_created;
	const char *spec_version;
	bool revoked;
};

/* Validate one object; msg gets the reason (naming the field) on failure. */
static bool check_object(const json_t *o, struct prepared *p, char *msg, size_t n)
{
	const json_t *jid, *jtype, *jmod, *jcre, *jspec, *jrev;
	char q[80];
	size_t tl, i;
	const char *mod_src;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(o)) {
		snprintf(msg, n, "not a JSON object");
		return false;
	}
	jtype = json_object_get(o, "type");
	jid = json_object_get(o, "id");
	if (!json_is_string(jtype) || json_string_length(jtype) == 0) {
		snprintf(msg, n, "missing 'type'");
		return false;
	}
	p->type = json_string_value(jtype);
	tl = strlen(p->type);
	for (i = 0; i < tl; i++)
		if (!(islower((unsigned char)p->type[i]) || isdigit((unsigned char)p->type[i]) ||
		      p->type[i] == '-'))
			break;
	if (i < tl || tl < 3 || tl > 250) {
		snprintf(msg, n, "'type' '%s' is not a STIX type",
		         sl_err_quote(q, sizeof(q), p->type, 60));
		return false;
	}
	if (strcmp(p->type, "bundle") == 0) {
		snprintf(msg, n, "a bundle inside a batch: ingest its objects");
		return false;
	}
	if (!json_is_string(jid)) {
		snprintf(msg, n, "missing 'id'");
		return false;
	}
	p->id = json_string_value(jid);
	if (strncmp(p->id, p->type, tl) != 0 || strncmp(p->id + tl, "--", 2) != 0) {
		snprintf(msg, n, "'id' '%s' does not start with its type '%s--'",
		         sl_err_quote(q, sizeof(q), p->id, 60), p->type);
		return false;
	}
	if (strlen(p->id + tl + 2) != 36 || !is_uuid(p->id + tl + 2)) {
		snprintf(msg, n, "'id' '%s' does not end in a UUID",
		         sl_err_quote(q, sizeof(q), p->id, 60));
		return false;
	}
	jspec = json_object_get(o, "spec_version");
	if (jspec && !json_is_string(jspec)) {
		snprintf(msg, n, "'spec_version' is not a string");
		return false;
	}
	p->spec_version = jspec ? json_string_value(jspec) : "2.1";
	jrev = json_object_get(o, "revoked");
	if (jrev && !json_is_boolean(jrev)) {
		snprintf(msg, n, "'revoked' is not a boolean");
		return false;
	}
	p->revoked = json_is_true(jrev);
	jcre = json_object_get(o, "created");
	if (jcre) {
		if (!stix_ts(json_string_value(jcre), p->created)) {
			snprintf(msg, n, "'created' is not a STIX timestamp");
			return false;
		}
		p->has_created = true;
	}
	jmod = json_object_get(o, "modified");
	mod_src = "modified";
	if (!jmod && strcmp(p->type, "marking-definition") == 0) {
		jmod = jcre;
		mod_src = "created";
	}
	if (!jmod) {
		if (!is_sco(p->type)) {
			snprintf(msg, n, "missing 'modified'");
			return false;
		}
		memcpy(p->modified, EPOCH_TS, sizeof(EPOCH_TS)); /* SCOs have no versions */
		return true;
	}
	if (!stix_ts(json_string_value(jmod), p->modified)) {
		snprintf(msg, n, "'%s' is not a STIX timestamp", mod_src);
		return false;
	}
	if (p->has_created && strcmp(p->modified, p->created) < 0) {
		snprintf(msg, n, "'modified' %s is earlier than 'created' %s", p->modified,
		         p->created);
		return false;
	}
	return true;
}

/* ---- ingest --------------------------------------------------------------------------------- */

/* One object of a batch, prepared before anything is sent: its canonical text (COPY-escaped) and
 * its observable and reference rows live in the batch's buffers at these offsets. */
struct item {
	struct prepared p;
	const char *origin;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hash[2 * SHA256_DIGEST_LENGTH + 1];
	size_t canon_off, canon_len; /* the canonical text as is (objects go by binary COPY) */
	size_t obs_off, obs_len;
	size_t refs_off, refs_len;
	bool container;
	char outcome;     /* 'n' 'w' 'o' 's', or 'r' rejected */
	bool repeat;      /* the same (id, modified) came earlier in the batch */
	size_t first;     /* the item of the batch that first carried this version */
	const char *bmax; /* the newest modified of this id within the batch */
	/* for a version already stored: its first delivery, kept on its objects row (NULL when
	 * stored before schema 4), borrowed from the outcome query's result */
	const char *db_peer, *db_origin;
	bool prov_seen; /* provenance_extra has (this version, peer, this origin) already */
};

struct batch {
	struct item *items;
	struct buf canon, obs, refs, quar, scratch, out;
	/* SHA-256 fetched once per batch: OpenSSL 3's one-shot SHA256() looks the algorithm up on
	 * every call, 1.2 us an object instead of 0.45 */
	EVP_MD *sha256;
	EVP_MD_CTX *sha;
};

static void batch_free(struct batch *b)
{
	free(b->items);
	buf_free(&b->canon);
	buf_free(&b->obs);
	buf_free(&b->refs);
	buf_free(&b->quar);
	buf_free(&b->scratch);
	buf_free(&b->out);
	EVP_MD_CTX_free(b->sha);
	EVP_MD_free(b->sha256);
}

static bool batch_oom(const struct batch *b)
{
	return b->canon.oom || b->obs.oom || b->refs.oom || b->quar.oom || b->scratch.oom ||
	       b->out.oom;
}

struct obs_ctx {
	struct buf *b;
	size_t start;
	const char *id;
};

/* observables rows: value, type, stix_id; one object's duplicates dropped here so the direct COPY
 * of a new object's rows cannot collide with itself. */
static int obs_row(void *arg, const char *type, const char *value)
{
	struct obs_ctx *c = arg;
	size_t mark = c->b->len;
	const char *row, *end;

	buf_copy_str(c->b, value);
	buf_ch(c->b, '\t');
	buf_copy_str(c->b, type);
	buf_ch(c->b, '\t');
	buf_copy_str(c->b, c->id);
	buf_ch(c->b, '\n');
	if (c->b->oom)
		return 0;
	for (row = c->b->p + c->start; row < c->b->p + mark; row = end + 1) {
		end = memchr(row, '\n', (size_t)(c->b->p + mark - row));
		if ((size_t)(end + 1 - row) == c->b->len - mark &&
		    memcmp(row, c->b->p + mark, c->b->len - mark) == 0) {
			c->b->len = mark;
			break;
		}
	}
	return 0;
}

/* container_refs rows: container_id, container_type, ref_id. */
static void ref_row(struct buf *b, const struct prepared *p, const json_t *ref)
{
	if (!json_is_string(ref) || !is_stix_id(json_string_value(ref)))
		return;
	buf_copy_str(b, p->id);
	buf_ch(b, '\t');
	buf_copy_str(b, p->type);
	buf_ch(b, '\t');
	buf_copy_str(b, json_string_value(ref));
	buf_ch(b, '\n');
}

static void container_rows(struct buf *refs, const struct prepared *p, const json_t *o)
{
	static const char *const arrays[] = {"object_refs", "observed_data_refs"};
	size_t i, k;
	const json_t *v;

	for (k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++)
		json_array_foreach(json_object_get(o, arrays[k]), i, v) ref_row(refs, p, v);
	ref_row(refs, p, json_object_get(o, "sighting_of_ref"));
}

static void quarantine_row(struct buf *q, const char *peer, const char *reason, const char *raw,
                           size_t raw_len)
{
	size_t keep =
	    raw_len > SL_LEDGER_QUARANTINE_RAW_MAX ? SL_LEDGER_QUARANTINE_RAW_MAX : raw_len;
	char num[24];

	/* never cut a UTF-8 sequence in half: PostgreSQL would refuse the text */
	while (keep > 0 && keep < raw_len && ((unsigned char)raw[keep] & 0xC0) == 0x80)
		keep--;
	buf_copy_str(q, peer);
	buf_ch(q, '\t');
	buf_copy_str(q, reason);
	buf_ch(q, '\t');
	buf_copy_field(q, raw, keep);
	snprintf(num, sizeof(num), "\t%zu\n", raw_len);
	buf_str(q, num);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* jansson writes a NUL inside a string as \u0000, which jsonb refuses (and would fail the batch).
 */
static bool has_nul_escape(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && memcmp(p, "\\u0000", 6) == 0)
			return true;
		p += p + 1 < end && p[1] == '\\' ? 2 : 1;
	}
	return false;
}

/* Is s[0..n) valid UTF-8 (the bytes PostgreSQL will accept)? Only called on text with a byte over
 * 0x7F. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k, len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

/* A JSON string as jansson writes it: ", \ and control characters escaped (\u00XX in upper-case
 * hex where there is no short form), everything else as is. */
static bool canon_str(struct buf *o, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t i, start = 0;
	bool high = false;

	buf_ch(o, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char u[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\') {
			high |= c >= 0x80;
			continue;
		}
		buf_put(o, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"':
			buf_str(o, "\\\"");
			break;
		case '\\':
			buf_str(o, "\\\\");
			break;
		case '\b':
			buf_str(o, "\\b");
			break;
		case '\f':
			buf_str(o, "\\f");
			break;
		case '\n':
			buf_str(o, "\\n");
			break;
		case '\r':
			buf_str(o, "\\r");
			break;
		case '\t':
			buf_str(o, "\\t");
			break;
		default:
			u[4] = hexd[c >> 4];
			u[5] = hexd[c & 15];
			u[6] = '\0';
			buf_str(o, u);
		}
	}
	buf_put(o, s + start, n - start);
	buf_ch(o, '"');
	return !high || utf8_ok((const unsigned char *)s, n);
}

struct canon_key {
	const char *key;
	size_t len;
	const json_t *value;
};

/* jansson's order of keys: bytewise, a prefix first. */
static int canon_key_cmp(const struct canon_key *a, const struct canon_key *b)
{
	int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int canon_key_qsort(const void *a, const void *b)
{
	return canon_key_cmp(a, b);
}

#define CANON_DEPTH 128
#define CANON_SMALL 32 /* keys sorted on the stack */

/* sluice's canonical text of v appended to o: the same bytes as json_dumpb(v, JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY), so content hashes do not change, at a fraction of the cost
 * (no callback per token). false on what it leaves to jansson: a real number (jansson's %.17g
 * rules are not copied), invalid UTF-8, nesting over CANON_DEPTH. */
static bool canon_put(struct buf *o, const json_t *v, int depth)
{
	char num[24];
	size_t i, n;

	if (depth > CANON_DEPTH)
		return false;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		struct canon_key small[CANON_SMALL], *keys = small;
		const char *key;
		size_t klen;
		json_t *val;
		bool ok = true;

		n = json_object_size(v);
		if (n > CANON_SMALL && !(keys = malloc(n * sizeof(*keys)))) {
			o->oom = true;
			return true;
		}
		i = 0;
		json_object_keylen_foreach((json_t *)v, key, klen, val)
		{
			struct canon_key k = {key, klen, val};
			size_t j = i++;

			if (n > CANON_SMALL) {
				keys[j] = k;
				continue;
			}
			for (; j > 0 && canon_key_cmp(&keys[j - 1], &k) > 0; j--)
				keys[j] = keys[j - 1];
			keys[j] = k;
		}
		if (n > CANON_SMALL)
			qsort(keys, n, sizeof(*keys), canon_key_qsort);
		buf_ch(o, '{');
		for (i = 0; i < n && ok; i++) {
			if (i)
				buf_ch(o, ',');
			ok = canon_str(o, keys[i].key, keys[i].len);
			buf_ch(o, ':');
			ok = ok && canon_put(o, keys[i].value, depth + 1);
		}
		buf_ch(o, '}');
		if (keys != small)
			free(keys);
		return ok;
	}
	case JSON_ARRAY:
		buf_ch(o, '[');
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			if (i)
				buf_ch(o, ',');
			if (!canon_put(o, json_array_get(v, i), depth + 1))
				return false;
		}
		buf_ch(o, ']');
		return true;
	case JSON_STRING:
		return canon_str(o, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		buf_str(o, num);
		return true;
	case JSON_TRUE:
		buf_str(o, "true");
		return true;
	case JSON_FALSE:
		buf_str(o, "false");
		return true;
	case JSON_NULL:
		buf_str(o, "null");
		return true;
	default:
		return false;
	}
}

/* Canonical form of obj into b->scratch: compact, keys sorted (jsonb keeps the content, the hash
 * this text). Returns its length, 0 when it cannot be serialised. */
static size_t canonical(const json_t *obj, struct batch *b)
{
	size_t len = 0;

	if (!obj)
		return 0;
	b->scratch.len = 0;
	if (canon_put(&b->scratch, obj, 0) && !b->scratch.oom)
		return b->scratch.len;
	if (b->scratch.oom)
		return 0;
	b->scratch.len = 0;
	for (;;) { /* jansson's own writer for what canon_put leaves to it */
		len = json_dumpb(obj, b->scratch.p, b->scratch.cap,
		                 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		if (len == 0 || len < b->scratch.cap)
			return len;
		buf_grow(&b->scratch, len + 1);
		if (b->scratch.oom)
			return 0;
	}
}

/* Validate one object's fields and take its version key; an invalid one is rejected into the
 * quarantine rows at once. The rest of its preparation (serialise_one) can wait. */
static void check_one(const char *peer, const struct sl_ledger_in *in, struct batch *b,
                      struct item *it, struct sl_ledger_result *res)
{
	size_t len;

	res->msg[0] = '\0';
	res->outcome = 0;
	it->origin = in->origin_id ? in->origin_id : "";
	if (check_object(in->obj, &it->p, res->msg, sizeof(res->msg)))
		return;
	len = canonical(in->obj, b);
	it->outcome = 'r';
	res->outcome = SL_LEDGER_REJECTED;
	quarantine_row(&b->quar, peer, res->msg, len ? b->scratch.p : "", len);
}

/* Serialise and hash one checked object and gather its observable and reference rows; an object
 * that cannot be stored as it serialises (too big, a NUL) is rejected here. Returns false then. */
static bool serialise_one(const char *peer, const struct sl_ledger_in *in, struct batch *b,
                          struct item *it, struct sl_ledger_result *res)
{
	size_t len = canonical(in->obj, b);
	struct obs_ctx oc;
	bool ok = true;

	if (len == 0) {
		snprintf(res->msg, sizeof(res->msg), "cannot serialise the object");
		ok = false;
	}
	if (ok && len > SL_LEDGER_MAX_OBJECT_BYTES) {
		snprintf(res->msg, sizeof(res->msg),
		         "object of %zu bytes is over the limit of %u bytes", len,
		         SL_LEDGER_MAX_OBJECT_BYTES);
		ok = false;
	}
	if (ok && has_nul_escape(b->scratch.p, len)) {
		snprintf(res->msg, sizeof(res->msg),
		         "a string holds a NUL character (\\u0000), which the ledger cannot store");
		ok = false;
	}
	if (!ok) {
		it->outcome = 'r';
		res->outcome = SL_LEDGER_REJECTED;
		quarantine_row(&b->quar, peer, res->msg, len ? b->scratch.p : "", len);
		return false;
	}
	if (!b->sha || !EVP_DigestInit_ex(b->sha, b->sha256, NULL) ||
	    !EVP_DigestUpdate(b->sha, b->scratch.p, len) ||
	    !EVP_DigestFinal_ex(b->sha, it->md, NULL))
		SHA256((const unsigned char *)b->scratch.p, len, it->md);
	hex(it->md, sizeof(it->md), it->hash);
	it->canon_off = b->canon.len;
	buf_put(&b->canon, b->scratch.p, len);
	it->canon_len = b->canon.len - it->canon_off;
	it->obs_off = b->obs.len;
	oc.b = &b->obs;
	oc.start = b->obs.len;
	oc.id = it->p.id;
	sl_observable_each(in->obj, obs_row, &oc);
	it->obs_len = b->obs.len - it->obs_off;
	it->container = is_container(it->p.type);
	it->refs_off = b->refs.len;
	if (it->container)
		container_rows(&b->refs, &it->p, in->obj);
	it->refs_len = b->refs.len - it->refs_off;
	return true;
}

static enum sl_ledger_outcome outcome_of(char c)
{
	switch (c) {
	case 'n':
		return SL_LEDGER_NEW;
	case 'w':
		return SL_LEDGER_NEWER;
	case 'o':
		return SL_LEDGER_OLDER;
	case 'r':
		return SL_LEDGER_REJECTED;
	default:
		return SL_LEDGER_SAME;
	}
}

/* Send b->out as one COPY (nothing to do when empty), then empty it. */
static int copy_out(struct sl_ledger *l, const char *stmt, struct batch *b, struct sl_err *err)
{
	int rc;

	if (batch_oom(b))
		return sl_err_set(err, SL_ENOMEM, "ingest", "out of memory");
	if (b->out.len == 0)
		return 0;
	rc = copy_in(l, stmt, &b->out, err);
	b->out.len = 0;
	return rc;
}

static void row_key(struct buf *o, const struct item *it)
{
	buf_copy_str(o, it->p.id);
	buf_ch(o, '\t');
	buf_str(o, it->p.modified);
	buf_ch(o, '\t');
}

/* PostgreSQL's binary COPY format: the new versions go this way (about a fifth less server work
 * than text: no timestamp, bytea or escape parsing). */
static const char BIN_HEADER[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void bin_u32(struct buf *b, uint32_t v)
{
	char c[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};

	buf_put(b, c, 4);
}

static void bin_i64(struct buf *b, int64_t v)
{
	bin_u32(b, (uint32_t)((uint64_t)v >> 32));
	bin_u32(b, (uint32_t)v);
}

static void bin_field(struct buf *b, const void *p, size_t n)
{
	bin_u32(b, (uint32_t)n);
	buf_put(b, p, n);
}

static void bin_text(struct buf *b, const char *s)
{
	bin_field(b, s, strlen(s));
}

/* A canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ" as a binary timestamptz field: microseconds since
 * 2000-01-01T00:00:00Z. */
static void bin_ts(struct buf *b, const char *t)
{
	int y = atoi(t), m = atoi(t + 5), d = atoi(t + 8), era, yoe, doy, doe;
	int64_t days, us;

	/* days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = (int64_t)era * 146097 + doe - 719468 - 10957; /* 10957 days 1970 -> 2000 */
	us = ((days * 24 + atoi(t + 11)) * 60 + atoi(t + 14)) * 60 + atoi(t + 17);
	us = us * 1000000 + atoi(t + 20);
	bin_u32(b, 8);
	bin_i64(b, us);
}

/* Send b->out, a binary COPY of stmt begun with BIN_HEADER, with its trailer; then empty it. */
static int bin_out(struct sl_ledger *l, const char *stmt, struct batch *b, struct sl_err *err)
{
	if (b->out.len <= sizeof(BIN_HEADER)) {
		b->out.len = 0;
		return 0;
	}
	buf_put(&b->out, "\377\377", 2); /* the trailer: a tuple of -1 fields */
	return copy_out(l, stmt, b, err);
}

/* Within-batch bookkeeping, so the database is asked only about distinct versions: which items
 * repeat an earlier (id, modified), and the newest modified of each id in the batch. */
static uint64_t fnv(const char *s, const char *t)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	if (t) {
		h = (h ^ 0xff) * 1099511628211ull;
		for (; *t; t++)
			h = (h ^ (unsigned char)*t) * 1099511628211ull;
	}
	return h;
}

/* Does the repeat delivery it (outcome 's') repeat its version's first delivery, kept on the
 * objects row: same peer, same origin? */
static bool repeats_first(const struct batch *b, const struct item *it, const char *peer)
{
	const struct item *f = &b->items[it->first];

	if (f->outcome != 's') /* the version is new in this batch: f is its first delivery */
		return strcmp(it->origin, f->origin) == 0;
	return f->db_peer && strcmp(f->db_peer, peer) == 0 && strcmp(f->db_origin, it->origin) == 0;
}

/* Must the repeat delivery it be upserted: its version was stored before and the outcome query
 * found a provenance row for the origin it probed, or did not probe this origin? */
static bool repeat_upserted(const struct batch *b, const struct item *it)
{
	const struct item *f = &b->items[it->first];

	return f->outcome == 's' && (f->prov_seen || strcmp(it->origin, f->origin) != 0);
}

static const char PROVENANCE_COPY[] = "COPY provenance_extra (id, modified, peer, origin_id, "
                                      "content_hash, deliveries, of_first) FROM STDIN (FORMAT "
                                      "binary)";

/* Repeated deliveries: one provenance row per (version, peer, origin), counted. A row known not to
 * exist yet (the version is new in this batch, or the outcome query found none for the origin it
 * probed) is COPYed in, counted here; the others are upserted from a staging table. */
static int store_repeats(struct sl_ledger *l, const char *peer, struct batch *b, size_t n,
                         struct sl_err *err)
{
	size_t cap = 16, i, h, *slot, *count;
	const char *pp[1] = {peer};
	bool any_upsert = false;
	int rc = 0;

	while (cap < 2 * n)
		cap *= 2;
	slot = malloc(cap * sizeof(size_t));
	count = calloc(n, sizeof(size_t));
	if (!slot || !count) {
		free(slot);
		free(count);
		return sl_err_set(err, SL_ENOMEM, "ingest", "out of memory");
	}
	memset(slot, 0xff, cap * sizeof(size_t));
	/* group the new rows by (version, origin): items of the same version share their first */
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];

		if (it->outcome != 's')
			continue;
		if (repeat_upserted(b, it)) {
			any_upsert = true;
			continue;
		}
		for (h = (fnv(it->origin, NULL) ^ (it->first * 0x9E3779B97F4A7C15ull)) & (cap - 1);
		     slot[h] != SIZE_MAX; h = (h + 1) & (cap - 1)) {
			const struct item *g = &b->items[slot[h]];

			if (g->first == it->first && strcmp(g->origin, it->origin) == 0)
				break;
		}
		if (slot[h] == SIZE_MAX)
			slot[h] = i;
		count[slot[h]]++;
	}
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];
		char of_first = repeats_first(b, it, peer);

		if (count[i] == 0)
			continue;
		if (b->out.len == 0)
			buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
		buf_put(&b->out, "\0\7", 2); /* 7 fields */
		bin_text(&b->out, it->p.id);
		bin_ts(&b->out, it->p.modified);
		bin_text(&b->out, peer);
		bin_text(&b->out, it->origin);
		bin_field(&b->out, it->md, sizeof(it->md));
		bin_u32(&b->out, 4);
		bin_u32(&b->out, (uint32_t)count[i]);
		bin_field(&b->out, &of_first, 1);
	}
	free(slot);
	free(count);
	if ((rc = bin_out(l, PROVENANCE_COPY, b, err)) != 0 || !any_upsert)
		return rc;
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];

		if (it->outcome != 's' || !repeat_upserted(b, it))
			continue;
		row_key(&b->out, it);
		buf_copy_str(&b->out, it->origin);
		buf_str(&b->out, "\t\\\\x");
		buf_str(&b->out, it->hash);
		buf_str(&b->out, repeats_first(b, it, peer) ? "\tt\n" : "\tf\n");
	}
	if ((rc = copy_out(l, "COPY stage_prov FROM STDIN", b, err)) != 0)
		return rc;
	return run_ok(l, "ingest_provenance", 1, pp, err);
}

/* The versions the ledger did not have go straight into objects (with their first delivery: peer
 * and origin) and observables by COPY: nothing can collide with them while this transaction holds
 * the ingest lock. Repeated deliveries go through staging tables and set-based upserts. */
static const char OBJECTS_COPY[] = "COPY objects (id, modified, type, spec_version, created, "
                                   "revoked, content_hash, content, date_added, peer, origin_id) "
                                   "FROM STDIN (FORMAT binary)";

static int store(struct sl_ledger *l, const char *peer, struct batch *b, size_t n,
                 int64_t date_added_us, struct sl_err *err)
{
	size_t i;
	bool any_same = false, any_obs_upsert = false, any_container = false;
	int rc;

	for (i = 0; i < n; i++) { /* objects */
		const struct item *it = &b->items[i];
		char flag = it->p.revoked;

		if (it->outcome == 'r' || it->outcome == 's')
			continue;
		if (b->out.len == 0)
			buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
		buf_put(&b->out, "\0\13", 2); /* 11 fields */
		bin_text(&b->out, it->p.id);
		bin_ts(&b->out, it->p.modified);
		bin_text(&b->out, it->p.type);
		bin_text(&b->out, it->p.spec_version);
		if (it->p.has_created)
			bin_ts(&b->out, it->p.created);
		else
			bin_u32(&b->out, UINT32_MAX); /* NULL */
		bin_field(&b->out, &flag, 1);
		bin_field(&b->out, it->md, sizeof(it->md));
		bin_u32(&b->out, (uint32_t)it->canon_len + 1);
		buf_ch(&b->out, 1); /* jsonb's binary form: version 1, then the text */
		buf_put(&b->out, b->canon.p + it->canon_off, it->canon_len);
		bin_u32(&b->out, 8);
		bin_i64(&b->out, date_added_us);
		bin_text(&b->out, peer);
		bin_text(&b->out, it->origin);
		if (b->out.len >= 8 * COPY_CHUNK && (rc = bin_out(l, OBJECTS_COPY, b, err)) != 0)
			return rc;
	}
	if ((rc = bin_out(l, OBJECTS_COPY, b, err)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		any_same |= b->items[i].outcome == 's';
	if (any_same && (rc = store_repeats(l, peer, b, n, err)) != 0)
		return rc;
	for (i = 0; i < n; i++) { /* observables of brand-new ids */
		const struct item *it = &b->items[i];

		if (it->outcome == 'w' || it->outcome == 'o')
			any_obs_upsert |= it->obs_len > 0;
		if ((it->outcome == 'n' || it->outcome == 'w') && it->container)
			any_container = true;
		if (it->outcome == 'n')
			buf_put(&b->out, b->obs.p + it->obs_off, it->obs_len);
	}
	if ((rc = copy_out(l, "COPY observables (value, type, stix_id) FROM STDIN", b, err)) != 0)
		return rc;
	if (any_obs_upsert) {
		for (i = 0; i < n; i++)
			if (b->items[i].outcome == 'w' || b->items[i].outcome == 'o')
				buf_put(&b->out, b->obs.p + b->items[i].obs_off,
				        b->items[i].obs_len);
		if ((rc = copy_out(l, "COPY stage_obs FROM STDIN", b, err)) != 0 ||
		    (rc = run_ok(l, "ingest_observables", 0, NULL, err)) != 0)
			return rc;
	}
	if (any_container) { /* a container's newest version replaces its references */
		for (i = 0; i < n; i++) {
			const struct item *it = &b->items[i];

			if ((it->outcome == 'n' || it->outcome == 'w') && it->container) {
				buf_copy_str(&b->out, it->p.id);
				buf_ch(&b->out, '\n');
			}
		}
		if ((rc = copy_out(l, "COPY stage_containers FROM STDIN", b, err)) != 0)
			return rc;
		for (i = 0; i < n; i++) {
			const struct item *it = &b->items[i];

			if ((it->outcome == 'n' || it->outcome == 'w') && it->container)
				buf_put(&b->out, b->refs.p + it->refs_off, it->refs_len);
		}
		if ((rc = copy_out(l, "COPY stage_refs FROM STDIN", b, err)) != 0 ||
		    (rc = run_ok(l, "ingest_refs_delete", 0, NULL, err)) != 0 ||
		    (rc = run_ok(l, "ingest_refs_insert", 0, NULL, err)) != 0)
			return rc;
	}
	return 0;
}

static int batch_index(struct batch *b, size_t n)
{
	size_t cap = 16, i;
	size_t *by_version, *by_id;

	while (cap < 2 * n)
		cap *= 2;
	by_version = malloc(cap * sizeof(size_t));
	by_id = malloc(cap * sizeof(size_t));
	if (!by_version || !by_id) {
		free(by_version);
		free(by_id);
		return SL_ENOMEM;
	}
	memset(by_version, 0xff, cap * sizeof(size_t));
	memset(by_id, 0xff, cap * sizeof(size_t));
	for (i = 0; i < n; i++) {
		struct item *it = &b->items[i];
		size_t h;

		it->repeat = false;
		it->first = i;
		if (it->outcome == 'r')
			continue;
		for (h = fnv(it->p.id, it->p.modified) & (cap - 1); by_version[h] != SIZE_MAX;
		     h = (h + 1) & (cap - 1)) {
			const struct item *o = &b->items[by_version[h]];

			if (strcmp(o->p.id, it->p.id) == 0 &&
			    strcmp(o->p.modified, it->p.modified) == 0)
				break;
		}
		if (by_version[h] != SIZE_MAX) {
			it->repeat = true;
			it->first = by_version[h];
		} else {
			by_version[h] = i;
		}
		for (h = fnv(it->p.id, NULL) & (cap - 1); by_id[h] != SIZE_MAX;
		     h = (h + 1) & (cap - 1))
			if (strcmp(b->items[by_id[h]].p.id, it->p.id) == 0)
				break;
		if (by_id[h] == SIZE_MAX ||
		    strcmp(b->items[by_id[h]].p.modified, it->p.modified) < 0)
			by_id[h] = i;
	}
	for (i = 0; i < n; i++) {
		struct item *it = &b->items[i];
		size_t h;

		if (it->outcome == 'r')
			continue;
		for (h = fnv(it->p.id, NULL) & (cap - 1);
		     strcmp(b->items[by_id[h]].p.id, it->p.id) != 0; h = (h + 1) & (cap - 1))
			;
		it->bmax = b->items[by_id[h]].p.modified;
	}
	free(by_version);
	free(by_id);
	return 0;
}

/* The outcome of a distinct version, given the ledger's newest modified of its id (NULL = none)
 * and whether that exact version is stored. */
static char judge(const struct item *it, const char *pm, bool exact)
{
	const char *newest;

	if (exact || (pm && strcmp(it->p.modified, pm) == 0))
		return 's';
	newest = pm && strcmp(pm, it->bmax) > 0 ? pm : it->bmax;
	if (strcmp(it->p.modified, newest) < 0)
		return 'o';
	return pm ? 'w' : 'n';
}

/* Stage the version keys of the distinct valid items (ord = item index, and the origin they came
 * from) in a fresh stage table, by binary COPY. */
static int stage_keys(struct sl_ledger *l, struct batch *b, size_t n, size_t *staged,
                      struct sl_err *err)
{
	size_t i;

	*staged = 0;
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];

		if (it->outcome == 'r' || it->repeat)
			continue;
		if (b->out.len == 0)
			buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
		buf_put(&b->out, "\0\4", 2); /* 4 fields */
		bin_u32(&b->out, 4);
		bin_u32(&b->out, (uint32_t)i);
		bin_text(&b->out, it->p.id);
		bin_ts(&b->out, it->p.modified);
		bin_text(&b->out, it->origin);
		(*staged)++;
	}
	return bin_out(l, "COPY stage (ord, id, modified, origin_id) FROM STDIN (FORMAT binary)", b,
	               err);
}

/* The result of ingest_outcomes sent with PQsendQuery, or NULL with err. */
static PGresult *outcomes_result(struct sl_ledger *l, struct sl_err *err)
{
	PGresult *r, *keep = NULL;
	int rc = 0;

	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK && !keep && rc == 0) {
			keep = r;
			continue;
		}
		if (rc == 0)
			rc = db_fail(l, r, "ingest_outcomes", err);
		PQclear(r);
	}
	if (rc != 0 || !keep) {
		PQclear(keep);
		if (rc == 0)
			db_fail(l, NULL, "ingest_outcomes", err);
		return NULL;
	}
	return keep;
}

/* Judge every staged item from the outcome rows (ord, the ledger's newest modified of the id,
 * whether this version is stored, and that stored version's first peer and origin), then the
 * items repeating a version earlier in the batch. Returns 0, or SL_EDB when one has no outcome. */
static int judge_all(struct batch *b, size_t n, PGresult *r, struct sl_err *err)
{
	int k, rows = PQntuples(r);
	size_t i;

	for (k = 0; k < rows; k++) {
		long ord = strtol(PQgetvalue(r, k, 0), NULL, 10);
		struct item *it;

		if (ord < 0 || (size_t)ord >= n || b->items[ord].outcome != 0)
			continue;
		it = &b->items[ord];
		it->outcome = judge(it, PQgetisnull(r, k, 1) ? NULL : PQgetvalue(r, k, 1),
		                    PQgetvalue(r, k, 2)[0] == 't');
		if (it->outcome == 's' && !PQgetisnull(r, k, 3)) {
			it->db_peer = PQgetvalue(r, k, 3);
			it->db_origin = PQgetisnull(r, k, 4) ? "" : PQgetvalue(r, k, 4);
		}
		it->prov_seen = PQgetvalue(r, k, 5)[0] == 't';
	}
	for (i = 0; i < n; i++) {
		if (b->items[i].repeat)
			b->items[i].outcome = 's';
		else if (b->items[i].outcome == 0)
			return sl_err_set(err, SL_EDB, "ingest", "no outcome for object %zu", i);
	}
	return 0;
}

int sl_ledger_ingest(struct sl_ledger *l, const char *peer, const struct sl_ledger_in *in, size_t n,
                     const struct sl_ledger_cursor *cursor, struct sl_ledger_result *results,
                     struct sl_err *err)
{
	struct batch b;
	PGresult *r, *outcomes = NULL;
	size_t staged = 0, i, late = 0;
	int64_t date_added = 0;
	int rc;

	if (!peer || !*peer || (n && (!in || !results)))
		return sl_err_set(err, SL_EINVAL, "ingest", "no peer, objects or results");
	if (n > SL_LEDGER_MAX_BATCH)
		return sl_err_set(err, SL_ELIMIT, peer,
		                  "a batch of %zu objects is over the limit of %u", n,
		                  SL_LEDGER_MAX_BATCH);
	if (cursor && (!cursor->peer || !cursor->stream || !cursor->position))
		return sl_err_set(err, SL_EINVAL, peer, "cursor without peer, stream or position");
	memset(&b, 0, sizeof(b));
	if (n && !(b.items = calloc(n, sizeof(*b.items))))
		return sl_err_set(err, SL_ENOMEM, peer, "out of memory");
	buf_grow(&b.scratch, 64 * 1024);
	if ((b.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL)
		b.sha = EVP_MD_CTX_new();
	/* the cheap checks first: the version keys are all the outcome query needs */
	for (i = 0; i < n; i++)
		check_one(peer, &in[i], &b, &b.items[i], &results[i]);
	if (batch_index(&b, n) != 0) {
		rc = sl_err_set(err, SL_ENOMEM, peer, "out of memory");
		goto out;
	}
	if ((rc = ready(l, err)) != 0)
		goto out;
	if (!l->staged) {
		if ((rc = run_ok(l, "stage_create", 0, NULL, err)) != 0)
			goto out;
		l->staged = true;
	}
	/* JIT compiling the outcome query costs more than running it on a batch */
	if ((rc = exec_plain(l, "BEGIN; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off", "ingest",
	                     err)) != 0 ||
	    (rc = stage_keys(l, &b, n, &staged, err)) != 0)
		goto out;
	if (staged) {
		if ((rc = run_ok(l, "ingest_lock", 0, NULL, err)) != 0)
			goto out;
		if (!(r = run(l, "ingest_date_added", 0, NULL, err))) {
			rc = SL_EDB;
			goto out;
		}
		date_added = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		PQclear(r);
		/* the server probes the ledger while we serialise and hash the objects */
		if (!PQsendQueryParams(l->conn, sql("ingest_outcomes"), 1, NULL, &peer, NULL, NULL,
		                       0)) {
			rc = db_fail(l, NULL, "ingest_outcomes", err);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (b.items[i].outcome == 'r')
			continue;
		if (!serialise_one(peer, &in[i], &b, &b.items[i], &results[i]))
			late++;
		if (staged && i % 256 == 0 && !PQconsumeInput(l->conn))
			break; /* the lost connection shows in the result */
	}
	if (staged) {
		if (!(outcomes = outcomes_result(l, err))) {
			rc = SL_EDB;
			goto out;
		}
		if (late) { /* rare: judge again without the versions rejected while serialising */
			PQclear(outcomes);
			outcomes = NULL;
			if (batch_index(&b, n) != 0) {
				rc = sl_err_set(err, SL_ENOMEM, peer, "out of memory");
				goto out;
			}
			if ((rc = run_ok(l, "stage_clear", 0, NULL, err)) != 0 ||
			    (rc = stage_keys(l, &b, n, &staged, err)) != 0)
				goto out;
			if (!(outcomes = run(l, "ingest_outcomes", 1, &peer, err))) {
				rc = SL_EDB;
				goto out;
			}
		}
		if ((rc = judge_all(&b, n, outcomes, err)) != 0)
			goto out;
		if ((rc = store(l, peer, &b, n, date_added, err)) != 0)
			goto out;
	}
	if (batch_oom(&b)) {
		rc = sl_err_set(err, SL_ENOMEM, peer, "out of memory");
		goto out;
	}
	if (cursor) {
		const char *pc[3] = {cursor->peer, cursor->stream, cursor->position};

		if ((rc = run_ok(l, "cursor_set", 3, pc, err)) != 0)
			goto out;
	}
	if (b.quar.len &&
	    (rc = copy_in(l, "COPY quarantine (peer, reason, raw, raw_bytes) FROM STDIN", &b.quar,
	                  err)) != 0)
		goto out;
	if ((rc = commit(l, "ingest", err)) != 0)
		goto out;

	for (i = 0; i < n; i++)
		results[i].outcome = outcome_of(b.items[i].outcome);
out:
	if (rc != 0 && l) {
		if (PQstatus(l->conn) == CONNECTION_OK && PQisBusy(l->conn))
			while ((r = PQgetResult(l->conn)) != NULL)
				PQclear(r);
		rollback(l);
	}
	if (rc != 0)
		sl_err_prefix_where(err, peer);
	PQclear(outcomes);
	batch_free(&b);
	return rc;
}

int sl_ledger_quarantine(struct sl_ledger *l, const char *peer, const char *raw, size_t raw_len,
                         const char *reason, struct sl_err *err)
{
	struct buf q = {0};
	int rc;

	if (!peer || !reason || (!raw && raw_len))
		return sl_err_set(err, SL_EINVAL, "quarantine", "no peer or reason");
	if ((rc = ready(l, err)) != 0)
		return rc;
	quarantine_row(&q, peer, reason, raw ? raw : "", raw_len);
	if (q.oom)
		rc = sl_err_set(err, SL_ENOMEM, "quarantine", "out of memory");
	else
		rc = copy_in(l, "COPY quarantine (peer, reason, raw, raw_bytes) FROM STDIN", &q,
		             err);
	buf_free(&q);
	return rc;
}

/* ---- cursors, id map ------------------------------------------------------------------------ */

static int get_one(struct sl_ledger *l, const char *name, int np, const char *const *params,
                   char *out, size_t n, const char *what, struct sl_err *err)
{
	PGresult *r;
	int rc;

	if ((rc = ready(l, err)) != 0)
		return rc;
	if (!(r = run(l, name, np, params, err)))
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	p[0] = c->peer;
	p[1] = c->stream;
	p[2] = c->position;
	return run_ok(l, "cursor_set", 3, p, err);
}

int sl_ledger_idmap_put(struct sl_ledger *l, const char *peer, const char *foreign_id,
                        const char *stix_id, struct sl_err *err)
{
	const char *p[3] = {peer, foreign_id, stix_id};
	int rc;

	if (!peer || !foreign_id || !*foreign_id || !is_stix_id(stix_id))
		return sl_err_set(err, SL_EINVAL, "idmap",
		                  "need a peer, a foreign id and a STIX id");
	if ((rc = ready(l, err)) != 0)
		return rc;
	return run_ok(l, "idmap_put", 3, p, err);
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
	if (!stix_ts(in, out))
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

	if (ready(l, err) != 0)
		return NULL;
	if (!(r = run(l, name, np, params, err)))
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	if (!(r = run(l, "object_versions", 1, p, err)))
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	if (!(r = run(l, "share_versions", 2, p, err)))
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	snprintf(after_us, sizeof(after_us), "%" PRId64, q->after_date_added_us);
	snprintf(after_seq, sizeof(after_seq), "%" PRId64, q->after_seq);
	snprintf(lim, sizeof(lim), "%zu", limit + 1);
	if (q->n_types) {
		buf_ch(&types, '{');
		for (i = 0; i < q->n_types; i++)
			buf_arr_elem(&types, q->types[i]);
		buf_ch(&types, '}');
		if (types.oom) {
			buf_free(&types);
			return sl_err_set(err, SL_ENOMEM, "page", "out of memory");
		}
	}
	p[0] = after_us;
	p[1] = after_seq;
	p[2] = q->n_types ? types.p : NULL;
	p[3] = q->latest_only ? "true" : "false";
	p[4] = lim;
	p[5] = q->destination;
	r = q->destination ? run(l, "share_page", 6, p, err) : run(l, "object_page", 5, p, err);
	buf_free(&types);
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	buf_ch(&ids, '{');
	buf_ch(&mods, '{');
	for (i = 0; i < n; i++) {
		const char *m;

		if (!refs[i].id)
			rc = sl_err_set(err, SL_EINVAL, destination, "ref %zu has no id", i);
		else if (caller_ts(refs[i].modified, ts, &m, refs[i].id, err) != 0)
			rc = SL_EINVAL;
		if (rc)
			goto out;
		buf_arr_elem(&ids, refs[i].id);
		buf_arr_elem(&mods, m);
	}
	buf_ch(&ids, '}');
	buf_ch(&mods, '}');
	if (ids.oom || mods.oom) {
		rc = sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
		goto out;
	}
	p[0] = ids.p;
	if (!(r = run(l, "outbox_unknown", 1, p, err))) {
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
	rc = run_ok(l, "outbox_enqueue", 4, p, err);
out:
	buf_free(&ids);
	buf_free(&mods);
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	snprintf(lim, sizeof(lim), "%zu", max);
	snprintf(lease, sizeof(lease), "%d", lease_s);
	if (!(r = run(l, "outbox_claim", 3, p, err)))
		return SL_EDB;
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

/* Run statement name with ids[0..n) (n > 0) as its one text[] parameter. */
static PGresult *run_ids(struct sl_ledger *l, const char *name, const char *const *ids, size_t n,
                         struct sl_err *err)
{
	struct buf a = {0};
	const char *p[1];
	PGresult *r = NULL;
	size_t i;

	buf_ch(&a, '{');
	for (i = 0; i < n; i++)
		buf_arr_elem(&a, ids[i]);
	buf_ch(&a, '}');
	p[0] = a.p;
	if (a.oom)
		sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
	else if (ready(l, err) == 0)
		r = run(l, name, 1, p, err);
	buf_free(&a);
	return r;
}

json_t *sl_ledger_outbox_newest(struct sl_ledger *l, const char *const *ids, size_t n,
                                struct sl_err *err)
{
	json_t *out;
	PGresult *r;
	int k;

	if (n && !ids)
		return sl_err_set(err, SL_EINVAL, "outbox", "no ids"), NULL;
	if (!(out = json_object()))
		return sl_err_set(err, SL_ENOMEM, "outbox", "out of memory"), NULL;
	if (n == 0)
		return out;
	if (!(r = run_ids(l, "outbox_newest", ids, n, err))) {
		json_decref(out);
		return NULL;
	}
	for (k = 0; k < PQntuples(r); k++) {
		struct sl_err e2 = {0};
		json_t *o = json_cell(r, k, 1, PQgetvalue(r, k, 0), &e2);

		if (o)
			json_object_set_new(out, PQgetvalue(r, k, 0), o);
	}
	PQclear(r);
	return out;
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

int sl_ledger_outbox_settle_many(struct sl_ledger *l, const struct sl_ledger_settle *rows, size_t n,
                                 struct sl_err *err)
{
	static const char *const states[] = {"sent", "failed", "parked", "blocked"};
	struct buf a[4];
	const char *p[4];
	char num[24];
	PGresult *r;
	size_t i, k, found;
	int rc = 0;

	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "outbox", "no rows to settle");
	if (n == 0)
		return 0;
	memset(a, 0, sizeof(a));
	for (k = 0; k < 4; k++)
		buf_ch(&a[k], '{');
	for (i = 0; i < n; i++) {
		if ((unsigned)rows[i].state > SL_LEDGER_SETTLE_BLOCKED) {
			rc = sl_err_set(err, SL_EINVAL, "outbox", "settle row %zu has no state", i);
			goto out;
		}
		snprintf(num, sizeof(num), "%" PRId64, rows[i].outbox_id);
		buf_arr_elem(&a[0], num);
		buf_arr_elem(&a[1], states[rows[i].state]);
		buf_arr_elem(&a[2], rows[i].msg);
		snprintf(num, sizeof(num), "%d",
		         rows[i].retry_after_s < 0 ? 0 : rows[i].retry_after_s);
		buf_arr_elem(&a[3], num);
	}
	for (k = 0; k < 4; k++) {
		buf_ch(&a[k], '}');
		p[k] = a[k].p;
		if (a[k].oom) {
			rc = sl_err_set(err, SL_ENOMEM, "outbox", "out of memory");
			goto out;
		}
	}
	if ((rc = ready(l, err)) != 0)
		goto out;
	if (!(r = run(l, "outbox_settle_many", 4, p, err))) {
		rc = SL_EDB;
		goto out;
	}
	found = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (found < n)
		rc = sl_err_set(err, SL_ENOTFOUND, "outbox", "%zu of %zu outbox rows were gone",
		                n - found, n);
out:
	for (k = 0; k < 4; k++)
		buf_free(&a[k]);
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
	if ((rc = ready(l, err)) != 0)
		return rc;
	if (!(r = run(l, "outbox_depth", 0, NULL, err)))
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
	size_t i, k;
	int rc = 0;

	memset(a, 0, 7 * sizeof(*a));
	for (k = 0; k < 7; k++)
		buf_ch(&a[k], '{');
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
		buf_arr_elem(&a[0], r->id);
		buf_arr_elem(&a[1], m);
		buf_arr_elem(&a[2], r->destination);
		buf_arr_elem(&a[3], decision_name(r->decision));
		buf_arr_elem(&a[4], r->rule);
		buf_arr_elem(&a[5], changes);
		buf_arr_elem(&a[6], r->result);
		free(changes);
	}
	for (k = 0; k < 7; k++) {
		buf_ch(&a[k], '}');
		if (a[k].oom && rc == 0)
			rc = sl_err_set(err, SL_ENOMEM, "audit", "out of memory");
		p[k] = a[k].p;
	}
	return rc;
}

int sl_ledger_audit_append(struct sl_ledger *l, const struct sl_ledger_audit *rows, size_t n,
                           struct sl_err *err)
{
	struct buf a[7];
	const char *p[7];
	size_t k;
	int rc = 0;

	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "audit", "no rows");
	if (n == 0)
		return 0;
	if ((rc = ready(l, err)) != 0)
		return rc;
	rc = audit_params(rows, n, a, p, err);
	if (rc == 0)
		rc = run_ok(l, "audit_append", 7, p, err);
	for (k = 0; k < 7; k++)
		buf_free(&a[k]);
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
	hex(mac, maclen, machex);
	by_id = is_stix_id(subject);
	if (by_id || sl_observable_canon(sl_observable_guess(subject), subject, canon,
	                                 sizeof(canon), NULL) != 0)
		snprintf(canon, sizeof(canon), "%s", subject);
	if ((rc = ready(l, err)) != 0)
		return rc;
	p[0] = subject;
	p[1] = canon;
	/* ingests wait while we erase: none adds a version holding the subject after we looked,
	 * and none counts on provenance rows we are adding (repeats are COPYed when known new) */
	if ((rc = exec_plain(l, "BEGIN", "erase", err)) != 0 ||
	    (rc = run_ok(l, "ingest_lock", 0, NULL, err)) != 0 ||
	    (rc = run_ok(l, "erase_set_create", 0, NULL, err)) != 0 ||
	    (rc = by_id ? run_ok(l, "erase_select_id", 1, p, err)
	                : run_ok(l, "erase_select_value", 2, p, err)) != 0 ||
	    (rc = run_ok(l, "erase_provenance", 0, NULL, err)) != 0 ||
	    (rc = run_ok(l, "erase_tombstone", 0, NULL, err)) != 0 ||
	    (rc = run_ok(l, "erase_observables", 1, &p[1], err)) != 0 ||
	    (rc = run_ok(l, "erase_quarantine", 2, p, err)) != 0 ||
	    (rc = run_ok(l, "erase_cancel", 0, NULL, err)) != 0)
		goto fail;
	p[0] = machex;
	if (!(r = run(l, "erase_revoke_audit", 1, p, err))) {
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
	if (!(r = run(l, "erase_shares", 1, p, err))) {
		rc = SL_EDB;
		goto fail;
	}
	if (res)
		res->withdrawn = (size_t)PQntuples(r);
	PQclear(r);
	if ((rc = commit(l, "erase", err)) != 0)
		goto fail;
	return 0;
fail:
	rollback(l);
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
	if ((rc = ready(l, err)) != 0 || (rc = schema_version(l, &out->schema_version, err)) != 0)
		return rc;
	if (out->schema_version == 0)
		return sl_err_set(err, SL_ENOTFOUND, "stats",
		                  "the database has no ledger schema: run 'sluice ledger migrate'");
	if (!(r = run(l, "stats", 0, NULL, err)))
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
	buf_ch(&d, '{');
	buf_ch(&ids, '{');
	buf_ch(&mods, '{');
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
		buf_arr_elem(&d, rows[i].destination);
		buf_arr_elem(&ids, rows[i].id);
		buf_arr_elem(&mods, m);
	}
	buf_ch(&d, '}');
	buf_ch(&ids, '}');
	buf_ch(&mods, '}');
	p[0] = d.p;
	p[1] = ids.p;
	p[2] = mods.p;
	if (d.oom || ids.oom || mods.oom) {
		rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
		goto out;
	}
	if (!(r = run(l, "share_recorded", 3, p, err))) {
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
	for (k = 0; k < 7; k++)
		buf_ch(&a[k], '{');
	for (k = 0; k < 6; k++)
		buf_ch(&o[k], '{');
	for (k = 0; k < 5; k++)
		buf_ch(&v[k], '{');
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
		buf_arr_elem(&a[0], s->id);
		buf_arr_elem(&a[1], ts[i]);
		buf_arr_elem(&a[2], s->destination);
		buf_arr_elem(&a[3], decision_name(s->decision));
		buf_arr_elem(&a[4], s->rule);
		buf_arr_elem(&a[5], changes);
		buf_arr_elem(&a[6], s->deliver ? (deny ? "blocked" : "queued") : "pull");
		free(changes);
		if (!s->deliver) {
			/* A pull destination: what it may see joins its view. */
			const char *type = json_string_value(json_object_get(s->obj, "type"));
			if (deny || !s->obj || !type)
				continue;
			if (!(payload = json_dumps(s->obj, JSON_COMPACT | JSON_SORT_KEYS))) {
				rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
				goto out;
			}
			buf_arr_elem(&v[0], s->destination);
			buf_arr_elem(&v[1], s->id);
			buf_arr_elem(&v[2], ts[i]);
			buf_arr_elem(&v[3], type);
			buf_arr_elem(&v[4], payload);
			free(payload);
			viewed++;
			continue;
		}
		/* an allowed version goes as stored: only a changed one needs its own payload */
		if (s->decision == SL_LEDGER_ALLOW_WITH_CHANGES && s->obj)
			payload = json_dumps(s->obj, JSON_COMPACT | JSON_SORT_KEYS);
		buf_arr_elem(&o[0], s->destination);
		buf_arr_elem(&o[1], s->id);
		buf_arr_elem(&o[2], ts[i]);
		buf_arr_elem(&o[3], deny ? "blocked" : "pending");
		buf_arr_elem(&o[4], payload);
		buf_arr_elem(&o[5], deny ? (s->rule ? s->rule : "denied by policy") : NULL);
		free(payload);
		queued++;
	}
	for (k = 0; k < 7; k++) {
		buf_ch(&a[k], '}');
		p[k] = a[k].p;
		if (a[k].oom)
			rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
	}
	if (rc == 0 && fresh && (rc = run_ok(l, "audit_append", 7, p, err)) != 0)
		goto out;
	for (k = 0; k < 6; k++) {
		buf_ch(&o[k], '}');
		p[k] = o[k].p;
		if (o[k].oom && rc == 0)
			rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
	}
	if (rc == 0 && queued && (rc = run_ok(l, "outbox_share", 6, p, err)) != 0)
		goto out;
	for (k = 0; k < 5; k++) {
		buf_ch(&v[k], '}');
		p[k] = v[k].p;
		if (v[k].oom && rc == 0)
			rc = sl_err_set(err, SL_ENOMEM, "share", "out of memory");
	}
	if (rc == 0 && viewed &&
	    ((rc = run_ok(l, "share_lock", 0, NULL, err)) != 0 ||
	     (rc = run_ok(l, "share_view_insert", 5, p, err)) != 0))
		goto out;
	if (rc == 0 && n_new)
		*n_new = fresh;
out:
	buf_free(&d);
	buf_free(&ids);
	buf_free(&mods);
	for (k = 0; k < 7; k++)
		buf_free(&a[k]);
	for (k = 0; k < 6; k++)
		buf_free(&o[k]);
	for (k = 0; k < 5; k++)
		buf_free(&v[k]);
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
	if ((rc = ready(l, err)) != 0 || (rc = exec_plain(l, "BEGIN", "share", err)) != 0)
		return rc;
	/* In slices, one transaction: the arrays sent for a 10,000-attribute event decided for
	 * several destinations (100,000s of rows) would otherwise be held all at once. */
	for (off = 0; rc == 0 && off < n; off += SHARE_SLICE) {
		size_t cnt = n - off < SHARE_SLICE ? n - off : SHARE_SLICE, got = 0;
		rc = share_slice(l, rows + off, cnt, &got, err);
		fresh += got;
	}
	if (rc == 0)
		rc = commit(l, "share", err);
	if (rc != 0) {
		rollback(l);
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
			db_fail(s, NULL, "ledger", err);
		else
			sl_err_set(err, SL_ENOMEM, "ledger", "out of memory");
		sl_ledger_close(s);
		return NULL;
	}
	PQsetNoticeProcessor(s->conn, quiet_notice, NULL);
	return s;
}

int sl_ledger_listen(struct sl_ledger *l, struct sl_err *err)
{
	int rc, v;

	if ((rc = ready(l, err)) != 0 || (rc = schema_version(l, &v, err)) != 0)
		return rc;
	if (v < 3)
		return sl_err_set(
		    err, SL_EUNSUPPORTED, "ledger listen",
		    "the database (schema %d) sends no notifications: run sluice ledger "
		    "migrate",
		    v);
	return run_ok(l, "ledger_listen", 0, NULL, err);
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
	size_t k;
	int rc = 0;

	if (n && !rows)
		return sl_err_set(err, SL_EINVAL, "audit", "no rows");
	if (n == 0)
		return 0;
	if ((rc = ready(l, err)) != 0)
		return rc;
	if (PQisBusy(l->conn))
		return sl_err_set(err, SL_ECONFLICT, "audit", "a batch is still being written");
	rc = audit_params(rows, n, a, p, err);
	if (rc == 0 && !PQsendQueryParams(l->conn, sql("audit_append"), 7, NULL, p, NULL, NULL, 0))
		rc = db_fail(l, NULL, "audit_append", err);
	for (k = 0; k < 7; k++)
		buf_free(&a[k]);
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
			return db_fail(l, NULL, "audit_append", err);
		if (PQisBusy(l->conn)) {
			*busy = true;
			return 0;
		}
	}
	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
			rc = db_fail(l, r, "audit_append", err);
		PQclear(r);
	}
	return rc;
}
