/* test_http_client.c — the HTTP client against real servers on loopback started here (evhttp, a raw
 * socket that resets, TLS with a certificate made in the test): bodies, caps, timeouts, resets,
 * slow and streamed bodies, SSE, Retry-After, concurrency, cancel, TLS verification. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "backoff.h"
#include "http_client.h"
#include "log.h"

#define TOKEN "Bearer s3cr3t-t0ken-value"

struct env {
	struct event_base *base;
	struct evhttp *http;
	uint16_t port;
	struct evhttp *https;
	uint16_t tls_port;
	SSL_CTX *ssl;
	char certfile[256];
	char tmpdir[64];
	struct sl_http_client *client;
	struct event *watchdog;
	int want, got;
	struct evhttp_request *held[16]; /* /never requests, answered at teardown */
};

/* ---- test server ------------------------------------------------------------------------- */

struct drip {
	struct evhttp_request *req;
	struct event *ev;
	int i, n;
	const char *const *pieces; /* NULL = 'x' * 100 per tick */
	int closed;
};

static void drip_free(struct drip *d)
{
	event_free(d->ev);
	free(d);
}

static void on_drip_close(struct evhttp_connection *conn, void *arg)
{
	struct drip *d = arg;

	/* the client gave up (e.g. timeout): stop writing to a request libevent will free */
	/* the client gave up; libevent detaches the request, and answering it frees it */
	(void)conn;
	d->closed = 1;
}

static void drip_tick(evutil_socket_t fd, short what, void *arg)
{
	struct drip *d = arg;
	struct evbuffer *b;
	struct timeval tv = {0, 30000};

	(void)fd;
	(void)what;
	if (d->closed) {
		evhttp_send_reply_end(d->req);
		drip_free(d);
		return;
	}
	if (d->i == d->n) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(d->req), NULL, NULL);
		evhttp_send_reply_end(d->req);
		drip_free(d);
		return;
	}
	b = evbuffer_new();
	if (d->pieces)
		evbuffer_add(b, d->pieces[d->i], strlen(d->pieces[d->i]));
	else
		evbuffer_add_printf(b, "%0100d", d->i);
	evhttp_send_reply_chunk(d->req, b);
	evbuffer_free(b);
	d->i++;
	event_add(d->ev, &tv);
}

static void start_drip(struct evhttp_request *req, struct event_base *base, int n,
                       const char *const *pieces, const char *ctype)
{
	struct drip *d = calloc(1, sizeof(*d));

	d->req = req;
	d->n = n;
	d->pieces = pieces;
	d->ev = evtimer_new(base, drip_tick, d);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_drip_close, d);
	evhttp_send_reply_start(req, 200, "OK");
	drip_tick(-1, 0, d);
}

static const char *const sse_pieces[] = {
    "event: connected\ndata: {\"connectionId\":\"c1\"}\n\n",
    "id: 1711633413527-0\nevent: cre",
    "ate\ndata: {\"id\":\"indicator--1\"}\n",
    "\nid: 1711633413527-1\r\nevent: heartbeat\r\ndata: \"2024-03-28T13:43:33.527Z\"\r\n\r",
    "\n: keep-alive\n\n",
};

