/* test_taxii.c — TAXII 2.1 conformance of sluice's server over HTTP on loopback: every endpoint,
 * filter, paging path and error code a partner relies on, two partners with different views, and
 * TLS. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>

#include "test_taxii_fixture.h"

#define TAXII "application/taxii+json;version=2.1"
#define C_SHARED "11111111-1111-4111-8111-111111111111"
#define C_PRIVATE "22222222-2222-4222-8222-222222222222"
#define C_INBOX "33333333-3333-4333-8333-333333333333"
#define C_TIES "44444444-4444-4444-8444-444444444444"
#define C_WRITE "55555555-5555-4555-8555-555555555555"
#define ALICE "alice:pw-alice"
#define BOB "bob:pw-bob"
#define MALWARE "malware--aaaaaaaa-0000-4000-8000-000000000001"
#define IDENTITY "identity--bbbbbbbb-0000-4000-8000-000000000001"
#define NTIES 25

static struct tx_server S;
static const int64_t BASE_US = 1700000000000000; /* 2023-11-14T22:13:20Z */

static void indicator_id(int n, char *out, size_t len)
{
	snprintf(out, len, "indicator--00000000-0000-4000-8000-%012d", n);
}

static void put(const char *coll, const char *json, int64_t date)
{
	struct sl_err err = {0};

	if (sl_taxii_store_mem_put(S.store, coll, json, date, &err) != 0) {
		fprintf(stderr, "seed: %s: %s\n", err.where, err.msg);
		abort();
	}
}

static void put_indicator(const char *coll, int n, const char *labels, int64_t date)
{
	char id[80], json[1024];

	indicator_id(n, id, sizeof(id));
	snprintf(
	    json, sizeof(json),
	    "{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"%s\","
	    "\"created\":\"2023-01-01T00:00:00.000Z\",\"modified\":\"2023-01-01T00:00:00.000Z\","
	    "\"name\":\"ind %d\",\"pattern\":\"[ipv4-addr:value = '10.0.0.%d']\","
	    "\"pattern_type\":\"stix\",\"valid_from\":\"2023-01-01T00:00:00Z\"%s%s%s}",
	    id, n, n, labels ? ",\"labels\":[\"" : "", labels ? labels : "", labels ? "\"]" : "");
	put(coll, json, date);
}

/* bob sees only objects labelled share-bob; everyone else sees everything. */
static bool share_filter(void *arg, const char *partner, const char *collection, const json_t *obj)
{
	json_t *labels = json_object_get(obj, "labels");
	size_t i;
	json_t *v;

	if (strcmp(partner, "bob") != 0)
		return true;
	json_array_foreach(labels, i,
	                   v) if (json_is_string(v) &&
	                          strcmp(json_string_value(v), "share-bob") == 0) return true;
	return false;
}

static int bob_share(int n)
{
	return n % 3 == 0; /* indicators 3, 6, 9 */
}

static int setup(void **state)
{
	struct sl_err err = {0};
	static const char *const colls[] = {C_SHARED, C_PRIVATE, C_INBOX, C_TIES, C_WRITE};
	char json[512];

	tx_server_init(&S, NULL, NULL);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(sl_taxii_store_mem_add_collection(S.store, colls[i], colls[i],
		                                                   "test", NULL, &err),
		                 0);
	assert_int_equal(sl_taxii_store_mem_add_partner(S.store, "alice", "alice", "pw-alice",
	                                                "key-alice", &err),
	                 0);
	assert_int_equal(
	    sl_taxii_store_mem_add_partner(S.store, "bob", "bob", "pw-bob", "key-bob", &err), 0);
	assert_int_equal(
	    sl_taxii_store_mem_add_partner(S.store, "carol", "carol", "pw-carol", NULL, &err), 0);
	sl_taxii_store_mem_grant(S.store, "alice", C_SHARED, true, true, &err);
	sl_taxii_store_mem_grant(S.store, "alice", C_PRIVATE, true, false, &err);
	sl_taxii_store_mem_grant(S.store, "alice", C_INBOX, false, true, &err);
	sl_taxii_store_mem_grant(S.store, "alice", C_TIES, true, false, &err);
	sl_taxii_store_mem_grant(S.store, "alice", C_WRITE, true, true, &err);
	sl_taxii_store_mem_grant(S.store, "bob", C_SHARED, true, false, &err);
	sl_taxii_store_mem_set_filter(S.store, share_filter, NULL);

	for (int n = 1; n <= 10; n++)
		put_indicator(C_SHARED, n, bob_share(n) ? "share-bob" : NULL,
		              BASE_US + (int64_t)n * 1000000);
	for (int v = 1; v <= 3; v++) {
		snprintf(
		    json, sizeof(json),
		    "{\"type\":\"malware\",\"spec_version\":\"2.1\",\"id\":\"%s\","
		    "\"created\":\"2020-01-01T00:00:00.000Z\",\"modified\":\"2020-0%d-01T00:00:"
		    "00.000Z\",\"name\":\"m v%d\",\"is_family\":false}",
		    MALWARE, v, v);
		put(C_SHARED, json, BASE_US + (int64_t)(20 + v) * 1000000);
	}
	put(C_SHARED,
	    "{\"type\":\"identity\",\"spec_version\":\"2.0\",\"id\":\"" IDENTITY "\","
	    "\"created\":\"2019-01-01T00:00:00.000Z\",\"modified\":\"2019-01-01T00:00:00.000Z\","
	    "\"name\":\"old\",\"identity_class\":\"organization\"}",
	    BASE_US + 30000000);
	put(C_SHARED,
	    "{\"type\":\"identity\",\"spec_version\":\"2.1\",\"id\":\"" IDENTITY "\","
	    "\"created\":\"2019-01-01T00:00:00.000Z\",\"modified\":\"2021-01-01T00:00:00.000Z\","
	    "\"name\":\"new\",\"identity_class\":\"organization\"}",
	    BASE_US + 31000000);
	put_indicator(C_PRIVATE, 500, NULL, BASE_US);
	/* Many objects sharing one date_added: the case that breaks added_after-only paging. */
	for (int n = 100; n < 100 + NTIES; n++)
		put_indicator(C_TIES, n, NULL, BASE_US + 50000000);
	tx_server_start(&S);
	return 0;
}

static int teardown(void **state)
{
	tx_server_stop(&S);
	return 0;
}

static struct tx_resp get(const char *path, const char *user)
{
	struct tx_req r = {.path = path, .user = user};

	return tx_do(&S, &r);
}

/* GET that must succeed with a TAXII JSON body. */
static struct tx_resp get_ok(const char *path, const char *user)
{
	struct tx_resp r = get(path, user);
	char ct[128];

