/* misp_objects.c — MISP objects -> STIX 2.1: a table per object template says which STIX object the
 * object becomes and where each object_relation goes; the rest follows one rule, as in misp-stix:
 * observed-data + SCOs always, an indicator (ANDing the to_ids attributes) when any attribute has
 * to_ids, relations without a STIX property become x_misp_<relation>. */
#include "misp_objects.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "map_ctx.h"
#include "misp_galaxy.h"
#include "misp_types.h"

enum rule_kind {
	R_STR,   /* main SCO property, string */
	R_INT,   /* main SCO property, integer */
	R_HASH,  /* main SCO hashes.<key from the attribute type> */
	R_LIST,  /* main SCO property, list of strings */
	R_PROTO, /* network-traffic protocols (lower-cased) */
	R_VALUE, /* registry-key values[0].<prop> */
	R_BOOL,  /* main SCO property, boolean ("1"/"true") */
	R_DATA,  /* main SCO property from the attachment's base64 data */
	R_LANG,  /* software languages: a list of language tags */
	R_CAPEC, /* external_references capec CAPEC-<value> */
	R_TIME,  /* ISO-8601 timestamp, written as STIX (UTC, Z) */
	R_DIR,   /* a directory SCO (attribute uuid) referenced as parent_directory_ref */
};

struct rule {
	const char *relation;
	enum rule_kind kind;
	const char *prop;
	int in_pattern; /* 0: this relation never goes into the pattern */
};

enum tmpl_kind { T_SIMPLE, T_DOMAIN_IP, T_EMAIL, T_NETCONN, T_IPPORT, T_VULN, T_SDO, T_IDENTITY };

struct tmpl {
	const char *name;
	enum tmpl_kind kind;
	const char *sco;
	const struct rule *rules;
	const char *account_type; /* *-account objects: user-account account_type */
};

static const struct rule file_rules[] = {{"md5", R_HASH, NULL, 1},
                                         {"sha1", R_HASH, NULL, 1},
                                         {"sha224", R_HASH, NULL, 1},
                                         {"sha256", R_HASH, NULL, 1},
                                         {"sha384", R_HASH, NULL, 1},
                                         {"sha512", R_HASH, NULL, 1},
                                         {"sha3-224", R_HASH, NULL, 1},
                                         {"sha3-256", R_HASH, NULL, 1},
                                         {"sha3-384", R_HASH, NULL, 1},
                                         {"sha3-512", R_HASH, NULL, 1},
                                         {"ssdeep", R_HASH, NULL, 1},
                                         {"tlsh", R_HASH, NULL, 1},
                                         {"imphash", R_HASH, NULL, 1},
                                         {"authentihash", R_HASH, NULL, 1},
                                         {"vhash", R_HASH, NULL, 1},
                                         {"telfhash", R_HASH, NULL, 1},
                                         {"pehash", R_HASH, NULL, 1},
                                         {"filename", R_STR, "name", 1},
                                         {"size-in-bytes", R_INT, "size", 1},
                                         {"mimetype", R_STR, "mime_type", 1},
                                         {"creation-time", R_STR, "ctime", 1},
                                         {"modification-time", R_STR, "mtime", 1},
                                         {"access-time", R_STR, "atime", 1},
                                         {"path", R_DIR, "parent_directory_ref", 1},
                                         {"file-encoding", R_STR, "name_enc", 1},
                                         {NULL, 0, NULL, 0}};
static const struct rule x509_rules[] = {
    {"x509-fingerprint-md5", R_HASH, NULL, 1},
    {"x509-fingerprint-sha1", R_HASH, NULL, 1},
    {"x509-fingerprint-sha256", R_HASH, NULL, 1},
    {"serial-number", R_STR, "serial_number", 1},
    {"issuer", R_STR, "issuer", 1},
    {"subject", R_STR, "subject", 1},
    {"version", R_STR, "version", 1},
    {"validity-not-before", R_STR, "validity_not_before", 1},
    {"validity-not-after", R_STR, "validity_not_after", 1},
    {"pubkey-info-algorithm", R_STR, "subject_public_key_algorithm", 1},
    {"pubkey-info-exponent", R_INT, "subject_public_key_exponent", 1},
    {"pubkey-info-modulus", R_STR, "subject_public_key_modulus", 1},
    {"signature_algorithm", R_STR, "signature_algorithm", 1},
    {"is_self_signed", R_BOOL, "is_self_signed", 1},
    {NULL, 0, NULL, 0}};
static const struct rule asn_rules[] = {
    {"asn", R_INT, "number", 1}, {"description", R_STR, "name", 1}, {NULL, 0, NULL, 0}};
static const struct rule mutex_rules[] = {{"name", R_STR, "name", 1}, {NULL, 0, NULL, 0}};
static const struct rule regkey_rules[] = {{"key", R_STR, "key", 1},
                                           {"last-modified", R_STR, "modified_time", 1},
                                           {"name", R_VALUE, "name", 1},
                                           {"data", R_VALUE, "data", 1},
                                           {"data-type", R_VALUE, "data_type", 1},
                                           {NULL, 0, NULL, 0}};
static const struct rule url_rules[] = {{"url", R_STR, "value", 1}, {NULL, 0, NULL, 0}};
static const struct rule user_rules[] = {
    {"username", R_STR, "account_login", 1},
    {"user-id", R_STR, "user_id", 1},
    {"account-type", R_STR, "account_type", 1},
    {"display-name", R_STR, "display_name", 1},
    {"password", R_STR, "credential", 1},
    {"created", R_STR, "account_created", 1},
    {"expires", R_STR, "account_expires", 1},
    {"password_last_changed", R_STR, "credential_last_changed", 1},
    {"first_login", R_STR, "account_first_login", 1},
    {"last_login", R_STR, "account_last_login", 1},
    {"can_escalate_privs", R_BOOL, "can_escalate_privs", 1},
    {"disabled", R_BOOL, "is_disabled", 1},
    {"privileged", R_BOOL, "is_privileged", 1},
    {NULL, 0, NULL, 0}};
static const struct rule process_rules[] = {{"pid", R_INT, "pid", 1},
                                            {"command-line", R_STR, "command_line", 1},
                                            {"creation-time", R_STR, "created_time", 1},
                                            {"current-directory", R_STR, "cwd", 1},
                                            {"hidden", R_BOOL, "is_hidden", 1},
                                            {NULL, 0, NULL, 0}};
static const struct rule none_rules[] = {{NULL, 0, NULL, 0}};
static const struct rule android_rules[] = {{"name", R_STR, "name", 1}, {NULL, 0, NULL, 0}};
static const struct rule cpe_rules[] = {{"cpe", R_STR, "cpe", 1},
                                        {"product", R_STR, "name", 1},
                                        {"vendor", R_STR, "vendor", 1},
                                        {"version", R_STR, "version", 1},
                                        {"language", R_LANG, "languages", 1},
                                        {"swid", R_STR, "swid", 1},
                                        {NULL, 0, NULL, 0}};
static const struct rule artifact_rules[] = {
    {"md5", R_HASH, NULL, 1},
    {"sha1", R_HASH, NULL, 1},
    {"sha256", R_HASH, NULL, 1},
    {"sha512", R_HASH, NULL, 1},
    {"payload_bin", R_DATA, "payload_bin", 1},
    {"mime_type", R_STR, "mime_type", 1},
    {"url", R_STR, "url", 1},
    {"encryption_algorithm", R_STR, "encryption_algorithm", 1},
    {"decryption_key", R_STR, "decryption_key", 1},
    {NULL, 0, NULL, 0}};
