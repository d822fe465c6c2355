/* bench_peers.c — how fast the test peers are, so integration and soak tests know the peers are not
 * the bottleneck: misp-peer adds and restSearch pages, opencti-peer bundle import. Prints
 * name=value lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "peer_proc.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench_misp(int nevents, int nattrs)
{
	char bin[1024], url[512], body[256];
	char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof(bin)), NULL};
	const char *h[] = {"Authorization: sluiceTestMispKey0000000000000000000000a",
	                   "Accept: application/json", "Content-Type: application/json", NULL};
	struct sl_peerproc *pp = sl_peerproc_start(argv);
	struct sl_http_result r;
	double t0, t1;
	int got = 0;

	if (!pp)
		return 1;
	snprintf(url, sizeof(url), "%s/events/add", sl_peerproc_url(pp));
	t0 = now_s();
	for (int i = 0; i < nevents; i++) {
		json_t *ev =
		    json_pack("{s:{s:s,s:I,s:b,s:[]}}", "Event", "info", "bench", "timestamp",
		              (json_int_t)(1790000000 + i), "published", 1, "Attribute");
		json_t *attrs = json_object_get(json_object_get(ev, "Event"), "Attribute");
		char *s;
		for (int a = 0; a < nattrs; a++) {
			char v[64];
			snprintf(v, sizeof(v), "198.51.%d.%d", i % 250, a);
			json_array_append_new(attrs, json_pack("{s:s,s:s,s:b}", "type", "ip-dst",
			                                       "value", v, "to_ids", 1));
		}
		s = json_dumps(ev, JSON_COMPACT);
		sl_http("POST", url, h, s, 10000, &r);
		if (r.status != 200) {
			fprintf(stderr, "add failed: %ld\n", r.status);
			free(s);
			json_decref(ev);
			sl_http_result_free(&r);
			sl_peerproc_stop(pp);
			return 1;
		}
		free(s);
		json_decref(ev);
		sl_http_result_free(&r);
	}
	t1 = now_s();
	printf("misp_peer_adds_per_s=%.0f\n", nevents / (t1 - t0));
	snprintf(url, sizeof(url), "%s/events/restSearch", sl_peerproc_url(pp));
	t0 = now_s();
	for (int page = 1;; page++) {
		json_t *j;
		size_t n;
		snprintf(body, sizeof(body),
		         "{\"returnFormat\":\"json\",\"limit\":100,\"page\":%d}", page);
		sl_http("POST", url, h, body, 30000, &r);
		j = json_loads(r.body, 0, NULL);
		n = json_array_size(json_object_get(j, "response"));
		got += (int)n;
		json_decref(j);
		sl_http_result_free(&r);
		if (n < 100)
			break;
	}
	t1 = now_s();
	printf("misp_peer_restsearch_events_per_s=%.0f\n", got / (t1 - t0));
	printf("misp_peer_restsearch_events=%d\n", got);
	return sl_peerproc_stop(pp) == 0 && got == nevents ? 0 : 1;
}

static int bench_opencti(int nobjects)
{
	char bin[1024], url[512];
	char *argv[] = {(char *)sl_peerproc_bin("opencti-peer", bin, sizeof(bin)),
	                "--apply-delay-ms", "0", NULL};
	const char *h[] = {"Authorization: Bearer opencti-test-token",
	                   "Content-Type: application/json", NULL};
	struct sl_peerproc *pp = sl_peerproc_start(argv);
	struct sl_http_result r;
	json_t *bundle, *objs, *req;
	char *bs, *rs;
	double t0, t1;
	long long count = 0;

	if (!pp)
		return 1;
	snprintf(url, sizeof(url), "%s/graphql", sl_peerproc_url(pp));
	sl_http("POST", url, h,
	        "{\"query\":\"mutation{registerConnector(input:{id:\\\"b\\\",name:\\\"b\\\",type:"
	        "\\\"EXTERNAL_IMPORT\\\"}){id}}\"}",
	        5000, &r);
	sl_http_result_free(&r);
	objs = json_array();
	for (int i = 0; i < nobjects; i++) {
		char pat[128];
		snprintf(pat, sizeof(pat), "[ipv4-addr:value = '10.%d.%d.%d']", (i >> 16) & 255,
		         (i >> 8) & 255, i & 255);
		json_array_append_new(objs,
		                      json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "indicator",
		                                "name", pat, "pattern", pat, "pattern_type", "stix",
		                                "valid_from", "2026-01-01T00:00:00.000Z"));
	}
	bundle = json_pack("{s:s,s:o}", "type", "bundle", "objects", objs);
	bs = json_dumps(bundle, JSON_COMPACT);
	req = json_pack("{s:s,s:{s:s,s:s}}", "query",
	                "mutation($c:String!,$b:String!){stixBundlePush(connectorId:$c,bundle:$b)}",
	                "variables", "c", "b", "b", bs);
	rs = json_dumps(req, JSON_COMPACT);
	t0 = now_s();
	sl_http("POST", url, h, rs, 60000, &r);
	sl_http_result_free(&r);
	snprintf(url, sizeof(url), "%s/_test/flush", sl_peerproc_url(pp));
	sl_http("POST", url, NULL, "", 600000, &r);
	sl_http_result_free(&r);
	t1 = now_s();
	snprintf(url, sizeof(url), "%s/_test/dump", sl_peerproc_url(pp));
	sl_http("GET", url, NULL, NULL, 600000, &r);
	{
		json_t *d = json_loads(r.body, 0, NULL);
		count = json_integer_value(json_object_get(d, "count"));
		json_decref(d);
	}
	sl_http_result_free(&r);
	printf("opencti_peer_import_objects_per_s=%.0f\n", nobjects / (t1 - t0));
	printf("opencti_peer_objects=%lld\n", count);
	free(bs);
	free(rs);
	json_decref(bundle);
	json_decref(req);
	return sl_peerproc_stop(pp) == 0 && count == nobjects ? 0 : 1;
}

int main(void)
{
	int rc = 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc |= bench_misp(2000, 10);
	rc |= bench_opencti(10000);
	curl_global_cleanup();
	return rc;
}
