/* test_distribution.c — MISP distribution as MISP applies it: levels 0-5, sharing groups (policy
 * membership, orgs and servers carried by the event), the push downgrade 2 -> 1, attribute- and
 * object-level removal with references updated, and the same rules on STIX objects
 * (x_misp_distribution) and bundles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_policy_util.h"

#define NOW 1795200000LL
#define SG "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
#define ORG "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a"

static const char *policy_text = "destination \"connected\" { kind = \"misp\" max_tlp = \"amber\" "
                                 "unmarked = \"green\" distribution = {2, 3} }\n"
                                 "destination \"community\" { kind = \"misp\" max_tlp = \"amber\" "
                                 "unmarked = \"green\" distribution = {1, 2, 3} }\n"
                                 "destination \"own\" { kind = \"opencti\" own_org = true max_tlp "
                                 "= \"amber\" unmarked = \"green\"\n"
                                 "  distribution = {0, 1, 2, 3} }\n"
                                 "destination \"sg-listed\" { kind = \"misp\" max_tlp = \"amber\" "
                                 "unmarked = \"green\" distribution = {3}\n"
                                 "  sharing_groups = {\"" SG "\"} }\n"
                                 "destination \"sg-org\" { kind = \"misp\" max_tlp = \"amber\" "
                                 "unmarked = \"green\" distribution = {3}\n"
                                 "  org_uuid = \"" ORG "\" }\n"
                                 "destination \"sg-server\" { kind = \"misp\" max_tlp = \"amber\" "
                                 "unmarked = \"green\" distribution = {3}\n"
                                 "  server = \"https://misp.partner.example\" }\n"
                                 "destination \"taxii\" { kind = \"taxii\" max_tlp = \"amber\" "
                                 "unmarked = \"green\" distribution = {2, 3} }\n";

static json_t *event_at(int level)
{
	char buf[2048];

	snprintf(
	    buf, sizeof(buf),
	    "{\"Event\":{\"uuid\":\"e0000000-0000-4000-8000-000000000001\",\"info\":\"x\","
	    "\"timestamp\":\"1795100000\","
	    "\"distribution\":\"%d\",\"sharing_group_id\":\"7\",\"Tag\":[{\"name\":\"tlp:green\"}],"
	    "\"SharingGroup\":{\"uuid\":\"" SG "\",\"name\":\"partners\","
	    "\"SharingGroupOrg\":[{\"Organisation\":{\"uuid\":\"" ORG "\"}}],"
	    "\"SharingGroupServer\":[{\"Server\":{\"url\":\"https://"
	    "misp.partner.example\",\"name\":\"partner\"}}]},"
	    "\"Attribute\":[{\"uuid\":\"a0000000-0000-4000-8000-000000000001\",\"type\":\"domain\","
	    "\"value\":"
	    "\"evil.example\",\"distribution\":\"5\",\"timestamp\":\"1795100000\"}]}}",
	    level);
	return pt_json(buf);
}

static enum sl_policy_verdict event_verdict(const struct sl_policy *p, const char *dest, json_t *ev,
                                            json_t **out)
{
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_misp_event(sl_policy_dest_find(p, dest), ev, NOW, &err);
	enum sl_policy_verdict v;

	assert_non_null(d);
	v = sl_policy_decision_verdict(d);
	if (out)
		*out = sl_policy_decision_take_object(d);
	sl_policy_decision_free(d);
	return v;
}

/* Each level against each destination, written out from MISP's table (misp-api.md section 4). */
static void every_level_every_destination(void **state)
{
	static const char *const dests[] = {"connected", "community", "own",  "sg-listed",
	                                    "sg-org",    "sg-server", "taxii"};
	/* go[level][dest] */
	static const int go[6][7] = {
	    {0, 0, 1, 0, 0, 0, 0}, /* 0 your organisation only: the own-org destination alone */
	    {0, 1, 1, 0, 0, 0, 0}, /* 1 this community */
	    {1, 1, 1, 0, 0, 0, 1}, /* 2 connected communities */
	    {1, 1, 1, 1, 1, 1, 1}, /* 3 all */
	    {0, 0, 0, 1, 1, 1, 0}, /* 4 sharing group: members only (listed, by org, by server) */
	    {0, 0, 0, 0, 0, 0, 0}, /* 5 inherit: an event has nothing to inherit from */
	};
	struct sl_policy *p = pt_policy(policy_text);
	int l, i;

	(void)state;
	for (l = 0; l <= 5; l++)
		for (i = 0; i < 7; i++) {
			json_t *ev = event_at(l), *out = NULL;
			enum sl_policy_verdict v = event_verdict(p, dests[i], ev, &out);
			if ((v != SL_POLICY_DENY) != go[l][i])
				fail_msg("event distribution %d to %s: %s", l, dests[i],
				         sl_policy_verdict_name(v));
			json_decref(ev);
			json_decref(out);
		}
	sl_policy_free(p);
}

