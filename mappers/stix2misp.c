/* stix2misp.c — STIX 2.1 bundle -> MISP event. Objects sluice/misp-stix wrote are recognised by
 * their misp:type / misp:name labels and x-misp-* custom objects; anything else goes through
 * heuristics by SCO type and pattern path, with a warning for whatever cannot be mapped. */
#include "stix2misp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "map_ctx.h"
#include "stix2misp_pattern.h"
#include "stix_id.h"

struct rctx {
	const json_t *bundle;
	json_t *index; /* id -> object (borrowed values) */
	const struct sl_map_opts *opts;
	json_t *warnings;
	struct sl_err *err;
	const char *event_uuid;
	int failed;         /* strict mode: a warning became an error */
	json_t *seen;       /* attribute/object uuids already produced */
	json_t *attr_by_id; /* STIX id -> MISP attribute (borrowed) for sightings and galaxies */
};

/* TLP marking-definition ids: TLP 1.0 (STIX built-ins, misp-stix) and TLP 2.0 (OpenCTI, misp-stix).
 */
static const struct {
	const char *id;
	const char *tag;
} tlp_ids[] = {
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

static void rwarn(struct rctx *c, const char *where, const char *fmt, ...) SL_PRINTF(3, 4);
static void rwarn(struct rctx *c, const char *where, const char *fmt, ...)
{
	char msg[SL_ERR_MSG_MAX];
	char w[SL_ERR_WHERE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(w, sizeof(w), "event %s/%s", c->event_uuid ? c->event_uuid : "?",
	         where ? where : "");
	if (c->opts && c->opts->strict) {
		if (!c->failed)
			sl_err_set(c->err, SL_EUNSUPPORTED, w, "%s", msg);
		c->failed = 1;
		return;
	}
	if (c->warnings) {
		struct sl_err tmp;
		sl_err_set(&tmp, SL_EUNSUPPORTED, w, "%s", msg); /* scrubs control characters */
		json_array_append_new(
		    c->warnings, json_pack("{s:s, s:s}", "where", tmp.where, "message", tmp.msg));
	}
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *uuid_of(const char *id)
{
	const char *p = id ? strstr(id, "--") : NULL;
	return p ? p + 2 : NULL;
}

static void set_ts(json_t *dst, const char *key, const char *iso)
{
	char buf[24];
	if (sl_map_iso_epoch(iso, buf) == 0)
		json_object_set_new(dst, key, json_string(buf));
}

/* Value of a label `misp:<key>="<value>"` (copied to out), or NULL. */
static const char *label_get(const json_t *obj, const char *key, char *out, size_t outsz)
{
	size_t i;
	json_t *l;
	size_t kl = strlen(key);
	json_array_foreach(json_object_get(obj, "labels"), i, l)
	{
		const char *s = json_string_value(l);
		if (!s || strncmp(s, key, kl) != 0 || s[kl] != '=' || s[kl + 1] != '"')
			continue;
		size_t n = strlen(s + kl + 2);
		if (n == 0 || s[kl + 2 + n - 1] != '"')
			continue;
		n--;
		if (n >= outsz)
			n = outsz - 1;
		memcpy(out, s + kl + 2, n);
		out[n] = 0;
		return out;
	}
	return NULL;
}

static void add_tag(json_t *tags, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) if (strcmp(jstr(t, "name"), name) == 0) return;
	json_array_append_new(tags, json_pack("{s:s}", "name", name));
}

static const char *marking_tag(struct rctx *c, const char *id)
{
	for (size_t i = 0; i < sizeof(tlp_ids) / sizeof(tlp_ids[0]); i++)
		if (strcmp(tlp_ids[i].id, id) == 0)
			return tlp_ids[i].tag;
	json_t *m = json_object_get(c->index, id);
	const char *t = jstr(json_object_get(m, "definition"), "tlp");
	static _Thread_local char buf[64]; /* claim jobs run on several workers */
	if (t) {
		snprintf(buf, sizeof(buf), "tlp:%s", t);
		return buf;
	}
	json_t *ext;
	const char *k;
	json_object_foreach(json_object_get(m, "extensions"), k, ext)
	{
		if ((t = jstr(ext, "tlp_2_0")) != NULL) {
			snprintf(buf, sizeof(buf), "tlp:%s", t);
			return buf;
		}
	}
	return NULL;
}

/* Tags of a STIX object: labels that are not misp:* metadata, plus its TLP markings. */
static json_t *tags_of(struct rctx *c, const json_t *obj, int is_container)
{
	json_t *tags = json_array();
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(obj, "labels"), i, l)
	{
		const char *s = json_string_value(l);
		if (!s || strncmp(s, "misp:type=", 10) == 0 ||
		    strncmp(s, "misp:category=", 14) == 0 || strncmp(s, "misp:name=", 10) == 0 ||
		    strncmp(s, "misp:meta-category=", 19) == 0 ||
		    strncmp(s, "misp:to_ids=", 12) == 0 || strncmp(s, "misp:galaxy-", 12) == 0)
			continue;
		if (is_container &&
		    (strcmp(s, "Threat-Report") == 0 || strncmp(s, "misp:tool=", 10) == 0))
			continue;
		add_tag(tags, s);
	}
	json_array_foreach(json_object_get(obj, "object_marking_refs"), i, l)
	{
		const char *id = json_string_value(l);
		const char *tag = id ? marking_tag(c, id) : NULL;
		if (tag)
			add_tag(tags, tag);
		else if (id)
			rwarn(c, jstr(obj, "id"), "marking %s is not a TLP marking; not mapped",
			      id);
	}
	return tags;
}

/* ---- comparisons from SCOs (observed-data), in the shape the pattern parser gives ---- */

static int cmp_push(struct sl_stixpat *p, const char *path, const char *value)
{
	if (p->n % 16 == 0) {
		struct sl_stixpat_cmp *n = realloc(p->cmp, (p->n + 16) * sizeof(*n));
		if (!n)
			return SL_ENOMEM;
		p->cmp = n;
	}
	p->cmp[p->n].path = strdup(path);
	p->cmp[p->n].op = strdup("=");
	p->cmp[p->n].value = strdup(value);
	p->n++;
	return 0;
}

static void flatten(struct rctx *c, struct sl_stixpat *p, const char *prefix, const json_t *o,
                    int depth)
{
	const char *k;
	json_t *v;
	char path[512];
	if (depth > 4)
		return;
	json_object_foreach((json_t *)o, k, v)
	{
		if (depth == 0 && (strcmp(k, "type") == 0 || strcmp(k, "id") == 0 ||
		                   strcmp(k, "spec_version") == 0 || strcmp(k, "defanged") == 0 ||
		                   strcmp(k, "protocols") == 0))
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix, depth ? "." : "", k);
		size_t kl = strlen(k);
		if (json_is_string(v) && kl > 4 && strcmp(k + kl - 4, "_ref") == 0) {
			json_t *t = json_object_get(c->index, json_string_value(v));
			char sub[560];
			if (jstr(t, "type")) {
				snprintf(sub, sizeof(sub), "%s.type", path);
				cmp_push(p, sub, jstr(t, "type"));
			}
			const char *tv = jstr(t, "value") ? jstr(t, "value") : jstr(t, "name");
			if (tv) {
				snprintf(sub, sizeof(sub), "%s.value", path);
				cmp_push(p, sub, tv);
			}
		} else if (json_is_array(v) && kl > 5 && strcmp(k + kl - 5, "_refs") == 0) {
			size_t i;
			json_t *r;
			json_array_foreach(v, i, r)
			{
				json_t *t = json_object_get(c->index, json_string_value(r));
				const char *tv =
				    jstr(t, "value") ? jstr(t, "value") : jstr(t, "name");
				char sub[560];
				snprintf(sub, sizeof(sub), "%s[*].value", path);
				if (tv)
					cmp_push(p, sub, tv);
			}
		} else if (json_is_string(v)) {
			cmp_push(p, path, json_string_value(v));
		} else if (json_is_integer(v)) {
			char num[32];
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			cmp_push(p, path, num);
		} else if (json_is_object(v)) {
			flatten(c, p, path, v, depth + 1);
		} else if (json_is_array(v)) {
			size_t i;
			json_t *r;
			char sub[560];
			snprintf(sub, sizeof(sub), "%s[*]", path);
			json_array_foreach(v, i, r)
			{
				if (json_is_string(r))
					cmp_push(p, sub, json_string_value(r));
				else if (json_is_object(r))
					flatten(c, p, sub, r, depth + 1);
			}
		}
	}
}

