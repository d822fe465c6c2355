/* taxii_peer.c — an in-memory TAXII 2.1 server (discovery, api root, collections, objects with
 * added_after/limit/next/match, manifest, POST envelope + status, DELETE) on a loopback port, with
 * HTTP Basic auth and seeded faults; sluice's TAXII client is tested against it. See
 * docs/testing.md. */
#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>

#include "json.h"
#include "peer_http.h"

#define MEDIA "application/taxii+json;version=2.1"
#define TS_LEN 32
/* Loaded objects without a date_added get 2026-01-01T00:00:00Z plus one second per tie group. */
#define BASE_US (1767225600LL * 1000000LL)

struct rec {
	int64_t added;
	uint64_t seq;
	json_t *obj;
};

struct coll {
	char *id, *title;
	bool can_read, can_write;
	struct rec *recs; /* sorted by (added, seq) */
	size_t n, cap;
	json_t *deleted; /* ids deleted through the API */
	json_t *keys;    /* "id|version" of every record, to find duplicates fast */
};

struct tx {
	struct sl_peer *peer;
	char *basic;       /* the expected "Basic ..." value, NULL = no auth */
	const char *token; /* an accepted "Bearer ..." token, may be NULL */
	const char *root;
	struct coll *colls;
	size_t ncolls;
	json_t *statuses; /* id -> {"status": complete resource, "pending_left": n} */
	uint64_t seq;
	int64_t last_now;
	/* behaviour */
	unsigned page_size, tie_groups, pending_polls;
	long long max_content;
	bool no_next, no_delete, relative_roots;
	unsigned expire_next; /* refuse this many requests carrying a next token (400 expired) */
	const char *foreign_root; /* discovery names this api root URL instead of its own */
	int refuse_post;
	const char *reject_type;
	/* counters */
	unsigned long posts, status_polls, deletes, pages;
};

/* ---- time ---- */

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
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++) {
			frac += scale * (*p - '0');
			scale /= 10;
		}
	if (*p != 'Z' || p[1] || tm.tm_mon < 1 || tm.tm_mon > 12)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return 0;
}

static void ts_format(int64_t us, char out[TS_LEN])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, TS_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

static int64_t now_us(struct tx *t)
{
	struct timespec ts;
	int64_t v;

	clock_gettime(CLOCK_REALTIME, &ts);
	v = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if (v <= t->last_now)
		v = t->last_now + 1;
	t->last_now = v;
	return v;
}

/* ---- replies ---- */

static void reply(struct tx *t, struct evhttp_request *req, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	sl_peer_reply_text(t->peer, req, status, MEDIA, s ? s : "{}", s ? strlen(s) : 2);
	free(s);
	json_decref(body);
}

static json_t *taxii_error(int status, const char *title, const char *desc)
{
	char hs[8];
	snprintf(hs, sizeof(hs), "%d", status);
	return json_pack("{s:s,s:s,s:s}", "title", title, "http_status", hs, "description",
	                 desc ? desc : title);
}

static void reply_error(struct tx *t, struct evhttp_request *req, int status, const char *title,
                        const char *desc)
{
	reply(t, req, status, taxii_error(status, title, desc));
}

static json_t *error_body(int status, const char *path, void *ctx)
{
	(void)ctx;
	return taxii_error(status, status == 401 ? "Unauthorized" : "ProcessingError", path);
}

/* ---- store ---- */

static const char *version_of(const json_t *o)
{
	const char *v = json_string_value(json_object_get(o, "modified"));
	if (!v)
		v = json_string_value(json_object_get(o, "created"));
	return v ? v : "";
}

static const char *id_of(const json_t *o)
{
	const char *v = json_string_value(json_object_get(o, "id"));
	return v ? v : "";
}

static struct coll *coll_find(struct tx *t, const char *id)
{
	for (size_t i = 0; i < t->ncolls; i++)
		if (strcmp(t->colls[i].id, id) == 0)
			return &t->colls[i];
	return NULL;
}

static void rec_key(const json_t *o, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s|%s", id_of(o), version_of(o));
}

