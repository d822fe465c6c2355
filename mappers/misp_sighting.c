/* misp_sighting.c — a MISP sighting on its own <-> a STIX sighting (or false-positive opinion):
 * the same objects misp2stix and stix2misp make of sightings inside an event. */
#include "misp_sighting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "map_ctx.h"
#include "stix_id.h"

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *uuid_of(const char *id)
{
	const char *p = id ? strstr(id, "--") : NULL;
	return p ? p + 2 : NULL;
}

/* MISP numbers arrive as strings or numbers; -1 when neither. */
static long long num(const json_t *v)
{
	char *end;
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (!json_is_string(v) || !*json_string_value(v))
		return -1;
	n = strtoll(json_string_value(v), &end, 10);
	return *end ? -1 : n;
}

json_t *sl_misp_sighting_to_stix(const json_t *s, const char *ind, const char *od,
                                 struct sl_err *err)
{
	const char *su = jstr(s, "uuid"), *src = jstr(s, "source");
	const json_t *org = json_object_get(s, "Organisation");
	const char *ou = jstr(org, "uuid"), *oname = jstr(org, "name");
	long long type = num(json_object_get(s, "type")), when = num(json_object_get(s, "date_sighting"));
	char id[SL_STIX_ID_MAX], who[SL_STIX_ID_MAX] = "", ts[32];
	time_t t;
	struct tm tm;
	json_t *o;

	if (!su || !sl_stix_id_uuid_valid(su))
		return sl_err_set(err, SL_EINVAL, "Sighting", "sighting has no valid uuid"), NULL;
	if (!ind && !od)
		return sl_err_set(err, SL_EINVAL, su, "sighting of nothing"), NULL;
	if (type == 2)
		return sl_err_set(err, SL_EUNSUPPORTED, su, "expiration sightings are not mapped"),
		       NULL;
	if (type != 0 && type != 1)
		return sl_err_set(err, SL_EINVAL, su, "sighting type is not 0, 1 or 2"), NULL;
	if (when < 0 || when > 253402300799LL)
		return sl_err_set(err, SL_EINVAL, su, "sighting has no valid date_sighting"), NULL;
	t = (time_t)when;
	if (!gmtime_r(&t, &tm))
		return sl_err_set(err, SL_EINVAL, su, "sighting has no valid date_sighting"), NULL;
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (ou && sl_stix_id_uuid_valid(ou))
		snprintf(who, sizeof(who), "identity--%s", ou);
	if (type == 0) {
		snprintf(id, sizeof(id), "sighting--%s", su);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "sighting", "spec_version",
		              "2.1", "id", id, "created", ts, "modified", ts, "sighting_of_ref",
		              ind ? ind : od);
		if (o && src && *src)
			json_object_set_new(o, "description", json_string(src));
		if (o && ind && od)
			json_object_set_new(o, "observed_data_refs", json_pack("[s]", od));
		if (o && who[0])
			json_object_set_new(o, "where_sighted_refs", json_pack("[s]", who));
	} else {
		snprintf(id, sizeof(id), "opinion--%s", su);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[]}", "type", "opinion",
		              "spec_version", "2.1", "id", id, "created", ts, "modified", ts,
		              "explanation", "False positive Sighting", "opinion",
		              "strongly-disagree", "object_refs");
		if (o && oname)
			json_object_set_new(o, "authors", json_pack("[s]", oname));
		if (o && od)
			json_array_append_new(json_object_get(o, "object_refs"), json_string(od));
		if (o && ind)
			json_array_append_new(json_object_get(o, "object_refs"), json_string(ind));
		if (o && who[0])
			json_object_set_new(o, "x_misp_author_ref", json_string(who));
	}
	if (!o)
		return sl_err_set(err, SL_ENOMEM, su, "out of memory"), NULL;
	return o;
}

json_t *sl_stix_sighting_to_misp(const json_t *o, struct sl_err *err)
{
	const char *t = jstr(o, "type"), *id = jstr(o, "id"), *target, *au, *u;
	char ts[24];
	int opinion;
	json_t *sg;

	opinion = t && strcmp(t, "opinion") == 0 && jstr(o, "explanation") &&
	          strstr(jstr(o, "explanation"), "False positive");
	if (!t || (!opinion && strcmp(t, "sighting") != 0))
		return sl_err_set(err, SL_EUNSUPPORTED, id ? id : "object",
		                  "neither a sighting nor a false-positive opinion"),
		       NULL;
	target = opinion ? json_string_value(json_array_get(json_object_get(o, "object_refs"), 0))
	                 : jstr(o, "sighting_of_ref");
	u = uuid_of(id);
	au = uuid_of(target);
	if (!u || !au || !sl_stix_id_uuid_valid(u) || !sl_stix_id_uuid_valid(au) ||
	    (strncmp(target, "indicator--", 11) != 0 && strncmp(target, "observed-data--", 15) != 0))
		return sl_err_set(err, SL_EINVAL, id ? id : "object",
		                  "%s of %s, which is not an attribute", t, target ? target : "nothing"),
		       NULL;
	/* the same fields as a sighting inside an event (map_sighting), plus the attribute */
	sg = json_pack("{s:s, s:s, s:s}", "uuid", u, "attribute_uuid", au, "type",
	               opinion ? "1" : "0");
	if (!sg)
		return sl_err_set(err, SL_ENOMEM, id, "out of memory"), NULL;
	if (sl_map_iso_epoch(jstr(o, "created"), ts) == 0)
		json_object_set_new(sg, "date_sighting", json_string(ts));
	json_object_set_new(sg, "source", json_string(!opinion && jstr(o, "description")
	                                                  ? jstr(o, "description")
	                                                  : ""));
	return sg;
}