static int is_sco(const char *t);

static void sco_cmps(struct rctx *c, const json_t *od, struct sl_stixpat *p)
{
	size_t i;
	json_t *r;
	memset(p, 0, sizeof(*p));
	json_array_foreach(json_object_get(od, "object_refs"), i, r)
	{
		json_t *sco = json_object_get(c->index, json_string_value(r));
		char prefix[128];
		if (!jstr(sco, "type") || !is_sco(jstr(sco, "type")))
			continue; /* SDOs listed in observed-data (STIX 2.1 allows it) are mapped on
			             their own */
		snprintf(prefix, sizeof(prefix), "%s:", jstr(sco, "type"));
		flatten(c, p, prefix, sco, 0);
	}
}

/* ---- values of MISP attribute types from comparisons ---- */

static int skip_cmp(const struct sl_stixpat_cmp *m)
{
	size_t n = strlen(m->path);
	return (n > 9 && strcmp(m->path + n - 9, "_ref.type") == 0) ||
	       strcmp(m->path, "user-account:account_type") == 0 ||
	       strcmp(m->path, "email-message:is_multipart") == 0 ||
	       strstr(m->path, "payload_bin") != NULL || strstr(m->path, "mime_type") != NULL ||
	       strcmp(m->op, "=") != 0;
}

static const char *find_path(const struct sl_stixpat *p, const char *suffix)
{
	size_t sl = strlen(suffix);
	for (size_t i = 0; i < p->n; i++) {
		size_t n = strlen(p->cmp[i].path);
		if (n >= sl && strcmp(p->cmp[i].path + n - sl, suffix) == 0)
			return p->cmp[i].value;
	}
	return NULL;
}

static const struct {
	const char *type;
	const char *a, *b; /* path suffixes of the two halves */
} composite[] = {
    {"domain|ip", "domain-name:value", "resolves_to_refs[*].value"},
    {"ip-dst|port", "dst_ref.value", "dst_port"},
    {"ip-src|port", "src_ref.value", "src_port"},
    {"hostname|port", "domain-name:value", "dst_port"},
    {"regkey|value", "windows-registry-key:key", ".data"},
    {"filename|md5", "file:name", "hashes.MD5"},
    {"filename|sha1", "file:name", "hashes.SHA-1"},
    {"filename|sha256", "file:name", "hashes.SHA-256"},
    {"filename|sha512", "file:name", "hashes.SHA-512"},
    {"filename|ssdeep", "file:name", "hashes.SSDEEP"},
    {"filename|imphash", "file:name", "hashes.IMPHASH"},
    {"filename|tlsh", "file:name", "hashes.TLSH"},
    {"malware-sample", "file:name", "hashes.MD5"},
};

static const struct {
	const char *type;
	const char *path; /* path suffix holding the value */
} single[] = {
    {"md5", "hashes.MD5"},
    {"sha1", "hashes.SHA-1"},
    {"sha256", "hashes.SHA-256"},
    {"sha512", "hashes.SHA-512"},
    {"ssdeep", "hashes.SSDEEP"},
    {"imphash", "hashes.IMPHASH"},
    {"tlsh", "hashes.TLSH"},
    {"filename", "file:name"},
    {"attachment", "file:name"},
    {"email-subject", ":subject"},
    {"email-src", "from_ref.value"},
    {"email-dst", "to_refs[*].value"},
    {"ip-dst", "dst_ref.value"},
    {"ip-src", "src_ref.value"},
    {"AS", "autonomous-system:number"},
    {"port", "dst_port"},
    {"size-in-bytes", "file:size"},
    {"x509-fingerprint-sha1", "hashes.SHA-1"},
};

/* malloc'd value, or NULL */
static char *value_for(const char *type, const struct sl_stixpat *p)
{
	for (size_t i = 0; i < sizeof(composite) / sizeof(composite[0]); i++)
		if (strcmp(type, composite[i].type) == 0) {
			const char *a = find_path(p, composite[i].a),
			           *b = find_path(p, composite[i].b);
			if (!a || !b)
				break;
			char *v = malloc(strlen(a) + strlen(b) + 2);
			if (v)
				sprintf(v, "%s|%s", a, b);
			if (v && strcmp(type, "regkey|value") ==
			             0) { /* misp-stix escapes % in the data, also in SCOs */
				char *w = v;
				for (char *q = v; *q; q++)
					if (!(q[0] == '\\' && q[1] == '%'))
						*w++ = *q;
				*w = 0;
			}
			return v;
		}
	if (strncmp(type, "filename|", 9) == 0) { /* other hashes: the file name and the one hash */
		const char *a = find_path(p, "file:name");
		for (size_t i = 0; a && i < p->n; i++)
			if (strncmp(p->cmp[i].path, "file:hashes.", 12) == 0) {
				char *v = malloc(strlen(a) + strlen(p->cmp[i].value) + 2);
				if (v)
					sprintf(v, "%s|%s", a, p->cmp[i].value);
				return v;
			}
	}
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (strcmp(type, single[i].type) == 0) {
			const char *a = find_path(p, single[i].path);
			if (a)
				return strdup(a);
		}
	for (size_t i = 0; i < p->n; i++)
		if (!skip_cmp(&p->cmp[i]))
			return strdup(p->cmp[i].value);
	return NULL;
}

/* Heuristic type for a third-party comparison path (no misp:type label). */
static const char *type_for_path(const char *path, const char *value)
{
	static const struct {
		const char *path, *type;
	} t[] = {
	    {"ipv4-addr:value", "ip-dst"},
	    {"ipv6-addr:value", "ip-dst"},
	    {"domain-name:value", "domain"},
	    {"hostname:value", "hostname"},
	    {"url:value", "url"},
	    {"file:hashes.MD5", "md5"},
	    {"file:hashes.SHA-1", "sha1"},
	    {"file:hashes.SHA1", "sha1"},
	    {"file:hashes.SHA-256", "sha256"},
	    {"file:hashes.SHA256", "sha256"},
	    {"file:hashes.SHA-512", "sha512"},
	    {"file:hashes.SSDEEP", "ssdeep"},
	    {"file:hashes.TLSH", "tlsh"},
	    {"file:name", "filename"},
	    {"file:size", "size-in-bytes"},
	    {"email-addr:value", "email"},
	    {"email-message:subject", "email-subject"},
	    {"email-message:from_ref.value", "email-src"},
	    {"email-message:to_refs[*].value", "email-dst"},
	    {"mutex:name", "mutex"},
	    {"windows-registry-key:key", "regkey"},
	    {"network-traffic:dst_ref.value", "ip-dst"},
	    {"network-traffic:src_ref.value", "ip-src"},
	    {"network-traffic:dst_port", "port"},
	    {"autonomous-system:number", "AS"},
	    {"mac-addr:value", "mac-address"},
	    {"x509-certificate:hashes.SHA-1", "x509-fingerprint-sha1"},
	    {"x509-certificate:hashes.SHA-256", "x509-fingerprint-sha256"},
	    {"user-account:account_login", "text"},
	    {"cryptocurrency-wallet:value", "btc"},
	    {"phone-number:value", "phone-number"},
	    {"user-agent:value", "user-agent"},
	    {"directory:path", "text"},
	};
	(void)value;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(path, t[i].path) == 0)
			return t[i].type;
	return NULL;
}

