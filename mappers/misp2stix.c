/* misp2stix.c — MISP event -> STIX 2.1 bundle: the event container, its identity, attributes,
 * sightings, event reports; MISP objects and galaxies are in misp_objects.c and misp_galaxy.c. */
#include "misp2stix.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "map_ctx.h"
#include "misp_galaxy.h"
#include "misp_objects.h"
#include "misp_types.h"

/* ---- value checks (PyMISP drops such attributes before misp-stix sees them) -------------------
 */

int sl_misp_ip_kind(const char *s)
{
	unsigned char buf[16];
	char tmp[64];
	const char *slash;

	if (!s)
		return 0;
	/* MISP accepts CIDR blocks in ip-src/ip-dst; STIX ipv4-addr/ipv6-addr values may be CIDR
	 * too */
	slash = strchr(s, '/');
	if (slash) {
		char *end;
		long pfx = strtol(slash + 1, &end, 10);
		if ((size_t)(slash - s) >= sizeof(tmp) || slash[1] == '\0' || *end || pfx < 0)
			return 0;
		memcpy(tmp, s, (size_t)(slash - s));
		tmp[slash - s] = '\0';
		int k = sl_misp_ip_kind(tmp);
		return (k == 4 && pfx <= 32) || (k == 6 && pfx <= 128) ? k : 0;
	}
	if (inet_pton(AF_INET, s, buf) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return 6;
	return 0;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Hex digests have a fixed length; fuzzy hashes (ssdeep, tlsh, vhash...) only need to be printable.
 */
static const char *hash_problem(const char *algo, const char *v)
{
	static const struct {
		const char *a;
		size_t n;
	} lens[] = {{"md5", 32},
	            {"sha1", 40},
	            {"sha224", 56},
	            {"sha256", 64},
	            {"sha384", 96},
	            {"sha512", 128},
	            {"sha512/224", 56},
	            {"sha512/256", 64},
	            {"sha3-224", 56},
	            {"sha3-256", 64},
	            {"sha3-384", 96},
	            {"sha3-512", 128},
	            {"imphash", 32},
	            {"authentihash", 64},
	            {"pehash", 40},
	            {"x509-fingerprint-md5", 32},
	            {"x509-fingerprint-sha1", 40},
	            {"x509-fingerprint-sha256", 64}};
	size_t len = strlen(v);

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		if (!strcmp(algo, lens[i].a)) {
			if (len != lens[i].n || !is_hex(v, len))
				return "is not a valid hexadecimal digest of the right length";
			return NULL;
		}
	if (len == 0)
		return "is empty";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x21)
			return "contains whitespace or control characters";
	return NULL;
}

static int domain_ok(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (n == 0 || n > 253 || !strchr(s, '.'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (!(isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80))
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0;
}

static int port_ok(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return 0;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 65535)
		return 0;
	*out = v;
	return 1;
}

static const char *const http_methods[] = {
    "OPTIONS",         "GET",        "HEAD",     "POST",     "PUT",
    "DELETE",          "TRACE",      "CONNECT",  "PROPFIND", "PROPPATCH",
    "MKCOL",           "COPY",       "MOVE",     "LOCK",     "UNLOCK",
    "VERSION-CONTROL", "REPORT",     "CHECKOUT", "CHECKIN",  "UNCHECKOUT",
    "MKWORKSPACE",     "UPDATE",     "LABEL",    "MERGE",    "BASELINE-CONTROL",
    "MKACTIVITY",      "ORDERPATCH", "ACL",      "PATCH",    "SEARCH"};

static const char *port_problem(const char *p)
{
	long v;

	if (!port_ok(p, &v) || v < 1)
		return "is not a port number between 1 and 65535";
	return NULL;
}

const char *sl_misp_value_problem(const char *type, const char *v)
{
	const char *bar = strchr(v, '|');
	char head[256];

	if (!strcmp(type, "ip-src") || !strcmp(type, "ip-dst"))
		return sl_misp_ip_kind(v) ? NULL : "is not a valid IPv4 or IPv6 address";
	if (!strcmp(type, "ip-src|port") || !strcmp(type, "ip-dst|port") ||
	    !strcmp(type, "hostname|port") || !strcmp(type, "domain|ip")) {
		if (!bar || (size_t)(bar - v) >= sizeof(head))
			return "is not a composite value \"x|y\"";
		memcpy(head, v, (size_t)(bar - v));
		head[bar - v] = '\0';
		if (type[0] == 'i')
			return sl_misp_ip_kind(head) ? port_problem(bar + 1)
			                             : "is not a valid IPv4 or IPv6 address";
		if (type[0] == 'h')
			return domain_ok(head) ? port_problem(bar + 1) : "has an invalid hostname";
		return !domain_ok(head)            ? "has an invalid domain name"
		       : !sl_misp_ip_kind(bar + 1) ? "has an invalid IP address"
		                                   : NULL;
	}
	if (!strcmp(type, "domain") || !strcmp(type, "hostname"))
		return domain_ok(v) ? NULL : "is not a valid domain or hostname";
	if (!strcmp(type, "mac-address")) {
		/* six hex pairs separated by ':' or '-' (the STIX mac-addr schema needs ':' pairs)
		 */
		if (strlen(v) != 17)
			return "is not a MAC address";
		for (int i = 0; i < 17; i++)
			if (i % 3 == 2 ? (v[i] != ':' && v[i] != '-')
			               : !isxdigit((unsigned char)v[i]))
				return "is not a MAC address";
		return NULL;
	}
	if (!strcmp(type, "port"))
		return port_problem(v);
	if (!strcmp(type, "size-in-bytes")) {
		if (!*v)
			return "is empty";
		for (const char *p = v; *p; p++)
			if (!isdigit((unsigned char)*p))
				return "is not a whole number greater or equal 0";
		return NULL;
	}
	if (!strcmp(type, "http-method")) {
		for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
			if (!strcmp(v, http_methods[i]))
				return NULL;
		return "is not a known HTTP method";
	}
	if (!strcmp(type, "AS")) {
		const char *d = !strncasecmp(v, "AS", 2) ? v + 2 : v;
		char *end;
		long long n = strtoll(d, &end, 10);
		if (!isdigit((unsigned char)*d) || *end || n < 1 || n > 4294967295LL)
			return "is not an AS number between 1 and 4294967295";
		return NULL;
	}
	if (!strncmp(type, "filename|", 9)) {
		if (!bar)
			return "has no '|' separating the filename and the hash";
		return hash_problem(type + 9, bar + 1);
	}
	{
		const struct sl_mtype *mt = sl_mtype_get(type);
		if (mt && mt->hash_sco)
			return hash_problem(type, v);
	}
	return NULL;
}

/* PyMISP normalises these before misp-stix sees them: lower-case hashes, hostnames, MAC addresses.
 */
static int lowercased(const char *type)
{
	const struct sl_mtype *mt = sl_mtype_get(type);

	return (mt && mt->hash_sco) || !strcmp(type, "mac-address") || !strcmp(type, "domain") ||
	       !strcmp(type, "hostname") || !strcmp(type, "domain|ip") ||
	       !strcmp(type, "hostname|port");
}

char *sl_misp_normalise(const char *type, const char *v)
{
	char *o;

	if (!lowercased(type))
		return NULL;
	o = strdup(v);
	if (!o)
		return NULL;
	if (!strncmp(type, "filename|", 9)) {
		char *bar = strchr(o, '|');
		/* fuzzy hashes are case-sensitive */
		if (!strcmp(type + 9, "ssdeep") || !strcmp(type + 9, "tlsh") ||
		    !strcmp(type + 9, "vhash") || !strcmp(type + 9, "telfhash"))
			return o;
		for (char *p = bar ? bar : o + strlen(o); *p; p++)
			*p = (char)tolower((unsigned char)*p);
		return o;
	}
	if (!strcmp(type, "ssdeep") || !strcmp(type, "tlsh") || !strcmp(type, "vhash") ||
	    !strcmp(type, "telfhash"))
		return o;
	for (char *p = o; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!strcmp(type, "mac-address"))
		for (char *p = o; *p; p++)
			if (*p == '-')
				*p = ':';
	return o;
}

static int base64_ok(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n % 4)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '=') {
			pad++;
			if (i + 2 < n - 1 || pad > 2)
				return 0;
		} else if (pad || !(isalnum(ch) || ch == '+' || ch == '/')) {
			return 0;
		}
	}
	return 1;
}

