/* test_peer_misp.c — the MISP test peer answers as MISP does: auth, shapes, status codes, paging,
 * only-newer edits, deliveries counted per uuid, and every injected fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "peer_proc.h"
#include "sltest.h"

#define KEY "sluiceTestMispKey0000000000000000000000a"
#define UUID1 "7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01"

static struct sl_peerproc *g_peer;
static const char *const H[] = {"Authorization: " KEY, "Accept: application/json",
                                "Content-Type: application/json", NULL};

static struct sl_peerproc *start_peer(const char *extra1, const char *extra2)
{
	char bin[1024], seed[1024];
	char *argv[8];
	int n = 0;

	argv[n++] = (char *)sl_peerproc_bin("misp-peer", bin, sizeof(bin));
	snprintf(seed, sizeof(seed), "%s/peers/misp", sltest_fixtures_dir());
	argv[n++] = "--seed";
	argv[n++] = seed;
	argv[n++] = "--slow-ms";
	argv[n++] = "40";
	if (extra1)
		argv[n++] = (char *)extra1;
	if (extra2)
		argv[n++] = (char *)extra2;
	argv[n] = NULL;
	return sl_peerproc_start(argv);
}

static int setup(void **state)
{
	g_peer = start_peer(NULL, NULL);
	return g_peer ? 0 : -1;
}

static int teardown(void **state)
{
	/* a clean exit status also means no leak reports under ASan */
	return sl_peerproc_stop(g_peer) == 0 ? 0 : -1;
}

/* method + path against the shared peer; returns parsed JSON (or NULL) and fills r */
static json_t *call(const char *method, const char *path, const char *body,
                    struct sl_http_result *r)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(g_peer), path);
	sl_http(method, url, H, body, 5000, r);
	return json_loads(r->body, 0, NULL);
}

static void set_fault(const char *json)
{
	struct sl_http_result r;
	json_t *j = call("POST", "/_test/fault", json, &r);
	assert_int_equal(r.status, 200);
	json_decref(j);
	sl_http_result_free(&r);
}

static const char *sget(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void test_auth(void **state)
{
	struct sl_http_result r;
	char url[512];
	const char *bad[] = {"Authorization: wrong", "Accept: application/json", NULL};
	json_t *j;

	snprintf(url, sizeof(url), "%s/servers/getVersion", sl_peerproc_url(g_peer));
	sl_http("GET", url, bad, NULL, 5000, &r);
	assert_int_equal(r.status, 403);
	j = json_loads(r.body, 0, NULL);
	assert_non_null(strstr(sget(j, "name"), "Authentication failed"));
	assert_string_equal(sget(j, "url"), "/servers/getVersion");
	json_decref(j);
	sl_http_result_free(&r);

	{
		const char *nokey[] = {"Accept: application/json", NULL};
		sl_http("GET", url, nokey, NULL, 5000, &r);
		assert_int_equal(r.status, 403);
		sl_http_result_free(&r);
	}

	/* without Accept: application/json MISP does not treat the request as API: web pages */
	{
		const char *noaccept[] = {"Authorization: " KEY, NULL};
		sl_http("GET", url, noaccept, NULL, 5000, &r);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.headers, "text/html"));
		assert_null(json_loads(r.body, 0, NULL));
		sl_http_result_free(&r);
	}

	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_string(json_object_get(j, "version")));
	assert_true(json_is_true(json_object_get(j, "perm_sync")));
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/users/view/me", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_object(json_object_get(j, "User")));
	assert_true(json_is_object(json_object_get(j, "Organisation")));
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_seeded_view(void **state)
{
	struct sl_http_result r;
	json_t *j = call("GET", "/events/view/" UUID1, NULL, &r), *ev;

	assert_int_equal(r.status, 200);
	ev = json_object_get(j, "Event");
	assert_non_null(ev);
	assert_string_equal(sget(ev, "uuid"), UUID1);
	/* MISP sends numbers as strings */
	assert_string_equal(sget(ev, "timestamp"), "1790000000");
	assert_string_equal(sget(ev, "distribution"), "3");
	assert_string_equal(sget(json_object_get(ev, "Orgc"), "name"), "CIRCL-test");
	assert_true(json_is_object(json_object_get(ev, "Org")));
	assert_true(json_is_true(json_object_get(ev, "published")));
	/* the soft-deleted attribute is hidden unless asked for */
	assert_int_equal(json_array_size(json_object_get(ev, "Attribute")), 2);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/events/view/" UUID1 "?deleted=1", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "Event"), "Attribute")),
	                 3);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/events/view/99999", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(sget(j, "name"), "Invalid event");
	json_decref(j);
	sl_http_result_free(&r);
}

