/* misp_galaxy.c — MISP galaxy clusters -> STIX 2.1 SDOs. */
#include "misp_galaxy.h"

#include <stdio.h>
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

static void add_meta_list(json_t *o, const char *key, const json_t *v)
{
	size_t i;
	const json_t *x;

	if (json_is_string(v)) {
		sl_map_push_str(o, key, json_string_value(v));
		return;
	}
	json_array_foreach(v, i, x) if (json_is_string(x))
	    sl_map_push_str(o, key, json_string_value(x));
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
		json_object_set_new(o, "name", json_string(desc ? desc : (value ? value : "")));
		snprintf(buf, sizeof(buf), "%s | %s", gdesc ? gdesc : "", value ? value : "");
		json_object_set_new(o, "description", json_string(buf));
	} else {
		json_object_set_new(o, "name", short_name(value ? value : ""));
		if (desc)
			json_object_set_new(o, "description", json_string(desc));
	}
	if (!strcmp(stype, "malware"))
		json_object_set_new(o, "is_family", json_false());
	if (!strcmp(stype, "identity"))
		json_object_set_new(o, "identity_class", json_string("class"));
	if (!strcmp(stype, "attack-pattern")) {
		const json_t *kc = json_object_get(meta, "kill_chain");
		size_t i;
		const json_t *x;
		json_array_foreach(kc, i, x)
		{
			const char *s = json_string_value(x), *colon = s ? strrchr(s, ':') : NULL;
			if (!colon)
				continue;
			json_t *kcp = json_object_get(o, "kill_chain_phases");
			if (!kcp) {
				kcp = json_array();
				json_object_set_new(o, "kill_chain_phases", kcp);
			}
			json_array_append_new(kcp, json_pack("{s:s%, s:s}", "kill_chain_name", s,
			                                     (size_t)(colon - s), "phase_name",
			                                     colon + 1));
		}
	}
	if (!strcmp(stype, "threat-actor") || !strcmp(stype, "intrusion-set"))
		add_meta_list(o, "aliases", json_object_get(meta, "synonyms"));
	snprintf(buf, sizeof(buf), "misp:galaxy-name=\"%s\"", gname ? gname : "");
	sl_map_push_str(o, "labels", buf);
	snprintf(buf, sizeof(buf), "misp:galaxy-type=\"%s\"", gtype ? gtype : "");
	sl_map_push_str(o, "labels", buf);
	if (tag)
		sl_map_push_str(o, "labels", tag);
	const json_t *ext = json_object_get(meta, "external_id");
	size_t i;
	const json_t *x;
	json_array_foreach(ext, i, x)
	{
		if (!json_is_string(x))
			continue;
		const char *src =
		    !strncmp(json_string_value(x), "CVE-", 4) ? "cve" : "mitre-attack";
		json_t *er = json_object_get(o, "external_references");
		if (!er) {
			er = json_array();
			json_object_set_new(o, "external_references", er);
		}
		json_array_append_new(
		    er, json_pack("{s:s, s:O}", "source_name", src, "external_id", x));
	}
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
		const char *stype = sl_map_galaxy_stix_type(gtype);
		json_array_foreach(json_object_get(g, "GalaxyCluster"), k, cl)
		{
			const char *u = sl_map_str(cl, "uuid");
			char id[SL_STIX_ID_MAX];
			if (!u || !sl_stix_id_uuid_valid(u)) {
				char w[64];
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
			if (!json_object_get(c->seen, id))
				sl_map_add(c, cluster_sdo(c, g, cl, stype, u, ts));
			if (source_id && *source_id)
				sl_map_rel(c, source_id, "related-to", id, ts);
		}
	}
}