static const struct rule directory_rules[] = {
    {"path", R_STR, "path", 1},           {"path-encoding", R_STR, "path_enc", 1},
    {"creation-time", R_STR, "ctime", 1}, {"modification-time", R_STR, "mtime", 1},
    {"access-time", R_STR, "atime", 1},   {NULL, 0, NULL, 0}};
static const struct rule credential_rules[] = {
    {"username", R_STR, "user_id", 1}, {"password", R_STR, "credential", 1}, {NULL, 0, NULL, 0}};
static const struct rule ap_rules[] = {{"name", R_STR, "name", 1},
                                       {"summary", R_STR, "description", 1},
                                       {"id", R_CAPEC, NULL, 1},
                                       {NULL, 0, NULL, 0}};
static const struct rule is_rules[] = {{"name", R_STR, "name", 1},
                                       {"description", R_STR, "description", 1},
                                       {"aliases", R_LIST, "aliases", 1},
                                       {"goals", R_LIST, "goals", 1},
                                       {"resource_level", R_STR, "resource_level", 1},
                                       {"primary-motivation", R_STR, "primary_motivation", 1},
                                       {"secondary-motivation", R_LIST, "secondary_motivations", 1},
                                       {"first_seen", R_TIME, "first_seen", 1},
                                       {"last_seen", R_TIME, "last_seen", 1},
                                       {NULL, 0, NULL, 0}};
static const struct rule coa_rules[] = {
    {"name", R_STR, "name", 1}, {"description", R_STR, "description", 1}, {NULL, 0, NULL, 0}};
static const struct rule acct_id_user_rules[] = {{"id", R_STR, "user_id", 1},
                                                 {"username", R_STR, "account_login", 1},
                                                 {"name", R_STR, "display_name", 1},
                                                 {"user-fullname", R_STR, "display_name", 1},
                                                 {NULL, 0, NULL, 0}};
static const struct rule acct_account_rules[] = {{"account-id", R_STR, "user_id", 1},
                                                 {"account-name", R_STR, "account_login", 1},
                                                 {NULL, 0, NULL, 0}};
static const struct rule twitter_rules[] = {{"id", R_STR, "user_id", 1},
                                            {"name", R_STR, "account_login", 1},
                                            {"displayed-name", R_STR, "display_name", 1},
                                            {NULL, 0, NULL, 0}};

/* Sorted by name. For T_IDENTITY, `sco` holds the identity_class. */
static const struct tmpl tmpls[] = {
    {"android-app", T_SIMPLE, "software", android_rules, NULL},
    {"artifact", T_SIMPLE, "artifact", artifact_rules, NULL},
    {"asn", T_SIMPLE, "autonomous-system", asn_rules, NULL},
    {"attack-pattern", T_SDO, "attack-pattern", ap_rules, NULL},
    {"course-of-action", T_SDO, "course-of-action", coa_rules, NULL},
    {"cpe-asset", T_SIMPLE, "software", cpe_rules, NULL},
    {"credential", T_SIMPLE, "user-account", credential_rules, NULL},
    {"directory", T_SIMPLE, "directory", directory_rules, NULL},
    {"domain-ip", T_DOMAIN_IP, "domain-name", none_rules, NULL},
    {"email", T_EMAIL, "email-message", none_rules, NULL},
    {"employee", T_IDENTITY, "individual", none_rules, NULL},
    {"facebook-account", T_SIMPLE, "user-account", acct_account_rules, "facebook"},
    {"file", T_SIMPLE, "file", file_rules, NULL},
    {"github-user", T_SIMPLE, "user-account", acct_id_user_rules, "github"},
    {"gitlab-user", T_SIMPLE, "user-account", acct_id_user_rules, "gitlab"},
    {"intrusion-set", T_SDO, "intrusion-set", is_rules, NULL},
    {"ip-port", T_IPPORT, "network-traffic", none_rules, NULL},
    {"legal-entity", T_IDENTITY, "organization", none_rules, NULL},
    {"mutex", T_SIMPLE, "mutex", mutex_rules, NULL},
    {"network-connection", T_NETCONN, "network-traffic", none_rules, NULL},
    {"network-socket", T_NETCONN, "network-traffic", none_rules, NULL},
    {"news-agency", T_IDENTITY, "organization", none_rules, NULL},
    {"organization", T_IDENTITY, "organization", none_rules, NULL},
    {"parler-account", T_SIMPLE, "user-account", acct_account_rules, "parler"},
    {"person", T_IDENTITY, "individual", none_rules, NULL},
    {"process", T_SIMPLE, "process", process_rules, NULL},
    {"reddit-account", T_SIMPLE, "user-account", acct_account_rules, "reddit"},
    {"registry-key", T_SIMPLE, "windows-registry-key", regkey_rules, NULL},
    {"telegram-account", T_SIMPLE, "user-account", acct_id_user_rules, "telegram"},
    {"twitter-account", T_SIMPLE, "user-account", twitter_rules, "twitter"},
    {"url", T_SIMPLE, "url", url_rules, NULL},
    {"user-account", T_SIMPLE, "user-account", user_rules, NULL},
    {"vulnerability", T_VULN, "vulnerability", none_rules, NULL},
    {"x509", T_SIMPLE, "x509-certificate", x509_rules, NULL},
};

static const struct tmpl *find_tmpl(const char *name)
{
	for (size_t i = 0; name && i < sizeof(tmpls) / sizeof(tmpls[0]); i++)
		if (!strcmp(tmpls[i].name, name))
			return &tmpls[i];
	return NULL;
}

struct oattr {
	const char *category, *comment, *data;
	const char *rel, *type, *value, *uuid;
	int to_ids;
	int used;
};

struct obj {
	const json_t *ts_v; /* the object's timestamp member */
	const char *comment, *first_seen, *last_seen;
	const char *uuid, *name, *meta;
	char ts[SL_TS_MAX];
	char where[96];
	struct oattr *at;
	size_t n;
	int any_ids;
};

static void custom_prop(char *out, size_t n, const char *rel)
{
	size_t i, o = 0;

	o = (size_t)snprintf(out, n, "x_misp_");
	for (i = 0; rel[i] && o + 1 < n; i++)
		out[o++] = (rel[i] == '-' || rel[i] == ' ' || rel[i] == '.') ? '_' : rel[i];
	out[o] = '\0';
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v));
}

/* A relation with no STIX home as x_misp_<relation>: attachments keep their data, booleans are JSON
 * booleans, and a relation given several times becomes a list (as misp-stix writes them). */
static void set_custom(json_t *o, const char *prop, const struct oattr *a)
{
	json_t *v, *old;
	const char *data = a->data;

	if ((!strcmp(a->type, "attachment") || !strcmp(a->type, "malware-sample")) && data)
		v = json_pack("{s:s, s:s}", "value", a->value, "data", data);
	else if (!strcmp(a->type, "boolean"))
		v = json_boolean(!strcasecmp(a->value, "true") || !strcmp(a->value, "1"));
	else
		v = json_string(a->value);
	old = json_object_get(o, prop);
	if (!old) {
		json_object_set_new(o, prop, v);
	} else if (json_is_array(old)) {
		json_array_append_new(old, v);
	} else {
		json_t *l = json_pack("[O, o]", old, v);
		json_object_set_new(o, prop, l);
	}
}

