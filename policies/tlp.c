/* tlp.c — TLP 2.0 levels from marking ids, marking objects and MISP tags. */
#include "tlp.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *id;
	enum sl_tlp tlp;
} fixed_ids[] = {
    /* STIX 2.1 built-in TLP 1.0 (misp-stix export; OpenCTI's CLEAR is the WHITE object) */
    {"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", SL_TLP_CLEAR},
    {"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", SL_TLP_GREEN},
    {"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", SL_TLP_AMBER},
    {"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", SL_TLP_RED},
    /* TLP 2.0 via extension-definition--60a3c5c5-... (misp-stix) */
    {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", SL_TLP_CLEAR},
    {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", SL_TLP_GREEN},
    {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", SL_TLP_AMBER},
    {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", SL_TLP_AMBER_STRICT},
    {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", SL_TLP_RED},
    /* OpenCTI's own AMBER+STRICT */
    {"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", SL_TLP_AMBER_STRICT},
};

const char *sl_tlp_name(enum sl_tlp t)
{
	switch (t) {
	case SL_TLP_CLEAR:
		return "TLP:CLEAR";
	case SL_TLP_GREEN:
		return "TLP:GREEN";
	case SL_TLP_AMBER:
		return "TLP:AMBER";
	case SL_TLP_AMBER_STRICT:
		return "TLP:AMBER+STRICT";
	case SL_TLP_RED:
		return "TLP:RED";
	default:
		return "none";
	}
}

enum sl_tlp sl_tlp_from_name(const char *name)
{
	if (!name)
		return SL_TLP_NONE;
	if (strncasecmp(name, "tlp:", 4) == 0)
		name += 4;
	if (strcasecmp(name, "clear") == 0 || strcasecmp(name, "white") == 0)
		return SL_TLP_CLEAR;
	if (strcasecmp(name, "green") == 0)
		return SL_TLP_GREEN;
	if (strcasecmp(name, "amber") == 0)
		return SL_TLP_AMBER;
	if (strcasecmp(name, "amber+strict") == 0)
		return SL_TLP_AMBER_STRICT;
	if (strcasecmp(name, "red") == 0)
		return SL_TLP_RED;
	return SL_TLP_NONE;
}

enum sl_tlp sl_tlp_from_marking_id(const char *id)
{
	size_t i;

	if (!id || strncmp(id, "marking-definition--", 20) != 0)
		return SL_TLP_NONE;
	for (i = 0; i < sizeof(fixed_ids) / sizeof(fixed_ids[0]); i++)
		if (id[20] == fixed_ids[i].id[20] && strcmp(id + 21, fixed_ids[i].id + 21) == 0)
			return fixed_ids[i].tlp;
	return SL_TLP_NONE;
}

static enum sl_tlp read_level(const json_t *v, int *malformed)
{
	enum sl_tlp t = json_is_string(v) ? sl_tlp_from_name(json_string_value(v)) : SL_TLP_NONE;

	if (t == SL_TLP_NONE)
		*malformed = 1;
	return t;
}

enum sl_tlp sl_tlp_from_marking_object(const json_t *md, int *malformed)
{
	const json_t *dt, *ext, *v;
	enum sl_tlp t = SL_TLP_NONE, byid;
	int bad = 0;

	*malformed = 0;
	if (!json_is_object(md))
		return SL_TLP_NONE;
	byid = sl_tlp_from_marking_id(json_string_value(json_object_get(md, "id")));
	dt = json_object_get(md, "definition_type");
	ext = json_object_get(md, "extensions");
	if (json_is_string(dt) && strcasecmp(json_string_value(dt), "tlp") == 0) {
		v = json_object_get(json_object_get(md, "definition"), "tlp");
		t = read_level(v, &bad);
	} else if (json_is_object(ext) &&
	           json_is_object(
	               v = json_object_get(
	                   ext, "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"))) {
		t = read_level(json_object_get(v, "tlp_2_0"), &bad);
	} else if (json_is_string(v = json_object_get(md, "x_opencti_definition_type")) &&
	           strcasecmp(json_string_value(v), "tlp") == 0) {
		t = read_level(json_object_get(md, "x_opencti_definition"), &bad);
	} else {
		/* not TLP by content (statement, PAP...): a fixed TLP id still decides */
		return byid;
	}
	if (bad) {
		*malformed = 1;
		return byid > t ? byid : SL_TLP_RED;
	}
	if (byid != SL_TLP_NONE && byid != t) {
		*malformed = 1;
		return byid > t ? byid : t;
	}
	return t;
}

enum sl_tlp sl_tlp_from_tag(const char *tag, int *malformed)
{
	enum sl_tlp t;

	*malformed = 0;
	if (!tag || strncasecmp(tag, "tlp:", 4) != 0)
		return SL_TLP_NONE;
	/* MISP taxonomy tags may carry quotes: tlp:"amber" */
	if (tag[4] == '"') {
		char buf[32];
		size_t n = strlen(tag + 5);
		if (n == 0 || n >= sizeof(buf) || tag[4 + n] != '"') {
			*malformed = 1;
			return SL_TLP_RED;
		}
		memcpy(buf, tag + 5, n - 1);
		buf[n - 1] = '\0';
		t = sl_tlp_from_name(buf);
	} else {
		t = sl_tlp_from_name(tag + 4);
	}
	if (t == SL_TLP_NONE) {
		*malformed = 1;
		return SL_TLP_RED;
	}
	return t;
}