	if (r.status != 200)
		fprintf(stderr, "GET %s -> %ld %s\n", path, r.status, r.body);
	assert_int_equal(r.status, 200);
	assert_non_null(tx_header(&r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, TAXII);
	assert_non_null(r.json);
	return r;
}

/* An error reply: the status, a TAXII error object with http_status, and a description naming
 * `names`. */
static void assert_taxii_error(const struct tx_resp *r, long status, const char *names)
{
	char ct[128], code[8];
	const char *desc;

	if (r->status != status)
		fprintf(stderr, "expected %ld, got %ld: %s\n", status, r->status, r->body);
	assert_int_equal(r->status, status);
	assert_non_null(tx_header(r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, TAXII);
	assert_non_null(r->json);
	assert_non_null(json_string_value(json_object_get(r->json, "title")));
	snprintf(code, sizeof(code), "%ld", status);
	assert_string_equal(json_string_value(json_object_get(r->json, "http_status")), code);
	desc = json_string_value(json_object_get(r->json, "description"));
	assert_non_null(desc);
	if (names && !strstr(desc, names))
		fail_msg("description '%s' does not name '%s'", desc, names);
}

static size_t count_objects(const json_t *env)
{
	return json_array_size(json_object_get(env, "objects"));
}

static bool has_id(const json_t *env, const char *id)
{
	size_t i;
	json_t *o;

	json_array_foreach(json_object_get(env, "objects"), i,
	                   o) if (strcmp(json_string_value(json_object_get(o, "id")), id) ==
	                          0) return true;
	return false;
}

/* ---- discovery, api root, collections ---- */

static void discovery_and_api_root(void **state)
{
	struct tx_resp r = get_ok("/taxii2/", ALICE);

	assert_string_equal(json_string_value(json_object_get(r.json, "title")), "sluice test");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(r.json, "api_roots"), 0)), "/sluice/");
	assert_string_equal(json_string_value(json_object_get(r.json, "default")), "/sluice/");
	tx_resp_free(&r);
	r = get_ok("/sluice/", ALICE);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(r.json, "versions"), 0)), TAXII);
	assert_int_equal(json_integer_value(json_object_get(r.json, "max_content_length")), 65536);
	tx_resp_free(&r);
}

static void collections_per_partner(void **state)
{
	struct tx_resp r = get_ok("/sluice/collections/", ALICE);
	json_t *list = json_object_get(r.json, "collections"), *c;

	assert_int_equal(json_array_size(list), 5);
	tx_resp_free(&r);

	r = get_ok("/sluice/collections/", BOB);
	list = json_object_get(r.json, "collections");
	assert_int_equal(json_array_size(list), 1);
	c = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(c, "id")), C_SHARED);
	assert_true(json_is_true(json_object_get(c, "can_read")));
	assert_true(json_is_false(json_object_get(c, "can_write")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(c, "media_types"), 0)),
	                    "application/stix+json;version=2.1");
	tx_resp_free(&r);

	/* A partner without collections gets an empty resource, keys omitted. */
	r = get_ok("/sluice/collections/", "carol:pw-carol");
	assert_int_equal(json_object_size(r.json), 0);
	tx_resp_free(&r);

	r = get_ok("/sluice/collections/" C_SHARED "/", ALICE);
	assert_true(json_is_true(json_object_get(r.json, "can_write")));
	tx_resp_free(&r);

	/* bob must not learn that the private collection exists: 404, not 403. */
	r = get("/sluice/collections/" C_PRIVATE "/", BOB);
	assert_taxii_error(&r, 404, C_PRIVATE);
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_PRIVATE "/objects/", BOB);
	assert_taxii_error(&r, 404, NULL);
	tx_resp_free(&r);
}

/* ---- auth, negotiation, unknown things, rights ---- */

static void bad_credentials_are_401_with_challenge(void **state)
{
	const char *users[] = {NULL, "alice:wrong", "nobody:pw-alice", "alice:"};
	struct tx_req rq = {.path = "/sluice/collections/", .bearer = "key-bob"};
	struct tx_resp r;
	char wa[256];

	for (size_t i = 0; i < 4; i++) {
		r = get("/sluice/collections/", users[i]);
		assert_taxii_error(&r, 401, NULL);
		assert_non_null(tx_header(&r, "WWW-Authenticate", wa, sizeof(wa)));
		assert_non_null(strstr(wa, "Basic"));
		tx_resp_free(&r);
	}
	/* API key as Bearer: bob's key gives bob's view. */
	r = tx_do(&S, &rq);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "collections")), 1);
	tx_resp_free(&r);
	rq.bearer = "key-wrong";
	r = tx_do(&S, &rq);
	assert_taxii_error(&r, 401, NULL);
	tx_resp_free(&r);
}

static void accept_negotiation(void **state)
{
	static const struct {
		const char *accept;
		long status;
	} cases[] = {
	    {"application/json", 406},
	    {"application/taxii+json;version=2.0", 406},
	    {"application/stix+json;version=2.1", 406},
	    {"application/taxii+json;version=2.1;q=0", 406},
	    {"", 200},
	    {"application/taxii+json", 200},
	    {"application/taxii+json; version=2.1", 200},
	    {"text/html, application/taxii+json;version=2.1", 200},
	    {"*/*", 200},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tx_req rq = {
		    .path = "/sluice/collections/", .user = ALICE, .accept = cases[i].accept};
		struct tx_resp r = tx_do(&S, &rq);

		if (r.status != cases[i].status)
			fail_msg("Accept '%s': %ld", cases[i].accept, r.status);
		if (cases[i].status == 406)
			assert_taxii_error(&r, 406, "Accept");
		tx_resp_free(&r);
	}
}

static void unknown_things_are_404(void **state)
{
	static const char *const paths[] = {
	    "/sluice/collections/99999999-9999-4999-8999-999999999999/",
	    "/sluice/collections/99999999-9999-4999-8999-999999999999/objects/",
	    "/sluice/collections/" C_SHARED
	    "/objects/indicator--00000000-0000-4000-8000-999999999999/",
	    "/sluice/collections/" C_SHARED "/objects/not-an-id/",
	    "/sluice/collections/" C_SHARED
	    "/objects/indicator--00000000-0000-4000-8000-999999999999/versions/",
	    "/sluice/status/00000000-0000-4000-8000-000000000000/",
	    "/other/",
	    "/sluice/collections",
	};
	struct tx_req rq = {.method = "PUT", .path = "/sluice/", .user = ALICE};
	struct tx_resp r;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		r = get(paths[i], ALICE);
		assert_taxii_error(&r, 404, NULL);
		tx_resp_free(&r);
	}
	r = tx_do(&S, &rq);
	assert_taxii_error(&r, 405, NULL);
	tx_resp_free(&r);
}

static void rights_are_403(void **state)
{
	struct tx_req post = {.method = "POST",
	                      .path = "/sluice/collections/" C_SHARED "/objects/",
	                      .user = BOB,
	                      .body = "{\"objects\":[]}"};
	struct tx_req del = {.method = "DELETE",
	                     .path = "/sluice/collections/" C_SHARED
	                             "/objects/indicator--00000000-0000-4000-8000-000000000003/",
	                     .user = BOB};
	struct tx_resp r = tx_do(&S, &post);

	assert_taxii_error(&r, 403, "writable");
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_INBOX "/objects/", ALICE);
	assert_taxii_error(&r, 403, "readable");
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_INBOX "/manifest/", ALICE);
	assert_taxii_error(&r, 403, NULL);
	tx_resp_free(&r);
	/* bob may read, not write: DELETE needs both. */
	r = tx_do(&S, &del);
	assert_taxii_error(&r, 403, NULL);
	tx_resp_free(&r);
	r = get("/sluice/collections/" C_SHARED
	        "/objects/indicator--00000000-0000-4000-8000-000000000003/",
	        BOB);
	assert_int_equal(r.status, 200);
	tx_resp_free(&r);
}