/* A pattern path "<type>:<prop>" with a property name that needs quoting quoted. */
static void path_of(char *out, size_t n, const char *type, const char *prop)
{
	snprintf(out, n, "%s:%s", type, prop);
}

static int add_pat(struct sl_map_ctx *c, const struct oattr *a, const char *path, const char *v)
{
	if (!a->to_ids)
		return 0;
	return sl_pattern_add(c->pat, path, v, strlen(v));
}

static int simple(struct sl_map_ctx *c, struct obj *ob, const struct tmpl *t, json_t *scos)
{
	json_t *s = sl_map_sco(t->sco, ob->uuid);
	char path[160], prop[128];
	json_t *values = NULL;
	json_t *extra = json_array(); /* SCOs the main one references (directories) */
	int pass;

	/* pass 0: hashes, pass 1: named properties, pass 2: custom properties — misp-stix's pattern
	 * order */
	for (pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < ob->n; i++) {
			struct oattr *a = &ob->at[i];
			const struct rule *r = NULL;
			if (a->used)
				continue;
			for (const struct rule *x = t->rules; x->relation; x++)
				if (!strcmp(x->relation, a->rel)) {
					r = x;
					break;
				}
			if (pass == 0 && (!r || r->kind != R_HASH))
				continue;
			if (pass == 1 && (!r || r->kind == R_HASH))
				continue;
			if (pass == 2 && r)
				continue;
			a->used = 1;
			if (!r) {
				custom_prop(prop, sizeof(prop), a->rel);
				int repeat = json_object_get(s, prop) != NULL;
				set_custom(s, prop, a);
				if (repeat)
					continue;
				path_of(path, sizeof(path), t->sco, prop);
				if (add_pat(c, a, path, a->value))
					return SL_ENOMEM;
				continue;
			}
			switch (r->kind) {
			case R_HASH: {
				const struct sl_mtype *mt = sl_mtype_hash(a->type);
				if (!mt)
					mt = sl_mtype_hash(a->rel);
				if (!mt) {
					a->used = 0;
					continue;
				}
				json_t *h = json_object_get(s, "hashes");
				if (!h) {
					h = json_object();
					json_object_set_new(s, "hashes", h);
				}
				set_str(h, mt->hash_sco, a->value);
				snprintf(path, sizeof(path), "%s:hashes.%s", t->sco, mt->hash_pat);
				if (add_pat(c, a, path, a->value))
					return SL_ENOMEM;
				break;
			}
			case R_INT: {
				const char *d = a->value;
				char *end;
				if (!strncasecmp(d, "AS", 2) && !strcmp(r->prop, "number"))
					d += 2;
				long long v = strtoll(d, &end, 10);
				if (end == d || *end) {
					sl_map_warn(c, SL_EINVAL, ob->where,
					            "%s \"%s\" is not a whole number; kept as text",
					            a->rel, a->value);
					custom_prop(prop, sizeof(prop), a->rel);
					set_str(s, prop, a->value);
					break;
				}
				json_object_set_new(s, r->prop, json_integer(v));
				char num[32];
				snprintf(num, sizeof(num), "%lld", v);
				path_of(path, sizeof(path), t->sco, r->prop);
				if (add_pat(c, a, path, num))
					return SL_ENOMEM;
				break;
			}
			case R_BOOL: {
				int b = !strcasecmp(a->value, "true") || !strcmp(a->value, "1");
				json_object_set_new(s, r->prop, json_boolean(b));
				path_of(path, sizeof(path), t->sco, r->prop);
				if (a->to_ids &&
				    sl_pattern_add(c->pat, path, b ? "true" : "false", b ? 4 : 5))
					return SL_ENOMEM;
				break;
			}
			case R_DIR: {
				if (!a->uuid || json_object_get(s, r->prop)) {
					custom_prop(prop, sizeof(prop), a->rel);
					set_custom(s, prop, a);
					break;
				}
				json_t *d = sl_map_sco("directory", a->uuid);
				set_str(d, "path", a->value);
				json_object_set(s, r->prop, json_object_get(d, "id"));
				json_array_append_new(extra, d);
				snprintf(path, sizeof(path), "%s:%s.path", t->sco, r->prop);
				if (add_pat(c, a, path, a->value))
					return SL_ENOMEM;
				break;
			}
			case R_LIST:
				sl_map_push_str(s, r->prop, a->value);
				break;
			case R_CAPEC: {
				char ext[96];
				snprintf(ext, sizeof(ext), "CAPEC-%.80s", a->value);
				json_t *er = json_object_get(s, "external_references");
				if (!er) {
					er = json_array();
					json_object_set_new(s, "external_references", er);
				}
				json_array_append_new(er, json_pack("{s:s, s:s}", "source_name",
				                                    "capec", "external_id", ext));
				break;
			}
			case R_TIME: {
				char ts[SL_TS_MAX];
				if (sl_map_iso_ts(a->value, ts) == 0)
					set_str(s, r->prop, ts);
				else
					set_custom(s, r->prop, a);
				break;
			}
			case R_DATA: {
				const char *data = a->data;
				if (!data)
					break;
				set_str(s, r->prop, data);
				break;
			}
			case R_LANG: {
				/* RFC 5646 tags are lower-case language subtags; others stay custom
				 */
				int ok = a->value[0] != '\0';
				for (const char *q = a->value; *q && *q != '-'; q++)
					if (*q < 'a' || *q > 'z')
						ok = 0;
				if (ok) {
					sl_map_push_str(s, r->prop, a->value);
				} else {
					custom_prop(prop, sizeof(prop), a->rel);
					set_custom(s, prop, a);
				}
				break;
			}
			case R_VALUE: {
				if (!values) {
					values = json_object();
				}
				set_str(values, r->prop, a->value);
				snprintf(path, sizeof(path), "%s:values.%s", t->sco, r->prop);
				if (add_pat(c, a, path, a->value))
					return SL_ENOMEM;
				break;
			}
			default: {
				if (!strcmp(t->sco, "windows-registry-key") &&
				    !strcmp(r->prop, "key")) {
					char *k = sl_misp_regkey_full(a->value, strlen(a->value));
					if (!k)
						return SL_ENOMEM;
					set_str(s, "key", k);
					path_of(path, sizeof(path), t->sco, "key");
					int rr = add_pat(c, a, path, k);
					free(k);
					if (rr)
						return SL_ENOMEM;
					break;
				}
				if (json_object_get(s, r->prop))
					break;
				set_str(s, r->prop, a->value);
				path_of(path, sizeof(path), t->sco, r->prop);
				if (add_pat(c, a, path, a->value))
					return SL_ENOMEM;
			}
			}
		}
	}
	if (values)
		json_object_set_new(s, "values", json_pack("[o]", values));
	if (t->account_type && !json_object_get(s, "account_type"))
		set_str(s, "account_type", t->account_type);
	const char *need = !strcmp(t->sco, "autonomous-system") ? "number"
	                   : !strcmp(t->sco, "mutex")           ? "name"
	                   : !strcmp(t->sco, "url")             ? "value"
	                                                        : NULL;
	if ((need && !json_object_get(s, need)) || json_object_size(s) <= 3) {
		json_decref(s);
		json_decref(extra);
		sl_map_warn(c, SL_EINVAL, ob->where,
		            "%s object has no attribute for the required STIX %s property; skipped",
		            ob->name, need ? need : "observable");
		return SL_EINVAL;
	}
	json_array_append_new(scos, s);
	json_array_extend(scos, extra);
	json_decref(extra);
	return 0;
}

