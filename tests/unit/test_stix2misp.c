/* test_stix2misp.c — STIX 2.1 -> MISP: the pattern reader, each attribute family as
 * sluice/misp-stix write it (indicator, observed-data, x-misp-attribute, x-misp-object, objects),
 * galaxies, TLP 1.0 and 2.0 markings, sightings and opinions, third-party (OpenCTI) bundles, and
 * bad input. Expected values are the MISP attributes the bundles were written from, not output of
 * the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "sltest.h"
#include "stix2misp.h"
#include "stix2misp_pattern.h"

#define EV "4433e80c-bd96-51f9-9b44-3de3e29ed2d3"
#define ORG "55f6ea5e-2c60-40e5-964f-47a8950d210f"
#define U1 "f6dffb21-b0c8-53ec-af63-2f9f6dfc966d"
#define U2 "518b4bcb-a86b-4783-9457-391d548b605b"
#define U3 "34cb1a7c-55ec-412a-8684-ba4a88d83a45"

#define IDENTITY                                                                                   \
	"{\"type\":\"identity\",\"spec_version\":\"2.1\",\"id\":\"identity--" ORG                  \
	"\",\"created\":"                                                                          \
	"\"2023-11-15T01:13:20.000Z\",\"modified\":\"2023-11-15T01:13:20.000Z\",\"name\":"         \
	"\"CIRCL\","                                                                               \
	"\"identity_class\":\"organization\"}"

/* A misp-stix shaped bundle: identity, report (TLP marking `marking`, may be ""), then `objects`.
 */
static json_t *bundle(const char *marking, const char *objects)
{
	static char buf[131072];
	json_error_t je;
	snprintf(buf, sizeof(buf),
	         "{\"type\":\"bundle\",\"id\":\"bundle--" EV "\",\"objects\":[" IDENTITY ","
	         "{\"type\":\"report\",\"spec_version\":\"2.1\",\"id\":\"report--" EV
	         "\",\"created_by_ref\":"
	         "\"identity--" ORG "\",\"created\":\"2023-11-15T01:13:20.000Z\",\"modified\":"
	         "\"2023-11-15T01:13:20.000Z\",\"name\":\"test "
	         "event\",\"published\":\"2023-11-15T01:14:20Z\","
	         "\"object_refs\":[],\"labels\":[\"Threat-Report\",\"misp:tool=\\\"MISP-STIX-"
	         "Converter\\\"\","
	         "\"type:OSINT\"]%s%s%s}%s%s]}",
	         marking[0] ? ",\"object_marking_refs\":[\"" : "", marking, marking[0] ? "\"]" : "",
	         objects[0] ? "," : "", objects);
	json_t *b = json_loads(buf, 0, &je);
	if (!b)
		fail_msg("bad test JSON: %s: %s", je.text, buf);
	return b;
}

static json_t *to_event(json_t *b, json_t *warnings)
{
	struct sl_err err;
	struct sl_map_opts opts = {0};
	json_t *ev = sl_stix_to_misp(b, &opts, warnings, &err);
	if (!ev)
		fail_msg("sl_stix_to_misp: %s: %s", err.where, err.msg);
	return ev;
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const json_t *attr(const json_t *ev, const char *uuid)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(json_object_get(ev, "Event"), "Attribute"), i,
	                   a) if (str(a, "uuid") && !strcmp(str(a, "uuid"), uuid)) return a;
	fail_msg("attribute %s missing", uuid);
	return NULL;
}

static int has_tag(const json_t *o, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(o, "Tag"), i,
	                   t) if (!strcmp(str(t, "name"), name)) return 1;
	return 0;
}

static int warned(const json_t *w, const char *where_part, const char *msg_part)
{
	size_t i;
	json_t *x;
	json_array_foreach(w, i, x) if (strstr(str(x, "where"), where_part) &&
	                                strstr(str(x, "message"), msg_part)) return 1;
	return 0;
}

