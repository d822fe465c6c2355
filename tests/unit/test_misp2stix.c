/* test_misp2stix.c — MISP event -> STIX 2.1: the event container, each attribute family, objects,
 * galaxies, TLP, sightings, and bad input (warnings name the event and attribute; the rest is
 * mapped). Expected values are written from misp-stix's documented output, not computed by the code
 * under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "misp2stix.h"
#include "stix_pattern.h"

#define EV "a6ef17d6-91cb-4a05-b10b-2f045daf874c"
#define ORG "55f6ea5e-2c60-40e5-964f-47a8950d210f"
#define U1 "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f"
#define U2 "518b4bcb-a86b-4783-9457-391d548b605b"
#define U3 "34cb1a7c-55ec-412a-8684-ba4a88d83a45"

/* An event with the given Attribute / Object / Galaxy / Tag JSON lists. */
static json_t *event(const char *attrs, const char *objects, const char *galaxies, const char *tags,
                     int published)
{
	char buf[65536];
	json_error_t je;
	json_t *e;

	snprintf(buf, sizeof(buf),
	         "{\"Event\": {\"uuid\": \"" EV "\", \"info\": \"test event\", "
	         "\"timestamp\": \"1603642920\", \"published\": %s, \"publish_timestamp\": "
	         "\"1603642980\", \"Orgc\": {\"name\": \"CIRCL\", \"uuid\": \"" ORG "\"}, "
	         "\"Attribute\": %s, \"Object\": %s, \"Galaxy\": %s, \"Tag\": %s}}",
	         published ? "true" : "false", attrs ? attrs : "[]", objects ? objects : "[]",
	         galaxies ? galaxies : "[]", tags ? tags : "[]");
	e = json_loads(buf, 0, &je);
	if (!e)
		fail_msg("bad test JSON: %s: %s", je.text, buf);
	return e;
}

static json_t *attr(const char *uuid, const char *type, const char *value, int to_ids)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "uuid", uuid, "type", type, "value",
	                 value, "category", "Network activity", "to_ids", to_ids, "timestamp",
	                 "1603642920", "comment", "c");
}

static json_t *event_with(json_t *attrs)
{
	json_t *e = event(NULL, NULL, NULL, NULL, 0);

	json_object_set_new(json_object_get(e, "Event"), "Attribute", attrs);
	return e;
}

static json_t *convert(json_t *ev, json_t *warnings, const struct sl_map_opts *opts)
{
	struct sl_err err;
	json_t *b = sl_misp_to_stix(ev, opts, warnings, &err);

	if (!b)
		fail_msg("conversion failed: %s: %s", err.where, err.msg);
	return b;
}

static json_t *find(json_t *bundle, const char *id)
{
	size_t i;
	json_t *o;

	json_array_foreach(
	    json_object_get(bundle, "objects"), i,
	    o) if (!strcmp(json_string_value(json_object_get(o, "id")), id)) return o;
	return NULL;
}

static const char *sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int array_has(json_t *a, const char *s)
{
	size_t i;
	json_t *x;

	json_array_foreach(a, i,
	                   x) if (json_is_string(x) && !strcmp(json_string_value(x), s)) return 1;
	return 0;
}

static int warning_mentions(json_t *w, const char *a, const char *b)
{
	size_t i;
	json_t *x;

	json_array_foreach(w, i, x)
	{
		char all[1200];
		snprintf(all, sizeof(all), "%s %s", sget(x, "where"), sget(x, "message"));
		if (strstr(all, a) && (!b || strstr(all, b)))
			return 1;
	}
	return 0;
}

/* ---- the event ---------------------------------------------------------------------------- */