static struct oattr *first_rel(struct obj *ob, const char *rel)
{
	for (size_t i = 0; i < ob->n; i++)
		if (!strcmp(ob->at[i].rel, rel) && !ob->at[i].used)
			return &ob->at[i];
	return NULL;
}

static void custom_rest(struct sl_map_ctx *c, struct obj *ob, json_t *s, const char *type)
{
	char prop[128], path[160];

	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *a = &ob->at[i];
		if (a->used)
			continue;
		a->used = 1;
		custom_prop(prop, sizeof(prop), a->rel);
		if (json_object_get(s, prop))
			continue;
		set_str(s, prop, a->value);
		path_of(path, sizeof(path), type, prop);
		add_pat(c, a, path, a->value);
	}
}

static int domain_ip(struct sl_map_ctx *c, struct obj *ob, json_t *scos)
{
	struct oattr *dom = first_rel(ob, "domain");
	json_t *resolves = json_array();
	json_t *d;
	char id[SL_STIX_ID_MAX];

	if (!dom) {
		json_decref(resolves);
		sl_map_warn(c, SL_EINVAL, ob->where,
		            "Missing minimum requirement to build a DomainName object from a "
		            "domain-ip MISP Object.");
		return SL_EINVAL;
	}
	dom->used = 1;
	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *a = &ob->at[i];
		if (strcmp(a->rel, "ip") != 0 || a->used)
			continue;
		int k = sl_misp_ip_kind(a->value);
		if (!k || !a->uuid)
			continue;
		a->used = 1;
		json_t *ip = sl_map_sco(k == 6 ? "ipv6-addr" : "ipv4-addr", a->uuid);
		set_str(ip, "value", a->value);
		json_array_append(resolves, json_object_get(ip, "id"));
		json_array_append_new(scos, ip);
	}
	d = sl_map_sco("domain-name", dom->uuid ? dom->uuid : ob->uuid);
	set_str(d, "value", dom->value);
	if (json_array_size(resolves))
		json_object_set(d, "resolves_to_refs", resolves);
	if (add_pat(c, dom, "domain-name:value", dom->value))
		return SL_ENOMEM;
	size_t i;
	json_t *r;
	json_array_foreach(resolves, i, r)
	{
		(void)r;
	}
	for (i = 0; i < ob->n; i++)
		if (!strcmp(ob->at[i].rel, "ip") && ob->at[i].used &&
		    add_pat(c, &ob->at[i], "domain-name:resolves_to_refs[*].value",
		            ob->at[i].value))
			return SL_ENOMEM;
	json_decref(resolves);
	custom_rest(c, ob, d, "domain-name");
	(void)id;
	json_array_append_new(scos, d);
	return 0;
}

static int email(struct sl_map_ctx *c, struct obj *ob, json_t *scos)
{
	static const struct {
		const char *rel, *prop, *path;
	} fields[] = {
	    {"message-id", "message_id", "email-message:message_id"},
	    {"reply-to", NULL, "email-message:additional_header_fields.reply_to"},
	    {"subject", "subject", "email-message:subject"},
	    {"x-mailer", NULL, "email-message:additional_header_fields.x_mailer"},
	    {"email-body", "body", "email-message:body"},
	    {"send-date", "date", "email-message:date"},
	};
	json_t *m = sl_map_sco("email-message", ob->uuid), *addrs = json_array();
	char path[96], dn[48];
	static const char *rels[] = {"to", "cc", "bcc", "from"};

	json_object_set_new(m, "is_multipart", json_false());
	/* to, cc, bcc, then from, attachments, then the header fields: misp-stix's pattern order */
	for (int pass = 0; pass < 4; pass++) {
		const char *rel = rels[pass];
		size_t idx = 0, nd = 0;
		snprintf(dn, sizeof(dn), "%s-display-name", rel);
		for (size_t i = 0; i < ob->n; i++) {
			struct oattr *a = &ob->at[i];
			if (strcmp(a->rel, rel) != 0 || a->used)
				continue;
			if ((pass == 3 && json_object_get(m, "from_ref")) || !a->uuid)
				continue;
			a->used = 1;
			json_t *ad = sl_map_sco("email-addr", a->uuid);
			set_str(ad, "value", a->value);
			/* the n-th display name belongs to the n-th address */
			for (size_t j = 0, seen = 0; j < ob->n; j++) {
				if (strcmp(ob->at[j].rel, dn) != 0)
					continue;
				if (seen++ == nd) {
					ob->at[j].used = 1;
					set_str(ad, "display_name", ob->at[j].value);
					break;
				}
			}
			nd++;
			const char *id = json_string_value(json_object_get(ad, "id"));
			if (pass == 3) {
				set_str(m, "from_ref", id);
				snprintf(path, sizeof(path), "email-message:from_ref.value");
			} else {
				char key[16];
				snprintf(key, sizeof(key), "%s_refs", rel);
				sl_map_push_str(m, key, id);
				snprintf(path, sizeof(path), "email-message:%s_refs[%zu].value",
				         rel, idx++);
			}
			json_array_append_new(addrs, ad);
			if (add_pat(c, a, path, a->value))
				return SL_ENOMEM;
		}
	}
	size_t natt = 0;
	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *a = &ob->at[i];
		if (strcmp(a->rel, "attachment") != 0 || a->used || !a->uuid)
			continue;
		a->used = 1;
		json_t *f = sl_map_sco("file", a->uuid);
		set_str(f, "name", a->value);
		char disp[600];
		snprintf(disp, sizeof(disp), "attachment; filename='%.500s'", a->value);
		json_t *part = json_object();
		json_object_set(part, "body_raw_ref", json_object_get(f, "id"));
		set_str(part, "content_disposition", disp);
		json_t *bm = json_object_get(m, "body_multipart");
		if (!bm) {
			bm = json_array();
			json_object_set_new(m, "body_multipart", bm);
		}
		json_array_append_new(bm, part);
		json_object_set_new(m, "is_multipart", json_true());
		json_array_append_new(addrs, f);
		snprintf(path, sizeof(path), "email-message:body_multipart[%zu].body_raw_ref.name",
		         natt);
		if (add_pat(c, a, path, a->value))
			return SL_ENOMEM;
		snprintf(path, sizeof(path),
		         "email-message:body_multipart[%zu].content_disposition", natt++);
		if (add_pat(c, a, path, "attachment"))
			return SL_ENOMEM;
	}
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		struct oattr *a = first_rel(ob, fields[f].rel);
		if (!a)
			continue;
		a->used = 1;
		if (fields[f].prop) {
			set_str(m, fields[f].prop, a->value);
		} else {
			json_t *h = json_object_get(m, "additional_header_fields");
			if (!h) {
				h = json_object();
				json_object_set_new(m, "additional_header_fields", h);
			}
			set_str(h, !strcmp(fields[f].rel, "reply-to") ? "Reply-To" : "X-Mailer",
			        a->value);
		}
		if (add_pat(c, a, fields[f].path, a->value))
			return SL_ENOMEM;
	}
	custom_rest(c, ob, m, "email-message");
	json_array_append_new(scos, m);
	json_array_extend(scos, addrs);
	json_decref(addrs);
	return 0;
}

