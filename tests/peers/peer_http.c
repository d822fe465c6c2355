/* peer_http.c — shared evhttp plumbing and fault injection for the test peers. */
#include "peer_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>

#include "json.h"

struct sl_peer {
	struct event_base *base;
	struct evhttp *http;
	int port;
	const struct sl_peer_ops *ops;
	void *ctx;
	struct sl_peer_opts opts;
	uint64_t rng;
	/* the current fault: kind, probability (per million), how many left (-1 = unlimited) */
	enum sl_peer_fault fault;
	uint32_t fault_ppm;
	long fault_left;
	int html_status;
	/* the post fault picked for the request being handled (handlers answer synchronously) */
	enum sl_peer_fault pending_post;
	unsigned long n_requests, n_faults;
	unsigned long n_by_kind[SL_PEER_FAULT_RESET + 1];
};

static const char *const fault_names[] = {
    [SL_PEER_FAULT_NONE] = "none",
    [SL_PEER_FAULT_500] = "500",
    [SL_PEER_FAULT_429] = "429",
    [SL_PEER_FAULT_401] = "401",
    [SL_PEER_FAULT_HTML] = "html",
    [SL_PEER_FAULT_HTML200] = "html200",
    [SL_PEER_FAULT_WRONGSHAPE] = "wrongshape",
    [SL_PEER_FAULT_HANG] = "hang",
    [SL_PEER_FAULT_MALFORMED] = "malformed",
    [SL_PEER_FAULT_SLOW] = "slow",
    [SL_PEER_FAULT_RESET] = "reset",
};

const char *sl_peer_fault_name(enum sl_peer_fault k)
{
	if ((int)k < 0 || k > SL_PEER_FAULT_RESET)
		return "?";
	return fault_names[k];
}

static int fault_from_name(const char *s, size_t n)
{
	for (int k = 0; k <= SL_PEER_FAULT_RESET; k++)
		if (strlen(fault_names[k]) == n && strncmp(fault_names[k], s, n) == 0)
			return k;
	return -1;
}

uint64_t sl_peer_rand(struct sl_peer *p)
{
	/* xorshift64*: small, seedable, good enough to spread faults */
	uint64_t x = p->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void sl_peer_uuid4(struct sl_peer *p, char out[37])
{
	unsigned char b[16];
	uint64_t a = sl_peer_rand(p), c = sl_peer_rand(p);
	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static int set_fault(struct sl_peer *p, int kind, double rate, long count, int html_status,
                     char *errbuf, size_t errsz)
{
	if (kind < 0) {
		snprintf(errbuf, errsz,
		         "unknown fault kind (none, 500, 429, 401, html, html200, "
		         "wrongshape, hang, malformed, slow, reset)");
		return -1;
	}
	if (!(rate >= 0.0 && rate <= 1.0)) {
		snprintf(errbuf, errsz, "fault rate must be between 0 and 1");
		return -1;
	}
	p->fault = (enum sl_peer_fault)kind;
	p->fault_ppm = (uint32_t)(rate * 1000000.0 + 0.5);
	p->fault_left = count;
	p->html_status = html_status ? html_status : (kind == SL_PEER_FAULT_HTML200 ? 200 : 502);
	return 0;
}

int sl_peer_fault_parse(struct sl_peer *p, const char *spec, char *errbuf, size_t errsz)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	double rate = 1.0;

	if (colon) {
		char *end;
		errno = 0;
		rate = strtod(colon + 1, &end);
		if (errno || *end || end == colon + 1) {
			snprintf(errbuf, errsz, "fault '%s': RATE is not a number", spec);
			return -1;
		}
	}
	return set_fault(p, fault_from_name(spec, n), rate, -1, 0, errbuf, errsz);
}

static enum sl_peer_fault pick_fault(struct sl_peer *p)
{
	if (p->fault == SL_PEER_FAULT_NONE || p->fault_left == 0)
		return SL_PEER_FAULT_NONE;
	if ((uint32_t)(sl_peer_rand(p) % 1000000u) >= p->fault_ppm)
		return SL_PEER_FAULT_NONE;
	if (p->fault_left > 0)
		p->fault_left--;
	p->n_faults++;
	p->n_by_kind[p->fault]++;
	return p->fault;
}

char *sl_peer_body_str(struct sl_peer *p, struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s;

	if (n > p->opts.max_body)
		return NULL;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	evbuffer_copyout(in, s, n);
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

json_t *sl_peer_body_json(struct sl_peer *p, struct evhttp_request *req, char *errbuf, size_t errsz)
{
	struct sl_json_limits lim = {p->opts.max_body, SL_JSON_DEFAULT_MAX_DEPTH};
	struct sl_err err = {0};
	size_t n = 0;
	char *s = sl_peer_body_str(p, req, &n);
	json_t *v;

	if (!s) {
		snprintf(errbuf, errsz, "request body over %zu bytes", p->opts.max_body);
		return NULL;
	}
	if (n == 0) {
		free(s);
		snprintf(errbuf, errsz, "empty request body");
		return NULL;
	}
	v = sl_json_parse(s, n, &lim, "request body", &err);
	free(s);
	if (!v)
		snprintf(errbuf, errsz, "%s: %s", err.where, err.msg);
	return v;
}

char *sl_peer_query(struct evhttp_request *req, const char *name)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv;
	const char *v;
	char *out = NULL;

	if (!q)
		return NULL;
	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(q, &kv) != 0) {
		evhttp_clear_headers(&kv);
		return NULL;
	}
	v = evhttp_find_header(&kv, name);
	if (v)
		out = strdup(v);
	evhttp_clear_headers(&kv);
	return out;
}

