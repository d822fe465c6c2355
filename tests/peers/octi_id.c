/* octi_id.c — OpenCTI standard ids: per-type contributing properties (OpenCTI's
 * schema/identifier.js rules, written from the research note's table), canonical JSON (sorted keys,
 * no spaces), UUIDv5. */
#include "octi_id.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

enum resolver {
	R_NONE,
	R_LOWER,   /* lower-cased and trimmed (OpenCTI's normalizeName) */
	R_UPPER,   /* upper-cased */
	R_DATE,    /* ISO 8601 with milliseconds, as a JS Date prints */
	R_REF,     /* the standard_id of the referenced object */
	R_REF1,    /* [standard_id of the first ref] (sighting's where_sighted_refs) */
	R_HASHES,  /* the first hash in OpenCTI's order, as {ALGO: value} */
	R_OBJECTS, /* sorted standard_ids of the refs */
};

struct prop {
	const char *src;  /* STIX property read */
	const char *dest; /* key in the id data (NULL = src) */
	const char *dep;  /* present only if this property is present too (NULL = none) */
	enum resolver r;
};

#define MAXP 8
struct way {
	struct prop p[MAXP];
};

struct rule {
	const char *type;
	int nways;
	struct way ways[3];
};

#define P(s, r)                                                                                    \
	{                                                                                          \
		s, NULL, NULL, r                                                                   \
	}
#define PD(s, dep, r)                                                                              \
	{                                                                                          \
		s, NULL, dep, r                                                                    \
	}

static const struct rule rules[] = {
    {"indicator", 1, {{{P("pattern", R_NONE)}}}},
    {"report", 1, {{{P("name", R_LOWER), P("published", R_DATE)}}}},
    {"identity", 1, {{{P("name", R_LOWER), PD("identity_class", "name", R_LOWER)}}}},
    {"malware", 1, {{{P("name", R_LOWER)}}}},
    {"tool", 1, {{{P("name", R_LOWER)}}}},
    {"campaign", 1, {{{P("name", R_LOWER)}}}},
    {"intrusion-set", 1, {{{P("name", R_LOWER)}}}},
    {"vulnerability", 1, {{{P("name", R_LOWER)}}}},
    {"infrastructure", 1, {{{P("name", R_LOWER)}}}},
    {"attack-pattern", 2, {{{P("x_mitre_id", R_NONE)}}, {{P("name", R_LOWER)}}}},
    {"course-of-action", 2, {{{P("x_mitre_id", R_NONE)}}, {{P("name", R_LOWER)}}}},
    {"note", 1, {{{P("content", R_NONE), PD("created", "content", R_DATE)}}}},
    {"opinion", 1, {{{P("opinion", R_NONE), PD("created", "opinion", R_DATE)}}}},
    {"incident", 1, {{{P("name", R_LOWER), PD("created", "name", R_DATE)}}}},
    {"grouping", 1, {{{P("name", R_LOWER), P("context", R_NONE)}}}},
    {"observed-data", 1, {{{{"object_refs", "objects", NULL, R_OBJECTS}}}}},
    {"label", 1, {{{P("value", R_LOWER)}}}},
    {"kill-chain-phase", 1, {{{P("phase_name", R_NONE), P("kill_chain_name", R_NONE)}}}},
    {"external-reference",
     2,
     {{{P("url", R_NONE)}},
      {{PD("source_name", "external_id", R_NONE), P("external_id", R_NONE)}}}},
    {"relationship",
     1,
     {{{P("relationship_type", R_NONE), PD("source_ref", "target_ref", R_REF),
        PD("target_ref", "source_ref", R_REF), P("start_time", R_DATE), P("stop_time", R_DATE)}}}},
    {"sighting",
     1,
     {{{PD("sighting_of_ref", "where_sighted_refs", R_REF),
        PD("where_sighted_refs", "sighting_of_ref", R_REF1), P("first_seen", R_DATE),
        P("last_seen", R_DATE)}}}},
    /* observables */
    {"autonomous-system", 1, {{{P("number", R_NONE)}}}},
    {"directory", 1, {{{P("path", R_NONE)}}}},
    {"domain-name", 1, {{{P("value", R_NONE)}}}},
    {"email-addr", 1, {{{P("value", R_NONE)}}}},
    {"email-message",
     1,
     {{{{"from_ref", "from_ref", NULL, R_REF}, P("subject", R_NONE), P("body", R_NONE)}}}},
    {"artifact", 2, {{{P("hashes", R_HASHES)}}, {{P("url", R_NONE)}}}},
    {"file", 2, {{{P("hashes", R_HASHES)}}, {{P("name", R_NONE)}}}},
    {"x509-certificate",
     3,
     {{{P("hashes", R_HASHES)}}, {{P("serial_number", R_NONE)}}, {{P("subject", R_NONE)}}}},
    {"ipv4-addr", 1, {{{P("value", R_NONE)}}}},
    {"ipv6-addr", 1, {{{P("value", R_NONE)}}}},
    {"mac-addr", 1, {{{P("value", R_NONE)}}}},
    {"mutex", 1, {{{P("name", R_NONE)}}}},
    {"network-traffic",
     1,
     {{{P("start", R_NONE),
        P("end", R_NONE),
        {"src_ref", "src_ref", NULL, R_REF},
        {"dst_ref", "dst_ref", NULL, R_REF},
        P("src_port", R_NONE),
        P("dst_port", R_NONE),
        P("protocols", R_NONE)}}}},
    {"software",
     1,
     {{{P("name", R_NONE), P("cpe", R_NONE), P("swid", R_NONE), P("vendor", R_NONE),
        P("version", R_NONE)}}}},
    {"url", 1, {{{P("value", R_NONE)}}}},
    {"user-account",
     1,
     {{{P("account_type", R_NONE), P("user_id", R_NONE), P("account_login", R_NONE)}}}},
    /* OpenCTI reads the key from its attribute_key field and, by a quirk of its table, keeps that
       name */
    {"windows-registry-key", 1, {{{{"key", "attribute_key", NULL, R_NONE}, P("values", R_NONE)}}}},
    {"cryptographic-key", 1, {{{P("value", R_NONE)}}}},
    {"cryptocurrency-wallet", 1, {{{P("value", R_NONE)}}}},
    {"hostname", 1, {{{P("value", R_NONE)}}}},
    {"user-agent", 1, {{{P("value", R_NONE)}}}},
    {"text", 1, {{{P("value", R_NONE)}}}},
    {"phone-number", 1, {{{P("value", R_NONE)}}}},
    {"bank-account", 1, {{{P("iban", R_NONE)}}}},
    {"payment-card", 1, {{{P("card_number", R_NONE)}}}},
    {"media-content", 1, {{{P("url", R_NONE)}}}},
};