static int ip_ref(struct sl_map_ctx *c, struct oattr *a, const char *side, json_t *nt, json_t *scos)
{
	int k = sl_misp_ip_kind(a->value);
	char path[64];
	const char *it = k == 6 ? "ipv6-addr" : "ipv4-addr";

	if (!k || !a->uuid)
		return 0;
	a->used = 1;
	json_t *ip = sl_map_sco(it, a->uuid);
	set_str(ip, "value", a->value);
	snprintf(path, sizeof(path), "%s_ref", side);
	json_object_set(nt, path, json_object_get(ip, "id"));
	json_array_append_new(scos, ip);
	if (a->to_ids) {
		if (sl_pattern_group_begin(c->pat))
			return SL_ENOMEM;
		snprintf(path, sizeof(path), "network-traffic:%s_ref.type", side);
		sl_pattern_add(c->pat, path, it, strlen(it));
		snprintf(path, sizeof(path), "network-traffic:%s_ref.value", side);
		sl_pattern_add(c->pat, path, a->value, strlen(a->value));
		if (sl_pattern_group_end(c->pat))
			return SL_ENOMEM;
	}
	return 0;
}

static int host_ref(struct sl_map_ctx *c, struct oattr *a, const char *side)
{
	char path[64];

	if (!a->to_ids)
		return 0;
	if (sl_pattern_group_begin(c->pat))
		return SL_ENOMEM;
	snprintf(path, sizeof(path), "network-traffic:%s_ref.type", side);
	sl_pattern_add(c->pat, path, "domain-name", 11);
	snprintf(path, sizeof(path), "network-traffic:%s_ref.value", side);
	sl_pattern_add(c->pat, path, a->value, strlen(a->value));
	return sl_pattern_group_end(c->pat);
}

static int port_prop(struct sl_map_ctx *c, json_t *nt, struct oattr *a, const char *prop)
{
	char *end;
	long v = strtol(a->value, &end, 10);
	char path[64];

	a->used = 1;
	if (end == a->value || *end || v < 0 || v > 65535) {
		sl_map_warn(c, SL_EINVAL, a->uuid ? a->uuid : "",
		            "port \"%.20s\" is not 0-65535; dropped", a->value);
		return 0;
	}
	json_object_set_new(nt, prop, json_integer(v));
	snprintf(path, sizeof(path), "network-traffic:%s", prop);
	return add_pat(c, a, path, a->value);
}

static int netconn(struct sl_map_ctx *c, struct obj *ob, json_t *scos, int ipport)
{
	json_t *nt = sl_map_sco("network-traffic", ob->uuid), *ips = json_array();
	struct oattr *a;
	int r = 0;

	if ((a = first_rel(ob, "ip-src")))
		r |= ip_ref(c, a, "src", nt, ips);
	if ((a = first_rel(ob, ipport ? "ip" : "ip-dst")))
		r |= ip_ref(c, a, "dst", nt, ips);
	if (ipport && !json_object_get(nt, "dst_ref") && (a = first_rel(ob, "ip-dst")))
		r |= ip_ref(c, a, "dst", nt, ips);
	if (!ipport) {
		if ((a = first_rel(ob, "hostname-src")))
			r |= host_ref(c, a, "src");
		if ((a = first_rel(ob, "hostname-dst")))
			r |= host_ref(c, a, "dst");
	} else if ((a = first_rel(ob, "domain"))) {
		r |= host_ref(c, a, "dst");
	} else if ((a = first_rel(ob, "hostname"))) {
		r |= host_ref(c, a, "dst");
	}
	if (!json_object_get(nt, "src_ref") && !json_object_get(nt, "dst_ref")) {
		json_decref(nt);
		json_decref(ips);
		sl_map_warn(c, SL_EINVAL, ob->where,
		            "%s object has no valid source or destination IP address; "
		            "at least one of (dst_ref, src_ref) is required",
		            ob->name);
		return SL_EINVAL;
	}
	if ((a = first_rel(ob, "src-port")))
		r |= port_prop(c, nt, a, "src_port");
	if ((a = first_rel(ob, "dst-port")))
		r |= port_prop(c, nt, a, "dst_port");
	json_t *protos = json_array();
	if (ipport) {
		const char *ref = json_string_value(json_object_get(nt, "dst_ref"));
		if (!ref)
			ref = json_string_value(json_object_get(nt, "src_ref"));
		json_array_append_new(protos,
		                      json_string(!strncmp(ref, "ipv6", 4) ? "ipv6" : "ipv4"));
	}
	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *p = &ob->at[i];
		if (p->used ||
		    ((strncmp(p->rel, "layer", 5) != 0 || !strstr(p->rel, "-protocol")) &&
		     strcmp(p->rel, "protocol") != 0))
			continue;
		p->used = 1;
		char low[64];
		size_t k;
		for (k = 0; p->value[k] && k + 1 < sizeof(low); k++)
			low[k] = (char)tolower((unsigned char)p->value[k]);
		low[k] = '\0';
		json_array_append_new(protos, json_string(low));
	}
	if (json_array_size(protos) == 0)
		json_array_append_new(protos, json_string("tcp"));
	json_object_set_new(nt, "protocols", protos);
	/* network-socket: the socket extension */
	if (!strcmp(ob->name, "network-socket")) {
		json_t *ext = json_object();
		struct oattr *x;
		if ((x = first_rel(ob, "address-family"))) {
			x->used = 1;
			set_str(ext, "address_family", x->value);
		}
		if ((x = first_rel(ob, "socket-type"))) {
			x->used = 1;
			set_str(ext, "socket_type", x->value);
		}
		if ((x = first_rel(ob, "state"))) {
			char prop[64];
			x->used = 1;
			snprintf(prop, sizeof(prop), "is_%s", x->value);
			if (!strcmp(x->value, "listening") || !strcmp(x->value, "blocking"))
				json_object_set_new(ext, prop, json_true());
		}
		if (json_object_size(ext))
			json_object_set_new(nt, "extensions",
			                    json_pack("{s:o}", "socket-ext", ext));
		else
			json_decref(ext);
	}
	/* ip-port's domain and network-connection's hostnames are kept as custom properties */
	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *p = &ob->at[i];
		if (p->used)
			continue;
		char prop[128];
		p->used = 1;
		custom_prop(prop, sizeof(prop), p->rel);
		if (!json_object_get(nt, prop))
			set_str(nt, prop, p->value);
	}
	json_array_append_new(scos, nt);
	json_array_extend(scos, ips);
	json_decref(ips);
	return r ? SL_ENOMEM : 0;
}