/* ---- building blocks ------------------------------------------------------------------------ */

struct attr {
	const json_t *a;
	const char *uuid, *type, *value, *category, *comment;
	const struct sl_mtype *mt;
	char ts[SL_TS_MAX];
	char where[96];
	int to_ids;
};

static json_t *sco(const char *type, const char *uuid)
{
	return sl_map_sco(type, uuid);
}

/* Keys here are literals (no UTF-8 check needed); values may come from the event, checked. */
static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new_nocheck(o, k, json_string(v));
}

static void set_strn(json_t *o, const char *k, const char *v, size_t n)
{
	json_object_set_new(o, k, json_stringn(v, n));
}

static const char *ip_type(const char *v)
{
	return sl_misp_ip_kind(v) == 6 ? "ipv6-addr" : "ipv4-addr";
}

/* Split "a|b" at the first '|' (misp-stix splits composite values the same way). */
static int split2(const char *v, size_t *alen, const char **b)
{
	const char *bar = strchr(v, '|');

	if (!bar)
		return -1;
	*alen = (size_t)(bar - v);
	*b = bar + 1;
	return 0;
}

static void ref_id(char out[SL_STIX_ID_MAX], const char *type, const char *uuid)
{
	sl_map_cat(out, SL_STIX_ID_MAX, type, "--", uuid);
}

static int bad(struct sl_map_ctx *c, struct attr *at, const char *fmt, const char *detail)
{
	char q[80];

	sl_err_quote(q, sizeof(q), at->value ? at->value : "", 60);
	sl_map_warn(c, SL_EINVAL, at->where, "%s attribute value \"%s\" %s; attribute skipped",
	            at->type, q, fmt ? fmt : detail);
	return SL_EINVAL;
}

/* Expand an abbreviated registry hive (HKLM\...) to its full name, which the STIX schema requires.
 */
static char *reg_full_key(const char *k, size_t n)
{
	static const struct {
		const char *ab, *full;
	} hives[] = {{"HKLM", "HKEY_LOCAL_MACHINE"},  {"HKCU", "HKEY_CURRENT_USER"},
	             {"HKCR", "HKEY_CLASSES_ROOT"},   {"HKU", "HKEY_USERS"},
	             {"HKCC", "HKEY_CURRENT_CONFIG"}, {"HKPD", "HKEY_PERFORMANCE_DATA"}};
	for (size_t i = 0; i < sizeof(hives) / sizeof(hives[0]); i++) {
		size_t l = strlen(hives[i].ab);
		if (n >= l && !strncasecmp(k, hives[i].ab, l) && (n == l || k[l] == '\\')) {
			size_t fl = strlen(hives[i].full);
			char *o = malloc(fl + n - l + 1);
			if (!o)
				return NULL;
			memcpy(o, hives[i].full, fl);
			memcpy(o + fl, k + l, n - l);
			o[fl + n - l] = '\0';
			return o;
		}
	}
	char *o = malloc(n + 1);
	if (o) {
		memcpy(o, k, n);
		o[n] = '\0';
	}
	return o;
}

char *sl_misp_regkey_full(const char *k, size_t n)
{
	return reg_full_key(k, n);
}

static int attachment(struct sl_map_ctx *c, struct attr *at, json_t *scos, const char *data);

/* base64 text with every byte outside the alphabet dropped (malloc'd). */
static char *base64_clean(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *r = malloc(n + 1);

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/' || s[i] == '=')
			r[o++] = s[i];
	r[o] = '\0';
	return r;
}

