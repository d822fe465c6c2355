/* http_server.h — a small HTTP/1.1 server on libevent's evhttp: one listener (optionally TLS,
 * optionally requiring client certificates), header/body/time limits, and a route table of method +
 * path pattern. */
#ifndef SL_HTTP_SERVER_H
#define SL_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "err.h"

struct sl_http_server;

struct sl_http_server_config {
	const char *host; /* address to bind, e.g. "127.0.0.1" */
	uint16_t port;    /* 0 = any free port (see sl_http_server_port) */
	const char
	    *tls_cert_file; /* PEM chain; with tls_key_file enables TLS (both NULL = plain HTTP) */
	const char *tls_key_file; /* PEM private key */
	const char
	    *tls_client_ca; /* PEM CA file: when set, clients must present a certificate it signs */
	size_t max_headers_size; /* request line + headers; 0 = 16 KiB */
	size_t max_body_size;    /* larger bodies are refused by libevent with 413; 0 = 1 MiB */
	int timeout_s;           /* read/write timeout per connection; 0 = 30 s */
};

/* Methods for sl_http_server_route (evhttp's values, so they can be or'ed). */
#define SL_HTTP_GET EVHTTP_REQ_GET
#define SL_HTTP_POST EVHTTP_REQ_POST
#define SL_HTTP_DELETE EVHTTP_REQ_DELETE

#define SL_HTTP_MAX_PARAMS 4
#define SL_HTTP_PARAM_MAX 256

/* The path segments a pattern's '*' captured, percent-decoded, in order. */
struct sl_http_params {
	size_t n;
	char v[SL_HTTP_MAX_PARAMS][SL_HTTP_PARAM_MAX];
};

typedef void (*sl_http_handler)(struct evhttp_request *req, const struct sl_http_params *params,
                                void *arg);
/* Called when no route matches: status is 404 (no pattern matches the path) or 405 (a pattern
 * matches, not for this method). The callback must send a reply. */
typedef void (*sl_http_fallback)(struct evhttp_request *req, int status, void *arg);

/* Bind and listen on base. Returns NULL with err filled (bad TLS files, address in use...). */
struct sl_http_server *sl_http_server_new(struct event_base *base,
                                          const struct sl_http_server_config *cfg,
                                          struct sl_err *err);
/* Close the listener and all connections. NULL is a no-op. Stop the loop with event_base_loopexit
 * and a short delay (tens of ms) rather than loopbreak: a TLS connection failing at that moment
 * otherwise never runs its close callbacks, and libevent 2.1 then leaves its SSL behind (seen
 * under ASan in about half the runs of the TLS test). */
void sl_http_server_free(struct sl_http_server *srv);
/* The port actually bound (useful with port 0). */
uint16_t sl_http_server_port(const struct sl_http_server *srv);

/* Add a route. pattern is an absolute path whose segments are literals or "*" (exactly one
 * non-empty segment, captured); the trailing '/' is significant. Routes are tried in the order
 * added. pattern is copied; arg is borrowed. */
int sl_http_server_route(struct sl_http_server *srv, int methods, const char *pattern,
                         sl_http_handler handler, void *arg, struct sl_err *err);
/* Replace the default 404/405 answer (plain text). arg is borrowed. */
void sl_http_server_set_fallback(struct sl_http_server *srv, sl_http_fallback cb, void *arg);

/* The subject of the verified client certificate of req's connection, as an RFC 2253 string, in
 * out (size n). Returns 0, or SL_ENOTFOUND when the connection has no verified client certificate.
 */
int sl_http_request_peer_subject(struct evhttp_request *req, char *out, size_t n);

/* Percent-decode src[0..len) into out (size n, NUL-terminated); '+' becomes ' ' when plus_space.
 * Returns the decoded length, or -1 when it does not fit, a %-escape is malformed or decodes to
 * NUL. */
int sl_http_decode(const char *src, size_t len, int plus_space, char *out, size_t n);

#endif
