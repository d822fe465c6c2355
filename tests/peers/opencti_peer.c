/* opencti_peer.c — an in-memory OpenCTI: POST /graphql (connectors, stixBundlePush, reads),
 * OpenCTI's deterministic ids and upserts, and the live stream GET /stream (SSE) with resume and
 * recover. Seeded faults as in misp-peer. See docs/testing.md. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include <openssl/evp.h>

#include "gql.h"
#include "json.h"
#include "octi_id.h"
#include "peer_http.h"

#define OCTI_VERSION "6.8.10"
#define EXT_CORE "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"
#define EXT_SCO "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82"
#define ADMIN_ID "88ec0c6a-13ce-5e39-b486-354fe4a7084f"
#define LIVE_STREAM_ID "a9f3a8a0-6b0e-4a43-9d3c-1c5e0f5c0001"
#define MAX_USERS 8
#define MAX_CLIENTS 64

struct user {
	const char *token;
	const char *id;
	const char *name;
};

struct sse_event {
	long long ms;
	long seq;
	char *event; /* create | update | delete */
	char *data;  /* the JSON envelope */
};

struct client {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	long long last_ms;
	long last_seq;
	int listen_delete;
	struct client *next;
	struct octi *o;
};

struct push {
	json_t *bundle;
	char *user_id, *applicant_id, *work_id;
	long long due_ms;
	struct push *next;
};

struct octi {
	struct sl_peer *peer;
	struct event_base *base;
	struct user users[MAX_USERS];
	int nusers;
	json_t *records; /* internal_id -> record */
	json_t *index;   /* any id or hash -> internal_id */
	json_t *order;   /* internal_ids in creation order */
	json_t *deliveries, *connectors, *works, *import_errors;
	size_t max_objects, max_bundle_objects;
	int user_confidence;
	/* the stream */
	struct sse_event *ring;
	size_t ring_cap, ring_start, ring_len;
	long long last_ms;
	long last_seq;
	struct client *clients;
	int nclients;
	struct event *heartbeat;
	int heartbeat_ms;
	/* stixBundlePush is queued, like OpenCTI's workers, and applied apply_delay_ms later */
	struct push *queue, *queue_tail;
	struct event *apply_timer;
	int apply_delay_ms;
	/* the current importer (for origin) */
	const char *cur_user, *cur_applicant, *cur_referer;
};

static long long now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void iso_ms(long long ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ISO 8601 UTC -> epoch ms; -1 when not a date. */
static long long parse_iso(const char *s)
{
	struct tm tm = {0};
	int Y, M, D, h = 0, m = 0, sec = 0, n = 0, ms = 0, digits = 0;
	const char *p;

	if (!s || sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10)
		return -1;
	p = s + n;
	if (*p == 'T') {
		if (sscanf(p, "T%2d:%2d:%2d%n", &h, &m, &sec, &n) != 3)
			return -1;
		p += n;
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9') {
				if (digits++ < 3)
					ms = ms * 10 + (*p - '0');
				p++;
			}
			while (digits++ < 3)
				ms *= 10;
		}
		if (*p != 'Z' && *p != '\0')
			return -1;
	} else if (*p) {
		return -1;
	}
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	return (long long)timegm(&tm) * 1000 + ms;
}

/* A stream position: "<ms>-<seq>", "0", "0-0", or an ISO date (-> "<ms>-0"). */
static int parse_pos(const char *s, long long *ms, long *seq)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	if (strchr(s, 'T') || (strlen(s) == 10 && s[4] == '-')) {
		v = parse_iso(s);
		if (v < 0)
			return -1;
		*ms = v;
		*seq = 0;
		return 0;
	}
	v = strtoll(s, &end, 10);
	if (end == s)
		return -1;
	*ms = v;
	*seq = 0;
	if (*end == '-') {
		*seq = strtol(end + 1, &end, 10);
	}
	return *end ? -1 : 0;
}

static int pos_after(long long ms, long seq, long long ams, long aseq)
{
	return ms > ams || (ms == ams && seq > aseq);
}

/* ---- errors ---- */

static json_t *gql_error(const char *message, const char *code, int http_status)
{
	return json_pack("{s:s,s:{s:s,s:{s:i,s:s}}}", "message", message, "extensions", "code",
	                 code, "data", "http_status", http_status, "genre", "TECHNICAL");
}

static json_t *error_body(int status, const char *path, void *ctx)
{
	if (status == 401 || status == 403)
		return json_pack(
		    "{s:[o],s:n}", "errors",
		    gql_error("You must be logged in to do this.", "AUTH_REQUIRED", 401), "data");
	return json_pack("{s:[o],s:n}", "errors",
	                 gql_error("An unknown error has occurred", "UNKNOWN_ERROR", 500), "data");
}

/* ---- the store ---- */

static const char *user_of(struct octi *o, struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!a || strncmp(a, "Bearer ", 7) != 0)
		return NULL;
	for (int i = 0; i < o->nusers; i++)
		if (strcmp(a + 7, o->users[i].token) == 0)
			return o->users[i].id;
	return NULL;
}

static json_t *lookup(struct octi *o, const char *id)
{
	const char *internal = json_string_value(json_object_get(o->index, id));
	return internal ? json_object_get(o->records, internal) : NULL;
}

static const char *resolve_ref(const char *ref, void *ctx)
{
	json_t *rec = lookup(ctx, ref);
	return rec ? json_string_value(json_object_get(rec, "standard_id")) : NULL;
}

static int is_sco(const char *type)
{
	static const char *const sco[] = {"ipv4-addr",
	                                  "ipv6-addr",
	                                  "mac-addr",
	                                  "domain-name",
	                                  "url",
	                                  "email-addr",
	                                  "email-message",
	                                  "file",
	                                  "artifact",
	                                  "directory",
	                                  "x509-certificate",
	                                  "autonomous-system",
	                                  "mutex",
	                                  "network-traffic",
	                                  "software",
	                                  "user-account",
	                                  "windows-registry-key",
	                                  "hostname",
	                                  "text",
	                                  "user-agent",
	                                  "phone-number",
	                                  "cryptographic-key",
	                                  "cryptocurrency-wallet",
	                                  "bank-account",
	                                  "payment-card",
	                                  "media-content"};
	for (size_t i = 0; type && i < sizeof(sco) / sizeof(*sco); i++)
		if (strcmp(sco[i], type) == 0)
			return 1;
	return 0;
}

static int empty(const json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0);
}

/* Rewrite *_ref / *_refs to the standard ids of known objects. */
static void rewrite_refs(struct octi *o, json_t *stix)
{
	const char *k;
	json_t *v;
	size_t i, l;

	json_object_foreach(stix, k, v)
	{
		l = strlen(k);
		if (l > 4 && strcmp(k + l - 4, "_ref") == 0 && json_is_string(v)) {
			const char *s = resolve_ref(json_string_value(v), o);
			if (s)
				json_string_set(v, s);
		} else if (l > 5 && strcmp(k + l - 5, "_refs") == 0 && json_is_array(v)) {
			json_t *x;
			json_array_foreach(v, i, x)
			{
				const char *s =
				    json_is_string(x) ? resolve_ref(json_string_value(x), o) : NULL;
				if (s)
					json_string_set(x, s);
			}
		}
	}
}

/* Incoming object -> (top-level STIX properties, OpenCTI extension properties), both new. */
static void split_incoming(const json_t *in, json_t **props, json_t **ext)
{
	const char *k;
	json_t *v;
	const json_t *inext = json_object_get(json_object_get(in, "extensions"), EXT_CORE);
	const json_t *insco = json_object_get(json_object_get(in, "extensions"), EXT_SCO);

	*props = json_object();
	*ext = json_object();
	json_object_foreach((json_t *)in, k, v)
	{
		if (strcmp(k, "extensions") == 0 || strcmp(k, "id") == 0)
			continue;
		if (strncmp(k, "x_opencti_", 10) == 0)
			json_object_set(*ext, k + 10, v);
		else
			json_object_set(*props, k, v);
	}
	json_object_foreach((json_t *)inext, k, v) json_object_set(*ext, k, v);
	json_object_foreach((json_t *)insco, k, v) json_object_set(*ext, k, v);
	/* these belong to OpenCTI, not to the sender */
	static const char *const owned[] = {
	    "extension_type",  "id",          "type",        "created_at",
	    "updated_at",      "is_inferred", "creator_ids", "opencti_operation",
	    "definition_type", "definition"};
	for (size_t i = 0; i < sizeof(owned) / sizeof(*owned); i++)
		json_object_del(*ext, owned[i]);
}

static json_t *union_strings(json_t *list, const json_t *add)
{
	size_t i, j;
	json_t *x, *y;
	json_array_foreach(add, i, x)
	{
		int have = 0;
		json_array_foreach(list, j, y) if (json_equal(x, y)) have = 1;
		if (!have && json_is_string(x))
			json_array_append(list, x);
	}
	return list;
}

static void add_string(json_t *list, const char *s)
{
	json_t *one = json_pack("[s]", s);
	union_strings(list, one);
	json_decref(one);
}

/* The object as OpenCTI emits it (stream data, stix(id)): STIX with the standard id and extensions.
 */
static json_t *build_stix(struct octi *o, const json_t *rec)
{
	const json_t *props = json_object_get(rec, "props"), *ext = json_object_get(rec, "ext");
	json_t *stix = json_deep_copy(props), *core, *exts = json_object();
	const char *type = json_string_value(json_object_get(props, "type"));
	const char *k;
	json_t *v;

	json_object_set(stix, "id", json_object_get(rec, "standard_id"));
	json_object_set_new(stix, "spec_version", json_string("2.1"));
	rewrite_refs(o, stix);
	core = json_pack(
	    "{s:s,s:O,s:O,s:O,s:O,s:O,s:b,s:O}", "extension_type", "property-extension", "id",
	    json_object_get(rec, "internal_id"), "type", json_object_get(rec, "entity_type"),
	    "created_at", json_object_get(rec, "created_at"), "updated_at",
	    json_object_get(rec, "updated_at"), "stix_ids", json_object_get(rec, "stix_ids"),
	    "is_inferred", 0, "creator_ids", json_object_get(rec, "creator_ids"));
	if (is_sco(type)) {
		json_t *sco = json_pack("{s:s}", "extension_type", "property-extension");
		json_object_foreach((json_t *)ext, k, v) json_object_set(sco, k, v);
		json_object_set_new(exts, EXT_CORE, core);
		json_object_set_new(exts, EXT_SCO, sco);
	} else {
		json_object_foreach((json_t *)ext, k, v) json_object_set(core, k, v);
		json_object_set_new(exts, EXT_CORE, core);
	}
	json_object_set_new(stix, "extensions", exts);
	return stix;
}

static const char *label_of(const json_t *props)
{
	static const char *const keys[] = {"name",
	                                   "value",
	                                   "pattern",
	                                   "path",
	                                   "content",
	                                   "relationship_type",
	                                   "x_opencti_definition",
	                                   "definition_type"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *s = json_string_value(json_object_get(props, keys[i]));
		if (s)
			return s;
	}
	return "";
}

/* ---- the stream ---- */

static void sse_write(struct evhttp_request *req, const char *id, const char *event,
                      const char *data)
{
	struct evbuffer *b = evbuffer_new();
	if (id)
		evbuffer_add_printf(b, "id: %s\n", id);
	evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", event, data);
	evhttp_send_reply_chunk(req, b);
	evbuffer_free(b);
}