/* Fill scos (array) and c->pat for an observable attribute. Returns 0, or SL_EINVAL (warned). */
static int observable(struct sl_map_ctx *c, struct attr *at, json_t *scos)
{
	const char *t = at->type, *v = at->value, *u = at->uuid, *b;
	struct sl_pattern *p = c->pat;
	const struct sl_mtype *mt = at->mt;
	char id[SL_STIX_ID_MAX];
	size_t alen;
	json_t *o, *o2;
	long port;

	if (mt->hash_sco && strncmp(t, "filename|", 9) != 0) {
		const char *why = hash_problem(t, v);
		if (why)
			return bad(c, at, NULL, why);
		const char *st = !strncmp(t, "x509-", 5) ? "x509-certificate" : "file";
		char path[64];
		o = sco(st, u);
		json_object_set_new(o, "hashes", json_pack("{s:s}", mt->hash_sco, v));
		json_array_append_new(scos, o);
		snprintf(path, sizeof(path), "%s:hashes.%s", st, mt->hash_pat);
		return sl_pattern_add(p, path, v, strlen(v));
	}
	if (mt->hash_sco) { /* filename|<hash> */
		char path[64];
		if (split2(v, &alen, &b))
			return bad(c, at, "has no '|' separating the filename and the hash", NULL);
		const char *why = hash_problem(t + 9, b);
		if (why)
			return bad(c, at, NULL, why);
		o = sco("file", u);
		json_object_set_new(o, "hashes", json_pack("{s:s}", mt->hash_sco, b));
		set_strn(o, "name", v, alen);
		json_array_append_new(scos, o);
		snprintf(path, sizeof(path), "file:hashes.%s", mt->hash_pat);
		if (sl_pattern_add(p, "file:name", v, alen))
			return SL_ENOMEM;
		return sl_pattern_add(p, path, b, strlen(b));
	}
	if (!strcmp(t, "AS")) {
		const char *d = v;
		char *end;
		if (!strncasecmp(d, "AS", 2))
			d += 2;
		long long n = strtoll(d, &end, 10);
		if (!isdigit((unsigned char)*d) || *end || n < 1 || n > 4294967295LL)
			return bad(c, at, "is not an AS number between 1 and 4294967295", NULL);
		char num[24];
		snprintf(num, sizeof(num), "%lld", n);
		o = sco("autonomous-system", u);
		json_object_set_new(o, "number", json_integer(n));
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "autonomous-system:number", num, strlen(num));
	}
	if (!strcmp(t, "domain") || !strcmp(t, "hostname")) {
		if (!domain_ok(v))
			return bad(c, at, "is not a valid domain name", NULL);
		o = sco("domain-name", u);
		set_str(o, "value", v);
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "domain-name:value", v, strlen(v));
	}
	if (!strcmp(t, "domain|ip")) {
		char ipb[64];
		if (split2(v, &alen, &b) || strlen(b) >= sizeof(ipb) || !sl_misp_ip_kind(b))
			return bad(c, at, "is not \"domain|ip\" with a valid IP address", NULL);
		char *dom = strndup(v, alen);
		if (!dom)
			return SL_ENOMEM;
		if (!domain_ok(dom)) {
			free(dom);
			return bad(c, at, "does not start with a valid domain name", NULL);
		}
		ref_id(id, ip_type(b), u);
		o = sco("domain-name", u);
		set_str(o, "value", dom);
		json_object_set_new(o, "resolves_to_refs", json_pack("[s]", id));
		json_array_append_new(scos, o);
		o2 = sco(ip_type(b), u);
		set_str(o2, "value", b);
		json_array_append_new(scos, o2);
		int r = sl_pattern_add(p, "domain-name:value", dom, alen) ||
		        sl_pattern_add(p, "domain-name:resolves_to_refs[*].value", b, strlen(b));
		free(dom);
		return r ? SL_ENOMEM : 0;
	}
	if (!strcmp(t, "ip-src") || !strcmp(t, "ip-dst") || !strcmp(t, "ip-src|port") ||
	    !strcmp(t, "ip-dst|port")) {
		int src = t[3] == 's';
		const char *ip = v;
		char ipbuf[64];
		port = -1;
		if (strchr(t, '|')) {
			if (split2(v, &alen, &b) || alen >= sizeof(ipbuf) || !port_ok(b, &port))
				return bad(c, at, "is not \"ip|port\" with a port of 0-65535",
				           NULL);
			memcpy(ipbuf, v, alen);
			ipbuf[alen] = '\0';
			ip = ipbuf;
		}
		if (!sl_misp_ip_kind(ip))
			return bad(c, at, "is not a valid IPv4 or IPv6 address", NULL);
		const char *it = ip_type(ip);
		char path[64], pnum[24];
		ref_id(id, it, u);
		o = sco("network-traffic", u);
		set_str(o, src ? "src_ref" : "dst_ref", id);
		if (port >= 0)
			json_object_set_new(o, src ? "src_port" : "dst_port", json_integer(port));
		json_object_set_new(o, "protocols", json_pack("[s]", "tcp"));
		json_array_append_new(scos, o);
		o2 = sco(it, u);
		set_str(o2, "value", ip);
		json_array_append_new(scos, o2);
		snprintf(path, sizeof(path), "network-traffic:%s.type",
		         src ? "src_ref" : "dst_ref");
		if (sl_pattern_add(p, path, it, strlen(it)))
			return SL_ENOMEM;
		snprintf(path, sizeof(path), "network-traffic:%s.value",
		         src ? "src_ref" : "dst_ref");
		if (sl_pattern_add(p, path, ip, strlen(ip)))
			return SL_ENOMEM;
		if (port >= 0) {
			snprintf(pnum, sizeof(pnum), "%ld", port);
			snprintf(path, sizeof(path), "network-traffic:%s",
			         src ? "src_port" : "dst_port");
			return sl_pattern_add(p, path, pnum, strlen(pnum));
		}
		return 0;
	}
	if (!strcmp(t, "hostname|port")) {
		char pnum[16];
		if (split2(v, &alen, &b) || !port_ok(b, &port))
			return bad(c, at, "is not \"hostname|port\" with a port of 0-65535", NULL);
		ref_id(id, "domain-name", u);
		o = sco("domain-name", u);
		set_strn(o, "value", v, alen);
		json_array_append_new(scos, o);
		o2 = sco("network-traffic", u);
		set_str(o2, "dst_ref", id);
		json_object_set_new(o2, "dst_port", json_integer(port));
		json_object_set_new(o2, "protocols", json_pack("[s]", "tcp"));
		json_array_append_new(scos, o2);
		snprintf(pnum, sizeof(pnum), "%ld", port);
		return sl_pattern_add(p, "domain-name:value", v, alen) ||
		               sl_pattern_add(p, "network-traffic:dst_port", pnum, strlen(pnum))
		           ? SL_ENOMEM
		           : 0;
	}
	if (!strcmp(t, "email")) {
		o = sco("email-addr", u);
		set_str(o, "value", v);
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "email-addr:value", v, strlen(v));
	}
	if (!strcmp(t, "email-src") || !strcmp(t, "email-dst")) {
		int src = t[6] == 's';
		ref_id(id, "email-addr", u);
		o = sco("email-message", u);
		json_object_set_new(o, "is_multipart", json_false());
		if (src)
			set_str(o, "from_ref", id);
		else
			json_object_set_new(o, "to_refs", json_pack("[s]", id));
		json_array_append_new(scos, o);
		o2 = sco("email-addr", u);
		set_str(o2, "value", v);
		json_array_append_new(scos, o2);
		return sl_pattern_add(
		    p, src ? "email-message:from_ref.value" : "email-message:to_refs[*].value", v,
		    strlen(v));
	}
	if (!strncmp(t, "email-", 6)) {
		const char *path = NULL;
		o = sco("email-message", u);
		if (!strcmp(t, "email-attachment")) {
			char disp[1024];
			json_object_set_new(o, "is_multipart", json_true());
			ref_id(id, "file", u);
			snprintf(disp, sizeof(disp), "attachment; filename='%s'", v);
			json_object_set_new(o, "body_multipart",
			                    json_pack("[{s:s, s:s}]", "body_raw_ref", id,
			                              "content_disposition", disp));
			json_array_append_new(scos, o);
			o2 = sco("file", u);
			set_str(o2, "name", v);
			json_array_append_new(scos, o2);
			return sl_pattern_add(
			    p, "email-message:body_multipart[*].body_raw_ref.name", v, strlen(v));
		}
		json_object_set_new(o, "is_multipart", json_false());
		if (!strcmp(t, "email-subject")) {
			set_str(o, "subject", v);
			path = "email-message:subject";
		} else if (!strcmp(t, "email-body")) {
			set_str(o, "body", v);
			path = "email-message:body";
		} else if (!strcmp(t, "email-header")) {
			json_object_set_new(o, "received_lines", json_pack("[s]", v));
			path = "email-message:received_lines";
		} else if (!strcmp(t, "email-message-id")) {
			set_str(o, "message_id", v);
			path = "email-message:message_id";
		} else if (!strcmp(t, "email-reply-to")) {
			json_object_set_new(o, "additional_header_fields",
			                    json_pack("{s:s}", "Reply-To", v));
			path = "email-message:additional_header_fields.reply_to";
		} else if (!strcmp(t, "email-x-mailer")) {
			json_object_set_new(o, "additional_header_fields",
			                    json_pack("{s:s}", "X-Mailer", v));
			path = "email-message:additional_header_fields.x_mailer";
		}
		json_array_append_new(scos, o);
		return path ? sl_pattern_add(p, path, v, strlen(v)) : 0;
	}
	if (!strcmp(t, "filename")) {
		o = sco("file", u);
		set_str(o, "name", v);
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "file:name", v, strlen(v));
	}
	if (!strcmp(t, "github-username")) {
		o = sco("user-account", u);
		set_str(o, "account_login", v);
		set_str(o, "account_type", "github");
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "user-account:account_type", "github", 6) ||
		               sl_pattern_add(p, "user-account:account_login", v, strlen(v))
		           ? SL_ENOMEM
		           : 0;
	}
	if (!strcmp(t, "url") || !strcmp(t, "uri") || !strcmp(t, "link")) {
		o = sco("url", u);
		set_str(o, "value", v);
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "url:value", v, strlen(v));
	}
	if (!strcmp(t, "mac-address")) {
		o = sco("mac-addr", u);
		set_str(o, "value", v);
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "mac-addr:value", v, strlen(v));
	}
	if (!strcmp(t, "mutex")) {
		o = sco("mutex", u);
		set_str(o, "name", v);
		json_array_append_new(scos, o);
		return sl_pattern_add(p, "mutex:name", v, strlen(v));
	}
	if (!strcmp(t, "regkey") || !strcmp(t, "regkey|value")) {
		size_t klen = strlen(v);
		b = NULL;
		if (t[6] == '|' && split2(v, &klen, &b))
			return bad(c, at, "has no '|' separating the key and the value", NULL);
		char *key = reg_full_key(v, klen);
		if (!key)
			return SL_ENOMEM;
		o = sco("windows-registry-key", u);
		set_str(o, "key", key);
		if (b)
			json_object_set_new(o, "values", json_pack("[{s:s}]", "data", b));
		json_array_append_new(scos, o);
		int r = sl_pattern_add(p, "windows-registry-key:key", key, strlen(key));
		free(key);
		if (!r && b)
			r = sl_pattern_add_pct(p, "windows-registry-key:values.data", b, strlen(b));
		return r;
	}
	if (!strcmp(t, "attachment") || !strcmp(t, "malware-sample")) {
		const char *data = sl_map_str(at->a, "data");
		char *clean = NULL;
		if (data && !base64_ok(data)) {
			/* misp-stix decodes leniently (Python drops non-alphabet bytes) and
			 * re-encodes */
			clean = base64_clean(data);
			if (!clean || !base64_ok(clean)) {
				free(clean);
				return bad(c, at, "has attachment data that is not base64", NULL);
			}
			data = clean;
		}
		int rr = attachment(c, at, scos, data);
		free(clean);
		return rr;
	}
	return bad(c, at, "has a type this mapper lists as observable but cannot build", NULL);
}