static json_t *vuln(struct sl_map_ctx *c, struct obj *ob)
{
	json_t *v = sl_map_sdo(c, "vulnerability", ob->uuid, ob->ts);
	json_t *ext = json_array();
	char prop[128];

	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *a = &ob->at[i];
		if (!strcmp(a->rel, "id")) {
			if (!json_object_get(v, "name"))
				set_str(v, "name", a->value);
			json_array_append_new(ext, json_pack("{s:s, s:s}", "source_name", "cve",
			                                     "external_id", a->value));
		} else if (!strcmp(a->rel, "summary") || !strcmp(a->rel, "description")) {
			set_str(v, "description", a->value);
		} else if (!strcmp(a->rel, "references")) {
			json_array_append_new(
			    ext, json_pack("{s:s, s:s}", "source_name", "url", "url", a->value));
		} else {
			custom_prop(prop, sizeof(prop), a->rel);
			if (!json_object_get(v, prop))
				set_str(v, prop, a->value);
		}
	}
	if (!json_object_get(v, "name"))
		set_str(v, "name", ob->name);
	if (json_array_size(ext))
		json_object_set_new(v, "external_references", ext);
	else
		json_decref(ext);
	return v;
}

static void obj_labels(json_t *o, const struct obj *ob);

/* Detection-rule objects -> an indicator whose pattern is the rule itself (not a STIX pattern). */
static const struct {
	const char *name, *rule_rel, *ptype, *name_rel;
} rule_objects[] = {
    {"nova-rule", "raw-rule", "nova", "rule-name"},
    {"owasp-crs-rule", "raw-rule", "crs", "rule-id"},
    {"sigma", "sigma", "sigma", "sigma-rule-name"},
    {"snort", "snort", "snort", "snort-rule-name"},
    {"suricata", "suricata", "suricata", "suricata-rule-name"},
    {"wazuh-rule", "wazuh-rule", "wazuh", "rule-id"},
    {"yara", "yara", "yara", "yara-rule-name"},
};

static int rule_object(struct sl_map_ctx *c, struct obj *ob)
{
	size_t k;
	char prop[128];

	for (k = 0; k < sizeof(rule_objects) / sizeof(rule_objects[0]); k++)
		if (!strcmp(ob->name, rule_objects[k].name))
			break;
	if (k == sizeof(rule_objects) / sizeof(rule_objects[0]))
		return 1;
	struct oattr *rule = first_rel(ob, rule_objects[k].rule_rel);
	if (!rule) {
		sl_map_warn(c, SL_EINVAL, ob->where, "%s object has no %s rule; skipped", ob->name,
		            rule_objects[k].rule_rel);
		return 0;
	}
	rule->used = 1;
	json_t *ind = sl_map_sdo(c, "indicator", ob->uuid, ob->ts), *ext = json_array();
	char vf[SL_TS_MAX];
	sl_map_ts(c, ob->ts_v, 0, vf);
	const char *version = "2.1";
	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *a = &ob->at[i];
		if (a->used)
			continue;
		a->used = 1;
		if (!strcmp(a->rel, rule_objects[k].name_rel))
			set_str(ind, "name", a->value);
		else if (!strcmp(a->rel, "comment"))
			set_str(ind, "description", a->value);
		else if (!strcmp(a->rel, "version"))
			version = a->value;
		else if (!strcmp(a->rel, "reference") || !strcmp(a->rel, "ref"))
			json_array_append_new(
			    ext, json_pack("{s:s, s:s}", "source_name", "url", "url", a->value));
		else {
			custom_prop(prop, sizeof(prop), a->rel);
			set_custom(ind, prop, a);
		}
	}
	set_str(ind, "pattern", rule->value);
	set_str(ind, "pattern_type", rule_objects[k].ptype);
	set_str(ind, "pattern_version", version);
	set_str(ind, "valid_from", vf);
	json_object_set_new(ind, "kill_chain_phases",
	                    json_pack("[{s:s, s:s}]", "kill_chain_name", "misp-category",
	                              "phase_name", ob->meta ? ob->meta : ""));
	obj_labels(ind, ob);
	if (json_array_size(ext))
		json_object_set_new(ind, "external_references", ext);
	else
		json_decref(ext);
	return sl_map_add(c, ind) < 0 ? SL_ENOMEM : 0;
}

/* person, employee, organization, legal-entity, news-agency -> identity, as misp-stix builds it:
 * contact relations joined into contact_information "rel: value / rel: value". */
static json_t *identity(struct sl_map_ctx *c, struct obj *ob, const char *cls)
{
	static const char *contact[] = {"address", "e-mail",     "email-address", "phone-number",
	                                "website", "fax-number", "link"};
	json_t *o = sl_map_sdo(c, "identity", ob->uuid, ob->ts);
	char name[512] = "", prop[128];
	const char *first = NULL, *last = NULL;
	json_t *ci = json_array();

	for (size_t i = 0; i < ob->n; i++) {
		struct oattr *a = &ob->at[i];
		int is_contact = 0;
		for (size_t k = 0; k < sizeof(contact) / sizeof(contact[0]); k++)
			if (!strcmp(a->rel, contact[k]))
				is_contact = 1;
		if (!strcmp(a->rel, "name") && !name[0])
			snprintf(name, sizeof(name), "%s", a->value);
		else if (!strcmp(a->rel, "first-name"))
			first = a->value;
		else if (!strcmp(a->rel, "last-name"))
			last = a->value;
		else if (!strcmp(a->rel, "text") || !strcmp(a->rel, "description"))
			set_str(o, "description", a->value);
		else if (!strcmp(a->rel, "role") || !strcmp(a->rel, "employee-type"))
			sl_map_push_str(o, "roles", a->value);
		else if (!strcmp(a->rel, "business"))
			sl_map_push_str(o, "sectors", a->value);
		else if (is_contact) {
			char line[1024];
			snprintf(line, sizeof(line), "%s: %s", a->rel, a->value);
			json_array_append_new(ci, json_string(line));
		} else {
			custom_prop(prop, sizeof(prop), a->rel);
			set_custom(o, prop, a);
		}
	}
	if (!name[0] && (first || last))
		snprintf(name, sizeof(name), "%s%s%s", first ? first : "", first && last ? " " : "",
		         last ? last : "");
	set_str(o, "name", name[0] ? name : ob->name);
	set_str(o, "identity_class", cls);
	if (json_array_size(ci)) {
		size_t total = 0, i;
		json_t *x;
		json_array_foreach(ci, i, x) total += strlen(json_string_value(x)) + 3;
		char *buf = malloc(total + 1);
		if (buf) {
			buf[0] = '\0';
			size_t off = 0;
			json_array_foreach(ci, i, x)
			{
				off += (size_t)snprintf(buf + off, total + 1 - off, "%s%s",
				                        i ? " / " : "", json_string_value(x));
			}
			set_str(o, "contact_information", buf);
			free(buf);
		}
	}
	json_decref(ci);
	obj_labels(o, ob);
	return o;
}

static void obj_labels(json_t *o, const struct obj *ob)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "misp:name=\"%s\"", ob->name);
	sl_map_push_str(o, "labels", buf);
	snprintf(buf, sizeof(buf), "misp:meta-category=\"%s\"", ob->meta ? ob->meta : "");
	sl_map_push_str(o, "labels", buf);
}