static void send_event(struct client *c, const struct sse_event *e)
{
	char id[48];
	if (!c->listen_delete && strcmp(e->event, "delete") == 0) {
		c->last_ms = e->ms;
		c->last_seq = e->seq;
		return;
	}
	snprintf(id, sizeof(id), "%lld-%ld", e->ms, e->seq);
	sse_write(c->req, id, e->event, e->data);
	c->last_ms = e->ms;
	c->last_seq = e->seq;
}

static struct sse_event *ring_at(struct octi *o, size_t i)
{
	return &o->ring[(o->ring_start + i) % o->ring_cap];
}

/* Append an event to the stream and send it to every client. envelope_without_id gets its
 * event_id; raw (when envelope_without_id is NULL) is sent as the data as it is. */
static void emit_data(struct octi *o, const char *event, json_t *envelope_without_id,
                      const char *raw)
{
	long long ms = now_ms();
	struct sse_event *e;
	char id[48];
	struct client *c;

	/* Redis stream ids never go backwards */
	if (ms <= o->last_ms) {
		ms = o->last_ms;
		o->last_seq++;
	} else {
		o->last_seq = 0;
	}
	o->last_ms = ms;
	snprintf(id, sizeof(id), "%lld-%ld", ms, o->last_seq);
	if (envelope_without_id)
		json_object_set_new(envelope_without_id, "event_id", json_string(id));
	if (o->ring_len == o->ring_cap) {
		/* trimmed, like Redis with a max length */
		e = ring_at(o, 0);
		free(e->event);
		free(e->data);
		o->ring_start = (o->ring_start + 1) % o->ring_cap;
		o->ring_len--;
	}
	e = ring_at(o, o->ring_len++);
	e->ms = ms;
	e->seq = o->last_seq;
	e->event = strdup(event);
	e->data = envelope_without_id ? json_dumps(envelope_without_id, JSON_COMPACT) : strdup(raw);
	for (c = o->clients; c; c = c->next)
		send_event(c, e);
}

static void emit(struct octi *o, const char *event, json_t *envelope_without_id)
{
	emit_data(o, event, envelope_without_id, NULL);
}

static json_t *origin(struct octi *o)
{
	if (o->cur_referer)
		return json_pack("{s:s}", "referer", o->cur_referer);
	return json_pack("{s:s,s:s,s:s,s:[],s:[],s:{},s:s?}", "socket", "query", "ip",
	                 "::ffff:127.0.0.1", "user_id", o->cur_user ? o->cur_user : ADMIN_ID,
	                 "group_ids", "organization_ids", "user_metadata", "applicant_id",
	                 o->cur_applicant);
}

static json_t *envelope(struct octi *o, const char *type, const char *message, json_t *data)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "version", "4", "type", type, "scope",
	                 "external", "message", message, "origin", origin(o), "data", data);
}

/* RFC 6902 operations between two STIX forms: top level, and one level into extensions. */
static void diff(json_t *ops, json_t *rev, const json_t *a, const json_t *b, const char *prefix,
                 int depth)
{
	const char *k;
	json_t *v;
	char path[512];

	json_object_foreach((json_t *)b, k, v)
	{
		const json_t *old = json_object_get(a, k);
		snprintf(path, sizeof(path), "%s/%s", prefix, k);
		if (!old) {
			json_array_append_new(
			    ops, json_pack("{s:s,s:s,s:O}", "op", "add", "path", path, "value", v));
			json_array_append_new(rev,
			                      json_pack("{s:s,s:s}", "op", "remove", "path", path));
		} else if (!json_equal(old, v)) {
			if (depth < 2 && json_is_object(old) && json_is_object(v)) {
				diff(ops, rev, old, v, path, depth + 1);
			} else {
				json_array_append_new(ops,
				                      json_pack("{s:s,s:s,s:O}", "op", "replace",
				                                "path", path, "value", v));
				json_array_append_new(rev,
				                      json_pack("{s:s,s:s,s:O}", "op", "replace",
				                                "path", path, "value", old));
			}
		}
	}
	json_object_foreach((json_t *)a, k, v)
	{
		if (json_object_get(b, k))
			continue;
		snprintf(path, sizeof(path), "%s/%s", prefix, k);
		json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "remove", "path", path));
		json_array_append_new(
		    rev, json_pack("{s:s,s:s,s:O}", "op", "add", "path", path, "value", v));
	}
}

static json_t *delivery(struct octi *o, const char *standard_id)
{
	json_t *d = json_object_get(o->deliveries, standard_id);
	if (!d) {
		d = json_pack("{s:i,s:i,s:i,s:i,s:i}", "received", 0, "created", 0, "updated", 0,
		              "unchanged", 0, "deleted", 0);
		json_object_set_new(o->deliveries, standard_id, d);
	}
	return d;
}

static void bump(json_t *d, const char *k)
{
	json_object_set_new(d, k, json_integer(json_integer_value(json_object_get(d, k)) + 1));
}

static void index_record(struct octi *o, json_t *rec)
{
	const char *internal = json_string_value(json_object_get(rec, "internal_id"));
	size_t i;
	json_t *x;
	const char *k;
	json_t *hashes = json_object_get(json_object_get(rec, "props"), "hashes");

	json_object_set_new(o->index, internal, json_string(internal));
	json_object_set_new(o->index, json_string_value(json_object_get(rec, "standard_id")),
	                    json_string(internal));
	json_array_foreach(json_object_get(rec, "stix_ids"), i, x)
	    json_object_set_new(o->index, json_string_value(x), json_string(internal));
	/* OpenCTI also matches hashed observables by any of their hash values */
	json_object_foreach(hashes, k, x) if (json_is_string(x))
	    json_object_set_new(o->index, json_string_value(x), json_string(internal));
}

static void delete_record(struct octi *o, json_t *rec)
{
	const char *internal = json_string_value(json_object_get(rec, "internal_id"));
	json_t *stix = build_stix(o, rec);
	char msg[512];
	const char *k;
	json_t *v;
	void *tmp;
	size_t i;

	snprintf(msg, sizeof(msg), "deletes a %s `%s`",
	         json_string_value(json_object_get(rec, "entity_type")),
	         label_of(json_object_get(rec, "props")));
	bump(delivery(o, json_string_value(json_object_get(rec, "standard_id"))), "deleted");
	json_t *env = envelope(o, "delete", msg, stix);
	json_object_set_new(env, "context", json_pack("{s:[]}", "deletions"));
	emit(o, "delete", env);
	json_decref(env);
	json_object_foreach_safe(o->index, tmp, k, v) if (strcmp(json_string_value(v), internal) ==
	                                                  0) json_object_del(o->index, k);
	for (i = 0; i < json_array_size(o->order); i++)
		if (strcmp(json_string_value(json_array_get(o->order, i)), internal) == 0) {
			json_array_remove(o->order, i);
			break;
		}
	json_object_del(o->records, internal);
}

static int wants_delete(const json_t *in)
{
	const json_t *e = json_object_get(json_object_get(in, "extensions"), EXT_CORE);
	const char *op = json_string_value(json_object_get(e, "opencti_operation"));
	if (!op)
		op = json_string_value(json_object_get(in, "opencti_operation"));
	return op && (strcmp(op, "delete") == 0 || strcmp(op, "delete_force") == 0);
}

/* Create or upsert one STIX object; errors are recorded, never fatal. */
/* After an upsert or an edit: if the STIX form changed, bump updated_at and modified and emit an
 * update with the patch; before (stolen) is the STIX form from before the change. */
static void commit_update(struct octi *o, json_t *rec, json_t *before, json_t *d)
{
	json_t *after = build_stix(o, rec), *ops, *rev, *env;
	json_t *oprops = json_object_get(rec, "props");
	char ts[32], msg[512];

	if (json_equal(before, after)) {
		bump(d, "unchanged");
	} else {
		iso_ms(now_ms(), ts);
		json_object_set_new(rec, "updated_at", json_string(ts));
		json_object_set_new(oprops, "modified", json_string(ts));
		json_decref(after);
		after = build_stix(o, rec);
		ops = json_array();
		rev = json_array();
		diff(ops, rev, before, after, "", 0);
		bump(d, "updated");
		snprintf(msg, sizeof(msg), "updates a %s `%s`",
		         json_string_value(json_object_get(rec, "entity_type")), label_of(oprops));
		env = envelope(o, "update", msg, json_incref(after));
		json_object_set_new(env, "context",
		                    json_pack("{s:o,s:o}", "patch", ops, "reverse_patch", rev));
		emit(o, "update", env);
		json_decref(env);
	}
	json_decref(before);
	json_decref(after);
}

static json_t *import_object(struct octi *o, const json_t *in, const char *where)
{
	char err[256], iid[37], ts[32], msg[512];
	char *sid;
	const char *in_id = json_string_value(json_object_get(in, "id"));
	json_t *rec = NULL, *props, *ext, *d;
	size_t i;
	json_t *x;

	/* a deletion names the object by any of its ids; it need not carry the id properties */
	if (wants_delete(in)) {
		rec = in_id ? lookup(o, in_id) : NULL;
		if (!rec && (sid = sl_octi_standard_id(in, resolve_ref, o, err, sizeof(err)))) {
			rec = lookup(o, sid);
			free(sid);
		}
		if (rec)
			delete_record(o, rec);
		return NULL;
	}
	sid = sl_octi_standard_id(in, resolve_ref, o, err, sizeof(err));
	if (!sid) {
		json_array_append_new(o->import_errors, json_pack("{s:s,s:s?,s:s}", "where", where,
		                                                  "id", in_id, "error", err));
		return NULL;
	}
	d = delivery(o, sid);
	bump(d, "received");
	rec = lookup(o, sid);
	if (!rec && in_id)
		rec = lookup(o, in_id);
	if (!rec) {
		const json_t *ids = json_object_get(in, "x_opencti_stix_ids");
		json_array_foreach(ids, i, x) if (!rec && json_is_string(x)) rec =
		    lookup(o, json_string_value(x));
	}
	if (!rec && json_is_object(json_object_get(in, "hashes"))) {
		const char *k;
		json_object_foreach(json_object_get(in, "hashes"), k,
		                    x) if (!rec && json_is_string(x)) rec =
		    lookup(o, json_string_value(x));
	}
	split_incoming(in, &props, &ext);
	iso_ms(now_ms(), ts);
	if (!rec) {
		json_t *stix_ids = json_array();
		if (json_object_size(o->records) >= o->max_objects) {
			json_array_append_new(o->import_errors,
			                      json_pack("{s:s,s:s?,s:s}", "where", where, "id",
			                                in_id, "error",
			                                "the test peer's object limit is reached"));
			json_decref(props);
			json_decref(ext);
			free(sid);
			return NULL;
		}
		if (in_id && strcmp(in_id, sid) != 0)
			json_array_append_new(stix_ids, json_string(in_id));
		union_strings(stix_ids, json_object_get(ext, "stix_ids"));
		json_object_del(ext, "stix_ids");
		sl_peer_uuid4(o->peer, iid);
		rec = json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:[s],s:o,s:o}", "internal_id", iid,
		                "standard_id", sid, "entity_type", sl_octi_entity_type(in),
		                "stix_ids", stix_ids, "created_at", ts, "updated_at", ts,
		                "creator_ids", o->cur_user ? o->cur_user : ADMIN_ID, "props", props,
		                "ext", ext);
		json_object_set_new(o->records, iid, rec);
		json_array_append_new(o->order, json_string(iid));
		index_record(o, rec);
		bump(d, "created");
		snprintf(msg, sizeof(msg), "creates a %s `%s`",
		         json_string_value(json_object_get(rec, "entity_type")), label_of(props));
		json_t *env = envelope(o, "create", msg, build_stix(o, rec));
		emit(o, "create", env);
		json_decref(env);
	} else {
		json_t *before = build_stix(o, rec);
		json_t *oprops = json_object_get(rec, "props"), *oext = json_object_get(rec, "ext");
		long long oc = json_integer_value(json_object_get(oprops, "confidence"));
		int allowed = !json_object_get(oprops, "confidence") || o->user_confidence >= oc;
		const char *k;
		json_t *v, *ids = json_object_get(rec, "stix_ids");

		/* ids and creators always merge; other fields when empty or the confidence allows
		 */
		if (in_id &&
		    strcmp(in_id, json_string_value(json_object_get(rec, "standard_id"))) != 0)
			add_string(ids, in_id);
		union_strings(ids, json_object_get(ext, "stix_ids"));
		json_object_del(ext, "stix_ids");
		add_string(json_object_get(rec, "creator_ids"),
		           o->cur_user ? o->cur_user : ADMIN_ID);
		json_object_foreach(props, k, v) if (allowed || empty(json_object_get(oprops, k)))
		    json_object_set(oprops, k, v);
		json_object_foreach(ext, k, v) if (allowed || empty(json_object_get(oext, k)))
		    json_object_set(oext, k, v);
		json_decref(props);
		json_decref(ext);
		index_record(o, rec);
		commit_update(o, rec, before, d);
	}
	free(sid);
	return rec;
}