static void handle(struct evhttp_request *req, void *arg)
{
	struct env *e = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	if (strcmp(uri, "/hello") == 0) {
		evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
		evhttp_add_header(out, "Link", "</next?page=2>; rel=\"next\"");
		evhttp_add_header(out, "X-Custom", "yes");
		evbuffer_add_printf(b, "hello world");
		evhttp_send_reply(req, 200, "OK", b);
	} else if (strcmp(uri, "/echo") == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		const char *auth =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
		const char *xt =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "X-Test");

		evbuffer_add_printf(b, "%s|%s|%s|",
		                    evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST"
		                                                                       : "other",
		                    auth ? auth : "-", xt ? xt : "-");
		evbuffer_add_buffer(b, in);
		evhttp_send_reply(req, 200, "OK", b);
	} else if (strcmp(uri, "/big") == 0) {
		int i;

		for (i = 0; i < 1000; i++)
			evbuffer_add_printf(b, "%099d\n", i);
		evhttp_send_reply(req, 200, "OK", b);
	} else if (strcmp(uri, "/bigchunked") == 0) {
		start_drip(req, e->base, 200, NULL, "application/octet-stream");
	} else if (strcmp(uri, "/slow") == 0) {
		start_drip(req, e->base, 10, NULL, "application/octet-stream");
	} else if (strcmp(uri, "/retry") == 0) {
		evhttp_add_header(out, "Retry-After", "3");
		evhttp_add_header(out, "Content-Type", "application/json");
		evbuffer_add_printf(b, "{\"message\":\"slow down\"}");
		evhttp_send_reply(req, 429, "Too Many Requests", b);
	} else if (strcmp(uri, "/sse") == 0) {
		start_drip(req, e->base, 5, sse_pieces, "text/event-stream");
	} else if (strcmp(uri, "/sse-forbidden") == 0) {
		evbuffer_add_printf(b, "stream stopped");
		evhttp_send_reply(req, 410, "Gone", b);
	} else if (strncmp(uri, "/never", 6) == 0) {
		/* hold the request: the client must give up on its own */
		size_t i;

		for (i = 0; i < 16 && e->held[i]; i++)
			;
		assert_true(i < 16);
		e->held[i] = req;
	} else {
		evhttp_send_reply(req, 404, "Not Found", NULL);
	}
	evbuffer_free(b);
}

static uint16_t bound_port(struct evhttp_bound_socket *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &len),
	                 0);
	return ntohs(sin.sin_port);
}

/* A self-signed certificate for 127.0.0.1, made with OpenSSL's APIs, written as PEM. */
static void make_cert(struct env *e)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	FILE *f;

	assert_non_null(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sluice test",
	                           -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);

	snprintf(e->certfile, sizeof(e->certfile), "%s/ca.pem", e->tmpdir);
	f = fopen(e->certfile, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	e->ssl = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(e->ssl, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(e->ssl, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct env *e = arg;

	return bufferevent_openssl_socket_new(base, -1, SSL_new(e->ssl), BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;

	(void)fd;
	(void)what;
	fprintf(stderr, "watchdog: only %d of %d transfers finished\n", e->got, e->want);
	event_base_loopbreak(e->base);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct evhttp_bound_socket *s;
	struct sl_err err;

	strcpy(e->tmpdir, "/tmp/sl_http_client.XXXXXX");
	assert_non_null(mkdtemp(e->tmpdir));
	e->base = event_base_new();
	e->http = evhttp_new(e->base);
	evhttp_set_gencb(e->http, handle, e);
	s = evhttp_bind_socket_with_handle(e->http, "127.0.0.1", 0);
	assert_non_null(s);
	e->port = bound_port(s);

	make_cert(e);
	e->https = evhttp_new(e->base);
	evhttp_set_gencb(e->https, handle, e);
	evhttp_set_bevcb(e->https, tls_bev, e);
	s = evhttp_bind_socket_with_handle(e->https, "127.0.0.1", 0);
	assert_non_null(s);
	e->tls_port = bound_port(s);

	e->client = sl_http_client_new(e->base, 100, &err);
	assert_non_null(e->client);
	e->watchdog = evtimer_new(e->base, on_watchdog, e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	size_t i;

	sl_http_client_free(e->client);
	/* libevent keeps a request it handed out until it is answered, even once the client has
	 * gone (it is then detached, and answering frees it) */
	for (i = 0; i < 16; i++)
		if (e->held[i])
			evhttp_send_reply(e->held[i], 503, "Gone", NULL);
	evhttp_free(e->http);
	evhttp_free(e->https);
	SSL_CTX_free(e->ssl);
	event_free(e->watchdog);
	event_base_free(e->base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->tmpdir);
	if (system(cmd) != 0)
		return -1;
	free(e);
	return 0;
}

/* Run the loop until want transfers have called back (or 20 s pass, which fails the test). */
static void run_until(struct env *e, int want)
{
	struct timeval tv = {20, 0};

	e->want = want;
	evtimer_add(e->watchdog, &tv);
	while (e->got < e->want) {
		int before = e->got;

		event_base_loop(e->base, EVLOOP_ONCE);
		if (!evtimer_pending(e->watchdog, NULL) && e->got == before)
			break;
	}
	evtimer_del(e->watchdog);
	assert_int_equal(e->got, want);
}

/* ---- capture of one response --------------------------------------------------------------- */

struct result {
	struct env *e;
	enum sl_http_error error;
	int code, status;
	char body[256 * 1024];
	size_t body_len;
	char ctype[128], retry_after[64], link[128], custom[32], where[SL_ERR_WHERE_MAX],
	    msg[SL_ERR_MSG_MAX];
	char events[2048];
	int nevents;
	size_t streamed;
	int stop_after_events;
};

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void on_done(const struct sl_http_response *r, void *arg)
{
	struct result *res = arg;

	res->error = r->error;
	res->code = r->err.code;
	res->status = r->status;
	res->body_len = r->body ? r->body_len : 0;
	if (r->body && r->body_len < sizeof(res->body))
		memcpy(res->body, r->body, r->body_len + 1);
	copy(res->ctype, sizeof(res->ctype), r->content_type);
	copy(res->retry_after, sizeof(res->retry_after), r->retry_after);
	copy(res->link, sizeof(res->link), r->link);
	copy(res->custom, sizeof(res->custom), sl_http_response_header(r, "x-custom"));
	copy(res->where, sizeof(res->where), r->err.where);
	copy(res->msg, sizeof(res->msg), r->err.msg);
	res->e->got++;
}

static struct sl_http_xfer *get(struct env *e, struct result *res, const char *path,
                                struct sl_http_request *tmpl)
{
	char url[256];
	struct sl_http_request req = {0};
	struct sl_err err;
	struct sl_http_xfer *x;

	if (tmpl)
		req = *tmpl;
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", tmpl && tmpl->url ? tmpl->url : "http",
	         tmpl && tmpl->url ? e->tls_port : e->port, path);
	req.url = url;
	req.on_done = on_done;
	req.arg = res;
	res->e = e;
	x = sl_http_client_start(e->client, &req, &err);
	if (!x)
		fail_msg("start %s: %s", path, err.msg);
	return x;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void ok_with_body_and_headers(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));

	e->got = 0;
	get(e, r, "/hello", NULL);
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_OK);
	assert_int_equal(r->code, SL_OK);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->body, "hello world");
	assert_int_equal(r->body_len, 11);
	assert_string_equal(r->ctype, "text/plain; charset=utf-8");
	assert_string_equal(r->link, "</next?page=2>; rel=\"next\"");
	assert_string_equal(r->custom, "yes");
	assert_int_equal(sl_http_client_active(e->client), 0);
	free(r);
}