/* ---- text helpers ---- */

/* Lower-case ASCII and the common two-byte UTF-8 letters (Latin-1, Latin Extended-A, Greek,
 * Cyrillic), then trim ASCII white space. Not full Unicode case mapping. */
static char *normalise_name(const char *s)
{
	size_t n = strlen(s), i = 0, j = 0;
	unsigned char *o = malloc(n + 1);

	memcpy(o, s, n + 1);
	while (i < n) {
		unsigned char c = o[i];
		if (c < 0x80) {
			o[i] = (unsigned char)tolower(c);
			i++;
		} else if ((c & 0xE0) == 0xC0 && i + 1 < n) {
			unsigned cp = ((c & 0x1Fu) << 6) | (o[i + 1] & 0x3Fu);
			if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
			    (cp >= 0x391 && cp <= 0x3A9) || (cp >= 0x410 && cp <= 0x42F))
				cp += 0x20;
			else if (cp >= 0x400 && cp <= 0x40F)
				cp += 0x50;
			else if (cp >= 0x100 && cp <= 0x17F && cp % 2 == 0 && cp != 0x130 &&
			         cp != 0x138)
				cp += 1;
			o[i] = (unsigned char)(0xC0 | (cp >> 6));
			o[i + 1] = (unsigned char)(0x80 | (cp & 0x3F));
			i += 2;
		} else {
			i++;
		}
	}
	i = 0;
	while (o[i] && isspace(o[i]))
		i++;
	j = strlen((char *)o + i);
	memmove(o, o + i, j + 1);
	while (j > 0 && isspace(o[j - 1]))
		o[--j] = '\0';
	return (char *)o;
}

static char *upper(const char *s)
{
	char *o = strdup(s);
	for (char *p = o; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return o;
}

/* "2020-03-01T14:02:48Z" or with any fraction -> "2020-03-01T14:02:48.000Z" (JS toISOString).
 * Other forms are kept as given. */
static json_t *iso_date(const json_t *v)
{
	const char *s = json_string_value(v);
	int Y, M, D, h, m, sec, n = 0;
	char out[40];
	const char *frac;
	int ms = 0, digits = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6)
		return json_deep_copy(v);
	frac = s + n;
	if (*frac == '.') {
		frac++;
		while (isdigit((unsigned char)*frac)) {
			if (digits < 3)
				ms = ms * 10 + (*frac - '0');
			digits++;
			frac++;
		}
		while (digits < 3) {
			ms *= 10;
			digits++;
		}
	}
	if (strcmp(frac, "Z") != 0)
		return json_deep_copy(v);
	snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Y, M, D, h, m, sec, ms);
	return json_string(out);
}