static const struct {
	const char *path, *rel, *type;
} obj_rel[] = {
    {"file:name", "filename", "filename"},
    {"file:hashes.MD5", "md5", "md5"},
    {"file:hashes.SHA-1", "sha1", "sha1"},
    {"file:hashes.SHA-256", "sha256", "sha256"},
    {"file:hashes.SHA-512", "sha512", "sha512"},
    {"file:hashes.SSDEEP", "ssdeep", "ssdeep"},
    {"file:hashes.TLSH", "tlsh", "tlsh"},
    {"file:size", "size-in-bytes", "size-in-bytes"},
    {"file:mime_type", "mimetype", "mime-type"},
    {"domain-name:value", "domain", "domain"},
    {"domain-name:resolves_to_refs[*].value", "ip", "ip-dst"},
    {"url:value", "url", "url"},
    {"url:x_misp_domain", "domain", "domain"},
    {"network-traffic:dst_ref.value", "ip-dst", "ip-dst"},
    {"network-traffic:src_ref.value", "ip-src", "ip-src"},
    {"network-traffic:dst_port", "dst-port", "port"},
    {"network-traffic:src_port", "src-port", "port"},
    {"email-message:to_refs[*].value", "to", "email-dst"},
    {"email-message:cc_refs[*].value", "cc", "email-dst"},
    {"email-message:from_ref.value", "from", "email-src"},
    {"email-message:subject", "subject", "email-subject"},
    {"email-message:message_id", "message-id", "email-message-id"},
    {"email-message:additional_header_fields.Reply-To", "reply-to", "email-reply-to"},
    {"email-message:additional_header_fields.reply_to", "reply-to", "email-reply-to"},
    {"email-message:additional_header_fields.X-Mailer", "x-mailer", "email-x-mailer"},
    {"email-message:additional_header_fields.x_mailer", "x-mailer", "email-x-mailer"},
    {"windows-registry-key:values[*].name", "name", "text"},
    {"windows-registry-key:values[*].data", "data", "text"},
    {"windows-registry-key:values[*].data_type", "data-type", "text"},
    {"windows-registry-key:modified_time", "last-modified", "datetime"},
    {"user-account:account_type", "account-type", "text"},
    {"windows-registry-key:key", "key", "regkey"},
    {"mutex:name", "name", "text"},
    {"x509-certificate:hashes.SHA-1", "x509-fingerprint-sha1", "x509-fingerprint-sha1"},
    {"x509-certificate:hashes.SHA-256", "x509-fingerprint-sha256", "x509-fingerprint-sha256"},
    {"x509-certificate:issuer", "issuer", "text"},
    {"x509-certificate:subject", "subject", "text"},
    {"x509-certificate:serial_number", "serial-number", "text"},
    {"autonomous-system:number", "asn", "AS"},
    {"autonomous-system:name", "description", "text"},
    {"autonomous-system:x_misp_subnet_announced", "subnet-announced", "ip-src"},
    {"user-account:account_login", "username", "text"},
    {"user-account:user_id", "user-id", "text"},
    {"user-account:display_name", "display-name", "text"},
    {"process:pid", "pid", "text"},
    {"process:command_line", "command-line", "text"},
};

/* MISP type of a custom (x_misp_*) object relation, by the names misp-objects templates use. */
static const char *type_for_rel(const char *rel)
{
	static const struct {
		const char *rel, *type;
	} t[] = {
	    {"port", "port"},
	    {"dst-port", "port"},
	    {"src-port", "port"},
	    {"hostname", "hostname"},
	    {"hostname-dst", "hostname"},
	    {"hostname-src", "hostname"},
	    {"domain", "domain"},
	    {"link", "link"},
	    {"url", "url"},
	    {"ip", "ip-dst"},
	    {"ip-dst", "ip-dst"},
	    {"ip-src", "ip-src"},
	    {"md5", "md5"},
	    {"sha1", "sha1"},
	    {"sha256", "sha256"},
	    {"sha512", "sha512"},
	    {"first-seen", "datetime"},
	    {"last-seen", "datetime"},
	    {"email", "email"},
	    {"filename", "filename"},
	    {"mutex", "mutex"},
	    {"malware-sample", "malware-sample"},
	    {"attachment", "attachment"},
	    {"cpe", "cpe"},
	    {"certificate", "sha1"},
	    {"uri", "uri"},
	    {"user-agent", "user-agent"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(rel, t[i].rel) == 0)
			return t[i].type;
	return "text";
}

static json_t *new_attr(const char *uuid, const char *type, const char *category, const char *value,
                        int to_ids, const char *iso_ts)
{
	json_t *a = json_object();
	if (uuid)
		json_object_set_new(a, "uuid", json_string(uuid));
	json_object_set_new(a, "type", json_string(type));
	if (category)
		json_object_set_new(a, "category", json_string(category));
	json_object_set_new(a, "value", json_string(value));
	json_object_set_new(a, "to_ids", json_boolean(to_ids));
	set_ts(a, "timestamp", iso_ts);
	json_object_set_new(a, "distribution", json_string("5"));
	json_object_set_new(a, "disable_correlation", json_false());
	return a;
}

/* Object attributes from comparisons, with the relation table; unknown paths become text with a
 * warning. */
/* Relations that differ by template for the same STIX path. */
static const struct {
	const char *name, *path, *rel, *type;
} tpl_rel[] = {
    {"ip-port", "network-traffic:dst_ref.value", "ip", "ip-dst"},
    {"ip-port", "network-traffic:dst_port", "dst-port", "port"},
    {"domain-ip", "domain-name:resolves_to_refs[*].value", "ip", "ip-dst"},
};

static json_t *object_attrs(struct rctx *c, const char *name, const char *where,
                            const struct sl_stixpat *p, int to_ids, const char *iso_ts)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < p->n; i++) {
		const struct sl_stixpat_cmp *m = &p->cmp[i];
		size_t pl = strlen(m->path);
		if ((pl > 9 && strcmp(m->path + pl - 9, "_ref.type") == 0) ||
		    strcmp(m->path, "email-message:is_multipart") == 0 || strcmp(m->op, "=") != 0)
			continue;
		const char *rel = NULL, *type = NULL;
		char custom[128];
		for (size_t k = 0; name && k < sizeof(tpl_rel) / sizeof(tpl_rel[0]); k++)
			if (strcmp(tpl_rel[k].name, name) == 0 &&
			    strcmp(tpl_rel[k].path, m->path) == 0) {
				rel = tpl_rel[k].rel;
				type = tpl_rel[k].type;
			}
		for (size_t k = 0; !rel && k < sizeof(obj_rel) / sizeof(obj_rel[0]); k++)
			if (strcmp(obj_rel[k].path, m->path) == 0) {
				rel = obj_rel[k].rel;
				type = obj_rel[k].type;
				break;
			}
		if (!rel) {
			const char *x = strstr(m->path, "x_misp_");
			if (x) {
				snprintf(custom, sizeof(custom), "%s", x + 7);
				for (char *q = custom; *q; q++)
					if (*q == '_')
						*q = '-';
				rel = custom;
				type = type_for_rel(custom);
			} else if (strstr(m->path, "resolves_to_refs") ||
			           strstr(m->path, "hashes.")) {
				continue;
			} else {
				rwarn(c, where, "object property %s not mapped back; kept as text",
				      m->path);
				const char *dot = strrchr(m->path, '.');
				const char *col = strrchr(m->path, ':');
				rel = dot ? dot + 1 : col ? col + 1 : m->path;
				type = "text";
			}
		}
		json_t *a = new_attr(NULL, type, NULL, m->value, to_ids, iso_ts);
		json_object_set_new(a, "object_relation", json_string(rel));
		json_array_append_new(arr, a);
	}
	return arr;
}

/* ---- per STIX object ---- */

struct rev {
	json_t *attrs;      /* Event.Attribute */
	json_t *objects;    /* Event.Object */
	json_t *galaxies;   /* Event.Galaxy */
	json_t *obj_by_id;  /* STIX id -> MISP object (borrowed) */
	json_t *event_tags; /* Event.Tag (borrowed) */
};

static void remember(struct rctx *c, const char *stix_type, const char *uuid, json_t *target)
{
	char id[160];
	snprintf(id, sizeof(id), "%s--%s", stix_type, uuid);
	json_object_set(c->attr_by_id, id, target);
}