static void unpublished_is_grouping_published_is_report(void **state)
{
	(void)state;
	json_t *e = event(NULL, NULL, NULL, NULL, 0), *b = convert(e, NULL, NULL);
	assert_string_equal(sget(b, "id"), "bundle--" EV);
	json_t *g = find(b, "grouping--" EV);
	assert_non_null(g);
	assert_string_equal(sget(g, "context"), "suspicious-activity");
	assert_string_equal(sget(g, "created"), "2020-10-25T16:22:00.000Z");
	assert_string_equal(sget(g, "created_by_ref"), "identity--" ORG);
	json_t *id = find(b, "identity--" ORG);
	assert_string_equal(sget(id, "identity_class"), "organization");
	/* an empty event gets misp-stix's note so object_refs is not empty */
	assert_non_null(find(b, "note--" EV));
	assert_true(array_has(json_object_get(g, "object_refs"), "note--" EV));
	json_decref(b);
	json_decref(e);

	e = event(NULL, NULL, NULL, NULL, 1);
	b = convert(e, NULL, NULL);
	json_t *r = find(b, "report--" EV);
	assert_non_null(r);
	assert_string_equal(sget(r, "published"), "2020-10-25T16:23:00Z");
	assert_true(array_has(json_object_get(r, "labels"), "misp:tool=\"MISP-STIX-Converter\""));
	json_decref(b);
	json_decref(e);

	/* published without a publish timestamp is not published */
	e = event(NULL, NULL, NULL, NULL, 1);
	json_object_set_new(json_object_get(e, "Event"), "publish_timestamp", json_string("0"));
	b = convert(e, NULL, NULL);
	assert_non_null(find(b, "grouping--" EV));
	json_decref(b);
	json_decref(e);
}

/* ---- attribute families --------------------------------------------------------------------- */

static void ip_dst_observable_indicator_relationship(void **state)
{
	(void)state;
	json_t *e = event_with(json_pack("[o]", attr(U2, "ip-dst", "5.6.7.8", 1)));
	json_t *b = convert(e, NULL, NULL);
	json_t *od = find(b, "observed-data--" U2), *nt = find(b, "network-traffic--" U2);
	json_t *ip = find(b, "ipv4-addr--" U2), *ind = find(b, "indicator--" U2);
	assert_non_null(od);
	assert_string_equal(sget(od, "first_observed"), "2020-10-25T16:22:00Z");
	assert_string_equal(sget(nt, "dst_ref"), "ipv4-addr--" U2);
	assert_string_equal(sget(ip, "value"), "5.6.7.8");
	assert_string_equal(sget(ind, "pattern"), "[network-traffic:dst_ref.type = 'ipv4-addr' AND "
	                                          "network-traffic:dst_ref.value = '5.6.7.8']");
	assert_string_equal(sget(ind, "valid_from"), "2020-10-25T16:22:00Z");
	assert_true(array_has(json_object_get(ind, "labels"), "misp:type=\"ip-dst\""));
	/* the based-on relationship id is misp-stix's (t_event_with_ip_attributes in the corpus) */
	json_t *rel = find(b, "relationship--d0779bac-8ac6-5b28-ad47-c23c748879fe");
	assert_non_null(rel);
	assert_string_equal(sget(rel, "source_ref"), "indicator--" U2);
	assert_string_equal(sget(rel, "target_ref"), "observed-data--" U2);
	/* everything is referenced from the container */
	json_t *refs = json_object_get(find(b, "grouping--" EV), "object_refs");
	assert_int_equal(json_array_size(refs), 5);
	json_decref(b);
	json_decref(e);
}

static void ipv6_and_no_ids(void **state)
{
	(void)state;
	json_t *e = event_with(json_pack("[o]", attr(U1, "ip-src", "2001:db8::1", 0)));
	json_t *b = convert(e, NULL, NULL);
	assert_non_null(find(b, "ipv6-addr--" U1));
	assert_null(find(b, "indicator--" U1)); /* to_ids false: observed-data only */
	assert_string_equal(sget(find(b, "network-traffic--" U1), "src_ref"), "ipv6-addr--" U1);
	json_decref(b);
	json_decref(e);
}