static void store(struct tx *t, struct coll *c, int64_t added, json_t *obj)
{
	size_t at;
	char key[512];

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->recs = realloc(c->recs, c->cap * sizeof(*c->recs));
		if (!c->recs)
			abort(); /* a test tool: out of memory ends it */
	}
	for (at = c->n; at > 0 && c->recs[at - 1].added > added; at--)
		;
	memmove(&c->recs[at + 1], &c->recs[at], (c->n - at) * sizeof(*c->recs));
	c->recs[at].added = added;
	c->recs[at].seq = ++t->seq;
	c->recs[at].obj = json_incref(obj);
	c->n++;
	rec_key(obj, key, sizeof(key));
	json_object_set_new(c->keys, key, json_true());
}

static bool has_version(const struct coll *c, const json_t *obj)
{
	char key[512];
	rec_key(obj, key, sizeof(key));
	return json_object_get(c->keys, key) != NULL;
}

/* ---- queries ---- */

static bool in_list(const char *list, const char *v)
{
	size_t n = strlen(v);
	const char *p = list;

	while (p && *p) {
		size_t l = strcspn(p, ",");
		if (l == n && strncmp(p, v, n) == 0)
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Query parameter name, with keys decoded too (clients send match%5Bid%5D, as RFC 3986 wants);
 * malloc'd, or NULL when absent. */
static char *query_get(struct evhttp_request *req, const char *name)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	char *out = NULL;

	while (q && *q && !out) {
		size_t l = strcspn(q, "&");
		char *pair = strndup(q, l), *eq = pair ? strchr(pair, '=') : NULL, *k;
		if (eq) {
			*eq = '\0';
			k = evhttp_uridecode(pair, 1, NULL);
			if (k && strcmp(k, name) == 0)
				out = evhttp_uridecode(eq + 1, 1, NULL);
			free(k);
		}
		free(pair);
		q += l;
		if (*q == '&')
			q++;
	}
	return out;
}

struct query {
	char *ids, *types, *versions, *next, *after_s, *limit_s;
	int64_t after;
	bool has_after;
	int64_t next_added;
	uint64_t next_seq;
	bool has_next;
	unsigned limit;
};

static void query_free(struct query *q)
{
	free(q->ids);
	free(q->types);
	free(q->versions);
	free(q->next);
	free(q->after_s);
	free(q->limit_s);
}

/* Parse the filters; a message in err (and -1) for a malformed one (400). */
static int query_parse(struct tx *t, struct evhttp_request *req, struct query *q, char *err,
                       size_t errsz)
{
	memset(q, 0, sizeof(*q));
	q->ids = query_get(req, "match[id]");
	q->types = query_get(req, "match[type]");
	q->versions = query_get(req, "match[version]");
	q->next = query_get(req, "next");
	q->after_s = query_get(req, "added_after");
	q->limit_s = query_get(req, "limit");
	q->limit = t->page_size;
	if (q->after_s) {
		if (ts_parse(q->after_s, &q->after) != 0) {
			snprintf(err, errsz, "added_after is not a timestamp");
			return -1;
		}
		q->has_after = true;
	}
	if (q->limit_s) {
		char *end;
		long l = strtol(q->limit_s, &end, 10);
		if (*end || l <= 0) {
			snprintf(err, errsz, "limit must be a positive integer");
			return -1;
		}
		if ((unsigned long)l < q->limit)
			q->limit = (unsigned)l;
	}
	if (q->next) {
		long long a;
		unsigned long long s;
		char tail;
		if (sscanf(q->next, "%lld.%llu%c", &a, &s, &tail) != 2) {
			snprintf(err, errsz, "next is not a token of this server");
			return -1;
		}
		q->next_added = a;
		q->next_seq = s;
		q->has_next = true;
	}
	return 0;
}

/* id -> [first version, last version] among the records matching the id/type filters. */
static json_t *version_bounds(const struct coll *c, const struct query *q)
{
	json_t *m = json_object();

	for (size_t i = 0; i < c->n; i++) {
		const json_t *o = c->recs[i].obj;
		const char *id = id_of(o), *v = version_of(o);
		json_t *b = json_object_get(m, id);
		if (q->ids && !in_list(q->ids, id))
			continue;
		if (!b) {
			json_object_set_new(m, id, json_pack("[s,s]", v, v));
			continue;
		}
		if (strcmp(v, json_string_value(json_array_get(b, 0))) < 0)
			json_array_set_new(b, 0, json_string(v));
		if (strcmp(v, json_string_value(json_array_get(b, 1))) > 0)
			json_array_set_new(b, 1, json_string(v));
	}
	return m;
}

static bool pick_version(const struct rec *r, const struct query *q, const json_t *bounds)
{
	const char *vs = q->versions ? q->versions : "last";
	const char *v = version_of(r->obj);
	const json_t *b = json_object_get(bounds, id_of(r->obj));

	if (in_list(vs, "all") || in_list(vs, v))
		return true;
	return (in_list(vs, "first") && strcmp(v, json_string_value(json_array_get(b, 0))) == 0) ||
	       (in_list(vs, "last") && strcmp(v, json_string_value(json_array_get(b, 1))) == 0);
}

/* The records a query selects, in order; *more when there were more than the page. */
static size_t select_page(const struct coll *c, const struct query *q, const char *only_id,
                          const struct rec **out, bool *more)
{
	size_t n = 0;
	json_t *bounds = q->versions && in_list(q->versions, "all") ? NULL : version_bounds(c, q);

	*more = false;
	for (size_t i = 0; i < c->n; i++) {
		const struct rec *r = &c->recs[i];
		const json_t *o = r->obj;
		if (only_id && strcmp(id_of(o), only_id) != 0)
			continue;
		if (q->ids && !in_list(q->ids, id_of(o)))
			continue;
		if (q->types &&
		    !in_list(q->types, json_string_value(json_object_get(o, "type"))
		                           ? json_string_value(json_object_get(o, "type"))
		                           : ""))
			continue;
		if (q->has_after && r->added <= q->after)
			continue;
		if (q->has_next && (r->added < q->next_added ||
		                    (r->added == q->next_added && r->seq <= q->next_seq)))
			continue;
		if (!pick_version(r, q, bounds))
			continue;
		if (n == q->limit) {
			*more = true;
			break;
		}
		out[n++] = r;
	}
	json_decref(bounds);
	return n;
}

static void date_headers(struct evhttp_request *req, const struct rec **page, size_t n)
{
	char a[TS_LEN], b[TS_LEN];
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (!n)
		return;
	ts_format(page[0]->added, a);
	ts_format(page[n - 1]->added, b);
	evhttp_add_header(h, "X-TAXII-Date-Added-First", a);
	evhttp_add_header(h, "X-TAXII-Date-Added-Last", b);
}

static void h_objects(struct tx *t, struct evhttp_request *req, struct coll *c, const char *only_id,
                      bool manifest)
{
	struct query q;
	char err[128];
	const struct rec **page;
	json_t *env, *list;
	bool more;
	size_t n;

	if (query_parse(t, req, &q, err, sizeof(err)) != 0) {
		query_free(&q);
		reply_error(t, req, 400, "ProcessingError", err);
		return;
	}
	if (q.has_next && t->expire_next) {
		/* as medallion's 30 s sessions do */
		t->expire_next--;
		query_free(&q);
		reply_error(t, req, 400, "ProcessingError", "next token expired");
		return;
	}
	page = calloc(q.limit + 1, sizeof(*page));
	n = select_page(c, &q, only_id, page, &more);
	t->pages++;
	if (only_id && n == 0 && !q.has_next) {
		free(page);
		query_free(&q);
		reply_error(t, req, 404, "ProcessingError", "object not found");
		return;
	}
	env = json_object();
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		if (manifest) {
			char ts[TS_LEN];
			ts_format(page[i]->added, ts);
			json_array_append_new(
			    list, json_pack("{s:s,s:s,s:s,s:s}", "id", id_of(page[i]->obj),
			                    "date_added", ts, "version", version_of(page[i]->obj),
			                    "media_type", "application/stix+json;version=2.1"));
		} else {
			json_array_append(list, page[i]->obj);
		}
	}
	if (n) {
		json_object_set_new(env, "more", json_boolean(more));
		json_object_set_new(env, manifest ? "objects" : "objects", list);
	} else {
		json_decref(list);
	}
	if (more && !t->no_next) {
		char tok[64];
		snprintf(tok, sizeof(tok), "%lld.%llu", (long long)page[n - 1]->added,
		         (unsigned long long)page[n - 1]->seq);
		json_object_set_new(env, "next", json_string(tok));
	}
	date_headers(req, page, n);
	free(page);
	query_free(&q);
	reply(t, req, 200, env);
}