static void common_fields(struct rctx *c, json_t *a, const json_t *sdo, int container_tags)
{
	const char *d = jstr(sdo, "description");
	/* A revoked object (deleted at OpenCTI, revoked by its producer) is MISP's soft deletion:
	 * an edit carrying it removes the attribute at the peer, as MISP's own sync does. */
	if (json_is_true(json_object_get(sdo, "revoked")))
		json_object_set_new(a, "deleted", json_true());
	{
		/* an attribute's own MISP scope, as the ledger kept it (else 5: the event's) */
		const json_t *dv = json_object_get(sdo, "x_misp_distribution");
		const char *sg = jstr(sdo, "x_misp_sharing_group_uuid");
		if (json_is_integer(dv) && json_integer_value(dv) >= 0 &&
		    json_integer_value(dv) <= 4 && (json_integer_value(dv) != 4 || sg)) {
			char lv[2] = {(char)('0' + json_integer_value(dv)), 0};
			json_object_set_new(a, "distribution", json_string(lv));
			if (lv[0] == '4')
				json_object_set_new(a, "SharingGroup",
				                    json_pack("{s:s}", "uuid", sg));
		}
	}
	if (d && !json_object_get(a, "comment"))
		json_object_set_new(a, "comment", json_string(d));
	json_t *tags = tags_of(c, sdo, container_tags);
	if (json_array_size(tags))
		json_object_set_new(a, "Tag", tags);
	else
		json_decref(tags);
}

static void seen_times(json_t *a, const json_t *od)
{
	const char *f = jstr(od, "first_observed"), *l = jstr(od, "last_observed");
	const char *m = jstr(od, "modified");
	/* misp-stix writes the timestamp there when first_seen/last_seen are absent */
	char fe[24], le[24], me[24];
	if (f && l && m && sl_map_iso_epoch(f, fe) == 0 && sl_map_iso_epoch(l, le) == 0 &&
	    sl_map_iso_epoch(m, me) == 0 && (strcmp(fe, me) != 0 || strcmp(le, me) != 0)) {
		json_object_set_new(a, "first_seen", json_string(f));
		json_object_set_new(a, "last_seen", json_string(l));
	}
}

static void category_of(const json_t *sdo, char *out, size_t outsz)
{
	out[0] = 0;
	if (label_get(sdo, "misp:category", out, outsz))
		return;
	json_t *k = json_array_get(json_object_get(sdo, "kill_chain_phases"), 0);
	if (jstr(k, "kill_chain_name") &&
	    strcmp(jstr(k, "kill_chain_name"), "misp-category") == 0 && jstr(k, "phase_name"))
		snprintf(out, outsz, "%s", jstr(k, "phase_name"));
}

/* Not in misp-stix's shape: when a producer adds `x_misp_attributes` (the x-misp-object form:
 * type, object_relation, value, uuid, to_ids, category, comment, timestamp) to an object's
 * indicator or observed-data, each attribute takes back its uuid, to_ids, type, category, comment
 * and timestamp, and attributes the STIX form could not carry are added, so a round trip keeps
 * objects whole. */
static void apply_attribute_meta(struct rctx *c, json_t *o, const json_t *sdo, const char *uuid)
{
	char other[160];
	const json_t *meta = json_object_get(sdo, "x_misp_attributes");
	if (!json_is_array(meta)) {
		snprintf(other, sizeof(other), "%s--%s",
		         strcmp(jstr(sdo, "type"), "indicator") == 0 ? "observed-data"
		                                                     : "indicator",
		         uuid);
		meta = json_object_get(json_object_get(c->index, other), "x_misp_attributes");
	}
	if (!json_is_array(meta))
		return;
	json_t *attrs = json_object_get(o, "Attribute");
	size_t i, j;
	json_t *m, *a;
	json_array_foreach(meta, i, m)
	{
		const char *rel = jstr(m, "object_relation"), *val = jstr(m, "value");
		if (!rel || !val || !jstr(m, "type"))
			continue;
		json_t *hit = NULL;
		json_array_foreach(attrs, j, a)
		{
			if (!json_object_get(a, "x_meta") && jstr(a, "object_relation") &&
			    jstr(a, "value") && !strcmp(jstr(a, "object_relation"), rel) &&
			    !strcmp(jstr(a, "value"), val)) {
				hit = a;
				break;
			}
		}
		if (!hit) {
			hit = new_attr(NULL, jstr(m, "type"), NULL, val, 0, jstr(sdo, "modified"));
			json_object_set_new(hit, "object_relation", json_string(rel));
			json_array_append_new(attrs, hit);
		}
		json_object_set_new(hit, "x_meta", json_true());
		static const char *const keys[] = {"uuid",    "type",      "category",
		                                   "comment", "timestamp", "data"};
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (jstr(m, keys[k]))
				json_object_set_new(hit, keys[k], json_string(jstr(m, keys[k])));
		json_object_set_new(hit, "to_ids",
		                    json_boolean(json_is_true(json_object_get(m, "to_ids"))));
	}
	json_array_foreach(attrs, j, a) json_object_del(a, "x_meta");
}

/* A MISP attribute or object from comparisons (pattern or SCOs), by the misp:type / misp:name
 * labels. */
static int from_cmps(struct rctx *c, struct rev *r, const json_t *sdo, const struct sl_stixpat *p,
                     int to_ids)
{
	const char *id = jstr(sdo, "id");
	const char *uuid = uuid_of(id);
	char type[96], name[96], cat[96], meta[96];
	category_of(sdo, cat, sizeof(cat));
	if (label_get(sdo, "misp:type", type, sizeof(type))) {
		char *v = value_for(type, p);
		if (!v) {
			rwarn(c, id,
			      "no value for MISP type %s in the pattern/observables; not mapped",
			      type);
			return 0;
		}
		json_t *a =
		    new_attr(uuid, type, cat[0] ? cat : NULL, v, to_ids, jstr(sdo, "modified"));
		free(v);
		common_fields(c, a, sdo, 0);
		json_array_append_new(r->attrs, a);
		remember(c, "indicator", uuid, a);
		remember(c, "observed-data", uuid, a);
		json_object_set_new(c->seen, uuid, json_true());
		return 0;
	}
	if (label_get(sdo, "misp:name", name, sizeof(name))) {
		json_t *o = json_object();
		json_object_set_new(o, "uuid", json_string(uuid));
		json_object_set_new(o, "name", json_string(name));
		if (label_get(sdo, "misp:meta-category", meta, sizeof(meta)))
			json_object_set_new(o, "meta-category", json_string(meta));
		set_ts(o, "timestamp", jstr(sdo, "modified"));
		json_object_set_new(o, "distribution", json_string("5"));
		if (jstr(sdo, "description"))
			json_object_set_new(o, "comment", json_string(jstr(sdo, "description")));
		json_object_set_new(o, "Attribute",
		                    object_attrs(c, name, id, p, to_ids, jstr(sdo, "modified")));
		apply_attribute_meta(c, o, sdo, uuid);
		json_t *tags = tags_of(c, sdo, 0);
		if (json_array_size(
		        tags)) /* MISP objects have no tags: put them on every attribute */
		{
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(o, "Attribute"), i, a)
			    json_object_set(a, "Tag", tags);
		}
		json_decref(tags);
		json_array_append_new(r->objects, o);
		remember(c, "indicator", uuid, o);
		remember(c, "observed-data", uuid, o);
		char oid[160];
		snprintf(oid, sizeof(oid), "indicator--%s", uuid);
		json_object_set(r->obj_by_id, oid, o);
		snprintf(oid, sizeof(oid), "observed-data--%s", uuid);
		json_object_set(r->obj_by_id, oid, o);
		json_object_set_new(c->seen, uuid, json_true());
		return 0;
	}
	/* third party: one attribute per comparison the heuristics know */
	int made = 0;
	char unmapped[400] = "";
	for (size_t i = 0; i < p->n; i++) {
		const struct sl_stixpat_cmp *m = &p->cmp[i];
		if (skip_cmp(m))
			continue;
		const char *t = type_for_path(m->path, m->value);
		if (!t) {
			size_t ul = strlen(unmapped);
			if (ul < sizeof(unmapped) - 4)
				snprintf(unmapped + ul, sizeof(unmapped) - ul, "%s%s",
				         ul ? ", " : "", m->path);
			continue;
		}
		char u[37];
		if (made == 0 && uuid && sl_stix_id_uuid_valid(uuid)) {
			snprintf(u, sizeof(u), "%s", uuid);
		} else {
			unsigned char ns[16] = {0};
			char name2[600];
			if (uuid)
				sl_stix_id_uuid_parse(uuid, ns);
			snprintf(name2, sizeof(name2), "%s=%s", m->path, m->value);
			sl_stix_id_uuid5(ns, name2, strlen(name2), u);
		}
		if (json_object_get(c->seen, u))
			continue;
		json_t *a = new_attr(u, t, NULL, m->value, to_ids, jstr(sdo, "modified"));
		common_fields(c, a, sdo, 0);
		json_array_append_new(r->attrs, a);
		json_object_set_new(c->seen, u, json_true());
		if (made == 0)
			json_object_set(c->attr_by_id, id, a);
		made++;
	}
	if (unmapped[0])
		rwarn(c, id, "no MISP type for %s; not mapped", unmapped);
	if (!made)
		rwarn(c, id, "nothing in this %s maps to a MISP attribute", jstr(sdo, "type"));
	return 0;
}

