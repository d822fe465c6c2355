/* test_peer_opencti.c — the OpenCTI test peer answers as OpenCTI does: Bearer auth and GraphQL
 * error shapes, connector registration, stixBundlePush queued (true before import), OpenCTI ids and
 * upserts, the live stream (connected, create/update/delete, heartbeats, resume, recover) and
 * injected faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "peer_proc.h"
#include "sltest.h"

#define CONNECTOR "c0ffee00-0000-4000-8000-000000000001"
#define ADMIN "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
/* ids computed independently (Python uuid5 over the contributing properties) for bundle-small.json
 */
#define IND_ID "indicator--2a3eb385-9e2e-5e2b-a704-7787581e60bf"
#define MAL_ID "malware--247fd270-3ac5-512b-a41f-89142ca0dc70"
#define REL_ID "relationship--89299a53-e602-5ef8-a3f3-9128c86c52e4"
#define REP_ID "report--a2f4e1ea-e84f-5e1d-a994-e2e51820a627"
#define IDN_ID "identity--080e3681-147d-5919-b7fa-3b4976752173"
#define GREEN "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"

static struct sl_peerproc *g_peer;
static const char *const H[] = {"Authorization: Bearer opencti-test-token",
                                "Content-Type: application/json", NULL};

static int setup(void **state)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("opencti-peer", bin, sizeof(bin)),
	                "--apply-delay-ms",
	                "300",
	                "--heartbeat-ms",
	                "200",
	                "--slow-ms",
	                "30",
	                NULL};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	g_peer = sl_peerproc_start(argv);
	return g_peer ? 0 : -1;
}

static int teardown(void **state)
{
	int rc = sl_peerproc_stop(g_peer);
	curl_global_cleanup();
	return rc == 0 ? 0 : -1;
}

static json_t *post(const char *path, const char *const *hdrs, const char *body,
                    struct sl_http_result *r)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(g_peer), path);
	sl_http("POST", url, hdrs, body, 5000, r);
	return json_loads(r->body, 0, NULL);
}

/* One GraphQL request: query + variables (a JSON object, stolen). */
static json_t *gql(const char *query, json_t *vars, struct sl_http_result *r)
{
	json_t *b =
	    json_pack("{s:s,s:o}", "query", query, "variables", vars ? vars : json_object());
	char *s = json_dumps(b, JSON_COMPACT);
	json_t *out = post("/graphql", H, s, r);
	free(s);
	json_decref(b);
	return out;
}

