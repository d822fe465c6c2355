/* test_tlp.c — TLP 2.0: every level from ids, objects and tags; every object level against every
 * destination level; containers; RED never leaves; conflicting and malformed markings read as the
 * most restrictive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_policy_util.h"
#include "tlp.h"

#define NOW 1795200000LL

static void ids_of_misp_stix_and_opencti(void **state)
{
	(void)state;
	assert_int_equal(sl_tlp_from_marking_id(PT_WHITE), SL_TLP_CLEAR);
	assert_int_equal(sl_tlp_from_marking_id(PT_CLEAR2), SL_TLP_CLEAR);
	assert_int_equal(sl_tlp_from_marking_id(PT_GREEN), SL_TLP_GREEN);
	assert_int_equal(sl_tlp_from_marking_id(PT_GREEN2), SL_TLP_GREEN);
	assert_int_equal(sl_tlp_from_marking_id(PT_AMBER), SL_TLP_AMBER);
	assert_int_equal(sl_tlp_from_marking_id(PT_AMBER2), SL_TLP_AMBER);
	assert_int_equal(sl_tlp_from_marking_id(PT_AS_MISP), SL_TLP_AMBER_STRICT);
	assert_int_equal(sl_tlp_from_marking_id(PT_AS_OCTI), SL_TLP_AMBER_STRICT);
	assert_int_equal(sl_tlp_from_marking_id(PT_RED), SL_TLP_RED);
	assert_int_equal(sl_tlp_from_marking_id(PT_RED2), SL_TLP_RED);
	assert_int_equal(
	    sl_tlp_from_marking_id("marking-definition--00000000-0000-4000-8000-000000000000"),
	    SL_TLP_NONE);
	assert_int_equal(sl_tlp_from_marking_id(NULL), SL_TLP_NONE);
}

static void tags_in_any_case(void **state)
{
	int bad;

	(void)state;
	assert_int_equal(sl_tlp_from_tag("tlp:white", &bad), SL_TLP_CLEAR);
	assert_false(bad);
	assert_int_equal(sl_tlp_from_tag("TLP:CLEAR", &bad), SL_TLP_CLEAR);
	assert_int_equal(sl_tlp_from_tag("TLP:AMBER", &bad), SL_TLP_AMBER);
	assert_int_equal(sl_tlp_from_tag("Tlp:Green", &bad), SL_TLP_GREEN);
	assert_int_equal(sl_tlp_from_tag("tlp:amber+strict", &bad), SL_TLP_AMBER_STRICT);
	assert_int_equal(sl_tlp_from_tag("tlp:\"red\"", &bad), SL_TLP_RED);
	assert_int_equal(sl_tlp_from_tag("pap:red", &bad), SL_TLP_NONE);
	assert_false(bad);
	/* a tlp: tag naming no level is read as the most restrictive */
	assert_int_equal(sl_tlp_from_tag("tlp:ex:chr", &bad), SL_TLP_RED);
	assert_true(bad);
}

static void marking_objects_by_content(void **state)
{
	json_t *md;
	int bad;

	(void)state;
	md = pt_json("{\"type\":\"marking-definition\",\"id\":\"marking-definition--11111111-1111-"
	             "4111-8111-111111111111\","
	             "\"definition_type\":\"tlp\",\"definition\":{\"tlp\":\"amber\"}}");
	assert_int_equal(sl_tlp_from_marking_object(md, &bad), SL_TLP_AMBER);
	assert_false(bad);
	json_decref(md);
	md = pt_json(
	    "{\"type\":\"marking-definition\",\"id\":\"" PT_AS_MISP "\",\"extensions\":{"
	    "\"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d\":{\"extension_type\":"
	    "\"property-extension\",\"tlp_2_0\":\"amber+strict\"}}}");
	assert_int_equal(sl_tlp_from_marking_object(md, &bad), SL_TLP_AMBER_STRICT);
	assert_false(bad);
	json_decref(md);
	md = pt_json(
	    "{\"type\":\"marking-definition\",\"id\":\"" PT_AS_OCTI
	    "\",\"definition_type\":\"statement\","
	    "\"definition\":{\"statement\":\"custom\"},\"x_opencti_definition_type\":\"TLP\","
	    "\"x_opencti_definition\":\"TLP:AMBER+STRICT\"}");
	assert_int_equal(sl_tlp_from_marking_object(md, &bad), SL_TLP_AMBER_STRICT);
	json_decref(md);
	/* content that contradicts the fixed id: malformed, most restrictive of the two */
	md = pt_json("{\"type\":\"marking-definition\",\"id\":\"" PT_GREEN
	             "\",\"definition_type\":\"tlp\","
	             "\"definition\":{\"tlp\":\"red\"}}");
	assert_int_equal(sl_tlp_from_marking_object(md, &bad), SL_TLP_RED);
	assert_true(bad);
	json_decref(md);
	md = pt_json("{\"type\":\"marking-definition\",\"id\":\"marking-definition--11111111-1111-"
	             "4111-8111-111111111111\","
	             "\"definition_type\":\"tlp\",\"definition\":{\"tlp\":\"mauve\"}}");
	assert_int_equal(sl_tlp_from_marking_object(md, &bad), SL_TLP_RED);
	assert_true(bad);
	json_decref(md);
	md = pt_json("{\"type\":\"marking-definition\",\"definition_type\":\"statement\","
	             "\"definition\":{\"statement\":"
	             "\"Copyright\"}}");
	assert_int_equal(sl_tlp_from_marking_object(md, &bad), SL_TLP_NONE);
	assert_false(bad);
	json_decref(md);
}