static json_t *status_view(json_t *st, bool pending)
{
	json_t *v = json_deep_copy(st);
	if (pending) {
		json_t *succ = json_object_get(v, "successes");
		json_object_set_new(v, "status", json_string("pending"));
		json_object_set(v, "pendings", succ ? succ : json_array());
		json_object_set_new(v, "pending_count",
		                    json_integer((json_int_t)json_array_size(succ)));
		json_object_set_new(v, "success_count", json_integer(0));
		json_object_del(v, "successes");
		if (!json_array_size(json_object_get(v, "pendings")))
			json_object_del(v, "pendings");
	}
	return v;
}

static bool is_taxii_type(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/taxii+json", 22) != 0)
		return false;
	ct += 22;
	return !*ct || !strstr(ct, "version=") || strstr(ct, "version=2.1");
}

static void h_post(struct tx *t, struct evhttp_request *req, struct coll *c)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char msg[256], sid[37], ts[TS_LEN];
	json_t *env, *objs, *o, *succ, *fails, *st;
	size_t i;
	int64_t added;

	if (!is_taxii_type(ct)) {
		reply_error(t, req, 415, "UnsupportedMediaType", "POST needs " MEDIA);
		return;
	}
	if (!c->can_write) {
		reply_error(t, req, 403, "Forbidden", "collection is not writable");
		return;
	}
	if (t->max_content && (long long)evbuffer_get_length(in) > t->max_content) {
		reply_error(t, req, 413, "RequestEntityTooLarge", "over max_content_length");
		return;
	}
	if (t->refuse_post) {
		reply_error(t, req, t->refuse_post, "ProcessingError",
		            "this server refuses every POST (--refuse-post)");
		return;
	}
	env = sl_peer_body_json(t->peer, req, msg, sizeof(msg));
	objs = json_object_get(env, "objects");
	if (!json_is_object(env) || !json_is_array(objs)) {
		json_decref(env);
		reply_error(t, req, 400, "ProcessingError", "body is not an envelope with objects");
		return;
	}
	t->posts++;
	added = now_us(t);
	succ = json_array();
	fails = json_array();
	json_array_foreach(objs, i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *type = json_string_value(json_object_get(o, "type"));
		const char *sv = json_string_value(json_object_get(o, "spec_version"));
		const char *why = NULL;
		char buf[160];
		if (!json_is_object(o) || !id || !type)
			why = "object has no id or type";
		else if (sv && strcmp(sv, "2.1") != 0)
			why = "only spec_version 2.1 is accepted";
		else if (t->reject_type && strcmp(type, t->reject_type) == 0) {
			snprintf(buf, sizeof(buf), "type %s does not belong in this collection",
			         type);
			why = buf;
		}
		if (why) {
			json_array_append_new(fails,
			                      json_pack("{s:s,s:s,s:s}", "id", id ? id : "",
			                                "version", version_of(o), "message", why));
			continue;
		}
		if (!has_version(c, o))
			store(t, c, added, o);
		json_array_append_new(succ,
		                      json_pack("{s:s,s:s}", "id", id, "version", version_of(o)));
	}
	json_decref(env);
	sl_peer_uuid4(t->peer, sid);
	ts_format(added, ts);
	st = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", sid, "status", "complete",
	               "request_timestamp", ts, "total_count",
	               (json_int_t)(json_array_size(succ) + json_array_size(fails)),
	               "success_count", (json_int_t)json_array_size(succ), "failure_count",
	               (json_int_t)json_array_size(fails), "pending_count", (json_int_t)0);
	if (json_array_size(succ))
		json_object_set(st, "successes", succ);
	if (json_array_size(fails))
		json_object_set(st, "failures", fails);
	json_decref(succ);
	json_decref(fails);
	json_object_set_new(t->statuses, sid,
	                    json_pack("{s:O,s:i}", "status", st, "left", (int)t->pending_polls));
	reply(t, req, 202, status_view(st, t->pending_polls > 0));
	json_decref(st);
}