static int attachment(struct sl_map_ctx *c, struct attr *at, json_t *scos, const char *data)
{
	struct sl_pattern *p = c->pat;
	const char *t = at->type, *v = at->value, *u = at->uuid;
	char id[SL_STIX_ID_MAX];
	json_t *o, *o2;
	{
		int ms = t[0] == 'm';
		const char *name = v, *md5 = NULL;
		size_t nlen = strlen(v);
		if (ms) {
			if (split2(v, &nlen, &md5))
				md5 = NULL, nlen = strlen(v);
			if (md5 && hash_problem("md5", md5))
				return bad(c, at, "does not end with a valid MD5 digest", NULL);
		}
		ref_id(id, "artifact", u);
		o = sco("file", u);
		if (md5)
			json_object_set_new(o, "hashes", json_pack("{s:s}", "MD5", md5));
		set_strn(o, "name", name, nlen);
		if (data)
			set_str(o, "content_ref", id);
		json_array_append_new(scos, o);
		if (data) {
			o2 = sco("artifact", u);
			if (ms) {
				set_str(o2, "mime_type", "application/zip");
				set_str(o2, "payload_bin", data);
				set_str(o2, "encryption_algorithm", "mime-type-indicated");
				set_str(o2, "decryption_key", "infected");
			} else {
				set_str(o2, "payload_bin", data);
			}
			json_array_append_new(scos, o2);
		}

		if (ms) {
			if (data &&
			    sl_pattern_add(p, "file:content_ref.payload_bin", data, strlen(data)))
				return SL_ENOMEM;
			if (sl_pattern_add(p, "file:name", name, nlen))
				return SL_ENOMEM;
			if (md5 && sl_pattern_add(p, "file:hashes.MD5", md5, strlen(md5)))
				return SL_ENOMEM;
			if (data &&
			    (sl_pattern_add(p, "file:content_ref.mime_type", "application/zip",
			                    15) ||
			     sl_pattern_add(p, "file:content_ref.encryption_algorithm",
			                    "mime-type-indicated", 19) ||
			     sl_pattern_add(p, "file:content_ref.decryption_key", "infected", 8)))
				return SL_ENOMEM;
			return 0;
		}
		if (sl_pattern_add(p, "file:name", name, nlen))
			return SL_ENOMEM;
		if (data && sl_pattern_add(p, "file:content_ref.payload_bin", data, strlen(data)))
			return SL_ENOMEM;
		return 0;
	}
}

/* Indicator-only types: the pattern alone. */
static int indicator_pattern(struct sl_map_ctx *c, struct attr *at)
{
	const char *t = at->type, *v = at->value;
	long port;

	if (!strcmp(t, "http-method"))
		return sl_pattern_add(
		    c->pat, "network-traffic:extensions.'http-request-ext'.request_method", v,
		    strlen(v));
	if (!strcmp(t, "user-agent"))
		return sl_pattern_add(
		    c->pat,
		    "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'", v,
		    strlen(v));
	if (!strcmp(t, "port")) {
		if (!port_ok(v, &port))
			return bad(c, at, "is not a port number of 0-65535", NULL);
		return sl_pattern_add(c->pat, "network-traffic:dst_port", v, strlen(v));
	}
	if (!strcmp(t, "size-in-bytes")) {
		for (const char *s = v; *s; s++)
			if (!isdigit((unsigned char)*s))
				return bad(c, at, "is not a whole number of bytes", NULL);
		if (!*v)
			return bad(c, at, "is empty", NULL);
		return sl_pattern_add(c->pat, "file:size", v, strlen(v));
	}
	return bad(c, at, "has no indicator form", NULL);
}

static void common_labels(json_t *o, const struct attr *at)
{
	char buf[256];

	sl_map_cat(buf, sizeof(buf), "misp:type=\"", at->type, "\"");
	sl_map_push_str(o, "labels", buf);
	sl_map_cat(buf, sizeof(buf), "misp:category=\"", at->category ? at->category : "", "\"");
	sl_map_push_str(o, "labels", buf);
}

static json_t *make_indicator(struct sl_map_ctx *c, const struct attr *at, const char *pattern,
                              const char *ptype)
{
	char vf[SL_TS_MAX];
	json_t *ind = sl_map_sdo(c, "indicator", at->uuid, at->ts);

	sl_map_ts(c, json_object_get(at->a, "timestamp"), 0, vf);
	if (at->comment && *at->comment)
		set_str(ind, "description", at->comment);
	set_str(ind, "pattern", pattern);
	set_str(ind, "pattern_type", ptype);
	set_str(ind, "pattern_version", "2.1");
	set_str(ind, "valid_from", vf);
	json_object_set_new(ind, "kill_chain_phases",
	                    json_pack("[{s:s, s:s}]", "kill_chain_name", "misp-category",
	                              "phase_name", at->category ? at->category : ""));
	common_labels(ind, at);
	/* misp-stix keeps the attribute's galaxy cluster tags as indicator labels */
	json_t *gt = c->galaxy_tags;
	c->galaxy_tags = NULL;
	sl_map_tags(c, ind, json_object_get(at->a, "Tag"));
	c->galaxy_tags = gt;
	return ind;
}