static void bad_filters_are_400_naming_the_parameter(void **state)
{
	static const struct {
		const char *query;
		const char *param;
	} cases[] = {
	    {"limit=0", "limit"},
	    {"limit=-3", "limit"},
	    {"limit=abc", "limit"},
	    {"limit=1&limit=2", "limit"},
	    {"added_after=garbage", "added_after"},
	    {"added_after=2021-13-01T00:00:00Z", "added_after"},
	    {"match%5Bversion%5D=newest", "match[version]"},
	    {"match[version]=first,,last", "match[version]"},
	    {"match[version]=all,first", "match[version]"},
	    {"match[version]=last,last", "match[version]"},
	    {"match[version]=2020-01-01T00:00:00Z,2020-01-01T00:00:00.000Z", "match[version]"},
	    {"match[id]=not-an-id", "match[id]"},
	    {"match[type]=Indicator!", "match[type]"},
	    {"match[spec_version]=two", "match[spec_version]"},
	    {"next=abc", "next"},
	    {"match[id]=%zz", NULL},
	};
	char path[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tx_resp r;

		snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "/objects/?%s",
		         cases[i].query);
		r = get(path, ALICE);
		if (r.status != 400)
			fail_msg("%s: %ld", cases[i].query, r.status);
		assert_taxii_error(&r, 400, cases[i].param);
		tx_resp_free(&r);
		snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "/manifest/?%s",
		         cases[i].query);
		r = get(path, ALICE);
		assert_taxii_error(&r, 400, cases[i].param);
		tx_resp_free(&r);
	}
	/* The server keeps serving after bad requests. */
	{
		struct tx_resp r = get_ok("/sluice/collections/" C_SHARED "/objects/", ALICE);

		tx_resp_free(&r);
	}
}

/* ---- objects, filters, two views ---- */

static void objects_default_view_and_headers(void **state)
{
	struct tx_resp r = get_ok("/sluice/collections/" C_SHARED "/objects/", ALICE);
	char h[64], want[64], id[80];
	json_t *o;
	size_t i;
	int malware = 0, identity = 0;

	/* 10 indicators + the last malware version + only the 2.1 identity (latest spec version).
	 */
	assert_int_equal(count_objects(r.json), 12);
	assert_false(json_is_true(json_object_get(r.json, "more")));
	assert_null(json_object_get(r.json, "next"));
	for (int n = 1; n <= 10; n++) {
		indicator_id(n, id, sizeof(id));
		assert_true(has_id(r.json, id));
	}
	json_array_foreach(json_object_get(r.json, "objects"), i, o)
	{
		const char *oid = json_string_value(json_object_get(o, "id"));

		if (strcmp(oid, MALWARE) == 0) {
			malware++;
			assert_string_equal(json_string_value(json_object_get(o, "modified")),
			                    "2020-03-01T00:00:00.000Z");
		}
		if (strcmp(oid, IDENTITY) == 0) {
			identity++;
			assert_string_equal(json_string_value(json_object_get(o, "spec_version")),
			                    "2.1");
		}
	}
	assert_int_equal(malware, 1);
	assert_int_equal(identity, 1);
	assert_non_null(tx_header(&r, "X-TAXII-Date-Added-First", h, sizeof(h)));
	assert_string_equal(h, "2023-11-14T22:13:21.000000Z"); /* BASE + 1 s */
	assert_non_null(tx_header(&r, "X-TAXII-Date-Added-Last", h, sizeof(h)));
	sl_taxii_ts_format(BASE_US + 31000000, want, sizeof(want));
	assert_string_equal(h, "2023-11-14T22:13:51.000000Z");
	assert_string_equal(h, want);
	tx_resp_free(&r);

	/* An empty result is an empty envelope, still with both headers (the query's start). */
	r = get_ok("/sluice/collections/" C_SHARED "/objects/?match[type]=campaign", ALICE);
	assert_int_equal(json_object_size(r.json), 0);
	assert_string_equal(tx_header(&r, "X-TAXII-Date-Added-First", h, sizeof(h)),
	                    "1970-01-01T00:00:00.000000Z");
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/objects/?added_after=2030-01-01T00:00:00.5Z",
	           ALICE);
	assert_int_equal(json_object_size(r.json), 0);
	assert_string_equal(tx_header(&r, "X-TAXII-Date-Added-Last", h, sizeof(h)),
	                    "2030-01-01T00:00:00.500000Z");
	tx_resp_free(&r);
}

static void two_partners_see_their_share(void **state)
{
	struct tx_resp r =
	    get_ok("/sluice/collections/" C_SHARED "/objects/?match[type]=indicator", BOB);
	char id[80];
	int expected = 0;

	for (int n = 1; n <= 10; n++) {
		indicator_id(n, id, sizeof(id));
		assert_int_equal(has_id(r.json, id), bob_share(n));
		expected += bob_share(n);
	}
	assert_int_equal(count_objects(r.json), expected);
	tx_resp_free(&r);
	/* Everything bob receives is labelled for him, also without filters. */
	r = get_ok("/sluice/collections/" C_SHARED "/objects/", BOB);
	assert_int_equal(count_objects(r.json), expected);
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/manifest/", BOB);
	assert_int_equal(count_objects(r.json), expected);
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/objects/?match[type]=indicator", ALICE);
	assert_int_equal(count_objects(r.json), 10);
	tx_resp_free(&r);
	/* An object outside bob's share is a 404 for him, even by id. */
	r = get("/sluice/collections/" C_SHARED
	        "/objects/indicator--00000000-0000-4000-8000-000000000001/",
	        BOB);
	assert_taxii_error(&r, 404, NULL);
	tx_resp_free(&r);
}

static const char *modified_of(const json_t *env, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(env, "objects"), i), "modified"));
}