/* ---- replies and post faults ---- */

struct trickle {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct evbuffer *rest;
	struct event *timer;
	size_t chunk;
	struct timeval tv;
};

static void trickle_free(struct trickle *t)
{
	event_free(t->timer);
	evbuffer_free(t->rest);
	free(t);
}

/* When a client goes away in the middle of an answer, evhttp detaches the request from the
 * connection and leaves it to us; at shutdown it is still attached and evhttp frees it. */
static void free_if_detached(struct evhttp_request *req)
{
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

static void trickle_closed(struct evhttp_connection *evcon, void *arg)
{
	struct trickle *t = arg;
	struct evhttp_request *req = t->req;
	trickle_free(t);
	free_if_detached(req);
}

static void unanswered_closed(struct evhttp_connection *evcon, void *arg)
{
	free_if_detached(arg);
}

/* A request this peer will never answer (hang, reset): freed when its client leaves. */
static void leave_unanswered(struct evhttp_request *req)
{
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), unanswered_closed, req);
}

static void trickle_tick(evutil_socket_t fd, short what, void *arg)
{
	struct trickle *t = arg;
	struct evbuffer *chunk = evbuffer_new();

	evbuffer_remove_buffer(t->rest, chunk, t->chunk);
	evhttp_send_reply_chunk(t->req, chunk);
	evbuffer_free(chunk);
	if (evbuffer_get_length(t->rest) == 0) {
		evhttp_connection_set_closecb(t->evcon, NULL, NULL);
		evhttp_send_reply_end(t->req);
		trickle_free(t);
		return;
	}
	event_add(t->timer, &t->tv);
}

static void start_trickle(struct sl_peer *p, struct evhttp_request *req, int status,
                          struct evbuffer *body)
{
	struct trickle *t = calloc(1, sizeof(*t));

	t->req = req;
	t->evcon = evhttp_request_get_connection(req);
	t->rest = evbuffer_new();
	evbuffer_add_buffer(t->rest, body);
	t->chunk = p->opts.slow_bytes ? p->opts.slow_bytes : 8;
	t->tv.tv_sec = p->opts.slow_ms / 1000;
	t->tv.tv_usec = (p->opts.slow_ms % 1000) * 1000;
	t->timer = evtimer_new(p->base, trickle_tick, t);
	evhttp_connection_set_closecb(t->evcon, trickle_closed, t);
	evhttp_send_reply_start(req, status, "OK");
	event_add(t->timer, &t->tv);
}

/* Write a status line, headers and half the body straight to the socket, then shut it down: the
 * client sees the connection end mid-body. The request is left unanswered for evhttp to clean up.
 */
static void reset_midbody(struct evhttp_request *req, int status, const char *ctype,
                          struct evbuffer *body)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	evutil_socket_t fd = bufferevent_getfd(bev);
	size_t n = evbuffer_get_length(body);
	char head[256];
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
	                  status, ctype, n);
	unsigned char *b = evbuffer_pullup(body, -1);

	if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) < 0 || send(fd, b, n / 2, MSG_NOSIGNAL) < 0) {
		/* the client left already; nothing more to damage */
	}
	leave_unanswered(req);
	shutdown(fd, SHUT_RDWR);
}

static void send_body(struct sl_peer *p, struct evhttp_request *req, int status, const char *ctype,
                      struct evbuffer *body)
{
	enum sl_peer_fault post = p->pending_post;