/* OpenCTI's splitter orders a bundle by dependencies; this peer uses a coarse order that gives the
 * same result for ordinary bundles: markings and identities, then the rest, relationships,
 * containers. */
static int import_rank(const json_t *obj)
{
	const char *t = json_string_value(json_object_get(obj, "type"));
	if (!t)
		return 2;
	if (strcmp(t, "marking-definition") == 0)
		return 0;
	if (strcmp(t, "identity") == 0 || strcmp(t, "location") == 0)
		return 1;
	if (strcmp(t, "relationship") == 0 || strcmp(t, "sighting") == 0)
		return 3;
	if (strcmp(t, "report") == 0 || strcmp(t, "grouping") == 0 || strcmp(t, "note") == 0 ||
	    strcmp(t, "opinion") == 0 || strcmp(t, "observed-data") == 0)
		return 4;
	return 2;
}

static void import_bundle(struct octi *o, const json_t *bundle)
{
	const json_t *objs = json_object_get(bundle, "objects");
	size_t i;
	json_t *x;
	char where[64];

	for (int rank = 0; rank <= 4; rank++)
		json_array_foreach(objs, i, x)
		{
			if (!json_is_object(x) || import_rank(x) != rank)
				continue;
			snprintf(where, sizeof(where), "objects[%zu]", i);
			import_object(o, x, where);
		}
}

static void apply_due(evutil_socket_t fd, short what, void *arg)
{
	struct octi *o = arg;
	long long now = now_ms();

	while (o->queue && o->queue->due_ms <= now) {
		struct push *p = o->queue;
		o->queue = p->next;
		if (!o->queue)
			o->queue_tail = NULL;
		o->cur_user = p->user_id;
		o->cur_applicant = p->applicant_id;
		import_bundle(o, p->bundle);
		if (p->work_id) {
			json_t *w = json_object_get(o->works, p->work_id);
			if (w)
				json_object_set_new(w, "status", json_string("complete"));
		}
		o->cur_user = o->cur_applicant = NULL;
		json_decref(p->bundle);
		free(p->user_id);
		free(p->applicant_id);
		free(p->work_id);
		free(p);
	}
	if (o->queue) {
		long long wait = o->queue->due_ms - now;
		struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
		event_add(o->apply_timer, &tv);
	}
}

static void enqueue(struct octi *o, json_t *bundle, const char *user, const char *applicant,
                    const char *work_id)
{
	struct push *p = calloc(1, sizeof(*p));
	p->bundle = bundle;
	p->user_id = strdup(user);
	p->applicant_id = applicant ? strdup(applicant) : NULL;
	p->work_id = work_id ? strdup(work_id) : NULL;
	p->due_ms = now_ms() + o->apply_delay_ms;
	if (o->queue_tail)
		o->queue_tail->next = p;
	else
		o->queue = p;
	o->queue_tail = p;
	if (!evtimer_pending(o->apply_timer, NULL)) {
		struct timeval tv = {o->apply_delay_ms / 1000, (o->apply_delay_ms % 1000) * 1000};
		event_add(o->apply_timer, &tv);
	}
}

/* ---- GraphQL resolvers ---- */

static json_t *node_of(struct octi *o, const json_t *rec, int depth);

static json_t *node_by_ref(struct octi *o, const json_t *ref, int depth)
{
	json_t *rec = json_is_string(ref) ? lookup(o, json_string_value(ref)) : NULL;
	return rec && depth < 2 ? node_of(o, rec, depth + 1) : json_null();
}

/* The GraphQL view of an object: its STIX properties flat, OpenCTI's fields, and resolved refs. */
static json_t *node_of(struct octi *o, const json_t *rec, int depth)
{
	const json_t *props = json_object_get(rec, "props"), *ext = json_object_get(rec, "ext");
	json_t *n = json_deep_copy(props), *stix = build_stix(o, rec), *marks = json_array(),
	       *labels = json_array(), *x;
	const char *k;
	json_t *v;
	size_t i;
	char *s;

	json_object_foreach((json_t *)ext, k, v)
	{
		char key[128];
		snprintf(key, sizeof(key), "x_opencti_%s", k);
		json_object_set(n, key, v);
	}
	json_object_set(n, "id", json_object_get(rec, "internal_id"));
	json_object_set(n, "standard_id", json_object_get(rec, "standard_id"));
	json_object_set(n, "entity_type", json_object_get(rec, "entity_type"));
	{
		/* GraphQL type names drop the dashes: Intrusion-Set -> IntrusionSet */
		const char *et = json_string_value(json_object_get(rec, "entity_type"));
		char tn[64];
		size_t tl = 0;
		for (; *et && tl + 1 < sizeof(tn); et++)
			if (*et != '-')
				tn[tl++] = *et;
		tn[tl] = '\0';
		if (strcmp(tn, "stixcorerelationship") == 0)
			snprintf(tn, sizeof(tn), "StixCoreRelationship");
		else if (strcmp(tn, "stixsightingrelationship") == 0)
			snprintf(tn, sizeof(tn), "StixSightingRelationship");
		json_object_set_new(n, "__typename", json_string(tn));
	}
	json_object_set(n, "x_opencti_stix_ids", json_object_get(rec, "stix_ids"));
	json_object_set(n, "created_at", json_object_get(rec, "created_at"));
	json_object_set(n, "updated_at", json_object_get(rec, "updated_at"));
	json_object_set(n, "creators", json_object_get(rec, "creator_ids"));
	json_object_set_new(n, "createdBy",
	                    node_by_ref(o, json_object_get(props, "created_by_ref"), depth));
	json_array_foreach(json_object_get(props, "object_marking_refs"), i, x)
	    json_array_append_new(marks, node_by_ref(o, x, depth));
	json_object_set_new(n, "objectMarking", marks);
	json_array_foreach(json_object_get(props, "labels"), i, x)
	    json_array_append_new(labels, json_pack("{s:O}", "value", x));
	json_object_set_new(n, "objectLabel", labels);
	s = json_dumps(stix, JSON_COMPACT);
	json_object_set_new(n, "toStix", json_string(s));
	free(s);
	json_decref(stix);
	return n;
}

static int filter_ok(const json_t *rec, const json_t *fg, int depth);

static int one_filter(const json_t *rec, const json_t *f)
{
	const json_t *key = json_object_get(f, "key");
	const char *k =
	    json_is_array(key) ? json_string_value(json_array_get(key, 0)) : json_string_value(key);
	const char *op = json_string_value(json_object_get(f, "operator"));
	const char *mode = json_string_value(json_object_get(f, "mode"));
	const json_t *vals = json_object_get(f, "values");
	int any = 0, all = 1;
	size_t i;
	json_t *v;

	if (!k)
		return 1;
	if (!op)
		op = "eq";
	json_array_foreach(vals, i, v)
	{
		int hit = 0;
		const char *want = json_string_value(v);
		if (!want)
			continue;
		if (strcmp(k, "updated_at") == 0 || strcmp(k, "created_at") == 0) {
			long long a = parse_iso(json_string_value(json_object_get(rec, k)));
			long long b = parse_iso(want);
			hit = strcmp(op, "gt") == 0    ? a > b
			      : strcmp(op, "gte") == 0 ? a >= b
			      : strcmp(op, "lt") == 0  ? a < b
			      : strcmp(op, "lte") == 0 ? a <= b
			                               : a == b;
		} else if (strcmp(k, "entity_type") == 0) {
			const char *t = json_string_value(json_object_get(rec, "entity_type"));
			hit = t && strcasecmp(t, want) == 0;
		} else if (strcmp(k, "standard_id") == 0 || strcmp(k, "ids") == 0) {
			hit = strcmp(json_string_value(json_object_get(rec, "standard_id")),
			             want) == 0 ||
			      strcmp(json_string_value(json_object_get(rec, "internal_id")),
			             want) == 0;
		} else {
			const json_t *pv = json_object_get(json_object_get(rec, "props"), k);
			hit = json_is_string(pv) && strcmp(json_string_value(pv), want) == 0;
		}
		if (strcmp(op, "not_eq") == 0)
			hit = !hit;
		any |= hit;
		all &= hit;
	}
	return mode && strcmp(mode, "and") == 0 ? all : any;
}

static int filter_ok(const json_t *rec, const json_t *fg, int depth)
{
	const char *mode = json_string_value(json_object_get(fg, "mode"));
	int is_or = mode && strcmp(mode, "or") == 0, res = is_or ? 0 : 1, n = 0;
	size_t i;
	json_t *f;

	if (!json_is_object(fg) || depth > 8)
		return 1;
	json_array_foreach(json_object_get(fg, "filters"), i, f)
	{
		int r = one_filter(rec, f);
		res = is_or ? (res || r) : (res && r);
		n++;
	}
	json_array_foreach(json_object_get(fg, "filterGroups"), i, f)
	{
		int r = filter_ok(rec, f, depth + 1);
		res = is_or ? (res || r) : (res && r);
		n++;
	}
	return n ? res : 1;
}

static const char *g_order_by;
static int g_order_desc;
static int cmp_rec(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *vx = json_string_value(json_object_get(x, g_order_by));
	const char *vy = json_string_value(json_object_get(y, g_order_by));
	int c = strcmp(vx ? vx : "", vy ? vy : "");
	return g_order_desc ? -c : c;
}