static const char *sget(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void flush(void)
{
	struct sl_http_result r;
	json_decref(post("/_test/flush", NULL, "", &r));
	assert_int_equal(r.status, 200);
	sl_http_result_free(&r);
}

static json_t *stix_of(const char *id)
{
	struct sl_http_result r;
	json_t *j = gql("query S($id: String) { stix(id: $id) }", json_pack("{s:s}", "id", id), &r);
	const char *s = json_string_value(json_object_get(json_object_get(j, "data"), "stix"));
	json_t *out = s ? json_loads(s, 0, NULL) : NULL;
	json_decref(j);
	sl_http_result_free(&r);
	return out;
}

static void push_file_or_text(const char *bundle_text)
{
	struct sl_http_result r;
	json_t *j = gql(
	    "mutation P($c: String!, $b: String!) { stixBundlePush(connectorId: $c, bundle: $b) }",
	    json_pack("{s:s,s:s}", "c", CONNECTOR, "b", bundle_text), &r);
	assert_int_equal(r.status, 200);
	assert_null(json_object_get(j, "errors"));
	assert_true(json_is_true(json_object_get(json_object_get(j, "data"), "stixBundlePush")));
	json_decref(j);
	sl_http_result_free(&r);
}

static char *fixture_text(const char *rel)
{
	char path[1024];
	FILE *f;
	long n;
	char *buf;
	snprintf(path, sizeof(path), "%s/%s", sltest_fixtures_dir(), rel);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- SSE reading ---- */

struct sse {
	char *buf;
	size_t n;
	int frames, want;
};

static size_t sse_write(char *p, size_t sz, size_t nm, void *ud)
{
	struct sse *s = ud;
	size_t add = sz * nm;
	s->buf = realloc(s->buf, s->n + add + 1);
	memcpy(s->buf + s->n, p, add);
	s->n += add;
	s->buf[s->n] = '\0';
	s->frames = 0;
	for (char *q = s->buf; (q = strstr(q, "\n\n")); q += 2)
		s->frames++;
	return s->want && s->frames >= s->want ? 0 : add;
}

/* Read the stream at path (with extra headers) until want frames or timeout_ms. Returns the text.
 */
static char *sse_read(const char *path, const char *extra_header, int want, long timeout_ms,
                      long *status)
{
	char url[512];
	struct sse s = {0};
	struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer opencti-test-token");
	CURL *c = curl_easy_init();

	if (extra_header)
		hl = curl_slist_append(hl, extra_header);
	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(g_peer), path);
	s.want = want;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return s.buf ? s.buf : strdup("");
}

/* The n-th (0-based) frame of an event type: its id and parsed data. */
static json_t *frame(const char *text, const char *event, int nth, char id_out[64])
{
	const char *p = text;
	char want[64];
	snprintf(want, sizeof(want), "event: %s\n", event);
	while ((p = strstr(p, want))) {
		const char *fs = p, *data, *end;
		/* the frame starts after the previous blank line */
		while (fs > text && !(fs[-1] == '\n' && fs - 1 > text && fs[-2] == '\n'))
			fs--;
		if (nth-- == 0) {
			id_out[0] = '\0';
			if (strncmp(fs, "id: ", 4) == 0)
				sscanf(fs + 4, "%63[^\n]", id_out);
			data = strstr(p, "data: ");
			end = data ? strchr(data, '\n') : NULL;
			if (!data || !end)
				return NULL;
			return json_loadb(data + 6, (size_t)(end - data - 6), JSON_DECODE_ANY,
			                  NULL);
		}
		p += strlen(want);
	}
	return NULL;
}

static int count_frames(const char *text, const char *event)
{
	char want[64];
	int n = 0;
	snprintf(want, sizeof(want), "event: %s\n", event);
	for (const char *p = text; (p = strstr(p, want)); p += strlen(want))
		n++;
	return n;
}

static int id_cmp(const char *a, const char *b)
{
	long long am = 0, bm = 0;
	long as = 0, bs = 0;
	sscanf(a, "%lld-%ld", &am, &as);
	sscanf(b, "%lld-%ld", &bm, &bs);
	return am < bm ? -1 : am > bm ? 1 : (as < bs ? -1 : as > bs);
}

/* ---- tests ---- */

static void test_auth_and_errors(void **state)
{
	struct sl_http_result r;
	const char *bad[] = {"Authorization: Bearer nope", "Content-Type: application/json", NULL};
	json_t *j, *e;

	j = gql("query { about { version } me { id name } }", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_string(
	    json_object_get(json_object_get(json_object_get(j, "data"), "about"), "version")));
	assert_string_equal(sget(json_object_get(json_object_get(j, "data"), "me"), "id"), ADMIN);
	json_decref(j);
	sl_http_result_free(&r);

	/* GraphQL errors come back with status 200 and errors[] */
	j = post("/graphql", bad, "{\"query\":\"query { about { version } }\"}", &r);
	assert_int_equal(r.status, 200);
	e = json_array_get(json_object_get(j, "errors"), 0);
	assert_string_equal(sget(e, "message"), "You must be logged in to do this.");
	assert_string_equal(sget(json_object_get(e, "extensions"), "code"), "AUTH_REQUIRED");
	assert_true(json_is_null(json_object_get(json_object_get(j, "data"), "about")));
	json_decref(j);
	sl_http_result_free(&r);

	j = gql("query { about { version }", NULL, &r);
	assert_int_equal(r.status, 400);
	e = json_array_get(json_object_get(j, "errors"), 0);
	assert_string_equal(sget(json_object_get(e, "extensions"), "code"), "GRAPHQL_PARSE_FAILED");
	assert_non_null(strstr(sget(e, "message"), "Syntax Error"));
	json_decref(j);
	sl_http_result_free(&r);

	j = gql("query { noSuchField }", NULL, &r);
	assert_int_equal(r.status, 400);
	e = json_array_get(json_object_get(j, "errors"), 0);
	assert_string_equal(sget(json_object_get(e, "extensions"), "code"),
	                    "GRAPHQL_VALIDATION_FAILED");
	json_decref(j);
	sl_http_result_free(&r);

	/* the selection decides what comes back, aliases included */
	j = gql("query { v: about { version } }", NULL, &r);
	assert_non_null(json_object_get(json_object_get(j, "data"), "v"));
	assert_null(
	    json_object_get(json_object_get(json_object_get(j, "data"), "v"), "dependencies"));
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_connector_and_push(void **state)
{
	struct sl_http_result r;
	json_t *j, *s, *ext;
	char *bundle = fixture_text("peers/opencti/bundle-small.json");

	/* pushing before registering is refused */
	j = gql(
	    "mutation P($c: String!, $b: String!) { stixBundlePush(connectorId: $c, bundle: $b) }",
	    json_pack("{s:s,s:s}", "c", CONNECTOR, "b", bundle), &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(sget(json_array_get(json_object_get(j, "errors"), 0), "message"),
	                    "Connector not found");
	json_decref(j);
	sl_http_result_free(&r);

	j = gql(
	    "mutation R($input: RegisterConnectorInput) { registerConnector(input: $input) { id "
	    "connector_state config { push_exchange } } }",
	    json_pack("{s:{s:s,s:s,s:s,s:[s],s:b}}", "input", "id", CONNECTOR, "name", "sluice",
	              "type", "EXTERNAL_IMPORT", "scope", "stix2", "auto", 0),
	    &r);
	assert_string_equal(
	    sget(json_object_get(json_object_get(j, "data"), "registerConnector"), "id"),
	    CONNECTOR);
	json_decref(j);
	sl_http_result_free(&r);

	j = gql("mutation W($c: String!) { workAdd(connectorId: $c, friendlyName: \"t\") { id } }",
	        json_pack("{s:s}", "c", CONNECTOR), &r);
	assert_non_null(
	    strstr(sget(json_object_get(json_object_get(j, "data"), "workAdd"), "id"), "work_"));
	json_decref(j);
	sl_http_result_free(&r);

	j = gql(
	    "mutation P($c: String!) { stixBundlePush(connectorId: $c, bundle: \"{not json\") }",
	    json_pack("{s:s}", "c", CONNECTOR), &r);
	assert_non_null(strstr(sget(json_array_get(json_object_get(j, "errors"), 0), "message"),
	                       "Invalid bundle"));
	json_decref(j);
	sl_http_result_free(&r);

	push_file_or_text(bundle);
	/* queued, not imported yet: "pushed" is not "visible" */
	s = stix_of("indicator--5e1d0000-0000-4000-8000-0000000000b1");
	assert_null(s);
	usleep(600000);
	s = stix_of("indicator--5e1d0000-0000-4000-8000-0000000000b1");
	assert_non_null(s);
	assert_string_equal(sget(s, "id"), IND_ID);
	ext = json_object_get(json_object_get(s, "extensions"),
	                      "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba");
	assert_string_equal(json_string_value(json_array_get(json_object_get(ext, "stix_ids"), 0)),
	                    "indicator--5e1d0000-0000-4000-8000-0000000000b1");
	assert_int_equal(json_integer_value(json_object_get(ext, "score")), 70);
	assert_true(json_is_true(json_object_get(ext, "detection")));
	assert_string_equal(sget(ext, "type"), "Indicator");
	assert_string_equal(sget(s, "created_by_ref"), IDN_ID);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(s, "object_marking_refs"), 0)), GREEN);
	assert_null(json_object_get(s, "x_opencti_score"));
	json_decref(s);

	/* relationship and report ids use the standard ids of what they point at */
	s = stix_of(REL_ID);
	assert_non_null(s);
	assert_string_equal(sget(s, "source_ref"), IND_ID);
	json_decref(s);
	s = stix_of(REP_ID);
	assert_non_null(s);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "object_refs"), 1)),
	                    MAL_ID);
	json_decref(s);
	free(bundle);
}