static void version_and_spec_version_filters(void **state)
{
	const char *base = "/sluice/collections/" C_SHARED "/objects/" MALWARE "/";
	char path[512];
	struct tx_resp r;

	r = get_ok(base, ALICE);
	assert_int_equal(count_objects(r.json), 1);
	assert_string_equal(modified_of(r.json, 0), "2020-03-01T00:00:00.000Z");
	tx_resp_free(&r);
	snprintf(path, sizeof(path), "%s?match[version]=first", base);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 1);
	assert_string_equal(modified_of(r.json, 0), "2020-01-01T00:00:00.000Z");
	tx_resp_free(&r);
	snprintf(path, sizeof(path), "%s?match[version]=all", base);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 3);
	tx_resp_free(&r);
	/* An exact version, at another precision than stored. */
	snprintf(path, sizeof(path), "%s?match[version]=2020-02-01T00:00:00.000000Z", base);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 1);
	assert_string_equal(modified_of(r.json, 0), "2020-02-01T00:00:00.000Z");
	tx_resp_free(&r);
	snprintf(path, sizeof(path), "%s?match[version]=first,last", base);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 2);
	tx_resp_free(&r);
	/* On the objects endpoint too. */
	r = get_ok("/sluice/collections/" C_SHARED
	           "/objects/?match[type]=malware&match[version]=all",
	           ALICE);
	assert_int_equal(count_objects(r.json), 3);
	tx_resp_free(&r);

	/* versions endpoint: every version, oldest date_added first. */
	snprintf(path, sizeof(path), "%sversions/", base);
	r = get_ok(path, ALICE);
	assert_int_equal(json_array_size(json_object_get(r.json, "versions")), 3);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(r.json, "versions"), 0)),
	    "2020-01-01T00:00:00.000Z");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(r.json, "versions"), 2)),
	    "2020-03-01T00:00:00.000Z");
	tx_resp_free(&r);

	/* Paging one object's versions with limit=1 hands out each exactly once, in order. */
	{
		char next[128] = "";
		const char *want[] = {"2020-01-01T00:00:00.000Z", "2020-02-01T00:00:00.000Z",
		                      "2020-03-01T00:00:00.000Z"};

		for (int k = 0; k < 3; k++) {
			snprintf(path, sizeof(path), "%sversions/?limit=1%s%s", base,
			         next[0] ? "&next=" : "", next);
			r = get_ok(path, ALICE);
			assert_int_equal(json_array_size(json_object_get(r.json, "versions")), 1);
			assert_string_equal(json_string_value(json_array_get(
			                        json_object_get(r.json, "versions"), 0)),
			                    want[k]);
			assert_int_equal(json_is_true(json_object_get(r.json, "more")), k < 2);
			if (k < 2)
				snprintf(next, sizeof(next), "%s",
				         json_string_value(json_object_get(r.json, "next")));
			tx_resp_free(&r);
		}
	}
	/* spec_version: default = latest spec version; explicit 2.0; both with all versions. */
	r = get_ok("/sluice/collections/" C_SHARED "/objects/" IDENTITY "/", ALICE);
	assert_int_equal(count_objects(r.json), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(r.json, "objects"), 0), "name")),
	                    "new");
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/objects/" IDENTITY "/?match[spec_version]=2.0",
	           ALICE);
	assert_int_equal(count_objects(r.json), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(r.json, "objects"), 0), "name")),
	                    "old");
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/objects/" IDENTITY
	           "/?match[spec_version]=2.0,2.1&match[version]=all",
	           ALICE);
	assert_int_equal(count_objects(r.json), 2);
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/manifest/?match[id]=" IDENTITY
	           "&match[spec_version]=2.0",
	           ALICE);
	assert_int_equal(count_objects(r.json), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(r.json, "objects"), 0),
	                                      "media_type")),
	    "application/stix+json;version=2.0");
	tx_resp_free(&r);
}

static void type_id_and_added_after_filters(void **state)
{
	char path[512], id1[80], id2[80], ts[40];
	struct tx_resp r;

	r = get_ok("/sluice/collections/" C_SHARED "/objects/?match[type]=malware", ALICE);
	assert_int_equal(count_objects(r.json), 1);
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_SHARED "/objects/?match[type]=indicator,malware",
	           ALICE);
	assert_int_equal(count_objects(r.json), 11);
	tx_resp_free(&r);
	indicator_id(2, id1, sizeof(id1));
	indicator_id(7, id2, sizeof(id2));
	snprintf(path, sizeof(path),
	         "/sluice/collections/" C_SHARED "/objects/?match%%5Bid%%5D=%s,%s", id1, id2);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 2);
	assert_true(has_id(r.json, id1));
	assert_true(has_id(r.json, id2));
	tx_resp_free(&r);
	/* Strictly after indicator 5's date_added: indicators 6..10, malware, identity. */
	snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "/objects/?added_after=%s",
	         sl_taxii_ts_format(BASE_US + 5000000, ts, sizeof(ts)));
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 7);
	indicator_id(5, id1, sizeof(id1));
	assert_false(has_id(r.json, id1));
	tx_resp_free(&r);
	/* Filters AND together. */
	snprintf(path, sizeof(path),
	         "/sluice/collections/" C_SHARED "/manifest/?added_after=%s&match[type]=indicator",
	         ts);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 5);
	tx_resp_free(&r);
}

/* ---- paging ---- */

/* Walk endpoint with `next` until more is false; record every id seen in seen (counts). */
static size_t walk(const char *first_path, const char *user, int limit, int *seen, int seen_base,
                   int nseen)
{
	char path[1024];
	size_t pages = 0, total = 0;
	const char *next = NULL;
	struct tx_resp r = {0};
	char *next_copy = NULL;

	for (;;) {
		size_t i;
		json_t *o;

		if (next_copy)
			snprintf(path, sizeof(path), "%s%climit=%d&next=%s", first_path,
			         strchr(first_path, '?') ? '&' : '?', limit, next_copy);
		else
			snprintf(path, sizeof(path), "%s%climit=%d", first_path,
			         strchr(first_path, '?') ? '&' : '?', limit);
		r = get_ok(path, user);
		pages++;
		assert_true(count_objects(r.json) <= (size_t)limit);
		json_array_foreach(json_object_get(r.json, "objects"), i, o)
		{
			const char *id = json_string_value(json_object_get(o, "id"));
			int n = atoi(id + strlen(id) - 12) - seen_base;

			assert_true(n >= 0 && n < nseen);
			seen[n]++;
			total++;
		}
		free(next_copy);
		next_copy = NULL;
		if (!json_is_true(json_object_get(r.json, "more"))) {
			tx_resp_free(&r);
			break;
		}
		/* more:true always comes with a next. */
		next = json_string_value(json_object_get(r.json, "next"));
		assert_non_null(next);
		next_copy = strdup(next);
		tx_resp_free(&r);
		assert_true(pages < 1000);
	}
	return total;
}

static void limit_1_paging_through_a_date_added_tie(void **state)
{
	int seen[NTIES];
	char h1[64], h2[64], want[64];
	struct tx_resp r;

	memset(seen, 0, sizeof(seen));
	assert_int_equal(
	    walk("/sluice/collections/" C_TIES "/objects/", ALICE, 1, seen, 100, NTIES), NTIES);
	for (int i = 0; i < NTIES; i++)
		assert_int_equal(seen[i], 1);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(
	    walk("/sluice/collections/" C_TIES "/manifest/", ALICE, 7, seen, 100, NTIES), NTIES);
	for (int i = 0; i < NTIES; i++)
		assert_int_equal(seen[i], 1);
	/* Every page carries the tie's date in both headers. */
	r = get_ok("/sluice/collections/" C_TIES "/objects/?limit=1", ALICE);
	sl_taxii_ts_format(BASE_US + 50000000, want, sizeof(want));
	assert_string_equal(tx_header(&r, "X-TAXII-Date-Added-First", h1, sizeof(h1)), want);
	assert_string_equal(tx_header(&r, "X-TAXII-Date-Added-Last", h2, sizeof(h2)), want);
	tx_resp_free(&r);
	/* Paging through a filtered view and a partner's share also works. */
	{
		int s2[11] = {0};

		assert_int_equal(walk("/sluice/collections/" C_SHARED
		                      "/objects/?match[type]=indicator",
		                      BOB, 1, s2, 0, 11),
		                 3);
		for (int n = 1; n <= 10; n++)
			assert_int_equal(s2[n], bob_share(n));
	}
}