static int empty(const json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0) ||
	       (json_is_object(v) && json_object_size(v) == 0);
}

static json_t *resolved_ref(const json_t *v, sl_octi_resolve_fn resolve, void *ctx)
{
	const char *ref = json_string_value(v), *s;
	if (!ref)
		return NULL;
	s = resolve ? resolve(ref, ctx) : NULL;
	return json_string(s ? s : ref);
}

static json_t *first_hash(const json_t *hashes)
{
	static const char *const order[] = {"MD5",      "SHA-1",    "SHA-256", "SHA-512",
	                                    "SHA3-256", "SHA3-512", "SSDEEP"};
	const char *k;
	json_t *v;

	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++)
		json_object_foreach((json_t *)hashes, k, v)
		{
			if (strcasecmp(k, order[i]) == 0 && !empty(v))
				return json_pack("{s:O}", order[i], v);
		}
	return NULL;
}

static json_t *apply_resolver(const struct prop *p, const json_t *v, sl_octi_resolve_fn resolve,
                              void *ctx)
{
	char *s;
	json_t *out;
	size_t i;
	json_t *x;

	switch (p->r) {
	case R_LOWER:
		if (!json_is_string(v))
			return json_deep_copy(v);
		s = normalise_name(json_string_value(v));
		out = json_string(s);
		free(s);
		return out;
	case R_UPPER:
		if (!json_is_string(v))
			return json_deep_copy(v);
		s = upper(json_string_value(v));
		out = json_string(s);
		free(s);
		return out;
	case R_DATE:
		return iso_date(v);
	case R_REF:
		return resolved_ref(v, resolve, ctx);
	case R_REF1:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return NULL;
		x = resolved_ref(json_array_get(v, 0), resolve, ctx);
		return x ? json_pack("[o]", x) : NULL;
	case R_HASHES:
		return json_is_object(v) ? first_hash(v) : NULL;
	case R_OBJECTS: {
		/* sorted standard ids: collect, then sort as strings */
		size_t n = json_array_size(v);
		const char **ids = calloc(n + 1, sizeof(*ids));
		json_t *tmp = json_array();
		json_array_foreach(v, i, x)
		{
			json_t *r = resolved_ref(x, resolve, ctx);
			if (r) {
				json_array_append_new(tmp, r);
			}
		}
		n = json_array_size(tmp);
		for (i = 0; i < n; i++)
			ids[i] = json_string_value(json_array_get(tmp, i));
		qsort(ids, n, sizeof(*ids), (int (*)(const void *, const void *))strcmp);
		out = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(out, json_string(ids[i]));
		free(ids);
		json_decref(tmp);
		return out;
	}
	default:
		return json_deep_copy(v);
	}
}

static json_t *way_data(const struct way *w, const json_t *obj, sl_octi_resolve_fn resolve,
                        void *ctx)
{
	json_t *data = json_object();

	for (int i = 0; i < MAXP && w->p[i].src; i++) {
		const struct prop *p = &w->p[i];
		const json_t *v = json_object_get(obj, p->src);
		json_t *r;
		if (empty(v))
			continue;
		/* a property whose dependency is empty voids the whole way, as in OpenCTI */
		if (p->dep && empty(json_object_get(obj, p->dep))) {
			json_object_clear(data);
			return data;
		}
		r = apply_resolver(p, v, resolve, ctx);
		if (!empty(r))
			json_object_set_new(data, p->dest ? p->dest : p->src, r);
		else
			json_decref(r);
	}
	return data;
}

/* Marking definitions: OpenCTI keys on (definition_type, definition), upper-cased, and a few TLP
 * pairs have fixed ids. */
static json_t *marking_data(const json_t *obj, char *errbuf, size_t errsz)
{
	const char *dt = json_string_value(json_object_get(obj, "x_opencti_definition_type"));
	const char *df = json_string_value(json_object_get(obj, "x_opencti_definition"));
	const json_t *def = json_object_get(obj, "definition");
	char buf[256];
	char *udt, *udf;
	json_t *out;

	if (!dt || !df) {
		dt = json_string_value(json_object_get(obj, "definition_type"));
		df = NULL;
		if (json_is_string(def)) {
			df = json_string_value(def);
		} else if (json_is_object(def) && dt) {
			const char *k;
			json_t *v;
			json_object_foreach((json_t *)def, k, v) if (strcasecmp(k, dt) == 0) df =
			    json_string_value(v);
			/* STIX TLP form: {"tlp": "green"} means TLP:GREEN */
			if (df && strcasecmp(dt, "tlp") == 0 && strncasecmp(df, "tlp:", 4) != 0) {
				snprintf(buf, sizeof(buf), "TLP:%s", df);
				df = buf;
			}
		}
	}
	if (!dt || !df) {
		snprintf(errbuf, errsz, "marking-definition: missing definition_type/definition");
		return NULL;
	}
	udt = upper(dt);
	udf = upper(df);
	out = json_pack("{s:s,s:s}", "definition_type", udt, "definition", udf);
	free(udt);
	free(udf);
	return out;
}