static void post_with_headers_body_and_auth(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));
	const char *hdrs[] = {"X-Test: 42", "Content-Type: application/json"};
	char body[] = "{\"event\":1}";
	struct sl_http_request req = {.method = "POST",
	                              .headers = hdrs,
	                              .nheaders = 2,
	                              .auth_header = "Authorization: " TOKEN,
	                              .body = body,
	                              .body_len = strlen(body)};

	e->got = 0;
	get(e, r, "/echo", &req);
	memset(body, 'Z', strlen(body)); /* the client kept its own copy */
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_OK);
	assert_string_equal(r->body, "POST|" TOKEN "|42|{\"event\":1}");
	free(r);
}

static void many_concurrent_requests_all_complete(void **state)
{
	struct env *e = *state;
	enum { N = 200 };
	struct result *r = calloc(N, sizeof(*r));
	int i, ok = 0;

	e->got = 0;
	for (i = 0; i < N; i++)
		get(e, &r[i], i % 2 ? "/hello" : "/big", NULL);
	assert_int_equal(sl_http_client_active(e->client), N);
	run_until(e, N);
	for (i = 0; i < N; i++)
		ok += r[i].error == SL_HTTP_OK && r[i].status == 200 &&
		      r[i].body_len == (i % 2 ? 11u : 100000u);
	assert_int_equal(ok, N);
	assert_int_equal(sl_http_client_active(e->client), 0);
	free(r);
}