static void h_status(struct tx *t, struct evhttp_request *req, const char *sid)
{
	json_t *e = json_object_get(t->statuses, sid);
	int left;

	t->status_polls++;
	if (!e) {
		reply_error(t, req, 404, "ProcessingError", "status not found");
		return;
	}
	left = (int)json_integer_value(json_object_get(e, "left"));
	/* the POST answer was the first pending view */
	if (left > 0)
		json_object_set_new(e, "left", json_integer(left - 1));
	reply(t, req, 200, status_view(json_object_get(e, "status"), left - 1 > 0));
}

static void h_delete(struct tx *t, struct evhttp_request *req, struct coll *c, const char *id)
{
	size_t i, o = 0, n0 = c->n;

	if (t->no_delete) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		reply_error(t, req, 405, "MethodNotAllowed", "this server does not delete objects");
		return;
	}
	if (!c->can_read || !c->can_write) {
		reply_error(t, req, 403, "Forbidden", "DELETE needs can_read and can_write");
		return;
	}
	for (i = 0; i < c->n; i++) {
		if (strcmp(id_of(c->recs[i].obj), id) == 0) {
			char key[512];
			rec_key(c->recs[i].obj, key, sizeof(key));
			json_object_del(c->keys, key);
			json_decref(c->recs[i].obj);
		} else
			c->recs[o++] = c->recs[i];
	}
	c->n = o;
	if (o == n0) {
		reply_error(t, req, 404, "ProcessingError", "object not found");
		return;
	}
	t->deletes++;
	json_array_append_new(c->deleted, json_string(id));
	sl_peer_reply_text(t->peer, req, 200, MEDIA, "", 0);
}