static json_t *list_objects(struct octi *o, const json_t *args, const char *only_type,
                            int observables_only, char *err, size_t errsz)
{
	json_int_t first = json_is_integer(json_object_get(args, "first"))
	                       ? json_integer_value(json_object_get(args, "first"))
	                       : 25;
	const char *after = json_string_value(json_object_get(args, "after"));
	const char *ob = json_string_value(json_object_get(args, "orderBy"));
	const char *om = json_string_value(json_object_get(args, "orderMode"));
	const json_t *types = json_object_get(args, "types");
	size_t n = 0, i, start = 0, total;
	json_t **sel, *edges = json_array(), *id;

	if (first > 5000) {
		json_decref(edges);
		snprintf(err, errsz, "You cannot ask for more than 5000 elements");
		return NULL;
	}
	sel = calloc(json_array_size(o->order) + 1, sizeof(*sel));
	json_array_foreach(o->order, i, id)
	{
		json_t *rec = json_object_get(o->records, json_string_value(id));
		const char *et = json_string_value(json_object_get(rec, "entity_type"));
		const char *st =
		    json_string_value(json_object_get(json_object_get(rec, "props"), "type"));
		if (only_type && strcmp(et, only_type) != 0)
			continue;
		if (observables_only && !is_sco(st))
			continue;
		if (json_is_array(types) && json_array_size(types) > 0) {
			size_t j;
			json_t *t;
			int ok = 0;
			json_array_foreach(types, j,
			                   t) if (json_is_string(t) &&
			                          strcasecmp(json_string_value(t), et) == 0) ok = 1;
			if (!ok)
				continue;
		}
		if (!filter_ok(rec, json_object_get(args, "filters"), 0))
			continue;
		sel[n++] = rec;
	}
	g_order_by = ob && (strcmp(ob, "updated_at") == 0 || strcmp(ob, "created_at") == 0)
	                 ? ob
	                 : "created_at";
	g_order_desc = om && strcmp(om, "desc") == 0;
	/* qsort is not stable: creation order breaks ties through created_at's millisecond, then
	 * insertion order, which is why the selection is built in creation order */
	qsort(sel, n, sizeof(*sel), cmp_rec);
	if (after && after[0] == 'c')
		start = (size_t)strtoul(after + 1, NULL, 10);
	total = n;
	for (i = start; i < n && (json_int_t)(i - start) < first; i++) {
		char cur[32];
		snprintf(cur, sizeof(cur), "c%zu", i + 1);
		json_array_append_new(
		    edges, json_pack("{s:s,s:o}", "cursor", cur, "node", node_of(o, sel[i], 0)));
	}
	free(sel);
	{
		char endc[32], startc[32];
		snprintf(endc, sizeof(endc), "c%zu", i);
		snprintf(startc, sizeof(startc), "c%zu", start + 1);
		return json_pack("{s:o,s:{s:s?,s:s?,s:b,s:b,s:I}}", "edges", edges, "pageInfo",
		                 "startCursor", json_array_size(edges) ? startc : NULL, "endCursor",
		                 json_array_size(edges) ? endc : NULL, "hasNextPage",
		                 i<n, "hasPreviousPage", start> 0, "globalCount",
		                 (json_int_t)total);
	}
}

static json_t *connector_view(const json_t *c)
{
	json_t *v = json_deep_copy(c);
	json_object_set_new(
	    v, "config",
	    json_pack("{s:{s:s,s:s,s:i,s:b,s:s,s:s},s:s,s:s,s:s,s:s,s:s,s:s}", "connection", "host",
	              "127.0.0.1", "vhost", "/", "port", 0, "use_ssl", 0, "user", "none", "pass",
	              "none", "listen", "listen_unused", "listen_routing", "listen_unused",
	              "listen_exchange", "amqp.connector.exchange", "push", "push_unused",
	              "push_routing", "push_unused", "push_exchange", "amqp.worker.exchange"));
	return v;
}

/* ---- per-object mutations (pycti's import path: indicatorAdd, ..., *FieldPatch, *Delete) ---- */

static const struct {
	const char *mutation, *stix_type, *identity_class;
} add_mutations[] = {
    {"indicatorAdd", "indicator", NULL},
    {"reportAdd", "report", NULL},
    {"malwareAdd", "malware", NULL},
    {"toolAdd", "tool", NULL},
    {"campaignAdd", "campaign", NULL},
    {"intrusionSetAdd", "intrusion-set", NULL},
    {"vulnerabilityAdd", "vulnerability", NULL},
    {"infrastructureAdd", "infrastructure", NULL},
    {"attackPatternAdd", "attack-pattern", NULL},
    {"courseOfActionAdd", "course-of-action", NULL},
    {"noteAdd", "note", NULL},
    {"opinionAdd", "opinion", NULL},
    {"incidentAdd", "incident", NULL},
    {"groupingAdd", "grouping", NULL},
    {"threatActorGroupAdd", "threat-actor", NULL},
    {"identityAdd", "identity", NULL},
    {"organizationAdd", "identity", "organization"},
    {"individualAdd", "identity", "individual"},
    {"sectorAdd", "identity", "class"},
    {"systemAdd", "identity", "system"},
    {"locationAdd", "location", NULL},
    {"labelAdd", "label", NULL},
    {"markingDefinitionAdd", "marking-definition", NULL},
    {"externalReferenceAdd", "external-reference", NULL},
    {"killChainPhaseAdd", "kill-chain-phase", NULL},
    {"stixCoreRelationshipAdd", "relationship", NULL},
    {"stixSightingRelationshipAdd", "sighting", NULL},
};

/* GraphQL input names -> STIX properties. */
static const char *stix_key(const char *k)
{
	static const char *const map[][2] = {
	    {"stix_id", "id"},
	    {"createdBy", "created_by_ref"},
	    {"objectMarking", "object_marking_refs"},
	    {"objectLabel", "labels"},
	    {"objects", "object_refs"},
	    {"externalReferences", "external_references"},
	    {"killChainPhases", "kill_chain_phases"},
	    {"objectOrganization", "x_opencti_granted_refs"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i][0], k) == 0)
			return map[i][1];
	return k;
}

/* An id given for a label, external reference or kill chain phase -> the object's STIX value. */
static json_t *meta_value(struct octi *o, const char *key, const json_t *v)
{
	json_t *rec = json_is_string(v) ? lookup(o, json_string_value(v)) : NULL;
	const json_t *props = rec ? json_object_get(rec, "props") : NULL;

	if (!rec)
		return json_deep_copy(v);
	if (strcmp(key, "labels") == 0)
		return json_deep_copy(json_object_get(props, "value"));
	if (strcmp(key, "external_references") == 0 || strcmp(key, "kill_chain_phases") == 0) {
		json_t *c = json_deep_copy(props);
		json_object_del(c, "type");
		json_object_del(c, "id");
		return c;
	}
	return json_deep_copy(v);
}

static json_t *input_to_stix(struct octi *o, const char *type, const char *identity_class,
                             const json_t *input)
{
	static const char *const skip[] = {
	    "update", "createObservables",    "clientMutationId", "fromId", "toId", "file", "files",
	    "type",   "x_opencti_workflow_id"};
	json_t *obj = json_pack("{s:s}", "type", type), *v;
	const char *k;

	json_object_foreach((json_t *)input, k, v)
	{
		int skipped = 0;
		const char *sk = stix_key(k);
		for (size_t i = 0; i < sizeof(skip) / sizeof(*skip); i++)
			if (strcmp(k, skip[i]) == 0)
				skipped = 1;
		if (skipped || json_is_null(v))
			continue;
		if (json_is_array(v) &&
		    (strcmp(sk, "labels") == 0 || strcmp(sk, "external_references") == 0 ||
		     strcmp(sk, "kill_chain_phases") == 0)) {
			json_t *list = json_array(), *x;
			size_t i;
			json_array_foreach(v, i, x)
			    json_array_append_new(list, meta_value(o, sk, x));
			json_object_set_new(obj, sk, list);
		} else {
			json_object_set(obj, sk, v);
		}
	}
	if (strcmp(type, "identity") == 0) {
		const char *t = json_string_value(json_object_get(input, "type"));
		const char *cls = identity_class;
		if (!cls)
			cls = t && strcmp(t, "Individual") == 0 ? "individual"
			      : t && strcmp(t, "Sector") == 0   ? "class"
			      : t && strcmp(t, "System") == 0   ? "system"
			                                        : "organization";
		json_object_set_new(obj, "identity_class", json_string(cls));
	}
	if (strcmp(type, "location") == 0 && json_is_string(json_object_get(input, "type")))
		json_object_set(obj, "x_opencti_location_type", json_object_get(input, "type"));
	if (strcmp(type, "relationship") == 0) {
		json_object_set(obj, "source_ref", json_object_get(input, "fromId"));
		json_object_set(obj, "target_ref", json_object_get(input, "toId"));
	}
	if (strcmp(type, "sighting") == 0) {
		json_object_set(obj, "sighting_of_ref", json_object_get(input, "fromId"));
		if (json_object_get(input, "toId"))
			json_object_set_new(obj, "where_sighted_refs",
			                    json_pack("[O]", json_object_get(input, "toId")));
	}
	return obj;
}

/* stixCyberObservableAdd(type, stix_id, x_opencti_score, ..., IPv4Addr: {value}, StixFile: {...})
 */
