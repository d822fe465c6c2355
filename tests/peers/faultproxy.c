/* faultproxy.c — a small seeded TCP proxy between sluice and a test peer that adds latency, resets,
 * hangs, slices, truncates or stalls connections; the mode can be changed at run time on a control
 * port (POST /mode with the mode as the body). See docs/testing.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

enum mode { M_PASS, M_LATENCY, M_RESET, M_HANG, M_SLICE, M_TRUNCATE, M_STALL };

struct setting {
	enum mode mode;
	double rate; /* reset, hang: share of connections */
	long arg;    /* latency ms, slice bytes, truncate or stall bytes */
};

struct proxy {
	struct event_base *base;
	struct sockaddr_in upstream;
	struct setting cur;
	uint64_t rng;
	unsigned long conns, resets, hangs, truncs, stalls;
	int nopen;
	struct conn *head; /* open connections, freed at exit */
};

struct side {
	struct bufferevent *bev;
	struct event *timer; /* latency / slice pacing, for data going OUT of this side */
	struct evbuffer *held;
};

struct conn {
	struct proxy *p;
	struct setting s;
	int do_reset, do_hang;
	struct side c, u; /* client side, upstream side */
	size_t to_client;
	int closing;
	int stalled; /* stall mode: the answer stopped, the connection stays open */
	struct conn *next, **pprev;
};

#define MAX_CONNS 256

static uint64_t rnd(struct proxy *p)
{
	uint64_t x = p->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static int parse_mode(const char *s, struct setting *out, char *err, size_t errsz)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	char *end;
	struct setting st = {M_PASS, 0, 0};

	if (n == 4 && strncmp(s, "pass", 4) == 0) {
		*out = st;
		return 0;
	}
	if (!colon) {
		snprintf(err, errsz,
		         "mode '%s' needs an argument (latency:MS reset:RATE hang:RATE "
		         "slice:BYTES truncate:BYTES stall:BYTES pass)",
		         s);
		return -1;
	}
	if (n == 7 && strncmp(s, "latency", 7) == 0)
		st.mode = M_LATENCY;
	else if (n == 5 && strncmp(s, "reset", 5) == 0)
		st.mode = M_RESET;
	else if (n == 4 && strncmp(s, "hang", 4) == 0)
		st.mode = M_HANG;
	else if (n == 5 && strncmp(s, "slice", 5) == 0)
		st.mode = M_SLICE;
	else if (n == 8 && strncmp(s, "truncate", 8) == 0)
		st.mode = M_TRUNCATE;
	else if (n == 5 && strncmp(s, "stall", 5) == 0)
		st.mode = M_STALL;
	else {
		snprintf(err, errsz, "unknown mode '%.*s'", (int)n, s);
		return -1;
	}
	errno = 0;
	if (st.mode == M_RESET || st.mode == M_HANG) {
		st.rate = strtod(colon + 1, &end);
		if (errno || *end || !(st.rate >= 0 && st.rate <= 1)) {
			snprintf(err, errsz, "mode '%s': RATE must be 0..1", s);
			return -1;
		}
	} else {
		st.arg = strtol(colon + 1, &end, 10);
		if (errno || *end ||
		    st.arg < (st.mode == M_TRUNCATE || st.mode == M_STALL ? 0 : 1) ||
		    st.arg > 10000000) {
			snprintf(err, errsz, "mode '%s': bad number", s);
			return -1;
		}
	}
	*out = st;
	return 0;
}

static void conn_free(struct conn *c)
{
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	if (c->c.timer)
		event_free(c->c.timer);
	if (c->u.timer)
		event_free(c->u.timer);
	if (c->c.held)
		evbuffer_free(c->c.held);
	if (c->u.held)
		evbuffer_free(c->u.held);
	if (c->c.bev)
		bufferevent_free(c->c.bev);
	if (c->u.bev)
		bufferevent_free(c->u.bev);
	c->p->nopen--;
	free(c);
}

static void rst_client(struct conn *c)
{
	struct linger lg = {1, 0};
	evutil_socket_t fd = bufferevent_getfd(c->c.bev);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	c->p->resets++;
	conn_free(c);
}