static json_t *coll_json(const struct coll *c)
{
	return json_pack("{s:s,s:s,s:b,s:b,s:[s]}", "id", c->id, "title", c->title, "can_read",
	                 c->can_read, "can_write", c->can_write, "media_types",
	                 "application/stix+json;version=2.1");
}

/* ---- dispatch ---- */

static bool authorised(struct tx *t, struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

	if (!t->basic && !t->token)
		return true;
	if (!a)
		return false;
	if (t->basic && strcmp(a, t->basic) == 0)
		return true;
	return t->token && strncmp(a, "Bearer ", 7) == 0 && strcmp(a + 7, t->token) == 0;
}

static bool accept_ok(struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	if (!a || strstr(a, "*/*") || strstr(a, "application/*"))
		return true;
	return is_taxii_type(strstr(a, "application/taxii+json"));
}

static void test_add(struct tx *t, struct evhttp_request *req);

static void handle(struct sl_peer *p, struct evhttp_request *req, const char *path, void *ctx)
{
	struct tx *t = ctx;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	size_t rl = strlen(t->root);
	char rest[1024], a[512], b[512];
	struct coll *c;
	int n;

	(void)p;
	if (strncmp(path, "/_test/", 7) == 0) {
		if (strcmp(path, "/_test/add") == 0 && cmd == EVHTTP_REQ_POST) {
			test_add(t, req);
		} else if (strcmp(path, "/_test/count") == 0) {
			/* object versions held, all collections (the dump builds them all) */
			json_int_t held = 0;
			for (size_t i = 0; i < t->ncolls; i++)
				held += (json_int_t)t->colls[i].n;
			sl_peer_reply_json(p, req, 200, json_pack("{s:I}", "count", held));
		} else
			reply_error(t, req, 404, "NotFound", "no such test endpoint");
		return;
	}
	if (!authorised(t, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Basic realm=\"taxii-peer\"");
		reply_error(t, req, 401, "Unauthorized", "credentials refused");
		return;
	}
	if (!accept_ok(req)) {
		reply_error(t, req, 406, "NotAcceptable", "Accept must include " MEDIA);
		return;
	}
	if (strcmp(path, "/taxii2/") == 0) {
		char def[256];
		if (t->foreign_root)
			snprintf(def, sizeof(def), "%s", t->foreign_root);
		else if (t->relative_roots)
			snprintf(def, sizeof(def), "/%s/", t->root);
		else
			snprintf(def, sizeof(def), "http://127.0.0.1:%d/%s/", sl_peer_port(t->peer),
			         t->root);
		reply(t, req, 200,
		      json_pack("{s:s,s:s,s:s,s:[s]}", "title", "taxii-peer", "description",
		                "sluice's TAXII 2.1 test server", "default", def, "api_roots",
		                def));
		return;
	}
	if (path[0] != '/' || strncmp(path + 1, t->root, rl) != 0 || path[rl + 1] != '/') {
		reply_error(t, req, 404, "NotFound", "unknown api root");
		return;
	}
	snprintf(rest, sizeof(rest), "%s", path + rl + 2);
	if (!*rest) {
		json_t *r =
		    json_pack("{s:s,s:[s]}", "title", "taxii-peer api root", "versions", MEDIA);
		if (t->max_content)
			json_object_set_new(r, "max_content_length",
			                    json_integer((json_int_t)t->max_content));
		reply(t, req, 200, r);
		return;
	}
	if (strcmp(rest, "collections/") == 0) {
		json_t *l = json_array();
		for (size_t i = 0; i < t->ncolls; i++)
			json_array_append_new(l, coll_json(&t->colls[i]));
		reply(t, req, 200, json_pack("{s:o}", "collections", l));
		return;
	}
	n = 0;
	if (sscanf(rest, "status/%500[^/]/%n", a, &n) == 1 && n && !rest[n]) {
		h_status(t, req, a);
		return;
	}
	n = 0;
	if (sscanf(rest, "collections/%500[^/]/%n", a, &n) != 1 || !n) {
		reply_error(t, req, 404, "NotFound", "unknown endpoint");
		return;
	}
	c = coll_find(t, a);
	if (!c) {
		reply_error(t, req, 404, "ProcessingError", "collection not found");
		return;
	}
	memmove(rest, rest + n, strlen(rest + n) + 1);
	if (!*rest) {
		reply(t, req, 200, coll_json(c));
		return;
	}
	if (strcmp(rest, "objects/") == 0 && cmd == EVHTTP_REQ_POST) {
		h_post(t, req, c);
		return;
	}
	n = 0;
	if (strcmp(rest, "objects/") != 0 && strcmp(rest, "manifest/") != 0 &&
	    !(sscanf(rest, "objects/%500[^/]/%n", b, &n) == 1 && n && !rest[n])) {
		reply_error(t, req, 404, "NotFound", "unknown endpoint");
		return;
	}
	if (n && cmd == EVHTTP_REQ_DELETE) {
		h_delete(t, req, c, b);
		return;
	}
	if (!c->can_read) {
		reply_error(t, req, 403, "Forbidden", "collection is not readable");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		reply_error(t, req, 405, "MethodNotAllowed", "method not allowed here");
		return;
	}
	h_objects(t, req, c, n ? b : NULL, strcmp(rest, "manifest/") == 0);
}