static void connected_is_downgraded_on_push_to_misp(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *ev = event_at(2), *out = NULL;

	(void)state;
	assert_int_equal(event_verdict(p, "connected", ev, &out), SL_POLICY_ALLOW_CHANGED);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(out, "Event"), "distribution")), "1");
	json_decref(out);
	/* not for a TAXII partner: the level is MISP's business */
	assert_int_equal(event_verdict(p, "taxii", ev, &out), SL_POLICY_ALLOW);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(out, "Event"), "distribution")), "2");
	json_decref(out);
	/* the input is never modified */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(ev, "Event"), "distribution")), "2");
	json_decref(ev);
	sl_policy_free(p);
}

static void attributes_and_objects_removed_refs_updated(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *ev = pt_json(
	    "{\"Event\":{\"uuid\":\"e1\",\"info\":\"x\",\"distribution\":3,\"timestamp\":"
	    "1795100000,"
	    "\"Tag\":[{\"name\":\"tlp:green\"}],\"Attribute\":["
	    "{\"uuid\":\"keep-inherit\",\"type\":\"domain\",\"value\":\"a.example\","
	    "\"distribution\":5},"
	    "{\"uuid\":\"drop-org\",\"type\":\"domain\",\"value\":\"b.example\",\"distribution\":0}"
	    ","
	    "{\"uuid\":\"drop-community\",\"type\":\"domain\",\"value\":\"c.example\","
	    "\"distribution\":\"1\"},"
	    "{\"uuid\":\"drop-sg\",\"type\":\"domain\",\"value\":\"d.example\",\"distribution\":4,"
	    "\"sharing_group_id\":9,"
	    "\"SharingGroup\":{\"uuid\":\"11111111-2222-4333-8444-555555555555\"}},"
	    "{\"uuid\":\"drop-red\",\"type\":\"domain\",\"value\":\"e.example\",\"distribution\":5,"
	    "\"Tag\":[{\"name\":"
	    "\"tlp:red\"}]},"
	    "{\"uuid\":\"keep-down\",\"type\":\"domain\",\"value\":\"f.example\",\"distribution\":"
	    "2}],"
	    "\"Object\":[{\"uuid\":\"obj-gone\",\"name\":\"domain-ip\",\"distribution\":1,"
	    "\"Attribute\":["
	    "{\"uuid\":\"oa1\",\"type\":\"domain\",\"value\":\"g.example\",\"distribution\":5}]},"
	    "{\"uuid\":\"obj-kept\",\"name\":\"domain-ip\",\"distribution\":5,\"Attribute\":["
	    "{\"uuid\":\"oa2\",\"type\":\"domain\",\"value\":\"h.example\",\"distribution\":5},"
	    "{\"uuid\":\"oa3\",\"type\":\"domain\",\"value\":\"i.example\",\"distribution\":0}],"
	    "\"ObjectReference\":[{\"referenced_uuid\":\"obj-gone\"},{\"referenced_uuid\":\"drop-"
	    "red\"},"
	    "{\"referenced_uuid\":\"keep-inherit\"},{\"referenced_uuid\":\"oa3\"}]}]}}");
	json_t *out = NULL, *e, *attrs, *objs, *refs;
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_misp_event(sl_policy_dest_find(p, "connected"), ev, NOW, &err);
	char *s;

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW_CHANGED);
	out = (json_t *)sl_policy_decision_object(d);
	e = json_object_get(out, "Event");
	attrs = json_object_get(e, "Attribute");
	assert_int_equal(json_array_size(attrs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(attrs, 0), "uuid")),
	                    "keep-inherit");
	assert_string_equal(json_string_value(json_object_get(json_array_get(attrs, 1), "uuid")),
	                    "keep-down");
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(attrs, 1), "distribution")), 1);
	objs = json_object_get(e, "Object");
	assert_int_equal(json_array_size(objs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(objs, 0), "uuid")),
	                    "obj-kept");
	assert_int_equal(json_array_size(json_object_get(json_array_get(objs, 0), "Attribute")), 1);
	refs = json_object_get(json_array_get(objs, 0), "ObjectReference");
	assert_int_equal(json_array_size(refs), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(refs, 0), "referenced_uuid")),
	    "keep-inherit");
	/* every removal is a change naming its path and its reason */
	s = json_dumps(sl_policy_decision_changes(d), JSON_COMPACT);
	assert_non_null(strstr(s, "Attribute[drop-org]"));
	assert_non_null(strstr(s, "Attribute[drop-sg]"));
	assert_non_null(strstr(s, "not a member"));
	assert_non_null(strstr(s, "RED never leaves"));
	assert_non_null(strstr(s, "Object[obj-gone]"));
	assert_non_null(strstr(s, "ObjectReference[drop-red]"));
	free(s);
	assert_non_null(strstr(sl_policy_decision_rule(d), "6 of 9 attributes withheld"));
	/* explain shows every attribute's own decision */
	assert_int_equal(json_array_size(sl_policy_decision_items(d)), 9);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(sl_policy_decision_items(d), 1), "id")),
	                    "drop-org");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(sl_policy_decision_items(d), 1), "decision")),
	                    "deny");
	sl_policy_decision_free(d);
	json_decref(ev);
	sl_policy_free(p);
}