static void composite_values_are_split(void **state)
{
	(void)state;
	json_t *e = event_with(json_pack(
	    "[o, o, o]", attr(U1, "filename|md5", "lotus.dll|FE16849EF307590D273E34F98DFF7E4C", 1),
	    attr(U2, "domain|ip", "example.com|1.2.3.4", 1),
	    attr(U3, "ip-src|port", "9.8.24.56|443", 1)));
	json_t *b = convert(e, NULL, NULL);
	json_t *f = find(b, "file--" U1);
	assert_string_equal(sget(f, "name"), "lotus.dll");
	/* PyMISP lower-cases hashes before misp-stix sees them */
	assert_string_equal(sget(json_object_get(f, "hashes"), "MD5"),
	                    "fe16849ef307590d273e34f98dff7e4c");
	assert_string_equal(sget(find(b, "indicator--" U1), "pattern"),
	                    "[file:name = 'lotus.dll' AND file:hashes.MD5 = "
	                    "'fe16849ef307590d273e34f98dff7e4c']");
	json_t *d = find(b, "domain-name--" U2);
	assert_true(array_has(json_object_get(d, "resolves_to_refs"), "ipv4-addr--" U2));
	assert_string_equal(sget(find(b, "indicator--" U2), "pattern"),
	                    "[domain-name:value = 'example.com' AND "
	                    "domain-name:resolves_to_refs[*].value = '1.2.3.4']");
	json_t *nt = find(b, "network-traffic--" U3);
	assert_int_equal(json_integer_value(json_object_get(nt, "src_port")), 443);
	assert_non_null(
	    strstr(sget(find(b, "indicator--" U3), "pattern"), "network-traffic:src_port = '443'"));
	json_decref(b);
	json_decref(e);
}

static void values_are_escaped_in_patterns(void **state)
{
	(void)state;
	json_t *e = event_with(
	    json_pack("[o, o]", attr(U1, "filename", "it's C:\\x.exe", 1),
	              attr(U2, "regkey|value", "HKLM\\Software\\quartz|%APPDATA%\\bravo.exe", 1)));
	json_t *b = convert(e, NULL, NULL);
	const char *p1 = sget(find(b, "indicator--" U1), "pattern");
	assert_string_equal(p1, "[file:name = 'it\\'s C:\\\\x.exe']");
	assert_int_equal(sl_pattern_validate(p1, NULL), 0);
	/* abbreviated hives are expanded (the schema forbids them); % escaped as misp-stix does */
	json_t *rk = find(b, "windows-registry-key--" U2);
	assert_string_equal(sget(rk, "key"), "HKEY_LOCAL_MACHINE\\Software\\quartz");
	const char *p2 = sget(find(b, "indicator--" U2), "pattern");
	assert_string_equal(
	    p2, "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\quartz' "
	        "AND windows-registry-key:values.data = "
	        "'\\\\%APPDATA\\\\%\\\\bravo.exe']");
	assert_int_equal(sl_pattern_validate(p2, NULL), 0);
	json_decref(b);
	json_decref(e);
}

static void indicator_only_and_rules(void **state)
{
	(void)state;
	json_t *e = event_with(json_pack("[o, o, o]", attr(U1, "port", "8443", 1),
	                                 attr(U2, "port", "22", 0),
	                                 attr(U3, "yara", "rule r { condition: true }", 0)));
	json_t *b = convert(e, NULL, NULL);
	assert_string_equal(sget(find(b, "indicator--" U1), "pattern"),
	                    "[network-traffic:dst_port = '8443']");
	assert_null(find(b, "observed-data--" U1));
	json_t *x = find(b, "x-misp-attribute--" U2);
	assert_string_equal(sget(x, "x_misp_value"), "22");
	json_t *y = find(b, "indicator--" U3);
	assert_string_equal(sget(y, "pattern_type"), "yara");
	assert_string_equal(sget(y, "pattern"), "[rule r { condition: true }]");
	json_decref(b);
	json_decref(e);
}

static void sdo_types(void **state)
{
	(void)state;
	json_t *e = event_with(json_pack("[o, o]", attr(U1, "vulnerability", "CVE-2017-11774", 0),
	                                 attr(U2, "campaign-name", "MartyMcFly", 0)));
	json_t *b = convert(e, NULL, NULL);
	json_t *v = find(b, "vulnerability--" U1);
	assert_string_equal(sget(v, "name"), "CVE-2017-11774");
	json_t *er = json_array_get(json_object_get(v, "external_references"), 0);
	assert_string_equal(sget(er, "source_name"), "cve");
	assert_string_equal(sget(find(b, "campaign--" U2), "name"), "MartyMcFly");
	json_decref(b);
	json_decref(e);
}

