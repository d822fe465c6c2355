/* taxii_server.c — TAXII 2.1 endpoints over sl_http_server. Requests are checked in one order (auth
 * 401, Accept 406, collection 404/403, query 400, Content-Type 415, size 413) and every error is a
 * TAXII error object. Pages are keyset pages on (date_added, seq); `next` is a stateless HMAC'd
 * cursor bound to the caller, the endpoint and the filters, so it never expires and cannot be
 * replayed elsewhere. */
#include "taxii_server.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "json.h"

#define TAXII_MEDIA "application/taxii+json;version=2.1"
#define STIX_MEDIA "application/stix+json;version=2.1"
#define MAX_COLLECTIONS_LISTED 256
#define TOKEN_HEX 64
#define QUERY_MAX 8192

struct status {
	char id[40];
	char partner[SL_TAXII_NAME_MAX];
	time_t done;
	char *json;
};

struct sl_taxii_server {
	struct sl_http_server *http;
	const struct sl_taxii_store_ops *ops;
	void *store;
	char root[SL_HTTP_PARAM_MAX];
	char *title, *description, *contact;
	size_t max_content_length, max_page, max_statuses;
	unsigned status_ttl_s;
	unsigned char key[32];
	EVP_MAC_CTX *mac;        /* HMAC-SHA256 keyed once; duplicated per token */
	struct status *statuses; /* ring */
	size_t nstatus, status_head;
	size_t status_bytes, max_status_bytes, max_objects;
};

/* ---- timestamps ---- */

int sl_taxii_ts_parse(const char *s, int64_t *us)
{
	struct tm tm = {0};
	int64_t frac = 0;
	int digits = 0;
	const char *p = s;
	time_t t;

	if (!s)
		return SL_EINVAL;
	for (int i = 0; i < 19; i++) {
		static const char shape[] = "dddd-dd-ddTdd:dd:dd";

		if (shape[i] == 'd' ? !isdigit((unsigned char)p[i]) : p[i] != shape[i])
			return SL_EINVAL;
	}
	tm.tm_year = atoi(p) - 1900;
	tm.tm_mon = atoi(p + 5) - 1;
	tm.tm_mday = atoi(p + 8);
	tm.tm_hour = atoi(p + 11);
	tm.tm_min = atoi(p + 14);
	tm.tm_sec = atoi(p + 17);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return SL_EINVAL;
	p += 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return SL_EINVAL;
		for (; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 6)
				frac = frac * 10 + (*p - '0');
		for (int d = digits; d < 6; d++)
			frac *= 10;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return SL_EINVAL;
	{
		int mday = tm.tm_mday, mon = tm.tm_mon;

		t = timegm(&tm);
		/* timegm normalises 2021-02-31 to March 3rd; a date that moved did not exist. */
		if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon)
			return SL_EINVAL;
	}
	*us = (int64_t)t * 1000000 + frac;
	return 0;
}

char *sl_taxii_ts_format(int64_t us, char *out, size_t n)
{
	time_t t = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000;
		t--;
	}
	gmtime_r(&t, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	return out;
}

/* ---- replies ---- */

static void send_body(struct evhttp_request *req, int status, const char *reason,
                      struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", TAXII_MEDIA);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, status, reason, body);
}

static void send_json(struct evhttp_request *req, int status, const char *reason, json_t *v)
{
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(v, JSON_COMPACT);

	json_decref(v);
	if (b && s)
		evbuffer_add(b, s, strlen(s));
	free(s);
	send_body(req, status, reason, b);
	if (b)
		evbuffer_free(b);
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	default:
		return "Internal Server Error";
	}
}

/* A TAXII error message (section 3.6.1); description is formatted, and cut/cleaned by sl_err. */
static void send_error(struct evhttp_request *req, int status, const char *title, const char *fmt,
                       ...) SL_PRINTF(4, 5);
static void send_error(struct evhttp_request *req, int status, const char *title, const char *fmt,
                       ...)
{
	struct sl_err e;
	char code[8];
	char msg[SL_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_err_set(&e, SL_EINVAL, "", "%s", msg);
	snprintf(code, sizeof(code), "%d", status);
	send_json(req, status, reason_of(status),
	          json_pack("{s:s, s:s, s:s}", "title", title, "http_status", code, "description",
	                    e.msg));
}

static void fallback(struct evhttp_request *req, int status, void *arg)
{
	if (status == 405)
		send_error(req, 405, "MethodNotAllowed", "this endpoint does not take %s",
		           evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET"
		                                                             : "this method");
	else
		send_error(req, 404, "NotFound", "no TAXII endpoint at this path");
}

/* ---- request context: who, and may they ---- */

struct ctx {
	struct sl_taxii_server *srv;
	struct evhttp_request *req;
	char partner[SL_TAXII_NAME_MAX];
	struct sl_taxii_collection coll;
};

static void send_unauthorized(struct evhttp_request *req, const char *why)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "WWW-Authenticate", "Basic realm=\"sluice\", charset=\"UTF-8\"");
	evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"sluice\"");
	send_error(req, 401, "Unauthorized", "%s", why);
}

static bool authenticate(struct ctx *cx)
{
	const char *auth =
	    evhttp_find_header(evhttp_request_get_input_headers(cx->req), "Authorization");
	struct sl_taxii_credentials cred = {0};
	char subject[512];
	unsigned char decoded[768];
	struct sl_err err;

	if (sl_http_request_peer_subject(cx->req, subject, sizeof(subject)) == 0)
		cred.cert_subject = subject;
	if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
		const char *b64 = auth + 6;
		size_t len = strlen(b64);
		int n;
		char *colon;

		while (*b64 == ' ')
			b64++, len--;
		if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof(decoded)) {
			send_unauthorized(cx->req, "malformed Basic credentials");
			return false;
		}
		n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)len);
		if (n < 0) {
			send_unauthorized(cx->req, "malformed Basic credentials");
			return false;
		}
		/* EVP_DecodeBlock counts padding as zero bytes; at most two are padding. */
		n -= (b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
		if (n < 0) {
			send_unauthorized(cx->req, "malformed Basic credentials");
			return false;
		}
		decoded[n] = '\0';
		colon = memchr(decoded, ':', (size_t)n);
		if (!colon || strlen((char *)decoded) != (size_t)n) {
			send_unauthorized(cx->req, "malformed Basic credentials");
			return false;
		}
		*colon = '\0';
		cred.user = (const char *)decoded;
		cred.password = colon + 1;
	} else if (auth &&
	           (strncasecmp(auth, "Bearer ", 7) == 0 || strncasecmp(auth, "Token ", 6) == 0)) {
		cred.bearer = auth + (auth[0] == 'B' || auth[0] == 'b' ? 7 : 6);
		while (*cred.bearer == ' ')
			cred.bearer++;
	}
	if (!cred.user && !cred.bearer && !cred.cert_subject) {
		send_unauthorized(cx->req, "credentials are required");
		return false;
	}
	if (cx->srv->ops->authenticate(cx->srv->store, &cred, cx->partner, sizeof(cx->partner),
	                               &err) != 0) {
		OPENSSL_cleanse(decoded, sizeof(decoded));
		send_unauthorized(cx->req, "the credentials were not accepted");
		return false;
	}
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return true;
}

