/* test_taxii_ledger.c — the TAXII server over the PostgreSQL ledger (taxii_store_ledger):
 * collections as views, limit=1 paging through one ingest's date_added tie, two partners' shares,
 * type views, versions, POST as ingest, DELETE refused, every served object in the audit, and pages
 * that end early at the scan limit still hand out every object exactly once; objects erased while a
 * partner pages (its own view, or every stored version) are never served again from the store's
 * in-memory views. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "ledger.h"
#include "sltest.h"
#include "taxii_store_ledger.h"
#include "test_taxii_fixture.h"

#define C_ALL "11111111-1111-4111-8111-111111111111"
#define C_IND "22222222-2222-4222-8222-222222222222"
#define ALICE "alice:pw-alice"
#define BOB "bob:pw-bob"
#define MALWARE "malware--aaaaaaaa-0000-4000-8000-000000000001"
#define NIND 30

static struct tx_server S;
static struct sl_ledger *L, *L2; /* the server's connection, and the test's own */
static struct sl_taxii_store_mem *DIR;
static struct sl_taxii_store_ledger *LS;

static int bob_share(int n)
{
	return n % 4 == 0;
}

static bool share_filter(void *arg, const char *partner, const char *collection, const json_t *obj)
{
	json_t *labels = json_object_get(obj, "labels"), *v;
	size_t i;

	if (strcmp(partner, "bob") != 0)
		return true;
	json_array_foreach(labels, i,
	                   v) if (json_is_string(v) &&
	                          strcmp(json_string_value(v), "share-bob") == 0) return true;
	return false;
}

static json_t *indicator(int n)
{
	char id[80], pattern[64];
	json_t *o;

	snprintf(id, sizeof(id), "indicator--00000000-0000-4000-8000-%012d", n);
	snprintf(pattern, sizeof(pattern), "[ipv4-addr:value = '10.0.0.%d']", n);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "indicator",
	              "spec_version", "2.1", "id", id, "created", "2023-01-01T00:00:00.000Z",
	              "modified", "2023-01-01T00:00:00.000Z", "pattern", pattern, "pattern_type",
	              "stix", "valid_from", "2023-01-01T00:00:00Z");
	if (bob_share(n))
		json_object_set_new(o, "labels", json_pack("[s]", "share-bob"));
	return o;
}

static void ingest(json_t **objs, size_t n)
{
	struct sl_ledger_in in[NIND + 1];
	struct sl_ledger_result res[NIND + 1];
	struct sl_err err = {0};

	for (size_t i = 0; i < n; i++) {
		in[i].obj = objs[i];
		in[i].origin_id = "seed-feed";
	}
	if (sl_ledger_ingest(L2, "seed", in, n, NULL, res, &err) != 0)
		fail_msg("ingest: %s: %s", err.where, err.msg);
	for (size_t i = 0; i < n; i++)
		if (res[i].outcome == SL_LEDGER_REJECTED)
			fail_msg("seed object %zu rejected: %s", i, res[i].msg);
}

static int setup(void **state)
{
	struct sl_err err = {0};
	char *dsn;
	json_t *objs[NIND + 1];
	static const char *const ind_only[] = {"indicator"};

	if (!sltest_pg_dsn()) {
		fprintf(stderr, "no test PostgreSQL: skipping\n");
		exit(SLTEST_SKIP);
	}
	dsn = sltest_fresh_db("sl_taxii_ledger");
	L = sl_ledger_open(dsn, &err);
	L2 = L ? sl_ledger_open(dsn, &err) : NULL;
	free(dsn);
	if (!L || !L2)
		fail_msg("ledger open: %s", err.msg);
	if (sl_ledger_migrate(L, NULL, NULL, &err) != 0)
		fail_msg("migrate: %s", err.msg);

	/* One ingest: every indicator shares one date_added. */
	for (int n = 1; n <= NIND; n++)
		objs[n - 1] = indicator(n);
	ingest(objs, NIND);
	for (int n = 0; n < NIND; n++)
		json_decref(objs[n]);
	for (int v = 1; v <= 3; v++) {
		char mod[40];

		snprintf(mod, sizeof(mod), "2020-0%d-01T00:00:00.000Z", v);
		objs[0] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "type", "malware",
		                    "spec_version", "2.1", "id", MALWARE, "created",
		                    "2020-01-01T00:00:00.000Z", "modified", mod, "name", "m",
		                    "is_family", 0);
		ingest(objs, 1);
		json_decref(objs[0]);
	}

	DIR = sl_taxii_store_mem_new();
	sl_taxii_store_mem_add_collection(DIR, C_ALL, "all", NULL, NULL, &err);
	sl_taxii_store_mem_add_collection(DIR, C_IND, "indicators", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(DIR, "alice", "alice", "pw-alice", NULL, &err);
	sl_taxii_store_mem_add_partner(DIR, "bob", "bob", "pw-bob", NULL, &err);
	sl_taxii_store_mem_grant(DIR, "alice", C_ALL, true, true, &err);
	sl_taxii_store_mem_grant(DIR, "alice", C_IND, true, true, &err);
	sl_taxii_store_mem_grant(DIR, "bob", C_ALL, true, false, &err);
	LS = sl_taxii_store_ledger_new(L, sl_taxii_store_mem_ops(), DIR, &err);
	assert_non_null(LS);
	assert_int_equal(sl_taxii_store_ledger_set_types(LS, C_IND, ind_only, 1, &err), 0);
	sl_taxii_store_ledger_set_filter(LS, share_filter, NULL);
	tx_server_init_store(&S, NULL, NULL, sl_taxii_store_ledger_ops(), LS);
	assert_int_equal(sl_taxii_store_ledger_attach(LS, S.base, &err), 0);
	tx_server_start(&S);
	return 0;
}