static void unmapped_type_warns_and_strict_fails(void **state)
{
	(void)state;
	json_t *w = json_array();
	json_t *e =
	    event_with(json_pack("[o]", attr(U1, "btc", "1XVhLsJe4PZ5LWV34QvK5ixw6gfZRWecsp", 1)));
	json_t *b = convert(e, w, NULL);
	assert_non_null(find(b, "x-misp-attribute--" U1));
	assert_true(warning_mentions(w, "MISP Attribute type btc not mapped", U1));
	assert_true(warning_mentions(w, EV, NULL));
	json_decref(b);

	struct sl_map_opts strict = {.strict = 1};
	struct sl_err err;
	assert_null(sl_misp_to_stix(e, &strict, NULL, &err));
	assert_int_equal(err.code, SL_EUNSUPPORTED);
	assert_non_null(strstr(err.where, EV));
	assert_non_null(strstr(err.where, U1));
	json_decref(e);
	json_decref(w);
}

/* ---- objects -------------------------------------------------------------------------------- */

static void file_object(void **state)
{
	(void)state;
	const char *objs =
	    "[{\"uuid\": \"" U1 "\", \"name\": \"file\", \"meta-category\": \"file\", "
	    "\"timestamp\": \"1603642920\", \"Attribute\": ["
	    "{\"uuid\": \"" U2 "\", \"object_relation\": \"filename\", \"type\": \"filename\", "
	    "\"value\": \"a.exe\", \"to_ids\": true},"
	    "{\"uuid\": \"" U3 "\", \"object_relation\": \"md5\", \"type\": \"md5\", "
	    "\"value\": \"db0b956af67442931a4c4555e1db7e9e\", \"to_ids\": true},"
	    "{\"uuid\": \"c1ea07c0-a855-4c47-9df2-4acc0d3c4e63\", \"object_relation\": "
	    "\"size-in-bytes\", \"type\": \"size-in-bytes\", \"value\": \"1234\", \"to_ids\": "
	    "false}"
	    "]}]";
	json_t *e = event(NULL, objs, NULL, NULL, 0), *b = convert(e, NULL, NULL);
	json_t *f = find(b, "file--" U1);
	assert_string_equal(sget(f, "name"), "a.exe");
	assert_int_equal(json_integer_value(json_object_get(f, "size")), 1234);
	assert_string_equal(sget(json_object_get(f, "hashes"), "MD5"),
	                    "db0b956af67442931a4c4555e1db7e9e");
	/* the pattern ANDs the to_ids attributes, hashes first (misp-stix's order) */
	assert_string_equal(sget(find(b, "indicator--" U1), "pattern"),
	                    "[file:hashes.MD5 = 'db0b956af67442931a4c4555e1db7e9e' AND "
	                    "file:name = 'a.exe']");
	json_t *od = find(b, "observed-data--" U1);
	assert_true(array_has(json_object_get(od, "labels"), "misp:name=\"file\""));
	json_decref(b);
	json_decref(e);
}