static json_t *make_custom(struct sl_map_ctx *c, const struct attr *at)
{
	json_t *o = sl_map_sdo(c, "x-misp-attribute", at->uuid, at->ts);

	common_labels(o, at);
	sl_map_tags(c, o, json_object_get(at->a, "Tag"));
	set_str(o, "x_misp_category", at->category ? at->category : "");
	if (at->comment && *at->comment)
		set_str(o, "x_misp_comment", at->comment);
	set_str(o, "x_misp_type", at->type);
	set_str(o, "x_misp_value", at->value);
	return o;
}

/* The pattern built so far, checked: misp-stix never emits an invalid pattern, nor do we. */
static const char *checked_pattern(struct sl_map_ctx *c, struct attr *at)
{
	const char *pat = sl_pattern_str(c->pat);
	struct sl_err e;

	if (!pat)
		return NULL;
	if (sl_pattern_validate(pat, &e) != 0) {
		sl_map_warn(c, SL_EINVAL, at->where, "built pattern is invalid (%s); no indicator",
		            e.msg);
		return NULL;
	}
	return pat;
}

static int map_attribute_checked(struct sl_map_ctx *c, struct attr *atp, const json_t *a);

static int map_attribute(struct sl_map_ctx *c, const json_t *a, size_t idx)
{
	struct attr at;

	memset(&at, 0, sizeof(at));
	at.a = a;
	if (!json_is_object(a)) {
		char w[64];
		snprintf(w, sizeof(w), "Attribute[%zu]", idx);
		sl_map_warn(c, SL_EINVAL, w, "attribute is not a JSON object; skipped");
		return 0;
	}
	at.uuid = sl_map_str(a, "uuid");
	at.type = sl_map_str(a, "type");
	at.value = sl_map_str(a, "value");
	at.category = sl_map_str(a, "category");
	at.comment = sl_map_str(a, "comment");
	if (!at.uuid || !sl_stix_id_uuid_valid(at.uuid)) {
		char q[48];
		snprintf(at.where, sizeof(at.where), "Attribute[%zu]", idx);
		sl_err_quote(q, sizeof(q), at.uuid ? at.uuid : "(missing)", 40);
		sl_map_warn(c, SL_EINVAL, at.where, "attribute uuid \"%s\" is not a uuid; skipped",
		            q);
		return 0;
	}
	snprintf(at.where, sizeof(at.where), "attribute %s", at.uuid);
	if (!at.type || !at.value) {
		sl_map_warn(c, SL_EINVAL, at.where,
		            "attribute has no string \"type\" and \"value\"; skipped");
		return 0;
	}
	char unq[32];
	size_t vl = strlen(at.value);
	if (!strcmp(at.type, "mac-address") && vl >= 2 && vl < sizeof(unq) &&
	    (at.value[0] == '\'' || at.value[0] == '"') && at.value[vl - 1] == at.value[0]) {
		/* MISP's MAC address normalisation drops enclosing quotes */
		memcpy(unq, at.value + 1, vl - 2);
		unq[vl - 2] = '\0';
		at.value = unq;
	}
	{
		const char *why = sl_misp_value_problem(at.type, at.value);
		if (why) {
			char q[80];
			sl_err_quote(q, sizeof(q), at.value, 60);
			sl_map_warn(c, SL_EINVAL, at.where,
			            "%s attribute value \"%s\" %s; attribute skipped", at.type, q,
			            why);
			return 0;
		}
	}
	char *norm = sl_misp_normalise(at.type, at.value);
	if (norm)
		at.value = norm;
	int rr = map_attribute_checked(c, &at, a);
	free(norm);
	return rr;
}

static int map_attribute_checked(struct sl_map_ctx *c, struct attr *atp, const json_t *a)
{
	struct attr at = *atp;
	json_t *scos = NULL;
	int r = 0;

	at.mt = sl_mtype_get(at.type);
	at.to_ids = sl_map_bool(a, "to_ids", at.mt ? at.mt->to_ids_default : 0);
	sl_map_ts(c, json_object_get(a, "timestamp"), 1, at.ts);
	sl_map_galaxy_tags(c, json_object_get(a, "Galaxy"));
	sl_pattern_reset(c->pat);

	enum sl_mtype_kind kind = at.mt ? at.mt->kind : SL_MT_UNMAPPED;
	char src_id[SL_STIX_ID_MAX] = "";
	switch (kind) {
	case SL_MT_UNMAPPED:
		sl_map_warn(c, SL_EUNSUPPORTED, at.where, "MISP Attribute type %s not mapped.",
		            at.type);
		r = sl_map_add(c, make_custom(c, &at));
		ref_id(src_id, "x-misp-attribute", at.uuid);
		break;
	case SL_MT_INDICATOR:
		if (!at.to_ids) {
			r = sl_map_add(c, make_custom(c, &at));
			ref_id(src_id, "x-misp-attribute", at.uuid);
			break;
		}
		if (indicator_pattern(c, &at) != 0)
			return 0;
		{
			const char *pat = checked_pattern(c, &at);
			if (!pat)
				return 0;
			r = sl_map_add(c, make_indicator(c, &at, pat, "stix"));
			ref_id(src_id, "indicator", at.uuid);
		}
		break;
	case SL_MT_RULE: {
		/* misp-stix wraps the rule text in brackets; it is not a STIX pattern */
		size_t n = strlen(at.value);
		char *pat = malloc(n + 3);
		if (!pat)
			return SL_ENOMEM;
		pat[0] = '[';
		memcpy(pat + 1, at.value, n);
		pat[n + 1] = ']';
		pat[n + 2] = '\0';
		r = sl_map_add(c, make_indicator(c, &at, pat, at.type));
		free(pat);
		ref_id(src_id, "indicator", at.uuid);
		break;
	}
	case SL_MT_VULN: {
		json_t *o = sl_map_sdo(c, "vulnerability", at.uuid, at.ts);
		set_str(o, "name", at.value);
		common_labels(o, &at);
		sl_map_tags(c, o, json_object_get(a, "Tag"));
		json_object_set_new(
		    o, "external_references",
		    json_pack("[{s:s, s:s}]", "source_name", "cve", "external_id", at.value));
		r = sl_map_add(c, o);
		ref_id(src_id, "vulnerability", at.uuid);
		break;
	}
	case SL_MT_CAMPAIGN: {
		json_t *o = sl_map_sdo(c, "campaign", at.uuid, at.ts);
		set_str(o, "name", at.value);
		common_labels(o, &at);
		sl_map_tags(c, o, json_object_get(a, "Tag"));
		r = sl_map_add(c, o);
		ref_id(src_id, "campaign", at.uuid);
		break;
	}
	case SL_MT_OBSERVABLE: {
		scos = json_array();
		if (!scos)
			return SL_ENOMEM;
		r = observable(c, &at, scos);
		if (r != 0) {
			json_decref(scos);
			return r == SL_ENOMEM ? r : 0;
		}
		const char *pat = at.to_ids ? checked_pattern(c, &at) : NULL;
		json_t *od = sl_map_sdo(c, "observed-data", at.uuid, at.ts);
		char fo[SL_TS_MAX], lo[SL_TS_MAX], vf[SL_TS_MAX];
		sl_map_ts(c, json_object_get(a, "timestamp"), 0, vf);
		if (sl_map_iso_ts(sl_map_str(a, "first_seen"), fo) != 0)
			snprintf(fo, sizeof(fo), "%s", vf);
		if (sl_map_iso_ts(sl_map_str(a, "last_seen"), lo) != 0)
			snprintf(lo, sizeof(lo), "%s", vf);
		set_str(od, "first_observed", fo);
		set_str(od, "last_observed", lo);
		json_object_set_new(od, "number_observed", json_integer(1));
		json_t *refs = json_array();
		size_t i;
		json_t *s;
		json_array_foreach(scos, i, s) json_array_append(refs, json_object_get(s, "id"));
		json_object_set_new(od, "object_refs", refs);
		common_labels(od, &at);
		sl_map_tags(c, od, json_object_get(a, "Tag"));
		char od_id[SL_STIX_ID_MAX];
		ref_id(od_id, "observed-data", at.uuid);
		r = sl_map_add(c, od);
		json_array_foreach(scos, i, s) sl_map_add(c, json_incref(s));
		json_decref(scos);
		if (pat) {
			char ind_id[SL_STIX_ID_MAX];
			sl_map_add(c, make_indicator(c, &at, pat, "stix"));
			ref_id(ind_id, "indicator", at.uuid);
			sl_map_rel(c, ind_id, "based-on", od_id, at.ts);
		}
		snprintf(src_id, sizeof(src_id), "%s", od_id);
		break;
	}
	}
	if (r < 0)
		return r;
	sl_map_galaxies(c, json_object_get(a, "Galaxy"), src_id, at.ts, 0);
	if (c->galaxy_tags) {
		json_decref(c->galaxy_tags);
		c->galaxy_tags = NULL;
	}
	return 0;
}

