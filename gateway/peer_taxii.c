/* peer_taxii.c — TAXII 2.1 client: discovery, collections, objects pages walked with next (never
 * with added_after alone: ties on one date_added would be lost), envelope POST with status polling,
 * DELETE for erasures. One request in flight per connector; every answer is checked for status,
 * media type, JSON and shape. */
#include "peer_taxii.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "backoff.h"
#include "json.h"
#include "stix_id.h"

#define TS_LEN 32 /* "YYYY-MM-DDTHH:MM:SS.ssssssZ" + NUL, with room */
#define NO_LOOP_POLLS 3

struct sl_peer {
	const struct sl_config_peer *cfg;
	struct sl_http_client *http;
	struct event_base *base; /* for pauses between status polls; may be NULL */
	struct event *timer;
	struct sl_http_xfer *xfer; /* the request in flight, or NULL */
	char *auth;                /* "Authorization: ...", wiped on destroy */
	char *url;                 /* the configured url, ending in '/' as TAXII paths do */
	/* what discovery found: kept between calls, refreshed by every pull and push */
	char *root;                      /* API root URL, ends in '/' */
	long long max_post;              /* the api root's max_content_length, 0 = not given */
	json_t *colls;                   /* the api root's collections */
	void (*then)(struct sl_peer *p); /* what runs once the collections are listed */
	/* the failure being reported */
	struct sl_err ferr;
	int64_t fra;
	bool fperm;
	/* pull */
	bool pulling;
	struct sl_peer_pull_cb pcb;
	json_t *pos;  /* collection id -> TAXII timestamp of what has been handed over */
	json_t *todo; /* collection ids to pull, in order */
	size_t ci;
	struct sl_err perr; /* the first collection-level error: the others are still pulled */
	char *next;         /* next token of the walk, or NULL */
	bool have_after;
	int64_t after_us;
	unsigned limit, restarts;
	unsigned long page;
	/* push */
	bool pushing;
	sl_peer_push_done pdone;
	void *parg;
	json_t *objs;     /* the bundle's objects */
	json_t *dels;     /* ids to delete */
	json_t *chunks;   /* envelopes to POST */
	json_t *rejected; /* id -> reason */
	size_t chunk, di;
	const char *wcoll; /* the collection pushed to (borrowed from colls) */
	bool can_delete;
	char status_id[128];
	unsigned polls;
};

/* ---- small helpers --------------------------------------------------------------------------- */

/* Percent-encode s for a path segment or a query value (RFC 3986 unreserved kept). */
static int enc(char *out, size_t outsz, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outsz)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outsz)
		return -1;
	out[o] = '\0';
	return 0;
}

/* A TAXII (or STIX) timestamp to microseconds since the epoch: YYYY-MM-DDTHH:MM:SS[.frac]Z. */
static int ts_parse(const char *s, int64_t *us)
{
	struct tm tm = {0};
	int64_t frac = 0, scale = 100000;
	const char *p;
	int n = 0;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -1;
	p = s + n;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			frac += scale * (*p - '0');
			scale /= 10;
		}
	}
	if ((*p != 'Z' && *p != 'z') || p[1] || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return 0;
}

static void ts_format(int64_t us, char out[TS_LEN])
{
	time_t t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	int64_t f = us - (int64_t)t * 1000000;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, TS_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)f);
}