static int teardown(void **state)
{
	/* Stop the loop first: the store's timer must go before the event base does. */
	event_base_loopexit(S.base, NULL);
	pthread_join(S.thread, NULL);
	S.running = false;
	sl_taxii_store_ledger_detach(LS);
	tx_server_stop(&S);
	sl_taxii_store_ledger_free(LS);
	sl_taxii_store_mem_free(DIR);
	sl_ledger_close(L);
	sl_ledger_close(L2);
	return 0;
}

static struct tx_resp get(const char *path, const char *user)
{
	struct tx_req r = {.path = path, .user = user};

	return tx_do(&S, &r);
}

/* Walk with next; count each id's appearances in seen[] (indicators 1..NIND; index 0 = malware). */
static size_t walk(const char *first, const char *user, int limit, int *seen)
{
	char path[1024], next[256] = "";
	size_t total = 0;

	for (int pages = 0; pages < 1000; pages++) {
		struct tx_resp r;
		json_t *o;
		size_t i;

		snprintf(path, sizeof(path), "%s%climit=%d%s%s", first,
		         strchr(first, '?') ? '&' : '?', limit, next[0] ? "&next=" : "", next);
		r = get(path, user);
		if (r.status != 200)
			fail_msg("%s -> %ld %s", path, r.status, r.body);
		assert_true(json_array_size(json_object_get(r.json, "objects")) <= (size_t)limit);
		json_array_foreach(json_object_get(r.json, "objects"), i, o)
		{
			const char *id = json_string_value(json_object_get(o, "id"));

			if (strcmp(id, MALWARE) == 0)
				seen[0]++;
			else
				seen[atoi(id + strlen(id) - 12)]++;
			total++;
		}
		if (!json_is_true(json_object_get(r.json, "more"))) {
			tx_resp_free(&r);
			return total;
		}
		assert_non_null(json_string_value(json_object_get(r.json, "next")));
		snprintf(next, sizeof(next), "%s",
		         json_string_value(json_object_get(r.json, "next")));
		tx_resp_free(&r);
	}
	fail_msg("walk did not end");
	return 0;
}

static void limit_1_walk_sees_every_object_once(void **state)
{
	int seen[NIND + 1] = {0};

	assert_int_equal(walk("/sluice/collections/" C_ALL "/objects/", ALICE, 1, seen), NIND + 1);
	for (int n = 0; n <= NIND; n++)
		assert_int_equal(seen[n], 1);
}

static void partners_see_their_share_and_views_their_types(void **state)
{
	int seen[NIND + 1] = {0}, expected = 0;

	walk("/sluice/collections/" C_ALL "/objects/", BOB, 2, seen);
	for (int n = 1; n <= NIND; n++) {
		assert_int_equal(seen[n], bob_share(n));
		expected += bob_share(n);
	}
	assert_int_equal(seen[0], 0);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(walk("/sluice/collections/" C_IND "/manifest/", ALICE, 7, seen), NIND);
	assert_int_equal(seen[0], 0);
	/* bob has no grant on the indicator view: it does not exist for him. */
	{
		struct tx_resp r = get("/sluice/collections/" C_IND "/objects/", BOB);

		assert_int_equal(r.status, 404);
		tx_resp_free(&r);
	}
	assert_true(expected > 0);
}