static void test_upsert_same_object_other_id(void **state)
{
	struct sl_http_result r;
	json_t *j, *d, *s, *ids;
	const char *b2 = "{\"type\":\"bundle\",\"id\":\"bundle--5e1d0000-0000-4000-8000-"
	                 "000000000002\",\"objects\":[{"
	                 "\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--"
	                 "99990000-0000-4000-8000-"
	                 "000000000001\",\"name\":\"renamed\",\"pattern\":\"[domain-name:value = "
	                 "'login-secure-bank.example']\",\"pattern_type\":\"stix\",\"valid_from\":"
	                 "\"2026-01-05T10:00:"
	                 "00.000Z\",\"confidence\":80}]}";

	push_file_or_text(b2);
	flush();
	s = stix_of("indicator--99990000-0000-4000-8000-000000000001");
	assert_non_null(s);
	assert_string_equal(sget(s, "id"), IND_ID);
	assert_string_equal(sget(s, "name"), "renamed");
	ids = json_object_get(
	    json_object_get(json_object_get(s, "extensions"),
	                    "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"),
	    "stix_ids");
	assert_int_equal(json_array_size(ids), 2);
	json_decref(s);

	j = post("/_test/dump", NULL, NULL, &r);
	d = json_object_get(json_object_get(j, "deliveries"), IND_ID);
	assert_int_equal(json_integer_value(json_object_get(d, "received")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "created")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "updated")), 1);
	json_decref(j);
	sl_http_result_free(&r);

	/* the same again changes nothing: no new version */
	push_file_or_text(b2);
	flush();
	j = post("/_test/dump", NULL, NULL, &r);
	d = json_object_get(json_object_get(j, "deliveries"), IND_ID);
	assert_int_equal(json_integer_value(json_object_get(d, "unchanged")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "updated")), 1);
	json_decref(j);
	sl_http_result_free(&r);
}