/* scheme://authority of url (no trailing slash) into out. */
static int origin_of(const char *url, char *out, size_t outsz)
{
	const char *s = strstr(url, "://");
	size_t n;

	if (!s)
		return -1;
	s += 3;
	n = (size_t)(s - url) + strcspn(s, "/?#");
	if (n >= outsz)
		return -1;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

static char *with_slash(const char *s)
{
	size_t n = strlen(s);
	char *r = malloc(n + 2);

	if (!r)
		return NULL;
	memcpy(r, s, n);
	if (n == 0 || s[n - 1] != '/')
		r[n++] = '/';
	r[n] = '\0';
	return r;
}

/* 2xx answers must say they are TAXII: a proxy's or login page's 200 (HTML, or JSON of another
 * API) is then an error instead of an empty envelope. */
static bool media_ok(const char *ct)
{
	if (!ct)
		return true;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/taxii+json", 22) == 0;
}

static int64_t retry_after(const struct sl_http_response *r)
{
	int64_t ms;
	if (r->retry_after && sl_backoff_parse_retry_after(r->retry_after, time(NULL), &ms) == 0)
		return ms;
	return -1;
}

/* ---- requests -------------------------------------------------------------------------------- */

static const char *const get_headers[] = {"Accept: " SL_PEER_TAXII_MEDIA};
static const char *const post_headers[] = {"Accept: " SL_PEER_TAXII_MEDIA,
                                           "Content-Type: " SL_PEER_TAXII_MEDIA};

static void fail(struct sl_peer *p, int code, bool perm, int64_t ra, const char *fmt, ...)
    SL_PRINTF(5, 6);

static void fail(struct sl_peer *p, int code, bool perm, int64_t ra, const char *fmt, ...)
{
	char m[SL_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	sl_err_set(&p->ferr, code, p->cfg->name, "%s", m);
	p->fperm = perm;
	p->fra = ra;
}

/* What a URL is called in messages: without its query (next tokens are long and opaque). */
static void req_name(char *out, size_t outsz, const char *method, const char *url)
{
	snprintf(out, outsz, "%s %.*s", method, (int)strcspn(url, "?"), url);
}

/* Start method url; on failure p->ferr is filled and -1 returned. */
static int start(struct sl_peer *p, const char *method, const char *url, const char *body,
                 sl_http_done_cb cb)
{
	struct sl_http_request req = {0};
	struct sl_err err = {0};

	req.method = method;
	req.url = url;
	req.headers = body ? post_headers : get_headers;
	req.nheaders = body ? 2 : 1;
	sl_peer_request_base(&req, p->cfg, p->auth);
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.timeout_ms = p->cfg->timeout_s * 1000u;
	req.max_body = p->cfg->max_body_bytes;
	req.on_done = cb;
	req.arg = p;
	p->xfer = sl_http_client_start(p->http, &req, &err);
	if (!p->xfer) {
		char name[2100];
		req_name(name, sizeof(name), method, url);
		fail(p, err.code ? err.code : SL_ENET, false, -1, "%s: %s", name, err.msg);
		return -1;
	}
	return 0;
}

/* Fills p->ferr/fperm/fra from a response that is not a usable 2xx. */
static void fail_response(struct sl_peer *p, const char *req, const struct sl_http_response *r)
{
	if (r->error == SL_HTTP_ESTATUS) {
		const char *why = "";
		int code = SL_EINVAL;
		bool perm = false;

		switch (r->status) {
		case 401:
			why = " (credentials refused: check api_key_file / api_key_env)";
			break;
		case 403:
			why = " (forbidden: the partner does not grant this collection to us)";
			break;
		case 404:
			why = " (not found or not visible to us)";
			code = SL_ENOTFOUND;
			break;
		case 406:
			why = " (the partner does not serve " SL_PEER_TAXII_MEDIA ")";
			perm = true;
			break;
		case 413:
			why = " (over the partner's max_content_length)";
			perm = true;
			break;
		case 416:
			why = " (range not satisfiable)";
			break;
		case 429:
			why = " (rate limited)";
			break;
		default:
			if (r->status >= 500 || sl_backoff_status_retryable(r->status))
				code = SL_ENET;
			else
				perm = r->status >= 400 && r->status < 500;
		}
		if (r->status == 429)
			code = SL_ENET;
		fail(p, code, perm, retry_after(r), "%s: http %d%s: %.120s", req, r->status, why,
		     r->body ? r->body : "");
		return;
	}
	fail(p, r->error == SL_HTTP_ETOO_LARGE ? SL_ELIMIT : SL_ENET, false, -1, "%s: %s: %s", req,
	     sl_http_error_name(r->error), r->err.msg);
}

/* A 2xx TAXII JSON object, or NULL with p->ferr filled. */
static json_t *answer(struct sl_peer *p, const char *req, const struct sl_http_response *r)
{
	struct sl_json_limits lim = sl_json_limits_default();
	struct sl_err jerr = {0};
	json_t *v;

	if (r->error != SL_HTTP_OK) {
		fail_response(p, req, r);
		return NULL;
	}
	if (!media_ok(r->content_type)) {
		fail(p, SL_EINVAL, false, -1, "%s: answer is %.60s, not %s", req, r->content_type,
		     SL_PEER_TAXII_MEDIA);
		return NULL;
	}
	if (p->cfg->max_body_bytes)
		lim.max_bytes = p->cfg->max_body_bytes;
	v = sl_json_parse(r->body ? r->body : "", r->body_len, &lim, req, &jerr);
	if (!v) {
		fail(p, jerr.code == SL_ELIMIT ? SL_ELIMIT : SL_EINVAL, false, -1,
		     "%s: answer is not JSON: %s", req, jerr.msg);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		fail(p, SL_EINVAL, false, -1, "%s: answer is not a JSON object", req);
		return NULL;
	}
	return v;
}

/* ---- discovery ------------------------------------------------------------------------------- */

static void discovered(struct sl_peer *p, bool ok);
static void on_root(const struct sl_http_response *r, void *arg);
static void on_colls(const struct sl_http_response *r, void *arg);

/* GET {root}collections/; -1 with p->ferr filled when it cannot start. */
static int list_colls(struct sl_peer *p)
{
	char url[2048];

	if (snprintf(url, sizeof(url), "%scollections/", p->root) >= (int)sizeof(url)) {
		fail(p, SL_ELIMIT, true, -1, "api root URL too long");
		return -1;
	}
	return start(p, "GET", url, NULL, on_colls);
}

static void on_colls(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	char req[2100];
	json_t *v, *list, *c;
	size_t i;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "GET %scollections/", p->root);
	v = answer(p, req, r);
	if (!v) {
		discovered(p, false);
		return;
	}
	list = json_object_get(v, "collections");
	if (!list)
		list = json_array(); /* the spec omits the key when there are none */
	else
		json_incref(list);
	if (!json_is_array(list)) {
		fail(p, SL_EINVAL, false, -1, "%s: \"collections\" is not a list", req);
		json_decref(list);
		json_decref(v);
		discovered(p, false);
		return;
	}
	json_array_foreach(list, i, c)
	{
		if (!json_is_object(c) || !json_is_string(json_object_get(c, "id"))) {
			fail(p, SL_EINVAL, false, -1, "%s: collections[%zu] has no \"id\"", req, i);
			json_decref(list);
			json_decref(v);
			discovered(p, false);
			return;
		}
	}
	json_decref(v);
	json_decref(p->colls);
	p->colls = list;
	discovered(p, true);
}

static bool offers_21(const json_t *versions)
{
	const json_t *x;
	size_t i;

	json_array_foreach(versions, i, x)
	{
		char norm[80];
		const char *s = json_string_value(x);
		size_t o = 0;
		for (; s && *s && o + 1 < sizeof(norm); s++)
			if (*s != ' ')
				norm[o++] = (char)tolower((unsigned char)*s);
		norm[o] = '\0';
		if (strcmp(norm, SL_PEER_TAXII_MEDIA) == 0)
			return true;
	}
	return false;
}

/* The answer at the configured url: an api root (has "versions") or a discovery resource. */
static void on_root(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	char req[2100], origin[512], url[2048];
	const json_t *roots, *mcl;
	const char *pick;
	json_t *v;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "GET %s", p->root ? p->root : p->url);
	v = answer(p, req, r);
	if (!v) {
		discovered(p, false);
		return;
	}
	if (json_is_array(json_object_get(v, "versions"))) {
		if (!offers_21(json_object_get(v, "versions"))) {
			fail(p, SL_EUNSUPPORTED, true, -1, "%s: the api root does not offer %s",
			     req, SL_PEER_TAXII_MEDIA);
			json_decref(v);
			discovered(p, false);
			return;
		}
		mcl = json_object_get(v, "max_content_length");
		p->max_post = json_is_integer(mcl) && json_integer_value(mcl) > 0
		                  ? (long long)json_integer_value(mcl)
		                  : 0;
		if (!p->root)
			p->root = with_slash(p->url);
		json_decref(v);
		if (!p->root) {
			fail(p, SL_ENOMEM, false, -1, "out of memory");
			discovered(p, false);
			return;
		}
		if (list_colls(p) < 0)
			discovered(p, false);
		return;
	}
	if (p->root) { /* a discovered api root must be one */
		fail(p, SL_EINVAL, false, -1, "%s: answer is not an api root (no \"versions\")",
		     req);
		json_decref(v);
		discovered(p, false);
		return;
	}
	roots = json_object_get(v, "api_roots");
	pick = json_string_value(json_object_get(v, "default"));
	if (!pick && json_array_size(roots) == 1)
		pick = json_string_value(json_array_get(roots, 0));
	if (!pick) {
		if (json_array_size(roots) > 1)
			fail(p, SL_EINVAL, true, -1,
			     "%s: discovery lists %zu api roots and no default: set url to one "
			     "of them",
			     req, json_array_size(roots));
		else
			fail(p, SL_EINVAL, true, -1,
			     "%s: answer is neither a discovery resource with an api root nor an "
			     "api root",
			     req);
		json_decref(v);
		discovered(p, false);
		return;
	}
	/* Credentials go only where they were configured for: an api root on another origin must
	 * be configured as the url itself. */
	if (origin_of(p->url, origin, sizeof(origin)) != 0) {
		fail(p, SL_EINVAL, true, -1, "url %s has no scheme", p->url);
	} else if (pick[0] == '/' && pick[1] != '/') {
		if (snprintf(url, sizeof(url), "%s%s", origin, pick) >= (int)sizeof(url))
			fail(p, SL_ELIMIT, true, -1, "%s: api root too long", req);
		else
			p->root = with_slash(url);
	} else if (strncmp(pick, origin, strlen(origin)) == 0 &&
	           (pick[strlen(origin)] == '/' || pick[strlen(origin)] == '\0')) {
		p->root = with_slash(pick);
	} else {
		fail(p, SL_EINVAL, true, -1,
		     "%s: api root %.200s is not on %s: set url to that api root if it is "
		     "meant",
		     req, pick, origin);
	}
	json_decref(v);
	if (!p->root) {
		if (!p->ferr.code)
			fail(p, SL_ENOMEM, false, -1, "out of memory");
		discovered(p, false);
		return;
	}
	if (start(p, "GET", p->root, NULL, on_root) < 0) {
		free(p->root);
		p->root = NULL;
		discovered(p, false);
	}
}

