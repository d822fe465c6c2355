/* test_fast_misp2stix.c — the fast path (fast_json + attributes parsed one at a time + stix_emit)
 * writes the same bundle as the tree path (sl_misp_to_stix, the oracle): the same objects with the
 * same values, the same warnings, the same errors, for every misp-stix corpus event, the repo's
 * fixtures and a large synthetic-like event; and malformed input gets sl_json_parse's own error.
 * Skips (77) without ../shared only for the corpus part. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fast_misp2stix.h"
#include "json.h"
#include "map_ctx.h"
#include "misp2stix.h"
#include "sltest.h"

/* bundle objects keyed by id (streaming order differs from the tree's; order means nothing) */
static json_t *by_id(const json_t *bundle)
{
	json_t *m = json_object();
	size_t i;
	json_t *o;

	json_array_foreach(json_object_get(bundle, "objects"), i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		assert_non_null(id);
		assert_null(json_object_get(m, id)); /* ids are unique in both */
		json_object_set(m, id, o);
	}
	return m;
}

struct outcome {
	int rc;
	struct sl_err err;
	json_t *bundle, *warnings;
};

static void tree_way(const char *buf, size_t len, const struct sl_map_opts *opts, struct outcome *o)
{
	json_t *ev = sl_json_parse(buf, len, NULL, "ev", &o->err);

	o->warnings = json_array();
	o->bundle = NULL;
	if (!ev) {
		o->rc = o->err.code;
		return;
	}
	o->bundle = sl_misp_to_stix(ev, opts, o->warnings, &o->err);
	o->rc = o->bundle ? 0 : o->err.code;
	json_decref(ev);
}

static void fast_way(const char *buf, size_t len, const struct sl_map_opts *opts, struct outcome *o)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);

	o->warnings = json_array();
	o->rc = sl_fast_misp2stix_write(buf, len, "ev", opts, o->warnings, f, &o->err);
	fclose(f);
	o->bundle = NULL;
	if (o->rc == 0) {
		json_error_t je;
		o->bundle = json_loadb(text, tlen, 0, &je);
		if (!o->bundle)
			fail_msg("fast path wrote invalid JSON: %s", je.text);
	}
	free(text);
}

static void clear(struct outcome *o)
{
	json_decref(o->bundle);
	json_decref(o->warnings);
}

/* 1 when both ways agree */
static int agree(const struct outcome *a, const struct outcome *b, const char *name)
{
	if (a->rc != b->rc) {
		print_error("%s: rc tree %d (%s) fast %d (%s)\n", name, a->rc, a->err.msg, b->rc,
		            b->err.msg);
		return 0;
	}
	if (a->rc != 0)
		return !strcmp(a->err.msg, b->err.msg) && !strcmp(a->err.where, b->err.where);
	if (!json_equal(json_object_get(a->bundle, "id"), json_object_get(b->bundle, "id")) ||
	    !json_equal(json_object_get(a->bundle, "type"), json_object_get(b->bundle, "type")) ||
	    json_object_size(a->bundle) != json_object_size(b->bundle))
		return 0;
	json_t *ma = by_id(a->bundle), *mb = by_id(b->bundle);
	int same = json_equal(ma, mb) && json_equal(a->warnings, b->warnings);
	if (!same)
		print_error("%s: objects or warnings differ\n", name);
	json_decref(ma);
	json_decref(mb);
	return same;
}

static int compare(const char *buf, size_t len, const char *name, int strict)
{
	struct sl_map_opts opts = {strict};
	for (int attempt = 0;; attempt++) {
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(buf, len, &opts, &t);
		fast_way(buf, len, &opts, &f);
		int ok = agree(&t, &f, name);
		int rc = t.rc;
		clear(&t);
		clear(&f);
		if (ok)
			return rc;
		/* the conversion time stamped on some objects may tick between the two runs */
		if (attempt == 1)
			fail_msg("%s: fast path differs from the tree path", name);
	}
}

