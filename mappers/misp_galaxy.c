/* misp_galaxy.c — MISP galaxy clusters -> STIX 2.1 SDOs. */
#include "misp_galaxy.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

#include "map_ctx.h"

void sl_map_galaxy_tags(struct sl_map_ctx *c, const json_t *galaxies)
{
	size_t i, k;
	const json_t *g, *cl;

	json_decref(c->galaxy_tags);
	c->galaxy_tags = NULL;
	if (!json_is_array(galaxies))
		return;
	json_array_foreach(galaxies, i, g)
	{
		json_array_foreach(json_object_get(g, "GalaxyCluster"), k, cl)
		{
			const char *tn = sl_map_str(cl, "tag_name");
			if (!tn)
				continue;
			if (!c->galaxy_tags)
				c->galaxy_tags = json_object();
			json_object_set_new(c->galaxy_tags, tn, json_true());
		}
	}
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

const char *sl_map_galaxy_stix_type(const char *t)
{
	static const struct {
		const char *g, *s;
	} exact[] = {
	    {"malpedia", "malware"},
	    {"ransomware", "malware"},
	    {"android", "malware"},
	    {"backdoor", "malware"},
	    {"banker", "malware"},
	    {"stealer", "malware"},
	    {"cryptominers", "malware"},
	    {"threat-actor", "threat-actor"},
	    {"microsoft-activity-group", "threat-actor"},
	    {"360net-threat-actor", "threat-actor"},
	    {"tool", "tool"},
	    {"botnet", "tool"},
	    {"rat", "tool"},
	    {"tds", "tool"},
	    {"exploit-kit", "tool"},
	    {"branded-vulnerability", "vulnerability"},
	    {"country", "location"},
	    {"region", "location"},
	    {"sector", "identity"},
	};
	if (!t)
		return "x-misp-galaxy-cluster";
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(t, exact[i].g))
			return exact[i].s;
	if (!strncmp(t, "mitre-", 6) || !strncmp(t, "stix-2.", 7)) {
		if (has_suffix(t, "attack-pattern"))
			return "attack-pattern";
		if (has_suffix(t, "course-of-action"))
			return "course-of-action";
		if (has_suffix(t, "intrusion-set") || has_suffix(t, "groups"))
			return "intrusion-set";
		if (has_suffix(t, "malware"))
			return "malware";
		if (has_suffix(t, "tool"))
			return "tool";
	}
	return "x-misp-galaxy-cluster";
}

/* misp-stix names ATT&CK clusters without their " - T1234" suffix. */
static json_t *short_name(const char *v)
{
	const char *dash = strstr(v, " - ");

	if (dash && dash[3] && strchr("TSGMC", dash[3]) && !strstr(dash + 3, " - "))
		return json_stringn(v, (size_t)(dash - v));
	return json_string(v);
}

/* A meta list as a STIX list, without the cluster's own value (misp-stix drops it from aliases). */
static void add_meta_list(json_t *o, const char *key, const json_t *v, const char *self)
{
	size_t i;
	const json_t *x;

	if (json_is_string(v)) {
		if (!self || strcmp(self, json_string_value(v)) != 0)
			sl_map_push_str(o, key, json_string_value(v));
		return;
	}
	json_array_foreach(v, i, x)
	{
		if (json_is_string(x) && (!self || strcmp(self, json_string_value(x)) != 0))
			sl_map_push_str(o, key, json_string_value(x));
	}
}

static json_t *ext_refs(json_t *o)
{
	json_t *er = json_object_get(o, "external_references");

	if (!er) {
		er = json_array();
		json_object_set_new(o, "external_references", er);
	}
	return er;
}

/* Cluster meta -> STIX: external_id, refs, kill_chain, synonyms have STIX homes; the rest become
 * x_misp_<key> as misp-stix does. */
static int is_stix_property(const char *k)
{
	static const char *props[] = {"goals",
	                              "resource_level",
	                              "primary_motivation",
	                              "secondary_motivations",
	                              "personal_motivations",
	                              "malware_types",
	                              "is_family",
	                              "first_seen",
	                              "last_seen",
	                              "architecture_execution_envs",
	                              "implementation_languages",
	                              "capabilities",
	                              "tool_types",
	                              "tool_version",
	                              "sophistication",
	                              "threat_actor_types",
	                              "roles",
	                              "objective"};
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		if (!strcmp(k, props[i]))
			return 1;
	return 0;
}