/* ---- sightings ------------------------------------------------------------------------------ */

void sl_map_org_identity(struct sl_map_ctx *c, const json_t *org, char out[SL_STIX_ID_MAX])
{
	const char *u = sl_map_str(org, "uuid"), *name = sl_map_str(org, "name");

	out[0] = '\0';
	if (!u || !sl_stix_id_uuid_valid(u))
		return;
	ref_id(out, "identity", u);
	if (sl_map_ids_has(c->seen, out))
		return;
	/* misp-stix stamps other orgs' identities with the conversion time */
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "identity", "spec_version",
	              "2.1", "id", out, "created", c->now_ts, "modified", c->now_ts, "name",
	              name ? name : "", "identity_class", "organization");
	sl_map_add(c, o);
}

void sl_map_sightings(struct sl_map_ctx *c, const json_t *a)
{
	const json_t *sl = json_object_get(a, "Sighting");
	const char *au = sl_map_str(a, "uuid");
	char ind[SL_STIX_ID_MAX], od[SL_STIX_ID_MAX];
	size_t i;
	const json_t *s;

	if (!json_is_array(sl) || !au)
		return;
	ref_id(ind, "indicator", au);
	ref_id(od, "observed-data", au);
	int has_ind = sl_map_ids_has(c->seen, ind);
	int has_od = sl_map_ids_has(c->seen, od);
	if (!has_ind && !has_od)
		return;
	json_array_foreach(sl, i, s)
	{
		const char *su = sl_map_str(s, "uuid");
		const char *ty = sl_map_str(s, "type");
		char ts[SL_TS_MAX], id[SL_STIX_ID_MAX], who[SL_STIX_ID_MAX];
		int type = ty ? atoi(ty) : (int)json_integer_value(json_object_get(s, "type"));
		if (!su || !sl_stix_id_uuid_valid(su)) {
			char w[160];
			snprintf(w, sizeof(w), "attribute %s/Sighting[%zu]", au, i);
			sl_map_warn(c, SL_EINVAL, w, "sighting has no valid uuid; skipped");
			continue;
		}
		sl_map_ts(c, json_object_get(s, "date_sighting"), 1, ts);
		const json_t *org = json_object_get(s, "Organisation");
		const char *ou = sl_map_str(org, "uuid");
		const char *oname = sl_map_str(org, "name");
		if (ou && strcmp(ou, c->identity_id + 10) == 0)
			snprintf(who, sizeof(who), "%s", c->identity_id);
		else
			sl_map_org_identity(c, org, who);
		json_t *o;
		if (type == 0) {
			ref_id(id, "sighting", su);
			o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "sighting",
			              "spec_version", "2.1", "id", id, "created", ts, "modified",
			              ts);
			const char *src = sl_map_str(s, "source");
			if (src && *src)
				set_str(o, "description", src);
			set_str(o, "sighting_of_ref", has_ind ? ind : od);
			if (has_ind && has_od)
				json_object_set_new(o, "observed_data_refs", json_pack("[s]", od));
			if (who[0])
				json_object_set_new(o, "where_sighted_refs", json_pack("[s]", who));
		} else if (type == 1) {
			ref_id(id, "opinion", su);
			o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "opinion",
			              "spec_version", "2.1", "id", id, "created", ts, "modified",
			              ts, "explanation", "False positive Sighting", "opinion",
			              "strongly-disagree");
			if (oname)
				json_object_set_new(o, "authors", json_pack("[s]", oname));
			json_t *refs = json_array();
			if (has_od)
				json_array_append_new(refs, json_string(od));
			if (has_ind)
				json_array_append_new(refs, json_string(ind));
			json_object_set_new(o, "object_refs", refs);
			if (who[0])
				set_str(o, "x_misp_author_ref", who);
		} else {
			continue;
		}
		if (sl_map_ids_has(c->seen, id)) {
			json_decref(o);
			continue;
		}
		sl_map_ids_add(c->seen, id);
		json_array_append_new(c->rel_refs, json_string(id));
		sl_map_emit(c, c->rels, o);
	}
}

/* ---- event reports -------------------------------------------------------------------------- */

void sl_map_event_reports(struct sl_map_ctx *c, const json_t *reports)
{
	size_t i;
	const json_t *r;

	json_array_foreach(reports, i, r)
	{
		const char *u = sl_map_str(r, "uuid");
		const char *content = sl_map_str(r, "content");
		char ts[SL_TS_MAX];
		if (!u || !sl_stix_id_uuid_valid(u)) {
			char w[48];
			snprintf(w, sizeof(w), "EventReport[%zu]", i);
			sl_map_warn(c, SL_EINVAL, w, "event report has no valid uuid; skipped");
			continue;
		}
		sl_map_ts(c, json_object_get(r, "timestamp"), 1, ts);
		json_t *n = sl_map_sdo(c, "note", u, ts);
		sl_map_push_str(n, "labels", "misp:data-layer=\"Event Report\"");
		const char *name = sl_map_str(r, "name");
		if (name)
			set_str(n, "abstract", name);
		set_str(n, "content", content ? content : "");
		/* object_refs: STIX objects cited as @[attribute](uuid) / @[object](uuid) */
		json_t *refs = json_array();
		for (const char *p = content; p && (p = strstr(p, "@[")) != NULL; p++) {
			const char *close = strstr(p, "](");
			if (!close || close - p > 12)
				continue;
			char uu[SL_UUID_STRLEN + 1];
			if (strlen(close + 2) < SL_UUID_STRLEN + 1)
				continue;
			memcpy(uu, close + 2, SL_UUID_STRLEN);
			uu[SL_UUID_STRLEN] = '\0';
			if (!sl_stix_id_uuid_valid(uu) || close[2 + SL_UUID_STRLEN] != ')')
				continue;
			static const char *types[] = {
			    "indicator",      "observed-data",    "vulnerability",
			    "campaign",       "x-misp-attribute", "x-misp-object",
			    "attack-pattern", "course-of-action", "identity",
			    "location",       "malware",          "tool",
			    "intrusion-set",  "threat-actor",     "note"};
			for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
				char id[SL_STIX_ID_MAX];
				ref_id(id, types[k], uu);
				if (sl_map_ids_has(c->seen, id))
					json_array_append_new(refs, json_string(id));
			}
		}
		if (json_array_size(refs) == 0) {
			char cid[SL_STIX_ID_MAX];
			(void)cid;
			json_array_append_new(refs, json_string(c->container_id));
		}
		json_object_set_new(n, "object_refs", refs);
		sl_map_add(c, n);
	}
}