static json_t *custom_object(struct sl_map_ctx *c, struct obj *ob)
{
	json_t *o = sl_map_sdo(c, "x-misp-object", ob->uuid, ob->ts);
	json_t *attrs = json_array();

	obj_labels(o, ob);
	for (size_t i = 0; i < ob->n; i++) {
		const struct oattr *a = &ob->at[i];
		json_t *x = json_pack("{s:s, s:s, s:s}", "type", a->type, "object_relation", a->rel,
		                      "value", a->value);
		const char *cat = a->category;
		const char *cm = a->comment;
		const char *data = a->data;
		if (cat)
			set_str(x, "category", cat);
		if (cm && *cm)
			set_str(x, "comment", cm);
		if (a->to_ids)
			json_object_set_new(x, "to_ids", json_true());
		if (a->uuid)
			set_str(x, "uuid", a->uuid);
		if (data)
			set_str(x, "data", data);
		json_array_append_new(attrs, x);
	}
	if (json_array_size(attrs))
		json_object_set_new(o, "x_misp_attributes", attrs);
	else
		json_decref(attrs);
	const char *cm = ob->comment;
	if (cm && *cm)
		set_str(o, "x_misp_comment", cm);
	set_str(o, "x_misp_meta_category", ob->meta ? ob->meta : "");
	set_str(o, "x_misp_name", ob->name);
	return o;
}

/* One object from its members (in), tree or text alike: every check and warning from here on is
 * the same for both. */
static int map_object_in(struct sl_map_ctx *c, const struct sl_map_obj_in *in, size_t idx)
{
	struct obj ob;
	int r = 0;

	memset(&ob, 0, sizeof(ob));
	ob.ts_v = in->timestamp;
	ob.comment = in->comment;
	ob.first_seen = in->first_seen;
	ob.last_seen = in->last_seen;
	ob.uuid = in->uuid;
	ob.name = in->name;
	ob.meta = in->meta;
	if (!ob.uuid || !sl_stix_id_uuid_valid(ob.uuid) || !ob.name) {
		char w[48];
		snprintf(w, sizeof(w), "Object[%zu]", idx);
		sl_map_warn(c, SL_EINVAL, w, "object has no valid uuid or name; skipped");
		return 0;
	}
	snprintf(ob.where, sizeof(ob.where), "object %s", ob.uuid);
	sl_map_ts(c, in->timestamp, 1, ob.ts);
	if (!in->attr_list) {
		sl_map_warn(c, SL_EINVAL, ob.where, "object Attribute is not a list; skipped");
		return 0;
	}
	ob.at = calloc(in->n + 1, sizeof(*ob.at));
	json_t *owned = json_array(); /* normalised copies of values, freed with the object */
	if (!ob.at || !owned) {
		free(ob.at);
		json_decref(owned);
		return SL_ENOMEM;
	}
	size_t i;
	for (i = 0; i < in->n; i++) {
		const struct sl_map_oattr_in *a = &in->at[i];
		struct oattr *x = &ob.at[ob.n];
		x->category = a->category;
		x->comment = a->comment;
		x->data = a->data;
		x->rel = a->rel;
		x->type = a->type;
		x->value = a->value;
		x->uuid = a->uuid;
		char w[160];
		snprintf(w, sizeof(w), "object %s/attribute %s", ob.uuid, x->uuid ? x->uuid : "?");
		if (x->uuid && !sl_stix_id_uuid_valid(x->uuid))
			x->uuid = NULL;
		if (!x->rel || !x->type || !x->value) {
			sl_map_warn(c, SL_EINVAL, w,
			            "object attribute lacks an object_relation, type or value; "
			            "skipped");
			continue;
		}
		/* misp-stix sees object values with one layer of enclosing quotes removed */
		size_t vl = strlen(x->value);
		if (vl >= 2 && (x->value[0] == '\'' || x->value[0] == '"') &&
		    x->value[vl - 1] == x->value[0]) {
			json_array_append_new(owned, json_stringn(x->value + 1, vl - 2));
			x->value =
			    json_string_value(json_array_get(owned, json_array_size(owned) - 1));
		}
		const char *why = sl_misp_value_problem(x->type, x->value);
		if (why) {
			char q[80];
			sl_err_quote(q, sizeof(q), x->value, 60);
			sl_map_warn(c, SL_EINVAL, w,
			            "%s attribute value \"%s\" %s; attribute skipped", x->type, q,
			            why);
			continue;
		}
		char *norm = sl_misp_normalise(x->type, x->value);
		if (norm) {
			json_array_append_new(owned, json_string(norm));
			free(norm);
			x->value =
			    json_string_value(json_array_get(owned, json_array_size(owned) - 1));
		}
		const struct sl_mtype *mt = sl_mtype_get(x->type);
		x->to_ids = a->to_ids >= 0 ? a->to_ids : mt ? mt->to_ids_default : 0;
		if (x->to_ids)
			ob.any_ids = 1;
		ob.n++;
	}

	r = rule_object(c, &ob);
	if (r != 1) {
		free(ob.at);
		json_decref(owned);
		return r;
	}
	const struct tmpl *t = find_tmpl(ob.name);
	char src[SL_STIX_ID_MAX];
	sl_map_galaxy_tags(c, NULL);
	if (!t) {
		sl_map_warn(c, SL_EUNSUPPORTED, ob.where, "MISP Object name %s not mapped.",
		            ob.name);
		json_t *x = custom_object(c, &ob);
		snprintf(src, sizeof(src), "x-misp-object--%s", ob.uuid);
		r = sl_map_add(c, x) < 0 ? SL_ENOMEM : 0;
		free(ob.at);
		json_decref(owned);
		return r;
	}
	if (t->kind == T_VULN) {
		snprintf(src, sizeof(src), "vulnerability--%s", ob.uuid);
		json_t *v = vuln(c, &ob);
		obj_labels(v, &ob);
		/* labels first, as misp-stix orders them: irrelevant to JSON equality */
		r = sl_map_add(c, v) < 0 ? SL_ENOMEM : 0;
		free(ob.at);
		json_decref(owned);
		return r;
	}
	if (t->kind == T_IDENTITY) {
		r = sl_map_add(c, identity(c, &ob, t->sco)) < 0 ? SL_ENOMEM : 0;
		free(ob.at);
		json_decref(owned);
		return r;
	}
	if (t->kind == T_SDO) {
		json_t *tmp = json_array();
		sl_pattern_reset(c->pat);
		r = simple(c, &ob, t, tmp);
		json_t *body = json_array_get(tmp, 0);
		if (r == 0 && body) {
			json_t *sdo = sl_map_sdo(c, t->sco, ob.uuid, ob.ts);
			const char *k;
			json_t *v;
			json_object_foreach(body, k, v)
			{
				if (strcmp(k, "type") && strcmp(k, "id") &&
				    strcmp(k, "spec_version"))
					json_object_set(sdo, k, v);
			}
			obj_labels(sdo, &ob);
			r = sl_map_add(c, sdo) < 0 ? SL_ENOMEM : 0;
		}
		json_decref(tmp);
		free(ob.at);
		json_decref(owned);
		return r == SL_ENOMEM ? r : 0;
	}
	json_t *scos = json_array();
	sl_pattern_reset(c->pat);
	switch (t->kind) {
	case T_DOMAIN_IP:
		r = domain_ip(c, &ob, scos);
		break;
	case T_EMAIL:
		r = email(c, &ob, scos);
		break;
	case T_NETCONN:
		r = netconn(c, &ob, scos, 0);
		break;
	case T_IPPORT:
		r = netconn(c, &ob, scos, 1);
		break;
	default:
		r = simple(c, &ob, t, scos);
	}
	if (r != 0) {
		json_decref(scos);
		free(ob.at);
		json_decref(owned);
		return r == SL_ENOMEM ? r : 0;
	}
	json_t *od = sl_map_sdo(c, "observed-data", ob.uuid, ob.ts);
	char fo[SL_TS_MAX], lo[SL_TS_MAX], vf[SL_TS_MAX];
	sl_map_ts(c, ob.ts_v, 0, vf);
	if (sl_map_iso_ts(ob.first_seen, fo) != 0)
		snprintf(fo, sizeof(fo), "%s", vf);
	if (sl_map_iso_ts(ob.last_seen, lo) != 0)
		snprintf(lo, sizeof(lo), "%s", vf);
	set_str(od, "first_observed", fo);
	set_str(od, "last_observed", lo);
	json_object_set_new(od, "number_observed", json_integer(1));
	json_t *refs = json_array();
	json_t *s;
	json_array_foreach(scos, i, s) json_array_append(refs, json_object_get(s, "id"));
	json_object_set_new(od, "object_refs", refs);
	obj_labels(od, &ob);
	snprintf(src, sizeof(src), "observed-data--%s", ob.uuid);
	sl_map_add(c, od);
	json_array_foreach(scos, i, s) sl_map_add(c, json_incref(s));
	json_decref(scos);
	const char *pat = ob.any_ids ? sl_pattern_str(c->pat) : NULL;
	struct sl_err e;
	if (pat && sl_pattern_validate(pat, &e) != 0) {
		sl_map_warn(c, SL_EINVAL, ob.where, "built pattern is invalid (%s); no indicator",
		            e.msg);
		pat = NULL;
	}
	if (pat) {
		char ind_id[SL_STIX_ID_MAX];
		json_t *ind = sl_map_sdo(c, "indicator", ob.uuid, ob.ts);
		const char *cm = ob.comment;
		if (cm && *cm)
			set_str(ind, "description", cm);
		set_str(ind, "pattern", pat);
		set_str(ind, "pattern_type", "stix");
		set_str(ind, "pattern_version", "2.1");
		set_str(ind, "valid_from", vf);
		json_object_set_new(ind, "kill_chain_phases",
		                    json_pack("[{s:s, s:s}]", "kill_chain_name", "misp-category",
		                              "phase_name", ob.meta ? ob.meta : ""));
		obj_labels(ind, &ob);
		sl_map_add(c, ind);
		snprintf(ind_id, sizeof(ind_id), "indicator--%s", ob.uuid);
		sl_map_rel(c, ind_id, "based-on", src, ob.ts);
	}
	free(ob.at);
	json_decref(owned);
	return 0;
}