static json_t *dump(void *ctx)
{
	struct tx *t = ctx;
	json_t *cs = json_object();

	for (size_t i = 0; i < t->ncolls; i++) {
		struct coll *c = &t->colls[i];
		json_t *l = json_array();
		for (size_t k = 0; k < c->n; k++) {
			char ts[TS_LEN];
			ts_format(c->recs[k].added, ts);
			json_array_append_new(
			    l, json_pack("{s:s,s:O}", "date_added", ts, "object", c->recs[k].obj));
		}
		json_object_set_new(cs, c->id,
		                    json_pack("{s:o,s:O}", "objects", l, "deleted", c->deleted));
	}
	return json_pack("{s:o,s:I,s:I,s:I,s:I}", "collections", cs, "posts", (json_int_t)t->posts,
	                 "status_polls", (json_int_t)t->status_polls, "deletes",
	                 (json_int_t)t->deletes, "pages", (json_int_t)t->pages);
}

/* ---- loading ---- */

/* Objects into c: a STIX object, or {"date_added": ts, "object": {...}}; others get BASE_US plus
 * one second per tie group of their index. */
static int load_objects(struct tx *t, struct coll *c, const json_t *list, int64_t dflt, char *err,
                        size_t errsz)
{
	const json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
	{
		const json_t *obj = json_object_get(e, "object");
		int64_t added = dflt >= 0 ? dflt : BASE_US + (int64_t)(i / t->tie_groups) * 1000000;
		if (json_is_object(obj)) {
			if (json_object_get(e, "date_added") &&
			    ts_parse(json_string_value(json_object_get(e, "date_added")), &added)) {
				snprintf(err, errsz, "collection %s: objects[%zu]: bad date_added",
				         c->id, i);
				return -1;
			}
		} else {
			obj = e;
		}
		if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "id"))) {
			snprintf(err, errsz, "collection %s: objects[%zu] has no id", c->id, i);
			return -1;
		}
		store(t, c, added, (json_t *)obj);
	}
	return 0;
}