static void versions_and_version_filters(void **state)
{
	struct tx_resp r;

	r = get("/sluice/collections/" C_ALL "/objects/" MALWARE "/?match[version]=all", ALICE);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "objects")), 3);
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_ALL "/objects/" MALWARE "/?match[version]=first", ALICE);
	assert_int_equal(json_array_size(json_object_get(r.json, "objects")), 1);
	assert_non_null(
	    strstr(json_string_value(json_object_get(
	               json_array_get(json_object_get(r.json, "objects"), 0), "modified")),
	           "2020-01-01"));
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_ALL "/objects/" MALWARE "/", ALICE);
	assert_int_equal(json_array_size(json_object_get(r.json, "objects")), 1);
	assert_non_null(
	    strstr(json_string_value(json_object_get(
	               json_array_get(json_object_get(r.json, "objects"), 0), "modified")),
	           "2020-03-01"));
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_ALL "/objects/" MALWARE "/versions/", ALICE);
	assert_int_equal(json_array_size(json_object_get(r.json, "versions")), 3);
	tx_resp_free(&r);
	/* One version per page through the object's own endpoint. */
	{
		char path[512], next[128] = "";

		for (int k = 1; k <= 3; k++) {
			snprintf(path, sizeof(path),
			         "/sluice/collections/" C_ALL "/objects/" MALWARE
			         "/?match[version]=all&limit=1%s%s",
			         next[0] ? "&next=" : "", next);
			r = get(path, ALICE);
			assert_int_equal(r.status, 200);
			assert_int_equal(json_array_size(json_object_get(r.json, "objects")), 1);
			assert_int_equal(json_is_true(json_object_get(r.json, "more")), k < 3);
			if (k < 3)
				snprintf(next, sizeof(next), "%s",
				         json_string_value(json_object_get(r.json, "next")));
			tx_resp_free(&r);
		}
	}
	r = get("/sluice/collections/" C_ALL "/objects/?match[type]=malware&match[version]=all",
	        ALICE);
	assert_int_equal(json_array_size(json_object_get(r.json, "objects")), 3);
	tx_resp_free(&r);
}

static struct tx_resp post(const char *coll, const char *body)
{
	char path[256];
	struct tx_req rq = {.method = "POST", .path = path, .user = ALICE, .body = body};

	snprintf(path, sizeof(path), "/sluice/collections/%s/objects/", coll);
	return tx_do(&S, &rq);
}

static void post_is_an_ingest_and_delete_is_refused(void **state)
{
	const char *good =
	    "{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--"
	    "eeeeeeee-0000-4000-8000-000000000001\",\"created\":\"2024-01-01T00:00:00.000Z\","
	    "\"modified\":\"2024-01-01T00:00:00.000Z\",\"pattern\":\"[ipv4-addr:value = "
	    "'10.9.9.9']\",\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00Z\"}";
	const char *mal = "{\"type\":\"malware\",\"spec_version\":\"2.1\",\"id\":\"malware--"
	                  "eeeeeeee-0000-4000-8000-000000000002\",\"created\":\"2024-01-01T00:00:"
	                  "00.000Z\",\"modified\":\"2024-01-01T00:00:00.000Z\",\"name\":\"x\","
	                  "\"is_family\":false}";
	char body[4096];
	struct tx_resp r;
	struct tx_req del = {.method = "DELETE",
	                     .path = "/sluice/collections/" C_ALL "/objects/" MALWARE "/",
	                     .user = ALICE};

	snprintf(body, sizeof(body), "{\"objects\":[%s,{\"type\":\"indicator\"},%s]}", good, mal);
	r = post(C_IND, body);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "success_count")), 1);
	assert_int_equal(json_integer_value(json_object_get(r.json, "failure_count")), 2);
	assert_non_null(strstr(r.body, "objects[2]: type malware does not belong"));
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_IND
	        "/objects/indicator--eeeeeeee-0000-4000-8000-000000000001/",
	        ALICE);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "objects")), 1);
	tx_resp_free(&r);
	/* A duplicate is a success. */
	snprintf(body, sizeof(body), "{\"objects\":[%s]}", good);
	r = post(C_IND, body);
	assert_int_equal(json_integer_value(json_object_get(r.json, "success_count")), 1);
	tx_resp_free(&r);
	r = tx_do(&S, &del);
	assert_int_equal(r.status, 403);
	tx_resp_free(&r);
}

