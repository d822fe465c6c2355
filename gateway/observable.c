/* observable.c — canonical SCO values and their extraction from SCOs and simple STIX patterns. */
#include "observable.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(struct sl_err *err, const char *type, const char *value, const char *why)
{
	char q[80];

	return sl_err_set(err, SL_EINVAL, type, "%s '%s' %s", type,
	                  sl_err_quote(q, sizeof(q), value, 60), why);
}

static int put(char *out, size_t n, const char *s, size_t len, struct sl_err *err, const char *type)
{
	if (len + 1 > n)
		return sl_err_set(err, SL_ELIMIT, type,
		                  "%s value of %zu bytes is over the limit of %zu", type, len,
		                  n - 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int trimmed(const char *value, const char **start, size_t *len)
{
	const char *e;

	while (*value && isspace((unsigned char)*value))
		value++;
	e = value + strlen(value);
	while (e > value && isspace((unsigned char)e[-1]))
		e--;
	*start = value;
	*len = (size_t)(e - value);
	return *len > 0;
}

/* Dotted quad with optional leading zeros ("010.0.0.1" is 10.0.0.1, never octal). */
static bool parse_ipv4(const char *s, size_t len, unsigned char a[4])
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t digits = 0;

		while (i < len && isdigit((unsigned char)s[i]) && digits < 4) {
			v = v * 10 + (unsigned)(s[i++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return false;
		a[part] = (unsigned char)v;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

/* addr[/prefix] for one family; a full-length prefix is dropped ("1.2.3.4/32" is 1.2.3.4). */
static int canon_ip(const char *type, const char *value, char *out, size_t n, struct sl_err *err)
{
	const char *v, *slash;
	size_t len, alen;
	char buf[INET6_ADDRSTRLEN + 8], addr[64];
	unsigned char bin[16];
	bool v6 = strcmp(type, "ipv6-addr") == 0;
	int maxp = v6 ? 128 : 32, prefix = -1;

	if (!trimmed(value, &v, &len))
		return bad(err, type, value, "is empty");
	slash = memchr(v, '/', len);
	alen = slash ? (size_t)(slash - v) : len;
	if (alen >= sizeof(addr))
		return bad(err, type, value, "is not an address");
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	if (slash) {
		char *end;
		long p;
		size_t plen = len - alen - 1;
		char pbuf[8];

		if (plen == 0 || plen >= sizeof(pbuf))
			return bad(err, type, value, "has a bad prefix length");
		memcpy(pbuf, slash + 1, plen);
		pbuf[plen] = '\0';
		p = strtol(pbuf, &end, 10);
		if (*end || p < 0 || p > maxp || !isdigit((unsigned char)pbuf[0]))
			return bad(err, type, value, "has a bad prefix length");
		prefix = (int)p;
	}
	if (v6) {
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return bad(err, type, value, "is not an IPv6 address");
	} else if (!parse_ipv4(addr, alen, bin)) {
		return bad(err, type, value, "is not an IPv4 address");
	}
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bin, buf, sizeof(buf)))
		return bad(err, type, value, "is not an address");
	if (prefix >= 0 && prefix < maxp)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%d", prefix);
	return put(out, n, buf, strlen(buf), err, type);
}

static int canon_domain(const char *type, const char *value, char *out, size_t n,
                        struct sl_err *err)
{
	const char *v;
	size_t len, i;
	int rc;

	if (!trimmed(value, &v, &len))
		return bad(err, type, value, "is empty");
	if (len > 1 && v[len - 1] == '.')
		len--; /* the root label: "example.com." is example.com */
	for (i = 0; i < len; i++)
		if (isspace((unsigned char)v[i]) || v[i] == '/' || v[i] == '@')
			return bad(err, type, value, "is not a domain name");
	rc = put(out, n, v, len, err, type);
	if (rc == 0)
		lower(out);
	return rc;
}

static int canon_hex(const char *type, const char *value, char *out, size_t n, struct sl_err *err)
{
	const char *v;
	size_t len, i, want = 0;
	int rc;

	if (!trimmed(value, &v, &len))
		return bad(err, type, value, "is empty");
	if (strcmp(type, "file:md5") == 0)
		want = 32;
	else if (strcmp(type, "file:sha1") == 0)
		want = 40;
	else if (strcmp(type, "file:sha256") == 0 || strcmp(type, "file:sha3-256") == 0)
		want = 64;
	else if (strcmp(type, "file:sha512") == 0 || strcmp(type, "file:sha3-512") == 0)
		want = 128;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)v[i]))
			return bad(err, type, value, "is not hexadecimal");
	if (want && len != want)
		return bad(err, type, value, "has the wrong length for its algorithm");
	rc = put(out, n, v, len, err, type);
	if (rc == 0)
		lower(out);
	return rc;
}