static void test_pattern_reader(void **state)
{
	(void)state;
	struct sl_stixpat p;
	struct sl_err err;
	assert_int_equal(
	    sl_stixpat_parse(
	        "[file:hashes.'SHA-256' = 'ab' AND domain-name:resolves_to_refs[0].value "
	        "= '1.2.3.4' AND file:name = 'it\\'s \\\\x' AND windows-registry-key:values.data "
	        "= '\\%APPDATA\\%']",
	        &p, &err),
	    0);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.cmp[0].path, "file:hashes.SHA-256");
	assert_string_equal(p.cmp[0].value, "ab");
	assert_string_equal(p.cmp[1].path, "domain-name:resolves_to_refs[*].value");
	assert_string_equal(p.cmp[2].value, "it's \\x");
	assert_string_equal(p.cmp[3].value, "%APPDATA%");
	assert_false(p.has_or);
	sl_stixpat_free(&p);

	assert_int_equal(
	    sl_stixpat_parse(
	        "[ipv4-addr:value = '1.1.1.1'] OR [ipv4-addr:value = '2.2.2.2'] WITHIN 5 "
	        "SECONDS",
	        &p, &err),
	    0);
	assert_int_equal(p.n, 2);
	assert_true(p.has_or);
	assert_true(p.has_followed);
	sl_stixpat_free(&p);

	assert_int_equal(sl_stixpat_parse("[ipv4-addr:value = '1.1.1.1", &p, &err), SL_EINVAL);
	assert_non_null(strstr(err.msg, "byte"));
	assert_int_equal(sl_stixpat_parse("[= 'x']", &p, &err), SL_EINVAL);
	assert_non_null(strstr(err.msg, "byte 1"));
}

/* The event container: uuid, info, timestamps, published, Orgc, tags without misp-stix's own
 * labels. */