/* Is one media range of an Accept/Content-Type value the TAXII 2.1 type? (version absent = latest)
 */
static bool media_is_taxii(const char *s, size_t len, bool ranges)
{
	char buf[256], *p, *save = NULL, *tok;
	bool first = true, ok = false;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		for (p = tok + strlen(tok); p > tok && (p[-1] == ' ' || p[-1] == '\t'); p--)
			p[-1] = '\0';
		if (first) {
			first = false;
			ok = strcasecmp(tok, "application/taxii+json") == 0 ||
			     (ranges &&
			      (strcmp(tok, "*/*") == 0 || strcasecmp(tok, "application/*") == 0));
			continue;
		}
		if (strncasecmp(tok, "version=", 8) == 0 && strcmp(tok + 8, "2.1") != 0)
			ok = false;
		if (ranges && tok[0] == 'q' && tok[1] == '=' && strtod(tok + 2, NULL) <= 0.0)
			ok = false;
	}
	return ok;
}

static bool accept_ok(struct ctx *cx)
{
	const char *acc = evhttp_find_header(evhttp_request_get_input_headers(cx->req), "Accept");

	/* No Accept header means anything is acceptable (RFC 9110 12.5.1). */
	if (!acc)
		return true;
	for (const char *p = acc; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (media_is_taxii(p, len, true))
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	send_error(cx->req, 406, "NotAcceptable", "Accept must include %s", TAXII_MEDIA);
	return false;
}

static bool begin(struct ctx *cx, struct sl_taxii_server *srv, struct evhttp_request *req)
{
	memset(cx, 0, sizeof(*cx));
	cx->srv = srv;
	cx->req = req;
	return authenticate(cx) && accept_ok(cx);
}

/* 404 when the partner may not know the collection exists (the spec's Appendix B: do not leak which
 * collections exist); 403 when it is listed for them but the operation is not granted. */
static bool open_collection(struct ctx *cx, const char *id, bool need_read, bool need_write)
{
	struct sl_err err;

	if (cx->srv->ops->get_collection(cx->srv->store, cx->partner, id, &cx->coll, &err) != 0) {
		char q[80];

		send_error(cx->req, 404, "NotFound", "collection '%s' not found",
		           sl_err_quote(q, sizeof(q), id, 64));
		return false;
	}
	if ((need_read && !cx->coll.can_read) || (need_write && !cx->coll.can_write)) {
		send_error(cx->req, 403, "Forbidden", "this collection is not %s for you",
		           need_write && !cx->coll.can_write ? "writable" : "readable");
		return false;
	}
	return true;
}

/* ---- query parameters ---- */

enum { P_ADDED_AFTER, P_LIMIT, P_NEXT, P_ID, P_TYPE, P_VERSION, P_SPEC, NPARAMS };
static const char *const param_names[NPARAMS] = {
    "added_after",         "limit", "next", "match[id]", "match[type]", "match[version]",
    "match[spec_version]",
};

struct query {
	char *raw[NPARAMS]; /* decoded values, NULL when absent */
	char *storage;
	/* parsed */
	size_t limit;
	struct sl_taxii_filter f;
	const char *ids[SL_TAXII_MAX_LIST], *types[SL_TAXII_MAX_LIST], *specs[SL_TAXII_MAX_LIST];
	int64_t versions[SL_TAXII_MAX_LIST];
	char *lists; /* copies split in place */
};

static void query_free(struct query *q)
{
	free(q->storage);
	free(q->lists);
}

/* Split the (already decoded) parameter values. allowed is a mask of (1 << P_*) the endpoint takes;
 * others are ignored as the spec allows. On error a 400 naming the parameter has been sent. */
static bool parse_query(struct ctx *cx, struct query *q, unsigned allowed)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(cx->req);
	const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
	size_t qlen = qs ? strlen(qs) : 0;
	char *p, *o;

	memset(q, 0, sizeof(*q));
	q->limit = cx->srv->max_page;
	if (qlen > QUERY_MAX) {
		send_error(cx->req, 400, "BadRequest", "the query string is longer than %d bytes",
		           QUERY_MAX);
		return false;
	}
	q->storage = malloc(qlen * 2 + 2);
	if (!q->storage) {
		send_error(cx->req, 500, "InternalError", "out of memory");
		return false;
	}
	o = q->storage;
	for (p = qs ? (char *)qs : (char *)""; *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		char *key = o;
		int klen, vlen, which = -1;

		if (len == 0) {
			p += amp ? 1 : 0;
			continue;
		}
		klen = sl_http_decode(p, eq ? (size_t)(eq - p) : len, 1, key, qlen + 1);
		if (klen < 0) {
			send_error(cx->req, 400, "BadRequest",
			           "a query parameter name is malformed");
			return false;
		}
		o += klen + 1;
		vlen = eq ? sl_http_decode(eq + 1, len - (size_t)(eq + 1 - p), 1, o, qlen + 1) : 0;
		if (vlen < 0) {
			send_error(cx->req, 400, "BadRequest", "parameter %s: malformed value",
			           key);
			return false;
		}
		if (!eq)
			*o = '\0';
		for (int i = 0; i < NPARAMS; i++)
			if (strcmp(key, param_names[i]) == 0)
				which = i;
		if (which >= 0 && (allowed & (1u << which))) {
			if (q->raw[which]) {
				send_error(cx->req, 400, "BadRequest",
				           "parameter %s: given more than once", key);
				return false;
			}
			q->raw[which] = o;
		}
		o += vlen + 1;
		p += len + (amp ? 1 : 0);
	}
	return true;
}