static json_t *observable_to_stix(const json_t *args)
{
	static const char *const flat[] = {"type",
	                                   "stix_id",
	                                   "x_opencti_score",
	                                   "x_opencti_description",
	                                   "createIndicator",
	                                   "createdBy",
	                                   "objectMarking",
	                                   "objectLabel",
	                                   "externalReferences",
	                                   "update",
	                                   "clientMutationId"};
	const char *otype = json_string_value(json_object_get(args, "type"));
	char stype[64];
	size_t j = 0;
	json_t *obj, *v, *typed = NULL;
	const char *k;

	if (!otype)
		return NULL;
	if (strcmp(otype, "StixFile") == 0)
		snprintf(stype, sizeof(stype), "file");
	else {
		for (const char *c = otype; *c && j + 1 < sizeof(stype); c++)
			stype[j++] = (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a' : *c);
		stype[j] = '\0';
	}
	obj = json_pack("{s:s}", "type", stype);
	json_object_foreach((json_t *)args, k, v)
	{
		int is_flat = 0;
		for (size_t i = 0; i < sizeof(flat) / sizeof(*flat); i++)
			if (strcmp(k, flat[i]) == 0)
				is_flat = 1;
		if (!is_flat && json_is_object(v))
			typed = v;
	}
	json_object_foreach(typed, k, v)
	{
		if (strcmp(k, "hashes") == 0 && json_is_array(v)) {
			/* [{algorithm, hash}] -> {ALGO: hash} */
			json_t *h = json_object(), *x;
			size_t i;
			json_array_foreach(v, i,
			                   x) if (json_is_string(json_object_get(x, "algorithm")))
			    json_object_set(h, json_string_value(json_object_get(x, "algorithm")),
			                    json_object_get(x, "hash"));
			json_object_set_new(obj, "hashes", h);
		} else {
			json_object_set(obj, k, v);
		}
	}
	json_object_foreach((json_t *)args, k, v)
	{
		if (strcmp(k, "stix_id") == 0)
			json_object_set(obj, "id", v);
		else if (strcmp(k, "x_opencti_score") == 0 ||
		         strcmp(k, "x_opencti_description") == 0)
			json_object_set(obj, k, v);
		else if (strcmp(k, "createdBy") == 0 || strcmp(k, "objectMarking") == 0)
			json_object_set(obj, stix_key(k), v);
	}
	return obj;
}

/* fieldPatch input [{key, value: [...], operation}] applied to a stored object. */
static void field_patch(struct octi *o, json_t *rec, const json_t *input)
{
	json_t *before = build_stix(o, rec), *x;
	json_t *props = json_object_get(rec, "props"), *ext = json_object_get(rec, "ext");
	size_t i;

	json_array_foreach(input, i, x)
	{
		const char *key = json_string_value(json_object_get(x, "key"));
		const char *op = json_string_value(json_object_get(x, "operation"));
		const json_t *vals = json_object_get(x, "value");
		json_t *target = props, *cur, *nv;
		const char *sk;

		if (!key)
			continue;
		if (!op)
			op = "replace";
		sk = stix_key(key);
		if (strncmp(sk, "x_opencti_", 10) == 0) {
			target = ext;
			sk += 10;
		}
		cur = json_object_get(target, sk);
		if (!json_is_array(vals))
			vals = NULL;
		if (strcmp(op, "add") == 0 || strcmp(op, "remove") == 0) {
			json_t *list = json_is_array(cur) ? json_deep_copy(cur) : json_array(), *y;
			size_t j;
			json_array_foreach(vals, j, y)
			{
				size_t k;
				int at = -1;
				json_t *z;
				json_array_foreach(list, k, z) if (json_equal(z, y)) at = (int)k;
				if (strcmp(op, "add") == 0 && at < 0)
					json_array_append(list, y);
				else if (strcmp(op, "remove") == 0 && at >= 0)
					json_array_remove(list, (size_t)at);
			}
			json_object_set_new(target, sk, list);
			continue;
		}
		/* replace: one value for a scalar, the list for a list; strings converted to the
		 * type the property already has, as OpenCTI's schema would */
		nv = json_is_array(cur) ? json_deep_copy(vals ? vals : json_null())
		                        : json_deep_copy(json_array_get(vals, 0));
		if (json_is_string(nv) && (json_is_boolean(cur) || strcmp(sk, "revoked") == 0 ||
		                           strcmp(sk, "detection") == 0)) {
			int t = strcmp(json_string_value(nv), "true") == 0;
			json_decref(nv);
			nv = json_boolean(t);
		} else if (json_is_string(nv) &&
		           (json_is_integer(cur) || strcmp(sk, "score") == 0 ||
		            strcmp(sk, "confidence") == 0)) {
			long long t = strtoll(json_string_value(nv), NULL, 10);
			json_decref(nv);
			nv = json_integer(t);
		}
		if (!nv || json_is_null(nv)) {
			json_decref(nv);
			json_object_del(target, sk);
		} else {
			json_object_set_new(target, sk, nv);
		}
	}
	commit_update(o, rec, before,
	              delivery(o, json_string_value(json_object_get(rec, "standard_id"))));
}

/* Mutations on one object; returns NULL with code/msg when the name is not one of them. */
static json_t *object_mutation(struct octi *o, const char *user, const json_t *field,
                               const char **code, char *msg, size_t msgsz, int *handled)
{
	const char *name = json_string_value(json_object_get(field, "name"));
	const json_t *args = json_object_get(field, "args");
	size_t n = strlen(name), i;
	json_t *rec, *obj;
	char where[64];

	*handled = 1;
	o->cur_user = user;
	o->cur_applicant = NULL;
	for (i = 0; i < sizeof(add_mutations) / sizeof(*add_mutations); i++) {
		if (strcmp(name, add_mutations[i].mutation) != 0)
			continue;
		obj = input_to_stix(o, add_mutations[i].stix_type, add_mutations[i].identity_class,
		                    json_object_get(args, "input"));
		goto import;
	}
	if (strcmp(name, "stixCyberObservableAdd") == 0) {
		obj = observable_to_stix(args);
		if (!obj) {
			*code = "BAD_USER_INPUT";
			snprintf(msg, msgsz, "stixCyberObservableAdd needs a type");
			o->cur_user = NULL;
			return NULL;
		}
		goto import;
	}
	if (n > 10 && strcmp(name + n - 10, "FieldPatch") == 0) {
		rec = json_is_string(json_object_get(args, "id"))
		          ? lookup(o, json_string_value(json_object_get(args, "id")))
		          : NULL;
		if (!rec)
			goto notfound;
		field_patch(o, rec, json_object_get(args, "input"));
		o->cur_user = NULL;
		return node_of(o, rec, 0);
	}
	if (n > 6 && strcmp(name + n - 6, "Delete") == 0 && json_object_get(args, "id")) {
		rec = lookup(o, json_string_value(json_object_get(args, "id")));
		if (!rec)
			goto notfound;
		delete_record(o, rec);
		o->cur_user = NULL;
		return json_incref(json_object_get(args, "id"));
	}
	if (n > 4 && strcmp(name + n - 4, "Edit") == 0 && json_object_get(args, "id")) {
		/* stixDomainObjectEdit(id) { fieldPatch(input) { ... } delete } */
		const json_t *sub;
		json_t *out = json_object();
		rec = lookup(o, json_string_value(json_object_get(args, "id")));
		if (!rec) {
			json_decref(out);
			goto notfound;
		}
		json_array_foreach(json_object_get(field, "sel"), i, sub)
		{
			const char *sn = json_string_value(json_object_get(sub, "name"));
			if (strcmp(sn, "fieldPatch") == 0 && rec) {
				field_patch(o, rec,
				            json_object_get(json_object_get(sub, "args"), "input"));
				json_object_set_new(out, "fieldPatch", node_of(o, rec, 0));
			} else if (strcmp(sn, "delete") == 0 && rec) {
				json_object_set(out, "delete", json_object_get(args, "id"));
				delete_record(o, rec);
				rec = NULL;
			}
		}
		o->cur_user = NULL;
		return out;
	}
	*handled = 0;
	o->cur_user = NULL;
	return NULL;
	import :snprintf(where, sizeof(where), "%s", name);
	{
		size_t before = json_array_size(o->import_errors);
		rec = import_object(o, obj, where);
		json_decref(obj);
		o->cur_user = NULL;
		if (!rec) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "%s",
			         json_array_size(o->import_errors) > before
			             ? json_string_value(json_object_get(
			                   json_array_get(o->import_errors, before), "error"))
			             : "not created");
			return NULL;
		}
		return node_of(o, rec, 0);
	}
notfound:
	o->cur_user = NULL;
	*code = "FUNCTIONAL_ERROR";
	snprintf(msg, msgsz, "Cant find element to update");
	return NULL;
}

/* Resolve one top-level field: a new value, or NULL with code/message filled. */
static json_t *resolve(struct octi *o, struct evhttp_request *req, const char *user,
                       const char *name, const json_t *args, const char **code, char *msg,
                       size_t msgsz)
{
	char ts[32];

	if (strcmp(name, "about") == 0)
		return json_pack("{s:s,s:[{s:s,s:s}]}", "version", OCTI_VERSION, "dependencies",
		                 "name", "test-peer", "version", "1");
	if (strcmp(name, "me") == 0) {
		for (int i = 0; i < o->nusers; i++)
			if (strcmp(o->users[i].id, user) == 0)
				return json_pack("{s:s,s:s,s:s,s:s,s:[{s:s},{s:s},{s:s}]}", "id",
				                 user, "name", o->users[i].name, "user_email",
				                 "peer@opencti.test", "entity_type", "User",
				                 "capabilities", "name", "BYPASS", "name",
				                 "CONNECTORAPI", "name", "KNOWLEDGE");
		return json_null();
	}
	if (strcmp(name, "registerConnector") == 0) {
		const json_t *in = json_object_get(args, "input");
		const char *id = json_string_value(json_object_get(in, "id"));
		json_t *c;
		if (!id || !json_is_string(json_object_get(in, "name")) ||
		    !json_is_string(json_object_get(in, "type"))) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz,
			         "Variable \"$input\" got invalid value; fields id, name and "
			         "type are required.");
			return NULL;
		}
		if (!json_object_get(o->connectors, id) &&
		    json_object_size(o->connectors) >= 1000) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "the test peer's limit of 1000 connectors is reached");
			return NULL;
		}
		iso_ms(now_ms(), ts);
		c = json_pack("{s:s,s:O,s:O,s:O?,s:O?,s:n,s:b,s:s,s:s}", "id", id, "name",
		              json_object_get(in, "name"), "connector_type",
		              json_object_get(in, "type"), "connector_scope",
		              json_object_get(in, "scope"), "auto", json_object_get(in, "auto"),
		              "connector_state", "active", 1, "connector_user_id", user,
		              "updated_at", ts);
		if (json_object_get(o->connectors, id))
			json_object_set(
			    c, "connector_state",
			    json_object_get(json_object_get(o->connectors, id), "connector_state"));
		json_object_set_new(o->connectors, id, c);
		return connector_view(c);
	}
	if (strcmp(name, "pingConnector") == 0) {
		const char *id = json_string_value(json_object_get(args, "id"));
		json_t *c = id ? json_object_get(o->connectors, id) : NULL;
		if (!c) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "Connector not found");
			return NULL;
		}
		if (json_object_get(args, "state"))
			json_object_set(c, "connector_state", json_object_get(args, "state"));
		return connector_view(c);
	}
	if (strcmp(name, "connector") == 0) {
		const char *id = json_string_value(json_object_get(args, "id"));
		json_t *c = id ? json_object_get(o->connectors, id) : NULL;
		return c ? connector_view(c) : json_null();
	}
	if (strcmp(name, "workAdd") == 0) {
		const char *cid = json_string_value(json_object_get(args, "connectorId"));
		char id[256];
		if (!cid || !json_object_get(o->connectors, cid)) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "Connector not found");
			return NULL;
		}
		if (json_object_size(o->works) >= 100000) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "the test peer's limit of 100000 works is reached");
			return NULL;
		}
		iso_ms(now_ms(), ts);
		snprintf(id, sizeof(id), "work_%s_%s_%zu", cid, ts, json_object_size(o->works));
		json_object_set_new(o->works, id,
		                    json_pack("{s:s,s:s,s:O?,s:s}", "id", id, "connector_id", cid,
		                              "name", json_object_get(args, "friendlyName"),
		                              "status", "wait"));
		return json_pack("{s:s,s:s}", "id", id, "name", id);
	}
	if (strcmp(name, "stixBundlePush") == 0) {
		const char *cid = json_string_value(json_object_get(args, "connectorId"));
		const char *b = json_string_value(json_object_get(args, "bundle"));
		const char *work = json_string_value(json_object_get(args, "work_id"));
		struct sl_json_limits lim = {64u << 20, 64};
		struct sl_err e = {0};
		json_t *bundle;
		if (!cid || !json_object_get(o->connectors, cid)) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "Connector not found");
			return NULL;
		}
		if (!b) {
			*code = "BAD_USER_INPUT";
			snprintf(msg, msgsz,
			         "Variable \"$bundle\" of required type \"String!\" was not "
			         "provided.");
			return NULL;
		}
		bundle = sl_json_parse(b, strlen(b), &lim, "bundle", &e);
		if (!bundle || !json_is_object(bundle) ||
		    !json_is_string(json_object_get(bundle, "type")) ||
		    strcmp(json_string_value(json_object_get(bundle, "type")), "bundle") != 0 ||
		    !json_is_array(json_object_get(bundle, "objects"))) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz, "Invalid bundle: %s",
			         bundle ? "not a STIX bundle with objects" : e.msg);
			json_decref(bundle);
			return NULL;
		}
		if (json_array_size(json_object_get(bundle, "objects")) > o->max_bundle_objects) {
			*code = "FUNCTIONAL_ERROR";
			snprintf(msg, msgsz,
			         "Bundle has %zu objects, over this peer's limit of %zu",
			         json_array_size(json_object_get(bundle, "objects")),
			         o->max_bundle_objects);
			json_decref(bundle);
			return NULL;
		}
		enqueue(o, bundle, user,
		        evhttp_find_header(evhttp_request_get_input_headers(req),
		                           "opencti-applicant-id"),
		        work);
		return json_true();
	}
	if (strcmp(name, "stix") == 0) {
		const char *id = json_string_value(json_object_get(args, "id"));
		json_t *rec = id ? lookup(o, id) : NULL, *s;
		char *txt;
		if (!rec)
			return json_null();
		s = build_stix(o, rec);
		txt = json_dumps(s, JSON_COMPACT);
		json_decref(s);
		s = json_string(txt);
		free(txt);
		return s;
	}
	if (strcmp(name, "stixCoreObject") == 0 ||
	    strcmp(name, "stixObjectOrStixRelationship") == 0 || strcmp(name, "indicator") == 0 ||
	    strcmp(name, "report") == 0 || strcmp(name, "stixCyberObservable") == 0 ||
	    strcmp(name, "stixDomainObject") == 0) {
		const char *id = json_string_value(json_object_get(args, "id"));
		json_t *rec = id ? lookup(o, id) : NULL;
		return rec ? node_of(o, rec, 0) : json_null();
	}
	if (strcmp(name, "stixCoreObjects") == 0 || strcmp(name, "indicators") == 0 ||
	    strcmp(name, "reports") == 0 || strcmp(name, "stixCyberObservables") == 0) {
		json_t *r = list_objects(o, args,
		                         strcmp(name, "indicators") == 0 ? "Indicator"
		                         : strcmp(name, "reports") == 0  ? "Report"
		                                                         : NULL,
		                         strcmp(name, "stixCyberObservables") == 0, msg, msgsz);
		if (!r)
			*code = "FUNCTIONAL_ERROR";
		return r;
	}
	*code = "GRAPHQL_VALIDATION_FAILED";
	snprintf(msg, msgsz, "Cannot query field \"%s\" on this type.", name);
	return NULL;
}

