/* http_client.h — HTTP(S) client for peer connectors: libcurl's multi interface driven by libevent,
 * so hundreds of transfers run at once on one thread. Bounded bodies, typed errors, TLS verified.
 */
#ifndef SL_HTTP_CLIENT_H
#define SL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "err.h"
#include "sse.h"

/* Why a transfer did not deliver a 2xx response. Compare against these, never against text. */
enum sl_http_error {
	SL_HTTP_OK = 0,     /* a 2xx response, body complete */
	SL_HTTP_ESTATUS,    /* a complete response with a non-2xx status (see status, body) */
	SL_HTTP_ETIMEOUT,   /* connect, total or low-speed timeout */
	SL_HTTP_ECONNECT,   /* could not resolve or connect */
	SL_HTTP_ETLS,       /* TLS handshake or certificate verification failed */
	SL_HTTP_ETOO_LARGE, /* body (or headers, or an SSE line) over its bound */
	SL_HTTP_EPARTIAL,   /* connection reset or closed before the response was complete */
	SL_HTTP_EABORTED,   /* the streaming callback asked to stop */
	SL_HTTP_EOTHER,     /* anything else libcurl reports (see err.msg) */
};
const char *sl_http_error_name(enum sl_http_error e);

/* TLS settings for one request. Verification is always on unless insecure_skip_verify is set; the
 * caller is responsible for logging a warning when it is (sluice does so at config load). */
struct sl_http_tls {
	const char *ca_file, *ca_dir;         /* NULL = the system store */
	const char *client_cert, *client_key; /* PEM; both or neither */
	bool insecure_skip_verify;
};

struct sl_http_response {
	enum sl_http_error error;
	struct sl_err err; /* code SL_OK, SL_ELIMIT (too large) or SL_ENET; where = method + URL
	                      without its query; never contains header values */
	int status;        /* 0 when no response arrived */
	const char *body;  /* NUL-terminated; NULL in streaming mode for 2xx responses */
	size_t body_len;
	/* Common response headers (NULL when absent); others via sl_http_response_header. */
	const char *content_type, *retry_after, *link;
	double total_s;    /* wall time of the transfer */
	const void *priv_; /* for sl_http_response_header */
};
/* The first response header called name (case-insensitive), borrowed; NULL when absent. */
const char *sl_http_response_header(const struct sl_http_response *r, const char *name);

/* Called once per transfer when it ends (not after sl_http_xfer_cancel). resp and everything in it
 * is borrowed and valid only during the call. The callback may start and cancel other transfers,
 * but must not free the client. */
typedef void (*sl_http_done_cb)(const struct sl_http_response *resp, void *arg);
/* Streaming mode: called with each piece of a 2xx body as it arrives; return non-zero to stop the
 * transfer (it then ends with SL_HTTP_EABORTED). Must not cancel or start transfers itself. */
typedef int (*sl_http_chunk_cb)(const char *data, size_t len, void *arg);

struct sl_http_request {
	const char *method; /* "GET" (default when NULL), "POST", "PUT", "DELETE", "HEAD", ... */
	const char *url;
	const char *const *headers; /* "Name: value" lines, copied */
	size_t nheaders;
	/* "Authorization: ..." or "X-Api-Key: ...": sent like headers, kept apart so it is wiped
	 * on free and never appears in any message. */
	const char *auth_header;
	const void *body; /* copied; may be NULL */
	size_t body_len;
	unsigned connect_timeout_ms; /* 0 = 10 s */
	unsigned timeout_ms;         /* whole transfer; 0 = 60 s, except streams: none */
	unsigned low_speed_bytes;    /* abort when fewer than this many bytes/s ... */
	unsigned low_speed_s;        /* ... for this many seconds (0 = off) */
	size_t max_body;             /* 0 = 16 MiB; for streams, 0 = unbounded total */
	bool follow_redirects;       /* at most 5, never to another scheme than http/https */
	struct sl_http_tls tls;
	sl_http_chunk_cb on_chunk; /* streaming mode (raw bytes) ... */
	sl_sse_cb on_sse_event;    /* ... or SSE mode: one call per event (needs no on_chunk) */
	size_t sse_max_line;       /* 0 = 64 KiB */
	sl_http_done_cb on_done;
	void *arg; /* passed to every callback */
};

struct sl_http_client;
struct sl_http_xfer;

/* A client on base. max_transfers bounds connections open at once (more requests queue); 0 = 100.
 */
struct sl_http_client *sl_http_client_new(struct event_base *base, unsigned max_transfers,
                                          struct sl_err *err) SL_MUSTCHECK;
/* Cancels every transfer without calling back. NULL is a no-op. */
void sl_http_client_free(struct sl_http_client *c);

/* Start a transfer. Returns a handle owned by the client (valid until on_done returns or until
 * cancelled), or NULL with err filled (bad URL, out of memory). */
struct sl_http_xfer *sl_http_client_start(struct sl_http_client *c,
                                          const struct sl_http_request *req, struct sl_err *err);
/* Stop a transfer; its on_done is not called. Not from inside that transfer's callbacks. */
void sl_http_xfer_cancel(struct sl_http_xfer *x);
/* Transfers started and not yet finished or cancelled. */
size_t sl_http_client_active(const struct sl_http_client *c);

#endif