static void test_stream_resume_update_delete(void **state)
{
	long st;
	char id[64], id2[64], id3[64], hdr[128];
	char *t;
	json_t *d, *c;
	int ncreate;

	t = sse_read("/stream", "Last-Event-ID: 0", 9, 3000, &st);
	assert_int_equal(st, 200);
	/* connected comes first, without an id */
	assert_int_equal(strncmp(t, "event: connected\n", 17), 0);
	c = frame(t, "connected", 0, id);
	assert_non_null(json_object_get(c, "lastEventId"));
	assert_non_null(json_object_get(c, "connectionId"));
	json_decref(c);
	d = frame(t, "create", 0, id);
	assert_non_null(d);
	assert_string_equal(sget(d, "version"), "4");
	assert_string_equal(sget(d, "type"), "create");
	assert_string_equal(sget(d, "event_id"), id);
	assert_string_equal(sget(json_object_get(d, "origin"), "user_id"), ADMIN);
	assert_true(json_is_object(json_object_get(d, "data")));
	json_decref(d);
	d = frame(t, "create", 1, id2);
	json_decref(d);
	assert_true(id_cmp(id, id2) < 0);
	ncreate = count_frames(t, "create");
	free(t);

	/* resume after the first event: it is not sent again */
	snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", id);
	t = sse_read("/stream", hdr, 3, 3000, &st);
	d = frame(t, "create", 0, id3);
	assert_string_equal(id3, id2);
	json_decref(d);
	free(t);

	/* ?from= works the same */
	{
		char path[128];
		snprintf(path, sizeof(path), "/stream?from=%s", id);
		t = sse_read(path, NULL, 3, 3000, &st);
		d = frame(t, "create", 0, id3);
		assert_string_equal(id3, id2);
		json_decref(d);
		free(t);
	}

	/* no start: live only, then heartbeats carrying the last id and its date */
	t = sse_read("/stream", NULL, 3, 3000, &st);
	assert_int_equal(count_frames(t, "create"), 0);
	d = frame(t, "heartbeat", 0, id3);
	assert_true(json_is_string(d));
	assert_non_null(strchr(json_string_value(d), 'T'));
	json_decref(d);
	free(t);

	/* another user deletes the malware: a delete event; listen-delete=false hides it */
	{
		struct sl_http_result r;
		json_decref(post("/_test/delete", NULL, "{\"id\":\"" MAL_ID "\"}", &r));
		assert_int_equal(r.status, 200);
		sl_http_result_free(&r);
	}
	t = sse_read("/stream", "Last-Event-ID: 0", ncreate + 6, 3000, &st);
	d = frame(t, "delete", 0, id3);
	assert_non_null(d);
	assert_string_equal(sget(json_object_get(d, "data"), "id"), MAL_ID);
	assert_true(json_is_array(json_object_get(json_object_get(d, "context"), "deletions")));
	assert_string_not_equal(sget(json_object_get(d, "origin"), "user_id"), ADMIN);
	json_decref(d);
	d = frame(t, "update", 0, id3);
	assert_non_null(d);
	assert_true(json_array_size(json_object_get(json_object_get(d, "context"), "patch")) > 0);
	assert_true(
	    json_array_size(json_object_get(json_object_get(d, "context"), "reverse_patch")) > 0);
	json_decref(d);
	free(t);
	t = sse_read("/stream?listen-delete=false&from=0", NULL, ncreate + 5, 2000, &st);
	assert_int_equal(count_frames(t, "delete"), 0);
	free(t);
}

static void test_recover(void **state)
{
	long st;
	char id[64];
	char *t;
	json_t *d;

	t = sse_read("/stream?recover=2099-01-01T00:00:00.000Z", NULL, 1, 2000, &st);
	assert_int_equal(st, 500);
	assert_non_null(strstr(t, "Recovery mode is only possible with a start date"));
	free(t);

	t = sse_read("/stream?from=2000-01-01T00:00:00.000Z&recover=2099-01-01T00:00:00.000Z", NULL,
	             4, 3000, &st);
	assert_int_equal(st, 200);
	d = frame(t, "create", 0, id);
	assert_non_null(d);
	assert_string_equal(sget(json_object_get(d, "origin"), "referer"), "init-create");
	json_decref(d);
	free(t);

	t = sse_read("/stream/not-a-stream", NULL, 1, 2000, &st);
	assert_int_equal(st, 404);
	free(t);
}