static void h_graphql(struct octi *o, struct evhttp_request *req)
{
	char err[512];
	json_t *body, *op, *data, *errors, *f;
	const char *user = user_of(o, req), *q;
	size_t i;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		sl_peer_reply_json(o->peer, req, 405,
		                   json_pack("{s:[{s:s}]}", "errors", "message",
		                             "GraphQL only supports POST on this peer."));
		return;
	}
	body = sl_peer_body_json(o->peer, req, err, sizeof(err));
	q = json_string_value(json_object_get(body, "query"));
	if (!body || !q) {
		json_decref(body);
		sl_peer_reply_json(
		    o->peer, req, 400,
		    json_pack("{s:[o]}", "errors",
		              gql_error(body
		                            ? "GraphQL operations must contain a non-empty `query`."
		                            : err,
		                        "BAD_REQUEST", 400)));
		return;
	}
	op = sl_gql_parse(q, json_object_get(body, "variables"),
	                  json_string_value(json_object_get(body, "operationName")), err,
	                  sizeof(err));
	json_decref(body);
	if (!op) {
		sl_peer_reply_json(
		    o->peer, req, 400,
		    json_pack("{s:[o]}", "errors", gql_error(err, "GRAPHQL_PARSE_FAILED", 400)));
		return;
	}
	data = json_object();
	errors = json_array();
	json_array_foreach(json_object_get(op, "fields"), i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *alias = json_string_value(json_object_get(f, "alias"));
		const char *code = NULL;
		char msg[512];
		json_t *v;

		if (strcmp(name, "__typename") == 0) {
			json_object_set_new(
			    data, alias,
			    json_string(strcmp(json_string_value(json_object_get(op, "type")),
			                       "mutation") == 0
			                    ? "Mutation"
			                    : "Query"));
			continue;
		}
		if (!user) {
			json_t *e =
			    gql_error("You must be logged in to do this.", "AUTH_REQUIRED", 401);
			json_object_set_new(e, "path", json_pack("[s]", alias));
			json_array_append_new(errors, e);
			json_object_set_new(data, alias, json_null());
			continue;
		}
		{
			int handled = 0;
			v = NULL;
			if (strcmp(json_string_value(json_object_get(op, "type")), "mutation") == 0)
				v = object_mutation(o, user, f, &code, msg, sizeof(msg), &handled);
			if (!handled)
				v = resolve(o, req, user, name, json_object_get(f, "args"), &code,
				            msg, sizeof(msg));
		}
		if (!v && code && strcmp(code, "GRAPHQL_VALIDATION_FAILED") == 0) {
			json_decref(data);
			json_decref(errors);
			json_decref(op);
			sl_peer_reply_json(
			    o->peer, req, 400,
			    json_pack("{s:[o]}", "errors",
			              gql_error(msg, "GRAPHQL_VALIDATION_FAILED", 400)));
			return;
		}
		if (!v) {
			json_t *e = gql_error(msg, code, 200);
			json_object_set_new(e, "path", json_pack("[s]", alias));
			json_array_append_new(errors, e);
			json_object_set_new(data, alias, json_null());
			continue;
		}
		json_object_set_new(data, alias, sl_gql_project(v, json_object_get(f, "sel")));
		json_decref(v);
	}
	json_decref(op);
	if (json_array_size(errors))
		sl_peer_reply_json(o->peer, req, 200,
		                   json_pack("{s:o,s:o}", "errors", errors, "data", data));
	else {
		json_decref(errors);
		sl_peer_reply_json(o->peer, req, 200, json_pack("{s:o}", "data", data));
	}
}

/* ---- SSE ---- */

static int cmp_taxii(const void *a, const void *b);