static bool valid_type_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 250)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return false;
	return true;
}

static bool valid_stix_id(const char *s)
{
	const char *sep = strstr(s, "--");
	size_t n = strlen(s);

	if (!sep || sep == s || n > 300 || strlen(sep + 2) != 36)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return false;
	return true;
}

/* Split list (in place) at commas into out (max SL_TAXII_MAX_LIST); returns the count, or -1 when
 * an item is empty or there are too many. */
static int split_list(char *list, const char **out)
{
	int n = 0;

	for (char *t = list;;) {
		char *comma = strchr(t, ',');

		if (comma)
			*comma = '\0';
		while (*t == ' ')
			t++;
		if (!*t || n == SL_TAXII_MAX_LIST)
			return -1;
		out[n++] = t;
		if (!comma)
			return n;
		t = comma + 1;
	}
}

static bool bad_value(struct ctx *cx, int which, const char *why, const char *value)
{
	char q[80];

	send_error(cx->req, 400, "BadRequest", "parameter %s: %s (got '%s')", param_names[which],
	           why, sl_err_quote(q, sizeof(q), value, 64));
	return false;
}

/* Turn q->raw into q->f / q->limit; `next` is checked separately (it needs the binding). */
static bool build_filter(struct ctx *cx, struct query *q)
{
	size_t total = 0;
	char *l;
	int n;

	for (int i = 0; i < NPARAMS; i++)
		total += q->raw[i] ? strlen(q->raw[i]) + 1 : 0;
	q->lists = malloc(total + 1);
	if (!q->lists) {
		send_error(cx->req, 500, "InternalError", "out of memory");
		return false;
	}
	l = q->lists;
	if (q->raw[P_ADDED_AFTER]) {
		if (sl_taxii_ts_parse(q->raw[P_ADDED_AFTER], &q->f.added_after_us) != 0)
			return bad_value(cx, P_ADDED_AFTER,
			                 "not a timestamp like 2021-06-10T12:00:00.000000Z",
			                 q->raw[P_ADDED_AFTER]);
		q->f.has_added_after = true;
	}
	if (q->raw[P_LIMIT]) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(q->raw[P_LIMIT], &end, 10);
		if (!isdigit((unsigned char)q->raw[P_LIMIT][0]) || *end || v <= 0 || errno)
			return bad_value(cx, P_LIMIT, "must be a positive integer",
			                 q->raw[P_LIMIT]);
		/* Clients may ask for more than the server's cap; they get fewer and `more`. */
		q->limit = (size_t)v < cx->srv->max_page ? (size_t)v : cx->srv->max_page;
	}
	if (q->raw[P_ID]) {
		char *c = l;

		strcpy(c, q->raw[P_ID]);
		l += strlen(c) + 1;
		n = split_list(c, q->ids);
		if (n < 0)
			return bad_value(cx, P_ID, "empty item or too many items", q->raw[P_ID]);
		for (int i = 0; i < n; i++)
			if (!valid_stix_id(q->ids[i]))
				return bad_value(cx, P_ID, "not a STIX id", q->ids[i]);
		q->f.ids = q->ids;
		q->f.n_ids = (size_t)n;
	}
	if (q->raw[P_TYPE]) {
		char *c = l;

		strcpy(c, q->raw[P_TYPE]);
		l += strlen(c) + 1;
		n = split_list(c, q->types);
		if (n < 0)
			return bad_value(cx, P_TYPE, "empty item or too many items",
			                 q->raw[P_TYPE]);
		for (int i = 0; i < n; i++)
			if (!valid_type_name(q->types[i]))
				return bad_value(cx, P_TYPE, "not a STIX type name", q->types[i]);
		q->f.types = q->types;
		q->f.n_types = (size_t)n;
	}
	if (q->raw[P_VERSION]) {
		const char *items[SL_TAXII_MAX_LIST];
		char *c = l;

		strcpy(c, q->raw[P_VERSION]);
		l += strlen(c) + 1;
		n = split_list(c, items);
		if (n < 0)
			return bad_value(cx, P_VERSION, "empty item or too many items",
			                 q->raw[P_VERSION]);
		for (int i = 0; i < n; i++) {
			unsigned flag = strcmp(items[i], "last") == 0    ? SL_TAXII_VERSION_LAST
			                : strcmp(items[i], "first") == 0 ? SL_TAXII_VERSION_FIRST
			                : strcmp(items[i], "all") == 0   ? SL_TAXII_VERSION_ALL
			                                                 : 0;
			int64_t *v = &q->versions[q->f.n_versions];

			if (!flag && sl_taxii_ts_parse(items[i], v) != 0)
				return bad_value(cx, P_VERSION,
				                 "not first, last, all or a STIX timestamp",
				                 items[i]);
			/* Section 3.4.1: no value twice, and `all` stands alone. */
			if (flag & q->f.version_flags)
				return bad_value(cx, P_VERSION, "a value given twice", items[i]);
			for (size_t k = 0; !flag && k < q->f.n_versions; k++)
				if (q->versions[k] == *v)
					return bad_value(cx, P_VERSION, "a value given twice",
					                 items[i]);
			q->f.version_flags |= flag;
			if (!flag)
				q->f.n_versions++;
		}
		if ((q->f.version_flags & SL_TAXII_VERSION_ALL) && n > 1)
			return bad_value(cx, P_VERSION,
			                 "`all` cannot be combined with other values",
			                 q->raw[P_VERSION]);
		q->f.versions_us = q->versions;
	}
	if (q->raw[P_SPEC]) {
		char *c = l;

		strcpy(c, q->raw[P_SPEC]);
		l += strlen(c) + 1;
		n = split_list(c, q->specs);
		if (n < 0)
			return bad_value(cx, P_SPEC, "empty item or too many items",
			                 q->raw[P_SPEC]);
		for (int i = 0; i < n; i++) {
			const char *s = q->specs[i];

			if (!isdigit((unsigned char)s[0]) || s[1] != '.' ||
			    !isdigit((unsigned char)s[2]) || s[3])
				return bad_value(cx, P_SPEC, "not a STIX spec version like 2.1", s);
		}
		q->f.spec_versions = q->specs;
		q->f.n_spec_versions = (size_t)n;
	}
	return true;
}