static enum sl_policy_verdict decide(const struct sl_policy *p, const char *dest,
                                     const char *objtext, char *rule, size_t rulesz)
{
	json_t *o = pt_json(objtext);
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_stix(sl_policy_dest_find(p, dest), o, NULL, NOW, &err);
	enum sl_policy_verdict v;

	assert_non_null(d);
	v = sl_policy_decision_verdict(d);
	if (rule)
		snprintf(rule, rulesz, "%s", sl_policy_decision_rule(d));
	if (v == SL_POLICY_DENY)
		assert_null(sl_policy_decision_object(d));
	else
		assert_non_null(sl_policy_decision_object(d));
	sl_policy_decision_free(d);
	json_decref(o);
	return v;
}

/* Every TLP level on an object against every destination level: the FIRST rules, written out as a
 * table. */
static void every_level_against_every_destination(void **state)
{
	static const char *const marks[] = {PT_WHITE, PT_GREEN, PT_AMBER, PT_AS_MISP, PT_RED};
	static const char *const dests[] = {"clear", "green", "amber", "own-amber", "own-strict"};
	/* allowed[object level][destination] */
	static const int allowed[5][5] = {
	    {1, 1, 1, 1, 1}, /* CLEAR */
	    {0, 1, 1, 1, 1}, /* GREEN */
	    {0, 0, 1, 1, 1}, /* AMBER */
	    {0, 0, 0, 0, 1}, /* AMBER+STRICT: only the own organisation, when it allows it */
	    {0, 0, 0, 0, 0}, /* RED: never */
	};
	struct sl_policy *p =
	    pt_policy("destination \"clear\" { max_tlp = \"clear\" }\n"
	              "destination \"green\" { max_tlp = \"green\" }\n"
	              "destination \"amber\" { max_tlp = \"amber\" }\n"
	              "destination \"own-amber\" { own_org = true\n max_tlp = \"amber\" }\n"
	              "destination \"own-strict\" { own_org = true\n max_tlp = \"amber+strict\" "
	              "unmarked = \"red\" }\n");
	char obj[512], rule[2048];
	int i, j;

	(void)state;
	for (i = 0; i < 5; i++)
		for (j = 0; j < 5; j++) {
			enum sl_policy_verdict v;
			snprintf(obj, sizeof(obj),
			         "{\"type\":\"malware\",\"id\":\"malware--%08d-0000-4000-8000-"
			         "000000000000\",\"name\":\"x\","
			         "\"is_family\":true,\"object_marking_refs\":[\"%s\"]}",
			         i, marks[i]);
			v = decide(p, dests[j], obj, rule, sizeof(rule));
			if ((v != SL_POLICY_DENY) != allowed[i][j])
				fail_msg("level %d to %s: got %s (%s)", i, dests[j],
				         sl_policy_verdict_name(v), rule);
			if (i == 4)
				assert_non_null(strstr(rule, "RED never leaves"));
			if (i == 4)
				assert_non_null(strstr(rule, PT_RED));
		}
	/* unmarked: deny by default; an assumed level when the policy says so, and never RED */
	assert_int_equal(decide(p, "amber",
	                        "{\"type\":\"malware\",\"id\":\"malware--1\",\"name\":\"x\"}", rule,
	                        sizeof(rule)),
	                 SL_POLICY_DENY);
	assert_non_null(strstr(rule, "unmarked = deny"));
	assert_int_equal(decide(p, "own-strict",
	                        "{\"type\":\"malware\",\"id\":\"malware--1\",\"name\":\"x\"}", rule,
	                        sizeof(rule)),
	                 SL_POLICY_DENY);
	sl_policy_free(p);
}

static void unmarked_assumed_level(void **state)
{
	struct sl_policy *p =
	    pt_policy("destination \"g\" { max_tlp = \"green\" unmarked = \"green\" }\n"
	              "destination \"c\" { max_tlp = \"clear\" unmarked = \"amber\" }\n");
	char rule[2048];

	(void)state;
	assert_int_equal(
	    decide(p, "g", "{\"type\":\"malware\",\"id\":\"malware--1\"}", rule, sizeof(rule)),
	    SL_POLICY_ALLOW);
	assert_non_null(strstr(rule, "assumed TLP:GREEN"));
	assert_int_equal(decide(p, "c", "{\"type\":\"malware\",\"id\":\"malware--1\"}", NULL, 0),
	                 SL_POLICY_DENY);
	sl_policy_free(p);
}

