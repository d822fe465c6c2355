/* bench_taxii_ledger.c — the TAXII server over the PostgreSQL ledger: BENCH_TAXII_OBJECTS (default
 * 100,000) indicators ingested and all of them shared with the partner (its own view), then GET
 * objects?limit=100 under wrk with 4 connections for BENCH_TAXII_SECONDS (default 10), over the
 * view of every stored version and over the partner's view, alternating with nginx serving the
 * same page as a static file (BENCH_TAXII_ROUNDS rounds, default 3, medians kept); then a page in
 * the middle of the collection. Prints name=value lines, the ratio to nginx and the goals; skips
 * (77) without wrk, nginx or the test PostgreSQL. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* Share every stored indicator with the partner as is (its view = the whole collection). */
static int share_all(struct sl_ledger *l, long nobj)
{
	static struct sl_ledger_share rows[BATCH];
	struct sl_err err = {0};

	for (long base = 0; base < nobj; base += BATCH) {
		size_t n = (size_t)(nobj - base < BATCH ? nobj - base : BATCH);
		char ids[BATCH][80];
		json_t *objs[BATCH];
		int rc = 0;

		for (size_t i = 0; i < n; i++) {
			long k = base + (long)i;

			snprintf(ids[i], sizeof(ids[i]), "indicator--%08lx-0000-4000-8000-%012lx",
			         k, k);
			objs[i] = sl_ledger_get(l, ids[i], NULL, &err);
			if (!objs[i]) {
				fprintf(stderr, "bench_taxii_ledger: get %s: %s\n", ids[i],
				        err.msg);
				return -1;
			}
			rows[i] = (struct sl_ledger_share){.destination = "bench",
			                                   .id = ids[i],
			                                   .modified = "2024-01-01T00:00:00.000Z",
			                                   .decision = SL_LEDGER_ALLOW,
			                                   .rule = "bench",
			                                   .obj = objs[i]};
		}
		rc = sl_ledger_share_record(l, rows, n, NULL, &err);
		for (size_t i = 0; i < n; i++)
			json_decref(objs[i]);
		if (rc != 0) {
			fprintf(stderr, "bench_taxii_ledger: share: %s: %s\n", err.where, err.msg);
			return -1;
		}
	}
	return 0;
}

static void print_vs(const char *name, const struct wrk_result *r, const struct wrk_result *ng)
{
	printf("%s_vs_nginx_ratio=%.3f\n", name, ng->rps > 0 ? r->rps / ng->rps : 0.0);
	printf("%s_goal_req_per_s_5000=%s\n%s_goal_p99_under_10ms=%s\n%s_goal_within_2x_nginx=%s\n",
	       name, r->rps >= 5000 ? "met" : "missed", name, r->p99_ms < 10.0 ? "met" : "missed",
	       name, ng->rps > 0 && r->rps * 2 >= ng->rps ? "met" : "missed");
}

/* One timed request (the first one fills the store's copy of the view). */
static double timed_get(const struct tx_server *s, const struct tx_req *rq, long *status)
{
	double t = now_s();
	struct tx_resp r = tx_do(s, rq);

	*status = r.status;
	tx_resp_free(&r);
	return (now_s() - t) * 1000.0;
}