static void server_that_never_answers_times_out(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));
	struct sl_http_request req = {.timeout_ms = 300};

	e->got = 0;
	get(e, r, "/never?token=abc", &req);
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_ETIMEOUT);
	assert_int_equal(r->code, SL_ENET);
	assert_int_equal(r->status, 0);
	/* the message names the request, without its query (which may carry a token) */
	assert_non_null(strstr(r->where, "GET http://127.0.0.1:"));
	assert_non_null(strstr(r->where, "/never"));
	assert_null(strstr(r->where, "token"));
	assert_non_null(strstr(r->msg, "timeout"));
	free(r);
}

static void body_over_the_cap_is_a_limit_error(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(2, sizeof(*r));
	struct sl_http_request req = {.max_body = 10000};

	e->got = 0;
	get(e, &r[0], "/big", &req);        /* Content-Length announced: refused early */
	get(e, &r[1], "/bigchunked", &req); /* chunked: refused once the cap is crossed */
	run_until(e, 2);
	assert_int_equal(r[0].error, SL_HTTP_ETOO_LARGE);
	assert_int_equal(r[0].code, SL_ELIMIT);
	assert_int_equal(r[1].error, SL_HTTP_ETOO_LARGE);
	assert_int_equal(r[1].code, SL_ELIMIT);
	assert_non_null(strstr(r[1].msg, "10000"));
	free(r);
	/* the same body under a big enough cap is fine */
	r = calloc(1, sizeof(*r));
	req.max_body = 100000;
	e->got = 0;
	get(e, r, "/big", &req);
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_OK);
	assert_int_equal(r->body_len, 100000);
	free(r);
}

/* A raw server that announces 100000 bytes, sends a few, then resets the connection. */
struct resetter {
	evutil_socket_t lfd;
	struct event *accept_ev;
	struct event_base *base;
};

static void on_reset_readable(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096];
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial body";
	struct linger lg = {1, 0};
	struct event *ev = arg;

	(void)what;
	if (read(fd, buf, sizeof(buf)) <= 0) {
		close(fd);
		event_free(ev);
		return;
	}
	if (write(fd, resp, sizeof(resp) - 1) < 0)
		perror("write");
	usleep(50000);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* close -> RST */
	close(fd);
	event_free(ev);
}

static void on_reset_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct resetter *rs = arg;
	evutil_socket_t fd = accept(lfd, NULL, NULL);
	struct event *ev;

	(void)what;
	if (fd < 0)
		return;
	ev = event_new(rs->base, fd, EV_READ, on_reset_readable, event_self_cbarg());
	event_add(ev, NULL);
}

static void reset_mid_body_is_partial(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));
	struct resetter rs = {.base = e->base};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct sl_http_request req = {0};
	char url[128];
	struct sl_err err;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rs.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(rs.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(rs.lfd, 8), 0);
	getsockname(rs.lfd, (struct sockaddr *)&sin, &len);
	rs.accept_ev = event_new(e->base, rs.lfd, EV_READ | EV_PERSIST, on_reset_accept, &rs);
	event_add(rs.accept_ev, NULL);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(sin.sin_port));
	req.url = url;
	req.on_done = on_done;
	req.arg = r;
	r->e = e;
	e->got = 0;
	assert_non_null(sl_http_client_start(e->client, &req, &err));
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_EPARTIAL);
	assert_int_equal(r->code, SL_ENET);
	event_free(rs.accept_ev);
	close(rs.lfd);

	/* and a port where nothing listens is a connect error */
	memset(r, 0, sizeof(*r));
	r->e = e;
	e->got = 0;
	assert_non_null(sl_http_client_start(e->client, &req, &err));
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_ECONNECT);
	free(r);
}

static void slow_body_completes_but_total_timeout_cuts_it(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(2, sizeof(*r));
	struct sl_http_request patient = {.timeout_ms = 10000};
	struct sl_http_request hurried = {.timeout_ms = 120};

	e->got = 0;
	get(e, &r[0], "/slow", &patient); /* ten 100-byte pieces, 30 ms apart */
	get(e, &r[1], "/slow", &hurried);
	run_until(e, 2);
	assert_int_equal(r[0].error, SL_HTTP_OK);
	assert_int_equal(r[0].body_len, 1000);
	assert_memory_equal(r[0].body + 900, "0000000000", 10);
	assert_int_equal(r[1].error, SL_HTTP_ETIMEOUT);
	free(r);
}