static int client_pending(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->c.bev)) > 0 ||
	       evbuffer_get_length(c->c.held) > 0;
}

static void close_when_flushed(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (!client_pending(c))
		conn_free(c);
}

static void event_client(struct bufferevent *bev, short what, void *arg);

/* The upstream ended: let what the client has not received yet drain, then close. */
static void finish(struct conn *c)
{
	c->closing = 1;
	if (!client_pending(c)) {
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->c.bev, NULL, close_when_flushed, event_client, c);
	bufferevent_enable(c->c.bev, EV_WRITE);
}

/* Move data from src side to dst side, applying the connection's mode. */
static void forward(struct conn *c, struct side *src, struct side *dst, int towards_client)
{
	struct evbuffer *in = bufferevent_get_input(src->bev);
	struct timeval tv;

	if (!towards_client) {
		evbuffer_add_buffer(bufferevent_get_output(dst->bev), in);
		return;
	}
	if (c->do_reset) {
		/* let half of the first answer through, then reset the client's connection */
		size_t n = evbuffer_get_length(in);
		struct evbuffer *half = evbuffer_new();
		evbuffer_remove_buffer(in, half, n / 2);
		evbuffer_write(half, bufferevent_getfd(dst->bev));
		evbuffer_free(half);
		rst_client(c);
		return;
	}
	switch (c->s.mode) {
	case M_STALL: {
		/* the first BYTES of the answer, then nothing more, ever: the connection stays open
		 * (a peer stuck mid-body; only the client's own timeout ends it) */
		size_t room = (size_t)c->s.arg > c->to_client ? (size_t)c->s.arg - c->to_client : 0;
		size_t n = evbuffer_get_length(in);
		if (c->stalled) {
			evbuffer_drain(in, n);
			return;
		}
		if (n > room) {
			evbuffer_remove_buffer(in, bufferevent_get_output(dst->bev), room);
			c->to_client += room;
			evbuffer_drain(in, evbuffer_get_length(in));
			c->stalled = 1;
			c->p->stalls++;
			return;
		}
		c->to_client += n;
		evbuffer_add_buffer(bufferevent_get_output(dst->bev), in);
		return;
	}
	case M_TRUNCATE: {
		size_t room = (size_t)c->s.arg > c->to_client ? (size_t)c->s.arg - c->to_client : 0;
		size_t n = evbuffer_get_length(in);
		if (n > room) {
			evbuffer_remove_buffer(in, bufferevent_get_output(dst->bev), room);
			c->to_client += room;
			evbuffer_drain(in, evbuffer_get_length(in));
			c->p->truncs++;
			bufferevent_disable(src->bev, EV_READ);
			finish(c);
			return;
		}
		c->to_client += n;
		evbuffer_add_buffer(bufferevent_get_output(dst->bev), in);
		return;
	}
	case M_LATENCY:
	case M_SLICE:
		evbuffer_add_buffer(dst->held, in);
		if (!evtimer_pending(dst->timer, NULL)) {
			tv.tv_sec = c->s.mode == M_LATENCY ? c->s.arg / 1000 : 0;
			tv.tv_usec = c->s.mode == M_LATENCY ? (c->s.arg % 1000) * 1000 : 2000;
			evtimer_add(dst->timer, &tv);
		}
		return;
	default:
		evbuffer_add_buffer(bufferevent_get_output(dst->bev), in);
	}
}

static void client_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct timeval tv = {0, 2000};

	if (c->s.mode == M_SLICE) {
		evbuffer_remove_buffer(c->c.held, bufferevent_get_output(c->c.bev),
		                       (size_t)c->s.arg);
		if (evbuffer_get_length(c->c.held))
			evtimer_add(c->c.timer, &tv);
	} else {
		evbuffer_add_buffer(bufferevent_get_output(c->c.bev), c->c.held);
	}
	if (c->closing && !client_pending(c))
		conn_free(c);
}

static void upstream_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	evbuffer_add_buffer(bufferevent_get_output(c->u.bev), c->u.held);
}