/* to_ids as sl_map_bool reads it; -1 when it leaves the type's default */
static int to_ids_of(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		return !strcmp(s, "1") || !strcasecmp(s, "true");
	}
	return -1;
}

/* One object of the tree: its members read into sl_map_obj_in. */
static int map_object(struct sl_map_ctx *c, const json_t *o, size_t idx)
{
	const json_t *attrs = json_object_get(o, "Attribute");
	struct sl_map_obj_in in = {
	    .uuid = sl_map_str(o, "uuid"),
	    .name = sl_map_str(o, "name"),
	    .meta = sl_map_str(o, "meta-category"),
	    .comment = sl_map_str(o, "comment"),
	    .first_seen = sl_map_str(o, "first_seen"),
	    .last_seen = sl_map_str(o, "last_seen"),
	    .timestamp = json_object_get(o, "timestamp"),
	    .attr_list = !attrs || json_is_array(attrs),
	};
	struct sl_map_oattr_in *at = NULL;
	size_t i;
	const json_t *a;
	int r;

	if (in.attr_list && json_array_size(attrs)) {
		at = calloc(json_array_size(attrs), sizeof(*at));
		if (!at)
			return SL_ENOMEM;
		json_array_foreach(attrs, i, a)
		{
			at[i].rel = sl_map_str(a, "object_relation");
			at[i].type = sl_map_str(a, "type");
			at[i].value = sl_map_str(a, "value");
			at[i].uuid = sl_map_str(a, "uuid");
			at[i].category = sl_map_str(a, "category");
			at[i].comment = sl_map_str(a, "comment");
			at[i].data = sl_map_str(a, "data");
			at[i].to_ids = to_ids_of(json_object_get(a, "to_ids"));
		}
		in.n = json_array_size(attrs);
	}
	in.at = at;
	r = map_object_in(c, &in, idx);
	free(at);
	return r;
}

void sl_map_objects_in(struct sl_map_ctx *c, const struct sl_map_obj_in *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (map_object_in(c, &objs[i], i) == SL_ENOMEM)
			return;
}

/* The STIX id an object uuid was mapped to (borrowed from a static list of candidates). */
static int stix_id_of(struct sl_map_ctx *c, const char *uuid, char out[SL_STIX_ID_MAX])
{
	static const char *types[] = {
	    "observed-data",  "vulnerability",    "x-misp-object", "indicator",
	    "attack-pattern", "course-of-action", "identity",      "intrusion-set",
	    "location",       "malware",          "tool",          "threat-actor",
	    "campaign",       "x-misp-attribute", "note",          "software"};
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		snprintf(out, SL_STIX_ID_MAX, "%s--%s", types[k], uuid);
		if (sl_map_ids_has(c->seen, out))
			return 0;
	}
	return -1;
}

static void map_references(struct sl_map_ctx *c, const json_t *o)
{
	const char *ou = sl_map_str(o, "uuid");
	const json_t *refs = json_object_get(o, "ObjectReference");
	char src[SL_STIX_ID_MAX], tgt[SL_STIX_ID_MAX], ts[SL_TS_MAX];
	size_t i;
	const json_t *r;

	if (!ou || !json_is_array(refs) || stix_id_of(c, ou, src) != 0)
		return;
	json_array_foreach(refs, i, r)
	{
		const char *ru = sl_map_str(r, "uuid"), *tu = sl_map_str(r, "referenced_uuid");
		const char *rt = sl_map_str(r, "relationship_type");
		if (!tu || !rt || stix_id_of(c, tu, tgt) != 0)
			continue;
		sl_map_ts(c, json_object_get(o, "timestamp"), 1, ts);
		char id[SL_STIX_ID_MAX];
		if (ru && sl_stix_id_uuid_valid(ru))
			snprintf(id, sizeof(id), "relationship--%s", ru);
		else
			sl_stix_id_relationship(src, rt, tgt, id);
		if (sl_map_ids_has(c->seen, id))
			continue;
		json_t *rel =
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "relationship",
		              "spec_version", "2.1", "id", id, "created", ts, "modified", ts,
		              "relationship_type", rt, "source_ref", src, "target_ref", tgt);
		if (!rel)
			continue;
		sl_map_ids_add(c->seen, id);
		json_array_append_new(c->rel_refs, json_string(id));
		sl_map_emit(c, c->rels, rel);
	}
}

void sl_map_objects(struct sl_map_ctx *c, const json_t *objects)
{
	size_t i;
	const json_t *o;

	json_array_foreach(objects, i, o)
	{
		if (!json_is_object(o)) {
			char w[48];
			snprintf(w, sizeof(w), "Object[%zu]", i);
			sl_map_warn(c, SL_EINVAL, w, "object is not a JSON object; skipped");
			continue;
		}
		if (map_object(c, o, i) == SL_ENOMEM)
			return;
	}
	json_array_foreach(objects, i, o) if (json_is_object(o)) map_references(c, o);
}