static int each_event(const char *dir, int strict)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		size_t l = strlen(de->d_name), len;
		char *buf;
		struct sl_err err;
		if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (sl_json_slurp(path, SL_JSON_DEFAULT_MAX_BYTES, &buf, &len, &err) != 0)
			continue;
		compare(buf, len, path, strict);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void fixtures_agree(void **state)
{
	char dir[4096];
	(void)state;
	snprintf(dir, sizeof(dir), "%s/events", sltest_fixtures_dir());
	int n = each_event(dir, 0);
	n += each_event(dir, 1);
	snprintf(dir, sizeof(dir), "%s/events/demo-feed", sltest_fixtures_dir());
	n += each_event(dir, 0);
	snprintf(dir, sizeof(dir), "%s/policies", sltest_fixtures_dir());
	n += each_event(dir, 0);
	assert_true(n >= 10);
}

static void corpus_agrees(void **state)
{
	const char *interop = sltest_interop_dir();
	char dir[4096];
	(void)state;
	if (!interop)
		skip();
	snprintf(dir, sizeof(dir), "%s/misp-stix-corpus/input", interop);
	int n = each_event(dir, 0);
	n += each_event(dir, 1); /* strict: the same events fail the same way */
	assert_int_equal(n, 2 * 278);
}

#define EV "\"uuid\":\"a6ef17d6-91cb-4a05-b10b-2f045daf874c\",\"timestamp\":\"1603642920\""
#define A(u, t, v, extra)                                                                          \
	"{\"uuid\":\"" u "\",\"type\":\"" t "\",\"value\":\"" v "\",\"category\":\"Network "       \
	"activity\",\"to_ids\":true,\"timestamp\":\"1603642920\"" extra "}"
#define U1 "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f"
#define U2 "518b4bcb-a86b-4783-9457-391d548b605b"
#define U3 "34cb1a7c-55ec-412a-8684-ba4a88d83a45"
#define SIGHT                                                                                      \
	",\"Sighting\":[{\"uuid\":\"5e1c3d8f-7a5c-4b2e-9c2a-0e2f6f7c1a11\",\"type\":\"0\","        \
	"\"date_sighting\":\"1603642990\",\"Organisation\":{\"uuid\":"                             \
	"\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CIRCL\"}}]"

static void shapes_agree(void **state)
{
	static const char *docs[] = {
	    /* inner event without the wrapper, attributes with sightings, tags, bad values */
	    "{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", SIGHT) "," A(
	        U2, "domain", "EXAMPLE.com",
	        ",\"Tag\":[{\"name\":\"tlp:green\"},{\"name\":\"x\"}]") "," A(U3, "ip-src",
	                                                                      "not-an-ip", "") "]}",
	    /* wrapped; an escaped key elsewhere; a scalar and a non-object in the list */
	    "{\"Event\":{" EV ",\"in\\u0066o\":\"t\",\"Attribute\":[7, [], " A(
	        U1, "md5", "d41d8cd98f00b204e9800998ecf8427e", "") "]}}",
	    /* escaped key inside an attribute, unicode, a 19-digit integer fast_json declines */
	    "{\"Event\":{" EV
	    ",\"Attribute\":[" A(U1, "url", "http://\\u00e9.example/\\\"q\\\"",
	                         ",\"d\\u0069stribution\":12345678901234567890") "]}}",
	    /* Attribute not a list; absent; empty */
	    "{\"Event\":{" EV ",\"Attribute\":{}}}",
	    "{\"Event\":{" EV "}}",
	    "{\"Event\":{" EV ",\"Attribute\":[ ]}}",
	    /* "Event" not an object: the top is the event */
	    "{\"Event\":3," EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "") "]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "shape %zu", i);
		compare(docs[i], strlen(docs[i]), name, 0);
		compare(docs[i], strlen(docs[i]), name, 1);
	}
}