static void read_client(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->do_hang) {
		/* swallow the request, never answer */
		evbuffer_drain(bufferevent_get_input(bev),
		               evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	if (c->s.mode == M_LATENCY) {
		struct timeval tv = {c->s.arg / 1000, (c->s.arg % 1000) * 1000};
		evbuffer_add_buffer(c->u.held, bufferevent_get_input(bev));
		if (!evtimer_pending(c->u.timer, NULL))
			evtimer_add(c->u.timer, &tv);
		return;
	}
	forward(c, &c->c, &c->u, 0);
}

static void read_upstream(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	forward(c, &c->u, &c->c, 1);
}

static void event_client(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
}

static void event_upstream(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* pass what is left, then close the client side too */
		if (evbuffer_get_length(bufferevent_get_input(bev)))
			read_upstream(bev, c);
		if (c->c.bev == NULL)
			return;
		bufferevent_free(c->u.bev);
		c->u.bev = NULL;
		if (c->stalled)
			return; /* the client waits on; it leaves when it gives up */
		finish(c);
	}
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct proxy *p = arg;
	struct conn *c;

	if (p->nopen >= MAX_CONNS) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	c->p = p;
	c->next = p->head;
	if (p->head)
		p->head->pprev = &c->next;
	p->head = c;
	c->pprev = &p->head;
	c->s = p->cur;
	p->conns++;
	p->nopen++;
	c->do_reset = c->s.mode == M_RESET && (double)(rnd(p) % 1000000) < c->s.rate * 1000000.0;
	c->do_hang = c->s.mode == M_HANG && (double)(rnd(p) % 1000000) < c->s.rate * 1000000.0;
	if (c->do_hang)
		p->hangs++;
	c->c.bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->c.held = evbuffer_new();
	c->u.held = evbuffer_new();
	c->c.timer = evtimer_new(p->base, client_timer, c);
	c->u.timer = evtimer_new(p->base, upstream_timer, c);
	bufferevent_setcb(c->c.bev, read_client, NULL, event_client, c);
	bufferevent_enable(c->c.bev, EV_READ | EV_WRITE);
	if (c->do_hang)
		return;
	c->u.bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->u.bev, read_upstream, NULL, event_upstream, c);
	bufferevent_enable(c->u.bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->u.bev, (struct sockaddr *)&p->upstream,
	                               sizeof(p->upstream)) != 0)
		conn_free(c);
}

static const char *mode_name(const struct setting *s, char *buf, size_t n)
{
	static const char *const names[] = {"pass",  "latency",  "reset", "hang",
	                                    "slice", "truncate", "stall"};
	if (s->mode == M_PASS)
		snprintf(buf, n, "pass");
	else if (s->mode == M_RESET || s->mode == M_HANG)
		snprintf(buf, n, "%s:%g", names[s->mode], s->rate);
	else
		snprintf(buf, n, "%s:%ld", names[s->mode], s->arg);
	return buf;
}

/* Control: POST /mode (body = a mode) changes the mode for new connections; GET /stats. */
static void on_control(struct evhttp_request *req, void *arg)
{
	struct proxy *p = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *out = evbuffer_new();
	char m[64], err[256];

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	if (path && strcmp(path, "/mode") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		struct setting st;
		if (n >= sizeof(m)) {
			evbuffer_add_printf(out, "{\"error\":\"mode too long\"}");
			evhttp_send_reply(req, 400, NULL, out);
		} else {
			evbuffer_copyout(in, m, n);
			m[n] = '\0';
			m[strcspn(m, "\r\n")] = '\0';
			if (parse_mode(m, &st, err, sizeof(err)) != 0) {
				evbuffer_add_printf(out, "{\"error\":\"%s\"}", err);
				evhttp_send_reply(req, 400, NULL, out);
			} else {
				p->cur = st;
				/* Clients keep connections alive and a mode is per connection:
				 * close the open ones, so every client meets the new mode on its
				 * next request (they see the close as a dropped keep-alive). */
				while (p->head)
					conn_free(p->head);
				evbuffer_add_printf(out, "{\"mode\":\"%s\"}",
				                    mode_name(&st, m, sizeof(m)));
				evhttp_send_reply(req, 200, NULL, out);
			}
		}
	} else if (path && strcmp(path, "/stats") == 0) {
		evbuffer_add_printf(
		    out,
		    "{\"mode\":\"%s\",\"connections\":%lu,\"open\":%d,\"resets\":%lu,"
		    "\"hangs\":%lu,\"truncated\":%lu,\"stalled\":%lu}",
		    mode_name(&p->cur, m, sizeof(m)), p->conns, p->nopen, p->resets, p->hangs,
		    p->truncs, p->stalls);
		evhttp_send_reply(req, 200, NULL, out);
	} else {
		evbuffer_add_printf(out, "{\"error\":\"POST /mode or GET /stats\"}");
		evhttp_send_reply(req, 404, NULL, out);
	}
	evbuffer_free(out);
}