static void test_listing(void **state)
{
	struct sl_http_result r;
	json_t *j, *conn, *edges;
	const char *q =
	    "query L($a: ID) { indicators(first: 1, after: $a, orderBy: updated_at, orderMode: "
	    "asc) "
	    "{ edges { cursor node { __typename id standard_id pattern objectMarking { standard_id "
	    "} } } "
	    "pageInfo { endCursor hasNextPage globalCount } } }";

	j = gql(q, json_object(), &r);
	conn = json_object_get(json_object_get(j, "data"), "indicators");
	edges = json_object_get(conn, "edges");
	assert_int_equal(json_array_size(edges), 1);
	assert_string_equal(sget(json_object_get(json_array_get(edges, 0), "node"), "standard_id"),
	                    IND_ID);
	assert_string_equal(sget(json_object_get(json_array_get(edges, 0), "node"), "__typename"),
	                    "Indicator");
	assert_string_equal(
	    sget(json_array_get(json_object_get(json_object_get(json_array_get(edges, 0), "node"),
	                                        "objectMarking"),
	                        0),
	         "standard_id"),
	    GREEN);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(conn, "pageInfo"), "globalCount")),
	    1);
	assert_false(
	    json_is_true(json_object_get(json_object_get(conn, "pageInfo"), "hasNextPage")));
	json_decref(j);
	sl_http_result_free(&r);

	j = gql("{ stixCoreObjects(first: 2, filters: {mode: and, filters: [{key: \"entity_type\", "
	        "values: "
	        "[\"Report\"], operator: eq}], filterGroups: []}) { edges { node { standard_id } } "
	        "pageInfo { "
	        "globalCount } } }",
	        NULL, &r);
	conn = json_object_get(json_object_get(j, "data"), "stixCoreObjects");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(conn, "pageInfo"), "globalCount")),
	    1);
	json_decref(j);
	sl_http_result_free(&r);
}

#define TX_ALL "/taxii2/root/collections/3c3e5b3a-6c55-4b2e-8f0a-2a7f1c0d0001"
#define TX_IND "/taxii2/root/collections/3c3e5b3a-6c55-4b2e-8f0a-2a7f1c0d0002"

static json_t *taxii_get(const char *path, const char *auth, struct sl_http_result *r)
{
	char url[1024];
	const char *h[] = {auth, "Accept: application/taxii+json;version=2.1", NULL};
	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(g_peer), path);
	sl_http("GET", url, auth ? h : h + 1, NULL, 5000, r);
	return json_loads(r->body, 0, NULL);
}

