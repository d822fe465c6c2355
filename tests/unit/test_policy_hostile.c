/* test_policy_hostile.c — hostile and malformed shapes: every field of the wrong type, entries that
 * are not objects, huge tag lists. Nothing crashes (the suite runs under ASan/UBSan in CI), nothing
 * malformed is sent on a weaker reading than the policy allows, and the rest of the input is still
 * decided. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_policy_util.h"

#define NOW 1795200000LL

static const char *policy =
    "destination \"d\" { kind = \"misp\" max_tlp = \"green\" unmarked = \"green\"\n"
    "  distribution = {2, 3} deny_tags = {\"internal:*\"} }\n";

static void wrong_types_everywhere(void **state)
{
	static const char *const objs[] = {
	    "{\"type\":7,\"id\":[1]}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"labels\":\"tlp:red\"}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"labels\":[1,null,{\"a\":1}]}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"object_marking_refs\":{\"x\":1}}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"granular_markings\":[{\"marking_"
	    "ref\":5},7]}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"x_misp_distribution\":[2]}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"x_misp_distribution\":\"22\"}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"pattern\":42,\"modified\":"
	    "\"yesterday\"}",
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"pattern\":\"[email-addr:value = "
	    "'unterminated\"}",
	    "{\"type\":\"identity\",\"id\":\"identity--1\",\"identity_class\":\"individual\","
	    "\"name\":{\"first\":1}}",
	    "{\"type\":\"email-addr\",\"id\":\"email-addr--1\",\"value\":\"@@@.@\",\"modified\":"
	    "\"2026-13-45T99:99:99Z\"}",
	};
	struct sl_policy *p = pt_policy(policy);
	struct sl_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		json_t *o = pt_json(objs[i]);
		struct sl_policy_decision *d =
		    sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
		json_t *row;
		assert_non_null(d);
		row = sl_policy_decision_to_json(d);
		assert_non_null(row);
		json_decref(row);
		sl_policy_decision_free(d);
		json_decref(o);
	}
	/* a distribution that is not a level is never read as an accepted one */
	{
		json_t *o = pt_json(objs[6]);
		struct sl_policy_decision *d =
		    sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
		assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
		sl_policy_decision_free(d);
		json_decref(o);
	}
	/* marking refs that are not a list: read as RED */
	{
		json_t *o = pt_json(objs[3]);
		struct sl_policy_decision *d =
		    sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
		assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
		sl_policy_decision_free(d);
		json_decref(o);
	}
	sl_policy_free(p);
}

static void bundle_with_junk_entries_still_decides_the_rest(void **state)
{
	struct sl_policy *p = pt_policy(policy);
	json_t *b = pt_json(
	    "{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":[\"junk\", 3, null,"
	    "{\"type\":\"malware\",\"id\":\"malware--1\",\"name\":\"x\"},"
	    "{\"type\":\"report\",\"id\":\"report--1\",\"object_refs\":[7,\"malware--1\"]}]}");
	json_t *out = NULL;
	struct sl_policy_decision **decs = NULL;
	size_t n = 0;
	struct sl_err err;

	(void)state;
	assert_int_equal(
	    sl_policy_decide_bundle(sl_policy_dest_at(p, 0), b, NOW, &out, &decs, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_int_equal(sl_policy_decision_verdict(decs[0]), SL_POLICY_DENY);
	assert_non_null(
	    strstr(sl_policy_decision_rule(decs[1]), "objects[1] is not a JSON object"));
	assert_int_equal(sl_policy_decision_verdict(decs[3]), SL_POLICY_ALLOW);
	assert_int_equal(json_array_size(json_object_get(out, "objects")), 2);
	sl_policy_decisions_free(decs, n);
	json_decref(out);
	json_decref(b);
	/* not a bundle at all */
	b = pt_json("{\"type\":\"bundle\",\"objects\":{}}");
	assert_int_not_equal(
	    sl_policy_decide_bundle(sl_policy_dest_at(p, 0), b, NOW, &out, &decs, &n, &err), 0);
	assert_non_null(strstr(err.msg, "objects"));
	assert_null(out);
	json_decref(b);
	sl_policy_free(p);
}

static void misp_event_with_junk(void **state)
{
	struct sl_policy *p = pt_policy(policy);
	json_t *ev = pt_json(
	    "{\"Event\":{\"uuid\":\"e1\",\"distribution\":\"3\",\"Tag\":[7,{\"name\":5},{\"name\":"
	    "\"tlp:green\"}],"
	    "\"Attribute\":[\"x\",{\"uuid\":\"a1\",\"type\":\"domain\",\"value\":\"ok.example\"},"
	    "{\"uuid\":\"a2\",\"type\":\"domain\",\"value\":\"internal.example\",\"Tag\":[{"
	    "\"name\":"
	    "\"internal:only\"}]}],\"Object\":[5,{\"uuid\":\"o1\",\"Attribute\":{}}]}}");
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_misp_event(sl_policy_dest_at(p, 0), ev, NOW, &err);

	(void)state;
	assert_non_null(d);
	assert_true(pt_contains(sl_policy_decision_object(d), "ok.example"));
	assert_false(pt_contains(sl_policy_decision_object(d), "internal.example"));
	sl_policy_decision_free(d);
	json_decref(ev);
	ev = pt_json("[1,2]");
	assert_null(sl_policy_decide_misp_event(sl_policy_dest_at(p, 0), ev, NOW, &err));
	assert_int_equal(err.code, SL_EINVAL);
	json_decref(ev);
	sl_policy_free(p);
}

static void many_tags_and_markings(void **state)
{
	struct sl_policy *p = pt_policy(policy);
	json_t *o = pt_json("{\"type\":\"malware\",\"id\":\"malware--1\"}"), *labels = json_array(),
	       *refs = json_array();
	struct sl_err err;
	struct sl_policy_decision *d;
	int i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		json_array_append_new(labels, json_sprintf("label-%d", i));
		json_array_append_new(refs, json_string(PT_GREEN));
	}
	json_array_append_new(labels, json_string("internal:late"));
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "object_marking_refs", refs);
	d = sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	assert_non_null(strstr(sl_policy_decision_rule(d), "internal:late"));
	sl_policy_decision_free(d);
	json_decref(o);
	sl_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(wrong_types_everywhere),
	    cmocka_unit_test(bundle_with_junk_entries_still_decides_the_rest),
	    cmocka_unit_test(misp_event_with_junk),
	    cmocka_unit_test(many_tags_and_markings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
