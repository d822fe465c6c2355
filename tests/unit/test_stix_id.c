/* test_stix_id.c — uuid validation and UUIDv5 ids, checked against independent vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "stix_id.h"

static void uuid_validation(void **state)
{
	(void)state;
	assert_true(sl_stix_id_uuid_valid("5e384ae7-672c-4250-9cda-3b4da964451a"));
	assert_true(sl_stix_id_uuid_valid("5E384AE7-672C-4250-9CDA-3B4DA964451A"));
	assert_false(sl_stix_id_uuid_valid("5e384ae7-672c-4250-9cda-3b4da964451"));
	assert_false(sl_stix_id_uuid_valid("5e384ae7-672c-4250-9cda-3b4da964451aa"));
	assert_false(sl_stix_id_uuid_valid("5e384ae7x672c-4250-9cda-3b4da964451a"));
	assert_false(sl_stix_id_uuid_valid("ge384ae7-672c-4250-9cda-3b4da964451a"));
	assert_false(sl_stix_id_uuid_valid(""));
	assert_false(sl_stix_id_uuid_valid(NULL));
}

/* RFC 4122 / Python's uuid.uuid5(uuid.NAMESPACE_DNS, "python.org"), as printed in Python's docs. */
static void uuid5_known_vector(void **state)
{
	unsigned char ns[16];
	char out[37];

	(void)state;
	assert_int_equal(sl_stix_id_uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", ns), 0);
	sl_stix_id_uuid5(ns, "python.org", 10, out);
	assert_string_equal(out, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

/* A relationship id misp-stix produced in the shared corpus (s_attr_ip-dst_ids). */
static void relationship_id_matches_misp_stix(void **state)
{
	char id[SL_STIX_ID_MAX];

	(void)state;
	sl_stix_id_relationship("indicator--f6dffb21-b0c8-53ec-af63-2f9f6dfc966d", "based-on",
	                        "observed-data--f6dffb21-b0c8-53ec-af63-2f9f6dfc966d", id);
	assert_string_equal(id, "relationship--bef88dfa-28bc-5060-a91d-d83040e0c841");
}

/* Long relationship types (from MISP object references) are hashed whole, not truncated. */
static void relationship_long_type(void **state)
{
	char a[SL_STIX_ID_MAX], b[SL_STIX_ID_MAX], type[1200];

	(void)state;
	memset(type, 'x', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	sl_stix_id_relationship("file--1", type, "file--2", a);
	type[sizeof(type) - 2] = 'y';
	sl_stix_id_relationship("file--1", type, "file--2", b);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, "relationship--", 14), 0);
	assert_true(sl_stix_id_uuid_valid(a + 14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(uuid_validation),
	    cmocka_unit_test(uuid5_known_vector),
	    cmocka_unit_test(relationship_id_matches_misp_stix),
	    cmocka_unit_test(relationship_long_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