	p->pending_post = SL_PEER_FAULT_NONE;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	switch (post) {
	case SL_PEER_FAULT_MALFORMED: {
		size_t n = evbuffer_get_length(body);
		struct evbuffer *cut = evbuffer_new();
		evbuffer_remove_buffer(body, cut, n / 2);
		evbuffer_add_printf(cut, "\x01<garbled>\"{[");
		evhttp_send_reply(req, status, "OK", cut);
		evbuffer_free(cut);
		return;
	}
	case SL_PEER_FAULT_SLOW:
		start_trickle(p, req, status, body);
		return;
	case SL_PEER_FAULT_RESET:
		reset_midbody(req, status, ctype, body);
		return;
	default:
		evhttp_send_reply(req, status, NULL, body);
	}
}

void sl_peer_reply_text(struct sl_peer *p, struct evhttp_request *req, int status,
                        const char *ctype, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, len);
	send_body(p, req, status, ctype, b);
	evbuffer_free(b);
}

void sl_peer_reply_json(struct sl_peer *p, struct evhttp_request *req, int status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	sl_peer_reply_text(p, req, status, "application/json; charset=UTF-8", s ? s : "",
	                   s ? strlen(s) : 0);
	free(s);
	json_decref(body);
}

/* ---- pre faults ---- */

static void reply_plain(struct evhttp_request *req, int status, const char *ctype, const char *body)
{
	struct evbuffer *b = evbuffer_new();
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, status, NULL, b);
	evbuffer_free(b);
}

static void reply_error_json(struct sl_peer *p, struct evhttp_request *req, int status,
                             const char *path)
{
	json_t *j = p->ops->error_body(status, path, p->ctx);
	char *s = json_dumps(j, JSON_COMPACT);
	reply_plain(req, status, "application/json; charset=UTF-8", s);
	free(s);
	json_decref(j);
}

/* Returns 1 when the fault answered (or swallowed) the request. */
static int apply_pre(struct sl_peer *p, struct evhttp_request *req, enum sl_peer_fault f,
                     const char *path)
{
	switch (f) {
	case SL_PEER_FAULT_500:
		reply_error_json(p, req, 500, path);
		return 1;
	case SL_PEER_FAULT_401:
		reply_error_json(p, req, 401, path);
		return 1;
	case SL_PEER_FAULT_429:
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		reply_plain(req, 429, "text/plain", "Too Many Requests\n");
		return 1;
	case SL_PEER_FAULT_HTML:
	case SL_PEER_FAULT_HTML200:
		reply_plain(
		    req, p->html_status, "text/html",
		    p->html_status == 200
		        ? "<!DOCTYPE html><html><head><title>Login</title></head><body>"
		          "<form action=\"/users/login\" method=\"post\"><input "
		          "name=\"password\"></form></body></html>\n"
		        : "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
		          "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</"
		          "center>\r\n</body>\r\n</html>\r\n");
		return 1;
	case SL_PEER_FAULT_WRONGSHAPE:
		reply_plain(req, 200, "application/json; charset=UTF-8",
		            "{\"status\":\"ok\",\"items\":[1,2,3],\"response\":\"not a list\","
		            "\"data\":42}");
		return 1;
	case SL_PEER_FAULT_HANG:
		leave_unanswered(req);
		return 1;
	default:
		return 0;
	}
}

static int is_post_fault(enum sl_peer_fault f)
{
	return f == SL_PEER_FAULT_MALFORMED || f == SL_PEER_FAULT_SLOW || f == SL_PEER_FAULT_RESET;
}

/* ---- /_test endpoints shared by the peers ---- */

static void test_fault(struct sl_peer *p, struct evhttp_request *req)
{
	char msg[256];
	json_t *b = sl_peer_body_json(p, req, msg, sizeof(msg));
	const char *kind;
	double rate = 1.0;
	long count = -1;
	int html = 0;

	if (!b || !json_is_object(b) || !json_is_string(json_object_get(b, "kind"))) {
		if (b)
			snprintf(msg, sizeof(msg),
			         "body must be {\"kind\": ..., \"rate\": ..., "
			         "\"count\": ...}");
		json_decref(b);
		sl_peer_reply_json(p, req, 400, json_pack("{s:s}", "error", msg));
		return;
	}
	kind = json_string_value(json_object_get(b, "kind"));
	if (json_is_number(json_object_get(b, "rate")))
		rate = json_number_value(json_object_get(b, "rate"));
	if (json_is_integer(json_object_get(b, "count")))
		count = (long)json_integer_value(json_object_get(b, "count"));
	if (json_is_integer(json_object_get(b, "status")))
		html = (int)json_integer_value(json_object_get(b, "status"));
	if (set_fault(p, fault_from_name(kind, strlen(kind)), rate, count, html, msg,
	              sizeof(msg)) != 0) {
		json_decref(b);
		sl_peer_reply_json(p, req, 400, json_pack("{s:s}", "error", msg));
		return;
	}
	json_decref(b);
	sl_peer_reply_json(p, req, 200,
	                   json_pack("{s:s,s:f,s:I}", "kind", sl_peer_fault_name(p->fault), "rate",
	                             p->fault_ppm / 1000000.0, "count", (json_int_t)p->fault_left));
}