/* scheme and host lower-cased, default port and empty path made explicit-free, %xx escapes in
 * upper case (RFC 3986 6.2.2); path, query and fragment otherwise untouched (case-sensitive). */
static int canon_url(const char *type, const char *value, char *out, size_t n, struct sl_err *err)
{
	const char *v, *p, *host, *hend, *rest, *end;
	size_t len, o = 0, i;
	char tmp[SL_OBSERVABLE_VALUE_MAX + 8];
	const char *port = NULL;
	size_t portlen = 0;

	if (!trimmed(value, &v, &len))
		return bad(err, type, value, "is empty");
	if (len >= SL_OBSERVABLE_VALUE_MAX)
		return sl_err_set(err, SL_ELIMIT, type, "url value of %zu bytes is over the limit",
		                  len);
	end = v + len;
	p = memchr(v, ':', len);
	if (!p || p == v || p + 3 > end || p[1] != '/' || p[2] != '/') {
		/* no authority: keep it as given, only trimmed */
		return put(out, n, v, len, err, type);
	}
	for (i = 0; v + i < p; i++)
		tmp[o++] = (char)tolower((unsigned char)v[i]);
	memcpy(tmp + o, "://", 3);
	o += 3;
	host = p + 3;
	hend = host;
	while (hend < end && *hend != '/' && *hend != '?' && *hend != '#')
		hend++;
	rest = hend;
	/* userinfo is kept as given; the host after it is lower-cased */
	{
		const char *at = NULL, *q;
		const char *h = host;

		for (q = host; q < hend; q++)
			if (*q == '@')
				at = q;
		if (at) {
			memcpy(tmp + o, host, (size_t)(at - host + 1));
			o += (size_t)(at - host + 1);
			h = at + 1;
		}
		/* port: the last ':' after any IPv6 literal */
		for (q = hend; q > h; q--)
			if (q[-1] == ':' || q[-1] == ']')
				break;
		if (q > h && q[-1] == ':') {
			port = q;
			portlen = (size_t)(hend - q);
			hend = q - 1;
		}
		for (q = h; q < hend; q++)
			tmp[o++] = (char)tolower((unsigned char)*q);
	}
	if (port) {
		size_t sl = (size_t)(p - v);
		bool deflt = (portlen == 0) ||
		             (sl == 4 && strncmp(tmp, "http", 4) == 0 && portlen == 2 &&
		              memcmp(port, "80", 2) == 0) ||
		             (sl == 5 && strncmp(tmp, "https", 5) == 0 && portlen == 3 &&
		              memcmp(port, "443", 3) == 0);
		if (!deflt) {
			tmp[o++] = ':';
			memcpy(tmp + o, port, portlen);
			o += portlen;
		}
	}
	if (rest == end || *rest != '/')
		tmp[o++] = '/';
	for (p = rest; p < end; p++) {
		if (*p == '%' && p + 2 < end && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			tmp[o++] = '%';
			tmp[o++] = (char)toupper((unsigned char)p[1]);
			tmp[o++] = (char)toupper((unsigned char)p[2]);
			p += 2;
		} else {
			tmp[o++] = *p;
		}
	}
	return put(out, n, tmp, o, err, type);
}

int sl_observable_canon(const char *type, const char *value, char *out, size_t n,
                        struct sl_err *err)
{
	const char *v;
	size_t len;
	int rc;