static void test_taxii(void **state)
{
	const char *bearer = "Authorization: Bearer opencti-test-token";
	struct sl_http_result r;
	json_t *j, *seen = json_object();
	char path[1024], last_date[64] = "";
	int pages = 0, total;

	j = taxii_get("/taxii2/", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Basic, Bearer"));
	json_decref(j);
	sl_http_result_free(&r);

	j = taxii_get("/taxii2/", bearer, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "application/taxii+json;version=2.1"));
	assert_non_null(
	    strstr(json_string_value(json_array_get(json_object_get(j, "api_roots"), 0)),
	           "/taxii2/root/"));
	json_decref(j);
	sl_http_result_free(&r);

	/* Basic with the token as the password works too ("u:opencti-test-token") */
	j = taxii_get("/taxii2/root/collections/",
	              "Authorization: Basic dTpvcGVuY3RpLXRlc3QtdG9rZW4=", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(j, "collections")), 2);
	assert_true(json_is_false(
	    json_object_get(json_array_get(json_object_get(j, "collections"), 0), "can_write")));
	json_decref(j);
	sl_http_result_free(&r);

	/* page through everything, two at a time */
	snprintf(path, sizeof(path), TX_ALL "/objects/?limit=2");
	for (;;) {
		json_t *objs, *o;
		size_t i;
		j = taxii_get(path, bearer, &r);
		assert_int_equal(r.status, 200);
		objs = json_object_get(j, "objects");
		assert_true(json_array_size(objs) <= 2);
		json_array_foreach(objs, i, o)
		{
			const char *ua = json_string_value(json_object_get(
			    json_object_get(
			        json_object_get(o, "extensions"),
			        "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"),
			    "updated_at"));
			assert_null(
			    json_object_get(seen, json_string_value(json_object_get(o, "id"))));
			json_object_set_new(seen, json_string_value(json_object_get(o, "id")),
			                    json_true());
			assert_true(strcmp(last_date, ua) <= 0); /* ordered by updated_at */
			snprintf(last_date, sizeof(last_date), "%s", ua);
		}
		if (json_array_size(objs))
			assert_non_null(strstr(r.headers, "X-TAXII-Date-Added-First"));
		pages++;
		if (!json_is_true(json_object_get(j, "more"))) {
			assert_null(json_object_get(j, "next"));
			json_decref(j);
			sl_http_result_free(&r);
			break;
		}
		snprintf(path, sizeof(path), TX_ALL "/objects/?limit=2&next=%s",
		         json_string_value(json_object_get(j, "next")));
		json_decref(j);
		sl_http_result_free(&r);
		assert_true(pages < 100);
	}
	total = (int)json_object_size(seen);
	assert_true(pages >= total / 2);
	{
		json_t *d = post("/_test/dump", NULL, NULL, &r);
		assert_int_equal(json_integer_value(json_object_get(d, "count")), total);
		json_decref(d);
		sl_http_result_free(&r);
	}
	json_decref(seen);

	/* added_after is exclusive: after the newest object there is nothing */
	snprintf(path, sizeof(path), TX_ALL "/objects/?added_after=%s", last_date);
	j = taxii_get(path, bearer, &r);
	assert_int_equal(json_array_size(json_object_get(j, "objects")), 0);
	assert_false(json_is_true(json_object_get(j, "more")));
	json_decref(j);
	sl_http_result_free(&r);

	j = taxii_get(TX_IND "/objects/", bearer, &r);
	assert_true(json_array_size(json_object_get(j, "objects")) >= 1);
	for (size_t i = 0; i < json_array_size(json_object_get(j, "objects")); i++)
		assert_string_equal(sget(json_array_get(json_object_get(j, "objects"), i), "type"),
		                    "indicator");
	json_decref(j);
	sl_http_result_free(&r);

	j = taxii_get(TX_ALL "/objects/?match[type]=identity", bearer, &r);
	assert_true(json_array_size(json_object_get(j, "objects")) >= 1);
	for (size_t i = 0; i < json_array_size(json_object_get(j, "objects")); i++)
		assert_string_equal(sget(json_array_get(json_object_get(j, "objects"), i), "type"),
		                    "identity");
	json_decref(j);
	sl_http_result_free(&r);

	j = taxii_get(TX_ALL "/objects/" IND_ID "/", bearer, &r);
	assert_int_equal(json_array_size(json_object_get(j, "objects")), 1);
	json_decref(j);
	sl_http_result_free(&r);
	j = taxii_get(TX_ALL "/objects/" IND_ID "/versions/", bearer, &r);
	assert_int_equal(json_array_size(json_object_get(j, "versions")), 1);
	json_decref(j);
	sl_http_result_free(&r);
	j = taxii_get(TX_ALL "/objects/indicator--00000000-0000-4000-8000-000000000000/", bearer,
	              &r);
	assert_int_equal(r.status, 404);
	json_decref(j);
	sl_http_result_free(&r);

	j = taxii_get(TX_ALL "/manifest/?limit=1", bearer, &r);
	{
		json_t *m = json_array_get(json_object_get(j, "objects"), 0);
		assert_string_equal(sget(m, "date_added"), sget(m, "version"));
		assert_true(json_is_true(json_object_get(j, "more")));
	}
	json_decref(j);
	sl_http_result_free(&r);

	j = taxii_get(TX_ALL "/objects/?match[version]=all", bearer, &r);
	assert_int_equal(r.status, 400);
	json_decref(j);
	sl_http_result_free(&r);
	j = taxii_get("/taxii2/root/collections/nope/objects/", bearer, &r);
	assert_int_equal(r.status, 404);
	json_decref(j);
	sl_http_result_free(&r);
}

/* Redis trims the stream; recover replays what was trimmed from the store (note §2.2). */
static void test_trimmed_stream_and_recover(void **state)
{
	char bin[1024], id[64];
	char *argv[] = {(char *)sl_peerproc_bin("opencti-peer", bin, sizeof(bin)),
	                "--stream-max",
	                "3",
	                "--apply-delay-ms",
	                "0",
	                NULL};
	struct sl_peerproc *main_peer = g_peer, *pp = sl_peerproc_start(argv);
	struct sl_http_result r;
	json_t *j, *objs = json_array(), *c;
	char *bs, *t;
	long st;

	assert_non_null(pp);
	g_peer = pp; /* the helpers talk to g_peer */
	j = gql("mutation { registerConnector(input: {id: \"" CONNECTOR "\", name: \"s\", type: "
	        "\"EXTERNAL_IMPORT\"}) { id } }",
	        NULL, &r);
	json_decref(j);
	sl_http_result_free(&r);
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "Malware %d", i);
		json_array_append_new(objs, json_pack("{s:s,s:s,s:b}", "type", "malware", "name",
		                                      name, "is_family", 1));
	}
	j = json_pack("{s:s,s:o}", "type", "bundle", "objects", objs);
	bs = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	push_file_or_text(bs);
	free(bs);
	flush();

	t = sse_read("/stream", "Last-Event-ID: 0", 4, 3000, &st);
	assert_int_equal(count_frames(t, "create"), 3);
	c = frame(t, "connected", 0, id);
	assert_int_equal(json_integer_value(json_object_get(c, "streamSize")), 3);
	json_decref(c);
	free(t);

	t = sse_read("/stream?from=2000-01-01T00:00:00.000Z&recover=2099-01-01T00:00:00.000Z", NULL,
	             6, 3000, &st);
	assert_int_equal(count_frames(t, "create"), 5);
	free(t);

	g_peer = main_peer;
	assert_int_equal(sl_peerproc_stop(pp), 0);
}