/* ---- next tokens: hex(date_added_us, seq, HMAC-SHA256(key, cursor | binding)[0..16]) ---- */

static void token_mac(const struct sl_taxii_server *srv, const struct ctx *cx,
                      const struct query *q, const unsigned char cur[16], unsigned char mac[32])
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(cx->req);
	const char *path = uri ? evhttp_uri_get_path(uri) : "";
	EVP_MAC_CTX *c = srv->mac ? EVP_MAC_CTX_dup(srv->mac) : NULL;
	size_t outl = 0;
	static const unsigned char sep = '\n';

	memset(mac, 0, 32);
	if (!c)
		return;
	EVP_MAC_update(c, cur, 16);
	EVP_MAC_update(c, (const unsigned char *)cx->partner, strlen(cx->partner) + 1);
	EVP_MAC_update(c, (const unsigned char *)path, strlen(path) + 1);
	for (int i = 0; i < NPARAMS; i++) {
		if (i == P_NEXT || i == P_LIMIT)
			continue;
		if (q->raw[i])
			EVP_MAC_update(c, (const unsigned char *)q->raw[i], strlen(q->raw[i]));
		EVP_MAC_update(c, &sep, 1);
	}
	EVP_MAC_final(c, mac, &outl, 32);
	EVP_MAC_CTX_free(c);
}

static void cursor_bytes(const struct sl_taxii_cursor *cur, unsigned char out[16])
{
	uint64_t d = (uint64_t)cur->date_added_us;

	for (int i = 0; i < 8; i++) {
		out[i] = (unsigned char)(d >> (56 - 8 * i));
		out[8 + i] = (unsigned char)(cur->seq >> (56 - 8 * i));
	}
}

static void make_token(struct ctx *cx, const struct query *q, const struct sl_taxii_cursor *cur,
                       char out[TOKEN_HEX + 1])
{
	unsigned char b[32], mac[32];
	static const char hex[] = "0123456789abcdef";

	cursor_bytes(cur, b);
	token_mac(cx->srv, cx, q, b, mac);
	memcpy(b + 16, mac, 16);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[TOKEN_HEX] = '\0';
}

static bool check_token(struct ctx *cx, struct query *q)
{
	const char *t = q->raw[P_NEXT];
	unsigned char b[32], mac[32];
	uint64_t d = 0, s = 0;

	if (!t)
		return true;
	if (strlen(t) != TOKEN_HEX)
		return bad_value(cx, P_NEXT, "not a token this server issued", t);
	for (int i = 0; i < 32; i++) {
		int hi = isxdigit((unsigned char)t[2 * i]) ? t[2 * i] : -1;
		int lo = isxdigit((unsigned char)t[2 * i + 1]) ? t[2 * i + 1] : -1;

		if (hi < 0 || lo < 0)
			return bad_value(cx, P_NEXT, "not a token this server issued", t);
		hi = isdigit(hi) ? hi - '0' : tolower(hi) - 'a' + 10;
		lo = isdigit(lo) ? lo - '0' : tolower(lo) - 'a' + 10;
		b[i] = (unsigned char)(hi * 16 + lo);
	}
	token_mac(cx->srv, cx, q, b, mac);
	if (CRYPTO_memcmp(mac, b + 16, 16) != 0)
		return bad_value(cx, P_NEXT,
		                 "not a token this server issued for this caller, endpoint and "
		                 "filters",
		                 t);
	for (int i = 0; i < 8; i++) {
		d = d << 8 | b[i];
		s = s << 8 | b[8 + i];
	}
	q->f.has_after = true;
	q->f.after.date_added_us = (int64_t)d;
	q->f.after.seq = s;
	return true;
}

/* ---- JSON text helpers for the hand-assembled pages ---- */

static void add_json_string(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* ---- discovery, api root, collections ---- */

static void h_discovery(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct sl_taxii_server *srv = arg;
	struct ctx cx;
	char root[SL_HTTP_PARAM_MAX + 2];
	json_t *d;

	if (!begin(&cx, srv, req))
		return;
	snprintf(root, sizeof(root), "/%s/", srv->root);
	d = json_pack("{s:s, s:s, s:[s]}", "title", srv->title, "default", root, "api_roots", root);
	if (srv->description)
		json_object_set_new(d, "description", json_string(srv->description));
	if (srv->contact)
		json_object_set_new(d, "contact", json_string(srv->contact));
	send_json(req, 200, "OK", d);
}

static void h_api_root(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct sl_taxii_server *srv = arg;
	struct ctx cx;
	json_t *d;

	if (!begin(&cx, srv, req))
		return;
	d = json_pack("{s:s, s:[s], s:I}", "title", srv->title, "versions", TAXII_MEDIA,
	              "max_content_length", (json_int_t)srv->max_content_length);
	if (srv->description)
		json_object_set_new(d, "description", json_string(srv->description));
	send_json(req, 200, "OK", d);
}

static json_t *collection_json(const struct sl_taxii_collection *c)
{
	json_t *o =
	    json_pack("{s:s, s:s, s:b, s:b, s:[s]}", "id", c->id, "title", c->title, "can_read",
	              c->can_read, "can_write", c->can_write, "media_types", STIX_MEDIA);

	if (c->description[0])
		json_object_set_new(o, "description", json_string(c->description));
	if (c->alias[0])
		json_object_set_new(o, "alias", json_string(c->alias));
	return o;
}

static void h_collections(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct sl_taxii_server *srv = arg;
	struct sl_taxii_collection *list;
	struct ctx cx;
	struct sl_err err;
	size_t n = 0;
	json_t *arr, *d;

	if (!begin(&cx, srv, req))
		return;
	list = calloc(MAX_COLLECTIONS_LISTED, sizeof(*list));
	if (!list || srv->ops->list_collections(srv->store, cx.partner, list,
	                                        MAX_COLLECTIONS_LISTED, &n, &err) != 0) {
		free(list);
		send_error(req, 500, "InternalError", "the collections could not be listed");
		return;
	}
	d = json_object();
	if (n) {
		arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, collection_json(&list[i]));
		json_object_set_new(d, "collections", arr);
	}
	free(list);
	send_json(req, 200, "OK", d);
}