/* Find the api root (once) and list its collections (every time), then run then() from the
 * answer's callback. -1 with p->ferr filled (and nothing called back) when no request starts. */
static int discover(struct sl_peer *p, void (*then)(struct sl_peer *p))
{
	p->then = then;
	memset(&p->ferr, 0, sizeof(p->ferr));
	p->fra = -1;
	p->fperm = false;
	if (p->root)
		return list_colls(p);
	return start(p, "GET", p->url, NULL, on_root);
}

static void pull_finish(struct sl_peer *p, const struct sl_err *err, int64_t ra);
static void push_finish(struct sl_peer *p, enum sl_peer_push_result res);

static void discovered(struct sl_peer *p, bool ok)
{
	if (ok) {
		p->then(p);
		return;
	}
	/* a stale api root (moved, 404) is looked up again next time */
	free(p->root);
	p->root = NULL;
	if (p->pulling)
		pull_finish(p, &p->ferr, p->fra);
	else
		push_finish(p, p->fperm ? SL_PEER_PUSH_PERMANENT : SL_PEER_PUSH_RETRY);
}

static const json_t *coll_find(const struct sl_peer *p, const char *id)
{
	const json_t *c;
	size_t i;

	json_array_foreach(p->colls, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
			return c;
	}
	return NULL;
}

/* ---- pull ------------------------------------------------------------------------------------ */

static void pull_finish(struct sl_peer *p, const struct sl_err *err, int64_t ra)
{
	struct sl_peer_pull_cb cb = p->pcb;
	struct sl_err e = {0};

	if (err && err->code)
		e = *err;
	else if (p->perr.code)
		e = p->perr;
	p->pulling = false;
	json_decref(p->pos);
	json_decref(p->todo);
	p->pos = p->todo = NULL;
	free(p->next);
	p->next = NULL;
	cb.done(cb.arg, &e, err && err->code ? ra : -1);
}

static void pull_collection(struct sl_peer *p);
static void on_page(const struct sl_http_response *r, void *arg);

/* Where the walk of the current collection starts: the stored position minus the overlap (ties
 * at the position and late stamps are read again), else max_age_days back, else the beginning. */
static void walk_reset(struct sl_peer *p)
{
	const char *id = json_string_value(json_array_get(p->todo, p->ci));
	int64_t us;

	free(p->next);
	p->next = NULL;
	p->limit = SL_PEER_TAXII_PAGE;
	p->have_after = false;
	if (ts_parse(json_string_value(json_object_get(p->pos, id)), &us) == 0) {
		p->have_after = true;
		p->after_us = us - SL_PEER_TAXII_OVERLAP_US;
	} else if (p->cfg->max_age_days) {
		p->have_after = true;
		p->after_us =
		    ((int64_t)time(NULL) - (int64_t)p->cfg->max_age_days * 86400) * 1000000;
	}
}

