/* test_idlocal.c — ids a peer renamed (OpenCTI) given back, on the real test PostgreSQL: through
 * the id map, through a former id the ledger holds (then remembered), refs rewritten whatever
 * their order in the bundle, ids new to sluice left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "idlocal.h"
#include "ledger.h"
#include "sltest.h"

#define OURS1 "indicator--0a1b2c3d-0000-4000-8000-000000000001"
#define OURS2 "indicator--0a1b2c3d-0000-4000-8000-000000000002"
#define OC1 "indicator--6c0d33d1-905e-5b8f-b369-000000000001"
#define OC2 "indicator--6c0d33d1-905e-5b8f-b369-000000000002"
#define OC3 "indicator--6c0d33d1-905e-5b8f-b369-000000000003"
#define UNKNOWN "indicator--0a1b2c3d-0000-4000-8000-0000000000ff"
#define REL "relationship--6c0d33d1-905e-5b8f-b369-0000000000aa"

static json_t *indicator(const char *id)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "type", "indicator", "spec_version",
	                 "2.1", "id", id, "created", "2026-11-01T10:00:00.000Z", "modified",
	                 "2026-11-01T10:00:00.000Z", "pattern", "[domain-name:value = 'x.example']",
	                 "pattern_type", "stix", "valid_from", "2026-11-01T10:00:00Z");
}

static const char *id_at(const json_t *b, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(b, "objects"), i), "id"));
}

static void renamed_ids_come_back(void **state)
{
	char *dsn = sltest_fresh_db("sl_idlocal");
	struct sl_err err = {0};
	struct sl_ledger *l = sl_ledger_open(dsn, &err);
	struct sl_ledger_in in[2];
	struct sl_ledger_result res[2];
	json_t *o1 = indicator(OURS1), *o2 = indicator(OURS2), *b, *x;
	char out[SL_LEDGER_ID_MAX];

	(void)state;
	assert_non_null(l);
	assert_int_equal(sl_ledger_migrate(l, NULL, NULL, &err), 0);
	in[0] = (struct sl_ledger_in){o1, NULL};
	in[1] = (struct sl_ledger_in){o2, NULL};
	assert_int_equal(sl_ledger_ingest(l, "misp-a", in, 2, NULL, res, &err), 0);
	assert_int_equal(sl_ledger_idmap_put(l, "octi", OC1, OURS1, &err), 0);

	/* the relationship names OC2 before OC2's own object says it was OURS2 */
	b = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:s}]}", "type", "bundle", "id",
	              "bundle--6c0d33d1-905e-5b8f-b369-0000000000bb", "objects", "type",
	              "relationship", "id", REL, "relationship_type", "indicates", "source_ref", OC2,
	              "target_ref", OC1);
	x = indicator(OC1);
	json_array_append_new(json_object_get(b, "objects"), x);
	x = indicator(OC2);
	json_object_set_new(x, "x_opencti_stix_ids", json_pack("[s]", OURS2));
	json_array_append_new(json_object_get(b, "objects"), x);
	x = indicator(OC3); /* OpenCTI's own output form; a former id sluice never saw */
	json_object_set_new(x, "extensions",
	                    json_pack("{s:{s:[s]}}", SL_IDLOCAL_OCTI_EXT, "stix_ids", UNKNOWN));
	json_array_append_new(json_object_get(b, "objects"), x);

	assert_int_equal(sl_idlocal_bundle(l, "octi", b, &err), 4);
	assert_string_equal(id_at(b, 0), REL);
	assert_string_equal(id_at(b, 1), OURS1);
	assert_string_equal(id_at(b, 2), OURS2);
	assert_string_equal(id_at(b, 3), OC3);
	x = json_array_get(json_object_get(b, "objects"), 0);
	assert_string_equal(json_string_value(json_object_get(x, "source_ref")), OURS2);
	assert_string_equal(json_string_value(json_object_get(x, "target_ref")), OURS1);
	/* recognised once, remembered: the next bundle needs no former ids */
	assert_int_equal(sl_ledger_idmap_to_stix(l, "octi", OC2, out, sizeof(out), &err), 0);
	assert_string_equal(out, OURS2);
	assert_int_not_equal(sl_ledger_idmap_to_stix(l, "octi", OC3, out, sizeof(out), &err), 0);
	json_decref(b);
	b = json_pack("{s:s,s:s,s:[o]}", "type", "bundle", "id",
	              "bundle--6c0d33d1-905e-5b8f-b369-0000000000cc", "objects", indicator(OC2));
	assert_int_equal(sl_idlocal_bundle(l, "octi", b, &err), 1);
	assert_string_equal(id_at(b, 0), OURS2);
	/* another peer's names are its own */
	assert_int_equal(sl_idlocal_bundle(l, "taxii-p", b, &err), 0);
	json_decref(b);

	json_decref(o1);
	json_decref(o2);
	sl_ledger_close(l);
	free(dsn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(renamed_ids_come_back),
	};
	if (!sltest_pg_dsn()) {
		fprintf(stderr, "no test PostgreSQL (run through ctest)\n");
		return SLTEST_SKIP;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