static const char *static_marking(const json_t *data)
{
	static const struct {
		const char *def, *id;
	} tlp[] = {
	    {"TLP:WHITE", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"},
	    {"TLP:CLEAR", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"},
	    {"TLP:GREEN", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"},
	    {"TLP:AMBER", "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"},
	    {"TLP:AMBER+STRICT", "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"},
	    {"TLP:RED", "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"},
	};
	const char *dt = json_string_value(json_object_get(data, "definition_type"));
	const char *df = json_string_value(json_object_get(data, "definition"));

	if (!dt || strcmp(dt, "TLP") != 0 || !df)
		return NULL;
	for (size_t i = 0; i < sizeof(tlp) / sizeof(*tlp); i++)
		if (strcmp(tlp[i].def, df) == 0)
			return tlp[i].id;
	return NULL;
}

json_t *sl_octi_id_data(const json_t *obj, sl_octi_resolve_fn resolve, void *ctx, char *errbuf,
                        size_t errsz)
{
	const char *type = json_string_value(json_object_get(obj, "type"));
	const struct rule *r = NULL;
	json_t *data = NULL;

	if (!type) {
		snprintf(errbuf, errsz, "object without a type");
		return NULL;
	}
	if (strcmp(type, "marking-definition") == 0)
		return marking_data(obj, errbuf, errsz);
	if (strcmp(type, "location") == 0) {
		const char *lt = json_string_value(json_object_get(obj, "x_opencti_location_type"));
		if ((lt && strcmp(lt, "Position") == 0) ||
		    (!lt && json_object_get(obj, "latitude") &&
		     json_object_get(obj, "longitude"))) {
			data = json_object();
			if (!empty(json_object_get(obj, "latitude")) &&
			    !empty(json_object_get(obj, "longitude"))) {
				json_object_set(data, "latitude", json_object_get(obj, "latitude"));
				json_object_set(data, "longitude",
				                json_object_get(obj, "longitude"));
			} else if (json_is_string(json_object_get(obj, "name"))) {
				char *n =
				    normalise_name(json_string_value(json_object_get(obj, "name")));
				json_object_set_new(data, "name", json_string(n));
				free(n);
			}
		} else if (json_is_string(json_object_get(obj, "name"))) {
			char *n = normalise_name(json_string_value(json_object_get(obj, "name")));
			data = json_pack("{s:s}", "name", n);
			free(n);
			if (lt)
				json_object_set_new(data, "x_opencti_location_type",
				                    json_string(lt));
		}
	} else if (strcmp(type, "threat-actor") == 0) {
		if (json_is_string(json_object_get(obj, "name"))) {
			const char *ot = json_string_value(json_object_get(obj, "x_opencti_type"));
			char *n = normalise_name(json_string_value(json_object_get(obj, "name")));
			data = json_pack("{s:s,s:s}", "name", n, "opencti_type",
			                 ot ? ot : "Threat-Actor-Group");
			free(n);
		}
	} else {
		for (size_t i = 0; i < sizeof(rules) / sizeof(*rules); i++)
			if (strcmp(rules[i].type, type) == 0)
				r = &rules[i];
		if (!r) {
			snprintf(errbuf, errsz, "%s: no id rule for this type", type);
			return NULL;
		}
		for (int w = 0; w < r->nways; w++) {
			json_decref(data);
			data = way_data(&r->ways[w], obj, resolve, ctx);
			if (json_object_size(data) > 0)
				break;
		}
		/* OpenCTI's sighting rule turns its relationship_type into a constant "type" */
		if (strcmp(type, "sighting") == 0 && json_object_size(data) > 0)
			json_object_set_new(data, "type", json_string("sighting"));
	}
	if (!data || json_object_size(data) == 0) {
		json_decref(data);
		snprintf(errbuf, errsz, "%s: missing required elements for its id", type);
		return NULL;
	}
	return data;
}

int sl_octi_uuid5(const char *ns, const char *name, size_t len, char out[37])
{
	unsigned char nsb[16], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c;
	int j = 0;

	for (int i = 0; ns[i] && j < 16; i++) {
		unsigned int b;
		if (ns[i] == '-')
			continue;
		if (sscanf(ns + i, "%2x", &b) != 1)
			return -1;
		nsb[j++] = (unsigned char)b;
		i++;
	}
	if (j != 16)
		return -1;
	c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha1(), NULL);
	EVP_DigestUpdate(c, nsb, 16);
	EVP_DigestUpdate(c, name, len);
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10],
	         md[11], md[12], md[13], md[14], md[15]);
	return 0;
}