static void h_collection(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct ctx cx;

	if (!begin(&cx, arg, req) || !open_collection(&cx, pp->v[0], false, false))
		return;
	send_json(req, 200, "OK", collection_json(&cx.coll));
}

/* ---- pages: objects, manifest, object by id, versions ---- */

enum page_kind { K_OBJECTS, K_MANIFEST, K_VERSIONS };

struct page_state {
	enum page_kind kind;
	struct evbuffer *items;
	size_t n;
	int64_t first, last;
	struct sl_taxii_cursor pos;
	struct sl_taxii_served *served;
	char *served_text; /* id and version copies for the audit */
	size_t served_off, served_cap;
};

static int emit(void *arg, const struct sl_taxii_record *r)
{
	struct page_state *ps = arg;
	char ts[40];

	if (ps->n)
		evbuffer_add(ps->items, ",", 1);
	else
		ps->first = r->date_added_us;
	ps->last = r->date_added_us;
	ps->pos.date_added_us = r->date_added_us;
	ps->pos.seq = r->seq;
	switch (ps->kind) {
	case K_OBJECTS: {
		size_t need = strlen(r->id) + strlen(r->version) + 2;

		if (!r->json)
			return -1;
		evbuffer_add(ps->items, r->json, r->json_len);
		if (ps->served_off + need > ps->served_cap) {
			size_t cap = (ps->served_cap + need) * 2;
			char *t = realloc(ps->served_text, cap);

			if (!t)
				return -1;
			ps->served_text = t;
			ps->served_cap = cap;
		}
		/* offsets now, pointers once the text stops moving (see note_served) */
		ps->served[ps->n].id = (const char *)(uintptr_t)ps->served_off;
		strcpy(ps->served_text + ps->served_off, r->id);
		ps->served_off += strlen(r->id) + 1;
		ps->served[ps->n].version = (const char *)(uintptr_t)ps->served_off;
		strcpy(ps->served_text + ps->served_off, r->version);
		ps->served_off += strlen(r->version) + 1;
		break;
	}
	case K_MANIFEST:
		evbuffer_add_printf(ps->items, "{\"id\":");
		add_json_string(ps->items, r->id);
		evbuffer_add_printf(ps->items, ",\"date_added\":\"%s\",\"version\":",
		                    sl_taxii_ts_format(r->date_added_us, ts, sizeof(ts)));
		add_json_string(ps->items, r->version);
		evbuffer_add_printf(ps->items, ",\"media_type\":");
		add_json_string(ps->items, r->media_type);
		evbuffer_add(ps->items, "}", 1);
		break;
	case K_VERSIONS:
		add_json_string(ps->items, r->version);
		break;
	}
	ps->n++;
	return 0;
}

static void serve_page(struct ctx *cx, struct query *q, enum page_kind kind, const char *coll)
{
	struct sl_taxii_server *srv = cx->srv;
	struct page_state ps = {.kind = kind};
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(cx->req);
	struct sl_err err;
	struct sl_taxii_page_end end = {0};
	char token[TOKEN_HEX + 1], ts[40];
	bool more;
	int rc;

	ps.items = evbuffer_new();
	/* One chain for a typical page instead of many small ones. */
	if (ps.items && kind == K_OBJECTS)
		evbuffer_expand(ps.items, q->limit * 768 < 1048576 ? q->limit * 768 : 1048576);
	if (kind == K_OBJECTS)
		ps.served = calloc(q->limit ? q->limit : 1, sizeof(*ps.served));
	if (!out || !ps.items || (kind == K_OBJECTS && !ps.served)) {
		send_error(cx->req, 500, "InternalError", "out of memory");
		goto done;
	}
	rc = srv->ops->page(srv->store, cx->partner, coll, &q->f, q->limit, kind == K_OBJECTS, emit,
	                    &ps, &end, &err);
	more = end.more;
	if (end.has_resume &&
	    (!ps.n || end.resume.date_added_us > ps.pos.date_added_us ||
	     (end.resume.date_added_us == ps.pos.date_added_us && end.resume.seq > ps.pos.seq)))
		ps.pos = end.resume;
	if (rc != 0) {
		send_error(cx->req, 500, "InternalError", "the store could not answer");
		goto done;
	}
	if (kind == K_OBJECTS && ps.n && srv->ops->note_served) {
		for (size_t i = 0; i < ps.n; i++) {
			ps.served[i].id = ps.served_text + (uintptr_t)ps.served[i].id;
			ps.served[i].version = ps.served_text + (uintptr_t)ps.served[i].version;
		}
		if (srv->ops->note_served(srv->store, cx->partner, coll, ps.served, ps.n, &err) !=
		    0) {
			/* Nothing leaves unaudited. */
			send_error(cx->req, 500, "InternalError", "the audit could not be written");
			goto done;
		}
	}
	if (!ps.n && !more) {
		evbuffer_add_printf(out, "{}");
	} else {
		evbuffer_add_printf(out, "{\"more\":%s", more ? "true" : "false");
		/* Always a `next` with more:true: taxii2client's as_pages only follows next. */
		if (more && (ps.n || end.has_resume)) {
			make_token(cx, q, &ps.pos, token);
			evbuffer_add_printf(out, ",\"next\":\"%s\"", token);
		} else if (more && q->raw[P_NEXT]) {
			evbuffer_add_printf(out, ",\"next\":\"%s\"", q->raw[P_NEXT]);
		}
		/* TAXII lists are never empty: a page the store ended early may have no records. */
		if (ps.n) {
			evbuffer_add_printf(out, ",\"%s\":[",
			                    kind == K_VERSIONS ? "versions" : "objects");
			evbuffer_add_buffer(out, ps.items);
			evbuffer_add(out, "]", 1);
		}
		evbuffer_add(out, "}", 1);
	}
	/* The spec wants both headers on every 200 of these endpoints. An empty page has no first
	 * or last object: both then carry where the query started (the cursor, else added_after,
	 * else the epoch), so a client that keeps Date-Added-Last as its watermark stays where it
	 * was. */
	if (!ps.n) {
		ps.first = q->f.has_after         ? q->f.after.date_added_us
		           : q->f.has_added_after ? q->f.added_after_us
		                                  : 0;
		ps.last = ps.first;
	}
	{
		evhttp_add_header(h, "X-TAXII-Date-Added-First",
		                  sl_taxii_ts_format(ps.first, ts, sizeof(ts)));
		evhttp_add_header(h, "X-TAXII-Date-Added-Last",
		                  sl_taxii_ts_format(ps.last, ts, sizeof(ts)));
	}
	send_body(cx->req, 200, "OK", out);
done:
	if (out)
		evbuffer_free(out);
	if (ps.items)
		evbuffer_free(ps.items);
	free(ps.served);
	free(ps.served_text);
}