static void network_objects_and_references(void **state)
{
	(void)state;
	const char *objs =
	    "[{\"uuid\": \"" U1 "\", \"name\": \"ip-port\", \"meta-category\": \"network\", "
	    "\"timestamp\": \"1603642920\", \"ObjectReference\": [{\"uuid\": "
	    "\"c37bdf2c-8652-5612-b580-a416325c78ef\", \"referenced_uuid\": \"" U2 "\", "
	    "\"relationship_type\": \"connects-to\"}], \"Attribute\": ["
	    "{\"uuid\": \"" U3 "\", \"object_relation\": \"ip\", \"type\": \"ip-dst\", "
	    "\"value\": \"210.1.191.56\", \"to_ids\": true},"
	    "{\"uuid\": \"c1ea07c0-a855-4c47-9df2-4acc0d3c4e63\", \"object_relation\": "
	    "\"dst-port\", \"type\": \"port\", \"value\": \"443\", \"to_ids\": false}]},"
	    "{\"uuid\": \"" U2 "\", \"name\": \"url\", \"meta-category\": \"network\", "
	    "\"timestamp\": \"1603642920\", \"Attribute\": [{\"uuid\": "
	    "\"5421d979-9af5-45ae-8c81-5005a4d7fc55\", \"object_relation\": \"url\", \"type\": "
	    "\"url\", \"value\": \"http://x.example/gate.php\", \"to_ids\": false}]}]";
	json_t *e = event(NULL, objs, NULL, NULL, 0), *b = convert(e, NULL, NULL);
	json_t *nt = find(b, "network-traffic--" U1);
	assert_string_equal(sget(nt, "dst_ref"), "ipv4-addr--" U3);
	assert_int_equal(json_integer_value(json_object_get(nt, "dst_port")), 443);
	assert_string_equal(sget(find(b, "indicator--" U1), "pattern"),
	                    "[(network-traffic:dst_ref.type = 'ipv4-addr' AND "
	                    "network-traffic:dst_ref.value = '210.1.191.56')]");
	assert_string_equal(sget(find(b, "url--" U2), "value"), "http://x.example/gate.php");
	/* object references keep the MISP reference uuid as relationship id (observed in misp-stix)
	 */
	json_t *r = find(b, "relationship--c37bdf2c-8652-5612-b580-a416325c78ef");
	assert_non_null(r);
	assert_string_equal(sget(r, "source_ref"), "observed-data--" U1);
	assert_string_equal(sget(r, "target_ref"), "observed-data--" U2);
	json_decref(b);
	json_decref(e);
}

static void unmapped_object_is_custom_with_warning(void **state)
{
	(void)state;
	const char *objs =
	    "[{\"uuid\": \"" U1 "\", \"name\": \"btc-wallet\", \"meta-category\": "
	    "\"financial\", \"timestamp\": \"1603642920\", \"Attribute\": [{\"uuid\": "
	    "\"" U2 "\", \"object_relation\": \"wallet-address\", \"type\": \"btc\", "
	    "\"value\": \"1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE\"}]}]";
	json_t *w = json_array();
	json_t *e = event(NULL, objs, NULL, NULL, 0), *b = convert(e, w, NULL);
	json_t *x = find(b, "x-misp-object--" U1);
	assert_string_equal(sget(x, "x_misp_name"), "btc-wallet");
	assert_int_equal(json_array_size(json_object_get(x, "x_misp_attributes")), 1);
	assert_true(warning_mentions(w, "MISP Object name btc-wallet not mapped", U1));
	json_decref(b);
	json_decref(e);
	json_decref(w);
}

/* ---- galaxies, tags, TLP, sightings --------------------------------------------------------- */

static const char *attack_galaxy =
    "[{\"uuid\": \"c4e851fa-775f-11e7-8163-b774922098cd\", \"name\": \"Attack Pattern\", "
    "\"type\": \"mitre-attack-pattern\", \"description\": \"ATT&CK\", \"GalaxyCluster\": "
    "[{\"uuid\": \"dfd7cc1d-e1d8-4394-a198-97c4cab8aa67\", \"type\": \"mitre-attack-pattern\", "
    "\"value\": \"Spearphishing Attachment - T1566.001\", \"tag_name\": "
    "\"misp-galaxy:mitre-attack-pattern=\\\"Spearphishing Attachment - T1566.001\\\"\", "
    "\"description\": \"d\", \"meta\": {\"external_id\": [\"T1566.001\"], \"kill_chain\": "
    "[\"mitre-attack:initial-access\"]}}]}]";