static void map_indicator(struct rctx *c, struct rev *r, const json_t *ind)
{
	const char *id = jstr(ind, "id");
	const char *uuid = uuid_of(id);
	if (!uuid || json_object_get(c->seen, uuid))
		return;
	const char *pt = jstr(ind, "pattern_type");
	const char *pat = jstr(ind, "pattern");
	if (!pat) {
		rwarn(c, id, "indicator without a pattern; not mapped");
		return;
	}
	if (pt && strcmp(pt, "stix") != 0) {
		char type[96], cat[96];
		int labelled = label_get(ind, "misp:type", type, sizeof(type)) != NULL;
		if (!labelled)
			snprintf(type, sizeof(type), "%s", pt);
		if (!labelled && strcmp(pt, "yara") && strcmp(pt, "sigma") && strcmp(pt, "snort") &&
		    strcmp(pt, "suricata")) {
			rwarn(c, id, "pattern type %s has no MISP type; not mapped", pt);
			return;
		}
		size_t n = strlen(pat);
		char *v = strdup(pat);
		if (labelled && n >= 2 && pat[0] == '[' &&
		    pat[n - 1] == ']') { /* misp-stix wraps rules in [ ] */
			memmove(v, v + 1, n - 2);
			v[n - 2] = 0;
		}
		category_of(ind, cat, sizeof(cat));
		json_t *a = new_attr(uuid, type, cat[0] ? cat : NULL, v, 1, jstr(ind, "modified"));
		free(v);
		common_fields(c, a, ind, 0);
		json_array_append_new(r->attrs, a);
		remember(c, "indicator", uuid, a);
		json_object_set_new(c->seen, uuid, json_true());
		return;
	}
	struct sl_stixpat p;
	struct sl_err perr;
	if (sl_stixpat_parse(pat, &p, &perr) != 0) {
		rwarn(c, id, "pattern not understood (%s); not mapped", perr.msg);
		return;
	}
	if (p.has_followed)
		rwarn(c, id, "pattern qualifiers/FOLLOWEDBY are lost in MISP");
	char odid[160], nm[96];
	snprintf(odid, sizeof(odid), "observed-data--%s", uuid);
	const json_t *od = json_object_get(c->index, odid);
	if (od && label_get(ind, "misp:name", nm, sizeof(nm))) {
		/* misp-stix patterns an object's indicator from some attributes only; its SCOs hold
		 * all */
		struct sl_stixpat sp;
		sco_cmps(c, od, &sp);
		if (sp.n) {
			sl_stixpat_free(&p);
			p = sp;
		} else {
			sl_stixpat_free(&sp);
		}
	}
	from_cmps(c, r, ind, &p, 1);
	sl_stixpat_free(&p);
	json_t *a = json_object_get(c->attr_by_id, id);
	if (od && a && json_object_get(a, "type"))
		seen_times(a, od);
}

static void map_observed(struct rctx *c, struct rev *r, const json_t *od)
{
	const char *id = jstr(od, "id");
	const char *uuid = uuid_of(id);
	char iid[160];
	if (!uuid)
		return;
	snprintf(iid, sizeof(iid), "indicator--%s", uuid);
	const json_t *ind = json_object_get(c->index, iid);
	if (ind) { /* misp-stix: the same attribute as an indicator too (to_ids) */
		map_indicator(c, r, ind);
		return;
	}
	if (json_object_get(c->seen, uuid))
		return;
	struct sl_stixpat p;
	sco_cmps(c, od, &p);
	from_cmps(c, r, od, &p, 0);
	sl_stixpat_free(&p);
	json_t *a = json_object_get(c->attr_by_id, id);
	if (a && json_object_get(a, "type"))
		seen_times(a, od);
}

static void map_x_attribute(struct rctx *c, struct rev *r, const json_t *x)
{
	const char *uuid = uuid_of(jstr(x, "id"));
	if (!uuid || !jstr(x, "x_misp_type") || !jstr(x, "x_misp_value")) {
		rwarn(c, jstr(x, "id"),
		      "x-misp-attribute without x_misp_type/x_misp_value; not mapped");
		return;
	}
	json_t *a = new_attr(uuid, jstr(x, "x_misp_type"), jstr(x, "x_misp_category"),
	                     jstr(x, "x_misp_value"), 0, jstr(x, "modified"));
	if (jstr(x, "x_misp_comment"))
		json_object_set_new(a, "comment", json_string(jstr(x, "x_misp_comment")));
	/* not in misp-stix's shape: read when a producer adds it, so to_ids survives a round trip
	 */
	if (json_is_true(json_object_get(x, "x_misp_to_ids")))
		json_object_set_new(a, "to_ids", json_true());
	if (jstr(x, "x_misp_data"))
		json_object_set_new(a, "data", json_string(jstr(x, "x_misp_data")));
	common_fields(c, a, x, 0);
	json_array_append_new(r->attrs, a);
	json_object_set(c->attr_by_id, jstr(x, "id"), a);
	json_object_set_new(c->seen, uuid, json_true());
}

static void map_x_object(struct rctx *c, struct rev *r, const json_t *x)
{
	const char *uuid = uuid_of(jstr(x, "id"));
	if (!uuid || !jstr(x, "x_misp_name")) {
		rwarn(c, jstr(x, "id"), "x-misp-object without x_misp_name; not mapped");
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "uuid", json_string(uuid));
	json_object_set_new(o, "name", json_string(jstr(x, "x_misp_name")));
	if (jstr(x, "x_misp_meta_category"))
		json_object_set_new(o, "meta-category",
		                    json_string(jstr(x, "x_misp_meta_category")));
	if (jstr(x, "x_misp_comment"))
		json_object_set_new(o, "comment", json_string(jstr(x, "x_misp_comment")));
	set_ts(o, "timestamp", jstr(x, "modified"));
	json_t *attrs = json_array();
	json_t *tags = tags_of(c, x, 0);
	size_t i;
	json_t *xa;
	json_array_foreach(json_object_get(x, "x_misp_attributes"), i, xa)
	{
		if (!jstr(xa, "type") || !jstr(xa, "value")) {
			rwarn(c, jstr(x, "id"),
			      "x_misp_attributes[%zu] without type/value; skipped", i);
			continue;
		}
		json_t *a = new_attr(jstr(xa, "uuid"), jstr(xa, "type"), jstr(xa, "category"),
		                     jstr(xa, "value"), json_is_true(json_object_get(xa, "to_ids")),
		                     jstr(x, "modified"));
		const char *keys[] = {"object_relation", "comment", "data"};
		for (size_t k = 0; k < 3; k++)
			if (jstr(xa, keys[k]))
				json_object_set_new(a, keys[k], json_string(jstr(xa, keys[k])));
		if (json_array_size(tags))
			json_object_set(a, "Tag", tags);
		json_array_append_new(attrs, a);
	}
	json_decref(tags);
	json_object_set_new(o, "Attribute", attrs);
	json_array_append_new(r->objects, o);
	json_object_set(r->obj_by_id, jstr(x, "id"), o);
	json_object_set_new(c->seen, uuid, json_true());
}