#define BIT(p) (1u << (p))

static void h_page(struct evhttp_request *req, const struct sl_http_params *pp, void *arg,
                   enum page_kind kind)
{
	struct ctx cx;
	struct query q;
	unsigned allowed = BIT(P_ADDED_AFTER) | BIT(P_LIMIT) | BIT(P_NEXT) | BIT(P_SPEC);
	const char *oid = pp->n > 1 ? pp->v[1] : NULL;

	if (kind != K_VERSIONS)
		allowed |= BIT(P_VERSION);
	if (!oid)
		allowed |= BIT(P_ID) | BIT(P_TYPE);
	if (!begin(&cx, arg, req) || !open_collection(&cx, pp->v[0], true, false))
		return;
	if (parse_query(&cx, &q, allowed) && build_filter(&cx, &q) && check_token(&cx, &q)) {
		if (oid) {
			if (!valid_stix_id(oid)) {
				send_error(req, 404, "NotFound", "no object with this id here");
				goto out;
			}
			q.f.ids = &oid;
			q.f.n_ids = 1;
			if (kind == K_VERSIONS) {
				q.f.version_flags = SL_TAXII_VERSION_ALL;
				q.f.n_versions = 0;
			}
		}
		/* An object the caller cannot see is a 404 on its own endpoints. */
		if (oid && !q.f.has_after) {
			struct query probe = q;
			struct page_state none = {.kind = K_VERSIONS};
			struct sl_err err;
			struct sl_taxii_page_end pend = {0};

			probe.f.has_added_after = false;
			probe.f.version_flags = SL_TAXII_VERSION_ALL;
			probe.f.n_versions = 0;
			probe.f.n_spec_versions = 0;
			none.items = evbuffer_new();
			if (!none.items ||
			    cx.srv->ops->page(cx.srv->store, cx.partner, cx.coll.id, &probe.f, 1,
			                      false, emit, &none, &pend, &err) != 0 ||
			    none.n == 0) {
				if (none.items)
					evbuffer_free(none.items);
				send_error(req, 404, "NotFound", "no object with this id here");
				goto out;
			}
			evbuffer_free(none.items);
		}
		serve_page(&cx, &q, kind, cx.coll.id);
	}
out:
	query_free(&q);
}

static void h_objects_get(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	h_page(req, pp, arg, K_OBJECTS);
}

static void h_manifest(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	h_page(req, pp, arg, K_MANIFEST);
}

static void h_versions(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	h_page(req, pp, arg, K_VERSIONS);
}

/* ---- status resources ---- */

static void new_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static void drop_oldest_status(struct sl_taxii_server *srv)
{
	struct status *s = &srv->statuses[srv->status_head];

	if (s->json)
		srv->status_bytes -= strlen(s->json);
	free(s->json);
	s->json = NULL;
	srv->status_head = (srv->status_head + 1) % srv->max_statuses;
	srv->nstatus--;
}

/* Drop the oldest when the count or byte budget is exceeded: bounded memory beats the 24 h
 * promise under a flood. */
static void keep_status(struct sl_taxii_server *srv, const char *id, const char *partner,
                        const char *json)
{
	size_t len = strlen(json);
	struct status *s;

	if (len > srv->max_status_bytes)
		return; /* cannot be kept at all: the POST answer itself carried it */
	while (srv->nstatus && (srv->nstatus == srv->max_statuses ||
	                        srv->status_bytes + len > srv->max_status_bytes))
		drop_oldest_status(srv);
	s = &srv->statuses[(srv->status_head + srv->nstatus) % srv->max_statuses];
	s->json = strdup(json);
	if (!s->json)
		return;
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->partner, sizeof(s->partner), "%s", partner);
	s->done = time(NULL);
	srv->status_bytes += len;
	srv->nstatus++;
}

static void h_status(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct sl_taxii_server *srv = arg;
	time_t now = time(NULL);
	struct ctx cx;

	if (!begin(&cx, srv, req))
		return;
	for (size_t k = 0; k < srv->nstatus; k++) {
		struct status *s = &srv->statuses[(srv->status_head + k) % srv->max_statuses];

		if (s->json && strcmp(s->id, pp->v[0]) == 0 &&
		    strcmp(s->partner, cx.partner) == 0 &&
		    now - s->done <= (time_t)srv->status_ttl_s) {
			struct evbuffer *b = evbuffer_new();

			evbuffer_add(b, s->json, strlen(s->json));
			send_body(req, 200, "OK", b);
			evbuffer_free(b);
			return;
		}
	}
	send_error(req, 404, "NotFound", "no status with this id (unknown, expired or not yours)");
}

/* ---- POST objects ---- */

static json_t *detail(const char *id, const char *version, const char *msg)
{
	json_t *d = json_pack("{s:s, s:s}", "id", id ? id : "", "version", version ? version : "");

	if (msg)
		json_object_set_new(d, "message", json_string(msg));
	return d;
}

static const char *object_version(json_t *o)
{
	const char *v = json_string_value(json_object_get(o, "modified"));

	return v ? v : json_string_value(json_object_get(o, "created"));
}

