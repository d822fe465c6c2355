/* test_peer_octi_id.c — the OpenCTI test peer computes OpenCTI's standard ids: vectors written for
 * sluice (fixtures/peers/opencti/id-vectors.json, expected ids computed independently in Python)
 * and, when ../shared is present, the round-trip vectors from OpenCTI's own fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "octi_id.h"
#include "sltest.h"

static void test_uuid5_known_answer(void **state)
{
	char out[37];
	/* RFC 4122 DNS namespace; the value Python's uuid.uuid5(NAMESPACE_DNS, "python.org") gives
	 */
	assert_int_equal(
	    sl_octi_uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org", 10, out), 0);
	assert_string_equal(out, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
	assert_int_equal(sl_octi_uuid5("not-a-uuid", "x", 1, out), -1);
}

static void test_written_vectors(void **state)
{
	char path[1024], err[256];
	json_error_t je;
	json_t *doc, *c;
	size_t i;

	snprintf(path, sizeof(path), "%s/peers/opencti/id-vectors.json", sltest_fixtures_dir());
	doc = json_load_file(path, 0, &je);
	assert_non_null(doc);
	assert_true(json_array_size(json_object_get(doc, "cases")) >= 15);
	json_array_foreach(json_object_get(doc, "cases"), i, c)
	{
		char *id =
		    sl_octi_standard_id(json_object_get(c, "object"), NULL, NULL, err, sizeof(err));
		const char *want = json_string_value(json_object_get(c, "expected_id"));
		if (!id || strcmp(id, want) != 0) {
			fprintf(stderr, "case '%s': got %s, want %s (%s)\n",
			        json_string_value(json_object_get(c, "description")),
			        id ? id : "NULL", want, id ? "" : err);
		}
		assert_non_null(id);
		assert_string_equal(id, want);
		free(id);
	}
	json_decref(doc);
}

static void test_missing_properties(void **state)
{
	char err[256];
	json_t *o = json_pack("{s:s,s:s}", "type", "indicator", "name", "no pattern");
	assert_null(sl_octi_standard_id(o, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "indicator"));
	assert_non_null(strstr(err, "missing"));
	json_decref(o);
	o = json_pack("{s:s}", "type", "x-unknown-thing");
	assert_null(sl_octi_standard_id(o, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "x-unknown-thing"));
	json_decref(o);
}

static const char *resolve_fixed(const char *ref, void *ctx)
{
	return strcmp(ref, "indicator--local") == 0 ? "indicator--standard" : NULL;
}

static void test_refs_resolved(void **state)
{
	char err[256];
	json_t *a =
	    json_pack("{s:s,s:s,s:s,s:s}", "type", "relationship", "relationship_type", "indicates",
	              "source_ref", "indicator--local", "target_ref", "malware--m");
	json_t *b =
	    json_pack("{s:s,s:s,s:s,s:s}", "type", "relationship", "relationship_type", "indicates",
	              "source_ref", "indicator--standard", "target_ref", "malware--m");
	char *ia = sl_octi_standard_id(a, resolve_fixed, NULL, err, sizeof(err));
	char *ib = sl_octi_standard_id(b, NULL, NULL, err, sizeof(err));
	/* a relationship's id uses the standard ids of its ends, whatever ids the sender used */
	assert_string_equal(ia, ib);
	free(ia);
	free(ib);
	json_decref(a);
	json_decref(b);
}

static json_t *find_by_id(json_t *objs, const char *id)
{
	size_t i;
	json_t *o;
	json_array_foreach(
	    objs, i, o) if (strcmp(json_string_value(json_object_get(o, "id")), id) == 0) return o;
	return NULL;
}

static void test_shared_vectors(void **state)
{
	const char *dir = sltest_interop_dir();
	char path[1024], err[256];
	json_error_t je;
	json_t *b, *objs, *dirobj;
	/* the table in shared/interop/opencti/README.md */
	static const char *const vec[][2] = {
	    {"indicator--10e9a46e-7edb-496b-a167-e27ea3ed0079",
	     "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"},
	    {"indicator--a2f7504a-ea0d-48ed-a18d-cbf352fae6cf",
	     "indicator--4099edd7-1efd-54aa-9736-7bcd7219b78b"},
	    {"report--a445d22a-db0c-4b5d-9ec8-e9ad0b6dbdd7",
	     "report--f3e554eb-60f5-587c-9191-4f25e9ba9f32"},
	};

	if (!dir)
		skip();
	snprintf(path, sizeof(path), "%s/opencti/DATA-TEST-STIX2_v2.json", dir);
	b = json_load_file(path, 0, &je);
	if (!b)
		skip();
	objs = json_object_get(b, "objects");
	for (size_t i = 0; i < sizeof(vec) / sizeof(*vec); i++) {
		json_t *o = find_by_id(objs, vec[i][0]);
		char *id;
		assert_non_null(o);
		id = sl_octi_standard_id(o, NULL, NULL, err, sizeof(err));
		assert_non_null(id);
		assert_string_equal(id, vec[i][1]);
		free(id);
	}
	json_decref(b);
	dirobj = json_pack("{s:s,s:s}", "type", "directory", "path", "test");
	{
		char *id = sl_octi_standard_id(dirobj, NULL, NULL, err, sizeof(err));
		assert_string_equal(id, "directory--8cdc9b17-880f-566c-a1ba-eb9a04063df7");
		free(id);
	}
	json_decref(dirobj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uuid5_known_answer), cmocka_unit_test(test_written_vectors),
	    cmocka_unit_test(test_missing_properties), cmocka_unit_test(test_refs_resolved),
	    cmocka_unit_test(test_shared_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