static void galaxies_event_and_attribute_level(void **state)
{
	(void)state;
	json_t *e = event(NULL, NULL, attack_galaxy,
	                  "[{\"name\": \"misp-galaxy:mitre-attack-pattern=\\\"Spearphishing "
	                  "Attachment - T1566.001\\\"\"}]",
	                  0);
	json_t *b = convert(e, NULL, NULL);
	json_t *ap = find(b, "attack-pattern--dfd7cc1d-e1d8-4394-a198-97c4cab8aa67");
	assert_non_null(ap);
	assert_string_equal(sget(ap, "name"), "Spearphishing Attachment");
	json_t *er = json_array_get(json_object_get(ap, "external_references"), 0);
	assert_string_equal(sget(er, "external_id"), "T1566.001");
	json_t *kc = json_array_get(json_object_get(ap, "kill_chain_phases"), 0);
	assert_string_equal(sget(kc, "phase_name"), "initial-access");
	/* the cluster's tag is not repeated as a container label */
	json_t *g = find(b, "grouping--" EV);
	assert_int_equal(json_array_size(json_object_get(g, "labels")), 2);
	assert_true(array_has(json_object_get(g, "object_refs"),
	                      "attack-pattern--dfd7cc1d-e1d8-4394-a198-97c4cab8aa67"));
	json_decref(b);
	json_decref(e);

	/* attribute level: observed-data related-to the cluster */
	json_t *a = attr(U1, "url", "http://x.example/a", 1);
	json_error_t je;
	json_object_set_new(a, "Galaxy", json_loads(attack_galaxy, 0, &je));
	e = event_with(json_pack("[o]", a));
	b = convert(e, NULL, NULL);
	char rid[128];
	int found = 0;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(b, "objects"), i, o)
	{
		if (strcmp(sget(o, "type"), "relationship") ||
		    strcmp(sget(o, "relationship_type"), "related-to"))
			continue;
		assert_string_equal(sget(o, "source_ref"), "observed-data--" U1);
		assert_string_equal(sget(o, "target_ref"),
		                    "attack-pattern--dfd7cc1d-e1d8-4394-a198-97c4cab8aa67");
		snprintf(rid, sizeof(rid), "%s", sget(o, "id"));
		found = 1;
	}
	assert_true(found);
	json_decref(b);
	json_decref(e);
}

static void tlp_markings_and_labels(void **state)
{
	(void)state;
	json_t *a = attr(U1, "domain", "example.com", 0);
	json_object_set_new(
	    a, "Tag",
	    json_pack("[{s:s}, {s:s}]", "name", "tlp:red", "name", "kill-chain:Delivery"));
	json_t *e = event_with(json_pack("[o]", a));
	json_object_set_new(json_object_get(e, "Event"), "Tag",
	                    json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "name", "tlp:amber", "name",
	                              "TLP:GREEN", "name", "tlp:clear", "name",
	                              "misp:confidence-level=\"usually-confident\""));
	json_t *b = convert(e, NULL, NULL);
	json_t *g = find(b, "grouping--" EV);
	json_t *mr = json_object_get(g, "object_marking_refs");
	assert_true(array_has(mr, "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"));
	assert_true(array_has(mr, "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"));
	/* TLP tags are matched case-sensitively: TLP:GREEN stays a label */
	assert_true(array_has(json_object_get(g, "labels"), "TLP:GREEN"));
	assert_int_equal(json_integer_value(json_object_get(g, "confidence")), 75);
	json_t *md = find(b, "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82");
	assert_string_equal(sget(json_object_get(md, "definition"), "tlp"), "amber");
	json_t *clear = find(b, "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487");
	assert_non_null(
	    json_object_get(json_object_get(clear, "extensions"),
	                    "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"));
	/* the attribute's own TLP, not the event's */
	json_t *od = find(b, "observed-data--" U1);
	assert_true(array_has(json_object_get(od, "object_marking_refs"),
	                      "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"));
	assert_false(array_has(json_object_get(od, "object_marking_refs"),
	                       "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"));
	assert_true(array_has(json_object_get(od, "labels"), "kill-chain:Delivery"));
	json_decref(b);
	json_decref(e);
}