static int load(struct tx *t, const char *path, char *err, size_t errsz)
{
	struct sl_err e = {0};
	char *buf = NULL;
	size_t len = 0;
	json_t *doc, *cl, *x;
	size_t i;

	if (sl_json_slurp(path, 256u << 20, &buf, &len, &e) != 0 ||
	    !(doc = sl_json_parse(buf, len, NULL, path, &e))) {
		snprintf(err, errsz, "%s: %s", path, e.msg);
		free(buf);
		return -1;
	}
	free(buf);
	cl = json_object_get(doc, "collections");
	if (!json_is_array(cl)) {
		snprintf(err, errsz, "%s: no \"collections\" list", path);
		json_decref(doc);
		return -1;
	}
	t->colls = calloc(json_array_size(cl) + 1, sizeof(*t->colls));
	json_array_foreach(cl, i, x)
	{
		struct coll *c = &t->colls[t->ncolls];
		const char *id = json_string_value(json_object_get(x, "id"));
		if (!id || coll_find(t, id)) {
			snprintf(err, errsz, "%s: collections[%zu]: missing or repeated id", path,
			         i);
			json_decref(doc);
			return -1;
		}
		c->id = strdup(id);
		c->title = strdup(json_string_value(json_object_get(x, "title"))
		                      ? json_string_value(json_object_get(x, "title"))
		                      : id);
		c->can_read = !json_is_false(json_object_get(x, "can_read"));
		c->can_write = json_is_true(json_object_get(x, "can_write"));
		c->deleted = json_array();
		c->keys = json_object();
		t->ncolls++;
		if (load_objects(t, c, json_object_get(x, "objects"), -1, err, errsz) != 0) {
			json_decref(doc);
			return -1;
		}
	}
	json_decref(doc);
	return 0;
}

/* POST /_test/add {"collection": id, "date_added": ts (default now), "objects": [...]}. */
static void test_add(struct tx *t, struct evhttp_request *req)
{
	char msg[256];
	json_t *b = sl_peer_body_json(t->peer, req, msg, sizeof(msg));
	struct coll *c = coll_find(t, json_string_value(json_object_get(b, "collection"))
	                                  ? json_string_value(json_object_get(b, "collection"))
	                                  : "");
	int64_t added;

	if (!c || !json_is_array(json_object_get(b, "objects"))) {
		json_decref(b);
		reply_error(t, req, 400, "ProcessingError", "need collection and objects");
		return;
	}
	if (!json_object_get(b, "date_added"))
		added = now_us(t);
	else if (ts_parse(json_string_value(json_object_get(b, "date_added")), &added) != 0) {
		json_decref(b);
		reply_error(t, req, 400, "ProcessingError", "bad date_added");
		return;
	}
	if (load_objects(t, c, json_object_get(b, "objects"), added, msg, sizeof(msg)) != 0) {
		json_decref(b);
		reply_error(t, req, 400, "ProcessingError", msg);
		return;
	}
	json_decref(b);
	reply(t, req, 200, json_pack("{s:I}", "count", (json_int_t)c->n));
}

