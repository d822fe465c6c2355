/* bench_taxii.c — throughput of sluice's TAXII server: a 100,000-object collection (in-memory
 * store), GET objects?limit=100 under wrk (4 connections, 10 s), next to nginx serving the same
 * page as a static file. Prints name=value lines. Skips (77) when wrk or nginx is missing. Env:
 * BENCH_TAXII_SECONDS (default 10), BENCH_TAXII_OBJECTS (default 100000). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../integration/test_taxii_fixture.h"
#include "bench_taxii_wrk.h"

#define COLL "11111111-1111-4111-8111-111111111111"
#define SKIP 77

int main(void)
{
	const char *env_s = getenv("BENCH_TAXII_SECONDS"), *env_n = getenv("BENCH_TAXII_OBJECTS");
	const char *env_r = getenv("BENCH_TAXII_ROUNDS");
	int seconds = env_s ? atoi(env_s) : 10;
	int rounds = env_r ? atoi(env_r) : 3;
	long nobj = env_n ? atol(env_n) : 100000;
	struct sl_http_server_config hcfg = {.host = "127.0.0.1", .max_body_size = 1 << 20};
	struct sl_taxii_server_config tcfg = {
	    .api_root = "bench", .title = "bench", .max_content_length = 1 << 19, .max_page = 1000};
	struct tx_server s;
	struct sl_err err = {0};
	struct tx_req rq = {.path = "/bench/collections/" COLL "/objects/?limit=100",
	                    .user = "bench:bench-password"};
	struct tx_resp page;
	struct wrk_result sl, deep, disc, ng, sl_runs[MAX_ROUNDS], ng_runs[MAX_ROUNDS];
	char dir[] = "/tmp/sl_bench_taxiiXXXXXX", path[512], url[1024], auth[128], next[128];
	char json[1024];
	unsigned char raw[] = "bench:bench-password";
	uint16_t nport;
	pid_t nginx;
	int64_t t0 = 1700000000000000;

	if (rounds < 1 || rounds > MAX_ROUNDS || seconds < 1) {
		fprintf(stderr, "bench_taxii: BENCH_TAXII_ROUNDS 1..%d, BENCH_TAXII_SECONDS >= 1\n",
		        MAX_ROUNDS);
		return 2;
	}
	if (system("command -v wrk >/dev/null 2>&1") != 0 ||
	    system("command -v nginx >/dev/null 2>&1") != 0) {
		fprintf(stderr,
		        "bench_taxii: wrk or nginx not installed (Debian: wrk nginx-light)\n");
		return SKIP;
	}
	tx_server_init(&s, &hcfg, &tcfg);
	sl_taxii_store_mem_add_collection(s.store, COLL, "bench", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(s.store, "bench", "bench", "bench-password", NULL, &err);
	sl_taxii_store_mem_grant(s.store, "bench", COLL, true, false, &err);
	for (long i = 0; i < nobj; i++) {
		/* ~650 bytes, like the indicators in the medallion baseline; 10 objects per
		 * date_added. */
		snprintf(
		    json, sizeof(json),
		    "{\"type\":\"indicator\",\"spec_version\":\"2.1\","
		    "\"id\":\"indicator--%08lx-0000-4000-8000-%012lx\","
		    "\"created_by_ref\":\"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff\","
		    "\"created\":\"2024-01-01T00:00:00.000Z\",\"modified\":\"2024-01-01T00:00:00."
		    "000Z\","
		    "\"name\":\"bench indicator %ld\",\"description\":\"Synthetic indicator for "
		    "the "
		    "TAXII server benchmark; padded to a realistic size.\","
		    "\"indicator_types\":[\"malicious-activity\"],"
		    "\"pattern\":\"[ipv4-addr:value = "
		    "'10.%ld.%ld.%ld']\",\"pattern_type\":\"stix\","
		    "\"valid_from\":\"2024-01-01T00:00:00Z\",\"labels\":[\"bench\",\"tlp-green\"],"
		    "\"object_marking_refs\":[\"marking-definition--34098fce-860f-48ae-8e50-"
		    "ebd3cc5e41da\"]}",
		    i, i, i, (i >> 16) & 255, (i >> 8) & 255, i & 255);
		if (sl_taxii_store_mem_put(s.store, COLL, json, t0 + (i / 10) * 1000, &err) != 0) {
			fprintf(stderr, "seed: %s\n", err.msg);
			return 1;
		}
	}
	tx_server_start(&s);

	/* The page both servers will serve. */
	page = tx_do(&s, &rq);
	if (page.status != 200 || json_array_size(json_object_get(page.json, "objects")) != 100) {
		fprintf(stderr, "bench_taxii: first page: %ld\n", page.status);
		return 1;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/www", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/www/page.json", dir);
	if (bench_write_file(path, page.body, page.len) != 0)
		return 1;
	printf("taxii_objects=%ld\ntaxii_page_bytes=%zu\n", nobj, page.len);
	tx_resp_free(&page);

	/* A page in the middle of the collection: keyset paging should cost the same. */
	{
		struct tx_req mid = rq;
		char mpath[512];
		long target = nobj / 2 / 100;

		next[0] = '\0';
		for (long k = 0; k < target; k++) {
			struct tx_resp r;

			snprintf(mpath, sizeof(mpath), "%s%s%s", rq.path, next[0] ? "&next=" : "",
			         next);
			mid.path = mpath;
			r = tx_do(&s, &mid);
			snprintf(next, sizeof(next), "%s",
			         json_string_value(json_object_get(r.json, "next")));
			tx_resp_free(&r);
		}
	}

	EVP_EncodeBlock((unsigned char *)auth, raw, (int)strlen((char *)raw));
	nport = bench_free_port();
	nginx = bench_start_nginx(dir, nport);
	if (nginx < 0) {
		fprintf(stderr, "bench_taxii: nginx did not start (see %s/error.log)\n", dir);
		return 1;
	}
	/* The machine is shared: alternate sluice and nginx runs and keep the median of each, so a
	 * burst of outside load does not land on one side only. */
	for (int k = 0; k < rounds; k++) {
		snprintf(url, sizeof(url), "%s%s", s.base_url, rq.path);
		if (bench_run_wrk(url, auth, seconds, &sl_runs[k]) != 0)
			return 1;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/page.json", (unsigned)nport);
		if (bench_run_wrk(url, NULL, seconds, &ng_runs[k]) != 0)
			return 1;
	}
	kill(nginx, SIGQUIT);
	waitpid(nginx, NULL, 0);
	sl = bench_median(sl_runs, rounds);
	ng = bench_median(ng_runs, rounds);
	printf("rounds=%d\nseconds_per_run=%d\n", rounds, seconds);
	bench_print("sluice", &sl);
	bench_print("nginx_static", &ng);
	snprintf(url, sizeof(url), "%s%s&next=%s", s.base_url, rq.path, next);
	if (bench_run_wrk(url, auth, seconds, &deep) != 0)
		return 1;
	bench_print("sluice_mid_collection", &deep);
	/* A tiny answer: the fixed cost per request (HTTP, auth, negotiation). */
	snprintf(url, sizeof(url), "%s/taxii2/", s.base_url);
	if (bench_run_wrk(url, auth, seconds, &disc) != 0)
		return 1;
	bench_print("sluice_discovery", &disc);
	printf("sluice_vs_nginx_ratio=%.3f\n", ng.rps > 0 ? sl.rps / ng.rps : 0.0);
	printf("goal_req_per_s_5000=%s\ngoal_p99_under_10ms=%s\ngoal_within_2x_nginx=%s\n",
	       sl.rps >= 5000 ? "met" : "missed", sl.p99_ms < 10.0 ? "met" : "missed",
	       ng.rps > 0 && sl.rps * 2 >= ng.rps ? "met" : "missed");

	tx_server_stop(&s);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return 0;
}