static void fetch_page(struct sl_peer *p)
{
	const char *id = json_string_value(json_array_get(p->todo, p->ci));
	char eid[512], url[8192], ts[TS_LEN], ets[3 * TS_LEN];
	int n;

	if (enc(eid, sizeof(eid), id) != 0) {
		sl_err_set(&p->ferr, SL_ELIMIT, p->cfg->name, "collection id %.60s too long", id);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	n = snprintf(url, sizeof(url),
	             "%scollections/%s/objects/?limit=%u&match%%5Bversion%%5D=all", p->root, eid,
	             p->limit);
	if (p->have_after) {
		ts_format(p->after_us, ts);
		enc(ets, sizeof(ets), ts);
		n += snprintf(url + n, sizeof(url) - (size_t)n, "&added_after=%s", ets);
	}
	if (p->next) {
		char enext[4096];
		if (enc(enext, sizeof(enext), p->next) != 0) {
			sl_err_set(&p->ferr, SL_ELIMIT, p->cfg->name,
			           "collection %.60s: next token over 1 KiB", id);
			pull_finish(p, &p->ferr, -1);
			return;
		}
		n += snprintf(url + n, sizeof(url) - (size_t)n, "&next=%s", enext);
	}
	if (n >= (int)sizeof(url)) {
		sl_err_set(&p->ferr, SL_ELIMIT, p->cfg->name, "collection %.60s: URL too long", id);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	if (start(p, "GET", url, NULL, on_page) < 0)
		pull_finish(p, &p->ferr, -1);
}

static void pull_collection(struct sl_peer *p)
{
	if (p->ci >= json_array_size(p->todo)) {
		pull_finish(p, NULL, -1);
		return;
	}
	p->restarts = 0;
	p->page = 0;
	walk_reset(p);
	fetch_page(p);
}

static void next_collection(struct sl_peer *p)
{
	p->ci++;
	pull_collection(p);
}

/* A collection-level refusal (401/403/404): noted, and the other collections are still pulled. */
static void collection_error(struct sl_peer *p)
{
	if (!p->perr.code)
		p->perr = p->ferr;
	next_collection(p);
}

static int hand_over(struct sl_peer *p, const char *coll, json_t *objs, const char *last)
{
	static const unsigned char ns[16] = {0x6b, 0x2f, 0x0e, 0x5d, 0x1c, 0x4a, 0x4f, 0x37,
	                                     0x9a, 0x61, 0x3e, 0x0b, 0x27, 0xd4, 0x58, 0x19};
	char name[1024], uuid[37], bid[64];
	int64_t now_us, old_us;
	json_t *bundle;
	char *pos;
	struct sl_err err = {0};
	int rc;

	/* the position moves only forward, and only to a date_added the partner stated */
	if (last && ts_parse(last, &now_us) == 0) {
		if (ts_parse(json_string_value(json_object_get(p->pos, coll)), &old_us) != 0 ||
		    now_us > old_us) {
			char ts[TS_LEN];
			ts_format(now_us, ts);
			json_object_set_new(p->pos, coll, json_string(ts));
		}
	}
	snprintf(name, sizeof(name), "%s|%s|%s|%lu", p->cfg->name, coll, last ? last : "", p->page);
	sl_stix_id_uuid5(ns, name, strlen(name), uuid);
	snprintf(bid, sizeof(bid), "bundle--%s", uuid);
	bundle = json_pack("{s:s,s:s,s:O}", "type", "bundle", "id", bid, "objects", objs);
	pos = json_dumps(p->pos, JSON_COMPACT | JSON_SORT_KEYS);
	if (!bundle || !pos) {
		json_decref(bundle);
		free(pos);
		sl_err_set(&p->ferr, SL_ENOMEM, p->cfg->name, "out of memory");
		return -1;
	}
	rc = p->pcb.item(p->pcb.arg, bundle, coll, pos, &err);
	json_decref(bundle);
	free(pos);
	if (rc < 0) {
		p->ferr = err;
		if (!p->ferr.code)
			p->ferr.code = rc;
		return -1;
	}
	return 0;
}

static void on_page(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	const char *coll = json_string_value(json_array_get(p->todo, p->ci));
	const char *last = sl_http_response_header(r, "X-TAXII-Date-Added-Last");
	char req[2100];
	const json_t *more, *next, *o;
	json_t *v, *objs;
	bool is_more;
	size_t i, n;
	int64_t last_us;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "GET %scollections/%s/objects/ page %lu", p->root, coll,
	         p->page + 1);
	v = answer(p, req, r);
	if (!v) {
		if (r->error == SL_HTTP_ESTATUS && r->status == 400 && p->next && p->restarts < 2) {
			/* an expired or refused next token: walk again from what was handed over */
			p->restarts++;
			walk_reset(p);
			fetch_page(p);
		} else if (r->error == SL_HTTP_ESTATUS &&
		           (r->status == 401 || r->status == 403 || r->status == 404)) {
			collection_error(p);
		} else {
			pull_finish(p, &p->ferr, p->fra);
		}
		return;
	}
	objs = json_object_get(v, "objects");
	more = json_object_get(v, "more");
	next = json_object_get(v, "next");
	if ((objs && !json_is_array(objs)) || (more && !json_is_boolean(more)) ||
	    (next && !json_is_string(next))) {
		fail(p, SL_EINVAL, false, -1,
		     "%s: answer is not an envelope (objects list, more boolean, next string)",
		     req);
		json_decref(v);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	json_array_foreach(objs, i, o)
	{
		if (!json_is_object(o) || !json_is_string(json_object_get(o, "id")) ||
		    !json_is_string(json_object_get(o, "type"))) {
			fail(p, SL_EINVAL, false, -1,
			     "%s: objects[%zu] is not a STIX object (id and type)", req, i);
			json_decref(v);
			pull_finish(p, &p->ferr, -1);
			return;
		}
	}
	n = json_array_size(objs);
	is_more = json_is_true(more);
	if (n && last && ts_parse(last, &last_us) != 0) {
		fail(p, SL_EINVAL, false, -1,
		     "%s: X-TAXII-Date-Added-Last %.40s is not a timestamp", req, last);
		json_decref(v);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	p->page++;
	if (n && hand_over(p, coll, objs, last) < 0) {
		json_decref(v);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	/* more:true with nothing in the page is the end for now (objects deleted meanwhile) */
	if (!is_more || n == 0) {
		json_decref(v);
		next_collection(p);
		return;
	}
	if (next && *json_string_value(next)) {
		if (p->next && strcmp(p->next, json_string_value(next)) == 0) {
			fail(p, SL_EINVAL, false, -1,
			     "%s: the partner gave the same next token again", req);
			json_decref(v);
			pull_finish(p, &p->ferr, -1);
			return;
		}
		free(p->next);
		p->next = strdup(json_string_value(next));
		json_decref(v);
		if (!p->next) {
			sl_err_set(&p->ferr, SL_ENOMEM, p->cfg->name, "out of memory");
			pull_finish(p, &p->ferr, -1);
			return;
		}
		fetch_page(p);
		return;
	}
	/* more without next: page on with added_after just before the last date_added, so objects
	 * sharing it are read again rather than skipped (the ledger drops the repeats). */
	json_decref(v);
	if (!last) {
		fail(p, SL_EINVAL, false, -1,
		     "%s: more is true but the answer has neither next nor "
		     "X-TAXII-Date-Added-Last: cannot page on without losing objects",
		     req);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	if (p->have_after && last_us - 1 <= p->after_us) {
		/* the whole page shares one date_added: ask for a bigger page */
		if (n >= p->limit && p->limit < SL_PEER_TAXII_MAX_LIMIT) {
			p->limit = p->limit * 4 > SL_PEER_TAXII_MAX_LIMIT ? SL_PEER_TAXII_MAX_LIMIT
			                                                  : p->limit * 4;
			fetch_page(p);
			return;
		}
		fail(p, SL_ELIMIT, false, -1,
		     "%s: more than %zu objects share date_added %s and the partner gives no next "
		     "token: cannot page past them without losing some",
		     req, n, last);
		pull_finish(p, &p->ferr, -1);
		return;
	}
	p->have_after = true;
	p->after_us = last_us - 1;
	fetch_page(p);
}

static void pull_start(struct sl_peer *p)
{
	const struct sl_strlist *want = &p->cfg->collections;
	const json_t *c;
	size_t i;

	p->todo = json_array();
	if (!p->todo) {
		sl_err_set(&p->ferr, SL_ENOMEM, p->cfg->name, "out of memory");
		pull_finish(p, &p->ferr, -1);
		return;
	}
	if (want->n) {
		for (i = 0; i < want->n; i++) {
			c = coll_find(p, want->v[i]);
			if (!c) {
				if (!p->perr.code)
					sl_err_set(
					    &p->perr, SL_ENOTFOUND, p->cfg->name,
					    "collection %.80s is not listed at %scollections/ "
					    "(or not visible to these credentials)",
					    want->v[i], p->root);
			} else if (!json_is_true(json_object_get(c, "can_read"))) {
				if (!p->perr.code)
					sl_err_set(&p->perr, SL_EINVAL, p->cfg->name,
					           "collection %.80s is not readable (can_read is "
					           "false)",
					           want->v[i]);
			} else {
				json_array_append_new(p->todo, json_string(want->v[i]));
			}
		}
	} else {
		json_array_foreach(p->colls, i, c)
		{
			if (json_is_true(json_object_get(c, "can_read")))
				json_array_append(p->todo, json_object_get(c, "id"));
		}
	}
	p->ci = 0;
	pull_collection(p);
}

static int taxii_pull(struct sl_peer *p, const char *cursor, const struct sl_peer_pull_cb *cb,
                      struct sl_err *err)
{
	json_t *pos;

	if (p->pulling || p->pushing)
		return sl_err_set(err, SL_ECONFLICT, p->cfg->name,
		                  "a request is already in flight");
	if (cursor && *cursor) {
		struct sl_err jerr = {0};
		const char *k;
		json_t *v;
		int64_t us;

		pos = sl_json_parse(cursor, strlen(cursor), NULL, "cursor", &jerr);
		if (!json_is_object(pos)) {
			json_decref(pos);
			return sl_err_set(err, SL_EINVAL, p->cfg->name,
			                  "cursor \"%.40s\" is not a TAXII position "
			                  "({\"<collection>\": \"<timestamp>\"})",
			                  cursor);
		}
		json_object_foreach(pos, k, v)
		{
			if (ts_parse(json_string_value(v), &us) != 0) {
				json_decref(pos);
				return sl_err_set(err, SL_EINVAL, p->cfg->name,
				                  "cursor: collection %.60s has no timestamp", k);
			}
		}
	} else {
		pos = json_object();
	}
	if (!pos)
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	p->pos = pos;
	p->pcb = *cb;
	memset(&p->perr, 0, sizeof(p->perr));
	p->pulling = true;
	if (discover(p, pull_start) < 0) {
		p->pulling = false;
		json_decref(p->pos);
		p->pos = NULL;
		*err = p->ferr;
		return err->code ? err->code : SL_ENET;
	}
	return 0;
}

/* ---- push ------------------------------------------------------------------------------------ */

static void push_finish(struct sl_peer *p, enum sl_peer_push_result res)
{
	sl_peer_push_done done = p->pdone;
	void *arg = p->parg;
	struct sl_err e = p->ferr;
	json_t *rej = p->rejected;

	p->pushing = false;
	json_decref(p->objs);
	json_decref(p->dels);
	json_decref(p->chunks);
	p->objs = p->dels = p->chunks = p->rejected = NULL;
	if (res == SL_PEER_PUSH_SENT)
		memset(&e, 0, sizeof(e));
	done(arg, res, &e, res == SL_PEER_PUSH_SENT ? -1 : p->fra,
	     res == SL_PEER_PUSH_SENT && json_object_size(rej) ? rej : NULL);
	json_decref(rej);
}

static void push_fail(struct sl_peer *p)
{
	push_finish(p, p->fperm ? SL_PEER_PUSH_PERMANENT : SL_PEER_PUSH_RETRY);
}

static void reject(struct sl_peer *p, const char *id, const char *fmt, ...) SL_PRINTF(3, 4);

static void reject(struct sl_peer *p, const char *id, const char *fmt, ...)
{
	char m[SL_ERR_MSG_MAX];
	struct sl_err q = {0};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	sl_err_set(&q, SL_EINVAL, "", "%s", m); /* strips control characters */
	if (!json_object_get(p->rejected, id))
		json_object_set_new(p->rejected, id, json_string(q.msg));
}

static void post_chunk(struct sl_peer *p);
static void delete_next(struct sl_peer *p);

static void on_status(const struct sl_http_response *r, void *arg);

static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sl_peer *p = arg;
	char url[2300], esid[400];

	(void)fd;
	(void)what;
	enc(esid, sizeof(esid), p->status_id);
	snprintf(url, sizeof(url), "%sstatus/%s/", p->root, esid);
	if (start(p, "GET", url, NULL, on_status) < 0)
		push_fail(p);
}

/* A status resource (from the POST or a poll): note its failures, then go on or poll again. */
static void take_status(struct sl_peer *p, const char *req, json_t *v)
{
	const char *id = json_string_value(json_object_get(v, "id"));
	const char *st = json_string_value(json_object_get(v, "status"));
	const json_t *f;
	size_t i;

	if (!id || !st || strlen(id) >= sizeof(p->status_id) ||
	    (strcmp(st, "pending") != 0 && strcmp(st, "complete") != 0)) {
		fail(p, SL_EINVAL, false, -1,
		     "%s: answer is not a status resource (id, status pending|complete)", req);
		push_fail(p);
		return;
	}
	json_array_foreach(json_object_get(v, "failures"), i, f)
	{
		const char *oid = json_string_value(json_object_get(f, "id"));
		const char *ver = json_string_value(json_object_get(f, "version"));
		const char *msg = json_string_value(json_object_get(f, "message"));
		if (oid)
			reject(p, oid, "refused by %s (status %s%s%s): %.300s", p->cfg->name, id,
			       ver ? ", version " : "", ver ? ver : "",
			       msg ? msg : "no reason given");
	}
	if (strcmp(st, "complete") == 0) {
		p->chunk++;
		post_chunk(p);
		return;
	}
	snprintf(p->status_id, sizeof(p->status_id), "%s", id);
	p->polls++;
	if (p->polls > (p->base ? SL_PEER_TAXII_STATUS_POLLS : NO_LOOP_POLLS)) {
		fail(p, SL_ENET, false, -1,
		     "%s: status %s still pending after %u polls (%" JSON_INTEGER_FORMAT
		     " of %" JSON_INTEGER_FORMAT " objects pending)",
		     req, id, p->polls - 1, json_integer_value(json_object_get(v, "pending_count")),
		     json_integer_value(json_object_get(v, "total_count")));
		push_fail(p);
		return;
	}
	if (p->base) {
		unsigned ms = 50u << (p->polls - 1 < 6 ? p->polls - 1 : 6);
		struct timeval tv;
		if (ms > 2000)
			ms = 2000;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		if (!p->timer)
			p->timer = evtimer_new(p->base, on_poll_timer, p);
		if (p->timer && evtimer_add(p->timer, &tv) == 0)
			return;
	}
	on_poll_timer(-1, 0, p);
}

static void on_status(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	char req[2300];
	json_t *v;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "GET %sstatus/%s/", p->root, p->status_id);
	v = answer(p, req, r);
	if (!v) {
		p->fperm = false; /* the objects were accepted; asking again costs nothing */
		push_fail(p);
		return;
	}
	take_status(p, req, v);
	json_decref(v);
}

static void on_post(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	char req[2300];
	json_t *v;

	p->xfer = NULL;
	snprintf(req, sizeof(req), "POST %scollections/%s/objects/ (%zu objects)", p->root,
	         p->wcoll,
	         json_array_size(json_object_get(json_array_get(p->chunks, p->chunk), "objects")));
	v = answer(p, req, r);
	if (!v) {
		if (r->error == SL_HTTP_ESTATUS && (r->status == 403 || r->status == 404)) {
			/* the collection changed: list the collections again next time */
			json_decref(p->colls);
			p->colls = NULL;
			p->wcoll = NULL;
		}
		push_fail(p);
		return;
	}
	p->polls = 0;
	take_status(p, req, v);
	json_decref(v);
}

/* POST the current envelope; -1 with p->ferr filled when it cannot start. */
static int post_start(struct sl_peer *p)
{
	char ecoll[512], url[2300];
	char *body = json_dumps(json_array_get(p->chunks, p->chunk), JSON_COMPACT);
	int rc;

	if (!body || enc(ecoll, sizeof(ecoll), p->wcoll) != 0) {
		fail(p, body ? SL_ELIMIT : SL_ENOMEM, false, -1, "cannot build the POST");
		free(body);
		return -1;
	}
	snprintf(url, sizeof(url), "%scollections/%s/objects/", p->root, ecoll);
	rc = start(p, "POST", url, body, on_post);
	free(body);
	return rc;
}

static void post_chunk(struct sl_peer *p)
{
	if (p->chunk >= json_array_size(p->chunks)) {
		p->di = 0;
		delete_next(p);
		return;
	}
	if (post_start(p) < 0)
		push_fail(p);
}

/* "<type>--<uuid>" with a lower-case STIX type: safe to put in a path. */
static bool stix_id_ok(const char *id)
{
	const char *dd = strstr(id, "--");
	size_t tl, i;

	if (!dd || dd == id || strlen(dd + 2) != SL_UUID_STRLEN || !sl_stix_id_uuid_valid(dd + 2))
		return false;
	tl = (size_t)(dd - id);
	for (i = 0; i < tl; i++)
		if (!islower((unsigned char)id[i]) && !isdigit((unsigned char)id[i]) &&
		    id[i] != '-')
			return false;
	return true;
}

static void on_delete(const struct sl_http_response *r, void *arg)
{
	struct sl_peer *p = arg;
	const char *id = json_string_value(json_array_get(p->dels, p->di));
	char req[2300];

	p->xfer = NULL;
	snprintf(req, sizeof(req), "DELETE %scollections/%s/objects/%s/", p->root, p->wcoll, id);
	if (r->error == SL_HTTP_OK || (r->error == SL_HTTP_ESTATUS && r->status == 404)) {
		/* 404: not there (any more), which is what was asked */
		p->di++;
		delete_next(p);
		return;
	}
	if (r->error == SL_HTTP_ESTATUS &&
	    (r->status == 403 || r->status == 405 || r->status == 501)) {
		reject(p, id, "%s does not allow deleting objects in collection %s (http %d)",
		       p->cfg->name, p->wcoll, r->status);
		p->di++;
		delete_next(p);
		return;
	}
	fail_response(p, req, r);
	if (p->fperm) {
		reject(p, id, "delete refused: %s", p->ferr.msg);
		p->di++;
		delete_next(p);
		return;
	}
	push_fail(p);
}

static void delete_next(struct sl_peer *p)
{
	char ecoll[512], eid[256], url[2600];

	for (; p->di < json_array_size(p->dels); p->di++) {
		const char *id = json_string_value(json_array_get(p->dels, p->di));
		if (!id || !stix_id_ok(id)) {
			if (id)
				reject(p, id, "cannot delete %.80s: not a STIX id", id);
			continue;
		}
		if (!p->can_delete) {
			reject(p, id,
			       "%s does not allow deleting objects in collection %s (DELETE needs "
			       "can_read and can_write)",
			       p->cfg->name, p->wcoll);
			continue;
		}
		enc(ecoll, sizeof(ecoll), p->wcoll);
		enc(eid, sizeof(eid), id);
		snprintf(url, sizeof(url), "%scollections/%s/objects/%s/", p->root, ecoll, eid);
		if (start(p, "DELETE", url, NULL, on_delete) < 0)
			push_fail(p);
		return;
	}
	push_finish(p, SL_PEER_PUSH_SENT);
}

/* Envelopes of at most max_content_length bytes each (the partner answers 413 beyond). */
static int build_chunks(struct sl_peer *p)
{
	const size_t overhead = sizeof("{\"objects\":[]}");
	json_t *cur = NULL, *o;
	size_t i, used = 0;

	p->chunks = json_array();
	if (!p->chunks)
		return -1;
	json_array_foreach(p->objs, i, o)
	{
		char *s = json_dumps(o, JSON_COMPACT);
		size_t n;
		if (!s)
			return -1;
		n = strlen(s) + 1;
		free(s);
		if (p->max_post && n + overhead > (size_t)p->max_post) {
			const char *id = json_string_value(json_object_get(o, "id"));
			reject(p, id ? id : "?",
			       "object of %zu bytes is over %s's max_content_length %lld", n,
			       p->cfg->name, p->max_post);
			continue;
		}
		if (!cur || (p->max_post && used + n > (size_t)p->max_post)) {
			cur = json_pack("{s:[]}", "objects");
			if (!cur || json_array_append_new(p->chunks, cur) != 0)
				return -1;
			used = overhead;
		}
		json_array_append(json_object_get(cur, "objects"), o);
		used += n;
	}
	return 0;
}

/* Pick the collection to write to and cut the envelopes; -1 with p->ferr filled. */
static int push_prepare(struct sl_peer *p)
{
	const struct sl_strlist *want = &p->cfg->collections;
	const json_t *c = NULL, *x;
	size_t i;

	if (want->n) {
		for (i = 0; i < want->n && !c; i++) {
			x = coll_find(p, want->v[i]);
			if (x && json_is_true(json_object_get(x, "can_write")))
				c = x;
		}
	} else {
		json_array_foreach(p->colls, i, x)
		{
			if (!c && json_is_true(json_object_get(x, "can_write")))
				c = x;
		}
	}
	if (!c) {
		/* a configuration matter, not the objects' fault: they wait rather than park */
		fail(p, SL_EINVAL, false, -1,
		     "no writable collection at %scollections/%s (can_write is false or not "
		     "listed)",
		     p->root, want->n ? " among the configured ones" : "");
		return -1;
	}
	p->wcoll = json_string_value(json_object_get(c, "id"));
	p->can_delete = json_is_true(json_object_get(c, "can_read"));
	json_decref(p->chunks);
	p->chunks = NULL;
	if (build_chunks(p) != 0) {
		fail(p, SL_ENOMEM, false, -1, "out of memory");
		return -1;
	}
	p->chunk = 0;
	return 0;
}

/* After the collections were listed. */
static void push_start(struct sl_peer *p)
{
	if (push_prepare(p) < 0) {
		push_fail(p);
		return;
	}
	post_chunk(p);
}

static int taxii_push(struct sl_peer *p, const json_t *item, sl_peer_push_done done, void *arg,
                      struct sl_err *err)
{
	const json_t *objs = json_object_get(item, "objects");
	const json_t *dels = json_object_get(item, "x_sluice_delete");
	const json_t *x;
	size_t i;

	if (p->pulling || p->pushing)
		return sl_err_set(err, SL_ECONFLICT, p->cfg->name,
		                  "a request is already in flight");
	if (!json_is_object(item) || (objs && !json_is_array(objs)) ||
	    (dels && !json_is_array(dels)))
		return sl_err_set(err, SL_EINVAL, p->cfg->name,
		                  "item to push is not a bundle (objects list, x_sluice_delete "
		                  "list)");
	json_array_foreach(objs, i, x)
	{
		if (!json_is_object(x) || !json_is_string(json_object_get(x, "id")))
			return sl_err_set(err, SL_EINVAL, p->cfg->name,
			                  "bundle objects[%zu] has no id", i);
	}
	p->objs = objs ? json_deep_copy(objs) : json_array();
	p->dels = dels ? json_deep_copy(dels) : json_array();
	p->rejected = json_object();
	if (!p->objs || !p->dels || !p->rejected) {
		json_decref(p->objs);
		json_decref(p->dels);
		json_decref(p->rejected);
		p->objs = p->dels = p->rejected = NULL;
		return sl_err_set(err, SL_ENOMEM, p->cfg->name, "out of memory");
	}
	p->pdone = done;
	p->parg = arg;
	p->pushing = true;
	/* With the collections known (every pull lists them again), the POST goes out at once;
	 * otherwise, or with nothing to POST, they are listed first, so done is never called from
	 * inside push. */
	if (p->root && p->colls && push_prepare(p) == 0 && json_array_size(p->chunks) &&
	    post_start(p) == 0)
		return 0;
	if (discover(p, push_start) < 0) {
		p->pushing = false;
		json_decref(p->objs);
		json_decref(p->dels);
		json_decref(p->rejected);
		p->objs = p->dels = p->rejected = NULL;
		*err = p->ferr;
		return err->code ? err->code : SL_ENET;
	}
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static char *auth_header(const char *key)
{
	const char *pre = "Authorization: ";
	size_t kl = strlen(key), n;
	char *h;

	if (strncasecmp(key, "Bearer ", 7) == 0 || strncasecmp(key, "Token ", 6) == 0 ||
	    strncasecmp(key, "Basic ", 6) == 0) {
		n = strlen(pre) + kl + 1;
		h = malloc(n);
		if (h)
			snprintf(h, n, "%s%s", pre, key);
		return h;
	}
	if (strchr(key, ':')) {
		n = strlen(pre) + 6 + 4 * ((kl + 2) / 3) + 1;
		h = malloc(n);
		if (h) {
			int w = snprintf(h, n, "%sBasic ", pre);
			EVP_EncodeBlock((unsigned char *)h + w, (const unsigned char *)key,
			                (int)kl);
		}
		return h;
	}
	n = strlen(pre) + 7 + kl + 1;
	h = malloc(n);
	if (h)
		snprintf(h, n, "%sBearer %s", pre, key);
	return h;
}

static struct sl_peer *taxii_create(const struct sl_config_peer *cfg, struct sl_http_client *http,
                                    struct sl_err *err)
{
	struct sl_peer *p;

	if (!cfg->url || !strstr(cfg->url, "://")) {
		sl_err_set(err, SL_EINVAL, cfg->where, "peer %s: url is not an absolute URL",
		           cfg->name);
		return NULL;
	}
	if (cfg->api_key_configured && !cfg->api_key) {
		sl_err_set(err, SL_EINVAL, cfg->where, "peer %s: its API key could not be read",
		           cfg->name);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p && cfg->api_key && !(p->auth = auth_header(cfg->api_key))) {
		free(p);
		p = NULL;
	}
	if (!p) {
		sl_err_set(err, SL_ENOMEM, cfg->name, "out of memory");
		return NULL;
	}
	p->url = with_slash(cfg->url);
	if (!p->url) {
		free(p->auth);
		free(p);
		sl_err_set(err, SL_ENOMEM, cfg->name, "out of memory");
		return NULL;
	}
	p->cfg = cfg;
	p->http = http;
	p->fra = -1;
	return p;
}

void sl_peer_taxii_attach(struct sl_peer *p, struct event_base *base)
{
	if (p->pushing)
		return; /* a status poll may be waiting on the old timer */
	if (p->timer) {
		event_free(p->timer);
		p->timer = NULL;
	}
	p->base = base;
}

static void taxii_destroy(struct sl_peer *p)
{
	if (!p)
		return;
	if (p->xfer)
		sl_http_xfer_cancel(p->xfer);
	if (p->timer)
		event_free(p->timer);
	free(p->root);
	free(p->url);
	json_decref(p->colls);
	json_decref(p->pos);
	json_decref(p->todo);
	free(p->next);
	json_decref(p->objs);
	json_decref(p->dels);
	json_decref(p->chunks);
	json_decref(p->rejected);
	sl_peer_secret_free(p->auth);
	free(p);
}

static bool taxii_busy(const struct sl_peer *p)
{
	return p->pulling || p->pushing;
}

static const struct sl_peer_ops taxii_ops = {
    .kind = "taxii",
    .items = SL_PEER_ITEM_STIX,
    .create = taxii_create,
    .destroy = taxii_destroy,
    .pull = taxii_pull,
    .push = taxii_push,
    .busy = taxii_busy,
};

const struct sl_peer_ops *sl_peer_taxii_ops(void)
{
	return &taxii_ops;
}
