/* test_misp_sighting.c — sightings on their own, both ways: a MISP sighting pulled alone becomes
 * exactly the STIX object misp2stix makes of it inside its event; a STIX sighting sent alone
 * becomes the MISP sighting of its attribute. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "misp2stix.h"
#include "misp_sighting.h"

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* An event whose domain attribute (to_ids: indicator and observed-data) holds a sighting and a
 * false positive, one by another organisation. */
static const char event_json[] =
    "{\"Event\":{\"uuid\":\"7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01\",\"info\":\"e\","
    "\"date\":\"2026-11-01\",\"timestamp\":\"1793700000\",\"published\":true,"
    "\"Orgc\":{\"uuid\":\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CERT-A\"},"
    "\"Attribute\":[{\"uuid\":\"7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01\",\"type\":\"domain\","
    "\"category\":\"Network activity\",\"value\":\"bad.example\",\"to_ids\":true,"
    "\"timestamp\":\"1793700000\",\"Sighting\":["
    "{\"uuid\":\"5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1e\",\"type\":\"0\","
    "\"date_sighting\":\"1793786400\",\"source\":\"sensor 4\",\"Organisation\":"
    "{\"uuid\":\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CERT-A\"}},"
    "{\"uuid\":\"5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1f\",\"type\":\"1\","
    "\"date_sighting\":\"1793786500\",\"source\":\"\",\"Organisation\":"
    "{\"uuid\":\"66f6ea5e-2c60-40e5-964f-47a8950d2100\",\"name\":\"SOC-B\"}}]}]}}";

static const json_t *find(const json_t *bundle, const char *id)
{
	const json_t *o;
	size_t i;

	json_array_foreach(json_object_get(bundle, "objects"), i, o) if (str(o, "id") &&
	                                                                 strcmp(str(o, "id"), id) ==
	                                                                     0) return o;
	return NULL;
}

static void pulled_alone_equals_in_event(void **state)
{
	json_t *ev = json_loads(event_json, 0, NULL), *b, *s;
	const json_t *sl = json_object_get(json_array_get(json_object_get(json_object_get(ev,
	    "Event"), "Attribute"), 0), "Sighting");
	const char *ind = "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01";
	const char *od = "observed-data--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01";
	struct sl_err err = {0};
	size_t i;

	(void)state;
	b = sl_misp_to_stix(ev, NULL, NULL, &err);
	assert_non_null(b);
	for (i = 0; i < 2; i++) {
		const json_t *want;
		char id[96];

		snprintf(id, sizeof(id), "%s--%s", i == 0 ? "sighting" : "opinion",
		         str(json_array_get(sl, i), "uuid"));
		want = find(b, id);
		assert_non_null(want);
		s = sl_misp_sighting_to_stix(json_array_get(sl, i), find(b, ind) ? ind : NULL,
		                             find(b, od) ? od : NULL, &err);
		assert_non_null(s);
		if (!json_equal(s, want)) {
			char *a = json_dumps(s, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
			fail_msg("alone: %s\nin its event: %s", a, w);
		}
		json_decref(s);
	}
	json_decref(b);
	json_decref(ev);
}

static void pulled_alone_refusals(void **state)
{
	struct sl_err err;
	json_t *s;

	(void)state;
	s = json_loads("{\"uuid\":\"5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d20\",\"type\":\"2\","
	               "\"date_sighting\":\"1793786400\"}",
	               0, NULL);
	assert_null(sl_misp_sighting_to_stix(s, "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01",
	                                     NULL, &err));
	assert_int_equal(err.code, SL_EUNSUPPORTED);
	json_object_set_new(s, "type", json_string("0"));
	assert_null(sl_misp_sighting_to_stix(s, NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "nothing"));
	json_object_set_new(s, "date_sighting", json_string("yesterday"));
	assert_null(sl_misp_sighting_to_stix(s, "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01",
	                                     NULL, &err));
	assert_non_null(strstr(err.msg, "date_sighting"));
	assert_string_equal(err.where, "5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d20");
	json_object_set_new(s, "uuid", json_string("not-a-uuid"));
	assert_null(sl_misp_sighting_to_stix(s, "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01",
	                                     NULL, &err));
	json_decref(s);
}

/* A sighting or false positive sent alone (sync's bulkSaveSightings item): the attribute is the
 * sighted object's uuid; anything that is not a sighting of an attribute is refused, named. */
static void sent_alone(void **state)
{
	(void)state;
	struct sl_err err;
	json_t *s = json_loads(
	    "{\"type\":\"sighting\",\"spec_version\":\"2.1\","
	    "\"id\":\"sighting--5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1e\","
	    "\"created\":\"2026-11-04T10:00:00.250Z\",\"modified\":\"2026-11-04T10:00:00.250Z\","
	    "\"sighting_of_ref\":\"indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01\","
	    "\"description\":\"sensor 4\"}",
	    0, NULL);
	json_t *m = sl_stix_sighting_to_misp(s, &err);

	assert_non_null(m);
	assert_string_equal(str(m, "uuid"), "5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1e");
	assert_string_equal(str(m, "attribute_uuid"), "7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01");
	assert_string_equal(str(m, "type"), "0");
	assert_string_equal(str(m, "date_sighting"), "1793786400");
	assert_string_equal(str(m, "source"), "sensor 4");
	json_decref(m);
	json_decref(s);

	s = json_loads("{\"type\":\"opinion\",\"id\":\"opinion--5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1f\","
	               "\"created\":\"2026-11-04T10:00:00Z\",\"opinion\":\"strongly-disagree\","
	               "\"explanation\":\"False positive Sighting\",\"object_refs\":"
	               "[\"observed-data--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b02\"]}",
	               0, NULL);
	m = sl_stix_sighting_to_misp(s, &err);
	assert_non_null(m);
	assert_string_equal(str(m, "type"), "1");
	assert_string_equal(str(m, "attribute_uuid"), "7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b02");
	assert_string_equal(str(m, "source"), "");
	json_decref(m);
	json_decref(s);

	/* a sighting of an identity, an opinion that is no false positive, a broken uuid */
	s = json_loads("{\"type\":\"sighting\",\"id\":\"sighting--5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d20\","
	               "\"sighting_of_ref\":\"identity--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01\"}",
	               0, NULL);
	assert_null(sl_stix_sighting_to_misp(s, &err));
	assert_non_null(strstr(err.msg, "not an attribute"));
	assert_non_null(strstr(err.where, "sighting--5a1d0c3e"));
	json_decref(s);
	s = json_loads("{\"type\":\"opinion\",\"id\":\"opinion--5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d21\","
	               "\"opinion\":\"agree\",\"object_refs\":"
	               "[\"indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01\"]}",
	               0, NULL);
	assert_null(sl_stix_sighting_to_misp(s, &err));
	json_decref(s);
	s = json_loads("{\"type\":\"sighting\",\"id\":\"sighting--nope\","
	               "\"sighting_of_ref\":\"indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01\"}",
	               0, NULL);
	assert_null(sl_stix_sighting_to_misp(s, &err));
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pulled_alone_equals_in_event),
	    cmocka_unit_test(pulled_alone_refusals),
	    cmocka_unit_test(sent_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