static void malformed_gets_parser_error(void **state)
{
	static const char *bad[] = {
	    /* broken inside an attribute, after others were mapped */
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "") "," A(
	        U2, "ip-dst", "1.2.3.5", ",\"x\":tru") "]}}",
	    /* duplicate key inside an attribute */
	    "{\"Event\":{" EV
	    ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", ",\"type\":\"x\"") "]}}",
	    /* garbage between elements; a missing comma */
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "") " x]}}",
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "")
	        A(U2, "ip-dst", "1.2.3.5", "") "]}}",
	    /* broken outside the list; truncated; a duplicate Attribute list */
	    "{\"Event\":{" EV ",\"Attribute\":[],\"info\":}}",
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", ""),
	    "{\"Event\":{" EV ",\"Attribute\":[],\"Attribute\":[]}}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(bad[i], strlen(bad[i]), NULL, &t);
		fast_way(bad[i], strlen(bad[i]), NULL, &f);
		assert_int_equal(t.rc, SL_EINVAL);
		assert_int_equal(f.rc, SL_EINVAL);
		/* sl_json_parse's message: what, line and column */
		assert_string_equal(f.err.where, t.err.where);
		assert_string_equal(f.err.msg, t.err.msg);
		assert_non_null(strstr(f.err.where, "ev:1:"));
		clear(&t);
		clear(&f);
	}
	/* over the size limit: refused before parsing, with sl_json_parse's message */
	{
		size_t big = SL_JSON_DEFAULT_MAX_BYTES + 16;
		char *huge = malloc(big);
		assert_non_null(huge);
		memset(huge, ' ', big);
		memcpy(huge, "{\"Event\":{" EV ",\"Attribute\":[]}}",
		       strlen("{\"Event\":{" EV ",\"Attribute\":[]}}"));
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(huge, big, NULL, &t);
		fast_way(huge, big, NULL, &f);
		assert_int_equal(t.rc, SL_ELIMIT);
		assert_int_equal(f.rc, SL_ELIMIT);
		assert_string_equal(f.err.msg, t.err.msg);
		clear(&t);
		clear(&f);
		free(huge);
	}
	/* nesting past the limit inside an attribute: the same limit error */
	char deep[4096];
	int n = snprintf(deep, sizeof(deep), "{\"Event\":{" EV ",\"Attribute\":[{\"x\":");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	n += snprintf(deep + n, sizeof(deep) - (size_t)n, "}]}}");
	struct outcome t, f;
	memset(&t, 0, sizeof(t));
	memset(&f, 0, sizeof(f));
	tree_way(deep, (size_t)n, NULL, &t);
	fast_way(deep, (size_t)n, NULL, &f);
	assert_int_equal(t.rc, SL_ELIMIT);
	assert_int_equal(f.rc, SL_ELIMIT);
	assert_string_equal(f.err.msg, t.err.msg);
	clear(&t);
	clear(&f);
}

/* map_ctx formats timestamps by hand (the hot path); libc's gmtime_r is the oracle */
static void timestamps_match_gmtime(void **state)
{
	static const long long fixed[] = {
	    0, 1, 59, 86399, 86400, 951782400, 951868800, 1700000060, 4102444800LL, 253402300799LL};
	struct sl_map_ctx c;
	unsigned seed = 42;
	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.now_ts, sizeof(c.now_ts), "2026-01-01T00:00:00.000Z");
	for (int i = 0; i < 200000; i++) {
		long long n =
		    i < 10 ? fixed[i] : ((long long)rand_r(&seed) * rand_r(&seed)) % 253402300800LL;
		for (int sdo = 0; sdo < 2; sdo++) {
			char got[SL_TS_MAX], want[SL_TS_MAX];
			json_t *v = json_integer(n);
			time_t t = (time_t)n;
			struct tm tm;
			assert_int_equal(sl_map_ts(&c, v, sdo, got), 0);
			json_decref(v);
			gmtime_r(&t, &tm);
			snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d%s",
			         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			         tm.tm_min, tm.tm_sec, sdo ? ".000Z" : "Z");
			assert_string_equal(got, want);
		}
	}
	/* with offsets and fractions, across 1970 and at the ends of the range */
	static const char *iso[][2] = {
	    {"2020-01-01T00:30:00+01:00", "2019-12-31T23:30:00Z"},
	    {"1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5Z"},
	    {"0001-03-01T12:00:00.120000+00:00", "0001-03-01T12:00:00.12Z"},
	    {"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
	    {"1900-02-28T10:00:00-05:00", "1900-02-28T15:00:00Z"},
	    {"2000-02-29T23:00:00-01:00", "2000-03-01T00:00:00Z"},
	};
	for (size_t i = 0; i < sizeof(iso) / sizeof(iso[0]); i++) {
		char got[SL_TS_MAX];
		assert_int_equal(sl_map_iso_ts(iso[i][0], got), 0);
		assert_string_equal(got, iso[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(shapes_agree),
	    cmocka_unit_test(malformed_gets_parser_error),
	    cmocka_unit_test(fixtures_agree),
	    cmocka_unit_test(corpus_agrees),
	    cmocka_unit_test(timestamps_match_gmtime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