static void client_remove(struct octi *o, struct client *c)
{
	struct client **pp;
	for (pp = &o->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	o->nclients--;
	free(c);
}

static void client_closed(struct evhttp_connection *evcon, void *arg)
{
	struct client *c = arg;
	struct evhttp_request *req = c->req;
	client_remove(c->o, c);
	/* a client that left mid-stream leaves its request to us (evhttp detached it) */
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

static void heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct octi *o = arg;
	struct client *c;
	char id[48], date[32], data[40];

	for (c = o->clients; c; c = c->next) {
		snprintf(id, sizeof(id), "%lld-%ld", c->last_ms, c->last_seq);
		iso_ms(c->last_ms, date);
		snprintf(data, sizeof(data), "\"%s\"", date);
		sse_write(c->req, id, "heartbeat", data);
	}
}

static const char *param(struct evhttp_request *req, const char *name, char **owned)
{
	*owned = sl_peer_query(req, name);
	if (*owned)
		return *owned;
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static int is_stream(const char *path)
{
	return strcmp(path, "/stream") == 0 || strncmp(path, "/stream/", 8) == 0;
}

static void h_stream(struct octi *o, struct evhttp_request *req, const char *path)
{
	char *f_own = NULL, *r_own = NULL, *l_own = NULL;
	const char *from, *recover, *ld;
	const char *user = user_of(o, req);
	struct client *c;
	long long fms = 0, rms = 0;
	long fseq = 0;
	int have_from, i;
	char connected[512], first_id[48], last_id[48], first_date[32], last_date[32], cid[37];
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		sl_peer_reply_json(o->peer, req, 405,
		                   json_pack("{s:s}", "error", "Method Not Allowed"));
		return;
	}
	if (strcmp(path, "/stream") != 0 && strcmp(path, "/stream/live") != 0 &&
	    strcmp(path, "/stream/" LIVE_STREAM_ID) != 0) {
		sl_peer_reply_json(o->peer, req, 404,
		                   json_pack("{s:s,s:s}", "status", "error", "message",
		                             "This live stream doesn't exist"));
		return;
	}
	if (!user) {
		sl_peer_reply_json(o->peer, req, 401,
		                   json_pack("{s:s,s:s}", "status", "unauthorized", "message",
		                             "You must be logged in to do this."));
		return;
	}
	if (o->nclients >= MAX_CLIENTS) {
		sl_peer_reply_json(o->peer, req, 429,
		                   json_pack("{s:s}", "error", "Too many stream connections"));
		return;
	}
	from = param(req, "from", &f_own);
	if (!from)
		from = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	recover = param(req, "recover", &r_own);
	if (!recover)
		recover = evhttp_find_header(evhttp_request_get_input_headers(req), "recover-date");
	ld = param(req, "listen-delete", &l_own);
	have_from = from && parse_pos(from, &fms, &fseq) == 0;
	if (from && !have_from) {
		sl_peer_reply_json(o->peer, req, 500,
		                   json_pack("{s:s}", "error", "Invalid start event id or date"));
		goto out;
	}
	if (recover && !have_from) {
		sl_peer_reply_json(o->peer, req, 500,
		                   json_pack("{s:s}", "error",
		                             "Recovery mode is only possible with a start date"));
		goto out;
	}
	if (recover && (rms = parse_iso(recover)) < 0) {
		sl_peer_reply_json(o->peer, req, 500,
		                   json_pack("{s:s}", "error", "Invalid recover date"));
		goto out;
	}
	evhttp_add_header(oh, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(oh, "Cache-Control", "no-cache, no-transform");
	evhttp_add_header(oh, "Connection", "keep-alive");
	evhttp_send_reply_start(req, 200, "OK");
	c = calloc(1, sizeof(*c));
	c->req = req;
	c->o = o;
	c->evcon = evhttp_request_get_connection(req);
	c->listen_delete = !(ld && strcmp(ld, "false") == 0);
	c->last_ms = o->last_ms;
	c->last_seq = o->last_seq;
	if (o->ring_len) {
		snprintf(first_id, sizeof(first_id), "%lld-%ld", ring_at(o, 0)->ms,
		         ring_at(o, 0)->seq);
		iso_ms(ring_at(o, 0)->ms, first_date);
	} else {
		snprintf(first_id, sizeof(first_id), "0-0");
		iso_ms(0, first_date);
	}
	snprintf(last_id, sizeof(last_id), "%lld-%ld", o->last_ms, o->last_seq);
	iso_ms(o->last_ms, last_date);
	sl_peer_uuid4(o->peer, cid);
	snprintf(connected, sizeof(connected),
	         "{\"lastEventId\":\"%s\",\"firstEventId\":\"%s\",\"firstEventDate\":\"%s\","
	         "\"lastEventDate\":\"%s\",\"streamSize\":%zu,\"connectionId\":\"%s\"}",
	         last_id, first_id, first_date, last_date, o->ring_len, cid);
	sse_write(req, NULL, "connected", connected);
	if (recover) {
		/* recovery: objects from the store updated between from and recover, as creates */
		size_t k, nrec = json_array_size(o->order);
		json_t **recs = calloc(nrec + 1, sizeof(*recs));
		/* OpenCTI replays the database in updated_at order */
		for (k = 0; k < nrec; k++)
			recs[k] = json_object_get(o->records,
			                          json_string_value(json_array_get(o->order, k)));
		qsort(recs, nrec, sizeof(*recs), cmp_taxii);
		o->cur_referer = "init-create";
		for (k = 0; k < nrec; k++) {
			json_t *rec = recs[k];
			long long u =
			    parse_iso(json_string_value(json_object_get(rec, "updated_at")));
			char msg[512], eid[48];
			if (u < fms || u > rms)
				continue;
			snprintf(msg, sizeof(msg), "creates a %s `%s`",
			         json_string_value(json_object_get(rec, "entity_type")),
			         label_of(json_object_get(rec, "props")));
			snprintf(eid, sizeof(eid), "%lld-0", u);
			json_t *env = envelope(o, "create", msg, build_stix(o, rec));
			json_object_set_new(env, "event_id", json_string(eid));
			char *s = json_dumps(env, JSON_COMPACT);
			sse_write(req, eid, "create", s);
			free(s);
			json_decref(env);
		}
		free(recs);
		o->cur_referer = NULL;
		fms = rms;
		fseq = 0;
		c->last_ms = rms;
		c->last_seq = 0;
		have_from = 1;
	}
	if (have_from) {
		for (i = 0; (size_t)i < o->ring_len; i++) {
			struct sse_event *e = ring_at(o, (size_t)i);
			if (pos_after(e->ms, e->seq, fms, fseq))
				send_event(c, e);
		}
	}
	c->next = o->clients;
	o->clients = c;
	o->nclients++;
	evhttp_connection_set_closecb(c->evcon, client_closed, c);
out:
	free(f_own);
	free(r_own);
	free(l_own);
}

/* ---- /_test ---- */

static void test_endpoints(struct octi *o, struct evhttp_request *req, const char *path)
{
	char msg[256];
	json_t *b = NULL;

	if (strcmp(path, "/_test/count") == 0) {
		/* how many objects are imported, cheaply (the dump builds them all) */
		int pending = 0;
		json_int_t received = 0;
		const char *k;
		json_t *d;
		for (struct push *p = o->queue; p; p = p->next)
			pending++;
		json_object_foreach(o->deliveries, k, d) received +=
		    json_integer_value(json_object_get(d, "received"));
		sl_peer_reply_json(o->peer, req, 200,
		                   json_pack("{s:I,s:I,s:I,s:i}", "count",
		                             (json_int_t)json_array_size(o->order), "received",
		                             received, "import_errors",
		                             (json_int_t)json_array_size(o->import_errors),
		                             "pending_bundles", pending));
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		sl_peer_reply_json(o->peer, req, 404,
		                   json_pack("{s:s}", "error", "no such test endpoint"));
		return;
	}
	b = sl_peer_body_json(o->peer, req, msg, sizeof(msg));
	if (strcmp(path, "/_test/stix") == 0 && json_is_array(json_object_get(b, "objects"))) {
		/* someone else edits OpenCTI: applied at once, as user_id (default: another
		 * analyst) */
		const char *u = json_string_value(json_object_get(b, "user_id"));
		size_t before = json_array_size(o->import_errors);
		o->cur_user = u ? u : "6a4b11e1-90ca-4e42-ba42-db7bc7f7d505";
		import_bundle(o, b);
		o->cur_user = NULL;
		sl_peer_reply_json(
		    o->peer, req, 200,
		    json_pack("{s:I}", "errors",
		              (json_int_t)(json_array_size(o->import_errors) - before)));
	} else if (strcmp(path, "/_test/delete") == 0 && json_is_string(json_object_get(b, "id"))) {
		json_t *rec = lookup(o, json_string_value(json_object_get(b, "id")));
		if (rec) {
			o->cur_user = "6a4b11e1-90ca-4e42-ba42-db7bc7f7d505";
			delete_record(o, rec);
			o->cur_user = NULL;
		}
		sl_peer_reply_json(o->peer, req, rec ? 200 : 404,
		                   json_pack("{s:b}", "deleted", rec != NULL));
	} else if (strcmp(path, "/_test/raw_event") == 0 &&
	           json_is_string(json_object_get(b, "event")) &&
	           json_is_string(json_object_get(b, "data")) &&
	           !strpbrk(json_string_value(json_object_get(b, "data")), "\r\n") &&
	           !strpbrk(json_string_value(json_object_get(b, "event")), "\r\n")) {
		/* a stream event with this data line as it is (broken JSON, wrong shapes) */
		emit_data(o, json_string_value(json_object_get(b, "event")), NULL,
		          json_string_value(json_object_get(b, "data")));
		char id[48];
		snprintf(id, sizeof(id), "%lld-%ld", o->last_ms, o->last_seq);
		sl_peer_reply_json(o->peer, req, 200, json_pack("{s:s}", "id", id));
	} else if (strcmp(path, "/_test/flush") == 0) {
		/* apply queued bundles now */
		for (struct push *p = o->queue; p; p = p->next)
			p->due_ms = 0;
		apply_due(-1, 0, o);
		sl_peer_reply_json(o->peer, req, 200, json_pack("{s:b}", "flushed", 1));
	} else {
		sl_peer_reply_json(
		    o->peer, req, 400,
		    json_pack("{s:s}", "error", b ? "unknown test endpoint or body" : msg));
	}
	json_decref(b);
}

/* ---- TAXII 2.1 (OpenCTI's httpTaxii.js, research note §2.1) ---- */

#define TAXII_CT "application/taxii+json;version=2.1"
#define TAXII_ALL "3c3e5b3a-6c55-4b2e-8f0a-2a7f1c0d0001"
#define TAXII_IND "3c3e5b3a-6c55-4b2e-8f0a-2a7f1c0d0002"
#define TAXII_MAX 500

static void taxii_reply(struct octi *o, struct evhttp_request *req, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	sl_peer_reply_text(o->peer, req, status, TAXII_CT, s, strlen(s));
	free(s);
	json_decref(body);
}

static void taxii_error(struct octi *o, struct evhttp_request *req, int status, const char *title,
                        const char *desc)
{
	char st[8];
	snprintf(st, sizeof(st), "%d", status);
	taxii_reply(
	    o, req, status,
	    json_pack("{s:s,s:s,s:s}", "title", title, "description", desc, "http_status", st));
}

/* Bearer <token>, or Basic with any user name and a token as the password. */
static const char *taxii_user(struct octi *o, struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	unsigned char dec[512];
	int n;
	const char *colon;

	if (a && strncmp(a, "Bearer ", 7) == 0)
		return user_of(o, req);
	if (!a || strncmp(a, "Basic ", 6) != 0 || strlen(a + 6) >= sizeof(dec) * 3 / 4)
		return NULL;
	n = EVP_DecodeBlock(dec, (const unsigned char *)a + 6, (int)strlen(a + 6));
	if (n <= 0)
		return NULL;
	dec[n] = '\0';
	colon = strchr((char *)dec, ':');
	if (!colon)
		return NULL;
	/* EVP_DecodeBlock pads with NUL bytes, which strcmp stops at */
	for (int i = 0; i < o->nusers; i++)
		if (strcmp(colon + 1, o->users[i].token) == 0)
			return o->users[i].id;
	return NULL;
}

static json_t *taxii_collection(const char *id)
{
	int all = strcmp(id, TAXII_ALL) == 0;
	return json_pack("{s:s,s:s,s:s,s:b,s:b,s:[s]}", "id", id, "title",
	                 all ? "All knowledge" : "Indicators", "description",
	                 all ? "every object" : "entity_type = Indicator", "can_read", 1,
	                 "can_write", 0, "media_types", "application/stix+json;version=2.1");
}

static int cmp_taxii(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "updated_at")),
	               json_string_value(json_object_get(y, "updated_at")));
	if (c == 0)
		c = strcmp(json_string_value(json_object_get(x, "internal_id")),
		           json_string_value(json_object_get(y, "internal_id")));
	return c;
}