static int parse_hostport(const char *s, struct sockaddr_in *sin)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"listen", required_argument, NULL, 'l'}, {"upstream", required_argument, NULL, 'u'},
	    {"mode", required_argument, NULL, 'm'},   {"seed", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct proxy p = {0};
	struct sockaddr_in lsin;
	struct evconnlistener *l;
	struct evhttp *ctl;
	struct evhttp_bound_socket *cbs;
	struct event *sigint, *sigterm;
	const char *listen_at = "127.0.0.1:0", *up = NULL;
	char err[256];
	socklen_t sl = sizeof(lsin);
	int c, cport = 0;

	p.rng = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_at = optarg;
			break;
		case 'u':
			up = optarg;
			break;
		case 'm':
			if (parse_mode(optarg, &p.cur, err, sizeof(err)) != 0) {
				fprintf(stderr, "faultproxy: %s\n", err);
				return 2;
			}
			break;
		case 's':
			p.rng = strtoull(optarg, NULL, 10) | 1;
			break;
		default:
			fprintf(stderr,
			        "usage: faultproxy --upstream HOST:PORT [--listen 127.0.0.1:0] "
			        "[--mode latency:MS|reset:RATE|hang:RATE|slice:BYTES|"
			        "truncate:BYTES|stall:BYTES|pass] [--seed N]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!up || parse_hostport(up, &p.upstream) != 0 || parse_hostport(listen_at, &lsin) != 0) {
		fprintf(stderr,
		        "faultproxy: --upstream HOST:PORT (IPv4) is required; --listen IP:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	p.base = event_base_new();
	l = evconnlistener_new_bind(p.base, on_accept, &p,
	                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
	                            (struct sockaddr *)&lsin, sizeof(lsin));
	if (!l) {
		fprintf(stderr, "faultproxy: cannot listen on %s: %s\n", listen_at,
		        strerror(errno));
		event_base_free(p.base);
		return 1;
	}
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&lsin, &sl);
	ctl = evhttp_new(p.base);
	evhttp_set_max_body_size(ctl, 1024);
	evhttp_set_gencb(ctl, on_control, &p);
	cbs = evhttp_bind_socket_with_handle(ctl, "127.0.0.1", 0);
	if (cbs) {
		struct sockaddr_in cs;
		socklen_t csl = sizeof(cs);
		getsockname(evhttp_bound_socket_get_fd(cbs), (struct sockaddr *)&cs, &csl);
		cport = ntohs(cs.sin_port);
	}
	/* one line, so a reader that stops after the first line still learns both ports */
	printf("LISTEN http://127.0.0.1:%d CONTROL http://127.0.0.1:%d\n", ntohs(lsin.sin_port),
	       cport);
	fflush(stdout);
	sigint = evsignal_new(p.base, SIGINT, on_signal, p.base);
	sigterm = evsignal_new(p.base, SIGTERM, on_signal, p.base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(p.base);
	event_free(sigint);
	event_free(sigterm);
	evhttp_free(ctl);
	evconnlistener_free(l);
	while (p.head)
		conn_free(p.head);
	event_base_free(p.base);
	return 0;
}