static void test_event_container(void **state)
{
	(void)state;
	json_t *b = bundle("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "");
	json_t *ev = to_event(b, NULL);
	json_t *e = json_object_get(ev, "Event");
	assert_string_equal(str(e, "uuid"), EV);
	assert_string_equal(str(e, "info"), "test event");
	assert_string_equal(str(e, "timestamp"), "1700010800");
	assert_true(json_is_true(json_object_get(e, "published")));
	assert_string_equal(str(e, "publish_timestamp"), "1700010860");
	assert_string_equal(str(json_object_get(e, "Orgc"), "uuid"), ORG);
	assert_string_equal(str(json_object_get(e, "Orgc"), "name"), "CIRCL");
	assert_true(has_tag(e, "tlp:green"));
	assert_true(has_tag(e, "type:OSINT"));
	assert_false(has_tag(e, "Threat-Report"));
	assert_int_equal(json_array_size(json_object_get(e, "Tag")), 2);
	json_decref(ev);
	json_decref(b);
}

/* An ip-dst|port attribute with to_ids: indicator + observed-data as misp-stix writes them. */
static void test_indicator_and_observed(void **state)
{
	(void)state;
	json_t *b = bundle(
	    "",
	    "{\"type\":\"observed-data\",\"id\":\"observed-data--" U1
	    "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"first_observed\":\"2023-11-15T01:13:20Z\","
	    "\"last_observed\":\"2023-11-15T01:13:20Z\",\"number_observed\":1,\"object_refs\":"
	    "[\"network-traffic--" U1 "\",\"ipv4-addr--" U1
	    "\"],\"labels\":[\"misp:type=\\\"ip-dst|port\\\"\","
	    "\"misp:category=\\\"Network activity\\\"\"]},"
	    "{\"type\":\"network-traffic\",\"id\":\"network-traffic--" U1
	    "\",\"dst_ref\":\"ipv4-addr--" U1 "\","
	    "\"dst_port\":443,\"protocols\":[\"tcp\"]},"
	    "{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--" U1 "\",\"value\":\"9.8.24.56\"},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U1
	    "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"description\":\"c2\",\"pattern\":\"["
	    "network-traffic:dst_ref.type "
	    "= 'ipv4-addr' AND network-traffic:dst_ref.value = '9.8.24.56' AND "
	    "network-traffic:dst_port = '443']\","
	    "\"pattern_type\":\"stix\",\"valid_from\":\"2023-11-15T01:13:20Z\",\"labels\":[\"misp:"
	    "type=\\\"ip-dst|port\\\"\","
	    "\"misp:category=\\\"Network activity\\\"\",\"kill-chain:C2\"],\"object_marking_refs\":"
	    "[\"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed\"]},"
	    "{\"type\":\"observed-data\",\"id\":\"observed-data--" U2
	    "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	    "\"modified\":\"2023-11-16T00:00:00.000Z\",\"first_observed\":\"2023-11-16T00:00:00Z\","
	    "\"last_observed\":\"2023-11-16T00:00:00Z\",\"number_observed\":1,\"object_refs\":["
	    "\"file--" U2 "\"],"
	    "\"labels\":[\"misp:type=\\\"filename|md5\\\"\",\"misp:category=\\\"Payload "
	    "delivery\\\"\"]},"
	    "{\"type\":\"file\",\"id\":\"file--" U2
	    "\",\"hashes\":{\"MD5\":\"fe16849ef307590d273e34f98dff7e4c\"},"
	    "\"name\":\"lotus.dll\"}");
	json_t *ev = to_event(b, NULL);
	const json_t *a = attr(ev, U1);
	assert_string_equal(str(a, "type"), "ip-dst|port");
	assert_string_equal(str(a, "value"), "9.8.24.56|443");
	assert_string_equal(str(a, "category"), "Network activity");
	assert_string_equal(str(a, "comment"), "c2");
	assert_true(json_is_true(json_object_get(a, "to_ids")));
	assert_string_equal(str(a, "timestamp"), "1700010800");
	assert_true(has_tag(a, "kill-chain:C2"));
	assert_true(has_tag(a, "tlp:red"));
	a = attr(ev, U2);
	assert_string_equal(str(a, "type"), "filename|md5");
	assert_string_equal(str(a, "value"), "lotus.dll|fe16849ef307590d273e34f98dff7e4c");
	assert_true(json_is_false(json_object_get(a, "to_ids")));
	assert_string_equal(str(a, "timestamp"), "1700092800");
	/* one attribute per MISP attribute, not one per STIX object */
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(ev, "Event"), "Attribute")), 2);
	json_decref(ev);
	json_decref(b);
}

/* A revoked object is MISP's soft deletion: the attribute goes with "deleted": true, so an event
 * edit removes it at the peer; the others stay as they are. */
static void test_revoked_is_deleted(void **state)
{
	(void)state;
	json_t *b = bundle(
	    "", "{\"type\":\"indicator\",\"id\":\"indicator--" U1
	        "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	        "\"modified\":\"2023-11-16T01:13:20.000Z\",\"revoked\":true,"
	        "\"pattern\":\"[domain-name:value = 'gone.example']\",\"pattern_type\":\"stix\","
	        "\"valid_from\":\"2023-11-15T01:13:20Z\"},"
	        "{\"type\":\"indicator\",\"id\":\"indicator--" U2
	        "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	        "\"modified\":\"2023-11-15T01:13:20.000Z\","
	        "\"pattern\":\"[domain-name:value = 'kept.example']\",\"pattern_type\":\"stix\","
	        "\"valid_from\":\"2023-11-15T01:13:20Z\"}");
	json_t *ev = to_event(b, NULL);
	assert_string_equal(str(attr(ev, U1), "value"), "gone.example");
	assert_true(json_is_true(json_object_get(attr(ev, U1), "deleted")));
	assert_string_equal(str(attr(ev, U2), "value"), "kept.example");
	assert_null(json_object_get(attr(ev, U2), "deleted"));
	json_decref(ev);
	json_decref(b);
}