	if (!type || !value || n == 0)
		return sl_err_set(err, SL_EINVAL, "observable", "no type or value");
	if (strlen(value) >= SL_OBSERVABLE_VALUE_MAX)
		return sl_err_set(err, SL_ELIMIT, type,
		                  "%s value of %zu bytes is over the limit of %d", type,
		                  strlen(value), SL_OBSERVABLE_VALUE_MAX - 1);
	if (strcmp(type, "ipv4-addr") == 0 || strcmp(type, "ipv6-addr") == 0)
		return canon_ip(type, value, out, n, err);
	if (strcmp(type, "domain-name") == 0 || strcmp(type, "hostname") == 0)
		return canon_domain(type, value, out, n, err);
	if (strncmp(type, "file:", 5) == 0)
		return canon_hex(type, value, out, n, err);
	if (strcmp(type, "url") == 0)
		return canon_url(type, value, out, n, err);
	if (!trimmed(value, &v, &len))
		return bad(err, type, value, "is empty");
	rc = put(out, n, v, len, err, type);
	if (rc == 0 && (strcmp(type, "email-addr") == 0 || strcmp(type, "mac-addr") == 0)) {
		lower(out);
		if (strcmp(type, "email-addr") == 0 && !strchr(out, '@'))
			return bad(err, type, value, "has no '@'");
	}
	return rc;
}

const char *sl_observable_guess(const char *value)
{
	unsigned char bin[16];
	char buf[64];
	const char *v, *slash;
	size_t len, i;
	bool hex = true;

	if (!trimmed(value, &v, &len))
		return "domain-name";
	if (strstr(value, "://"))
		return "url";
	if (memchr(v, '@', len))
		return "email-addr";
	slash = memchr(v, '/', len);
	if ((slash ? (size_t)(slash - v) : len) < sizeof(buf)) {
		size_t alen = slash ? (size_t)(slash - v) : len;

		memcpy(buf, v, alen);
		buf[alen] = '\0';
		if (parse_ipv4(buf, alen, bin))
			return "ipv4-addr";
		if (strchr(buf, ':') && inet_pton(AF_INET6, buf, bin) == 1)
			return "ipv6-addr";
	}
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)v[i]))
			hex = false;
	if (hex) {
		switch (len) {
		case 32:
			return "file:md5";
		case 40:
			return "file:sha1";
		case 64:
			return "file:sha256";
		case 128:
			return "file:sha512";
		default:
			break;
		}
	}
	return "domain-name";
}

/* STIX hash algorithm names (and MISP-ish spellings) to our type suffix. */
static const char *hash_type(const char *alg)
{
	static const struct {
		const char *alg, *type;
	} map[] = {
	    {"MD5", "file:md5"},           {"SHA-1", "file:sha1"},
	    {"SHA1", "file:sha1"},         {"SHA-256", "file:sha256"},
	    {"SHA256", "file:sha256"},     {"SHA-512", "file:sha512"},
	    {"SHA512", "file:sha512"},     {"SHA3-256", "file:sha3-256"},
	    {"SHA3-512", "file:sha3-512"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(alg, map[i].alg) == 0)
			return map[i].type;
	return NULL;
}

static int emit_canon(const char *type, const char *value, sl_observable_emit emit, void *arg)
{
	char out[SL_OBSERVABLE_VALUE_MAX];

	if (!type || !value || sl_observable_canon(type, value, out, sizeof(out), NULL) != 0)
		return 0;
	return emit(arg, type, out);
}

/* The object path of one comparison ("ipv4-addr:value", "file:hashes.'SHA-256'") as a type. */
static const char *pattern_type(const char *obj, const char *path, char *buf, size_t n)
{
	static const char *const simple[] = {"ipv4-addr",  "ipv6-addr", "domain-name", "url",
	                                     "email-addr", "mac-addr",  "hostname"};
	size_t i;

	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcmp(obj, simple[i]) == 0)
			return strcmp(path, "value") == 0 ? simple[i] : NULL;
	if (strcmp(obj, "file") == 0 && strncmp(path, "hashes.", 7) == 0) {
		const char *alg = path + 7;
		size_t l = strlen(alg);
		const char *t;

		if (l >= 2 && alg[0] == '\'' && alg[l - 1] == '\'') {
			if (l - 2 >= n)
				return NULL;
			memcpy(buf, alg + 1, l - 2);
			buf[l - 2] = '\0';
			alg = buf;
		}
		t = hash_type(alg);
		return t;
	}
	return NULL;
}