static void meta_fields(json_t *o, const char *stype, const json_t *meta, const char *value,
                        int stix_galaxy)
{
	const char *k;
	const json_t *v, *x;
	size_t i;
	char prop[160];
	int loc = !strcmp(stype, "location");

	json_object_foreach((json_t *)meta, k, v)
	{
		if (!loc && !strcmp(k, "external_id")) {
			json_t *ids =
			    json_is_string(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
			json_array_foreach(ids, i, x)
			{
				if (!json_is_string(x))
					continue;
				const char *xs = json_string_value(x);
				const char *src = !strncmp(xs, "CVE-", 4)     ? "cve"
				                  : !strncmp(xs, "CAPEC-", 6) ? "capec"
				                                              : "mitre-attack";
				json_array_append_new(
				    ext_refs(o),
				    json_pack("{s:s, s:O}", "source_name", src, "external_id", x));
			}
			json_decref(ids);
		} else if (!loc && !strcmp(k, "refs")) {
			json_t *urls =
			    json_is_string(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
			json_array_foreach(urls, i, x) if (json_is_string(x)) json_array_append_new(
			    ext_refs(o), json_pack("{s:s, s:O}", "source_name", "url", "url", x));
			json_decref(urls);
		} else if (!loc && !strcmp(k, "kill_chain") && !strcmp(stype, "attack-pattern")) {
			json_array_foreach(v, i, x)
			{
				const char *s = json_string_value(x),
				           *colon = s ? strrchr(s, ':') : NULL;
				if (!colon)
					continue;
				json_t *kcp = json_object_get(o, "kill_chain_phases");
				if (!kcp) {
					kcp = json_array();
					json_object_set_new(o, "kill_chain_phases", kcp);
				}
				json_array_append_new(
				    kcp, json_pack("{s:s%, s:s}", "kill_chain_name", s,
				                   (size_t)(colon - s), "phase_name", colon + 1));
			}
		} else if (!loc && !strcmp(k, "synonyms") &&
		           (!strcmp(stype, "threat-actor") || !strcmp(stype, "intrusion-set") ||
		            !strcmp(stype, "malware") || !strcmp(stype, "tool") ||
		            !strcmp(stype, "attack-pattern"))) {
			add_meta_list(o, "aliases", v, value);
		} else if (stix_galaxy && is_stix_property(k)) {
			/* MISP's stix-2.x-* galaxies carry STIX properties verbatim */
			json_object_set(o, k, (json_t *)v);
		} else if (json_is_string(v) || (json_is_array(v) && json_array_size(v) > 0)) {
			snprintf(prop, sizeof(prop), "x_misp_%s", k);
			json_object_set(o, prop, (json_t *)v);
		}
	}
}

/* A few country names -> ISO 3166 alpha-2, for country clusters without an ISO meta field. */
static const char *country_code(const char *name)
{
	static const char *tab[][2] = {
	    {"luxembourg", "LU"},    {"sweden", "SE"},         {"france", "FR"},
	    {"germany", "DE"},       {"belgium", "BE"},        {"netherlands", "NL"},
	    {"united states", "US"}, {"united kingdom", "GB"}, {"russia", "RU"},
	    {"china", "CN"},         {"iran", "IR"},           {"north korea", "KP"},
	    {"ukraine", "UA"},       {"italy", "IT"},          {"spain", "ES"},
	    {"japan", "JP"},         {"india", "IN"},          {"israel", "IL"},
	    {"canada", "CA"},        {"switzerland", "CH"},    {"austria", "AT"},
	    {"poland", "PL"},        {"brazil", "BR"}};
	for (size_t i = 0; name && i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcasecmp(name, tab[i][0]))
			return tab[i][1];
	return NULL;
}

/* location name/description/country|region; 0 when neither can be determined (the schema needs
 * one). */
static int location_fields(json_t *o, const json_t *g, const json_t *cl)
{
	const char *gtype = sl_map_str(g, "type"), *gdesc = sl_map_str(g, "description");
	const char *value = sl_map_str(cl, "value"), *desc = sl_map_str(cl, "description");
	const json_t *meta = json_object_get(cl, "meta");
	char buf[512];

	if (!value)
		return 0;
	if (gtype && !strcmp(gtype, "region")) {
		const char *nm = value, *dash = strstr(value, " - ");
		if (dash)
			nm = dash + 3;
		json_object_set_new(o, "name", json_string(nm));
		snprintf(buf, sizeof(buf), "%s | %s", gdesc ? gdesc : "", desc ? desc : value);
		json_object_set_new(o, "description", json_string(buf));
		size_t n = 0;
		for (const char *p = nm; *p && n + 1 < sizeof(buf); p++)
			buf[n++] = *p == ' ' ? '-' : (char)tolower((unsigned char)*p);
		buf[n] = '\0';
		json_object_set_new(o, "region", json_string(buf));
		return 1;
	}
	const char *iso = sl_map_str(meta, "ISO");
	if (!iso)
		iso = country_code(value);
	if (!iso)
		return 0;
	json_object_set_new(o, "name", json_string(desc ? desc : value));
	snprintf(buf, sizeof(buf), "%s | %s", gdesc ? gdesc : "", value);
	json_object_set_new(o, "description", json_string(buf));
	json_object_set_new(o, "country", json_string(iso));
	return 1;
}

static json_t *cluster_sdo(struct sl_map_ctx *c, const json_t *g, const json_t *cl,
                           const char *stype, const char *uuid, const char *ts)
{
	char id[SL_STIX_ID_MAX], buf[512];
	const char *gname = sl_map_str(g, "name"), *gtype = sl_map_str(g, "type");
	const char *gdesc = sl_map_str(g, "description");
	const char *value = sl_map_str(cl, "value"), *desc = sl_map_str(cl, "description");
	const char *tag = sl_map_str(cl, "tag_name");
	const json_t *meta = json_object_get(cl, "meta");
	json_t *o;

	(void)c;
	snprintf(id, sizeof(id), "%s--%s", stype, uuid);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", stype, "spec_version", "2.1", "id", id,
	              "created", ts, "modified", ts);
	if (!o)
		return NULL;
	if (!strcmp(stype, "x-misp-galaxy-cluster")) {
		snprintf(buf, sizeof(buf), "misp:galaxy-name=\"%s\"", gname ? gname : "");
		sl_map_push_str(o, "labels", buf);
		snprintf(buf, sizeof(buf), "misp:galaxy-type=\"%s\"", gtype ? gtype : "");
		sl_map_push_str(o, "labels", buf);
		if (tag)
			sl_map_push_str(o, "labels", tag);
		snprintf(buf, sizeof(buf), "%s | %s", gdesc ? gdesc : "", desc ? desc : "");
		json_object_set_new(o, "x_misp_description", json_string(buf));
		json_object_set_new(o, "x_misp_name", json_string(gname ? gname : ""));
		json_object_set_new(o, "x_misp_type", json_string(gtype ? gtype : ""));
		json_object_set_new(o, "x_misp_value", json_string(value ? value : ""));
		return o;
	}
	if (!strcmp(stype, "location")) {
		if (!location_fields(o, g, cl)) {
			json_decref(o);
			return NULL;
		}
	} else {
		json_object_set_new(o, "name", short_name(value ? value : ""));
		if (desc)
			json_object_set_new(o, "description", json_string(desc));
	}
	if (!strcmp(stype, "malware"))
		json_object_set_new(o, "is_family", json_false());
	if (!strcmp(stype, "identity"))
		json_object_set_new(o, "identity_class", json_string("class"));
	snprintf(buf, sizeof(buf), "misp:galaxy-name=\"%s\"", gname ? gname : "");
	sl_map_push_str(o, "labels", buf);
	snprintf(buf, sizeof(buf), "misp:galaxy-type=\"%s\"", gtype ? gtype : "");
	sl_map_push_str(o, "labels", buf);
	if (tag)
		sl_map_push_str(o, "labels", tag);
	json_t *nm = json_object_get(o, "name");
	meta_fields(o, stype, meta, json_is_string(nm) ? json_string_value(nm) : value,
	            gtype && !strncmp(gtype, "stix-2.", 7));
	return o;
}

void sl_map_galaxies(struct sl_map_ctx *c, const json_t *galaxies, const char *source_id,
                     const char *ts, int event_level)
{
	size_t i, k;
	const json_t *g, *cl;

	(void)event_level;
	if (!json_is_array(galaxies))
		return;
	json_array_foreach(galaxies, i, g)
	{
		const char *gtype = sl_map_str(g, "type");
		json_array_foreach(json_object_get(g, "GalaxyCluster"), k, cl)
		{
			const char *stype = sl_map_galaxy_stix_type(gtype);
			const char *u = sl_map_str(cl, "uuid");
			char id[SL_STIX_ID_MAX];
			if (!u || !sl_stix_id_uuid_valid(u)) {
				char w[96];
				snprintf(w, sizeof(w), "Galaxy[%zu]/GalaxyCluster[%zu]", i, k);
				sl_map_warn(c, SL_EINVAL, w,
				            "galaxy cluster has no valid uuid; skipped");
				continue;
			}
			if (!strcmp(stype, "x-misp-galaxy-cluster"))
				sl_map_warn(c, SL_EUNSUPPORTED, NULL,
				            "MISP galaxy type %s not mapped; custom object used",
				            gtype ? gtype : "(none)");
			snprintf(id, sizeof(id), "%s--%s", stype, u);
			if (!sl_map_ids_has(c->seen, id)) {
				json_t *sdo = cluster_sdo(c, g, cl, stype, u, ts);
				if (!sdo) {
					/* no country or region to satisfy the schema: keep it
					 * custom */
					sl_map_warn(
					    c, SL_EUNSUPPORTED, id,
					    "location cluster has no country code or region; "
					    "custom object used");
					stype = "x-misp-galaxy-cluster";
					snprintf(id, sizeof(id), "%s--%s", stype, u);
					sdo = cluster_sdo(c, g, cl, stype, u, ts);
				}
				sl_map_add(c, sdo);
			}
			if (source_id && *source_id)
				sl_map_rel(c, source_id, "related-to", id, ts);
		}
	}
}