static void next_tokens_are_bound_to_caller_query_and_endpoint(void **state)
{
	struct tx_resp r = get_ok("/sluice/collections/" C_SHARED "/objects/?limit=1", ALICE);
	char path[512], token[128], forged[128];
	json_t *next = json_object_get(r.json, "next");

	assert_non_null(next);
	snprintf(token, sizeof(token), "%s", json_string_value(next));
	tx_resp_free(&r);

	/* The same query with a different limit continues after the first object. */
	snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "/objects/?limit=5&next=%s",
	         token);
	r = get_ok(path, ALICE);
	assert_int_equal(count_objects(r.json), 5);
	assert_false(has_id(r.json, "indicator--00000000-0000-4000-8000-000000000001"));
	assert_true(has_id(r.json, "indicator--00000000-0000-4000-8000-000000000002"));
	tx_resp_free(&r);

	/* Another partner (who can read the collection). */
	r = get(path, BOB);
	assert_taxii_error(&r, 400, "next");
	tx_resp_free(&r);
	/* Changed filters. */
	snprintf(path, sizeof(path),
	         "/sluice/collections/" C_SHARED "/objects/?match[type]=indicator&next=%s", token);
	r = get(path, ALICE);
	assert_taxii_error(&r, 400, "next");
	tx_resp_free(&r);
	/* Another endpoint. */
	snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "/manifest/?next=%s", token);
	r = get(path, ALICE);
	assert_taxii_error(&r, 400, "next");
	tx_resp_free(&r);
	/* A forged cursor (one hex digit changed). */
	snprintf(forged, sizeof(forged), "%s", token);
	forged[5] = forged[5] == '0' ? '1' : '0';
	snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "/objects/?next=%s", forged);
	r = get(path, ALICE);
	assert_taxii_error(&r, 400, "next");
	tx_resp_free(&r);
}

/* ---- POST, status, DELETE ---- */

static struct tx_resp post(const char *coll, const char *user, const char *body, const char *ctype)
{
	char path[256];
	struct tx_req rq = {
	    .method = "POST", .path = path, .user = user, .body = body, .ctype = ctype};

	snprintf(path, sizeof(path), "/sluice/collections/%s/objects/", coll);
	return tx_do(&S, &rq);
}

#define GOOD(n)                                                                                    \
	"{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--"                    \
	"cccccccc-0000-4000-8000-00000000000" #n "\",\"created\":\"2024-01-01T00:00:00.000Z\","    \
	"\"modified\":\"2024-01-01T00:00:00.000Z\",\"pattern\":\"[ipv4-addr:value = '10.1.1." #n   \
	"']\",\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00Z\"}"

static bool failure_mentions(const json_t *status, const char *text)
{
	size_t i;
	json_t *f;

	json_array_foreach(
	    json_object_get(status, "failures"), i,
	    f) if (strstr(json_string_value(json_object_get(f, "message")), text)) return true;
	return false;
}

static void post_with_bad_objects_stores_the_rest(void **state)
{
	const char *env =
	    "{\"objects\":[" GOOD(1) ",\"a string\",{\"type\":\"indicator\"},"
	                             "{\"type\":\"indicator\",\"id\":\"indicator--bad\"}," GOOD(
	                                 2) ","
	                                    "{\"type\":\"indicator\",\"id\":\"indicator--cccccccc-"
	                                    "0000-4000-8000-000000000009\","
	                                    "\"modified\":\"yesterday\"}," GOOD(3) "]}";
	struct tx_resp r = post(C_WRITE, ALICE, env, NULL), s;
	char path[256];
	const char *sid;

	assert_int_equal(r.status, 202);
	assert_non_null(r.json);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "complete");
	assert_int_equal(json_integer_value(json_object_get(r.json, "total_count")), 7);
	assert_int_equal(json_integer_value(json_object_get(r.json, "success_count")), 3);
	assert_int_equal(json_integer_value(json_object_get(r.json, "failure_count")), 4);
	assert_int_equal(json_integer_value(json_object_get(r.json, "pending_count")), 0);
	assert_int_equal(json_array_size(json_object_get(r.json, "successes")), 3);
	assert_true(failure_mentions(r.json, "objects[1]: not a JSON object"));
	assert_true(failure_mentions(r.json, "objects[2]: missing id"));
	assert_true(failure_mentions(r.json, "objects[3]: id is not"));
	assert_true(failure_mentions(r.json, "objects[5]: created/modified"));
	sid = json_string_value(json_object_get(r.json, "id"));
	assert_non_null(sid);

	/* The status resource answers the same, to the poster only. */
	snprintf(path, sizeof(path), "/sluice/status/%s/", sid);
	s = get_ok(path, ALICE);
	assert_true(json_equal(s.json, r.json));
	tx_resp_free(&s);
	s = get(path, BOB);
	assert_taxii_error(&s, 404, NULL);
	tx_resp_free(&s);
	tx_resp_free(&r);

	/* The good objects are there, with date headers. */
	r = get_ok("/sluice/collections/" C_WRITE "/objects/", ALICE);
	assert_int_equal(count_objects(r.json), 3);
	assert_true(has_id(r.json, "indicator--cccccccc-0000-4000-8000-000000000001"));
	assert_true(has_id(r.json, "indicator--cccccccc-0000-4000-8000-000000000003"));
	assert_non_null(tx_header(&r, "X-TAXII-Date-Added-Last", path, sizeof(path)));
	tx_resp_free(&r);

	/* An exact duplicate is a success; same id+version with other content is a failure. */
	r = post(C_WRITE, ALICE, "{\"objects\":[" GOOD(1) "]}", NULL);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "success_count")), 1);
	tx_resp_free(&r);
	r = post(
	    C_WRITE, ALICE,
	    "{\"objects\":[{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":"
	    "\"indicator--cccccccc-0000-4000-8000-000000000001\",\"created\":\"2024-01-01T00:00:"
	    "00.000Z\",\"modified\":\"2024-01-01T00:00:00.000Z\",\"name\":\"changed\"}]}",
	    NULL);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "failure_count")), 1);
	assert_true(failure_mentions(r.json, "objects[0]: a different object"));
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_WRITE "/objects/", ALICE);
	assert_int_equal(count_objects(r.json), 3);
	tx_resp_free(&r);
}

static void post_errors(void **state)
{
	struct tx_resp r;
	char *big;

	r = post(C_WRITE, ALICE, "{\"objects\":[]}", "application/json");
	assert_taxii_error(&r, 415, "Content-Type");
	tx_resp_free(&r);
	r = post(C_WRITE, ALICE, "{\"objects\":[", NULL);
	assert_taxii_error(&r, 422, "JSON");
	tx_resp_free(&r);
	r = post(C_WRITE, ALICE, "[1,2]", NULL);
	assert_taxii_error(&r, 422, "envelope");
	tx_resp_free(&r);
	r = post(C_WRITE, ALICE, "{\"objects\":{}}", NULL);
	assert_taxii_error(&r, 422, "envelope");
	tx_resp_free(&r);
	/* Above max_content_length (64 KiB) but within the HTTP cap: a TAXII 413. */
	big = malloc(200001);
	memset(big, ' ', 200000);
	big[0] = '{';
	big[199999] = '}';
	big[200000] = '\0';
	big[70000] = '}';
	big[70001] = '\0';
	r = post(C_WRITE, ALICE, big, NULL);
	assert_taxii_error(&r, 413, "65536");
	tx_resp_free(&r);
	/* Far above: refused by the HTTP layer before the body is read (still 413). */
	big[70000] = ' ';
	big[70001] = ' ';
	{
		struct tx_req rq = {.method = "POST",
		                    .path = "/sluice/collections/" C_WRITE "/objects/",
		                    .user = ALICE,
		                    .body = big,
		                    .body_len = 200000};

		tx_do_raw(&S, &rq, &r);
		assert_int_equal(r.status, 413);
		tx_resp_free(&r);
	}
	free(big);
	r = get_ok("/sluice/collections/" C_WRITE "/", ALICE);
	tx_resp_free(&r);
}

