/* bench_taxii_ledger.c — the TAXII server over the PostgreSQL ledger: BENCH_TAXII_OBJECTS (default
 * 100,000) indicators ingested, then GET objects?limit=100 (first page and a page in the middle)
 * under wrk with 4 connections for BENCH_TAXII_SECONDS (default 10). Prints name=value lines; skips
 * (77) without wrk or the test PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "../integration/test_taxii_fixture.h"
#include "bench_taxii_wrk.h"
#include "ledger.h"
#include "sltest.h"
#include "taxii_store_ledger.h"

#define COLL "11111111-1111-4111-8111-111111111111"
#define BATCH 1000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int seed(struct sl_ledger *l, long nobj)
{
	static struct sl_ledger_in in[BATCH];
	static struct sl_ledger_result res[BATCH];
	struct sl_err err = {0};

	for (long base = 0; base < nobj; base += BATCH) {
		size_t n = (size_t)(nobj - base < BATCH ? nobj - base : BATCH);
		int rc;

		for (size_t i = 0; i < n; i++) {
			long k = base + (long)i;
			char id[80], pattern[80], name[64];

			snprintf(id, sizeof(id), "indicator--%08lx-0000-4000-8000-%012lx", k, k);
			snprintf(pattern, sizeof(pattern), "[ipv4-addr:value = '10.%ld.%ld.%ld']",
			         (k >> 16) & 255, (k >> 8) & 255, k & 255);
			snprintf(name, sizeof(name), "bench indicator %ld", k);
			in[i].obj = json_pack(
			    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:[s,s]}",
			    "type", "indicator", "spec_version", "2.1", "id", id, "created",
			    "2024-01-01T00:00:00.000Z", "modified", "2024-01-01T00:00:00.000Z",
			    "name", name, "description",
			    "Synthetic indicator for the TAXII server benchmark; padded to a "
			    "realistic "
			    "size.",
			    "indicator_types", "malicious-activity", "pattern", pattern,
			    "pattern_type", "stix", "valid_from", "2024-01-01T00:00:00Z", "labels",
			    "bench", "tlp-green");
			in[i].origin_id = "bench-feed";
		}
		rc = sl_ledger_ingest(l, "bench", in, n, NULL, res, &err);
		for (size_t i = 0; i < n; i++)
			json_decref((json_t *)in[i].obj);
		if (rc != 0) {
			fprintf(stderr, "bench_taxii_ledger: ingest: %s: %s\n", err.where, err.msg);
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	const char *env_s = getenv("BENCH_TAXII_SECONDS"), *env_n = getenv("BENCH_TAXII_OBJECTS");
	int seconds = env_s ? atoi(env_s) : 10;
	long nobj = env_n ? atol(env_n) : 100000;
	struct sl_taxii_server_config tcfg = {
	    .api_root = "bench", .title = "bench", .max_content_length = 1 << 19, .max_page = 1000};
	struct sl_http_server_config hcfg = {.host = "127.0.0.1", .max_body_size = 1 << 20};
	struct tx_req rq = {.path = "/bench/collections/" COLL "/objects/?limit=100",
	                    .user = "bench:bench-password"};
	unsigned char raw[] = "bench:bench-password";
	struct sl_taxii_store_mem *dir;
	struct sl_taxii_store_ledger *ls;
	struct sl_err err = {0};
	struct sl_ledger *l;
	struct tx_server s;
	struct tx_resp page;
	struct wrk_result first, mid;
	char url[1024], auth[128], next[160] = "", mpath[512];
	double t0;
	char *dsn;

	if (system("command -v wrk >/dev/null 2>&1") != 0 || !sltest_pg_dsn()) {
		fprintf(stderr, "bench_taxii_ledger: needs wrk and the test PostgreSQL\n");
		return 77;
	}
	dsn = sltest_fresh_db("sl_bench_taxii_ledger");
	l = sl_ledger_open(dsn, &err);
	free(dsn);
	if (!l || sl_ledger_migrate(l, NULL, NULL, &err) != 0) {
		fprintf(stderr, "bench_taxii_ledger: ledger: %s\n", err.msg);
		return 1;
	}
	t0 = now_s();
	if (seed(l, nobj) != 0)
		return 1;
	printf("ledger_objects=%ld\nledger_ingest_s=%.2f\n", nobj, now_s() - t0);

	dir = sl_taxii_store_mem_new();
	sl_taxii_store_mem_add_collection(dir, COLL, "bench", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(dir, "bench", "bench", "bench-password", NULL, &err);
	sl_taxii_store_mem_grant(dir, "bench", COLL, true, false, &err);
	ls = sl_taxii_store_ledger_new(l, sl_taxii_store_mem_ops(), dir, &err);
	if (!ls)
		return 1;
	tx_server_init_store(&s, &hcfg, &tcfg, sl_taxii_store_ledger_ops(), ls);
	tx_server_start(&s);

	page = tx_do(&s, &rq);
	if (page.status != 200 || json_array_size(json_object_get(page.json, "objects")) != 100) {
		fprintf(stderr, "bench_taxii_ledger: first page: %ld %.200s\n", page.status,
		        page.body);
		return 1;
	}
	printf("ledger_page_bytes=%zu\n", page.len);
	tx_resp_free(&page);
	/* Walk to the middle of the collection for the second figure. */
	for (long k = 0; k < nobj / 2 / 100; k++) {
		struct tx_req m = rq;
		struct tx_resp r;

		snprintf(mpath, sizeof(mpath), "%s%s%s", rq.path, next[0] ? "&next=" : "", next);
		m.path = mpath;
		r = tx_do(&s, &m);
		snprintf(next, sizeof(next), "%s",
		         json_string_value(json_object_get(r.json, "next")));
		tx_resp_free(&r);
	}

	EVP_EncodeBlock((unsigned char *)auth, raw, (int)strlen((char *)raw));
	snprintf(url, sizeof(url), "%s%s", s.base_url, rq.path);
	if (bench_run_wrk(url, auth, seconds, &first) != 0)
		return 1;
	bench_print("sluice_ledger", &first);
	snprintf(url, sizeof(url), "%s%s&next=%s", s.base_url, rq.path, next);
	if (bench_run_wrk(url, auth, seconds, &mid) != 0)
		return 1;
	bench_print("sluice_ledger_mid_collection", &mid);
	printf("goal_req_per_s_5000=%s\ngoal_p99_under_10ms=%s\n",
	       first.rps >= 5000 ? "met" : "missed", first.p99_ms < 10.0 ? "met" : "missed");

	tx_server_stop(&s);
	sl_taxii_store_ledger_free(ls);
	sl_taxii_store_mem_free(dir);
	sl_ledger_close(l);
	return 0;
}