static int is_galaxy_type(const char *t)
{
	static const char *const g[] = {"attack-pattern",
	                                "course-of-action",
	                                "intrusion-set",
	                                "malware",
	                                "threat-actor",
	                                "tool",
	                                "vulnerability",
	                                "campaign",
	                                "location",
	                                "identity",
	                                "x-misp-galaxy-cluster",
	                                NULL};
	for (int i = 0; g[i]; i++)
		if (strcmp(t, g[i]) == 0)
			return 1;
	return 0;
}

static json_t *cluster_of(struct rctx *c, const json_t *sdo, char *gtype, size_t gsz, char *gname,
                          size_t nsz)
{
	const char *t = jstr(sdo, "type");
	const char *name = jstr(sdo, "name") ? jstr(sdo, "name") : jstr(sdo, "x_misp_value");
	if (!name) {
		rwarn(c, jstr(sdo, "id"), "%s without a name; not mapped", t);
		return NULL;
	}
	if (!label_get(sdo, "misp:galaxy-type", gtype, gsz))
		snprintf(gtype, gsz, "%s", jstr(sdo, "x_misp_type") ? jstr(sdo, "x_misp_type") : t);
	if (!label_get(sdo, "misp:galaxy-name", gname, nsz))
		snprintf(gname, nsz, "%s", gtype);
	json_t *cl = json_object();
	json_object_set_new(cl, "uuid", json_string(uuid_of(jstr(sdo, "id"))));
	json_object_set_new(cl, "type", json_string(gtype));
	json_object_set_new(cl, "value", json_string(name));
	const char *tag = NULL;
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(sdo, "labels"), i, l)
	{
		const char *s = json_string_value(l);
		if (s && strncmp(s, "misp-galaxy:", 12) == 0)
			tag = s;
	}
	char buf[512];
	if (!tag) {
		snprintf(buf, sizeof(buf), "misp-galaxy:%s=\"%s\"", gtype, name);
		tag = buf;
	}
	json_object_set_new(cl, "tag_name", json_string(tag));
	const char *d =
	    jstr(sdo, "description") ? jstr(sdo, "description") : jstr(sdo, "x_misp_description");
	if (d)
		json_object_set_new(cl, "description", json_string(d));
	return cl;
}

static void galaxy_add(json_t *galaxies, const char *gtype, const char *gname, json_t *cluster)
{
	size_t i;
	json_t *g;
	json_array_foreach(galaxies, i, g)
	{
		if (strcmp(jstr(g, "type"), gtype) == 0) {
			json_t *cls = json_object_get(g, "GalaxyCluster");
			size_t k;
			json_t *e;
			json_array_foreach(
			    cls, k, e) if (strcmp(jstr(e, "uuid"), jstr(cluster, "uuid")) == 0)
			{
				json_decref(cluster);
				return;
			}
			json_array_append_new(cls, cluster);
			return;
		}
	}
	json_array_append_new(galaxies, json_pack("{s:s, s:s, s:[o]}", "type", gtype, "name", gname,
	                                          "GalaxyCluster", cluster));
}

static void map_galaxy_sdo(struct rctx *c, struct rev *r, const json_t *sdo)
{
	char gtype[128], gname[128];
	json_t *cl = cluster_of(c, sdo, gtype, sizeof(gtype), gname, sizeof(gname));
	if (!cl)
		return;
	/* attribute-level galaxy: a related-to relationship from an attribute's
	 * observed-data/indicator */
	const char *id = jstr(sdo, "id");
	int attached = 0;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(c->bundle, "objects"), i, o)
	{
		if (!jstr(o, "type") || strcmp(jstr(o, "type"), "relationship") != 0 ||
		    !jstr(o, "target_ref") || strcmp(jstr(o, "target_ref"), id) != 0)
			continue;
		json_t *a = json_object_get(c->attr_by_id,
		                            jstr(o, "source_ref") ? jstr(o, "source_ref") : "");
		if (!a)
			continue;
		json_t *ga = json_object_get(a, "Galaxy");
		if (!ga) {
			ga = json_array();
			json_object_set_new(a, "Galaxy", ga);
		}
		galaxy_add(ga, gtype, gname, json_deep_copy(cl));
		json_t *tags = json_object_get(a, "Tag");
		if (!tags) {
			tags = json_array();
			json_object_set_new(a, "Tag", tags);
		}
		add_tag(tags, jstr(cl, "tag_name"));
		attached = 1;
	}
	if (!attached) {
		add_tag(r->event_tags, jstr(cl, "tag_name"));
		galaxy_add(r->galaxies, gtype, gname, json_incref(cl));
	}
	json_decref(cl);
}

static json_t *org_of(struct rctx *c, const char *identity_id)
{
	json_t *idn = json_object_get(c->index, identity_id ? identity_id : "");
	if (!idn)
		return NULL;
	return json_pack("{s:s, s:s}", "uuid", uuid_of(identity_id), "name",
	                 jstr(idn, "name") ? jstr(idn, "name") : "");
}

static void push_sighting(json_t *a, json_t *s)
{
	json_t *arr = json_object_get(a, "Sighting");
	if (!arr) {
		arr = json_array();
		json_object_set_new(a, "Sighting", arr);
	}
	json_array_append_new(arr, s);
}

static void map_sighting(struct rctx *c, const json_t *s, int opinion)
{
	const char *id = jstr(s, "id");
	const char *target =
	    opinion ? json_string_value(json_array_get(json_object_get(s, "object_refs"), 0))
	            : jstr(s, "sighting_of_ref");
	json_t *a = json_object_get(c->attr_by_id, target ? target : "");
	if (!a || !json_object_get(a, "type")) {
		rwarn(c, id, "%s of %s, which is not a mapped attribute; not mapped",
		      opinion ? "opinion" : "sighting", target ? target : "nothing");
		return;
	}
	json_t *sg = json_object();
	json_object_set_new(sg, "uuid", json_string(uuid_of(id)));
	json_object_set_new(sg, "type", json_string(opinion ? "1" : "0"));
	set_ts(sg, "date_sighting", jstr(s, "created"));
	if (!opinion && jstr(s, "description"))
		json_object_set_new(sg, "source", json_string(jstr(s, "description")));
	const char *who =
	    opinion
	        ? jstr(s, "x_misp_author_ref")
	        : json_string_value(json_array_get(json_object_get(s, "where_sighted_refs"), 0));
	json_t *org = org_of(c, who);
	if (org)
		json_object_set_new(sg, "Organisation", org);
	push_sighting(a, sg);
}

static void map_relationship(struct rctx *c, struct rev *r, const json_t *rel)
{
	const char *rt = jstr(rel, "relationship_type"), *src = jstr(rel, "source_ref"),
	           *tgt = jstr(rel, "target_ref");
	if (!rt || !src || !tgt)
		return;
	if (strcmp(rt, "based-on") == 0 && uuid_of(src) && uuid_of(tgt) &&
	    strcmp(uuid_of(src), uuid_of(tgt)) == 0)
		return;
	json_t *tobj = json_object_get(c->index, tgt);
	if (tobj && jstr(tobj, "type") && is_galaxy_type(jstr(tobj, "type")) &&
	    json_object_get(c->attr_by_id, src))
		return; /* attribute-level galaxy, done in map_galaxy_sdo */
	json_t *o = json_object_get(r->obj_by_id, src);
	if (o) {
		json_t *refs = json_object_get(o, "ObjectReference");
		if (!refs) {
			refs = json_array();
			json_object_set_new(o, "ObjectReference", refs);
		}
		json_array_append_new(refs, json_pack("{s:s, s:s, s:s}", "object_uuid",
		                                      jstr(o, "uuid"), "referenced_uuid",
		                                      uuid_of(tgt), "relationship_type", rt));
		return;
	}
	json_t *sobj = json_object_get(c->index, src);
	if (sobj && jstr(sobj, "type") && is_galaxy_type(jstr(sobj, "type")) && tobj &&
	    jstr(tobj, "type") && is_galaxy_type(jstr(tobj, "type")))
		return; /* galaxy-to-galaxy: MISP keeps those in the galaxy definitions, not in
		           events */
	rwarn(c, jstr(rel, "id"),
	      "relationship %s %s -> %s has no MISP object to hang on; not mapped", rt, src, tgt);
}