static void container_markings_are_inherited(void **state)
{
	struct sl_policy *p = pt_policy("destination \"g\" { max_tlp = \"green\" }\n");
	json_t *obj = pt_json(
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"object_marking_refs\":[\"" PT_GREEN
	    "\"]}");
	json_t *conts =
	    pt_json("[{\"type\":\"report\",\"id\":\"report--1\",\"object_refs\":[\"indicator--1\"],"
	            "\"object_marking_refs\":[\"" PT_RED "\"]}]");
	struct sl_policy_ctx ctx = {conts, NULL, NULL, NULL};
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_stix(sl_policy_dest_at(p, 0), obj, &ctx, NOW, &err);

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	assert_non_null(strstr(sl_policy_decision_rule(d), "RED never leaves"));
	/* inheriting is not a conflict */
	assert_null(strstr(sl_policy_decision_rule(d), "conflicting"));
	sl_policy_decision_free(d);
	json_decref(conts);
	/* the same object without the RED container goes */
	d = sl_policy_decide_stix(sl_policy_dest_at(p, 0), obj, NULL, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
	sl_policy_decision_free(d);
	json_decref(obj);
	sl_policy_free(p);
}

static void custom_tlp_definition_in_the_bundle(void **state)
{
	struct sl_policy *p = pt_policy("destination \"g\" { max_tlp = \"green\" }\n");
	json_t *obj =
	    pt_json("{\"type\":\"indicator\",\"id\":\"indicator--1\",\"object_marking_refs\":"
	            "[\"marking-definition--22222222-2222-4222-8222-222222222222\"]}");
	json_t *mk = pt_json("{\"marking-definition--22222222-2222-4222-8222-222222222222\":{"
	                     "\"type\":\"marking-definition\","
	                     "\"id\":\"marking-definition--22222222-2222-4222-8222-222222222222\","
	                     "\"definition_type\":\"tlp\","
	                     "\"definition\":{\"tlp\":\"amber\"}}}");
	struct sl_policy_ctx ctx = {NULL, mk, NULL, NULL};
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_stix(sl_policy_dest_at(p, 0), obj, &ctx, NOW, &err);

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	assert_non_null(strstr(sl_policy_decision_rule(d), "TLP:AMBER"));
	sl_policy_decision_free(d);
	json_decref(obj);
	json_decref(mk);
	sl_policy_free(p);
}

static void conflicting_and_malformed_take_the_strictest(void **state)
{
	struct sl_policy *p = pt_policy("destination \"a\" { max_tlp = \"amber\" }\n"
	                                "destination \"g\" { max_tlp = \"green\" }\n");
	char rule[2048];

	(void)state;
	assert_int_equal(
	    decide(
	        p, "g",
	        "{\"type\":\"malware\",\"id\":\"malware--1\",\"object_marking_refs\":[\"" PT_GREEN
	        "\",\"" PT_AMBER "\"]}",
	        rule, sizeof(rule)),
	    SL_POLICY_DENY);
	assert_non_null(strstr(rule, "conflicting"));
	assert_int_equal(
	    decide(
	        p, "a",
	        "{\"type\":\"malware\",\"id\":\"malware--1\",\"object_marking_refs\":[\"" PT_GREEN
	        "\",\"" PT_AMBER "\"]}",
	        rule, sizeof(rule)),
	    SL_POLICY_ALLOW);
	/* refs that are not a list, or not strings: malformed, read as RED */
	assert_int_equal(
	    decide(p, "a",
	           "{\"type\":\"malware\",\"id\":\"malware--1\",\"object_marking_refs\":\"" PT_GREEN
	           "\"}",
	           rule, sizeof(rule)),
	    SL_POLICY_DENY);
	assert_non_null(strstr(rule, "malformed"));
	assert_int_equal(
	    decide(
	        p, "a",
	        "{\"type\":\"malware\",\"id\":\"malware--1\",\"object_marking_refs\":[\"" PT_GREEN
	        "\", 7]}",
	        rule, sizeof(rule)),
	    SL_POLICY_DENY);
	/* TLP labels as misp-stix leaves them (upper case) count */
	assert_int_equal(
	    decide(p, "g",
	           "{\"type\":\"malware\",\"id\":\"malware--1\",\"labels\":[\"TLP:AMBER\"]}", rule,
	           sizeof(rule)),
	    SL_POLICY_DENY);
	assert_int_equal(
	    decide(p, "g",
	           "{\"type\":\"malware\",\"id\":\"malware--1\",\"labels\":[\"tlp:unclear\"]}",
	           rule, sizeof(rule)),
	    SL_POLICY_DENY);
	assert_non_null(strstr(rule, "malformed"));
	sl_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ids_of_misp_stix_and_opencti),
	    cmocka_unit_test(tags_in_any_case),
	    cmocka_unit_test(marking_objects_by_content),
	    cmocka_unit_test(every_level_against_every_destination),
	    cmocka_unit_test(unmarked_assumed_level),
	    cmocka_unit_test(container_markings_are_inherited),
	    cmocka_unit_test(custom_tlp_definition_in_the_bundle),
	    cmocka_unit_test(conflicting_and_malformed_take_the_strictest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