/* ---- main ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static char *basic_of(const char *user, const char *pw)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(user) + 1 + strlen(pw), o = 6, i;
	char *in = malloc(n + 1), *out = malloc(6 + 4 * ((n + 2) / 3) + 1);

	snprintf(in, n + 1, "%s:%s", user, pw);
	memcpy(out, "Basic ", 6);
	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	free(in);
	return out;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: taxii-peer [--port N] [--data FILE] [--user U --password P] [--token T]\n"
	        "                  [--no-auth] [--api-root NAME] [--page-size N] [--tie-groups N]\n"
	        "                  [--no-next] [--expire-next N] [--pending-polls N]\n"
	        "                  [--max-content-length BYTES]\n"
	        "                  [--no-delete] [--refuse-post STATUS] [--reject-type TYPE]\n"
	        "                  [--relative-roots] [--foreign-root URL] [--seed-rng N]\n"
	        "                  [--fault KIND[:RATE]]\n"
	        "                  [--max-body BYTES] [--slow-ms MS] [--slow-bytes N]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"port", required_argument, NULL, 'p'},
	                                   {"data", required_argument, NULL, 'd'},
	                                   {"user", required_argument, NULL, 'u'},
	                                   {"password", required_argument, NULL, 'P'},
	                                   {"token", required_argument, NULL, 'T'},
	                                   {"no-auth", no_argument, NULL, 'A'},
	                                   {"api-root", required_argument, NULL, 'R'},
	                                   {"page-size", required_argument, NULL, 'g'},
	                                   {"tie-groups", required_argument, NULL, 't'},
	                                   {"no-next", no_argument, NULL, 'N'},
	                                   {"expire-next", required_argument, NULL, 'X'},
	                                   {"foreign-root", required_argument, NULL, 'O'},
	                                   {"pending-polls", required_argument, NULL, 'q'},
	                                   {"max-content-length", required_argument, NULL, 'm'},
	                                   {"no-delete", no_argument, NULL, 'D'},
	                                   {"refuse-post", required_argument, NULL, 'F'},
	                                   {"reject-type", required_argument, NULL, 'j'},
	                                   {"relative-roots", no_argument, NULL, 'L'},
	                                   {"seed-rng", required_argument, NULL, 'r'},
	                                   {"fault", required_argument, NULL, 'f'},
	                                   {"max-body", required_argument, NULL, 'b'},
	                                   {"slow-ms", required_argument, NULL, 'w'},
	                                   {"slow-bytes", required_argument, NULL, 'c'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	static const struct sl_peer_ops ops = {handle, error_body, dump, NULL};
	struct tx t = {0};
	struct sl_peer_opts o = {0};
	const char *data = NULL, *user = "sluice", *pw = "sluiceTaxiiPw0";
	bool no_auth = false;
	int port = 0, c, rc = 0;
	char err[512];
	struct event_base *base;
	struct event *sigint = NULL, *sigterm = NULL;

	t.root = "api1";
	t.page_size = 100;
	t.tie_groups = 1;
	o.rng_seed = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'd':
			data = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'P':
			pw = optarg;
			break;
		case 'T':
			t.token = optarg;
			break;
		case 'A':
			no_auth = true;
			break;
		case 'R':
			t.root = optarg;
			break;
		case 'g':
			t.page_size = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			t.tie_groups = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'N':
			t.no_next = true;
			break;
		case 'X':
			t.expire_next = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'O':
			t.foreign_root = optarg;
			break;
		case 'q':
			t.pending_polls = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			t.max_content = strtoll(optarg, NULL, 10);
			break;
		case 'D':
			t.no_delete = true;
			break;
		case 'F':
			t.refuse_post = atoi(optarg);
			break;
		case 'j':
			t.reject_type = optarg;
			break;
		case 'L':
			t.relative_roots = true;
			break;
		case 'r':
			o.rng_seed = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			o.fault = optarg;
			break;
		case 'b':
			o.max_body = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o.slow_ms = atoi(optarg);
			break;
		case 'c':
			o.slow_bytes = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (!t.page_size || !t.tie_groups || strchr(t.root, '/')) {
		usage();
		return 2;
	}
	if (!no_auth)
		t.basic = basic_of(user, pw);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	t.statuses = json_object();
	t.peer = sl_peer_new(base, port, &ops, &t, &o, err, sizeof(err));
	if (!t.peer) {
		fprintf(stderr, "taxii-peer: %s\n", err);
		rc = 1;
		goto out;
	}
	if (data && load(&t, data, err, sizeof(err)) != 0) {
		fprintf(stderr, "taxii-peer: --data: %s\n", err);
		rc = 1;
		goto out;
	}
	printf("LISTEN http://127.0.0.1:%d\n", sl_peer_port(t.peer));
	fflush(stdout);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);
out:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	sl_peer_free(t.peer);
	for (size_t i = 0; i < t.ncolls; i++) {
		for (size_t k = 0; k < t.colls[i].n; k++)
			json_decref(t.colls[i].recs[k].obj);
		free(t.colls[i].recs);
		free(t.colls[i].id);
		free(t.colls[i].title);
		json_decref(t.colls[i].deleted);
		json_decref(t.colls[i].keys);
	}
	free(t.colls);
	free(t.basic);
	json_decref(t.statuses);
	event_base_free(base);
	return rc;
}