static int is_sco(const char *t)
{
	static const char *const s[] = {"ipv4-addr",
	                                "ipv6-addr",
	                                "domain-name",
	                                "url",
	                                "file",
	                                "email-addr",
	                                "email-message",
	                                "mutex",
	                                "windows-registry-key",
	                                "network-traffic",
	                                "autonomous-system",
	                                "mac-addr",
	                                "x509-certificate",
	                                "user-account",
	                                "artifact",
	                                "directory",
	                                "process",
	                                "software",
	                                "hostname",
	                                "cryptocurrency-wallet",
	                                "phone-number",
	                                "user-agent",
	                                "text",
	                                NULL};
	for (int i = 0; s[i]; i++)
		if (strcmp(t, s[i]) == 0)
			return 1;
	return 0;
}

static void map_standalone_sco(struct rctx *c, struct rev *r, const json_t *sco)
{
	struct sl_stixpat p;
	memset(&p, 0, sizeof(p));
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "%s:", jstr(sco, "type"));
	flatten(c, &p, prefix, sco, 0);
	from_cmps(c, r, sco, &p, 0);
	sl_stixpat_free(&p);
}

/* Objects referenced by some observed-data or another SCO: not mapped on their own. */
static void mark_refs(json_t *set, const json_t *o)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		size_t kl = strlen(k);
		const char *ot = json_string_value(json_object_get(o, "type"));
		if (strcmp(k, "object_refs") == 0 && (!ot || strcmp(ot, "observed-data")))
			continue;
		if (json_is_string(v) && kl > 4 && strcmp(k + kl - 4, "_ref") == 0 &&
		    strcmp(k, "created_by_ref"))
			json_object_set_new(set, json_string_value(v), json_true());
		else if (json_is_array(v) && kl > 5 && strcmp(k + kl - 5, "_refs") == 0 &&
		         strcmp(k, "object_marking_refs") && strcmp(k, "where_sighted_refs") &&
		         strcmp(k, "observed_data_refs")) {
			size_t i;
			json_t *r;
			json_array_foreach(v, i, r) if (json_is_string(r))
			    json_object_set_new(set, json_string_value(r), json_true());
		}
	}
}

/* A MISP object misp-stix exported as an SDO (vulnerability, attack-pattern, identity, ...): its
 * properties become object attributes by name; the template's exact types are not known here. */
static void map_sdo_object(struct rctx *c, struct rev *r, const json_t *sdo)
{
	static const char *const std[] = {"type",
	                                  "id",
	                                  "spec_version",
	                                  "created",
	                                  "modified",
	                                  "created_by_ref",
	                                  "labels",
	                                  "object_marking_refs",
	                                  "kill_chain_phases",
	                                  "external_references",
	                                  "identity_class",
	                                  "is_family",
	                                  "lang",
	                                  NULL};
	json_t *cp = json_deep_copy(sdo);
	for (int i = 0; std[i]; i++)
		json_object_del(cp, std[i]);
	json_t *ext;
	size_t i;
	json_array_foreach(json_object_get(sdo, "external_references"), i, ext)
	{
		if (jstr(ext, "external_id") && jstr(ext, "source_name") &&
		    strcmp(jstr(ext, "source_name"), "cve") == 0)
			json_object_set_new(cp, "id", json_string(jstr(ext, "external_id")));
	}
	struct sl_stixpat p;
	memset(&p, 0, sizeof(p));
	const char *k;
	json_t *v;
	json_object_foreach(cp, k, v)
	{
		char path[160];
		const char *rel = strncmp(k, "x_misp_", 7) == 0 ? k : NULL;
		snprintf(path, sizeof(path), "%s:%s%s", jstr(sdo, "type"), rel ? "" : "x_misp_", k);
		if (json_is_string(v))
			cmp_push(&p, path, json_string_value(v));
		else if (json_is_array(v)) {
			size_t j;
			json_t *e;
			json_array_foreach(v, j, e) if (json_is_string(e))
			    cmp_push(&p, path, json_string_value(e));
		}
	}
	json_decref(cp);
	from_cmps(c, r, sdo, &p, 0);
	sl_stixpat_free(&p);
}

static json_t *map_event(struct rctx *c, const json_t *container, json_t *members)
{
	struct rev r = {json_array(), json_array(), json_array(), json_object(), NULL};
	json_t *ev = json_object();
	const char *cid = container ? jstr(container, "id") : jstr(c->bundle, "id");
	const char *uuid = uuid_of(cid);
	char buf[64];
	c->event_uuid = uuid ? uuid : "?";
	json_object_set_new(ev, "uuid", json_string(uuid ? uuid : ""));
	if (container) {
		json_object_set_new(
		    ev, "info",
		    json_string(jstr(container, "name") ? jstr(container, "name") : ""));
		const char *cr = jstr(container, "created");
		if (cr && strlen(cr) >= 10) {
			snprintf(buf, sizeof(buf), "%.10s", cr);
			json_object_set_new(ev, "date", json_string(buf));
		}
		set_ts(ev, "timestamp", jstr(container, "modified"));
		int pub =
		    strcmp(jstr(container, "type"), "report") == 0 && jstr(container, "published");
		json_object_set_new(ev, "published", json_boolean(pub));
		if (pub)
			set_ts(ev, "publish_timestamp", jstr(container, "published"));
		else
			json_object_set_new(ev, "publish_timestamp", json_string("0"));
	} else {
		snprintf(buf, sizeof(buf), "STIX bundle %.40s", uuid ? uuid : "");
		json_object_set_new(ev, "info", json_string(buf));
		json_object_set_new(ev, "published", json_false());
	}
	/* The MISP scope the ledger kept (x_misp_distribution, after the policy's downgrade),
	 * else "your organisation only": never wider than sluice knows. */
	{
		const json_t *d =
		    container ? json_object_get(container, "x_misp_distribution") : NULL;
		const char *sg = container ? jstr(container, "x_misp_sharing_group_uuid") : NULL;
		char lv[2] = "0";
		if (json_is_integer(d) && json_integer_value(d) >= 0 && json_integer_value(d) <= 4)
			lv[0] = (char)('0' + json_integer_value(d));
		if (lv[0] == '4' && !sg)
			lv[0] = '0'; /* a sharing group sluice cannot name */
		json_object_set_new(ev, "distribution", json_string(lv));
		if (lv[0] == '4')
			json_object_set_new(ev, "SharingGroup", json_pack("{s:s}", "uuid", sg));
	}
	json_object_set_new(ev, "threat_level_id", json_string("4"));
	json_object_set_new(ev, "analysis", json_string("0"));
	json_t *org = container ? org_of(c, jstr(container, "created_by_ref")) : NULL;
	if (org)
		json_object_set_new(ev, "Orgc", org);
	r.event_tags = container ? tags_of(c, container, 1) : json_array();
	json_object_set_new(ev, "Tag", r.event_tags);

	json_t *referenced = json_object();
	size_t i;
	json_t *o;
	json_t *objs = json_object_get(c->bundle, "objects");
	json_array_foreach(objs, i, o) mark_refs(referenced, o);

	/* attributes and objects first, in bundle order */
	json_array_foreach(objs, i, o)
	{
		const char *t = jstr(o, "type"), *id = jstr(o, "id");
		if (!t || !id || !uuid_of(id) || (members && !json_object_get(members, id)))
			continue;
		if (strcmp(t, "indicator") == 0)
			map_indicator(c, &r, o);
		else if (strcmp(t, "observed-data") == 0)
			map_observed(c, &r, o);
		else if (strcmp(t, "x-misp-attribute") == 0)
			map_x_attribute(c, &r, o);
		else if (strcmp(t, "x-misp-object") == 0)
			map_x_object(c, &r, o);
		else if ((strcmp(t, "vulnerability") == 0 || strcmp(t, "campaign") == 0) &&
		         label_get(o, "misp:type", buf, sizeof(buf))) {
			char cat[96];
			category_of(o, cat, sizeof(cat));
			json_t *a = new_attr(uuid_of(id), buf, cat[0] ? cat : NULL,
			                     jstr(o, "name") ? jstr(o, "name") : "", 0,
			                     jstr(o, "modified"));
			common_fields(c, a, o, 0);
			json_array_append_new(r.attrs, a);
			json_object_set(c->attr_by_id, id, a);
			json_object_set_new(c->seen, uuid_of(id), json_true());
		} else if (is_sco(t) && !json_object_get(referenced, id))
			map_standalone_sco(c, &r, o);
	}
	/* then what hangs on them */
	json_array_foreach(objs, i, o)
	{
		const char *t = jstr(o, "type"), *id = jstr(o, "id");
		if (!t || !id || !uuid_of(id) || (members && !json_object_get(members, id)))
			continue;
		if (json_object_get(c->seen, uuid_of(id) ? uuid_of(id) : ""))
			continue;
		if (strcmp(t, "identity") == 0 && container && jstr(container, "created_by_ref") &&
		    strcmp(jstr(container, "created_by_ref"), id) == 0)
			continue;
		if (strcmp(t, "identity") == 0 && !json_object_get(o, "labels"))
			continue; /* creator/sighting organisations */
		if (is_galaxy_type(t) && label_get(o, "misp:name", buf, sizeof(buf)))
			map_sdo_object(c, &r, o);
		else if (is_galaxy_type(t))
			map_galaxy_sdo(c, &r, o);
		else if (strcmp(t, "sighting") == 0)
			map_sighting(c, o, 0);
		else if (strcmp(t, "opinion") == 0 && jstr(o, "explanation") &&
		         strstr(jstr(o, "explanation"), "False positive"))
			map_sighting(c, o, 1);
		else if (strcmp(t, "relationship") == 0)
			map_relationship(c, &r, o);
		else if (strcmp(t, "note") == 0 && jstr(o, "content") &&
		         strstr(jstr(o, "content"), "MISP Event is empty"))
			continue;
		else if (strcmp(t, "report") == 0 || strcmp(t, "grouping") == 0 ||
		         strcmp(t, "marking-definition") == 0 || strcmp(t, "indicator") == 0 ||
		         strcmp(t, "observed-data") == 0 || strcmp(t, "x-misp-object") == 0 ||
		         strcmp(t, "x-misp-attribute") == 0 || is_sco(t) ||
		         strcmp(t, "extension-definition") == 0)
			continue;
		else
			rwarn(c, id, "STIX type %s is not mapped to MISP", t);
	}
	json_decref(referenced);
	json_object_set_new(ev, "Attribute", r.attrs);
	json_object_set_new(ev, "Object", r.objects);
	json_object_set_new(ev, "Galaxy", r.galaxies);
	json_decref(r.obj_by_id);
	return json_pack("{s:o}", "Event", ev);
}