static void low_speed_limit_cuts_a_trickle(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));
	/* /bigchunked trickles ~3 KB/s for 6 s; demand 1 MB/s over any 1 s window */
	struct sl_http_request req = {
	    .timeout_ms = 15000, .low_speed_bytes = 1000000, .low_speed_s = 1};

	e->got = 0;
	get(e, r, "/bigchunked", &req);
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_ETIMEOUT);
	assert_int_equal(r->code, SL_ENET);
	free(r);
}

static void retry_after_is_reported(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));
	int64_t ms = -1;

	e->got = 0;
	get(e, r, "/retry", NULL);
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_ESTATUS);
	assert_int_equal(r->status, 429);
	assert_string_equal(r->retry_after, "3");
	assert_string_equal(r->body, "{\"message\":\"slow down\"}");
	assert_non_null(strstr(r->msg, "429"));
	assert_int_equal(sl_backoff_parse_retry_after(r->retry_after, 0, &ms), 0);
	assert_int_equal(ms, 3000);
	assert_true(sl_backoff_status_retryable(r->status));
	free(r);
}

static int on_event(const struct sl_sse_event *ev, void *arg)
{
	struct result *r = arg;
	size_t n = strlen(r->events);

	snprintf(r->events + n, sizeof(r->events) - n, "[%s|%s|%s]", ev->type, ev->id, ev->data);
	r->nevents++;
	return r->stop_after_events && r->nevents >= r->stop_after_events;
}

static void sse_stream_in_odd_chunks(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(3, sizeof(*r));
	struct sl_http_request req = {.on_sse_event = on_event};

	e->got = 0;
	get(e, &r[0], "/sse", &req);
	/* events come through on_sse_event, but the callback's arg is the same result */
	run_until(e, 1);
	assert_int_equal(r[0].error, SL_HTTP_OK);
	assert_int_equal(r[0].nevents, 3);
	assert_string_equal(r[0].events,
	                    "[connected||{\"connectionId\":\"c1\"}]"
	                    "[create|1711633413527-0|{\"id\":\"indicator--1\"}]"
	                    "[heartbeat|1711633413527-1|\"2024-03-28T13:43:33.527Z\"]");
	assert_string_equal(r[0].ctype, "text/event-stream");

	/* a consumer can stop the stream after the event it needed */
	r[1].stop_after_events = 2;
	e->got = 0;
	get(e, &r[1], "/sse", &req);
	run_until(e, 1);
	assert_int_equal(r[1].error, SL_HTTP_EABORTED);
	assert_int_equal(r[1].nevents, 2);

	/* an error status is not fed to the parser; its body is kept for the message */
	e->got = 0;
	get(e, &r[2], "/sse-forbidden", &req);
	run_until(e, 1);
	assert_int_equal(r[2].error, SL_HTTP_ESTATUS);
	assert_int_equal(r[2].status, 410);
	assert_int_equal(r[2].nevents, 0);
	assert_string_equal(r[2].body, "stream stopped");
	free(r);
}

static void sse_line_over_its_bound_is_a_limit_error(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(1, sizeof(*r));
	struct sl_http_request req = {.on_sse_event = on_event, .sse_max_line = 16};

	e->got = 0;
	get(e, r, "/sse", &req);
	run_until(e, 1);
	assert_int_equal(r->error, SL_HTTP_ETOO_LARGE);
	assert_int_equal(r->code, SL_ELIMIT);
	assert_non_null(strstr(r->msg, "line longer than 16"));
	free(r);
}

static void cancel_means_no_callback(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(2, sizeof(*r));
	struct sl_http_xfer *x;

	e->got = 0;
	x = get(e, &r[0], "/never", NULL);
	get(e, &r[1], "/hello", NULL);
	sl_http_xfer_cancel(x);
	assert_int_equal(sl_http_client_active(e->client), 1);
	run_until(e, 1);
	assert_int_equal(r[1].error, SL_HTTP_OK);
	assert_int_equal(r[0].status, 0);
	assert_null(r[0].e->client == NULL ? NULL : (r[0].body_len ? "x" : NULL));
	assert_int_equal(sl_http_client_active(e->client), 0);
	free(r);
}