/* Scan a STIX pattern for `obj:path = 'value'` comparisons. */
static int each_pattern(const char *pat, sl_observable_emit emit, void *arg)
{
	const char *p = pat;

	while (*p) {
		char obj[64], path[64], alg[32], val[SL_OBSERVABLE_VALUE_MAX];
		size_t on = 0, pn = 0, vn = 0;
		const char *q = p, *type;
		int rc;

		if (!(islower((unsigned char)*q) || isdigit((unsigned char)*q)) ||
		    (q > pat && (isalnum((unsigned char)q[-1]) || q[-1] == '-' || q[-1] == '_'))) {
			p++;
			continue;
		}
		while ((isalnum((unsigned char)*q) || *q == '-' || *q == '_') &&
		       on + 1 < sizeof(obj))
			obj[on++] = *q++;
		obj[on] = '\0';
		if (*q != ':') {
			p = q > p ? q : p + 1;
			continue;
		}
		q++;
		while (*q && *q != ' ' && *q != '=' && *q != '!' && *q != ']' &&
		       pn + 1 < sizeof(path)) {
			if (*q == '\'') { /* a quoted path step: copy through the closing quote */
				path[pn++] = *q++;
				while (*q && *q != '\'' && pn + 2 < sizeof(path))
					path[pn++] = *q++;
				if (*q != '\'')
					break;
			}
			path[pn++] = *q++;
		}
		path[pn] = '\0';
		while (*q == ' ' || *q == '\t' || *q == '\n')
			q++;
		if (*q != '=') {
			p = q > p ? q : p + 1;
			continue;
		}
		q++;
		while (*q == ' ' || *q == '\t' || *q == '\n')
			q++;
		if (*q != '\'') {
			p = q;
			continue;
		}
		q++;
		while (*q && *q != '\'' && vn + 1 < sizeof(val)) {
			if (*q == '\\' && (q[1] == '\'' || q[1] == '\\'))
				q++;
			val[vn++] = *q++;
		}
		if (*q != '\'') /* unterminated or too long: stop scanning */
			return 0;
		val[vn] = '\0';
		q++;
		type = pattern_type(obj, path, alg, sizeof(alg));
		if (type && (rc = emit_canon(type, val, emit, arg)) != 0)
			return rc;
		p = q;
	}
	return 0;
}

int sl_observable_each(const json_t *obj, sl_observable_emit emit, void *arg)
{
	const char *type = json_string_value(json_object_get(obj, "type"));
	static const char *const valued[] = {"ipv4-addr",  "ipv6-addr", "domain-name", "url",
	                                     "email-addr", "mac-addr",  "hostname"};
	size_t i;

	if (!type)
		return 0;
	for (i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (strcmp(type, valued[i]) == 0)
			return emit_canon(type, json_string_value(json_object_get(obj, "value")),
			                  emit, arg);
	if (strcmp(type, "file") == 0) {
		json_t *hashes = json_object_get(obj, "hashes");
		const char *alg;
		json_t *h;
		int rc;

		json_object_foreach(hashes, alg, h)
		{
			const char *t = hash_type(alg);

			if (t && (rc = emit_canon(t, json_string_value(h), emit, arg)) != 0)
				return rc;
		}
		return 0;
	}
	if (strcmp(type, "indicator") == 0) {
		const char *pt = json_string_value(json_object_get(obj, "pattern_type"));
		const char *pat = json_string_value(json_object_get(obj, "pattern"));

		if (pat && (!pt || strcmp(pt, "stix") == 0))
			return each_pattern(pat, emit, arg);
	}
	return 0;
}