static void test_custom_objects(void **state)
{
	(void)state;
	json_t *b = bundle(
	    "", "{\"type\":\"x-misp-attribute\",\"id\":\"x-misp-attribute--" U1
	        "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	        "\"modified\":\"2023-11-15T01:13:20.000Z\",\"x_misp_type\":\"btc\",\"x_misp_"
	        "value\":\"bc1qxyz\","
	        "\"x_misp_category\":\"Financial "
	        "fraud\",\"x_misp_comment\":\"wallet\",\"labels\":[\"misp:type=\\\"btc\\\"\"]},"
	        "{\"type\":\"x-misp-object\",\"id\":\"x-misp-object--" U2
	        "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	        "\"modified\":\"2023-11-15T01:13:20.000Z\",\"x_misp_name\":\"bank-account\",\"x_"
	        "misp_meta_category\":"
	        "\"financial\",\"x_misp_attributes\":[{\"type\":\"iban\",\"object_relation\":"
	        "\"iban\",\"value\":"
	        "\"LU123456789\",\"uuid\":\"" U3
	        "\",\"to_ids\":true,\"category\":\"Financial fraud\"}]}");
	json_t *ev = to_event(b, NULL);
	const json_t *a = attr(ev, U1);
	assert_string_equal(str(a, "type"), "btc");
	assert_string_equal(str(a, "value"), "bc1qxyz");
	assert_string_equal(str(a, "category"), "Financial fraud");
	assert_string_equal(str(a, "comment"), "wallet");
	json_t *o = json_array_get(json_object_get(json_object_get(ev, "Event"), "Object"), 0);
	assert_string_equal(str(o, "uuid"), U2);
	assert_string_equal(str(o, "name"), "bank-account");
	json_t *oa = json_array_get(json_object_get(o, "Attribute"), 0);
	assert_string_equal(str(oa, "uuid"), U3);
	assert_string_equal(str(oa, "object_relation"), "iban");
	assert_string_equal(str(oa, "value"), "LU123456789");
	assert_true(json_is_true(json_object_get(oa, "to_ids")));
	json_decref(ev);
	json_decref(b);
}

/* A file object indicator: misp:name picks the template, paths become object relations. */
static void test_object_indicator(void **state)
{
	(void)state;
	json_t *b = bundle(
	    "",
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U1
	    "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"pattern\":\"[file:hashes.MD5 = "
	    "'db0b956af67442931a4c4555e1db7e9e' AND file:name = 'a.exe' AND file:size = '1024']\","
	    "\"pattern_type\":\"stix\",\"valid_from\":\"2023-11-15T01:13:20Z\",\"labels\":"
	    "[\"misp:name=\\\"file\\\"\",\"misp:meta-category=\\\"file\\\"\"]}");
	json_t *ev = to_event(b, NULL);
	json_t *o = json_array_get(json_object_get(json_object_get(ev, "Event"), "Object"), 0);
	assert_non_null(o);
	assert_string_equal(str(o, "name"), "file");
	assert_string_equal(str(o, "uuid"), U1);
	json_t *attrs = json_object_get(o, "Attribute");
	assert_int_equal(json_array_size(attrs), 3);
	const char *want[][3] = {{"md5", "md5", "db0b956af67442931a4c4555e1db7e9e"},
	                         {"filename", "filename", "a.exe"},
	                         {"size-in-bytes", "size-in-bytes", "1024"}};
	for (size_t i = 0; i < 3; i++) {
		json_t *a = json_array_get(attrs, i);
		assert_string_equal(str(a, "object_relation"), want[i][0]);
		assert_string_equal(str(a, "type"), want[i][1]);
		assert_string_equal(str(a, "value"), want[i][2]);
		assert_true(json_is_true(json_object_get(a, "to_ids")));
	}
	json_decref(ev);
	json_decref(b);
}