static void freeing_the_client_cancels_everything(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(4, sizeof(*r));
	struct sl_http_client *own = sl_http_client_new(e->base, 10, NULL), *shared = e->client;
	struct timeval tv = {0, 100000};
	int i;

	assert_non_null(own);
	e->client = own;
	e->got = 0;
	for (i = 0; i < 4; i++)
		get(e, &r[i], i ? "/never" : "/slow", NULL);
	/* let the transfers get going, then drop the client mid-flight */
	event_base_loopexit(e->base, &tv);
	event_base_dispatch(e->base);
	assert_int_equal(sl_http_client_active(own), 4);
	sl_http_client_free(own);
	e->client = shared;
	/* no callback ran, and the loop has nothing of the client left to run */
	tv.tv_usec = 200000;
	event_base_loopexit(e->base, &tv);
	event_base_dispatch(e->base);
	assert_int_equal(e->got, 0);
	free(r);
}

static void tls_is_verified_by_default(void **state)
{
	struct env *e = *state;
	struct result *r = calloc(3, sizeof(*r));
	struct sl_http_request dflt = {.url = "https", .auth_header = "Authorization: " TOKEN};
	struct sl_http_request with_ca = {.url = "https", .tls = {.ca_file = e->certfile}};
	struct sl_http_request insecure = {.url = "https", .tls = {.insecure_skip_verify = true}};

	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *log = open_memstream(&logbuf, &loglen);

	sl_log_setup(log, SL_LOG_DEBUG);
	e->got = 0;
	get(e, &r[0], "/hello", &dflt);
	get(e, &r[1], "/hello", &with_ca);
	get(e, &r[2], "/hello", &insecure);
	run_until(e, 3);
	sl_log_setup(stderr, SL_LOG_INFO);
	fclose(log);
	/* switching verification off is logged, naming the request; the token never is */
	assert_non_null(strstr(logbuf, "verification is OFF"));
	assert_non_null(strstr(logbuf, "/hello"));
	assert_null(strstr(logbuf, "s3cr3t"));
	free(logbuf);
	/* a self-signed certificate is refused unless its CA is configured... */
	assert_int_equal(r[0].error, SL_HTTP_ETLS);
	assert_int_equal(r[0].code, SL_ENET);
	assert_null(strstr(r[0].msg, "s3cr3t"));
	assert_null(strstr(r[0].where, "s3cr3t"));
	assert_int_equal(r[1].error, SL_HTTP_OK);
	assert_string_equal(r[1].body, "hello world");
	/* ...or verification is explicitly switched off */
	assert_int_equal(r[2].error, SL_HTTP_OK);
	free(r);
}

static void bad_requests_are_refused_up_front(void **state)
{
	struct env *e = *state;
	struct sl_http_request req = {.url = "file:///etc/passwd"};
	struct sl_err err;

	assert_null(sl_http_client_start(e->client, &req, &err));
	assert_int_equal(err.code, SL_EINVAL);
	req.url = "https://127.0.0.1/";
	req.tls.client_cert = "/x.pem";
	assert_null(sl_http_client_start(e->client, &req, &err));
	assert_non_null(strstr(err.msg, "client_key"));
	assert_int_equal(sl_http_client_active(e->client), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ok_with_body_and_headers),
	    cmocka_unit_test(post_with_headers_body_and_auth),
	    cmocka_unit_test(many_concurrent_requests_all_complete),
	    cmocka_unit_test(server_that_never_answers_times_out),
	    cmocka_unit_test(body_over_the_cap_is_a_limit_error),
	    cmocka_unit_test(reset_mid_body_is_partial),
	    cmocka_unit_test(slow_body_completes_but_total_timeout_cuts_it),
	    cmocka_unit_test(low_speed_limit_cuts_a_trickle),
	    cmocka_unit_test(retry_after_is_reported),
	    cmocka_unit_test(sse_stream_in_odd_chunks),
	    cmocka_unit_test(sse_line_over_its_bound_is_a_limit_error),
	    cmocka_unit_test(cancel_means_no_callback),
	    cmocka_unit_test(freeing_the_client_cancels_everything),
	    cmocka_unit_test(tls_is_verified_by_default),
	    cmocka_unit_test(bad_requests_are_refused_up_front),
	};
	/* the servers here share the process: a client that hangs up mid-body must not kill it */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