static void sightings_and_false_positives(void **state)
{
	(void)state;
	json_t *a = attr(U1, "domain", "example.com", 1);
	json_object_set_new(
	    a, "Sighting",
	    json_pack("[{s:s, s:s, s:s, s:s, s:{s:s, s:s}}, {s:s, s:s, s:s, s:s, s:{s:s, s:s}}]",
	              "uuid", U2, "date_sighting", "1603643000", "type", "0", "source", "honeypot",
	              "Organisation", "uuid", ORG, "name", "CIRCL", "uuid", U3, "date_sighting",
	              "1603643100", "type", "1", "source", "", "Organisation", "uuid",
	              "7b9774b7-528b-4b03-bbb8-a0dd9e546183", "name", "ISAC"));
	json_t *e = event_with(json_pack("[o]", a)), *b = convert(e, NULL, NULL);
	json_t *s = find(b, "sighting--" U2);
	assert_string_equal(sget(s, "sighting_of_ref"), "indicator--" U1);
	assert_string_equal(sget(s, "description"), "honeypot");
	assert_true(array_has(json_object_get(s, "where_sighted_refs"), "identity--" ORG));
	assert_string_equal(sget(s, "created"), "2020-10-25T16:23:20.000Z");
	json_t *op = find(b, "opinion--" U3);
	assert_string_equal(sget(op, "opinion"), "strongly-disagree");
	assert_true(array_has(json_object_get(op, "authors"), "ISAC"));
	assert_non_null(find(b, "identity--7b9774b7-528b-4b03-bbb8-a0dd9e546183"));
	json_decref(b);
	json_decref(e);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void bad_attributes_skipped_rest_mapped(void **state)
{
	(void)state;
	json_t *bad_uuid = attr("not-a-uuid", "domain", "ok.example.com", 1);
	json_t *no_value = json_pack("{s:s, s:s}", "uuid", U3, "type", "domain");
	json_t *e = event_with(json_pack(
	    "[o, o, o, o, s, o]", attr(U1, "ip-dst", "\"1.2.3.4\"", 1), attr(U2, "md5", "xyz", 1),
	    bad_uuid, no_value, "just a string",
	    attr("c1ea07c0-a855-4c47-9df2-4acc0d3c4e63", "domain", "good.example.com", 1)));
	json_t *w = json_array(), *b = convert(e, w, NULL);
	assert_true(warning_mentions(w, EV, U1));
	assert_true(warning_mentions(w, "IPv4 or IPv6", U1));
	assert_true(warning_mentions(w, "digest", U2));
	assert_true(warning_mentions(w, "not a uuid", "Attribute[2]"));
	assert_true(warning_mentions(w, U3, "value"));
	assert_true(warning_mentions(w, "Attribute[4]", "not a JSON object"));
	assert_null(find(b, "observed-data--" U1));
	assert_null(find(b, "observed-data--" U2));
	/* the rest of the event is still mapped */
	assert_non_null(find(b, "indicator--c1ea07c0-a855-4c47-9df2-4acc0d3c4e63"));
	json_decref(b);
	json_decref(e);
	json_decref(w);
}

static void wrong_types_and_missing_event_uuid(void **state)
{
	(void)state;
	json_t *e = event(NULL, NULL, NULL, NULL, 0);
	json_object_set_new(json_object_get(e, "Event"), "Attribute", json_string("oops"));
	json_t *w = json_array(), *b = convert(e, w, NULL);
	assert_true(warning_mentions(w, "Attribute", "not a list"));
	assert_non_null(find(b, "grouping--" EV));
	json_decref(b);
	json_decref(w);

	json_object_del(json_object_get(e, "Event"), "uuid");
	struct sl_err err;
	assert_null(sl_misp_to_stix(e, NULL, NULL, &err));
	assert_int_equal(err.code, SL_EINVAL);
	assert_non_null(strstr(err.where, "uuid"));
	json_decref(e);

	json_t *s = json_string("x");
	assert_null(sl_misp_to_stix(s, NULL, NULL, &err));
	assert_int_equal(err.code, SL_EINVAL);
	json_decref(s);
}

static void huge_values_and_deep_nesting(void **state)
{
	(void)state;
	size_t n = 10u * 1024u * 1024u;
	char *big = malloc(n + 1);
	memset(big, '\'', n); /* worst case for escaping: every byte doubles */
	big[n] = '\0';
	memcpy(big, "http://", 7);
	json_t *e = event_with(json_pack("[o]", attr(U1, "url", big, 1)));
	json_t *b = convert(e, NULL, NULL);
	const char *p = sget(find(b, "indicator--" U1), "pattern");
	assert_non_null(p);
	assert_true(strlen(p) > 2 * n - 20);
	assert_int_equal(sl_pattern_validate(p, NULL), 0);
	json_decref(b);
	json_decref(e);
	free(big);

	/* nesting deeper than the JSON limit is refused with SL_ELIMIT naming the event */
	e = event(NULL, NULL, NULL, NULL, 0);
	json_t *deep = json_object(), *cur = deep;
	for (int i = 0; i < 100; i++) {
		json_t *nx = json_object();
		json_object_set_new(cur, "x", nx);
		cur = nx;
	}
	json_object_set_new(json_object_get(e, "Event"), "Extra", deep);
	struct sl_err err;
	assert_null(sl_misp_to_stix(e, NULL, NULL, &err));
	assert_int_equal(err.code, SL_ELIMIT);
	assert_non_null(strstr(err.where, EV));
	json_decref(e);
}

/* The streamed bundle holds exactly the objects of the tree bundle. */
static void streaming_equals_tree(void **state)
{
	(void)state;
	json_t *a = attr(U1, "url", "http://x.example/a", 1);
	json_error_t je;
	json_object_set_new(a, "Galaxy", json_loads(attack_galaxy, 0, &je));
	json_t *e = event_with(json_pack("[o, o, o]", a, attr(U2, "ip-src", "1.2.3.4", 1),
	                                 attr(U3, "btc", "1XVhLsJe4PZ5LWV34QvK5ixw6gfZRWecsp", 0)));
	json_object_set_new(json_object_get(e, "Event"), "Tag",
	                    json_pack("[{s:s}]", "name", "tlp:amber"));
	json_t *tree = convert(e, NULL, NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct sl_err err;
	assert_int_equal(sl_misp_to_stix_write(e, NULL, NULL, f, &err), 0);
	fclose(f);
	json_t *streamed = json_loadb(buf, len, 0, &je);
	if (!streamed)
		fail_msg("streamed bundle is not JSON: %s", je.text);
	assert_string_equal(sget(streamed, "id"), "bundle--" EV);
	json_t *so = json_object_get(streamed, "objects");
	assert_int_equal(json_array_size(so), json_array_size(json_object_get(tree, "objects")));
	size_t i;
	json_t *o;
	json_array_foreach(so, i, o)
	{
		json_t *t = find(tree, sget(o, "id"));
		if (!t || !json_equal(t, o))
			fail_msg("streamed object %s differs", sget(o, "id"));
	}
	json_decref(streamed);
	json_decref(tree);
	json_decref(e);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(unpublished_is_grouping_published_is_report),
	    cmocka_unit_test(ip_dst_observable_indicator_relationship),
	    cmocka_unit_test(ipv6_and_no_ids),
	    cmocka_unit_test(composite_values_are_split),
	    cmocka_unit_test(values_are_escaped_in_patterns),
	    cmocka_unit_test(indicator_only_and_rules),
	    cmocka_unit_test(sdo_types),
	    cmocka_unit_test(unmapped_type_warns_and_strict_fails),
	    cmocka_unit_test(file_object),
	    cmocka_unit_test(network_objects_and_references),
	    cmocka_unit_test(unmapped_object_is_custom_with_warning),
	    cmocka_unit_test(galaxies_event_and_attribute_level),
	    cmocka_unit_test(tlp_markings_and_labels),
	    cmocka_unit_test(sightings_and_false_positives),
	    cmocka_unit_test(bad_attributes_skipped_rest_mapped),
	    cmocka_unit_test(wrong_types_and_missing_event_uuid),
	    cmocka_unit_test(huge_values_and_deep_nesting),
	    cmocka_unit_test(streaming_equals_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