/* ---- the event ------------------------------------------------------------------------------ */

const json_t *sl_map_inner_event(const json_t *ev)
{
	const json_t *in = json_object_get(ev, "Event");

	return json_is_object(in) ? in : ev;
}

int sl_map_check_list(struct sl_map_ctx *c, const json_t *ev, const char *key)
{
	const json_t *v = json_object_get(ev, key);

	if (v && !json_is_array(v) && !json_is_null(v)) {
		sl_map_warn(c, SL_EINVAL, key, "\"%s\" is a %s, not a list; ignored", key,
		            json_is_object(v)   ? "object"
		            : json_is_string(v) ? "string"
		                                : "scalar");
		return 0;
	}
	return json_is_array(v);
}

static json_t *convert(const json_t *event, const struct sl_map_attr_src *src,
                       const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                       struct sl_err *err);

json_t *sl_misp_to_stix(const json_t *event, const struct sl_map_opts *opts, json_t *warnings,
                        struct sl_err *err)
{
	return convert(event, NULL, opts, warnings, NULL, err);
}

int sl_misp_to_stix_write_src(const json_t *event, const struct sl_map_attr_src *src,
                              const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                              struct sl_err *err)
{
	json_t *r;

	if (!out)
		return sl_err_set(err, SL_EINVAL, "output", "no output stream");
	r = convert(event, src, opts, warnings, out, err);
	if (!r)
		return err && err->code ? err->code : SL_EINVAL;
	json_decref(r);
	if (ferror(out))
		return sl_err_set(err, SL_EIO, "output", "writing the bundle failed");
	return 0;
}

int sl_misp_to_stix_write(const json_t *event, const struct sl_map_opts *opts, json_t *warnings,
                          FILE *out, struct sl_err *err)
{
	json_t *r;

	if (!out)
		return sl_err_set(err, SL_EINVAL, "output", "no output stream");
	r = convert(event, NULL, opts, warnings, out, err);
	if (!r)
		return err && err->code ? err->code : SL_EINVAL;
	json_decref(r);
	if (ferror(out))
		return sl_err_set(err, SL_EIO, "output", "writing the bundle failed");
	return 0;
}

/* The start every conversion shares (the tree path here, the text path in fast_misp2stix.c): c set
 * up for event ev (uuid eu), the bundle's head written when out is set, the creator identity
 * (*ident, a new reference the caller adds), the container's id and, when the event is published,
 * its published time in pub (else ""). *no_org is set to 1 when the event names no creator. */