static void attribute_sharing_group_is_the_events(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	/* event for all, one attribute for the event's sharing group (named by its local id only)
	 */
	json_t *ev = event_at(3), *out = NULL, *a;

	(void)state;
	a = json_array_get(json_object_get(json_object_get(ev, "Event"), "Attribute"), 0);
	json_object_set_new(a, "distribution", json_string("4"));
	json_object_set_new(a, "sharing_group_id", json_string("7"));
	assert_int_equal(event_verdict(p, "sg-org", ev, &out), SL_POLICY_ALLOW);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(out, "Event"), "Attribute")), 1);
	json_decref(out);
	assert_int_equal(event_verdict(p, "connected", ev, &out), SL_POLICY_ALLOW_CHANGED);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(out, "Event"), "Attribute")), 0);
	json_decref(out);
	json_decref(ev);
	sl_policy_free(p);
}

static void stix_objects_carry_misp_distribution(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *o =
	    pt_json("{\"type\":\"indicator\",\"id\":\"indicator--1\",\"x_misp_distribution\":2,"
	            "\"object_marking_refs\":[\"" PT_GREEN "\"]}");
	json_t *o4 =
	    pt_json("{\"type\":\"indicator\",\"id\":\"indicator--2\",\"x_misp_distribution\":\"4\","
	            "\"x_misp_sharing_group_uuid\":\"" SG "\"}");
	json_t *ctxm = pt_json("{\"distribution\":0}");
	struct sl_policy_ctx ctx = {NULL, NULL, ctxm, NULL};
	struct sl_err err;
	struct sl_policy_decision *d;

	(void)state;
	d = sl_policy_decide_stix(sl_policy_dest_find(p, "connected"), o, NULL, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW_CHANGED);
	assert_int_equal(json_integer_value(
	                     json_object_get(sl_policy_decision_object(d), "x_misp_distribution")),
	                 1);
	sl_policy_decision_free(d);
	d = sl_policy_decide_stix(sl_policy_dest_find(p, "community"), o4, NULL, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	sl_policy_decision_free(d);
	d = sl_policy_decide_stix(sl_policy_dest_find(p, "sg-listed"), o4, NULL, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
	sl_policy_decision_free(d);
	/* a caller-supplied MISP context wins over nothing */
	json_object_del(o, "x_misp_distribution");
	d = sl_policy_decide_stix(sl_policy_dest_find(p, "community"), o, &ctx, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	assert_non_null(strstr(sl_policy_decision_rule(d), "distribution 0"));
	sl_policy_decision_free(d);
	d = sl_policy_decide_stix(sl_policy_dest_find(p, "own"), o, &ctx, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
	sl_policy_decision_free(d);
	json_decref(o);
	json_decref(o4);
	json_decref(ctxm);
	sl_policy_free(p);
}

/* One object decided alone (sl_policy_decide_stix, as the sync decides a stored report it rebuilds
 * an event around) with its sharing group's definition in the context: members by organisation
 * or server, as in a bundle; the object's own uuid or its container's is looked up. */
static void stix_object_sharing_group_from_context(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *own =
	    pt_json("{\"type\":\"report\",\"id\":\"report--1\",\"x_misp_distribution\":4,"
	            "\"x_misp_sharing_group_uuid\":\"A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D\","
	            "\"object_marking_refs\":[\"" PT_GREEN "\"],\"object_refs\":["
	            "\"indicator--1\"]}");
	json_t *bare = pt_json("{\"type\":\"indicator\",\"id\":\"indicator--1\","
	                       "\"object_marking_refs\":[\"" PT_GREEN "\"]}");
	json_t *conts = json_pack("[O]", own);
	json_t *dir = pt_json("{\"" SG "\":{\"uuid\":\"" SG "\",\"SharingGroupOrg\":["
	                      "{\"Organisation\":{\"uuid\":\"" ORG "\"}}],"
	                      "\"SharingGroupServer\":[{\"Server\":{\"url\":"
	                      "\"https://misp.partner.example\",\"name\":\"partner\"}}]}}");
	struct sl_policy_ctx none = {NULL, NULL, NULL, NULL}, with = {NULL, NULL, NULL, dir},
	                     in_cont = {conts, NULL, NULL, dir};
	static const char *const dests[] = {"sg-org", "sg-server"};
	struct sl_policy_decision *d;
	struct sl_err err;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		const struct sl_policy_dest *dd = sl_policy_dest_find(p, dests[i]);
		d = sl_policy_decide_stix(dd, own, &none, NOW, &err);
		assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
		sl_policy_decision_free(d);
		d = sl_policy_decide_stix(dd, own, &with, NOW, &err);
		assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
		sl_policy_decision_free(d);
		/* an object of the event, decided with the report as its container */
		d = sl_policy_decide_stix(dd, bare, &in_cont, NOW, &err);
		assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
		sl_policy_decision_free(d);
	}
	/* a destination in no way a member stays out */
	d = sl_policy_decide_stix(sl_policy_dest_find(p, "community"), own, &with, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	sl_policy_decision_free(d);
	json_decref(own);
	json_decref(bare);
	json_decref(conts);
	json_decref(dir);
	sl_policy_free(p);
}

static void bundle_drops_ids_from_refs(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *b =
	    pt_json("{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":["
	            "{\"type\":\"report\",\"id\":\"report--1\",\"x_misp_distribution\":3,\"object_"
	            "marking_refs\":[\"" PT_GREEN "\"],"
	            "\"object_refs\":[\"indicator--ok\",\"indicator--org\",\"relationship--1\","
	            "\"malware--1\"]},"
	            "{\"type\":\"indicator\",\"id\":\"indicator--ok\",\"x_misp_distribution\":5},"
	            "{\"type\":\"indicator\",\"id\":\"indicator--org\",\"x_misp_distribution\":0},"
	            "{\"type\":\"malware\",\"id\":\"malware--1\"},"
	            "{\"type\":\"relationship\",\"id\":\"relationship--1\",\"source_ref\":"
	            "\"indicator--org\","
	            "\"target_ref\":\"malware--1\"}]}");
	json_t *out = NULL, *objs, *refs;
	struct sl_policy_decision **decs = NULL;
	size_t n = 0, i;
	struct sl_err err;

	(void)state;
	assert_int_equal(sl_policy_decide_bundle(sl_policy_dest_find(p, "connected"), b, NOW, &out,
	                                         &decs, &n, &err),
	                 0);
	assert_int_equal(n, 5);
	assert_int_equal(sl_policy_decision_verdict(decs[0]), SL_POLICY_ALLOW_CHANGED);
	assert_int_equal(sl_policy_decision_verdict(decs[1]), SL_POLICY_ALLOW);
	assert_int_equal(sl_policy_decision_verdict(decs[2]), SL_POLICY_DENY);
	assert_int_equal(sl_policy_decision_verdict(decs[3]), SL_POLICY_ALLOW);
	assert_int_equal(sl_policy_decision_verdict(decs[4]), SL_POLICY_DENY);
	assert_non_null(
	    strstr(sl_policy_decision_rule(decs[4]), "refers to withheld indicator--org"));
	objs = json_object_get(out, "objects");
	assert_int_equal(json_array_size(objs), 3);
	refs = json_object_get(json_array_get(objs, 0), "object_refs");
	assert_int_equal(json_array_size(refs), 2);
	json_array_foreach(objs, i, refs)
	    assert_false(pt_contains(refs, "indicator--org\"") &&
	                 strcmp(json_string_value(json_object_get(refs, "type")), "report") == 0);
	assert_false(pt_contains(json_object_get(json_array_get(objs, 0), "object_refs"),
	                         "relationship--1"));
	/* the input bundle is untouched */
	assert_int_equal(json_array_size(json_object_get(
	                     json_array_get(json_object_get(b, "objects"), 0), "object_refs")),
	                 4);
	sl_policy_decisions_free(decs, n);
	json_decref(out);
	json_decref(b);
	sl_policy_free(p);
}

static void type_lists_apply_to_attributes_not_the_event(void **state)
{
	struct sl_policy *p =
	    pt_policy("destination \"d\" { max_tlp = \"amber\" unmarked = \"green\"\n"
	              "  allow_types = {\"domain\"} }\n");
	json_t *ev = event_at(3), *out = NULL, *attrs;

	(void)state;
	attrs = json_object_get(json_object_get(ev, "Event"), "Attribute");
	json_array_append_new(attrs,
	                      json_pack("{s:s, s:s, s:s, s:s}", "uuid", "ip-attr", "type", "ip-dst",
	                                "value", "192.0.2.1", "distribution", "5"));
	assert_int_equal(event_verdict(p, "d", ev, &out), SL_POLICY_ALLOW_CHANGED);
	assert_true(pt_contains(out, "evil.example"));
	assert_false(pt_contains(out, "ip-attr"));
	json_decref(out);
	json_decref(ev);
	sl_policy_free(p);
}

/* The verdicts of the bundle's objects (rows) for destination name, with directory sgs. */
static void rows_verdicts(const struct sl_policy *p, const json_t *b, const json_t *sgs,
                          const char *name, enum sl_policy_verdict *v, size_t n)
{
	struct sl_policy_rows *rows = NULL;
	struct sl_err err;
	size_t d, i;

	assert_int_equal(
	    sl_policy_decide_bundle_rows_sg(p, b, sgs, NOW, SL_POLICY_ROWS_TEXT, &rows, &err), 0);
	assert_int_equal(sl_policy_rows_count(rows), n);
	for (d = 0; d < sl_policy_dest_count(p); d++)
		if (strcmp(sl_policy_dest_name(sl_policy_dest_at(p, d)), name) == 0)
			break;
	assert_true(d < sl_policy_dest_count(p));
	for (i = 0; i < n; i++)
		v[i] = sl_policy_rows_dest(rows, d)[i].verdict;
	sl_policy_rows_free(rows);
}

static enum sl_policy_verdict rows_verdict(const struct sl_policy *p, const json_t *b,
                                           const json_t *sgs, const char *name, size_t i)
{
	enum sl_policy_verdict v[2];

	rows_verdicts(p, b, sgs, name, v, 2);
	return v[i];
}

/* sluice run hands the bundle decision the sharing groups' definitions: a destination is a member
 * by its org_uuid or server too, for the object itself and for what its container lists. */
static void bundle_sharing_group_members_by_org_and_server(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	/* the report names the group in upper case: it is still found */
	json_t *b = pt_json(
	    "{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":["
	    "{\"type\":\"report\",\"id\":\"report--1\",\"x_misp_distribution\":4,"
	    "\"x_misp_sharing_group_uuid\":\"A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D\","
	    "\"object_marking_refs\":[\"" PT_GREEN "\"],\"object_refs\":[\"indicator--1\"]},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"x_misp_distribution\":4,"
	    "\"x_misp_sharing_group_uuid\":\"" SG "\","
	    "\"object_marking_refs\":[\"" PT_GREEN "\"]}]}");
	json_t *by_org = pt_json("{\"" SG "\":{\"uuid\":\"" SG "\",\"SharingGroupOrg\":["
	                         "{\"Organisation\":{\"uuid\":\"" ORG "\"}}],"
	                         "\"SharingGroupServer\":[{\"Server\":{\"url\":"
	                         "\"https://misp.partner.example\",\"name\":\"partner\"}}]}}");
	json_t *flat = pt_json("{\"" SG "\":{\"uuid\":\"" SG "\",\"SharingGroupOrg\":["
	                       "{\"org_uuid\":\"" ORG "\"}]}}");
	enum sl_policy_verdict v[2];
	size_t i;

	(void)state;
	/* without a definition: members by the uuid list only */
	for (i = 0; i < 2; i++) {
		assert_int_equal(rows_verdict(p, b, NULL, "sg-listed", i), SL_POLICY_ALLOW);
		assert_int_equal(rows_verdict(p, b, NULL, "sg-org", i), SL_POLICY_DENY);
		assert_int_equal(rows_verdict(p, b, NULL, "sg-server", i), SL_POLICY_DENY);
	}
	/* with one: by org and by server too; a non-member still is not */
	rows_verdicts(p, b, by_org, "sg-org", v, 2);
	assert_int_equal(v[0], SL_POLICY_ALLOW);
	assert_int_equal(v[1], SL_POLICY_ALLOW);
	rows_verdicts(p, b, by_org, "sg-server", v, 2);
	assert_int_equal(v[0], SL_POLICY_ALLOW);
	assert_int_equal(v[1], SL_POLICY_ALLOW);
	rows_verdicts(p, b, by_org, "sg-listed", v, 2);
	assert_int_equal(v[0], SL_POLICY_ALLOW);
	assert_int_equal(v[1], SL_POLICY_ALLOW);
	rows_verdicts(p, b, by_org, "community", v, 2);
	assert_int_equal(v[0], SL_POLICY_DENY);
	assert_int_equal(v[1], SL_POLICY_DENY);
	rows_verdicts(p, b, by_org, "taxii", v, 2);
	assert_int_equal(v[0], SL_POLICY_DENY);
	/* MISP's flat form (org_uuid), no servers */
	assert_int_equal(rows_verdict(p, b, flat, "sg-org", 1), SL_POLICY_ALLOW);
	assert_int_equal(rows_verdict(p, b, flat, "sg-server", 1), SL_POLICY_DENY);
	/* an object with no group of its own inherits its container's, definition included */
	json_object_del(json_array_get(json_object_get(b, "objects"), 1), "x_misp_distribution");
	json_object_del(json_array_get(json_object_get(b, "objects"), 1),
	                "x_misp_sharing_group_uuid");
	assert_int_equal(rows_verdict(p, b, by_org, "sg-org", 1), SL_POLICY_ALLOW);
	assert_int_equal(rows_verdict(p, b, NULL, "sg-org", 1), SL_POLICY_DENY);
	json_decref(flat);
	json_decref(by_org);
	json_decref(b);
	sl_policy_free(p);
}

/* Verdict classes are kept in the policy across calls: a group whose members changed between two
 * calls (same uuid, another definition) must not be decided with the old members. */
static void bundle_sharing_group_change_not_cached(void **state)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *b =
	    pt_json("{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":["
	            "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"x_misp_distribution\":"
	            "4,\"x_misp_sharing_group_uuid\":\"" SG "\","
	            "\"object_marking_refs\":[\"" PT_GREEN "\"]},"
	            "{\"type\":\"indicator\",\"id\":\"indicator--2\",\"x_misp_distribution\":"
	            "4,\"x_misp_sharing_group_uuid\":\"" SG "\","
	            "\"object_marking_refs\":[\"" PT_GREEN "\"]}]}");
	json_t *with = pt_json("{\"" SG "\":{\"uuid\":\"" SG "\",\"SharingGroupOrg\":["
	                       "{\"Organisation\":{\"uuid\":\"" ORG "\"}}]}}");
	json_t *without = pt_json("{\"" SG "\":{\"uuid\":\"" SG "\",\"SharingGroupOrg\":["
	                          "{\"Organisation\":{\"uuid\":\"00000000-0000-4000-8000-"
	                          "000000000000\"}}]}}");
	int round;

	(void)state;
	for (round = 0; round < 2; round++) {
		assert_int_equal(rows_verdict(p, b, with, "sg-org", 0), SL_POLICY_ALLOW);
		assert_int_equal(rows_verdict(p, b, without, "sg-org", 0), SL_POLICY_DENY);
		assert_int_equal(rows_verdict(p, b, with, "sg-org", 1), SL_POLICY_ALLOW);
		assert_int_equal(rows_verdict(p, b, NULL, "sg-org", 1), SL_POLICY_DENY);
	}
	/* the same directory object edited in place between calls */
	json_array_clear(json_object_get(json_object_get(with, SG), "SharingGroupOrg"));
	assert_int_equal(rows_verdict(p, b, with, "sg-org", 0), SL_POLICY_DENY);
	json_decref(without);
	json_decref(with);
	json_decref(b);
	sl_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_level_every_destination),
	    cmocka_unit_test(connected_is_downgraded_on_push_to_misp),
	    cmocka_unit_test(attributes_and_objects_removed_refs_updated),
	    cmocka_unit_test(attribute_sharing_group_is_the_events),
	    cmocka_unit_test(stix_objects_carry_misp_distribution),
	    cmocka_unit_test(stix_object_sharing_group_from_context),
	    cmocka_unit_test(bundle_drops_ids_from_refs),
	    cmocka_unit_test(type_lists_apply_to_attributes_not_the_event),
	    cmocka_unit_test(bundle_sharing_group_members_by_org_and_server),
	    cmocka_unit_test(bundle_sharing_group_change_not_cached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