json_t *sl_peer_stats(const struct sl_peer *p)
{
	json_t *by = json_object();
	for (int k = 1; k <= SL_PEER_FAULT_RESET; k++)
		if (p->n_by_kind[k])
			json_object_set_new(by, fault_names[k],
			                    json_integer((json_int_t)p->n_by_kind[k]));
	return json_pack("{s:I,s:I,s:o,s:s,s:I}", "requests", (json_int_t)p->n_requests, "faults",
	                 (json_int_t)p->n_faults, "faults_by_kind", by, "fault",
	                 sl_peer_fault_name(p->fault), "fault_left", (json_int_t)p->fault_left);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct sl_peer *p = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = evhttp_uri_get_path(uri);
	char *path = raw ? evhttp_uridecode(raw, 0, NULL) : strdup("/");
	enum sl_peer_fault f;

	p->pending_post = SL_PEER_FAULT_NONE;
	if (strncmp(path, "/_test/", 7) == 0) {
		if (strcmp(path, "/_test/fault") == 0 &&
		    evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
			test_fault(p, req);
		} else if (strcmp(path, "/_test/dump") == 0) {
			json_t *d = p->ops->dump(p->ctx);
			json_object_set_new(d, "stats", sl_peer_stats(p));
			sl_peer_reply_json(p, req, 200, d);
		} else {
			p->ops->handle(p, req, path, p->ctx);
		}
		free(path);
		return;
	}
	p->n_requests++;
	f = pick_fault(p);
	if (apply_pre(p, req, f, path)) {
		free(path);
		return;
	}
	if (is_post_fault(f) && !(p->ops->is_stream && p->ops->is_stream(path)))
		p->pending_post = f;
	p->ops->handle(p, req, path, p->ctx);
	p->pending_post = SL_PEER_FAULT_NONE;
	free(path);
}

struct sl_peer *sl_peer_new(struct event_base *base, int port, const struct sl_peer_ops *ops,
                            void *ctx, const struct sl_peer_opts *o, char *errbuf, size_t errsz)
{
	struct sl_peer *p = calloc(1, sizeof(*p));
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!p) {
		snprintf(errbuf, errsz, "out of memory");
		return NULL;
	}
	p->base = base;
	p->ops = ops;
	p->ctx = ctx;
	p->opts = *o;
	if (!p->opts.max_body)
		p->opts.max_body = 16u * 1024u * 1024u;
	if (!p->opts.slow_ms)
		p->opts.slow_ms = 100;
	p->rng = o->rng_seed ? o->rng_seed : 0x9E3779B97F4A7C15ULL;
	p->http = evhttp_new(base);
	/* bodies over the limit are refused by evhttp itself with 413 */
	evhttp_set_max_body_size(p->http, (ev_ssize_t)p->opts.max_body);
	evhttp_set_max_headers_size(p->http, 64 * 1024);
	evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(p->http, dispatch, p);
	bs = evhttp_bind_socket_with_handle(p->http, "127.0.0.1", (ev_uint16_t)port);
	if (!bs) {
		snprintf(errbuf, errsz, "cannot bind 127.0.0.1:%d: %s", port, strerror(errno));
		sl_peer_free(p);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
		p->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (o->fault && sl_peer_fault_parse(p, o->fault, errbuf, errsz) != 0) {
		sl_peer_free(p);
		return NULL;
	}
	return p;
}

void sl_peer_free(struct sl_peer *p)
{
	if (!p)
		return;
	if (p->http)
		evhttp_free(p->http);
	free(p);
}

int sl_peer_port(const struct sl_peer *p)
{
	return p->port;
}

struct event_base *sl_peer_base(const struct sl_peer *p)
{
	return p->base;
}