/* pycti's import path: one mutation per object, field patches and deletes. Expected ids computed
 * independently in Python. */
static void test_object_mutations(void **state)
{
	struct sl_http_result r;
	json_t *j, *d, *s;
	char label_id[64], ind_id[64];

	j = gql("mutation L($input: LabelAddInput!) { labelAdd(input: $input) { id standard_id "
	        "value } }",
	        json_pack("{s:{s:s}}", "input", "value", "Phishing"), &r);
	d = json_object_get(json_object_get(j, "data"), "labelAdd");
	assert_string_equal(sget(d, "standard_id"), "label--64027af7-ee46-5b0c-93a3-96f98e17f1b7");
	snprintf(label_id, sizeof(label_id), "%s", sget(d, "id"));
	json_decref(j);
	sl_http_result_free(&r);

	j = gql(
	    "mutation I($input: IndicatorAddInput!) { indicatorAdd(input: $input) { id standard_id "
	    "entity_type } }",
	    json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:i}}", "input", "stix_id",
	              "indicator--77770000-0000-4000-8000-000000000001", "name", "bad url",
	              "pattern", "[url:value = 'http://bad.example/x']", "pattern_type", "stix",
	              "createdBy", IDN_ID, "objectMarking", GREEN, "objectLabel", label_id,
	              "x_opencti_score", 40),
	    &r);
	assert_null(json_object_get(j, "errors"));
	d = json_object_get(json_object_get(j, "data"), "indicatorAdd");
	assert_string_equal(sget(d, "standard_id"),
	                    "indicator--ce351b13-e92a-5cdd-8d56-2ac26a73e9cd");
	assert_string_equal(sget(d, "entity_type"), "Indicator");
	snprintf(ind_id, sizeof(ind_id), "%s", sget(d, "id"));
	json_decref(j);
	sl_http_result_free(&r);

	/* synchronous: visible at once, labels by value, refs by standard id */
	s = stix_of("indicator--77770000-0000-4000-8000-000000000001");
	assert_non_null(s);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "labels"), 0)),
	                    "Phishing");
	assert_string_equal(sget(s, "created_by_ref"), IDN_ID);
	json_decref(s);

	j = gql("mutation P($id: ID!, $input: [EditInput]!) { indicatorFieldPatch(id: $id, input: "
	        "$input) "
	        "{ revoked x_opencti_score } }",
	        json_pack("{s:s,s:[{s:s,s:[s]},{s:s,s:[s]}]}", "id", ind_id, "input", "key",
	                  "revoked", "value", "true", "key", "x_opencti_score", "value", "90"),
	        &r);
	d = json_object_get(json_object_get(j, "data"), "indicatorFieldPatch");
	assert_true(json_is_true(json_object_get(d, "revoked")));
	assert_int_equal(json_integer_value(json_object_get(d, "x_opencti_score")), 90);
	json_decref(j);
	sl_http_result_free(&r);

	j = gql("mutation P($id: ID!) { indicatorFieldPatch(id: $id, input: [{key: \"name\", "
	        "value: [\"x\"]}]) "
	        "{ id } }",
	        json_pack("{s:s}", "id", "indicator--00000000-0000-4000-8000-00000000dead"), &r);
	assert_string_equal(sget(json_array_get(json_object_get(j, "errors"), 0), "message"),
	                    "Cant find element to update");
	json_decref(j);
	sl_http_result_free(&r);

	j = gql("mutation D($id: ID!) { stixDomainObjectEdit(id: $id) { delete } }",
	        json_pack("{s:s}", "id", ind_id), &r);
	assert_string_equal(
	    sget(json_object_get(json_object_get(j, "data"), "stixDomainObjectEdit"), "delete"),
	    ind_id);
	json_decref(j);
	sl_http_result_free(&r);
	assert_null(stix_of("indicator--77770000-0000-4000-8000-000000000001"));

	j = gql("mutation O { stixCyberObservableAdd(type: \"IPv4-Addr\", IPv4Addr: {value: "
	        "\"203.0.113.9\"}, "
	        "x_opencti_score: 10) { standard_id entity_type } }",
	        NULL, &r);
	d = json_object_get(json_object_get(j, "data"), "stixCyberObservableAdd");
	assert_string_equal(sget(d, "standard_id"),
	                    "ipv4-addr--39090fdc-366e-571f-ab5b-d05e2918f88f");
	assert_string_equal(sget(d, "entity_type"), "IPv4-Addr");
	json_decref(j);
	sl_http_result_free(&r);

	j = gql(
	    "mutation O { stixCyberObservableAdd(type: \"StixFile\", StixFile: {name: \"a.exe\", "
	    "hashes: "
	    "[{algorithm: \"SHA-256\", hash: "
	    "\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\"}, "
	    "{algorithm: \"MD5\", hash: \"acbd18db4cc2f85cedef654fccc4a4d8\"}]}) { standard_id } }",
	    NULL, &r);
	d = json_object_get(json_object_get(j, "data"), "stixCyberObservableAdd");
	assert_string_equal(sget(d, "standard_id"), "file--9704eca1-8efd-542c-a626-77d7cbcfe49f");
	json_decref(j);
	sl_http_result_free(&r);

	/* a mutation field in a query is not allowed */
	j = gql("query { labelAdd(input: {value: \"x\"}) { id } }", NULL, &r);
	assert_int_equal(r.status, 400);
	json_decref(j);
	sl_http_result_free(&r);
}