static int csv_has(const char *csv, const char *v)
{
	size_t l = strlen(v);
	for (const char *p = csv; p && *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == l && strncmp(p, v, l) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* objects/, manifest/, objects/{id}/ and objects/{id}/versions/ of one collection. */
static void taxii_objects(struct octi *o, struct evhttp_request *req, const char *coll,
                          const char *object_id, int manifest, int versions)
{
	char *limit_s = sl_peer_query(req, "limit"), *next = sl_peer_query(req, "next");
	char *after = sl_peer_query(req, "added_after"), *mtype = sl_peer_query(req, "match[type]");
	char *mid = sl_peer_query(req, "match[id]"), *mver = sl_peer_query(req, "match[version]");
	char *mspec = sl_peer_query(req, "match[spec_version]");
	long limit = limit_s ? strtol(limit_s, NULL, 10) : TAXII_MAX;
	long long after_ms = after ? parse_iso(after) : -1;
	json_t **sel = calloc(json_array_size(o->order) + 1, sizeof(*sel)), *id, *list;
	size_t n = 0, i, start = 0, end;
	int only_ind = strcmp(coll, TAXII_IND) == 0;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	if (limit <= 0 || limit > TAXII_MAX)
		limit = TAXII_MAX;
	if ((after && after_ms < 0) || (mver && strcmp(mver, "last") != 0) ||
	    (mspec && strcmp(mspec, "2.1") != 0)) {
		taxii_error(o, req, 400, "Bad request",
		            "added_after must be a date; match[version] only 'last'; "
		            "match[spec_version] only '2.1'");
		goto out;
	}
	json_array_foreach(o->order, i, id)
	{
		json_t *rec = json_object_get(o->records, json_string_value(id));
		const char *st =
		    json_string_value(json_object_get(json_object_get(rec, "props"), "type"));
		if (only_ind && strcmp(json_string_value(json_object_get(rec, "entity_type")),
		                       "Indicator") != 0)
			continue;
		if (after_ms >= 0 &&
		    parse_iso(json_string_value(json_object_get(rec, "updated_at"))) <= after_ms)
			continue;
		if (mtype && !csv_has(mtype, st))
			continue;
		if (object_id &&
		    strcmp(object_id, json_string_value(json_object_get(rec, "standard_id"))) != 0)
			continue;
		if (mid && !csv_has(mid, json_string_value(json_object_get(rec, "standard_id"))))
			continue;
		sel[n++] = rec;
	}
	qsort(sel, n, sizeof(*sel), cmp_taxii);
	if (object_id && n == 0) {
		taxii_error(o, req, 404, "Not found", "no such object in this collection");
		goto out;
	}
	/* the cursor is the sort key of the last object served, so updates between pages are safe
	 */
	if (next) {
		while (start < n) {
			char key[128];
			snprintf(key, sizeof(key), "%s_%s",
			         json_string_value(json_object_get(sel[start], "updated_at")),
			         json_string_value(json_object_get(sel[start], "internal_id")));
			if (strcmp(key, next) > 0)
				break;
			start++;
		}
	}
	if (versions) {
		json_t *v = json_array();
		for (i = 0; i < n; i++)
			json_array_append(v, json_object_get(sel[i], "updated_at"));
		taxii_reply(o, req, 200, json_pack("{s:b,s:o}", "more", 0, "versions", v));
		goto out;
	}
	end = start + (size_t)limit < n ? start + (size_t)limit : n;
	list = json_array();
	for (i = start; i < end; i++) {
		if (manifest)
			json_array_append_new(
			    list, json_pack("{s:O,s:O,s:O,s:s}", "id",
			                    json_object_get(sel[i], "standard_id"), "date_added",
			                    json_object_get(sel[i], "updated_at"), "version",
			                    json_object_get(sel[i], "updated_at"), "media_type",
			                    "application/stix+json;version=2.1"));
		else
			json_array_append_new(list, build_stix(o, sel[i]));
	}
	if (end > start) {
		evhttp_add_header(oh, "X-TAXII-Date-Added-First",
		                  json_string_value(json_object_get(sel[start], "updated_at")));
		evhttp_add_header(oh, "X-TAXII-Date-Added-Last",
		                  json_string_value(json_object_get(sel[end - 1], "updated_at")));
	}
	{
		json_t *env =
		    json_pack("{s:b,s:o}", "more", end < n, manifest ? "objects" : "objects", list);
		if (end < n) {
			char key[128];
			snprintf(key, sizeof(key), "%s_%s",
			         json_string_value(json_object_get(sel[end - 1], "updated_at")),
			         json_string_value(json_object_get(sel[end - 1], "internal_id")));
			json_object_set_new(env, "next", json_string(key));
		}
		taxii_reply(o, req, 200, env);
	}
out:
	free(sel);
	free(limit_s);
	free(next);
	free(after);
	free(mtype);
	free(mid);
	free(mver);
	free(mspec);
}

static void h_taxii(struct octi *o, struct evhttp_request *req, const char *path)
{
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	const char *user = taxii_user(o, req), *rest;
	char base[300], coll[64], sub[300];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		taxii_error(o, req, 405, "Method not allowed",
		            "this peer serves read-only collections (no TAXII push, no DELETE)");
		return;
	}
	if (!user) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Basic, Bearer");
		taxii_error(o, req, 401, "Unauthorized", "You must be logged in to do this.");
		return;
	}
	snprintf(base, sizeof(base), "http://%s", host ? host : "127.0.0.1");
	if (strcmp(path, "/taxii2/") == 0 || strcmp(path, "/taxii2") == 0) {
		char root[400];
		snprintf(root, sizeof(root), "%s/taxii2/root/", base);
		taxii_reply(o, req, 200,
		            json_pack("{s:s,s:s,s:s,s:[s]}", "title", "OpenCTI TAXII Server",
		                      "description", "test peer", "default", root, "api_roots",
		                      root));
		return;
	}
	if (strcmp(path, "/taxii2/root/") == 0 || strcmp(path, "/taxii2/root") == 0) {
		taxii_reply(o, req, 200,
		            json_pack("{s:s,s:s,s:[s],s:I}", "title", "OpenCTI TAXII Server",
		                      "description", "test peer", "versions", TAXII_CT,
		                      "max_content_length", (json_int_t)(50 * 1024 * 1024)));
		return;
	}
	if (strcmp(path, "/taxii2/root/collections/") == 0 ||
	    strcmp(path, "/taxii2/root/collections") == 0) {
		taxii_reply(o, req, 200,
		            json_pack("{s:[o,o]}", "collections", taxii_collection(TAXII_ALL),
		                      taxii_collection(TAXII_IND)));
		return;
	}
	rest = path + strlen("/taxii2/root/collections/");
	if (strncmp(path, "/taxii2/root/collections/", 25) != 0 ||
	    sscanf(rest, "%63[^/]", coll) != 1 ||
	    (strcmp(coll, TAXII_ALL) != 0 && strcmp(coll, TAXII_IND) != 0)) {
		taxii_error(o, req, 404, "Not found", "unknown collection or path");
		return;
	}
	rest += strlen(coll);
	snprintf(sub, sizeof(sub), "%s", rest);
	if (strcmp(sub, "/") == 0 || strcmp(sub, "") == 0)
		taxii_reply(o, req, 200, taxii_collection(coll));
	else if (strcmp(sub, "/objects/") == 0 || strcmp(sub, "/objects") == 0)
		taxii_objects(o, req, coll, NULL, 0, 0);
	else if (strcmp(sub, "/manifest/") == 0 || strcmp(sub, "/manifest") == 0)
		taxii_objects(o, req, coll, NULL, 1, 0);
	else if (strncmp(sub, "/objects/", 9) == 0) {
		char oid[200], tail[64] = "";
		if (sscanf(sub + 9, "%199[^/]%63s", oid, tail) < 1) {
			taxii_error(o, req, 404, "Not found", "unknown path");
			return;
		}
		if (strcmp(tail, "/versions/") == 0 || strcmp(tail, "/versions") == 0)
			taxii_objects(o, req, coll, oid, 0, 1);
		else if (strcmp(tail, "/") == 0 || tail[0] == '\0')
			taxii_objects(o, req, coll, oid, 0, 0);
		else
			taxii_error(o, req, 404, "Not found", "unknown path");
	} else {
		taxii_error(o, req, 404, "Not found", "unknown path");
	}
}

static void handle(struct sl_peer *p, struct evhttp_request *req, const char *path, void *ctx)
{
	struct octi *o = ctx;

	if (strncmp(path, "/_test/", 7) == 0)
		test_endpoints(o, req, path);
	else if (strcmp(path, "/graphql") == 0)
		h_graphql(o, req);
	else if (is_stream(path))
		h_stream(o, req, path);
	else if (strncmp(path, "/taxii2", 7) == 0)
		h_taxii(o, req, path);
	else
		sl_peer_reply_json(p, req, 404, json_pack("{s:s}", "error", "Not Found"));
}

static json_t *dump(void *ctx)
{
	struct octi *o = ctx;
	json_t *objs = json_array(), *id;
	size_t i;
	int pending = 0;
	char first[48] = "0-0", last[48];

	json_array_foreach(o->order, i, id) json_array_append_new(
	    objs, build_stix(o, json_object_get(o->records, json_string_value(id))));
	for (struct push *p = o->queue; p; p = p->next)
		pending++;
	if (o->ring_len)
		snprintf(first, sizeof(first), "%lld-%ld", ring_at(o, 0)->ms, ring_at(o, 0)->seq);
	snprintf(last, sizeof(last), "%lld-%ld", o->last_ms, o->last_seq);
	return json_pack("{s:o,s:I,s:O,s:O,s:O,s:O,s:i,s:{s:s,s:s,s:I,s:i}}", "objects", objs,
	                 "count", (json_int_t)json_array_size(o->order), "deliveries",
	                 o->deliveries, "connectors", o->connectors, "works", o->works,
	                 "import_errors", o->import_errors, "pending_bundles", pending, "stream",
	                 "first", first, "last", last, "size", (json_int_t)o->ring_len, "clients",
	                 o->nclients);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: opencti-peer [--port N] [--token TOKEN] [--user TOKEN=USER_UUID]\n"
	        "                    [--seed-rng N] [--fault KIND[:RATE]] [--apply-delay-ms MS]\n"
	        "                    [--heartbeat-ms MS] [--stream-max N] [--max-objects N]\n"
	        "                    [--max-bundle-objects N] [--max-body BYTES] "
	        "[--user-confidence N]\n"
	        "                    [--slow-ms MS] [--slow-bytes N]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"port", required_argument, NULL, 'p'},
	                                   {"token", required_argument, NULL, 't'},
	                                   {"user", required_argument, NULL, 'u'},
	                                   {"seed-rng", required_argument, NULL, 'r'},
	                                   {"fault", required_argument, NULL, 'f'},
	                                   {"apply-delay-ms", required_argument, NULL, 'a'},
	                                   {"heartbeat-ms", required_argument, NULL, 'H'},
	                                   {"stream-max", required_argument, NULL, 'S'},
	                                   {"max-objects", required_argument, NULL, 'O'},
	                                   {"max-bundle-objects", required_argument, NULL, 'B'},
	                                   {"max-body", required_argument, NULL, 'b'},
	                                   {"user-confidence", required_argument, NULL, 'C'},
	                                   {"slow-ms", required_argument, NULL, 'w'},
	                                   {"slow-bytes", required_argument, NULL, 'c'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	static const struct sl_peer_ops ops = {handle, error_body, dump, is_stream};
	static struct octi o;
	struct sl_peer_opts po = {0};
	int port = 0, c, rc = 0;
	char err[512];
	struct event *sigint, *sigterm;
	struct timeval hb;

	o.users[0] = (struct user){"opencti-test-token", ADMIN_ID, "admin"};
	o.nusers = 1;
	o.max_objects = 200000;
	o.max_bundle_objects = 50000;
	o.user_confidence = 100;
	o.ring_cap = 100000;
	o.heartbeat_ms = 5000;
	o.apply_delay_ms = 200;
	po.rng_seed = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 't':
			o.users[0].token = optarg;
			break;
		case 'u': {
			char *eq = strchr(optarg, '=');
			if (!eq || o.nusers >= MAX_USERS) {
				usage();
				return 2;
			}
			*eq = '\0';
			o.users[o.nusers++] = (struct user){optarg, eq + 1, "user"};
			break;
		}
		case 'r':
			po.rng_seed = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			po.fault = optarg;
			break;
		case 'a':
			o.apply_delay_ms = atoi(optarg);
			break;
		case 'H':
			o.heartbeat_ms = atoi(optarg);
			break;
		case 'S':
			o.ring_cap = strtoul(optarg, NULL, 10);
			break;
		case 'O':
			o.max_objects = strtoul(optarg, NULL, 10);
			break;
		case 'B':
			o.max_bundle_objects = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			po.max_body = strtoul(optarg, NULL, 10);
			break;
		case 'C':
			o.user_confidence = atoi(optarg);
			break;
		case 'w':
			po.slow_ms = atoi(optarg);
			break;
		case 'c':
			po.slow_bytes = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (o.ring_cap == 0 || o.heartbeat_ms <= 0 || o.apply_delay_ms < 0) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	o.base = event_base_new();
	o.records = json_object();
	o.index = json_object();
	o.order = json_array();
	o.deliveries = json_object();
	o.connectors = json_object();
	o.works = json_object();
	o.import_errors = json_array();
	o.ring = calloc(o.ring_cap, sizeof(*o.ring));
	o.apply_timer = evtimer_new(o.base, apply_due, &o);
	o.heartbeat = event_new(o.base, -1, EV_PERSIST, heartbeat, &o);
	o.peer = sl_peer_new(o.base, port, &ops, &o, &po, err, sizeof(err));
	if (!o.peer) {
		fprintf(stderr, "opencti-peer: %s\n", err);
		rc = 1;
		goto out;
	}
	hb.tv_sec = o.heartbeat_ms / 1000;
	hb.tv_usec = (o.heartbeat_ms % 1000) * 1000;
	event_add(o.heartbeat, &hb);
	printf("LISTEN http://127.0.0.1:%d\n", sl_peer_port(o.peer));
	fflush(stdout);
	sigint = evsignal_new(o.base, SIGINT, on_signal, o.base);
	sigterm = evsignal_new(o.base, SIGTERM, on_signal, o.base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(o.base);
	event_free(sigint);
	event_free(sigterm);
out:
	/* freeing the server closes the stream connections, whose close callbacks free the clients
	 */
	sl_peer_free(o.peer);
	while (o.clients)
		client_remove(&o, o.clients);
	while (o.queue) {
		struct push *p = o.queue;
		o.queue = p->next;
		json_decref(p->bundle);
		free(p->user_id);
		free(p->applicant_id);
		free(p->work_id);
		free(p);
	}
	for (size_t i = 0; i < o.ring_len; i++) {
		free(ring_at(&o, i)->event);
		free(ring_at(&o, i)->data);
	}
	free(o.ring);
	event_free(o.apply_timer);
	event_free(o.heartbeat);
	json_decref(o.records);
	json_decref(o.index);
	json_decref(o.order);
	json_decref(o.deliveries);
	json_decref(o.connectors);
	json_decref(o.works);
	json_decref(o.import_errors);
	event_base_free(o.base);
	return rc;
}