static void add_event(const char *uuid, long ts, int published)
{
	char body[512];
	struct sl_http_result r;
	json_t *j;
	snprintf(body, sizeof(body),
	         "{\"Event\":{\"uuid\":\"%s\",\"info\":\"paging %s\",\"timestamp\":\"%ld\","
	         "\"published\":%s,\"publish_timestamp\":\"%ld\",\"distribution\":\"1\","
	         "\"Orgc\":{\"name\":\"O\",\"uuid\":\"00000000-0000-4000-8000-0000000000aa\"}}}",
	         uuid, uuid, ts, published ? "true" : "false", ts);
	j = call("POST", "/events/add", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(sget(json_object_get(j, "Event"), "uuid"), uuid);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_add_duplicate_edit(void **state)
{
	const char *u = "11111111-2222-4333-8444-555555555501";
	struct sl_http_result r;
	json_t *j, *d;
	char body[256];

	add_event(u, 1790500000, 1);
	j = call(
	    "POST", "/events/add",
	    "{\"Event\":{\"uuid\":\"11111111-2222-4333-8444-555555555501\",\"info\":\"again\"}}",
	    &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(sget(j, "name"), "Event already exists, if you would like to edit it, "
	                                     "use the url in the location header.");
	assert_non_null(strstr(r.headers, "Location: /events/"));
	json_decref(j);
	sl_http_result_free(&r);

	/* same timestamp: not newer, refused as MISP's sync refuses it */
	snprintf(body, sizeof(body),
	         "{\"Event\":{\"uuid\":\"%s\",\"info\":\"same ts\",\"timestamp\":"
	         "\"1790500000\"}}",
	         u);
	j = call("POST", "/events/edit/11111111-2222-4333-8444-555555555501", body, &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(sget(j, "name"), "Could not edit Event");
	assert_non_null(strstr(sget(j, "errors"), "not newer than the local copy"));
	assert_true(json_is_false(json_object_get(j, "saved")));
	json_decref(j);
	sl_http_result_free(&r);

	snprintf(body, sizeof(body),
	         "{\"Event\":{\"uuid\":\"%s\",\"info\":\"older\",\"timestamp\":"
	         "\"1790400000\"}}",
	         u);
	j = call("POST", "/events/edit/11111111-2222-4333-8444-555555555501", body, &r);
	assert_int_equal(r.status, 403);
	json_decref(j);
	sl_http_result_free(&r);

	snprintf(body, sizeof(body),
	         "{\"Event\":{\"uuid\":\"%s\",\"info\":\"newer\",\"timestamp\":"
	         "\"1790500001\"}}",
	         u);
	j = call("POST", "/events/edit/11111111-2222-4333-8444-555555555501", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(sget(json_object_get(j, "Event"), "info"), "newer");
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/events/view/11111111-2222-4333-8444-555555555501", NULL, &r);
	assert_string_equal(sget(json_object_get(j, "Event"), "timestamp"), "1790500001");
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/_test/dump", NULL, &r);
	d = json_object_get(json_object_get(j, "deliveries"), u);
	assert_int_equal(json_integer_value(json_object_get(d, "add")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "edit")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "applied")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "rejected")), 3);
	assert_int_equal(json_array_size(json_object_get(d, "versions")), 2);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/events/edit/00000000-0000-4000-8000-00000000dead", body, &r);
	assert_int_equal(r.status, 404);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_restsearch_paging_filters(void **state)
{
	struct sl_http_result r;
	json_t *j, *resp;
	char u[64];
	int total = 0, page;

	for (int i = 0; i < 5; i++) {
		snprintf(u, sizeof(u), "22222222-0000-4000-8000-0000000000%02d", i);
		add_event(u, 1795000000 + i, i % 2 == 0);
	}
	for (page = 1; page < 10; page++) {
		char body[256];
		snprintf(
		    body, sizeof(body),
		    "{\"returnFormat\":\"json\",\"timestamp\":1795000000,\"limit\":2,\"page\":%d}",
		    page);
		j = call("POST", "/events/restSearch", body, &r);
		assert_int_equal(r.status, 200);
		resp = json_object_get(j, "response");
		assert_true(json_is_array(resp));
		/* the number of matches before paging */
		assert_non_null(strstr(r.headers, "X-Result-Count: 5"));
		if (json_array_size(resp) > 0)
			assert_non_null(json_object_get(json_array_get(resp, 0), "Event"));
		total += (int)json_array_size(resp);
		size_t n = json_array_size(resp);
		json_decref(j);
		sl_http_result_free(&r);
		if (n < 2)
			break;
	}
	assert_int_equal(total, 5);
	assert_int_equal(page, 3); /* 2 + 2 + 1: the short page ends it */

	j = call("POST", "/events/restSearch",
	         "{\"returnFormat\":\"json\",\"timestamp\":1795000000,\"published\":true}", &r);
	assert_int_equal(json_array_size(json_object_get(j, "response")), 3);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/events/restSearch",
	         "{\"returnFormat\":\"json\",\"uuid\":[\"22222222-0000-4000-8000-000000000003\"]}",
	         &r);
	resp = json_object_get(j, "response");
	assert_int_equal(json_array_size(resp), 1);
	assert_string_equal(sget(json_object_get(json_array_get(resp, 0), "Event"), "info"),
	                    "paging 22222222-0000-4000-8000-000000000003");
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/events/restSearch", "{\"returnFormat\":\"json\",\"eventid\":\"1\"}", &r);
	resp = json_object_get(j, "response");
	assert_int_equal(json_array_size(resp), 1);
	assert_string_equal(sget(json_object_get(json_array_get(resp, 0), "Event"), "uuid"), UUID1);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/events/restSearch", "{\"returnFormat\":\"json\",\"timestamp\":\"abc\"}",
	         &r);
	assert_int_equal(r.status, 400);
	json_decref(j);
	sl_http_result_free(&r);

	/* nothing matches: an empty list, not an error */
	j = call("POST", "/events/restSearch",
	         "{\"returnFormat\":\"json\",\"timestamp\":1999999999}", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(j, "response")), 0);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_index_minimal(void **state)
{
	struct sl_http_result r;
	json_t *j, *row;
	const char *k;
	json_t *v;
	int nkeys = 0;

	j = call("GET", "/events/index?minimal=1&limit=3&page=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 3);
	row = json_array_get(j, 0);
	json_object_foreach(row, k, v) nkeys++;
	assert_int_equal(nkeys, 6);
	assert_non_null(json_object_get(row, "orgc_uuid"));
	assert_non_null(json_object_get(row, "timestamp"));
	/* newest first */
	assert_true(atoll(sget(row, "timestamp")) >=
	            atoll(sget(json_array_get(j, 1), "timestamp")));
	json_decref(j);
	sl_http_result_free(&r);

	/* full rows: no attributes; tags as MISP lists them, under EventTag */
	j = call("GET", "/events/index?searcheventid=1", NULL, &r);
	assert_int_equal(json_array_size(j), 1);
	row = json_array_get(j, 0);
	assert_null(json_object_get(row, "Attribute"));
	assert_string_equal(
	    sget(json_object_get(json_array_get(json_object_get(row, "EventTag"), 0), "Tag"),
	         "name"),
	    "tlp:green");
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/events/index", "{\"minimal\":1,\"searchpublished\":0}", &r);
	assert_int_equal(r.status, 200);
	for (size_t i = 0; i < json_array_size(j); i++)
		assert_true(json_is_false(json_object_get(json_array_get(j, i), "published")));
	assert_true(json_array_size(j) >= 1);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_delete_and_sightings(void **state)
{
	struct sl_http_result r;
	json_t *j;
	const char *u = "33333333-0000-4000-8000-000000000001";
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"Event\":{\"uuid\":\"%s\",\"info\":\"s\",\"Attribute\":[{\"uuid\":"
	         "\"33333333-0000-4000-8000-0000000000a1\",\"type\":\"ip-dst\",\"value\":\"192.0.2."
	         "1\"}]}}",
	         u);
	j = call("POST", "/events/add", body, &r);
	assert_int_equal(r.status, 200);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/sightings/add",
	         "{\"uuid\":\"33333333-0000-4000-8000-0000000000a1\",\"type\":\"0\"}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(sget(json_object_get(j, "Sighting"), "attribute_uuid"),
	                    "33333333-0000-4000-8000-0000000000a1");
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/sightings/add", "{\"uuid\":\"no-such-attribute\"}", &r);
	assert_int_equal(r.status, 403);
	json_decref(j);
	sl_http_result_free(&r);

	/* MISP's sync push: a sighting it holds by uuid, or of an attribute it lacks, is skipped */
	j = call("POST", "/sightings/bulkSaveSightings/33333333-0000-4000-8000-000000000001",
	         "[{\"uuid\":\"44444444-0000-4000-8000-0000000000b1\",\"attribute_uuid\":"
	         "\"33333333-0000-4000-8000-0000000000a1\",\"type\":\"0\",\"date_sighting\":"
	         "\"1793786400\",\"source\":\"s1\"},{\"uuid\":\"44444444-0000-4000-8000-"
	         "0000000000b2\",\"attribute_uuid\":\"55555555-0000-4000-8000-000000000001\","
	         "\"type\":\"0\"}]",
	         &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(j, "saved")));
	assert_string_equal(sget(j, "success"), "1 sightings added.");
	json_decref(j);
	sl_http_result_free(&r);
	j = call("POST", "/sightings/bulkSaveSightings/33333333-0000-4000-8000-000000000001",
	         "{\"Sighting\":[{\"uuid\":\"44444444-0000-4000-8000-0000000000b1\","
	         "\"attribute_uuid\":\"33333333-0000-4000-8000-0000000000a1\"}]}",
	         &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(j, "saved")));
	json_decref(j);
	sl_http_result_free(&r);
	j = call("POST", "/sightings/bulkSaveSightings/99999999-0000-4000-8000-000000000001", "[]",
	         &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(sget(j, "message"), "Event not found"));
	json_decref(j);
	sl_http_result_free(&r);
	j = call("GET", "/sightings/bulkSaveSightings/33333333-0000-4000-8000-000000000001", NULL,
	         &r);
	assert_int_equal(r.status, 405);
	json_decref(j);
	sl_http_result_free(&r);
	/* the index shows when the event was last sighted */
	j = call("POST", "/events/index", "{\"minimal\":1}", &r);
	assert_int_equal(r.status, 200);
	{
		size_t i;
		int found = 0;
		for (i = 0; i < json_array_size(j); i++)
			if (strcmp(sget(json_array_get(j, i), "uuid"),
			           "33333333-0000-4000-8000-000000000001") == 0) {
				found = 1;
				assert_string_not_equal(
				    sget(json_array_get(j, i), "sighting_timestamp"), "0");
			}
		assert_true(found);
	}
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/sightings/index/33333333-0000-4000-8000-000000000001", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/sightings/restSearch/event",
	         "{\"returnFormat\":\"json\",\"id\":\"33333333-0000-4000-8000-000000000001\"}", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	sl_http_result_free(&r);
	j = call("POST", "/sightings/restSearch/attribute",
	         "{\"returnFormat\":\"json\",\"id\":\"" UUID1 "\"}", &r);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("POST", "/attributes/restSearch",
	         "{\"returnFormat\":\"json\",\"value\":\"192.0.2.1\",\"includeEventUuid\":true}",
	         &r);
	assert_int_equal(r.status, 200);
	{
		json_t *attrs = json_object_get(json_object_get(j, "response"), "Attribute");
		assert_int_equal(json_array_size(attrs), 1);
		assert_string_equal(sget(json_array_get(attrs, 0), "event_uuid"), u);
	}
	json_decref(j);
	sl_http_result_free(&r);

	/* soft-deleted attributes only when asked for */
	j = call("POST", "/attributes/restSearch", "{\"uuid\":\"" UUID1 "\"}", &r);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(j, "response"), "Attribute")), 2);
	json_decref(j);
	sl_http_result_free(&r);
	j = call("POST", "/attributes/restSearch", "{\"uuid\":\"" UUID1 "\",\"deleted\":1}", &r);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(j, "response"), "Attribute")), 3);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/events/delete/33333333-0000-4000-8000-000000000001", NULL, &r);
	assert_int_equal(r.status, 405);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("DELETE", "/events/delete/33333333-0000-4000-8000-000000000001", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(sget(j, "message"), "Event deleted.");
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/events/view/33333333-0000-4000-8000-000000000001", NULL, &r);
	assert_int_equal(r.status, 404);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_pre_faults(void **state)
{
	struct sl_http_result r;
	json_t *j;

	set_fault("{\"kind\":\"500\",\"count\":1}");
	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(sget(j, "name"), "An Internal Error Has Occurred.");
	json_decref(j);
	sl_http_result_free(&r);
	/* count 1: the next request is served */
	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 200);
	json_decref(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"429\",\"count\":1}");
	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 429);
	assert_non_null(strstr(r.headers, "Retry-After: 1"));
	json_decref(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"401\",\"count\":1}");
	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(sget(j, "name"), "Authentication failed"));
	json_decref(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"html\",\"count\":1}");
	j = call("POST", "/events/restSearch", "{}", &r);
	assert_int_equal(r.status, 502);
	assert_null(j);
	assert_non_null(strstr(r.headers, "text/html"));
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"html200\",\"count\":1}");
	j = call("POST", "/events/restSearch", "{}", &r);
	assert_int_equal(r.status, 200);
	assert_null(j);
	assert_non_null(strstr(r.body, "<html>"));
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"wrongshape\",\"count\":1}");
	j = call("POST", "/events/restSearch", "{}", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(j);
	assert_false(json_is_array(json_object_get(j, "response")));
	json_decref(j);
	sl_http_result_free(&r);

	/* a pre fault means the request was not applied */
	set_fault("{\"kind\":\"500\",\"count\":1}");
	j = call("POST", "/events/add",
	         "{\"Event\":{\"uuid\":\"44444444-0000-4000-8000-000000000001\",\"info\":\"x\"}}",
	         &r);
	assert_int_equal(r.status, 500);
	json_decref(j);
	sl_http_result_free(&r);
	j = call("GET", "/events/view/44444444-0000-4000-8000-000000000001", NULL, &r);
	assert_int_equal(r.status, 404);
	json_decref(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"hang\",\"count\":1}");
	{
		char url[512];
		snprintf(url, sizeof(url), "%s/servers/getVersion", sl_peerproc_url(g_peer));
		sl_http("GET", url, H, NULL, 400, &r);
		assert_int_equal(r.curl_code, 28); /* CURLE_OPERATION_TIMEDOUT */
		assert_int_equal(r.status, 0);
		sl_http_result_free(&r);
	}
	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 200);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_post_faults(void **state)
{
	struct sl_http_result r;
	json_t *j;

	set_fault("{\"kind\":\"malformed\",\"count\":1}");
	j = call("GET", "/events/view/" UUID1, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_null(j);
	assert_true(r.len > 10);
	sl_http_result_free(&r);

	/* reset: the add is applied, but the answer is cut off */
	set_fault("{\"kind\":\"reset\",\"count\":1}");
	j = call(
	    "POST", "/events/add",
	    "{\"Event\":{\"uuid\":\"55555555-0000-4000-8000-000000000001\",\"info\":\"reset\"}}",
	    &r);
	assert_null(j);
	assert_int_not_equal(r.curl_code, 0);
	sl_http_result_free(&r);
	j = call("GET", "/events/view/55555555-0000-4000-8000-000000000001", NULL, &r);
	assert_int_equal(r.status, 200);
	json_decref(j);
	sl_http_result_free(&r);

	/* slow: the whole body arrives, trickled (40 ms per 8-byte chunk here) */
	set_fault("{\"kind\":\"slow\",\"count\":1}");
	j = call("GET", "/servers/getVersion", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(j);
	assert_true(r.seconds >= 0.2);
	json_decref(j);
	sl_http_result_free(&r);

	j = call("GET", "/_test/dump", NULL, &r);
	assert_true(json_integer_value(json_object_get(json_object_get(j, "stats"), "faults")) >=
	            3);
	json_decref(j);
	sl_http_result_free(&r);
}

/* The same --seed-rng gives the same fault pattern. */
static void fault_pattern(const char *seed, char *out, int n)
{
	char sr[64];
	snprintf(sr, sizeof(sr), "--seed-rng=%s", seed);
	struct sl_peerproc *pp = start_peer("--fault=500:0.5", sr);
	assert_non_null(pp);
	for (int i = 0; i < n; i++) {
		struct sl_http_result r;
		char url[512];
		snprintf(url, sizeof(url), "%s/servers/getVersion", sl_peerproc_url(pp));
		sl_http("GET", url, H, NULL, 5000, &r);
		out[i] = r.status == 500 ? 'F' : (r.status == 200 ? '.' : '?');
		sl_http_result_free(&r);
	}
	out[n] = '\0';
	assert_int_equal(sl_peerproc_stop(pp), 0);
}

static void test_seeded_faults_repeat(void **state)
{
	char a[41], b[41], c[41];
	fault_pattern("7", a, 40);
	fault_pattern("7", b, 40);
	fault_pattern("8", c, 40);
	assert_string_equal(a, b);
	assert_non_null(strchr(a, 'F'));
	assert_non_null(strchr(a, '.'));
	assert_null(strchr(a, '?'));
	assert_string_not_equal(a, c);
}

static void test_bad_seed_dir(void **state)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof(bin)), "--seed",
	                "/nonexistent-dir", NULL};
	/* the peer refuses to start: no LISTEN line */
	assert_null(sl_peerproc_start(argv));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_seeded_view),
	    cmocka_unit_test(test_add_duplicate_edit),
	    cmocka_unit_test(test_restsearch_paging_filters),
	    cmocka_unit_test(test_index_minimal),
	    cmocka_unit_test(test_delete_and_sightings),
	    cmocka_unit_test(test_pre_faults),
	    cmocka_unit_test(test_post_faults),
	    cmocka_unit_test(test_seeded_faults_repeat),
	    cmocka_unit_test(test_bad_seed_dir),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
