/* err.h — sluice's error value: a code, a message, and where it happened.
 * Library code fills a caller's struct sl_err instead of printing; only main and the log module show it. */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stddef.h>

enum sl_err_code {
	SL_OK = 0,
	SL_EINVAL = -1,     /* bad input: malformed, wrong type, missing field, invalid value */
	SL_ENOMEM = -2,     /* allocation failed */
	SL_EIO = -3,        /* file or socket I/O */
	SL_ELIMIT = -4,     /* a configured bound (size, depth, count) was hit */
	SL_EUNSUPPORTED = -5, /* well-formed, but nothing maps it (strict mode turns warnings into this) */
	SL_EDB = -6,        /* the ledger database */
	SL_ENET = -7,       /* a peer or the network */
	SL_ENOTFOUND = -8,  /* a named thing does not exist */
	SL_ECONFLICT = -9,  /* a newer version or schema already exists */
};

#define SL_ERR_WHERE_MAX 256
#define SL_ERR_MSG_MAX 512

struct sl_err {
	int code;                    /* an enum sl_err_code, SL_OK when clear */
	char where[SL_ERR_WHERE_MAX]; /* event/attribute uuid, JSON path, peer, file:line */
	char msg[SL_ERR_MSG_MAX];    /* what went wrong, one line, no personal data or secrets */
};

#if defined(__GNUC__)
#define SL_MUSTCHECK __attribute__((warn_unused_result))
#define SL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SL_MUSTCHECK
#define SL_PRINTF(a, b)
#endif

/* Fill err (which may be NULL) and return code, so callers can write `return sl_err_set(...)`.
 * Control characters in the formatted text are replaced, so hostile input cannot forge log lines. */
int sl_err_set(struct sl_err *err, int code, const char *where, const char *fmt, ...) SL_PRINTF(4, 5);
void sl_err_clear(struct sl_err *err);
/* Prefix err->where with outer context ("event 1234/" + "attribute 5678"). */
void sl_err_prefix_where(struct sl_err *err, const char *outer);
const char *sl_err_code_name(int code);

/* Copy at most max bytes of an untrusted value into out (size outsz) for use in a message: control
 * characters become '?', and an ellipsis marks truncation. Returns out. */
char *sl_err_quote(char *out, size_t outsz, const char *value, size_t max);

#endif