int sl_map_begin(struct sl_map_ctx *c, const json_t *ev, const char *eu,
                 const struct sl_map_opts *opts, json_t *warnings, FILE *out, json_t **ident,
                 char cont_id[SL_STIX_ID_MAX], char pub[SL_TS_MAX], int *no_org, struct sl_err *err)
{
	static const struct sl_map_opts defaults = {0};
	const char *ts;

	memset(c, 0, sizeof(*c));
	c->opts = opts ? opts : &defaults;
	c->event = ev;
	c->warnings = json_is_array(warnings) ? warnings : NULL;
	snprintf(c->event_uuid, sizeof(c->event_uuid), "%s", eu);
	{
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(c->now_ts, sizeof(c->now_ts), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	}
	c->objects = json_array();
	c->rels = json_array();
	c->refs = json_array();
	c->rel_refs = json_array();
	c->seen = sl_map_ids_new();
	c->markings = json_array();
	c->pat = sl_pattern_new();
	if (!c->objects || !c->rels || !c->refs || !c->rel_refs || !c->seen || !c->markings ||
	    !c->pat) {
		return sl_err_set(err, SL_ENOMEM, eu, "out of memory");
	}
	if (out) {
		char head[128];
		int hl = snprintf(head, sizeof(head),
		                  "{\"type\":\"bundle\",\"id\":\"bundle--%s\",\"objects\":[", eu);
		c->out = out;
		c->emit = sl_stix_emit_new(0);
		if (c->emit)
			sl_stix_emit_set_sink(c->emit, out, SL_MAP_EMIT_BLOCK);
		if (!c->emit || sl_stix_emit_raw(c->emit, head, (size_t)hl, err) != 0) {
			return sl_err_set(err, SL_ENOMEM, eu, "out of memory");
		}
	}

	/* creator identity */
	const json_t *orgc = json_object_get(ev, "Orgc");
	if (!json_is_object(orgc))
		orgc = json_object_get(ev, "Org");
	const char *ou = sl_map_str(orgc, "uuid");
	const char *oname = sl_map_str(orgc, "name");
	sl_map_ts(c, json_object_get(ev, "timestamp"), 1, c->event_ts);
	ts = c->event_ts;
	if (!ou || !sl_stix_id_uuid_valid(ou)) {
		sl_map_warn(c, SL_EINVAL, "Orgc",
		            "event has no creator organisation uuid; "
		            "objects are attributed to a default identity");
		*no_org = 1;
		/* misp-stix's default identity when the creator is unknown */
		snprintf(c->identity_id, sizeof(c->identity_id),
		         "identity--55f6ea65-aa10-4c5a-bf01-4f84950d210f");
	} else {
		snprintf(c->identity_id, sizeof(c->identity_id), "identity--%s", ou);
	}
	*ident = sl_map_strobj((const char *const[]){"type", "identity", "spec_version", "2.1",
	                                             "id", c->identity_id, "created", ts,
	                                             "modified", ts, "name", oname ? oname : "MISP",
	                                             "identity_class", "organization", NULL});
	sl_map_ids_add(c->seen, c->identity_id);

	int published = sl_map_bool(ev, "published", 0);
	const json_t *pts = json_object_get(ev, "publish_timestamp");
	if (published && (sl_map_ts(c, pts, 0, pub) != 0 || !strcmp(pub, "1970-01-01T00:00:00Z")))
		published = 0;
	if (!published)
		pub[0] = '\0';
	const char *kind = published ? "report" : "grouping";
	ref_id(cont_id, kind, eu);
	snprintf(c->container_id, sizeof(c->container_id), "%s", cont_id);
	sl_map_ids_add(c->seen, cont_id);
	return 0;
}

static json_t *convert(const json_t *event, const struct sl_map_attr_src *src,
                       const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                       struct sl_err *err)
{
	struct sl_map_ctx c;
	const json_t *ev;
	json_t *bundle = NULL, *container = NULL, *all = NULL, *pending = NULL;
	char cont_id[SL_STIX_ID_MAX], ts[SL_TS_MAX];
	size_t i;
	const json_t *a;

	sl_err_clear(err);
	if (!json_is_object(event))
		return sl_err_set(err, SL_EINVAL, "event", "a MISP event must be a JSON object"),
		       NULL;
	ev = sl_map_inner_event(event);
	const char *eu = sl_map_str(ev, "uuid");
	if (!eu || !sl_stix_id_uuid_valid(eu)) {
		char q[48];
		sl_err_quote(q, sizeof(q), eu ? eu : "(missing)", 40);
		sl_err_set(err, SL_EINVAL, "Event.uuid", "event uuid \"%s\" is not a uuid", q);
		return NULL;
	}
	if (!sl_json_depth_ok(ev, SL_JSON_DEFAULT_MAX_DEPTH)) {
		sl_err_set(err, SL_ELIMIT, eu, "event %s nests deeper than %d levels", eu,
		           SL_JSON_DEFAULT_MAX_DEPTH);
		return NULL;
	}

	int no_org = 0;
	json_t *ident = NULL;
	char pub[SL_TS_MAX];
	if (sl_map_begin(&c, ev, eu, opts, warnings, out, &ident, cont_id, pub, &no_org, err) != 0)
		goto out;
	snprintf(ts, sizeof(ts), "%s", c.event_ts);
	const char *kind = pub[0] ? "report" : "grouping"; /* as sl_map_begin named it */

	/* event-level galaxies first: their tag names are not labels */
	sl_map_galaxy_tags(&c, json_object_get(ev, "Galaxy"));
	json_t *ev_gtags = c.galaxy_tags;
	c.galaxy_tags = NULL;

	if (src) {
		/* attributes one at a time from the caller; those with sightings are kept (uuid and
		 * Sighting only) for the sightings pass, which needs the whole bundle's ids */
		json_t *at;
		struct sl_err se;
		pending = json_array();
		sl_err_clear(&se);
		for (i = 0; pending && (at = src->next(src->arg, &se)) != NULL; i++) {
			int r = map_attribute(&c, at, i);
			const json_t *sg = json_object_get(at, "Sighting");
			if (r != SL_ENOMEM && json_is_array(sg)) {
				json_t *keep = json_object();
				const json_t *u = json_object_get(at, "uuid");
				if (!keep ||
				    (u && json_object_set(keep, "uuid", (json_t *)u) != 0) ||
				    json_object_set(keep, "Sighting", (json_t *)sg) != 0 ||
				    json_array_append_new(pending, keep) != 0)
					r = SL_ENOMEM;
			}
			json_decref(at);
			if (r == SL_ENOMEM)
				se.code = SL_ENOMEM;
			if (se.code)
				break;
		}
		if (!pending || se.code) {
			if (!pending || se.code == SL_ENOMEM)
				sl_err_set(err, SL_ENOMEM, eu, "out of memory");
			else if (err)
				*err = se;
			json_decref(ident);
			json_decref(ev_gtags);
			goto out;
		}
	} else if (sl_map_check_list(&c, ev, "Attribute")) {
		json_array_foreach(json_object_get(ev, "Attribute"), i, a)
		{
			int r = map_attribute(&c, a, i);
			if (r == SL_ENOMEM) {
				sl_err_set(err, r, eu, "out of memory");
				json_decref(ident);
				json_decref(ev_gtags);
				goto out;
			}
		}
	}
	if (sl_map_check_list(&c, ev, "Object"))
		sl_map_objects(&c, json_object_get(ev, "Object"));
	sl_map_galaxies(&c, json_object_get(ev, "Galaxy"), NULL, c.event_ts, 1);
	if (src)
		json_array_foreach(pending, i, a) sl_map_sightings(&c, a);
	else if (sl_map_check_list(&c, ev, "Attribute"))
		json_array_foreach(json_object_get(ev, "Attribute"), i, a) sl_map_sightings(&c, a);
	if (sl_map_check_list(&c, ev, "Object")) {
		const json_t *o;
		size_t k;
		json_array_foreach(json_object_get(ev, "Object"), k, o)
		{
			const json_t *oa = json_object_get(o, "Attribute");
			if (json_is_array(oa))
				json_array_foreach(oa, i, a) sl_map_sightings(&c, a);
		}
	}
	if (sl_map_check_list(&c, ev, "EventReport")) {
		sl_map_event_reports(&c, json_object_get(ev, "EventReport"));
	}

	container = sl_map_strobj((const char *const[]){
	    "type", kind, "spec_version", "2.1", "id", cont_id, "created_by_ref", c.identity_id,
	    "created", ts, "modified", ts, "name",
	    sl_map_str(ev, "info") ? sl_map_str(ev, "info") : "", NULL});
	if (pub[0])
		set_str(container, "published", pub);
	else
		set_str(container, "context", "suspicious-activity");
	if (json_array_size(c.refs) == 0 && json_array_size(c.rel_refs) == 0) {
		char nid[SL_STIX_ID_MAX];
		ref_id(nid, "note", eu);
		json_t *n = sl_map_sdo(&c, "note", eu, ts);
		set_str(
		    n, "content",
		    "This MISP Event is empty and contains no attribute, object, galaxy or tag.");
		json_object_set_new(n, "object_refs", json_pack("[s]", cont_id));
		sl_map_add(&c, n);
	}
	json_array_extend(c.refs, c.rel_refs);
	json_object_set(container, "object_refs", c.refs);
	sl_map_push_str(container, "labels", "Threat-Report");
	sl_map_push_str(container, "labels", "misp:tool=\"MISP-STIX-Converter\"");
	c.galaxy_tags = ev_gtags;
	sl_map_tags(&c, container, json_object_get(ev, "Tag"));
	json_decref(c.galaxy_tags);
	c.galaxy_tags = NULL;

	if (c.strict_error) {
		*err = c.strict_err;
		json_decref(ident);
		goto out;
	}
	if (out) {
		/* streaming: everything else is written; the identity, the container (whose refs
		 * are only complete now) and the markings close the bundle */
		size_t k;
		json_t *m;
		sl_map_emit(&c, NULL, ident);
		sl_map_emit(&c, NULL, json_incref(container));
		json_array_foreach(c.markings, k, m) sl_map_emit(&c, NULL, json_incref(m));
		if (!c.emit_error && (sl_stix_emit_raw(c.emit, "]}", 2, &c.emit_err) != 0 ||
		                      sl_stix_emit_flush(c.emit, out, &c.emit_err) != 0))
			c.emit_error = 1;
		if (c.emit_error) {
			if (err) {
				*err = c.emit_err;
				sl_err_prefix_where(err, eu);
			}
			goto out;
		}
		bundle = json_true();
		goto out;
	}
	all = json_array();
	json_array_append_new(all, ident);
	json_array_append(all, container);
	json_array_extend(all, c.objects);
	json_array_extend(all, c.rels);
	json_array_extend(all, c.markings);
	char bid[SL_STIX_ID_MAX];
	ref_id(bid, "bundle", eu);
	bundle = json_pack("{s:s, s:s, s:o}", "type", "bundle", "id", bid, "objects", all);
	if (!bundle)
		sl_err_set(err, SL_ENOMEM, eu, "out of memory");
out:
	json_decref(container);
	json_decref(c.objects);
	json_decref(c.rels);
	json_decref(c.refs);
	json_decref(c.rel_refs);
	sl_map_ids_free(c.seen);
	json_decref(c.markings);
	json_decref(c.galaxy_tags);
	sl_pattern_free(c.pat);
	sl_stix_emit_free(c.emit);
	json_decref(pending);
	return bundle;
}