static void served_objects_are_audited(void **state)
{
	struct sl_err err = {0};
	struct tx_resp r = get("/sluice/collections/" C_ALL "/objects/?match[type]=indicator", BOB);
	json_t *rows = NULL, *row;
	size_t i, served = 0, n = json_array_size(json_object_get(r.json, "objects"));

	tx_resp_free(&r);
	assert_true(n > 0);
	/* The audit is written in batches off the request path, within ~100 ms: wait for it (up
	 * to 10 s), then check every row. */
	for (int tries = 0; tries < 200; tries++) {
		json_decref(rows);
		rows = sl_ledger_audit_list(L2, "taxii:bob", NULL, 100000, &err);
		assert_non_null(rows);
		if (json_array_size(rows) >= n)
			break;
		nanosleep(&(struct timespec){0, 50000000}, NULL);
	}
	json_array_foreach(rows, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));

		assert_non_null(id);
		/* Only objects from bob's share were ever handed to bob. */
		if (strncmp(id, "indicator--", 11) == 0)
			assert_true(bob_share(atoi(id + strlen(id) - 12)));
		served++;
	}
	assert_true(served >= n);
	json_decref(rows);
}

static void pages_ending_at_the_scan_limit_still_cover_everything(void **state)
{
	int seen[NIND + 1] = {0};

	/* bob's share is sparse: with 3 versions examined per request many pages end early. */
	sl_taxii_store_ledger_set_scan_limit(LS, 3);
	walk("/sluice/collections/" C_ALL "/objects/?match[type]=indicator", BOB, 5, seen);
	sl_taxii_store_ledger_set_scan_limit(LS, 10000);
	for (int n = 1; n <= NIND; n++)
		assert_int_equal(seen[n], bob_share(n));
}

#define ERASED_VIEW "indicator--00000000-0000-4000-8000-000000000005"
#define ERASED_ALL "indicator--00000000-0000-4000-8000-000000000007"

struct pager {
	const char *path, *needle;
	volatile int stop, erased; /* set by the main thread */
	int pages_after, seen_after, seen_before;
};

/* Page as alice until stopped; count pages carrying the needle before and after the erasure. */
static void *pager(void *arg)
{
	struct pager *p = arg;

	while (!p->stop) {
		int erased = p->erased;
		struct tx_resp r = get(p->path, ALICE);

		if (r.status == 200 && r.body) {
			bool has = strstr(r.body, p->needle) != NULL;

			if (erased) {
				p->pages_after++;
				p->seen_after += has;
			} else {
				p->seen_before += has;
			}
		}
		tx_resp_free(&r);
	}
	return NULL;
}

/* Erase id through the test's own connection while alice pages path; then it is never served. */
static void erase_while_paging(const char *path, const char *id)
{
	static const unsigned char key[] = "test-erasure-key";
	struct pager p = {.path = path, .needle = id};
	struct sl_ledger_erase_result er;
	struct sl_err err = {0};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, pager, &p), 0);
	while (p.seen_before < 3)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	if (sl_ledger_erase(L2, id, key, sizeof(key) - 1, &er, &err) != 0)
		fail_msg("erase: %s", err.msg);
	assert_true(er.versions > 0);
	/* The notification reaches the server a moment after the commit (see docs/taxii.md): wait
	 * (at most 10 s) until one of our own pages no longer carries the id; from then on no page
	 * may. A fixed 20 ms was too short on a loaded 2-core machine. */
	for (int tries = 0;; tries++) {
		struct tx_resp r = get(path, ALICE);
		bool gone = r.status == 200 && r.body && !strstr(r.body, id);

		tx_resp_free(&r);
		if (gone)
			break;
		if (tries >= 1000)
			fail_msg("%s still served 10 s after its erasure was committed", id);
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	p.erased = 1;
	while (p.pages_after < 20)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	p.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(p.seen_after, 0);
	{
		struct tx_resp r = get(path, ALICE);

		assert_int_equal(r.status, 200);
		assert_null(strstr(r.body, id));
		tx_resp_free(&r);
	}
}

static void erased_objects_are_never_served_again(void **state)
{
	struct sl_ledger_share rows[10];
	json_t *objs[10];
	struct sl_err err = {0};
	int seen[NIND + 1] = {0};

	/* alice's own view: indicators 1..10, as the policy allowed them. */
	for (int n = 1; n <= 10; n++) {
		objs[n - 1] = indicator(n);
		rows[n - 1] = (struct sl_ledger_share){
		    .destination = "alice",
		    .id = json_string_value(json_object_get(objs[n - 1], "id")),
		    .modified = "2023-01-01T00:00:00.000Z",
		    .decision = SL_LEDGER_ALLOW,
		    .rule = "test",
		    .obj = objs[n - 1],
		};
	}
	assert_int_equal(sl_ledger_share_record(L2, rows, 10, NULL, &err), 0);
	for (int n = 0; n < 10; n++)
		json_decref(objs[n]);
	sl_taxii_store_ledger_set_partner_views(LS, true);
	walk("/sluice/collections/" C_ALL "/objects/", ALICE, 100, seen);
	for (int n = 1; n <= NIND; n++)
		assert_int_equal(seen[n], n <= 10);
	erase_while_paging("/sluice/collections/" C_ALL "/objects/?limit=100", ERASED_VIEW);
	/* Every stored version (erasure leaves a tombstone there, never served). */
	sl_taxii_store_ledger_set_partner_views(LS, false);
	erase_while_paging("/sluice/collections/" C_ALL "/objects/?limit=100", ERASED_ALL);
}