int main(void)
{
	const char *env_s = getenv("BENCH_TAXII_SECONDS"), *env_n = getenv("BENCH_TAXII_OBJECTS");
	const char *env_r = getenv("BENCH_TAXII_ROUNDS");
	int seconds = env_s ? atoi(env_s) : 10;
	int rounds = env_r ? atoi(env_r) : 3;
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
	struct sl_ledger_stats stats;
	struct tx_server s;
	struct tx_resp page;
	struct wrk_result all, part, ng, mid, all_runs[MAX_ROUNDS], part_runs[MAX_ROUNDS],
	    ng_runs[MAX_ROUNDS];
	char url[1024], auth[128], next[160] = "", mpath[512], tmp[] = "/tmp/sl_bench_taxiilXXXXXX",
	                           path[600];
	double t0, cold_all, cold_part;
	long status;
	uint16_t nport;
	pid_t nginx;
	char *dsn;

	if (rounds < 1 || rounds > MAX_ROUNDS || seconds < 1) {
		fprintf(stderr,
		        "bench_taxii_ledger: BENCH_TAXII_ROUNDS 1..%d, BENCH_TAXII_SECONDS >= 1\n",
		        MAX_ROUNDS);
		return 2;
	}
	if (system("command -v wrk >/dev/null 2>&1") != 0 ||
	    system("command -v nginx >/dev/null 2>&1") != 0 || !sltest_pg_dsn()) {
		fprintf(stderr, "bench_taxii_ledger: needs wrk, nginx and the test PostgreSQL\n");
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
	t0 = now_s();
	if (share_all(l, nobj) != 0)
		return 1;
	printf("ledger_share_s=%.2f\n", now_s() - t0);

	dir = sl_taxii_store_mem_new();
	sl_taxii_store_mem_add_collection(dir, COLL, "bench", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(dir, "bench", "bench", "bench-password", NULL, &err);
	sl_taxii_store_mem_grant(dir, "bench", COLL, true, false, &err);
	ls = sl_taxii_store_ledger_new(l, sl_taxii_store_mem_ops(), dir, &err);
	if (!ls)
		return 1;
	if (getenv("BENCH_TAXII_NO_CACHE"))
		sl_taxii_store_ledger_set_cache(ls, 0);
	tx_server_init_store(&s, &hcfg, &tcfg, sl_taxii_store_ledger_ops(), ls);
	if (sl_taxii_store_ledger_attach(ls, s.base, &err) != 0)
		return 1;
	tx_server_start(&s);

	/* The first request of each view reads it into memory. */
	cold_all = timed_get(&s, &rq, &status);
	sl_taxii_store_ledger_set_partner_views(ls, true);
	cold_part = timed_get(&s, &rq, &status);
	printf("ledger_first_page_ms=%.1f\nledger_partner_first_page_ms=%.1f\n", cold_all,
	       cold_part);
	page = tx_do(&s, &rq);
	if (page.status != 200 || json_array_size(json_object_get(page.json, "objects")) != 100) {
		fprintf(stderr, "bench_taxii_ledger: first page: %ld %.200s\n", page.status,
		        page.body);
		return 1;
	}
	printf("ledger_page_bytes=%zu\n", page.len);
	if (!mkdtemp(tmp))
		return 1;
	snprintf(path, sizeof(path), "%s/www", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/www/page.json", tmp);
	if (bench_write_file(path, page.body, page.len) != 0)
		return 1;
	tx_resp_free(&page);
	sl_taxii_store_ledger_set_partner_views(ls, false);
	/* Walk to the middle of the collection for the last figure. */
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
	nport = bench_free_port();
	if ((nginx = bench_start_nginx(tmp, nport)) < 0) {
		fprintf(stderr, "bench_taxii_ledger: nginx did not start (see %s/error.log)\n",
		        tmp);
		return 1;
	}
	/* The machine is shared: alternate the runs and keep the median of each. The store is
	 * switched between views between runs, when no request is in flight. */
	for (int k = 0; k < rounds; k++) {
		snprintf(url, sizeof(url), "%s%s", s.base_url, rq.path);
		sl_taxii_store_ledger_set_partner_views(ls, false);
		if (bench_run_wrk(url, auth, seconds, &all_runs[k]) != 0)
			return 1;
		sl_taxii_store_ledger_set_partner_views(ls, true);
		if (bench_run_wrk(url, auth, seconds, &part_runs[k]) != 0)
			return 1;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/page.json", (unsigned)nport);
		if (bench_run_wrk(url, NULL, seconds, &ng_runs[k]) != 0)
			return 1;
	}
	kill(nginx, SIGQUIT);
	waitpid(nginx, NULL, 0);
	all = bench_median(all_runs, rounds);
	part = bench_median(part_runs, rounds);
	ng = bench_median(ng_runs, rounds);
	printf("rounds=%d\nseconds_per_run=%d\n", rounds, seconds);
	bench_print("sluice_ledger", &all);
	bench_print("sluice_ledger_partner_view", &part);
	bench_print("nginx_static", &ng);
	print_vs("sluice_ledger", &all, &ng);
	print_vs("sluice_ledger_partner_view", &part, &ng);
	sl_taxii_store_ledger_set_partner_views(ls, false);
	snprintf(url, sizeof(url), "%s%s&next=%s", s.base_url, rq.path, next);
	if (bench_run_wrk(url, auth, seconds, &mid) != 0)
		return 1;
	bench_print("sluice_ledger_mid_collection", &mid);

	/* Stop the loop, then the store writes what is left of the audit. */
	event_base_loopexit(s.base, NULL);
	pthread_join(s.thread, NULL);
	s.running = false;
	t0 = now_s();
	sl_taxii_store_ledger_free(ls);
	printf("ledger_audit_flush_on_free_ms=%.1f\n", (now_s() - t0) * 1000.0);
	tx_server_stop(&s);
	if (sl_ledger_stats(l, &stats, &err) == 0)
		printf("ledger_audit_rows=%lld\n", (long long)stats.audit);
	sl_taxii_store_mem_free(dir);
	sl_ledger_close(l);
	snprintf(path, sizeof(path), "rm -rf %s", tmp);
	return system(path) != 0;
}
