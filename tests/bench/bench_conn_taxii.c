/* bench_conn_taxii.c — how fast the TAXII client connector pulls and pushes against taxii-peer on
 * loopback: a 20,000-object collection walked in pages of 1,000, and 5,000 objects pushed in one
 * bundle (one envelope, then cut to a 256 KiB max_content_length). Prints name=value lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "evloop.h"
#include "http_client.h"
#include "peer_proc.h"
#include "peer_taxii.h"

#define N_PULL 20000
#define N_PUSH 5000

struct ctx {
	struct sl_evloop *loop;
	size_t objects, pages;
	int code;
	enum sl_peer_push_result res;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *indicator(unsigned tag, unsigned i)
{
	char id[80];
	snprintf(id, sizeof(id), "indicator--%08x-0000-4000-8000-%012x", tag, i);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "indicator", "spec_version",
	                 "2.1", "id", id, "created", "2026-01-01T00:00:00.000Z", "modified",
	                 "2026-01-01T00:00:00.000Z", "pattern", "[ipv4-addr:value = '10.0.0.1']",
	                 "pattern_type", "stix", "valid_from", "2026-01-01T00:00:00Z");
}

static int on_item(void *arg, const json_t *item, const char *origin, const char *position,
                   struct sl_err *err)
{
	struct ctx *c = arg;
	(void)origin;
	(void)position;
	(void)err;
	c->objects += json_array_size(json_object_get(item, "objects"));
	c->pages++;
	return 0;
}

static void on_done(void *arg, const struct sl_err *err, int64_t ra)
{
	struct ctx *c = arg;
	(void)ra;
	c->code = err->code;
	if (err->code)
		fprintf(stderr, "pull: %s\n", err->msg);
	sl_evloop_stop(c->loop);
}

static void on_pushed(void *arg, enum sl_peer_push_result res, const struct sl_err *err, int64_t ra,
                      const json_t *rejected)
{
	struct ctx *c = arg;
	(void)ra;
	(void)rejected;
	c->res = res;
	if (res != SL_PEER_PUSH_SENT)
		fprintf(stderr, "push: %s\n", err->msg);
	sl_evloop_stop(c->loop);
}

static struct sl_peerproc *start(const char *data, const char *mcl)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("taxii-peer", bin, sizeof bin),
	                "--data",
	                (char *)data,
	                "--page-size",
	                "1000",
	                mcl ? "--max-content-length" : NULL,
	                (char *)mcl,
	                NULL};
	return sl_peerproc_start(argv);
}

static int push_run(const char *data, const char *mcl, const char *name)
{
	struct sl_peerproc *pp = start(data, mcl);
	struct sl_err err = {0};
	struct ctx c = {0};
	struct sl_config_peer cfg = {0};
	struct sl_http_client *http;
	struct sl_peer *p;
	char url[256];
	json_t *objs = json_array(), *b;
	double t0;

	if (!pp)
		return 1;
	c.loop = sl_evloop_new(&err);
	http = sl_http_client_new(sl_evloop_base(c.loop), 4, &err);
	snprintf(url, sizeof(url), "%s/taxii2/", sl_peerproc_url(pp));
	cfg.name = "bench";
	cfg.where = "bench";
	cfg.kind = SL_PEER_TAXII;
	cfg.url = url;
	cfg.api_key = "sluice:sluiceTaxiiPw0";
	cfg.api_key_configured = true;
	cfg.timeout_s = 120;
	cfg.connect_timeout_s = 5;
	cfg.max_body_bytes = 256u << 20;
	p = sl_peer_taxii_ops()->create(&cfg, http, &err);
	sl_peer_taxii_attach(p, sl_evloop_base(c.loop));
	for (unsigned i = 0; i < N_PUSH; i++)
		json_array_append_new(objs, indicator(0x77, i));
	b = json_pack("{s:s,s:s,s:o}", "type", "bundle", "id",
	              "bundle--00000000-0000-4000-8000-000000000000", "objects", objs);
	t0 = now_s();
	if (sl_peer_taxii_ops()->push(p, b, on_pushed, &c, &err) == 0)
		sl_evloop_run(c.loop);
	printf("%s_objects=%d\n%s_seconds=%.3f\n%s_objects_per_s=%.0f\n%s_ok=%d\n", name, N_PUSH,
	       name, now_s() - t0, name, N_PUSH / (now_s() - t0), name, c.res == SL_PEER_PUSH_SENT);
	json_decref(b);
	sl_peer_taxii_ops()->destroy(p);
	sl_http_client_free(http);
	sl_evloop_free(c.loop);
	sl_peerproc_stop(pp);
	return c.res == SL_PEER_PUSH_SENT ? 0 : 1;
}

int main(void)
{
	char dir[] = "/tmp/sl-bench-taxii-XXXXXX", data[256], url[256];
	struct sl_err err = {0};
	struct ctx c = {0};
	struct sl_config_peer cfg = {0};
	struct sl_peer_pull_cb cb = {on_item, on_done, &c};
	struct sl_peerproc *pp;
	struct sl_http_client *http;
	struct sl_peer *p;
	json_t *objs = json_array(), *doc;
	double t0, dt;
	int rc = 0;

	if (!mkdtemp(dir))
		return 1;
	snprintf(data, sizeof(data), "%s/data.json", dir);
	for (unsigned i = 0; i < N_PULL; i++)
		json_array_append_new(objs, indicator(0x66, i));
	doc = json_pack("{s:[{s:s,s:b,s:b,s:o}]}", "collections", "id", "bench", "can_read", 1,
	                "can_write", 1, "objects", objs);
	json_dump_file(doc, data, JSON_COMPACT);
	json_decref(doc);

	pp = start(data, NULL);
	if (!pp)
		return 1;
	c.loop = sl_evloop_new(&err);
	http = sl_http_client_new(sl_evloop_base(c.loop), 4, &err);
	snprintf(url, sizeof(url), "%s/taxii2/", sl_peerproc_url(pp));
	cfg.name = "bench";
	cfg.where = "bench";
	cfg.kind = SL_PEER_TAXII;
	cfg.url = url;
	cfg.api_key = "sluice:sluiceTaxiiPw0";
	cfg.api_key_configured = true;
	cfg.timeout_s = 120;
	cfg.connect_timeout_s = 5;
	cfg.max_body_bytes = 256u << 20;
	p = sl_peer_taxii_ops()->create(&cfg, http, &err);
	t0 = now_s();
	if (sl_peer_taxii_ops()->pull(p, NULL, &cb, &err) == 0)
		sl_evloop_run(c.loop);
	dt = now_s() - t0;
	printf("taxii_pull_objects=%zu\ntaxii_pull_pages=%zu\ntaxii_pull_seconds=%.3f\n"
	       "taxii_pull_objects_per_s=%.0f\n",
	       c.objects, c.pages, dt, (double)c.objects / dt);
	if (c.code || c.objects != N_PULL)
		rc = 1;
	sl_peer_taxii_ops()->destroy(p);
	sl_http_client_free(http);
	sl_evloop_free(c.loop);
	sl_peerproc_stop(pp);

	rc |= push_run(data, NULL, "taxii_push_one_envelope");
	rc |= push_run(data, "262144", "taxii_push_256k_envelopes");
	unlink(data);
	rmdir(dir);
	return rc;
}