char *sl_octi_standard_id(const json_t *obj, sl_octi_resolve_fn resolve, void *ctx, char *errbuf,
                          size_t errsz)
{
	json_t *data = sl_octi_id_data(obj, resolve, ctx, errbuf, errsz);
	const char *type = json_string_value(json_object_get(obj, "type"));
	const char *fixed;
	char *canon, *out, uuid[37];
	size_t n;

	if (!data)
		return NULL;
	if (strcmp(type, "marking-definition") == 0 && (fixed = static_marking(data))) {
		json_decref(data);
		return strdup(fixed);
	}
	/* RFC 8785 for these inputs: sorted keys, no spaces, UTF-8 kept as is */
	canon = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(data);
	if (!canon) {
		snprintf(errbuf, errsz, "%s: cannot serialise the id data", type);
		return NULL;
	}
	sl_octi_uuid5(SL_OCTI_NS_OASIS, canon, strlen(canon), uuid);
	free(canon);
	n = strlen(type) + 2 + 36 + 1;
	out = malloc(n);
	snprintf(out, n, "%s--%s", type, uuid);
	return out;
}

const char *sl_octi_entity_type(const json_t *obj)
{
	static const struct {
		const char *stix, *octi;
	} map[] = {
	    {"indicator", "Indicator"},
	    {"report", "Report"},
	    {"malware", "Malware"},
	    {"tool", "Tool"},
	    {"campaign", "Campaign"},
	    {"intrusion-set", "Intrusion-Set"},
	    {"vulnerability", "Vulnerability"},
	    {"infrastructure", "Infrastructure"},
	    {"attack-pattern", "Attack-Pattern"},
	    {"course-of-action", "Course-Of-Action"},
	    {"note", "Note"},
	    {"opinion", "Opinion"},
	    {"incident", "Incident"},
	    {"grouping", "Grouping"},
	    {"observed-data", "Observed-Data"},
	    {"threat-actor", "Threat-Actor-Group"},
	    {"marking-definition", "Marking-Definition"},
	    {"label", "Label"},
	    {"relationship", "stix-core-relationship"},
	    {"sighting", "stix-sighting-relationship"},
	    {"ipv4-addr", "IPv4-Addr"},
	    {"ipv6-addr", "IPv6-Addr"},
	    {"mac-addr", "Mac-Addr"},
	    {"domain-name", "Domain-Name"},
	    {"url", "Url"},
	    {"email-addr", "Email-Addr"},
	    {"email-message", "Email-Message"},
	    {"file", "StixFile"},
	    {"artifact", "Artifact"},
	    {"directory", "Directory"},
	    {"x509-certificate", "X509-Certificate"},
	    {"autonomous-system", "Autonomous-System"},
	    {"mutex", "Mutex"},
	    {"network-traffic", "Network-Traffic"},
	    {"software", "Software"},
	    {"user-account", "User-Account"},
	    {"windows-registry-key", "Windows-Registry-Key"},
	    {"hostname", "Hostname"},
	    {"text", "Text"},
	    {"user-agent", "User-Agent"},
	    {"phone-number", "Phone-Number"},
	};
	const char *type = json_string_value(json_object_get(obj, "type"));

	if (!type)
		return "Unknown";
	if (strcmp(type, "identity") == 0) {
		const char *c = json_string_value(json_object_get(obj, "identity_class"));
		if (c && strcmp(c, "individual") == 0)
			return "Individual";
		if (c && strcmp(c, "class") == 0)
			return "Sector";
		if (c && strcmp(c, "system") == 0)
			return "System";
		return "Organization";
	}
	if (strcmp(type, "location") == 0) {
		const char *t = json_string_value(json_object_get(obj, "x_opencti_location_type"));
		static const char *const kinds[] = {"City", "Country", "Region", "Position",
		                                    "Administrative-Area"};
		for (size_t i = 0; t && i < sizeof(kinds) / sizeof(*kinds); i++)
			if (strcmp(t, kinds[i]) == 0)
				return kinds[i];
		return "Position";
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i].stix, type) == 0)
			return map[i].octi;
	return "Unknown";
}