static void set_fault(const char *json)
{
	struct sl_http_result r;
	json_decref(post("/_test/fault", NULL, json, &r));
	assert_int_equal(r.status, 200);
	sl_http_result_free(&r);
}

static void test_faults(void **state)
{
	struct sl_http_result r;
	json_t *j;

	set_fault("{\"kind\":\"500\",\"count\":1}");
	j = gql("query { about { version } }", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_true(json_is_array(json_object_get(j, "errors")));
	json_decref(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"401\",\"count\":1}");
	j = gql("query { about { version } }", NULL, &r);
	assert_int_equal(r.status, 401);
	json_decref(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"malformed\",\"count\":1}");
	j = gql("query { about { version } }", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_null(j);
	sl_http_result_free(&r);

	set_fault("{\"kind\":\"slow\",\"count\":1}");
	j = gql("query { about { version } }", NULL, &r);
	assert_non_null(j);
	assert_true(r.seconds >= 0.1);
	json_decref(j);
	sl_http_result_free(&r);

	/* a post fault on the stream is not applied (a stream never ends); it is served normally */
	set_fault("{\"kind\":\"reset\",\"count\":1}");
	{
		long st;
		char *t = sse_read("/stream", NULL, 1, 2000, &st);
		assert_int_equal(st, 200);
		free(t);
	}
	set_fault("{\"kind\":\"none\"}");
}

static void test_shared_fixture(void **state)
{
	const char *dir = sltest_interop_dir();
	char path[1024];
	json_error_t je;
	json_t *b, *out, *s;
	char *txt;

	if (!dir)
		skip();
	snprintf(path, sizeof(path), "%s/opencti/DATA-TEST-STIX2_v2.json", dir);
	b = json_load_file(path, 0, &je);
	snprintf(path, sizeof(path), "%s/opencti/opencti_stream-event-stix2-indicators.json", dir);
	out = json_load_file(path, 0, &je);
	if (!b || !out) {
		json_decref(b);
		json_decref(out);
		skip();
	}
	txt = json_dumps(b, JSON_COMPACT);
	push_file_or_text(txt);
	free(txt);
	flush();
	/* OpenCTI's own output for this indicator: same standard id, same author id */
	s = stix_of("indicator--10e9a46e-7edb-496b-a167-e27ea3ed0079");
	assert_non_null(s);
	{
		json_t *want = NULL, *x;
		size_t i;
		json_t *list = json_is_array(out) ? out : json_object_get(out, "objects");
		if (!list)
			list = out;
		if (json_is_array(list)) {
			json_array_foreach(list, i, x) if (strcmp(sget(x, "id"), sget(s, "id")) ==
			                                   0) want = x;
		} else if (strcmp(sget(list, "id"), sget(s, "id")) == 0) {
			want = list;
		}
		assert_non_null(want);
		assert_string_equal(sget(s, "created_by_ref"), sget(want, "created_by_ref"));
		assert_string_equal(sget(s, "pattern"), sget(want, "pattern"));
	}
	json_decref(s);
	json_decref(b);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_and_errors),
	    cmocka_unit_test(test_connector_and_push),
	    cmocka_unit_test(test_upsert_same_object_other_id),
	    cmocka_unit_test(test_stream_resume_update_delete),
	    cmocka_unit_test(test_recover),
	    cmocka_unit_test(test_listing),
	    cmocka_unit_test(test_taxii),
	    cmocka_unit_test(test_object_mutations),
	    cmocka_unit_test(test_trimmed_stream_and_recover),
	    cmocka_unit_test(test_faults),
	    cmocka_unit_test(test_shared_fixture),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
