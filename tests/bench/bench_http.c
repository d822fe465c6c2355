/* bench_http.c — HTTP client throughput: 10,000 small GETs against a local evhttp server with 100
 * in flight, on one thread. Prints name=value lines. Env: SLUICE_BENCH_N, SLUICE_BENCH_CONCURRENCY.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http_client.h"

struct bench {
	struct event_base *base;
	struct sl_http_client *client;
	char url[128];
	long total, started, done, failed;
	double max_s, sum_s;
};

static void handle(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evbuffer_add_printf(b, "{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":[]}");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void start_one(struct bench *bn);

static void on_done(const struct sl_http_response *r, void *arg)
{
	struct bench *bn = arg;

	bn->done++;
	if (r->error != SL_HTTP_OK)
		bn->failed++;
	bn->sum_s += r->total_s;
	if (r->total_s > bn->max_s)
		bn->max_s = r->total_s;
	if (bn->started < bn->total)
		start_one(bn);
	else if (bn->done == bn->total)
		event_base_loopbreak(bn->base);
}

static void start_one(struct bench *bn)
{
	struct sl_http_request req = {.url = bn->url, .on_done = on_done, .arg = bn};
	struct sl_err err;

	bn->started++;
	if (!sl_http_client_start(bn->client, &req, &err)) {
		fprintf(stderr, "bench_http: %s\n", err.msg);
		exit(1);
	}
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && atol(v) > 0 ? atol(v) : def;
}

int main(void)
{
	struct bench bn = {0};
	struct evhttp *http;
	struct evhttp_bound_socket *s;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct timespec t0, t1;
	struct sl_err err;
	long conc = env_long("SLUICE_BENCH_CONCURRENCY", 100), i;
	double secs;

	signal(SIGPIPE, SIG_IGN); /* the server shares the process with its clients */
	bn.total = env_long("SLUICE_BENCH_N", 10000);
	bn.base = event_base_new();
	http = evhttp_new(bn.base);
	evhttp_set_gencb(http, handle, NULL);
	s = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!s || getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &len) != 0) {
		fprintf(stderr, "bench_http: cannot listen\n");
		return 1;
	}
	snprintf(bn.url, sizeof(bn.url), "http://127.0.0.1:%u/objects", ntohs(sin.sin_port));
	bn.client = sl_http_client_new(bn.base, (unsigned)conc, &err);
	if (!bn.client) {
		fprintf(stderr, "bench_http: %s\n", err.msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < conc && i < bn.total; i++)
		start_one(&bn);
	event_base_dispatch(bn.base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("bench=http_client_get\n");
	printf("transfers=%ld\n", bn.done);
	printf("concurrency=%ld\n", conc);
	printf("failed=%ld\n", bn.failed);
	printf("seconds=%.3f\n", secs);
	printf("transfers_per_s=%.0f\n", (double)bn.done / secs);
	printf("mean_latency_ms=%.3f\n", bn.done ? bn.sum_s * 1000 / (double)bn.done : 0.0);
	printf("max_latency_ms=%.3f\n", bn.max_s * 1000);
	sl_http_client_free(bn.client);
	evhttp_free(http);
	event_base_free(bn.base);
	return bn.failed || bn.done != bn.total ? 1 : 0;
}