/* TLP 1.0 ids (misp-stix) and TLP 2.0 ids (OpenCTI) both become tlp:* tags. */
static void test_tlp_markings(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "tlp:white"},
	    {"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "tlp:green"},
	    {"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "tlp:amber"},
	    {"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "tlp:red"},
	    {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "tlp:clear"},
	    {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "tlp:green"},
	    {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "tlp:amber"},
	    {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", "tlp:amber+strict"},
	    {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "tlp:red"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *b = bundle(cases[i][0], "");
		json_t *ev = to_event(b, NULL);
		if (!has_tag(json_object_get(ev, "Event"), cases[i][1]))
			fail_msg("%s should give %s", cases[i][0], cases[i][1]);
		json_decref(ev);
		json_decref(b);
	}
	/* an unknown marking is warned about, not dropped silently */
	json_t *w = json_array();
	json_t *b = bundle("marking-definition--78ca4366-f5b8-4764-83f7-34ce38198e27", "");
	json_t *ev = to_event(b, w);
	assert_true(warned(w, "report--" EV, "not a TLP marking"));
	json_decref(ev);
	json_decref(b);
	json_decref(w);
}

static void test_galaxies_and_sightings(void **state)
{
	(void)state;
	json_t *b = bundle(
	    "",
	    "{\"type\":\"threat-actor\",\"id\":\"threat-actor--" U3
	    "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"name\":\"APT28\",\"description\":\"d\","
	    "\"labels\":"
	    "[\"misp:galaxy-name=\\\"Threat Actor\\\"\",\"misp:galaxy-type=\\\"threat-actor\\\"\","
	    "\"misp-galaxy:threat-actor=\\\"APT28\\\"\"]},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U1
	    "\",\"created\":\"2023-11-15T01:13:20.000Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"pattern\":\"[domain-name:value = "
	    "'evil.example']\","
	    "\"pattern_type\":\"stix\",\"valid_from\":\"2023-11-15T01:13:20Z\",\"labels\":[\"misp:"
	    "type=\\\"domain\\\"\","
	    "\"misp:category=\\\"Network activity\\\"\"]},"
	    "{\"type\":\"sighting\",\"id\":\"sighting--" U2
	    "\",\"created\":\"2023-11-17T00:00:00.000Z\","
	    "\"modified\":\"2023-11-17T00:00:00.000Z\",\"sighting_of_ref\":\"indicator--" U1 "\","
	    "\"where_sighted_refs\":[\"identity--" ORG "\"]},"
	    "{\"type\":\"opinion\",\"id\":\"opinion--" EV
	    "\",\"created\":\"2023-11-18T00:00:00.000Z\","
	    "\"modified\":\"2023-11-18T00:00:00.000Z\",\"opinion\":\"strongly-disagree\","
	    "\"explanation\":"
	    "\"False positive Sighting\",\"object_refs\":[\"indicator--" U1 "\"]}");
	json_t *ev = to_event(b, NULL);
	json_t *e = json_object_get(ev, "Event");
	json_t *g = json_array_get(json_object_get(e, "Galaxy"), 0);
	assert_string_equal(str(g, "type"), "threat-actor");
	assert_string_equal(str(g, "name"), "Threat Actor");
	json_t *cl = json_array_get(json_object_get(g, "GalaxyCluster"), 0);
	assert_string_equal(str(cl, "uuid"), U3);
	assert_string_equal(str(cl, "value"), "APT28");
	assert_string_equal(str(cl, "tag_name"), "misp-galaxy:threat-actor=\"APT28\"");
	assert_true(has_tag(e, "misp-galaxy:threat-actor=\"APT28\""));
	const json_t *a = attr(ev, U1);
	json_t *sg = json_object_get(a, "Sighting");
	assert_int_equal(json_array_size(sg), 2);
	assert_string_equal(str(json_array_get(sg, 0), "uuid"), U2);
	assert_string_equal(str(json_array_get(sg, 0), "type"), "0");
	assert_string_equal(str(json_array_get(sg, 0), "date_sighting"), "1700179200");
	assert_string_equal(str(json_object_get(json_array_get(sg, 0), "Organisation"), "name"),
	                    "CIRCL");
	assert_string_equal(str(json_array_get(sg, 1), "type"), "1");
	json_decref(ev);
	json_decref(b);
}

/* Third party: no misp labels; types from pattern paths and SCO types; what cannot map is warned.
 */
static void test_third_party(void **state)
{
	(void)state;
	json_error_t je;
	json_t *b = json_loads(
	    "{\"type\":\"bundle\",\"id\":\"bundle--" EV "\",\"objects\":["
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U1
	    "\",\"modified\":\"2023-11-15T01:13:20.000Z\","
	    "\"pattern\":\"[file:hashes.'SHA-256' = 'aa' OR url:value = "
	    "'http://x.example/']\",\"pattern_type\":\"stix\"},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U2
	    "\",\"pattern\":\"[process:name = 'x']\",\"pattern_type\":\"stix\"},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U3
	    "\",\"pattern\":\"[unclosed = \",\"pattern_type\":\"stix\"},"
	    "{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--" EV "\",\"value\":\"192.0.2.1\"},"
	    "{\"type\":\"grouping\",\"id\":\"grouping--" ORG
	    "\",\"name\":\"g\",\"context\":\"x\",\"object_refs\":[]},"
	    "{\"type\":\"course-of-action\",\"id\":\"course-of-action--" ORG
	    "\",\"name\":\"patch\"},"
	    "{\"type\":\"infrastructure\",\"id\":\"infrastructure--" ORG "\",\"name\":\"c2\"}]}",
	    0, &je);
	assert_non_null(b);
	json_t *w = json_array();
	json_t *ev = to_event(b, w);
	json_t *attrs = json_object_get(json_object_get(ev, "Event"), "Attribute");
	const json_t *a = attr(ev, U1); /* the first comparison keeps the indicator uuid */
	assert_string_equal(str(a, "type"), "sha256");
	assert_true(json_is_true(json_object_get(a, "to_ids")));
	int url = 0, ip = 0;
	size_t i;
	json_t *x;
	json_array_foreach(attrs, i, x)
	{
		if (!strcmp(str(x, "type"), "url") && !strcmp(str(x, "value"), "http://x.example/"))
			url = 1;
		if (!strcmp(str(x, "type"), "ip-dst") && !strcmp(str(x, "value"), "192.0.2.1") &&
		    json_is_false(json_object_get(x, "to_ids")))
			ip = 1;
	}
	assert_true(url);
	assert_true(ip);
	assert_true(warned(w, "indicator--" U2, "process:name"));
	assert_true(warned(w, "indicator--" U3, "pattern not understood"));
	assert_true(warned(w, "infrastructure--" ORG, "not mapped"));
	json_t *g = json_array_get(json_object_get(json_object_get(ev, "Event"), "Galaxy"), 0);
	assert_string_equal(str(g, "type"), "course-of-action");
	json_decref(ev);

	/* strict: the first unmappable thing fails the bundle, naming it */
	struct sl_err err;
	struct sl_map_opts strict = {1};
	assert_null(sl_stix_to_misp(b, &strict, NULL, &err));
	assert_int_equal(err.code, SL_EUNSUPPORTED);
	assert_non_null(strstr(err.where, "indicator--" U2));
	json_decref(b);
	json_decref(w);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct sl_err err;
	json_error_t je;
	json_t *v = json_loads("{\"type\":\"report\",\"objects\":[]}", 0, &je);
	assert_null(sl_stix_to_misp(v, NULL, NULL, &err));
	assert_int_equal(err.code, SL_EINVAL);
	assert_string_equal(err.where, "bundle.type");
	json_decref(v);
	v = json_loads("{\"type\":\"bundle\",\"objects\":{}}", 0, &je);
	assert_null(sl_stix_to_misp(v, NULL, NULL, &err));
	assert_string_equal(err.where, "bundle.objects");
	json_decref(v);
	v = json_loads("[1,2]", 0, &je);
	assert_null(sl_stix_to_misp_all(v, NULL, NULL, &err));
	json_decref(v);
	/* junk entries and wrong types are warned about, the rest still mapped */
	json_t *b = bundle(
	    "",
	    "17, {\"type\": 5}, {\"type\":\"indicator\",\"id\":\"indicator--" U1
	    "\",\"pattern\":42},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U2
	    "\",\"pattern\":\"[domain-name:value = "
	    "'ok.example']\",\"pattern_type\":\"stix\",\"labels\":[\"misp:type=\\\"domain\\\"\"]},"
	    "{\"type\":\"x-misp-attribute\",\"id\":\"x-misp-attribute--" U3
	    "\",\"x_misp_type\":[]}");
	json_t *w = json_array();
	json_t *ev = to_event(b, w);
	assert_string_equal(str(attr(ev, U2), "value"), "ok.example");
	assert_true(warned(w, "bundle.objects[2]", "skipped"));
	assert_true(warned(w, "bundle.objects[3]", "skipped"));
	assert_true(warned(w, "indicator--" U1, "without a pattern"));
	assert_true(warned(w, "x-misp-attribute--" U3, "x_misp_type"));
	json_decref(ev);
	json_decref(b);
	json_decref(w);
}

/* OpenCTI's own sample bundles import with warnings, never a failure. */
static void test_opencti_samples(void **state)
{
	(void)state;
	const char *dir = sltest_interop_dir();
	if (!dir)
		skip();
	const char *files[] = {"DATA-TEST-STIX2_v2.json", "client-python_indicator_stix.json"};
	for (size_t i = 0; i < 2; i++) {
		char path[4096], *buf;
		size_t len;
		struct sl_err err;
		snprintf(path, sizeof(path), "%s/opencti/%s", dir, files[i]);
		assert_int_equal(sl_json_slurp(path, 64u << 20, &buf, &len, &err), 0);
		json_t *b = sl_json_parse(buf, len, NULL, path, &err);
		free(buf);
		assert_non_null(b);
		json_t *w = json_array();
		json_t *evs = sl_stix_to_misp_all(b, NULL, w, &err);
		if (!evs)
			fail_msg("%s: %s: %s", files[i], err.where, err.msg);
		json_t *ev = json_object_get(json_array_get(evs, 0), "Event");
		assert_true(json_array_size(json_object_get(ev, "Attribute")) >= 2);
		if (i == 0) {
			assert_string_equal(str(ev, "uuid"),
			                    "a445d22a-db0c-4b5d-9ec8-e9ad0b6dbdd7");
			assert_true(warned(w, "note--", "not mapped"));
		}
		json_decref(evs);
		json_decref(w);
		json_decref(b);
	}
}

/* Two reports in one bundle: one event each with the objects it lists; what no report lists goes
 * into an extra event named after the bundle. */
static void test_all_containers(void **state)
{
	(void)state;
	json_error_t je;
	json_t *b = json_loads(
	    "{\"type\":\"bundle\",\"id\":\"bundle--" EV "\",\"objects\":["
	    "{\"type\":\"report\",\"id\":\"report--" U1
	    "\",\"name\":\"r1\",\"published\":\"2023-11-15T01:13:20Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"object_refs\":[\"indicator--" U2 "\"]},"
	    "{\"type\":\"report\",\"id\":\"report--" U3
	    "\",\"name\":\"r2\",\"published\":\"2023-11-15T01:13:20Z\","
	    "\"modified\":\"2023-11-15T01:13:20.000Z\",\"object_refs\":[\"ipv4-addr--" ORG "\"]},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" U2
	    "\",\"pattern\":\"[domain-name:value = 'a.example']\","
	    "\"pattern_type\":\"stix\"},"
	    "{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--" ORG "\",\"value\":\"192.0.2.9\"},"
	    "{\"type\":\"indicator\",\"id\":\"indicator--" EV
	    "\",\"pattern\":\"[url:value = 'http://left.example/']\","
	    "\"pattern_type\":\"stix\"}]}",
	    0, &je);
	assert_non_null(b);
	struct sl_err err;
	json_t *evs = sl_stix_to_misp_all(b, NULL, NULL, &err);
	assert_non_null(evs);
	assert_int_equal(json_array_size(evs), 3);
	const char *want[][3] = {{U1, "domain", "a.example"},
	                         {U3, "ip-dst", "192.0.2.9"},
	                         {EV, "url", "http://left.example/"}};
	for (size_t i = 0; i < 3; i++) {
		json_t *e = json_object_get(json_array_get(evs, i), "Event");
		assert_string_equal(str(e, "uuid"), want[i][0]);
		json_t *attrs = json_object_get(e, "Attribute");
		assert_int_equal(json_array_size(attrs), 1);
		assert_string_equal(str(json_array_get(attrs, 0), "type"), want[i][1]);
		assert_string_equal(str(json_array_get(attrs, 0), "value"), want[i][2]);
	}
	json_decref(evs);
	json_decref(b);
}

/* When the producer adds x_misp_attributes to an object's observed-data, each object attribute gets
 * back its own uuid, to_ids and timestamp, and attributes STIX could not carry come back too. */
static void test_object_attribute_meta(void **state)
{
	(void)state;
	json_t *b = bundle("", "{\"type\":\"observed-data\",\"id\":\"observed-data--" U1
	                       "\",\"modified\":\"2023-11-15T01:13:20.000Z\","
	                       "\"object_refs\":[\"file--" U1
	                       "\"],\"labels\":[\"misp:name=\\\"file\\\"\"],\"x_misp_attributes\":["
	                       "{\"type\":\"md5\",\"object_relation\":\"md5\",\"value\":"
	                       "\"db0b956af67442931a4c4555e1db7e9e\","
	                       "\"uuid\":\"" U2 "\",\"to_ids\":true,\"timestamp\":\"1700000000\"},"
	                       "{\"type\":\"text\",\"object_relation\":\"state\",\"value\":"
	                       "\"Malicious\",\"uuid\":\"" U3 "\"}]},"
	                       "{\"type\":\"file\",\"id\":\"file--" U1
	                       "\",\"hashes\":{\"MD5\":\"db0b956af67442931a4c4555e1db7e9e\"}}");
	json_t *ev = to_event(b, NULL);
	json_t *o = json_array_get(json_object_get(json_object_get(ev, "Event"), "Object"), 0);
	json_t *attrs = json_object_get(o, "Attribute");
	assert_int_equal(json_array_size(attrs), 2);
	json_t *a = json_array_get(attrs, 0);
	assert_string_equal(str(a, "uuid"), U2);
	assert_true(json_is_true(json_object_get(a, "to_ids")));
	assert_string_equal(str(a, "timestamp"), "1700000000");
	a = json_array_get(attrs, 1);
	assert_string_equal(str(a, "uuid"), U3);
	assert_string_equal(str(a, "object_relation"), "state");
	assert_string_equal(str(a, "type"), "text");
	assert_true(json_is_false(json_object_get(a, "to_ids")));
	json_decref(ev);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pattern_reader),
	    cmocka_unit_test(test_event_container),
	    cmocka_unit_test(test_indicator_and_observed),
	    cmocka_unit_test(test_revoked_is_deleted),
	    cmocka_unit_test(test_custom_objects),
	    cmocka_unit_test(test_object_indicator),
	    cmocka_unit_test(test_tlp_markings),
	    cmocka_unit_test(test_galaxies_and_sightings),
	    cmocka_unit_test(test_third_party),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_opencti_samples),
	    cmocka_unit_test(test_all_containers),
	    cmocka_unit_test(test_object_attribute_meta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