/* Why obj (entry i) cannot be stored, or NULL when it may go to the store. */
static const char *object_problem(json_t *obj, char *buf, size_t n)
{
	const char *id, *type, *ver;
	json_t *m, *c;
	int64_t us;

	if (!json_is_object(obj))
		return "not a JSON object";
	id = json_string_value(json_object_get(obj, "id"));
	type = json_string_value(json_object_get(obj, "type"));
	if (!type)
		return "missing type";
	if (!valid_type_name(type) || strlen(type) < 3)
		return "type is not a STIX type name";
	if (!id)
		return "missing id";
	if (!valid_stix_id(id) || strncmp(id, type, strlen(type)) != 0 ||
	    strncmp(id + strlen(type), "--", 2) != 0) {
		snprintf(buf, n, "id is not <type>--<uuid> for type %s", type);
		return buf;
	}
	m = json_object_get(obj, "modified");
	c = json_object_get(obj, "created");
	if ((m && (!json_is_string(m) || sl_taxii_ts_parse(json_string_value(m), &us) != 0)) ||
	    (c && (!json_is_string(c) || sl_taxii_ts_parse(json_string_value(c), &us) != 0)))
		return "created/modified is not a STIX timestamp";
	ver = json_string_value(json_object_get(obj, "spec_version"));
	if (json_object_get(obj, "spec_version") &&
	    (!ver || (strcmp(ver, "2.1") != 0 && strcmp(ver, "2.0") != 0)))
		return "spec_version is not 2.0 or 2.1";
	return NULL;
}