/* Rows committed after a view was read into memory are served: a new object, and a new version
 * that replaces the old one in the default (last) listing. */
static void objects_added_later_are_served(void **state)
{
	json_t *objs[2] = {indicator(NIND + 1), indicator(1)};
	bool fresh = false;

	json_object_set_new(objs[1], "modified", json_string("2023-06-01T00:00:00.000Z"));
	json_object_set_new(objs[1], "name", json_string("second version"));
	{
		int seen[NIND + 2] = {0};

		walk("/sluice/collections/" C_ALL "/objects/", ALICE, 100, seen); /* fills it */
	}
	ingest(objs, 2);
	json_decref(objs[0]);
	json_decref(objs[1]);
	/* The store hears of the commit within a moment: give it up to 5 s. */
	for (int tries = 0; tries < 100 && !fresh; tries++) {
		struct tx_resp r = get("/sluice/collections/" C_ALL "/objects/?limit=1000", ALICE);

		assert_int_equal(r.status, 200);
		fresh = strstr(r.body, "indicator--00000000-0000-4000-8000-000000000031") != NULL;
		if (fresh) {
			/* Indicator 1 once, as its new version only. */
			const char *first =
			    strstr(r.body, "indicator--00000000-0000-4000-8000-000000000001");

			assert_non_null(first);
			assert_null(
			    strstr(first + 1, "indicator--00000000-0000-4000-8000-000000000001"));
			assert_non_null(strstr(r.body, "second version"));
		}
		tx_resp_free(&r);
		if (!fresh)
			nanosleep(&(struct timespec){0, 50000000}, NULL);
	}
	assert_true(fresh);
}

/* Audit rows still queued when the store is freed (graceful shutdown) are written, each once. */
static void audit_rows_are_written_on_free(void **state)
{
	struct sl_taxii_served items[3] = {
	    {"indicator--00000000-0000-4000-8000-000000000002", "2023-01-01T00:00:00.000Z"},
	    {"indicator--00000000-0000-4000-8000-000000000003", "2023-01-01T00:00:00.000Z"},
	    {"indicator--00000000-0000-4000-8000-000000000002", "2023-01-01T00:00:00.000Z"},
	};
	struct sl_err err = {0};
	struct sl_taxii_store_ledger *st =
	    sl_taxii_store_ledger_new(L2, sl_taxii_store_mem_ops(), DIR, &err);
	json_t *rows, *row;
	size_t i, two = 0, three = 0;

	assert_non_null(st);
	/* No timer, far below a batch: nothing is written before free. */
	assert_int_equal(
	    sl_taxii_store_ledger_ops()->note_served(st, "carol", C_ALL, items, 3, &err), 0);
	sl_taxii_store_ledger_free(st);
	rows = sl_ledger_audit_list(L2, "taxii:carol", NULL, 1000, &err);
	assert_non_null(rows);
	json_array_foreach(rows, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));
		const char *res = json_string_value(json_object_get(row, "result"));

		if (strcmp(id, items[0].id) == 0) {
			two++;
			assert_string_equal(res, "served 2 times");
		} else if (strcmp(id, items[1].id) == 0) {
			three++;
			assert_string_equal(res, "served");
		}
		assert_string_equal(json_string_value(json_object_get(row, "rule")),
		                    "taxii collection " C_ALL);
	}
	assert_int_equal(two, 1);
	assert_int_equal(three, 1);
	json_decref(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(limit_1_walk_sees_every_object_once),
	    cmocka_unit_test(partners_see_their_share_and_views_their_types),
	    cmocka_unit_test(versions_and_version_filters),
	    cmocka_unit_test(post_is_an_ingest_and_delete_is_refused),
	    cmocka_unit_test(served_objects_are_audited),
	    cmocka_unit_test(pages_ending_at_the_scan_limit_still_cover_everything),
	    cmocka_unit_test(erased_objects_are_never_served_again),
	    cmocka_unit_test(objects_added_later_are_served),
	    cmocka_unit_test(audit_rows_are_written_on_free),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