static void delete_removes_object_everywhere(void **state)
{
	const char *id = "indicator--dddddddd-0000-4000-8000-000000000001";
	struct tx_req del = {.method = "DELETE",
	                     .path = "/sluice/collections/" C_WRITE
	                             "/objects/indicator--dddddddd-0000-4000-8000-000000000001/",
	                     .user = ALICE};
	struct tx_resp r =
	    post(C_WRITE, ALICE,
	         "{\"objects\":[{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":"
	         "\"indicator--dddddddd-0000-4000-8000-000000000001\",\"created\":\"2024-01-01T00:"
	         "00:00.000Z\",\"modified\":\"2024-01-01T00:00:00.000Z\",\"pattern\":\"[x:y='1']\","
	         "\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00Z\"}]}",
	         NULL);

	assert_int_equal(json_integer_value(json_object_get(r.json, "success_count")), 1);
	tx_resp_free(&r);
	r = get_ok(del.path, ALICE);
	assert_true(has_id(r.json, id));
	tx_resp_free(&r);
	r = tx_do(&S, &del);
	assert_int_equal(r.status, 200);
	tx_resp_free(&r);
	r = get(del.path, ALICE);
	assert_taxii_error(&r, 404, NULL);
	tx_resp_free(&r);
	r = get_ok("/sluice/collections/" C_WRITE "/manifest/", ALICE);
	assert_false(has_id(r.json, id));
	tx_resp_free(&r);
	r = tx_do(&S, &del);
	assert_taxii_error(&r, 404, NULL);
	tx_resp_free(&r);
}

static void serving_is_audited(void **state)
{
	size_t before = sl_taxii_store_mem_served(S.store, "bob");
	struct tx_resp r = get_ok("/sluice/collections/" C_SHARED "/objects/", BOB);
	size_t n = count_objects(r.json);

	tx_resp_free(&r);
	assert_int_equal(sl_taxii_store_mem_served(S.store, "bob"), before + n);
	/* A manifest hands out no object content. */
	r = get_ok("/sluice/collections/" C_SHARED "/manifest/", BOB);
	tx_resp_free(&r);
	assert_int_equal(sl_taxii_store_mem_served(S.store, "bob"), before + n);
}

/* ---- TLS ---- */

static int run(const char *cmd)
{
	int rc = system(cmd);

	return rc;
}

static void tls_and_client_certificates(void **state)
{
	char dir[] = "/tmp/sl_taxii_tlsXXXXXX", cmd[2048], cert[256], key[256], ccert[256],
	     ckey[256];
	struct sl_http_server_config h = {.host = "127.0.0.1",
	                                  .tls_cert_file = cert,
	                                  .tls_key_file = key,
	                                  .max_body_size = 131072};
	struct sl_err err = {0};
	struct tx_server saved = S;
	struct tx_resp r;
	struct tx_req rq = {.path = "/taxii2/", .user = ALICE, .cafile = cert};

	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ccert, sizeof(ccert), "%s/client.pem", dir);
	snprintf(ckey, sizeof(ckey), "%s/client.key", dir);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
	         "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
	         ">/dev/null 2>&1 && "
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
	         "-subj /CN=partner-alice -keyout %s -out %s >/dev/null 2>&1",
	         key, cert, ckey, ccert);
	if (run(cmd) != 0)
		skip();

	tx_server_init(&S, &h, NULL);
	sl_taxii_store_mem_add_partner(S.store, "alice", "alice", "pw-alice", NULL, &err);
	tx_server_start(&S);
	r = tx_do(&S, &rq);
	assert_int_equal(r.status, 200);
	assert_non_null(json_object_get(r.json, "api_roots"));
	tx_resp_free(&r);
	/* Verification stays on: without our CA the client refuses the self-signed server. */
	rq.cafile = NULL;
	assert_int_not_equal(tx_do_raw(&S, &rq, &r), 0);
	tx_resp_free(&r);
	tx_server_stop(&S);

	/* mTLS: a client certificate signed by the configured CA is required. */
	h.tls_client_ca = ccert;
	tx_server_init(&S, &h, NULL);
	sl_taxii_store_mem_add_partner(S.store, "alice", "alice", "pw-alice", NULL, &err);
	sl_taxii_store_mem_add_collection(S.store, C_SHARED, "shared", NULL, NULL, &err);
	sl_taxii_store_mem_grant(S.store, "alice", C_SHARED, true, false, &err);
	assert_int_equal(
	    sl_taxii_store_mem_set_cert_subject(S.store, "alice", "CN=partner-alice", &err), 0);
	tx_server_start(&S);
	rq.cafile = cert;
	assert_int_not_equal(tx_do_raw(&S, &rq, &r), 0);
	tx_resp_free(&r);
	rq.cert = ccert;
	rq.key = ckey;
	r = tx_do(&S, &rq);
	assert_int_equal(r.status, 200);
	tx_resp_free(&r);
	/* The certificate alone identifies alice... */
	rq.user = NULL;
	rq.path = "/sluice/collections/";
	r = tx_do(&S, &rq);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(r.json, "collections"), 0), "id")),
	                    C_SHARED);
	tx_resp_free(&r);
	/* ...but wrong credentials sent along are not rescued by it. */
	rq.user = "alice:wrong";
	r = tx_do(&S, &rq);
	assert_taxii_error(&r, 401, NULL);
	tx_resp_free(&r);
	tx_server_stop(&S);

	/* A broken key file is an error naming the file, not a crash. */
	h.tls_client_ca = NULL;
	h.tls_key_file = ccert;
	{
		struct event_base *b = event_base_new();

		assert_null(sl_http_server_new(b, &h, &err));
		assert_string_equal(err.where, ccert);
		event_base_free(b);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
	S = saved;
}

/* ---- server cap, hostile bytes, helpers ---- */

