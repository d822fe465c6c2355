/* http_server.c — evhttp listener, TLS through bufferevent_openssl, and a linear route table (a
 * handful of routes: a trie would not pay for itself). */
#include "http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define MAX_ROUTES 32
#define MAX_SEGMENTS 16

struct route {
	int methods;
	char *pattern;
	sl_http_handler handler;
	void *arg;
};

struct sl_http_server {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	SSL_CTX *ssl;
	uint16_t port;
	struct route routes[MAX_ROUTES];
	size_t nroutes;
	sl_http_fallback fallback;
	void *fallback_arg;
};

static void ssl_error(struct sl_err *err, const char *where, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	sl_err_set(err, SL_EIO, where, "%s: %s", what, e ? buf : "unknown TLS error");
}

static SSL_CTX *make_ssl_ctx(const struct sl_http_server_config *cfg, struct sl_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		ssl_error(err, "tls", "cannot create a TLS context");
		return NULL;
	}
	/* TAXII 2.1 section 8.5.1: TLS 1.2 at least; no 0-RTT (OpenSSL does none unless asked). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
		ssl_error(err, cfg->tls_cert_file, "cannot load the certificate chain");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, cfg->tls_key_file,
		          "cannot load the private key (or it does not match)");
		goto fail;
	}
	if (cfg->tls_client_ca) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
			ssl_error(err, cfg->tls_client_ca, "cannot load the client CA file");
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
	struct sl_http_server *srv = arg;
	SSL *ssl = SSL_new(srv->ssl);

	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sl_http_decode(const char *src, size_t len, int plus_space, char *out, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)src[i + 1]);
			lo = hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			if (c == 0)
				return -1;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (o + 1 >= n)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

/* Match path against pattern; fill params with the '*' segments. */
static int match_path(const char *pattern, const char *path, struct sl_http_params *params)
{
	const char *p = pattern, *s = path;

	params->n = 0;
	while (*p && *s) {
		if (p[0] == '*' && (p[1] == '/' || p[1] == '\0')) {
			const char *end = strchr(s, '/');
			size_t len = end ? (size_t)(end - s) : strlen(s);

			if (len == 0 || params->n >= SL_HTTP_MAX_PARAMS)
				return 0;
			if (sl_http_decode(s, len, 0, params->v[params->n], SL_HTTP_PARAM_MAX) < 0)
				return 0;
			params->n++;
			s += len;
			p++;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *p == '\0' && *s == '\0';
}

static void default_fallback(struct evhttp_request *req, int status, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evbuffer_add_printf(b, "%s\n", status == 405 ? "method not allowed" : "not found");
	evhttp_send_reply(req, status, status == 405 ? "Method Not Allowed" : "Not Found", b);
	evbuffer_free(b);
}

/* libevent writes at most 16 KiB per syscall by default: a 64 KiB page took four writes, each
 * waking the reader. evhttp 2.1 has no hook when it accepts a connection, so this runs per request
 * (no syscall, just a field). */
static void tune_connection(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

	if (bev)
		bufferevent_set_max_single_write(bev, 256 * 1024);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct sl_http_server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	int method = (int)evhttp_request_get_command(req);
	struct sl_http_params params;
	int path_matched = 0;

	if (!path || !*path)
		path = "/";
	tune_connection(req);
	for (size_t i = 0; i < srv->nroutes; i++) {
		struct route *r = &srv->routes[i];

		if (!match_path(r->pattern, path, &params))
			continue;
		path_matched = 1;
		if (!(r->methods & method))
			continue;
		r->handler(req, &params, r->arg);
		return;
	}
	srv->fallback(req, path_matched ? 405 : 404, srv->fallback_arg);
}

struct sl_http_server *sl_http_server_new(struct event_base *base,
                                          const struct sl_http_server_config *cfg,
                                          struct sl_err *err)
{
	struct sl_http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	evutil_socket_t fd;

	if (!srv) {
		sl_err_set(err, SL_ENOMEM, "http", "out of memory");
		return NULL;
	}
	srv->fallback = default_fallback;
	if ((cfg->tls_cert_file != NULL) != (cfg->tls_key_file != NULL)) {
		sl_err_set(err, SL_EINVAL, "http", "TLS needs both a certificate and a key file");
		goto fail;
	}
	if (cfg->tls_client_ca && !cfg->tls_cert_file) {
		sl_err_set(err, SL_EINVAL, "http", "client certificates need TLS (cert and key)");
		goto fail;
	}
	srv->http = evhttp_new(base);
	if (!srv->http) {
		sl_err_set(err, SL_ENOMEM, "http", "cannot create the HTTP server");
		goto fail;
	}
	if (cfg->tls_cert_file) {
		srv->ssl = make_ssl_ctx(cfg, err);
		if (!srv->ssl)
			goto fail;
		evhttp_set_bevcb(srv->http, make_tls_bev, srv);
	}
	evhttp_set_max_headers_size(
	    srv->http, (ev_ssize_t)(cfg->max_headers_size ? cfg->max_headers_size : 16384));
	evhttp_set_max_body_size(srv->http,
	                         (ev_ssize_t)(cfg->max_body_size ? cfg->max_body_size : 1048576));
	evhttp_set_timeout(srv->http, cfg->timeout_s > 0 ? cfg->timeout_s : 30);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
	                                          EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT);
	evhttp_set_gencb(srv->http, dispatch, srv);
	srv->sock = evhttp_bind_socket_with_handle(srv->http, cfg->host ? cfg->host : "127.0.0.1",
	                                           cfg->port);
	if (!srv->sock) {
		sl_err_set(err, SL_EIO, cfg->host ? cfg->host : "127.0.0.1",
		           "cannot listen on port %u", (unsigned)cfg->port);
		goto fail;
	}
	fd = evhttp_bound_socket_get_fd(srv->sock);
	/* Replies go out as header + body writes; with Nagle the last small segment waits for the
	 * client's delayed ACK (~40 ms a request). Linux hands TCP_NODELAY on to accepted sockets.
	 */
	{
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return srv;
fail:
	sl_http_server_free(srv);
	return NULL;
}

void sl_http_server_free(struct sl_http_server *srv)
{
	if (!srv)
		return;
	if (srv->http)
		evhttp_free(srv->http);
	if (srv->ssl)
		SSL_CTX_free(srv->ssl);
	for (size_t i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].pattern);
	free(srv);
}

uint16_t sl_http_server_port(const struct sl_http_server *srv)
{
	return srv->port;
}

int sl_http_server_route(struct sl_http_server *srv, int methods, const char *pattern,
                         sl_http_handler handler, void *arg, struct sl_err *err)
{
	struct route *r;

	if (!pattern || pattern[0] != '/')
		return sl_err_set(err, SL_EINVAL, "http route", "a pattern must start with '/'");
	if (srv->nroutes >= MAX_ROUTES)
		return sl_err_set(err, SL_ELIMIT, pattern, "more than %d routes", MAX_ROUTES);
	r = &srv->routes[srv->nroutes];
	r->pattern = strdup(pattern);
	if (!r->pattern)
		return sl_err_set(err, SL_ENOMEM, pattern, "out of memory");
	r->methods = methods;
	r->handler = handler;
	r->arg = arg;
	srv->nroutes++;
	return 0;
}

void sl_http_server_set_fallback(struct sl_http_server *srv, sl_http_fallback cb, void *arg)
{
	srv->fallback = cb ? cb : default_fallback;
	srv->fallback_arg = arg;
}

int sl_http_request_peer_subject(struct evhttp_request *req, char *out, size_t n)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert;
	BIO *bio;
	int len;

	if (!ssl || n == 0)
		return SL_ENOTFOUND;
	cert = SSL_get1_peer_certificate(ssl);
	if (!cert)
		return SL_ENOTFOUND;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(cert);
		return SL_ENOTFOUND;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio) {
		X509_free(cert);
		return SL_ENOMEM;
	}
	X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
	len = BIO_read(bio, out, (int)n - 1);
	out[len > 0 ? len : 0] = '\0';
	BIO_free(bio);
	X509_free(cert);
	return 0;
}