static void h_objects_post(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct sl_taxii_server *srv = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct sl_json_limits lim = sl_json_limits_default();
	struct sl_taxii_add_result *results = NULL;
	json_t **good = NULL, *env = NULL, *objs, *succ, *fail, *st;
	size_t *good_idx = NULL, ngood = 0, nobj, nsucc = 0, nfail = 0;
	struct sl_err err;
	struct ctx cx;
	char id[37], ts[40], reason[160];
	char *text;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (!begin(&cx, srv, req) || !open_collection(&cx, pp->v[0], false, true))
		return;
	if (!ct || !media_is_taxii(ct, strlen(ct), false)) {
		send_error(req, 415, "UnsupportedMediaType", "Content-Type must be %s",
		           TAXII_MEDIA);
		return;
	}
	if (len > srv->max_content_length) {
		send_error(req, 413, "PayloadTooLarge",
		           "the body is %zu bytes; this api root takes at most %zu", len,
		           srv->max_content_length);
		return;
	}
	lim.max_bytes = srv->max_content_length;
	env = sl_json_parse((const char *)evbuffer_pullup(in, -1), len, &lim, "envelope", &err);
	if (!env) {
		/* 422: the spec names "a malformed body" among the unprocessable cases. */
		send_error(req, 422, "UnprocessableEntity", "the body is not JSON: %s: %s",
		           err.where, err.msg);
		return;
	}
	objs = json_object_get(env, "objects");
	if (!json_is_object(env) || !json_is_array(objs)) {
		json_decref(env);
		send_error(req, 422, "UnprocessableEntity",
		           "the body is not a TAXII envelope (an object with an objects array)");
		return;
	}
	nobj = json_array_size(objs);
	if (nobj > srv->max_objects) {
		json_decref(env);
		send_error(req, 413, "PayloadTooLarge",
		           "the envelope has %zu objects; this api root takes at most %zu per POST",
		           nobj, srv->max_objects);
		return;
	}
	succ = json_array();
	fail = json_array();
	if (nobj) {
		good = calloc(nobj, sizeof(*good));
		good_idx = calloc(nobj, sizeof(*good_idx));
		results = calloc(nobj, sizeof(*results));
	}
	if (nobj && (!good || !good_idx || !results)) {
		send_error(req, 500, "InternalError", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nobj; i++) {
		json_t *o = json_array_get(objs, i);
		const char *why = object_problem(o, reason, sizeof(reason));

		if (why) {
			char msg[256];

			snprintf(msg, sizeof(msg), "objects[%zu]: %s", i, why);
			json_array_append_new(
			    fail, detail(json_string_value(json_object_get(o, "id")),
			                 json_is_object(o) ? object_version(o) : NULL, msg));
			nfail++;
			continue;
		}
		good_idx[ngood] = i;
		good[ngood++] = o;
	}
	if (ngood &&
	    srv->ops->add(srv->store, cx.partner, cx.coll.id, good, ngood, results, &err) != 0) {
		for (size_t k = 0; k < ngood; k++) {
			results[k].code = err.code ? err.code : SL_EIO;
			snprintf(results[k].msg, sizeof(results[k].msg), "not stored: %s", err.msg);
		}
	}
	for (size_t k = 0; k < ngood; k++) {
		json_t *o = good[k];
		const char *oid = json_string_value(json_object_get(o, "id"));
		const char *ver = object_version(o);

		if (results[k].code == 0) {
			json_array_append_new(succ, detail(oid, ver, NULL));
			nsucc++;
		} else {
			char msg[SL_TAXII_MSG_MAX + 32];

			snprintf(msg, sizeof(msg), "objects[%zu]: %s", good_idx[k], results[k].msg);
			json_array_append_new(fail, detail(oid, ver, msg));
			nfail++;
		}
	}
	new_uuid(id);
	st = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", id, "status", "complete",
	    "request_timestamp",
	    sl_taxii_ts_format((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, ts, sizeof(ts)),
	    "total_count", (json_int_t)nobj, "success_count", (json_int_t)nsucc, "failure_count",
	    (json_int_t)nfail, "pending_count", (json_int_t)0);
	if (nsucc)
		json_object_set(st, "successes", succ);
	if (nfail)
		json_object_set(st, "failures", fail);
	text = json_dumps(st, JSON_COMPACT);
	if (text)
		keep_status(srv, id, cx.partner, text);
	free(text);
	send_json(req, 202, "Accepted", st);
out:
	json_decref(succ);
	json_decref(fail);
	json_decref(env);
	free(good);
	free(good_idx);
	free(results);
}

static void h_object_delete(struct evhttp_request *req, const struct sl_http_params *pp, void *arg)
{
	struct ctx cx;
	struct query q;
	struct sl_err err;
	size_t n = 0;

	/* Deleting needs both rights (section 5.7). */
	if (!begin(&cx, arg, req) || !open_collection(&cx, pp->v[0], true, true))
		return;
	if (parse_query(&cx, &q, BIT(P_VERSION) | BIT(P_SPEC)) && build_filter(&cx, &q)) {
		int rc = valid_stix_id(pp->v[1])
		             ? cx.srv->ops->delete_object(cx.srv->store, cx.partner, cx.coll.id,
		                                          pp->v[1], &q.f, &n, &err)
		             : SL_ENOTFOUND;

		if (rc == SL_EUNSUPPORTED) {
			send_error(req, 403, "Forbidden",
			           "objects in this collection cannot be deleted over TAXII");
		} else if (rc != 0 || n == 0) {
			send_error(req, 404, "NotFound", "no object with this id and version here");
		} else {
			struct evbuffer *b = evbuffer_new();

			send_body(req, 200, "OK", b);
			evbuffer_free(b);
		}
	}
	query_free(&q);
}

/* ---- set-up ---- */

struct sl_taxii_server *sl_taxii_server_new(struct sl_http_server *http,
                                            const struct sl_taxii_server_config *cfg,
                                            const struct sl_taxii_store_ops *ops, void *store_ctx,
                                            struct sl_err *err)
{
	struct sl_taxii_server *srv;
	char pat[SL_HTTP_PARAM_MAX + 64];
	const char *r = cfg->api_root;
	static const struct {
		int methods;
		const char *suffix;
		sl_http_handler h;
	} routes[] = {
	    {SL_HTTP_GET, "", h_api_root},
	    {SL_HTTP_GET, "collections/", h_collections},
	    {SL_HTTP_GET, "collections/*/", h_collection},
	    {SL_HTTP_GET, "collections/*/objects/", h_objects_get},
	    {SL_HTTP_POST, "collections/*/objects/", h_objects_post},
	    {SL_HTTP_GET, "collections/*/objects/*/", h_objects_get},
	    {SL_HTTP_DELETE, "collections/*/objects/*/", h_object_delete},
	    {SL_HTTP_GET, "collections/*/objects/*/versions/", h_versions},
	    {SL_HTTP_GET, "collections/*/manifest/", h_manifest},
	    {SL_HTTP_GET, "status/*/", h_status},
	    /* taxii2client 2.3 builds status URLs without the trailing slash. */
	    {SL_HTTP_GET, "status/*", h_status},
	};

	if (!r || !*r || strchr(r, '/') || strlen(r) >= SL_HTTP_PARAM_MAX ||
	    strcmp(r, "taxii2") == 0)
		return sl_err_set(err, SL_EINVAL, "taxii api_root",
		                  "must be one path segment other than taxii2"),
		       NULL;
	if (!ops || !ops->authenticate || !ops->list_collections || !ops->get_collection ||
	    !ops->page || !ops->add || !ops->delete_object)
		return sl_err_set(err, SL_EINVAL, "taxii store", "the store lacks operations"),
		       NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return sl_err_set(err, SL_ENOMEM, "taxii", "out of memory"), NULL;
	srv->http = http;
	srv->ops = ops;
	srv->store = store_ctx;
	snprintf(srv->root, sizeof(srv->root), "%s", r);
	srv->title = strdup(cfg->title ? cfg->title : "sluice");
	srv->description = cfg->description ? strdup(cfg->description) : NULL;
	srv->contact = cfg->contact ? strdup(cfg->contact) : NULL;
	srv->max_content_length = cfg->max_content_length ? cfg->max_content_length : 10485760;
	srv->max_page = cfg->max_page ? cfg->max_page : 1000;
	srv->max_statuses = cfg->max_statuses ? cfg->max_statuses : 4096;
	srv->max_status_bytes = cfg->max_status_bytes ? cfg->max_status_bytes : 64u << 20;
	srv->max_objects = cfg->max_objects_per_post ? cfg->max_objects_per_post : 10000;
	srv->status_ttl_s = cfg->status_ttl_s ? cfg->status_ttl_s : 86400;
	srv->statuses = calloc(srv->max_statuses, sizeof(*srv->statuses));
	if (!srv->title || !srv->statuses) {
		sl_err_set(err, SL_ENOMEM, "taxii", "out of memory");
		goto fail;
	}
	if (cfg->token_key && cfg->token_key_len) {
		/* Hash the configured key down to the MAC key size, whatever its length. */
		unsigned int outl = 0;

		EVP_Digest(cfg->token_key, cfg->token_key_len, srv->key, &outl, EVP_sha256(), NULL);
	} else if (RAND_bytes(srv->key, sizeof(srv->key)) != 1) {
		sl_err_set(err, SL_EIO, "taxii", "no randomness for the token key");
		goto fail;
	}
	{
		EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM params[2];

		params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		srv->mac = m ? EVP_MAC_CTX_new(m) : NULL;
		EVP_MAC_free(m);
		if (!srv->mac || EVP_MAC_init(srv->mac, srv->key, sizeof(srv->key), params) != 1) {
			sl_err_set(err, SL_EIO, "taxii", "HMAC-SHA256 is not available");
			goto fail;
		}
	}
	if (sl_http_server_route(http, SL_HTTP_GET, "/taxii2/", h_discovery, srv, err) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		snprintf(pat, sizeof(pat), "/%s/%s", r, routes[i].suffix);
		if (sl_http_server_route(http, routes[i].methods, pat, routes[i].h, srv, err) != 0)
			goto fail;
	}
	sl_http_server_set_fallback(http, fallback, srv);
	return srv;
fail:
	sl_taxii_server_free(srv);
	return NULL;
}

void sl_taxii_server_free(struct sl_taxii_server *srv)
{
	if (!srv)
		return;
	for (size_t i = 0; srv->statuses && i < srv->max_statuses; i++)
		free(srv->statuses[i].json);
	free(srv->statuses);
	free(srv->title);
	free(srv->description);
	free(srv->contact);
	EVP_MAC_CTX_free(srv->mac);
	OPENSSL_cleanse(srv->key, sizeof(srv->key));
	free(srv);
}