static void server_caps_the_page_size(void **state)
{
	struct sl_taxii_server_config t = {
	    .api_root = "capped", .title = "capped", .max_content_length = 65536, .max_page = 5};
	struct tx_server saved = S, c;
	struct sl_err err = {0};
	struct tx_req rq = {.path = "/capped/collections/" C_TIES "/objects/?limit=50",
	                    .user = ALICE};
	struct tx_resp r;
	char json[512];

	tx_server_init(&c, NULL, &t);
	sl_taxii_store_mem_add_collection(c.store, C_TIES, "t", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(c.store, "alice", "alice", "pw-alice", NULL, &err);
	sl_taxii_store_mem_grant(c.store, "alice", C_TIES, true, false, &err);
	for (int n = 0; n < 12; n++) {
		snprintf(
		    json, sizeof(json),
		    "{\"type\":\"indicator\",\"id\":\"indicator--00000000-0000-4000-8000-%012d\","
		    "\"created\":\"2023-01-01T00:00:00Z\",\"modified\":\"2023-01-01T00:00:00Z\"}",
		    n);
		assert_int_equal(sl_taxii_store_mem_put(c.store, C_TIES, json, 0, &err), 0);
	}
	tx_server_start(&c);
	S = c;
	r = tx_do(&S, &rq);
	assert_int_equal(r.status, 200);
	assert_int_equal(count_objects(r.json), 5);
	assert_true(json_is_true(json_object_get(r.json, "more")));
	assert_non_null(json_string_value(json_object_get(r.json, "next")));
	tx_resp_free(&r);
	tx_server_stop(&S);
	S = saved;
}

/* Send raw bytes on a fresh connection; return what came back (at most n-1 bytes). */
static size_t raw_exchange(const char *req, size_t len, char *out, size_t n)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(S.port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {5, 0};
	size_t got = 0;
	ssize_t k;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (send(fd, req, len, MSG_NOSIGNAL) < 0) {
		close(fd);
		return 0;
	}
	shutdown(fd, SHUT_WR);
	while (got + 1 < n && (k = recv(fd, out + got, n - 1 - got, 0)) > 0)
		got += (size_t)k;
	out[got] = '\0';
	close(fd);
	return got;
}

static void hostile_requests_do_not_hurt_the_server(void **state)
{
	static const char *const reqs[] = {
	    "GARBAGE\r\n\r\n",
	    "GET /taxii2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!!\r\n\r\n",
	    "GET /taxii2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U=\r\n\r\n",
	    "GET /taxii2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ====\r\n\r\n",
	    "GET /taxii2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ============\r\n\r\n",
	    "GET /taxii2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YQ==\r\n\r\n",
	    "GET /sluice/collections/%00/ HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /sluice/collections/" C_SHARED "/objects/?match[id]=%ZZ HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Basic YWxpY2U6cHctYWxpY2U=\r\n\r\n",
	    "POST /sluice/collections/" C_WRITE "/objects/ HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 99999999999999999999\r\n\r\n{",
	    "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ",
	};
	char out[8192], big[40000];
	struct tx_resp r;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		raw_exchange(reqs[i], strlen(reqs[i]), out, sizeof(out));
	/* Malformed Basic credentials are a 401 like any bad credentials. */
	raw_exchange(reqs[1], strlen(reqs[1]), out, sizeof(out));
	assert_non_null(strstr(out, " 401 "));
	/* Headers above max_headers_size are refused. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /taxii2/ HTTP/1.1\r\nX-Long: ", 31);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	raw_exchange(big, sizeof(big), out, sizeof(out));
	assert_null(strstr(out, " 200 "));
	r = get_ok("/taxii2/", ALICE);
	tx_resp_free(&r);
}

static void timestamps_and_decoding(void **state)
{
	int64_t us;
	char out[64], buf[16];

	assert_int_equal(sl_taxii_ts_parse("2021-06-10T12:00:00Z", &us), 0);
	assert_string_equal(sl_taxii_ts_format(us, out, sizeof(out)),
	                    "2021-06-10T12:00:00.000000Z");
	/* More than six fraction digits are cut to microseconds, not rounded into a new second. */
	assert_int_equal(sl_taxii_ts_parse("2021-06-10T12:00:00.9999999Z", &us), 0);
	assert_string_equal(sl_taxii_ts_format(us, out, sizeof(out)),
	                    "2021-06-10T12:00:00.999999Z");
	assert_int_equal(sl_taxii_ts_parse("2021-06-10T12:00:00.1Z", &us), 0);
	assert_string_equal(sl_taxii_ts_format(us, out, sizeof(out)),
	                    "2021-06-10T12:00:00.100000Z");
	assert_int_equal(sl_taxii_ts_parse("2021-06-10T12:00:00", &us), SL_EINVAL);
	assert_int_equal(sl_taxii_ts_parse("2021-06-10T12:00:00+00:00", &us), SL_EINVAL);
	assert_int_equal(sl_taxii_ts_parse("2021-06-10 12:00:00Z", &us), SL_EINVAL);
	assert_int_equal(sl_taxii_ts_parse("2021-06-10T12:00:00.Z", &us), SL_EINVAL);
	assert_int_equal(sl_taxii_ts_parse("2021-00-10T12:00:00Z", &us), SL_EINVAL);
	assert_int_equal(sl_taxii_ts_parse("2021-02-29T12:00:00Z", &us), SL_EINVAL);
	assert_int_equal(sl_taxii_ts_parse("2024-02-29T12:00:00Z", &us), 0);
	assert_int_equal(sl_http_decode("a%5Bb%5D+c", 10, 1, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "a[b] c");
	assert_int_equal(sl_http_decode("a%5", 3, 0, buf, sizeof(buf)), -1);
	assert_int_equal(sl_http_decode("a%00", 4, 0, buf, sizeof(buf)), -1);
	assert_int_equal(sl_http_decode("0123456789abcdef", 16, 0, buf, sizeof(buf)), -1);
}

/* A server of its own with cfg, alice granted rw on C_WRITE; S points at it until restore. */
static struct tx_server own_server(const struct sl_taxii_server_config *cfg)
{
	struct tx_server c;
	struct sl_err err = {0};

	tx_server_init(&c, NULL, cfg);
	sl_taxii_store_mem_add_collection(c.store, C_WRITE, "w", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(c.store, "alice", "alice", "pw-alice", NULL, &err);
	sl_taxii_store_mem_grant(c.store, "alice", C_WRITE, true, true, &err);
	tx_server_start(&c);
	return c;
}

static long status_code_of(const char *id)
{
	char path[128];
	struct tx_resp r;
	long code;

	snprintf(path, sizeof(path), "/capped/status/%s/", id);
	r = get(path, ALICE);
	code = r.status;
	tx_resp_free(&r);
	return code;
}

static void statuses_and_envelopes_are_bounded(void **state)
{
	struct sl_taxii_server_config t = {.api_root = "capped",
	                                   .title = "c",
	                                   .max_content_length = 65536,
	                                   .max_statuses = 2,
	                                   .max_objects_per_post = 3};
	struct tx_server saved = S;
	struct tx_resp r;
	char *a, *b, *c, path[128];

	S = own_server(&t);
	snprintf(path, sizeof(path), "/capped/collections/%s/objects/", C_WRITE);
	{
		struct tx_req rq = {
		    .method = "POST",
		    .path = path,
		    .user = ALICE,
		    .body = "{\"objects\":[" GOOD(1) "," GOOD(2) "," GOOD(3) "," GOOD(4) "]}"};

		r = tx_do(&S, &rq);
		assert_taxii_error(&r, 413, "at most 3");
		tx_resp_free(&r);
	}
	/* Count bound: the oldest of three goes. (post() targets /sluice/: use the raw path.) */
	a = NULL;
	{
		char *ids[3];

		for (int i = 0; i < 3; i++) {
			struct tx_req rq = {.method = "POST",
			                    .path = path,
			                    .user = ALICE,
			                    .body = "{\"objects\":[" GOOD(1) "]}"};

			r = tx_do(&S, &rq);
			assert_int_equal(r.status, 202);
			ids[i] = strdup(json_string_value(json_object_get(r.json, "id")));
			tx_resp_free(&r);
		}
		a = ids[0];
		b = ids[1];
		c = ids[2];
	}
	assert_int_equal(status_code_of(a), 404);
	assert_int_equal(status_code_of(b), 200);
	assert_int_equal(status_code_of(c), 200);
	free(a);
	free(b);
	free(c);
	tx_server_stop(&S);

	/* Byte bound: room for about two statuses of one object each. */
	t.max_statuses = 100;
	t.max_status_bytes = 700;
	S = own_server(&t);
	{
		char *ids[3];

		for (int i = 0; i < 3; i++) {
			struct tx_req rq = {.method = "POST",
			                    .path = path,
			                    .user = ALICE,
			                    .body = "{\"objects\":[" GOOD(1) "]}"};

			r = tx_do(&S, &rq);
			assert_int_equal(r.status, 202);
			assert_true(strlen(r.body) > 250 && strlen(r.body) < 350);
			ids[i] = strdup(json_string_value(json_object_get(r.json, "id")));
			tx_resp_free(&r);
		}
		assert_int_equal(status_code_of(ids[0]), 404);
		assert_int_equal(status_code_of(ids[1]), 200);
		assert_int_equal(status_code_of(ids[2]), 200);
		for (int i = 0; i < 3; i++)
			free(ids[i]);
	}
	tx_server_stop(&S);
	S = saved;
}

/* Seeded random queries built from the parameter grammar, valid and broken pieces mixed: every
 * answer must be a 200 envelope or a 400 TAXII error, never a crash or a 500. */
static void random_queries_get_200_or_400(void **state)
{
	static const char *const keys[] = {"added_after",
	                                   "limit",
	                                   "next",
	                                   "match[id]",
	                                   "match[type]",
	                                   "match[version]",
	                                   "match[spec_version]",
	                                   "match%5Btype%5D",
	                                   "match[x]",
	                                   "",
	                                   "=",
	                                   "&&"};
	static const char *const vals[] = {
	    "2023-11-14T22:13:25Z",
	    "2023-11-14T22:13:25.5Z",
	    "garbage",
	    "0",
	    "1",
	    "3",
	    "-1",
	    "99999999999999999999",
	    "indicator",
	    "indicator,malware",
	    ",",
	    "%",
	    "%zz",
	    "%41",
	    "first",
	    "last",
	    "all",
	    "first,last",
	    "2020-02-01T00:00:00.000Z",
	    "2.0",
	    "2.1",
	    "2.0,2.1",
	    "indicator--00000000-0000-4000-8000-000000000003",
	    "",
	    "a+b",
	    "\xc3\xa9",
	    "0000000000000000000000000000000000000000000000000000000000000000"};
	static const char *const ends[] = {"/objects/", "/manifest/", "/objects/" MALWARE "/",
	                                   "/objects/" MALWARE "/versions/"};
	unsigned seed = 20261128;
	char path[1024];

	for (int n = 0; n < 400; n++) {
		int np = rand_r(&seed) % 4;
		size_t off;
		struct tx_resp r;

		int end = rand_r(&seed) % 4;

		off = (size_t)snprintf(path, sizeof(path), "/sluice/collections/" C_SHARED "%s?",
		                       ends[end]);
		for (int i = 0; i < np && off < sizeof(path) - 200; i++)
			off += (size_t)snprintf(
			    path + off, sizeof(path) - off, "%s%s=%s", i ? "&" : "",
			    keys[rand_r(&seed) % (sizeof(keys) / sizeof(keys[0]))],
			    vals[rand_r(&seed) % (sizeof(vals) / sizeof(vals[0]))]);
		/* bob's share hides the malware, whose own endpoints are then a 404 for him. */
		r = get(path, end < 2 && rand_r(&seed) % 2 ? BOB : ALICE);
		if (r.status != 200 && r.status != 400)
			fail_msg("%s -> %ld %s", path, r.status, r.body);
		if (r.status == 400)
			assert_taxii_error(&r, 400, "");
		else
			assert_non_null(r.json);
		tx_resp_free(&r);
	}
}

/* Seeded random envelopes from good and broken pieces: 202 with counts that add up, or a 4xx
 * TAXII error; the server never crashes or answers 500. */
static void random_envelopes_are_accounted_for(void **state)
{
	static const char *const pieces[] = {
	    GOOD(1),
	    GOOD(2),
	    "{}",
	    "null",
	    "1",
	    "\"x\"",
	    "[]",
	    "{\"type\":\"indicator\"}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--cccccccc-0000-4000-8000-000000000001\","
	    "\"modified\":7}",
	    "{\"type\":\"x\",\"id\":\"x--cccccccc-0000-4000-8000-000000000001\"}",
	    "{\"type\":\"malware\",\"id\":\"indicator--cccccccc-0000-4000-8000-000000000001\"}",
	    "{\"type\":\"note\",\"id\":\"note--cccccccc-0000-4000-8000-000000000001\","
	    "\"spec_version\":\"3.0\"}",
	    "{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--cccccccc-0000-4000-8000-000000000002\","
	    "\"value\":\"10.0.0.1\"}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--cccccccc-0000-4000-8000-000000000001\","
	    "\"modified\":\"2024-02-30T00:00:00Z\"}"};
	unsigned seed = 424242;
	char body[8192];

	for (int n = 0; n < 150; n++) {
		int k = rand_r(&seed) % 6, shape = rand_r(&seed) % 10;
		size_t off = 0;
		struct tx_resp r;

		off += (size_t)snprintf(body + off, sizeof(body) - off, "%s",
		                        shape == 0 ? "[" : "{\"objects\":[");
		for (int i = 0; i < k; i++)
			off += (size_t)snprintf(
			    body + off, sizeof(body) - off, "%s%s", i ? "," : "",
			    pieces[rand_r(&seed) % (sizeof(pieces) / sizeof(pieces[0]))]);
		snprintf(body + off, sizeof(body) - off, "%s",
		         shape == 0   ? "]"
		         : shape == 1 ? "]"
		                      : "]}");
		r = post(C_WRITE, ALICE, body, NULL);
		if (r.status == 202) {
			json_int_t t = json_integer_value(json_object_get(r.json, "total_count"));

			assert_int_equal(t, k);
			assert_int_equal(
			    t, json_integer_value(json_object_get(r.json, "success_count")) +
			           json_integer_value(json_object_get(r.json, "failure_count")));
		} else if (r.status != 422 && r.status != 400) {
			fail_msg("%s -> %ld %s", body, r.status, r.body);
		}
		tx_resp_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(discovery_and_api_root),
	    cmocka_unit_test(collections_per_partner),
	    cmocka_unit_test(bad_credentials_are_401_with_challenge),
	    cmocka_unit_test(accept_negotiation),
	    cmocka_unit_test(unknown_things_are_404),
	    cmocka_unit_test(rights_are_403),
	    cmocka_unit_test(bad_filters_are_400_naming_the_parameter),
	    cmocka_unit_test(objects_default_view_and_headers),
	    cmocka_unit_test(two_partners_see_their_share),
	    cmocka_unit_test(version_and_spec_version_filters),
	    cmocka_unit_test(type_id_and_added_after_filters),
	    cmocka_unit_test(limit_1_paging_through_a_date_added_tie),
	    cmocka_unit_test(next_tokens_are_bound_to_caller_query_and_endpoint),
	    cmocka_unit_test(post_with_bad_objects_stores_the_rest),
	    cmocka_unit_test(post_errors),
	    cmocka_unit_test(delete_removes_object_everywhere),
	    cmocka_unit_test(serving_is_audited),
	    cmocka_unit_test(tls_and_client_certificates),
	    cmocka_unit_test(server_caps_the_page_size),
	    cmocka_unit_test(hostile_requests_do_not_hurt_the_server),
	    cmocka_unit_test(timestamps_and_decoding),
	    cmocka_unit_test(statuses_and_envelopes_are_bounded),
	    cmocka_unit_test(random_queries_get_200_or_400),
	    cmocka_unit_test(random_envelopes_are_accounted_for),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