static int rctx_init(struct rctx *c, const json_t *bundle, const struct sl_map_opts *opts,
                     json_t *warnings, struct sl_err *err)
{
	memset(c, 0, sizeof(*c));
	sl_err_clear(err);
	if (!json_is_object(bundle))
		return sl_err_set(err, SL_EINVAL, "bundle", "not a JSON object");
	json_t *objs = json_object_get(bundle, "objects");
	const char *bt = jstr(bundle, "type");
	if (!bt || strcmp(bt, "bundle") != 0)
		return sl_err_set(err, SL_EINVAL, "bundle.type", "not a STIX bundle (type is %s)",
		                  bt ? bt : "missing");
	if (!json_is_array(objs))
		return sl_err_set(err, SL_EINVAL, "bundle.objects", "missing or not an array");
	c->bundle = bundle;
	c->opts = opts;
	c->warnings = warnings;
	c->err = err;
	c->index = json_object();
	c->seen = json_object();
	c->attr_by_id = json_object();
	size_t i;
	json_t *o;
	json_array_foreach(objs, i, o)
	{
		const char *id = jstr(o, "id"), *t = jstr(o, "type");
		if (!json_is_object(o) || !id || !t || !uuid_of(id)) {
			char w[64];
			snprintf(w, sizeof(w), "bundle.objects[%zu]", i);
			c->event_uuid = uuid_of(jstr(bundle, "id"));
			rwarn(c, w, "object without a type or a valid id; skipped");
			continue;
		}
		json_object_set(c->index, id, o);
	}
	return 0;
}

static void rctx_done(struct rctx *c)
{
	json_decref(c->index);
	json_decref(c->seen);
	json_decref(c->attr_by_id);
}

static const json_t *first_container(const json_t *bundle)
{
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(bundle, "objects"), i, o)
	{
		const char *t = jstr(o, "type");
		if (t && (strcmp(t, "report") == 0 || strcmp(t, "grouping") == 0) &&
		    uuid_of(jstr(o, "id")))
			return o;
	}
	return NULL;
}

json_t *sl_stix_to_misp(const json_t *bundle, const struct sl_map_opts *opts, json_t *warnings,
                        struct sl_err *err)
{
	struct rctx c;
	if (rctx_init(&c, bundle, opts, warnings, err) != 0)
		return NULL;
	json_t *ev = map_event(&c, first_container(bundle), NULL);
	int failed = c.failed;
	rctx_done(&c);
	if (failed) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

static void add_members(json_t *members, const json_t *index, const char *id, int depth)
{
	if (!id || depth > 8 || json_object_get(members, id))
		return;
	json_object_set_new(members, id, json_true());
	const json_t *o = json_object_get(index, id);
	const char *t = json_string_value(json_object_get(o, "type"));
	if (t && strcmp(t, "observed-data") == 0) {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(o, "object_refs"), i, r)
		    add_members(members, index, json_string_value(r), depth + 1);
	}
}

json_t *sl_stix_to_misp_all(const json_t *bundle, const struct sl_map_opts *opts, json_t *warnings,
                            struct sl_err *err)
{
	struct rctx c;
	if (rctx_init(&c, bundle, opts, warnings, err) != 0)
		return NULL;
	json_t *out = json_array();
	json_t *all = json_object();
	size_t i, k;
	json_t *o, *r;
	json_t *objs = json_object_get(bundle, "objects");
	json_array_foreach(objs, i, o)
	{
		const char *t = jstr(o, "type");
		if (!t || (strcmp(t, "report") && strcmp(t, "grouping")) || !uuid_of(jstr(o, "id")))
			continue;
		json_t *members = json_object();
		json_array_foreach(json_object_get(o, "object_refs"), k, r)
		    add_members(members, c.index, json_string_value(r), 0);
		/* sightings and opinions of members, and relationships between members */
		json_t *s;
		size_t j;
		json_array_foreach(objs, j, s)
		{
			const char *st = jstr(s, "type"), *ref = NULL;
			if (!st)
				continue;
			if (strcmp(st, "sighting") == 0)
				ref = jstr(s, "sighting_of_ref");
			else if (strcmp(st, "relationship") == 0)
				ref = jstr(s, "source_ref");
			else if (strcmp(st, "opinion") == 0)
				ref = json_string_value(
				    json_array_get(json_object_get(s, "object_refs"), 0));
			if (ref && json_object_get(members, ref) && jstr(s, "id"))
				json_object_set_new(members, jstr(s, "id"), json_true());
		}
		json_object_update(all, members);
		json_object_set_new(c.seen, "", json_null());
		json_object_clear(c.seen);
		json_array_append_new(out, map_event(&c, o, members));
		json_decref(members);
	}
	/* leftovers: one extra event named after the bundle */
	json_t *rest = json_object();
	json_array_foreach(objs, i, o)
	{
		const char *id = jstr(o, "id"), *t = jstr(o, "type");
		if (!id || !t || json_object_get(all, id) || !strcmp(t, "report") ||
		    !strcmp(t, "grouping") || !strcmp(t, "marking-definition") ||
		    !strcmp(t, "identity") || !strcmp(t, "extension-definition"))
			continue;
		json_object_set_new(rest, id, json_true());
	}
	if (json_object_size(rest) || json_array_size(out) == 0) {
		json_object_clear(c.seen);
		json_array_append_new(out, map_event(&c, NULL, json_array_size(out) ? rest : NULL));
	}
	json_decref(rest);
	json_decref(all);
	int failed = c.failed;
	rctx_done(&c);
	if (failed) {
		json_decref(out);
		return NULL;
	}
	return out;
}
