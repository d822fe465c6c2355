/* ledger_impl.h — what the ledger's own .c files share (ledger.c: connection, statements, queries,
 * outbox, audit; ledger_ingest.c: checks and bulk ingest). Nothing outside gateway/ledger*.c. */
#ifndef SL_LEDGER_IMPL_H
#define SL_LEDGER_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "ledger.h"

struct sl_ledger {
	PGconn *conn;
	bool staged; /* this session has its temporary staging tables */
};

/* A growable byte buffer; oom is sticky (checked once at the end). */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

#define COPY_CHUNK (1u << 20)
#define EPOCH_TS "1970-01-01T00:00:00.000000Z"

void lg_buf_ch(struct buf *b, char c);
void lg_buf_copy_field(struct buf *b, const char *s, size_t n);
void lg_buf_copy_str(struct buf *b, const char *s);
void lg_buf_free(struct buf *b);
void lg_buf_grow(struct buf *b, size_t more);
void lg_buf_put(struct buf *b, const char *s, size_t n);
void lg_buf_str(struct buf *b, const char *s);
void lg_buf_arr_elem(struct buf *b, const char *s);
int lg_commit(struct sl_ledger *l, const char *what, struct sl_err *err);
int lg_copy_in(struct sl_ledger *l, const char *stmt, const struct buf *b, struct sl_err *err);
int lg_db_fail(struct sl_ledger *l, PGresult *r, const char *what, struct sl_err *err);
int lg_exec_plain(struct sl_ledger *l, const char *text, const char *what, struct sl_err *err);
int lg_ready(struct sl_ledger *l, struct sl_err *err);
void lg_rollback(struct sl_ledger *l);
PGresult *lg_run(struct sl_ledger *l, const char *name, int np, const char *const *params,
                 struct sl_err *err);
int lg_run_ok(struct sl_ledger *l, const char *name, int np, const char *const *params,
              struct sl_err *err);
const char *lg_sql(const char *name);
void lg_hex(const unsigned char *in, size_t n, char *out);
bool lg_is_stix_id(const char *s);
bool lg_stix_ts(const char *s, char *out);

#endif
