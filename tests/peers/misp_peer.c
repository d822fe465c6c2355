/* misp_peer.c — an in-memory MISP that speaks MISP's REST API (events, sightings, version, me) on a
 * loopback port, with seeded faults; sluice's tests sync against it. See docs/testing.md. */
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>

#include "json.h"
#include "peer_http.h"

#define MISP_VERSION "2.4.190"
#define DEFAULT_AUTHKEY "sluiceTestMispKey0000000000000000000000a"

struct misp {
	struct sl_peer *peer;
	json_t *events;     /* array of Event objects (no wrapper), ordered by id */
	json_t *deliveries; /* uuid -> {add, edit, applied, rejected, versions[]} */
	json_t *sightings;  /* array of Sighting objects */
	json_t *sighting_posts; /* event uuid -> {"requests", "saved"} of bulkSaveSightings */
	long next_id, next_attr_id, next_sighting_id;
	const char *authkey;
	const char *org_name, *org_uuid;
	size_t max_events;
	int lenient_accept;
	/* POST /_test/answer: answer every API request with this status instead of handling it */
	int answer_status;
	long answer_left; /* how many more (-1 = until cleared) */
	char answer_retry_after[32];
	unsigned long answered;
	/* GET /_test/requests: the API requests that reached the handlers, oldest first (bounded)
	 */
	json_t *reqlog;
	unsigned long reqlog_dropped;
};

#define REQLOG_MAX 50000

/* Wall-clock milliseconds: peers and tests share the clock, so a test can compare the times two
 * peers saw things (when sluice first read an event, when it arrived elsewhere). */
static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *misp_error(const char *name, const char *url)
{
	return json_pack("{s:s,s:s,s:s}", "name", name, "message", name, "url", url);
}

static json_t *error_body(int status, const char *path, void *ctx)
{
	if (status == 401 || status == 403)
		return misp_error(
		    "Authentication failed. Please make sure you pass the API key of an "
		    "API enabled user along in the Authorization header.",
		    path);
	if (status == 404)
		return misp_error("Not Found", path);
	return misp_error("An Internal Error Has Occurred.", path);
}

/* MISP sends numbers as strings and accepts both. */
static int num_of(const json_t *v, long long *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (!*s)
			return -1;
		*out = strtoll(s, &end, 10);
		return *end ? -1 : 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	return -1;
}

static void set_numstr(json_t *o, const char *key, long long v)
{
	char b[32];
	snprintf(b, sizeof(b), "%lld", v);
	json_object_set_new(o, key, json_string(b));
}

static void numstr_field(json_t *o, const char *key, long long dflt)
{
	long long v;
	if (num_of(json_object_get(o, key), &v) != 0)
		v = dflt;
	set_numstr(o, key, v);
}

static int truthy(const json_t *v)
{
	long long n;
	if (json_is_true(v))
		return 1;
	if (num_of(v, &n) == 0)
		return n != 0;
	return 0;
}

static long long ev_num(const json_t *ev, const char *key)
{
	long long v = 0;
	num_of(json_object_get(ev, key), &v);
	return v;
}

/* An event is found by its local id (digits) or its uuid. */
static int find_event(struct misp *m, const char *key)
{
	size_t i;
	json_t *ev;
	int numeric = *key && strspn(key, "0123456789") == strlen(key);

	json_array_foreach(m->events, i, ev)
	{
		const char *v = json_string_value(json_object_get(ev, numeric ? "id" : "uuid"));
		if (v && strcasecmp(v, key) == 0)
			return (int)i;
	}
	return -1;
}

/* Attributes an event holds, its objects' included (how complete a delivered version is). */
static json_int_t attribute_count(const json_t *ev)
{
	const json_t *o;
	json_int_t n = (json_int_t)json_array_size(json_object_get(ev, "Attribute"));
	size_t i;

	json_array_foreach(json_object_get(ev, "Object"), i, o) n +=
	    (json_int_t)json_array_size(json_object_get(o, "Attribute"));
	return n;
}

static json_t *delivery(struct misp *m, const char *uuid)
{
	json_t *d = json_object_get(m->deliveries, uuid);
	if (!d) {
		d = json_pack("{s:i,s:i,s:i,s:i,s:[],s:[],s:[]}", "add", 0, "edit", 0, "applied", 0,
		              "rejected", 0, "versions", "applied_ms", "attributes");
		json_object_set_new(m->deliveries, uuid, d);
	}
	return d;
}

static void count(json_t *d, const char *key)
{
	json_object_set_new(d, key, json_integer(json_integer_value(json_object_get(d, key)) + 1));
}

static json_t *our_org(struct misp *m)
{
	return json_pack("{s:s,s:s,s:s,s:b}", "id", "1", "name", m->org_name, "uuid", m->org_uuid,
	                 "local", 1);
}

static void normalise_attributes(struct misp *m, json_t *list, const char *event_id,
                                 long long ev_ts)
{
	size_t i;
	json_t *a;
	char uuid[37];

	if (!json_is_array(list))
		return;
	json_array_foreach(list, i, a)
	{
		if (!json_is_object(a))
			continue;
		if (!json_is_string(json_object_get(a, "uuid"))) {
			sl_peer_uuid4(m->peer, uuid);
			json_object_set_new(a, "uuid", json_string(uuid));
		}
		if (!json_object_get(a, "id"))
			set_numstr(a, "id", m->next_attr_id++);
		json_object_set_new(a, "event_id", json_string(event_id));
		numstr_field(a, "timestamp", ev_ts);
		numstr_field(a, "distribution", 5);
		numstr_field(a, "sharing_group_id", 0);
		if (!json_is_boolean(json_object_get(a, "to_ids")))
			json_object_set_new(a, "to_ids",
			                    json_boolean(truthy(json_object_get(a, "to_ids"))));
		if (!json_is_boolean(json_object_get(a, "deleted")))
			json_object_set_new(a, "deleted",
			                    json_boolean(truthy(json_object_get(a, "deleted"))));
	}
}

/* Fill in what MISP adds on save, keeping what the sender gave (uuid, timestamps, distribution). */
static void normalise_event(struct misp *m, json_t *ev, const char *id)
{
	time_t now = time(NULL);
	long long ts;
	char uuid[37];
	size_t i, nattr = 0;
	json_t *o;

	json_object_set_new(ev, "id", json_string(id));
	if (!json_is_string(json_object_get(ev, "uuid"))) {
		sl_peer_uuid4(m->peer, uuid);
		json_object_set_new(ev, "uuid", json_string(uuid));
	}
	if (num_of(json_object_get(ev, "timestamp"), &ts) != 0 || ts == 0)
		ts = (long long)now;
	set_numstr(ev, "timestamp", ts);
	numstr_field(ev, "publish_timestamp", 0);
	numstr_field(ev, "distribution", 1);
	numstr_field(ev, "sharing_group_id", 0);
	numstr_field(ev, "threat_level_id", 4);
	numstr_field(ev, "analysis", 0);
	json_object_set_new(ev, "published",
	                    json_boolean(truthy(json_object_get(ev, "published"))));
	if (!json_is_string(json_object_get(ev, "info")))
		json_object_set_new(ev, "info", json_string(""));
	if (!json_is_string(json_object_get(ev, "date"))) {
		char d[16];
		strftime(d, sizeof(d), "%Y-%m-%d", gmtime(&now));
		json_object_set_new(ev, "date", json_string(d));
	}
	json_object_set_new(ev, "Org", our_org(m));
	json_object_set_new(ev, "org_id", json_string("1"));
	if (!json_is_object(json_object_get(ev, "Orgc")))
		json_object_set_new(ev, "Orgc", our_org(m));
	json_object_set_new(ev, "orgc_id", json_string("1"));
	if (!json_is_array(json_object_get(ev, "Attribute")))
		json_object_set_new(ev, "Attribute", json_array());
	if (!json_is_array(json_object_get(ev, "Object")))
		json_object_set_new(ev, "Object", json_array());
	normalise_attributes(m, json_object_get(ev, "Attribute"), id, ts);
	nattr = json_array_size(json_object_get(ev, "Attribute"));
	json_array_foreach(json_object_get(ev, "Object"), i, o)
	{
		if (!json_is_object(o))
			continue;
		if (!json_is_string(json_object_get(o, "uuid"))) {
			sl_peer_uuid4(m->peer, uuid);
			json_object_set_new(o, "uuid", json_string(uuid));
		}
		json_object_set_new(o, "event_id", json_string(id));
		normalise_attributes(m, json_object_get(o, "Attribute"), id, ts);
		nattr += json_array_size(json_object_get(o, "Attribute"));
	}
	set_numstr(ev, "attribute_count", (long long)nattr);
}

/* The body's Event, whether wrapped ({"Event": {...}}) or bare, as MISP accepts both. */
static json_t *body_event(json_t *body)
{
	json_t *ev = json_object_get(body, "Event");
	if (json_is_object(ev))
		return ev;
	return json_is_object(body) ? body : NULL;
}

static json_t *wrap(json_t *ev)
{
	return json_pack("{s:O}", "Event", ev);
}

/* A copy fit to show: soft-deleted attributes only when asked. */
static json_t *shown(const json_t *ev, int with_deleted, int metadata)
{
	json_t *c = json_deep_copy(ev);
	json_t *attrs = json_object_get(c, "Attribute"), *o, *a;
	size_t i, j;

	if (metadata) {
		json_object_del(c, "Attribute");
		json_object_del(c, "Object");
		json_object_del(c, "ShadowAttribute");
		return c;
	}
	if (with_deleted)
		return c;
	for (i = json_array_size(attrs); i-- > 0;)
		if (json_is_true(json_object_get(json_array_get(attrs, i), "deleted")))
			json_array_remove(attrs, i);
	json_array_foreach(json_object_get(c, "Object"), j, o)
	{
		json_t *oa = json_object_get(o, "Attribute");
		for (i = json_array_size(oa); i-- > 0;) {
			a = json_array_get(oa, i);
			if (json_is_true(json_object_get(a, "deleted")))
				json_array_remove(oa, i);
		}
	}
	return c;
}

static int add_event(struct misp *m, json_t *ev, int *index_out)
{
	char id[32];

	if (json_array_size(m->events) >= m->max_events)
		return -1;
	snprintf(id, sizeof(id), "%ld", m->next_id++);
	normalise_event(m, ev, id);
	json_array_append(m->events, ev);
	*index_out = (int)json_array_size(m->events) - 1;
	return 0;
}

/* ---- handlers ---- */

static void h_add(struct misp *m, struct evhttp_request *req, const char *path)
{
	char msg[256];
	json_t *body = sl_peer_body_json(m->peer, req, msg, sizeof(msg));
	json_t *ev = body_event(body), *copy, *d = NULL;
	const char *uuid;
	int at;

	if (!ev) {
		json_t *e = json_pack("{s:b,s:s,s:s,s:s,s:{s:[s]}}", "saved", 0, "name",
		                      "Could not add Event", "message", "Could not add Event",
		                      "url", "/events/add", "errors", "Event", msg);
		json_decref(body);
		sl_peer_reply_json(m->peer, req, 403, e);
		return;
	}
	uuid = json_string_value(json_object_get(ev, "uuid"));
	if (uuid) {
		d = delivery(m, uuid);
		count(d, "add");
	}
	if (uuid && (at = find_event(m, uuid)) >= 0) {
		char loc[128];
		json_t *old = json_array_get(m->events, (size_t)at);
		count(d, "rejected");
		snprintf(loc, sizeof(loc), "/events/%s",
		         json_string_value(json_object_get(old, "id")));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
		json_decref(body);
		sl_peer_reply_json(m->peer, req, 404,
		                   misp_error("Event already exists, if you would like to edit it, "
		                              "use the url in the location header.",
		                              "/events/add"));
		return;
	}
	copy = json_deep_copy(ev);
	json_decref(body);
	if (add_event(m, copy, &at) != 0) {
		json_decref(copy);
		if (d)
			count(d, "rejected");
		sl_peer_reply_json(m->peer, req, 403,
		                   json_pack("{s:b,s:s,s:s,s:s,s:s}", "saved", 0, "name",
		                             "Could not add Event", "message",
		                             "Could not add Event", "url", "/events/add", "errors",
		                             "the test peer's event limit is reached"));
		return;
	}
	d = delivery(m, json_string_value(json_object_get(copy, "uuid")));
	count(d, "applied");
	json_array_append_new(json_object_get(d, "versions"),
	                      json_integer(ev_num(copy, "timestamp")));
	json_array_append_new(json_object_get(d, "applied_ms"), json_integer(wall_ms()));
	json_array_append_new(json_object_get(d, "attributes"),
	                      json_integer(attribute_count(copy)));
	sl_peer_reply_json(m->peer, req, 200, wrap(copy));
	json_decref(copy);
}

static void merge_by_uuid(json_t *old_list, json_t *new_list)
{
	size_t i, j;
	json_t *n, *o;

	json_array_foreach(new_list, i, n)
	{
		const char *u = json_string_value(json_object_get(n, "uuid"));
		int found = 0;
		json_array_foreach(old_list, j, o)
		{
			const char *ou = json_string_value(json_object_get(o, "uuid"));
			if (u && ou && strcasecmp(u, ou) == 0) {
				/* like MISP, an attribute only changes if its own timestamp is
				 * newer */
				if (ev_num(n, "timestamp") > ev_num(o, "timestamp") ||
				    !json_object_get(n, "timestamp"))
					json_array_set(old_list, j, n);
				found = 1;
				break;
			}
		}
		if (!found)
			json_array_append(old_list, n);
	}
}

static void h_edit(struct misp *m, struct evhttp_request *req, const char *key)
{
	char msg[256], url[128];
	json_t *body = sl_peer_body_json(m->peer, req, msg, sizeof(msg));
	json_t *ev = body_event(body), *old, *merged, *d;
	int at = find_event(m, key);
	long long ts;
	const char *k;
	json_t *v;

	snprintf(url, sizeof(url), "/events/edit/%s", key);
	if (at < 0) {
		json_decref(body);
		sl_peer_reply_json(m->peer, req, 404, misp_error("Invalid event", url));
		return;
	}
	old = json_array_get(m->events, (size_t)at);
	d = delivery(m, json_string_value(json_object_get(old, "uuid")));
	count(d, "edit");
	if (!ev) {
		count(d, "rejected");
		json_decref(body);
		sl_peer_reply_json(m->peer, req, 403,
		                   json_pack("{s:b,s:s,s:s,s:s,s:s,s:s}", "saved", 0, "name",
		                             "Could not edit Event", "message",
		                             "Could not edit Event", "url", url, "errors", msg,
		                             "id", json_string_value(json_object_get(old, "id"))));
		return;
	}
	/* MISP's sync rule: a given timestamp must be newer than the stored one */
	if (num_of(json_object_get(ev, "timestamp"), &ts) == 0 && ts <= ev_num(old, "timestamp")) {
		count(d, "rejected");
		json_decref(body);
		sl_peer_reply_json(
		    m->peer, req, 403,
		    json_pack("{s:b,s:s,s:s,s:s,s:s,s:s}", "saved", 0, "name",
		              "Could not edit Event", "message", "Could not edit Event", "url", url,
		              "errors",
		              "Event could not be saved: Event in the request not newer "
		              "than the local copy.",
		              "id", json_string_value(json_object_get(old, "id"))));
		return;
	}
	merged = json_deep_copy(old);
	json_object_foreach(ev, k, v)
	{
		if (strcmp(k, "Attribute") == 0 || strcmp(k, "Object") == 0) {
			json_t *ol = json_object_get(merged, k);
			if (json_is_array(v) && json_is_array(ol))
				merge_by_uuid(ol, v);
		} else if (strcmp(k, "id") != 0 && strcmp(k, "uuid") != 0 &&
		           strcmp(k, "Org") != 0) {
			json_object_set(merged, k, v);
		}
	}
	if (!json_object_get(ev, "timestamp"))
		json_object_del(merged, "timestamp");
	json_decref(body);
	normalise_event(m, merged, json_string_value(json_object_get(old, "id")));
	json_array_set(m->events, (size_t)at, merged);
	count(d, "applied");
	json_array_append_new(json_object_get(d, "versions"),
	                      json_integer(ev_num(merged, "timestamp")));
	json_array_append_new(json_object_get(d, "applied_ms"), json_integer(wall_ms()));
	json_array_append_new(json_object_get(d, "attributes"),
	                      json_integer(attribute_count(merged)));
	sl_peer_reply_json(m->peer, req, 200, wrap(merged));
	json_decref(merged);
}

static void h_delete(struct misp *m, struct evhttp_request *req, const char *key)
{
	char url[128];
	int at = find_event(m, key);
	json_t *ev;

	snprintf(url, sizeof(url), "/events/delete/%s", key);
	if (at < 0) {
		sl_peer_reply_json(m->peer, req, 404, misp_error("Invalid event", url));
		return;
	}
	ev = json_array_get(m->events, (size_t)at);
	count(delivery(m, json_string_value(json_object_get(ev, "uuid"))), "deleted");
	json_t *r = json_pack("{s:b,s:b,s:s,s:s,s:s,s:O}", "saved", 1, "success", 1, "name",
	                      "Event deleted.", "message", "Event deleted.", "url", url, "id",
	                      json_object_get(ev, "id"));
	json_array_remove(m->events, (size_t)at);
	sl_peer_reply_json(m->peer, req, 200, r);
}

static void h_view(struct misp *m, struct evhttp_request *req, const char *key)
{
	char url[128], *del = sl_peer_query(req, "deleted");
	int at = find_event(m, key);
	int with_deleted = del && strcmp(del, "0") != 0;

	free(del);
	snprintf(url, sizeof(url), "/events/view/%s", key);
	if (at < 0) {
		sl_peer_reply_json(m->peer, req, 404, misp_error("Invalid event", url));
		return;
	}
	json_t *c = shown(json_array_get(m->events, (size_t)at), with_deleted, 0);
	sl_peer_reply_json(m->peer, req, 200, wrap(c));
	json_decref(c);
}

/* A time filter: epoch seconds, or relative ("7d", "12h", "30m", "45s", "2w") back from now. */
static int parse_time(const json_t *v, long long *out)
{
	long long n;
	if (num_of(v, &n) == 0) {
		*out = n;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long long mult = 0;
		n = strtoll(s, &end, 10);
		if (end == s || end[0] == '\0' || end[1] != '\0')
			return -1;
		switch (*end) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		case 'w':
			mult = 604800;
			break;
		default:
			return -1;
		}
		*out = (long long)time(NULL) - n * mult;
		return 0;
	}
	return -1;
}

/* [from, to] or a single lower bound. Returns 0 when the filter is absent or matches. */
static int time_ok(const json_t *filter, long long value, int *bad)
{
	long long lo, hi;
	if (!filter || json_is_null(filter))
		return 1;
	if (json_is_array(filter)) {
		if (json_array_size(filter) != 2 ||
		    parse_time(json_array_get(filter, 0), &lo) != 0 ||
		    parse_time(json_array_get(filter, 1), &hi) != 0) {
			*bad = 1;
			return 0;
		}
		return value >= lo && value <= hi;
	}
	if (parse_time(filter, &lo) != 0) {
		*bad = 1;
		return 0;
	}
	return value >= lo;
}

static int str_in(const json_t *filter, const char *value)
{
	size_t i;
	json_t *x;
	if (!filter || json_is_null(filter))
		return 1;
	if (!value)
		return 0;
	if (json_is_array(filter)) {
		json_array_foreach(filter, i, x)
		{
			const char *s = json_string_value(x);
			char b[32];
			if (!s && json_is_integer(x)) {
				snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(x));
				s = b;
			}
			if (s && strcasecmp(s, value) == 0)
				return 1;
		}
		return 0;
	}
	if (json_is_integer(filter)) {
		char b[32];
		snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(filter));
		return strcmp(b, value) == 0;
	}
	return json_is_string(filter) && strcasecmp(json_string_value(filter), value) == 0;
}

static int tag_ok(const json_t *ev, const json_t *tags)
{
	size_t i, j;
	json_t *t, *f;
	json_t *list = json_is_array(tags) ? (json_t *)tags : NULL;

	if (!tags || json_is_null(tags))
		return 1;
	json_array_foreach(json_object_get(ev, "Tag"), i, t)
	{
		const char *name = json_string_value(json_object_get(t, "name"));
		if (!name)
			continue;
		if (list) {
			json_array_foreach(list, j, f) if (json_is_string(f) &&
			                                   strcasecmp(json_string_value(f), name) ==
			                                       0) return 1;
		} else if (json_is_string(tags) && strcasecmp(json_string_value(tags), name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Filters shared by restSearch and index; returns 1 when ev passes, sets *bad on a bad value. */
static int event_matches(const json_t *ev, const json_t *q, int *bad)
{
	const json_t *pub = json_object_get(q, "published");
	const json_t *org = json_object_get(q, "org");

	if (!time_ok(json_object_get(q, "timestamp"), ev_num(ev, "timestamp"), bad))
		return 0;
	if (!time_ok(json_object_get(q, "publish_timestamp"), ev_num(ev, "publish_timestamp"), bad))
		return 0;
	if (!time_ok(json_object_get(q, "last"), ev_num(ev, "publish_timestamp"), bad))
		return 0;
	if (pub && !json_is_null(pub) &&
	    truthy(pub) != json_is_true(json_object_get(ev, "published")))
		return 0;
	if (!str_in(json_object_get(q, "eventid"), json_string_value(json_object_get(ev, "id"))))
		return 0;
	if (!str_in(json_object_get(q, "uuid"), json_string_value(json_object_get(ev, "uuid"))))
		return 0;
	if (org && !json_is_null(org)) {
		const json_t *oc = json_object_get(ev, "Orgc");
		if (!str_in(org, json_string_value(json_object_get(oc, "name"))) &&
		    !str_in(org, json_string_value(json_object_get(oc, "uuid"))))
			return 0;
	}
	return tag_ok(ev, json_object_get(q, "tags"));
}

static void paging(const json_t *q, long *limit, long *page)
{
	long long v;
	*limit = 0;
	*page = 1;
	if (num_of(json_object_get(q, "limit"), &v) == 0 && v > 0)
		*limit = (long)v;
	if (num_of(json_object_get(q, "page"), &v) == 0 && v > 0)
		*page = (long)v;
}

static void h_restsearch(struct misp *m, struct evhttp_request *req)
{
	char msg[256];
	json_t *q = sl_peer_body_json(m->peer, req, msg, sizeof(msg)), *out, *ev;
	const json_t *fmt;
	long limit, page, seen = 0;
	int bad = 0, with_deleted, metadata;
	size_t i;

	if (!q)
		q = json_object();
	if (!json_is_object(q)) {
		json_decref(q);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid request body.", "/events/restSearch"));
		return;
	}
	fmt = json_object_get(q, "returnFormat");
	if (fmt && !(json_is_string(fmt) && strcmp(json_string_value(fmt), "json") == 0)) {
		json_decref(q);
		sl_peer_reply_json(m->peer, req, 404,
		                   misp_error("Invalid return format (this test peer speaks json).",
		                              "/events/restSearch"));
		return;
	}
	paging(q, &limit, &page);
	with_deleted = truthy(json_object_get(q, "deleted"));
	metadata = truthy(json_object_get(q, "metadata"));
	out = json_array();
	json_array_foreach(m->events, i, ev)
	{
		if (!event_matches(ev, q, &bad))
			continue;
		seen++;
		if (limit && (seen <= (page - 1) * limit || seen > page * limit))
			continue;
		json_array_append_new(
		    out, json_pack("{s:o}", "Event", shown(ev, with_deleted, metadata)));
	}
	json_decref(q);
	if (bad) {
		json_decref(out);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid time filter.", "/events/restSearch"));
		return;
	}
	{
		char b[32];
		snprintf(b, sizeof(b), "%ld", seen);
		evhttp_add_header(evhttp_request_get_output_headers(req), "X-Result-Count", b);
	}
	sl_peer_reply_json(m->peer, req, 200, json_pack("{s:o}", "response", out));
}

static json_t *orgc_uuid(const json_t *e)
{
	json_t *u = json_object_get(json_object_get(e, "Orgc"), "uuid");
	return u ? u : json_null();
}

static int cmp_index(const void *a, const void *b, const char *field, int desc)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	long long vx, vy;
	int c;
	if (strcmp(field, "date") == 0) {
		c = strcmp(json_string_value(json_object_get(x, "date")),
		           json_string_value(json_object_get(y, "date")));
	} else {
		vx = ev_num(x, field);
		vy = ev_num(y, field);
		c = vx < vy ? -1 : vx > vy;
	}
	if (c == 0) {
		vx = ev_num(x, "id");
		vy = ev_num(y, "id");
		c = vx < vy ? -1 : vx > vy;
	}
	return desc ? -c : c;
}

static const char *g_sort_field;
static int g_sort_desc;
static int cmp_index_q(const void *a, const void *b)
{
	return cmp_index(a, b, g_sort_field, g_sort_desc);
}

/* GET query parameters or a POST JSON body, with MISP's "search" prefixes accepted. */
static json_t *index_params(struct misp *m, struct evhttp_request *req)
{
	json_t *q = NULL;
	char msg[128];

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
		q = sl_peer_body_json(m->peer, req, msg, sizeof(msg));
	if (!json_is_object(q)) {
		const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
		struct evkeyvalq kv;
		struct evkeyval *e;
		json_decref(q);
		q = json_object();
		TAILQ_INIT(&kv);
		if (qs && evhttp_parse_query_str(qs, &kv) == 0)
			TAILQ_FOREACH(e, &kv, next)
		json_object_set_new(q, e->key, json_string(e->value));
		evhttp_clear_headers(&kv);
	}
	static const char *const prefixed[] = {"searchtimestamp", "searchpublish_timestamp",
	                                       "searchpublished", "searcheventid",
	                                       "searchorg",       "searchtag"};
	for (size_t i = 0; i < sizeof(prefixed) / sizeof(*prefixed); i++) {
		json_t *v = json_object_get(q, prefixed[i]);
		if (v)
			json_object_set(
			    q, strcmp(prefixed[i], "searchtag") == 0 ? "tags" : prefixed[i] + 6, v);
	}
	return q;
}

/* The index lists an event's tags as EventTag rows, each holding its Tag. */
static void index_tags(json_t *row)
{
	json_t *tags = json_object_get(row, "Tag"), *t, *et = json_array();
	size_t i;

	json_array_foreach(tags, i, t)
	{
		json_t *tag = json_deep_copy(t);
		json_t *local = json_object_get(tag, "local");
		json_array_append_new(et, json_pack("{s:O,s:b,s:o}", "event_id",
		                                    json_object_get(row, "id"), "local",
		                                    json_is_true(local), "Tag", tag));
		json_object_del(tag, "local");
	}
	json_object_del(row, "Tag");
	json_object_set_new(row, "EventTag", et);
}

static void h_index(struct misp *m, struct evhttp_request *req)
{
	json_t *q = index_params(m, req), *out = json_array(), *ev;
	json_t **sel;
	size_t i, n = 0;
	long limit, page;
	int bad = 0, minimal = truthy(json_object_get(q, "minimal"));
	const char *sort = json_string_value(json_object_get(q, "sort"));
	const char *dir = json_string_value(json_object_get(q, "direction"));

	paging(q, &limit, &page);
	sel = calloc(json_array_size(m->events) + 1, sizeof(*sel));
	json_array_foreach(m->events, i, ev) if (event_matches(ev, q, &bad)) sel[n++] = ev;
	/* MISP lists newest first unless told otherwise */
	g_sort_field = sort && (strcmp(sort, "id") == 0 || strcmp(sort, "date") == 0 ||
	                        strcmp(sort, "publish_timestamp") == 0)
	                   ? sort
	                   : "timestamp";
	g_sort_desc = !(dir && strcasecmp(dir, "asc") == 0);
	qsort(sel, n, sizeof(*sel), cmp_index_q);
	for (i = 0; i < n; i++) {
		json_t *e, *row;
		if (limit && (i < (size_t)((page - 1) * limit) || i >= (size_t)(page * limit)))
			continue;
		e = sel[i];
		if (minimal) {
			row = json_pack("{s:O,s:O,s:s,s:O,s:O,s:O}", "id", json_object_get(e, "id"),
			                "timestamp", json_object_get(e, "timestamp"),
			                "sighting_timestamp", "0", "published",
			                json_object_get(e, "published"), "uuid",
			                json_object_get(e, "uuid"), "orgc_uuid", orgc_uuid(e));
			if (json_object_get(e, "sighting_timestamp"))
				json_object_set(row, "sighting_timestamp",
				                json_object_get(e, "sighting_timestamp"));
		} else {
			row = json_deep_copy(e);
			json_object_del(row, "Attribute");
			json_object_del(row, "Object");
			json_object_del(row, "ShadowAttribute");
			json_object_del(row, "RelatedEvent");
			json_object_del(row, "Galaxy");
			json_object_del(row, "EventReport");
			index_tags(row);
		}
		json_array_append_new(out, row);
	}
	free(sel);
	json_decref(q);
	if (bad) {
		json_decref(out);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid time filter.", "/events/index"));
		return;
	}
	{
		char b[32];
		snprintf(b, sizeof(b), "%zu", n);
		evhttp_add_header(evhttp_request_get_output_headers(req), "X-Result-Count", b);
	}
	sl_peer_reply_json(m->peer, req, 200, out);
}

/* Find an attribute by id or uuid anywhere; returns it and its event. */
static json_t *find_attribute(struct misp *m, const char *key, json_t **ev_out)
{
	size_t i, j, k;
	json_t *ev, *a, *o;
	int numeric = *key && strspn(key, "0123456789") == strlen(key);
	const char *field = numeric ? "id" : "uuid";

	json_array_foreach(m->events, i, ev)
	{
		json_array_foreach(json_object_get(ev, "Attribute"), j, a)
		{
			const char *v = json_string_value(json_object_get(a, field));
			if (v && strcasecmp(v, key) == 0) {
				*ev_out = ev;
				return a;
			}
		}
		json_array_foreach(json_object_get(ev, "Object"), k, o)
		    json_array_foreach(json_object_get(o, "Attribute"), j, a)
		{
			const char *v = json_string_value(json_object_get(a, field));
			if (v && strcasecmp(v, key) == 0) {
				*ev_out = ev;
				return a;
			}
		}
	}
	return NULL;
}

/* Remove attribute a (found by find_attribute) from whichever list holds it. */
static void remove_attribute(json_t *ev, const json_t *a)
{
	size_t j, k;
	json_t *o, *x;
	json_t *lists = json_array();

	json_array_append(lists, json_object_get(ev, "Attribute"));
	json_array_foreach(json_object_get(ev, "Object"), k, o)
	    json_array_append(lists, json_object_get(o, "Attribute"));
	json_array_foreach(lists, k, o)
	{
		json_array_foreach(o, j, x)
		{
			if (x == a) {
				json_array_remove(o, j);
				json_decref(lists);
				return;
			}
		}
	}
	json_decref(lists);
}

/* POST /attributes/delete/{id|uuid}[/1]: soft delete (deleted = true), or hard with /1 (gone, as
 * a GDPR erasure needs). Counted per event as "attr_deleted" / "attr_erased". */
static void h_attr_delete(struct misp *m, struct evhttp_request *req, const char *key)
{
	char url[160], k[64];
	const char *slash = strchr(key, '/');
	int hard = slash && strcmp(slash, "/1") == 0;
	json_t *ev = NULL, *a;
	size_t n = slash ? (size_t)(slash - key) : strlen(key);

	snprintf(url, sizeof(url), "/attributes/delete/%s", key);
	if (n >= sizeof(k) || (slash && !hard)) {
		sl_peer_reply_json(m->peer, req, 404, misp_error("Invalid attribute", url));
		return;
	}
	memcpy(k, key, n);
	k[n] = 0;
	a = find_attribute(m, k, &ev);
	if (!a) {
		sl_peer_reply_json(m->peer, req, 404, misp_error("Invalid attribute", url));
		return;
	}
	count(delivery(m, json_string_value(json_object_get(ev, "uuid"))),
	      hard ? "attr_erased" : "attr_deleted");
	if (hard) {
		remove_attribute(ev, a);
	} else {
		/* MISP's soft delete saves the attribute with a new timestamp, and the event with it:
		 * that is how the deletion reaches those who sync the event */
		long long now = (long long)time(NULL);
		json_object_set_new(a, "deleted", json_true());
		set_numstr(a, "timestamp", now);
		set_numstr(ev, "timestamp", now);
	}
	sl_peer_reply_json(m->peer, req, 200,
	                   json_pack("{s:s,s:s,s:s}", "name", "Attribute deleted.", "message",
	                             "Attribute deleted.", "url", url));
}

/* A sighting of attr (in event ev) stored as MISP stores one: its date, type and source from in
 * (a JSON object, or anything else for the defaults), its uuid, org (taken); the event's
 * sighting_timestamp moves, as MISP's does. Returns it, borrowed. */
static json_t *sighting_store(struct misp *m, json_t *attr, json_t *ev, const json_t *in,
                              const char *uuid, json_t *org)
{
	json_t *s = json_object();
	const char *src = json_string_value(json_object_get(in, "source"));
	long long v;

	set_numstr(s, "id", m->next_sighting_id++);
	json_object_set(s, "attribute_id", json_object_get(attr, "id"));
	json_object_set(s, "event_id", json_object_get(ev, "id"));
	json_object_set_new(s, "org_id", json_string("1"));
	set_numstr(s, "date_sighting",
	           num_of(json_object_get(in, "date_sighting"), &v) == 0 ? v : (long long)time(NULL));
	json_object_set_new(s, "uuid", json_string(uuid));
	set_numstr(s, "type", num_of(json_object_get(in, "type"), &v) == 0 ? v : 0);
	json_object_set_new(s, "source", json_string(src ? src : ""));
	json_object_set(s, "attribute_uuid", json_object_get(attr, "uuid"));
	json_object_set_new(s, "Organisation", org);
	json_array_append_new(m->sightings, s);
	set_numstr(ev, "sighting_timestamp", (long long)time(NULL));
	return s;
}

static void h_sighting_add(struct misp *m, struct evhttp_request *req, const char *key)
{
	char msg[256];
	json_t *b = sl_peer_body_json(m->peer, req, msg, sizeof(msg));
	const char *akey = key;
	json_t *ev = NULL, *attr, *s;
	char uuid[37];

	if (!akey && json_is_object(b)) {
		akey = json_string_value(json_object_get(b, "uuid"));
		if (!akey)
			akey = json_string_value(json_object_get(b, "attribute_uuid"));
		if (!akey)
			akey = json_string_value(json_object_get(b, "id"));
	}
	if (json_array_size(m->sightings) >= m->max_events * 10) {
		json_decref(b);
		sl_peer_reply_json(
		    m->peer, req, 403,
		    json_pack("{s:b,s:s,s:s,s:s,s:s}", "saved", 0, "name", "Could not add Sighting",
		              "message", "Could not add Sighting", "url", "/sightings/add",
		              "errors", "the test peer's sighting limit is reached"));
		return;
	}
	attr = akey ? find_attribute(m, akey, &ev) : NULL;
	if (!attr) {
		json_decref(b);
		sl_peer_reply_json(m->peer, req, 403,
		                   json_pack("{s:b,s:s,s:s,s:s,s:s}", "saved", 0, "name",
		                             "Could not add Sighting", "message",
		                             "Could not add Sighting", "url", "/sightings/add",
		                             "errors", "No valid attributes found."));
		return;
	}
	if (json_is_string(json_object_get(b, "uuid")) && key)
		snprintf(uuid, sizeof(uuid), "%.36s", json_string_value(json_object_get(b, "uuid")));
	else
		sl_peer_uuid4(m->peer, uuid);
	s = sighting_store(m, attr, ev, b, uuid, our_org(m));
	json_decref(b);
	sl_peer_reply_json(m->peer, req, 200, json_pack("{s:O}", "Sighting", s));
}

/* POST /sightings/bulkSaveSightings/{event id|uuid}: what MISP's own sync pushes (Sighting.php
 * bulkSaveSightings). Body: a list of sightings, or {"Sighting": [...]}. One whose uuid is already
 * held, or whose attribute_uuid names no attribute here, is skipped silently; so a re-push is a
 * no-op. An unknown event is MISP's NotFoundException turned into a 405. */
static void h_sighting_bulk(struct misp *m, struct evhttp_request *req, const char *event_key)
{
	char msg[256], url[160];
	json_t *b = sl_peer_body_json(m->peer, req, msg, sizeof(msg)), *list, *in, *held;
	json_t *target;
	size_t i, j;
	int at = event_key && *event_key ? find_event(m, event_key) : -1, saved = 0;

	snprintf(url, sizeof(url), "/sightings/bulkSaveSightings/%s", event_key ? event_key : "");
	if (at < 0) {
		json_decref(b);
		sl_peer_reply_json(m->peer, req, 405,
		                   misp_error("Event not found or not accessible by this user.", url));
		return;
	}
	list = json_is_object(b) ? json_object_get(b, "Sighting") : b;
	if (!json_is_array(list)) {
		json_decref(b);
		sl_peer_reply_json(m->peer, req, 400, misp_error("Invalid request body.", url));
		return;
	}
	json_array_foreach(list, i, in)
	{
		const char *u = json_string_value(json_object_get(in, "uuid"));
		const char *au = json_string_value(json_object_get(in, "attribute_uuid"));
		json_t *attr;
		int dup = 0;

		if (!u || !au || json_array_size(m->sightings) >= m->max_events * 10)
			continue;
		json_array_foreach(m->sightings, j, held) if (strcasecmp(
		    json_string_value(json_object_get(held, "uuid")), u) == 0) dup = 1;
		if (dup || !(attr = find_attribute(m, au, &target)))
			continue;
		sighting_store(m, attr, target, in, u,
		               json_is_object(json_object_get(in, "Organisation"))
		                   ? json_deep_copy(json_object_get(in, "Organisation"))
		                   : our_org(m));
		saved++;
	}
	json_decref(b);
	{
		/* per event: bulk requests and sightings saved (what a test counts pushes by) */
		const char *eu = json_string_value(
		    json_object_get(json_array_get(m->events, (size_t)at), "uuid"));
		json_t *c = json_object_get(m->sighting_posts, eu ? eu : "?");
		if (!c) {
			c = json_pack("{s:i,s:i}", "requests", 0, "saved", 0);
			json_object_set_new(m->sighting_posts, eu ? eu : "?", c);
		}
		count(c, "requests");
		json_object_set_new(
		    c, "saved", json_integer(json_integer_value(json_object_get(c, "saved")) + saved));
	}
	if (saved > 0) {
		snprintf(msg, sizeof(msg), "%d sightings added.", saved);
		sl_peer_reply_json(m->peer, req, 200,
		                   json_pack("{s:b,s:s}", "saved", 1, "success", msg));
	} else {
		sl_peer_reply_json(m->peer, req, 200,
		                   json_pack("{s:b,s:s}", "saved", 0, "success", "No sightings added."));
	}
}

static void h_sighting_index(struct misp *m, struct evhttp_request *req, const char *event_key)
{
	int at = find_event(m, event_key);
	json_t *out = json_array(), *s;
	size_t i;
	const char *id;

	if (at < 0) {
		json_decref(out);
		sl_peer_reply_json(m->peer, req, 404,
		                   misp_error("Invalid event.", "/sightings/index"));
		return;
	}
	id = json_string_value(json_object_get(json_array_get(m->events, (size_t)at), "id"));
	json_array_foreach(m->sightings, i,
	                   s) if (strcmp(json_string_value(json_object_get(s, "event_id")), id) ==
	                          0) json_array_append_new(out, json_pack("{s:O}", "Sighting", s));
	sl_peer_reply_json(m->peer, req, 200, out);
}

/* POST /sightings/restSearch[/{attribute|event|all}]: {"Sighting": ...} list; "id" names the event
 * or attribute (by id or uuid) per the context; time filters over date_sighting. */
static void h_sighting_search(struct misp *m, struct evhttp_request *req, const char *context)
{
	char msg[256];
	json_t *q = sl_peer_body_json(m->peer, req, msg, sizeof(msg)), *out, *s;
	const json_t *idf, *typef;
	size_t i;
	int bad = 0;
	long limit, page, seen = 0;

	if (!q)
		q = json_object();
	if (!json_is_object(q)) {
		json_decref(q);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid request body.", "/sightings/restSearch"));
		return;
	}
	if (!context || !*context)
		context = json_string_value(json_object_get(q, "context"));
	if (!context)
		context = "all";
	idf = json_object_get(q, "id");
	typef = json_object_get(q, "type");
	paging(q, &limit, &page);
	out = json_array();
	json_array_foreach(m->sightings, i, s)
	{
		long long ds = ev_num(s, "date_sighting");
		/* MISP's Sighting::restSearch: from and to together, else last */
		if (json_object_get(q, "from") && json_object_get(q, "to")) {
			long long lo, hi;
			if (parse_time(json_object_get(q, "from"), &lo) != 0 ||
			    parse_time(json_object_get(q, "to"), &hi) != 0)
				bad = 1;
			else if (ds < lo || ds > hi)
				continue;
		}
		if (!time_ok(json_object_get(q, "timestamp"), ds, &bad) ||
		    !time_ok(json_object_get(q, "date_from"), ds, &bad) ||
		    !time_ok(json_object_get(q, "last"), ds, &bad))
			continue;
		if (json_object_get(q, "date_to")) {
			long long to;
			if (parse_time(json_object_get(q, "date_to"), &to) != 0)
				bad = 1;
			else if (ds > to)
				continue;
		}
		if (typef && !json_is_null(typef) &&
		    !str_in(typef, json_string_value(json_object_get(s, "type"))))
			continue;
		if (idf && !json_is_null(idf)) {
			int hit = 0;
			if (strcmp(context, "event") == 0) {
				int at = find_event(
				    m, json_string_value(json_object_get(s, "event_id")));
				const json_t *ev =
				    at >= 0 ? json_array_get(m->events, (size_t)at) : NULL;
				hit = str_in(idf,
				             json_string_value(json_object_get(s, "event_id"))) ||
				      (ev &&
				       str_in(idf, json_string_value(json_object_get(ev, "uuid"))));
			} else {
				hit =
				    str_in(idf,
				           json_string_value(json_object_get(s, "attribute_id"))) ||
				    str_in(idf,
				           json_string_value(json_object_get(s, "attribute_uuid")));
			}
			if (!hit)
				continue;
		}
		seen++;
		if (limit && (seen <= (page - 1) * limit || seen > page * limit))
			continue;
		{
			/* includeAttribute / includeEvent add what MISP's export adds */
			json_t *c = json_copy(s), *ev = NULL, *a = NULL;
			const char *au = json_string_value(json_object_get(s, "attribute_uuid"));
			if (au)
				a = find_attribute(m, au, &ev);
			if (a)
				json_object_set(c, "value", json_object_get(a, "value"));
			if (a && truthy(json_object_get(q, "includeAttribute")))
				json_object_set_new(
				    c, "Attribute",
				    json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "id",
				              json_object_get(a, "id"),
				              "uuid", json_object_get(a, "uuid"), "type",
				              json_object_get(a, "type"), "category",
				              json_object_get(a, "category"), "to_ids",
				              json_object_get(a, "to_ids"), "value",
				              json_object_get(a, "value")));
			if (ev && truthy(json_object_get(q, "includeEvent")))
				json_object_set_new(c, "Event",
				                    json_pack("{s:O?,s:O?,s:s,s:s,s:O?}", "id",
				                              json_object_get(ev, "id"), "uuid",
				                              json_object_get(ev, "uuid"), "orgc_id", "1",
				                              "org_id", "1", "info",
				                              json_object_get(ev, "info")));
			json_array_append_new(out, json_pack("{s:o}", "Sighting", c));
		}
	}
	json_decref(q);
	if (bad) {
		json_decref(out);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid time filter.", "/sightings/restSearch"));
		return;
	}
	sl_peer_reply_json(m->peer, req, 200, out);
}

static void attr_candidates(json_t *list, json_t *ev, json_t *attrs, const json_t *q, int *bad,
                            int with_deleted, int with_uuid)
{
	size_t i;
	json_t *a;
	const json_t *to_ids = json_object_get(q, "to_ids");

	json_array_foreach(attrs, i, a)
	{
		if (!with_deleted && json_is_true(json_object_get(a, "deleted")))
			continue;
		if (!time_ok(json_object_get(q, "timestamp"), ev_num(a, "timestamp"), bad))
			continue;
		if (!str_in(json_object_get(q, "type"),
		            json_string_value(json_object_get(a, "type"))))
			continue;
		if (!str_in(json_object_get(q, "value"),
		            json_string_value(json_object_get(a, "value"))))
			continue;
		if (!str_in(json_object_get(q, "uuid"),
		            json_string_value(json_object_get(a, "uuid"))) &&
		    !str_in(json_object_get(q, "uuid"),
		            json_string_value(json_object_get(ev, "uuid"))))
			continue;
		if (to_ids && !json_is_null(to_ids) &&
		    truthy(to_ids) != json_is_true(json_object_get(a, "to_ids")))
			continue;
		json_t *c = json_deep_copy(a);
		if (with_uuid)
			json_object_set(c, "event_uuid", json_object_get(ev, "uuid"));
		json_array_append_new(list, c);
	}
}

/* POST /attributes/restSearch: {"response": {"Attribute": [...]}}. */
static void h_attr_search(struct misp *m, struct evhttp_request *req)
{
	char msg[256];
	json_t *q = sl_peer_body_json(m->peer, req, msg, sizeof(msg)), *all, *out, *ev, *o;
	size_t i, j;
	int bad = 0;
	long limit, page;

	if (!q)
		q = json_object();
	if (!json_is_object(q)) {
		json_decref(q);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid request body.", "/attributes/restSearch"));
		return;
	}
	paging(q, &limit, &page);
	all = json_array();
	json_array_foreach(m->events, i, ev)
	{
		int with_deleted = truthy(json_object_get(q, "deleted"));
		int with_uuid = truthy(json_object_get(q, "includeEventUuid"));
		if (!str_in(json_object_get(q, "eventid"),
		            json_string_value(json_object_get(ev, "id"))))
			continue;
		if (!time_ok(json_object_get(q, "last"), ev_num(ev, "publish_timestamp"), &bad))
			continue;
		if (json_object_get(q, "published") &&
		    !json_is_null(json_object_get(q, "published")) &&
		    truthy(json_object_get(q, "published")) !=
		        json_is_true(json_object_get(ev, "published")))
			continue;
		attr_candidates(all, ev, json_object_get(ev, "Attribute"), q, &bad, with_deleted,
		                with_uuid);
		json_array_foreach(json_object_get(ev, "Object"), j, o) attr_candidates(
		    all, ev, json_object_get(o, "Attribute"), q, &bad, with_deleted, with_uuid);
	}
	json_decref(q);
	if (bad) {
		json_decref(all);
		sl_peer_reply_json(m->peer, req, 400,
		                   misp_error("Invalid time filter.", "/attributes/restSearch"));
		return;
	}
	out = json_array();
	for (i = 0; i < json_array_size(all); i++)
		if (!limit || (i >= (size_t)((page - 1) * limit) && i < (size_t)(page * limit)))
			json_array_append(out, json_array_get(all, i));
	json_decref(all);
	sl_peer_reply_json(m->peer, req, 200, json_pack("{s:{s:o}}", "response", "Attribute", out));
}

static int authorised(struct misp *m, struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	return a && strcmp(a, m->authkey) == 0;
}

static int wants_json(struct evhttp_request *req, const char *path)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	size_t l = strlen(path);
	return (a && strstr(a, "application/json")) ||
	       (l > 5 && strcmp(path + l - 5, ".json") == 0);
}

static int method_is(struct evhttp_request *req, int mask)
{
	return (evhttp_request_get_command(req) & mask) != 0;
}

static void method_not_allowed(struct misp *m, struct evhttp_request *req, const char *path,
                               const char *what)
{
	sl_peer_reply_json(m->peer, req, 405, misp_error(what, path));
}

static void test_seed_or_reset(struct misp *m, struct evhttp_request *req, const char *path);

static const char *method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "OTHER";
	}
}

static void log_request(struct misp *m, struct evhttp_request *req, const char *path)
{
	if (json_array_size(m->reqlog) >= REQLOG_MAX) {
		m->reqlog_dropped++;
		return;
	}
	json_array_append_new(m->reqlog, json_pack("{s:I,s:s,s:s}", "t", (json_int_t)wall_ms(), "m",
	                                           method_name(req), "p", path));
}

/* The answer set with POST /_test/answer, in MISP's own shapes: 401/403 its authentication
 * failure, 429 with Retry-After, 404 not found, anything else its internal error. */
static void forced_answer(struct misp *m, struct evhttp_request *req, const char *path)
{
	int st = m->answer_status;

	m->answered++;
	if (m->answer_left > 0)
		m->answer_left--;
	if (st == 429 && m->answer_retry_after[0])
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
		                  m->answer_retry_after);
	if (st == 429)
		sl_peer_reply_json(m->peer, req, st, misp_error("Too Many Requests", path));
	else
		sl_peer_reply_json(m->peer, req, st, error_body(st, path, m));
}

static void handle(struct sl_peer *p, struct evhttp_request *req, const char *path, void *ctx)
{
	struct misp *m = ctx;
	const char *rest;
	int POST = EVHTTP_REQ_POST, GET = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;

	if (strncmp(path, "/_test/", 7) == 0) {
		test_seed_or_reset(m, req, path);
		return;
	}
	log_request(m, req, path);
	if (m->answer_status && m->answer_left != 0) {
		forced_answer(m, req, path);
		return;
	}
	if (!m->lenient_accept && !wants_json(req, path)) {
		/* MISP treats a request as API only with Accept: application/json (or a .json
		 * path); otherwise it answers with its web pages */
		sl_peer_reply_text(
		    p, req, 200, "text/html; charset=UTF-8",
		    "<!DOCTYPE html><html><head><title>Users - MISP</title></head><body>"
		    "<form action=\"/users/login\" method=\"post\"></form></body></html>\n",
		    strlen(
		        "<!DOCTYPE html><html><head><title>Users - MISP</title></head><body>"
		        "<form action=\"/users/login\" method=\"post\"></form></body></html>\n"));
		return;
	}
	if (!authorised(m, req)) {
		sl_peer_reply_json(p, req, 403, error_body(403, path, m));
		return;
	}
	if (strcmp(path, "/servers/getVersion") == 0 ||
	    strcmp(path, "/servers/getVersion.json") == 0) {
		sl_peer_reply_json(p, req, 200,
		                   json_pack("{s:s,s:s,s:b,s:b,s:b,s:[s],s:b}", "version",
		                             MISP_VERSION, "pymisp_recommended_version",
		                             MISP_VERSION, "perm_sync", 1, "perm_sighting", 1,
		                             "perm_galaxy_editor", 0, "request_encoding", "gzip",
		                             "filter_sightings", 1));
	} else if (strcmp(path, "/users/view/me") == 0 ||
	           strcmp(path, "/users/view/me.json") == 0) {
		sl_peer_reply_json(
		    p, req, 200,
		    json_pack("{s:{s:s,s:s,s:s,s:s,s:b},s:{s:s,s:s,s:b,s:b,s:b},s:o}", "User", "id",
		              "1", "email", "sync@peer.test", "org_id", "1", "role_id", "5",
		              "disabled", 0, "Role", "id", "5", "name", "Sync user", "perm_sync", 1,
		              "perm_publish", 1, "perm_sighting", 1, "Organisation", our_org(m)));
	} else if (strcmp(path, "/events/index") == 0 ||
	           (strcmp(path, "/events") == 0 && method_is(req, GET))) {
		if (!method_is(req, GET | POST))
			method_not_allowed(m, req, path, "Method Not Allowed");
		else
			h_index(m, req);
	} else if (strcmp(path, "/events/restSearch") == 0) {
		if (!method_is(req, POST | GET))
			method_not_allowed(m, req, path, "Method Not Allowed");
		else
			h_restsearch(m, req);
	} else if (strcmp(path, "/events/add") == 0 ||
	           (strcmp(path, "/events") == 0 && method_is(req, POST))) {
		if (!method_is(req, POST))
			method_not_allowed(m, req, path, "You don't have permission to do that.");
		else
			h_add(m, req, path);
	} else if (strncmp(path, "/events/view/", 13) == 0) {
		h_view(m, req, path + 13);
	} else if (strncmp(path, "/events/edit/", 13) == 0) {
		if (!method_is(req, POST | EVHTTP_REQ_PUT))
			method_not_allowed(m, req, path, "Method Not Allowed");
		else
			h_edit(m, req, path + 13);
	} else if (strncmp(path, "/events/delete/", 15) == 0) {
		if (!method_is(req, POST | EVHTTP_REQ_DELETE))
			method_not_allowed(m, req, path,
			                   "This function can only be reached via POST or DELETE.");
		else
			h_delete(m, req, path + 15);
	} else if (strncmp(path, "/events/", 8) == 0 && *(rest = path + 8) && !strchr(rest, '/')) {
		/* the REST-style aliases: GET/PUT/DELETE /events/{id} */
		if (method_is(req, GET))
			h_view(m, req, rest);
		else if (method_is(req, EVHTTP_REQ_PUT | POST))
			h_edit(m, req, rest);
		else
			h_delete(m, req, rest);
	} else if (strcmp(path, "/sightings/add") == 0 ||
	           strncmp(path, "/sightings/add/", 15) == 0) {
		if (!method_is(req, POST))
			method_not_allowed(m, req, path, "Method Not Allowed");
		else
			h_sighting_add(m, req, path[14] == '/' ? path + 15 : NULL);
	} else if (strncmp(path, "/sightings/bulkSaveSightings/", 29) == 0) {
		if (!method_is(req, POST))
			method_not_allowed(m, req, path,
			                   "This method is only accessible via POST requests.");
		else
			h_sighting_bulk(m, req, path + 29);
	} else if (strcmp(path, "/sightings/restSearch") == 0 ||
	           strncmp(path, "/sightings/restSearch/", 22) == 0) {
		if (!method_is(req, POST))
			method_not_allowed(m, req, path, "Method Not Allowed");
		else
			h_sighting_search(m, req, path[21] == '/' ? path + 22 : NULL);
	} else if (strncmp(path, "/attributes/delete/", 19) == 0 && path[19]) {
		if (!method_is(req, POST | EVHTTP_REQ_DELETE))
			method_not_allowed(m, req, path,
			                   "This function can only be reached via POST or DELETE.");
		else
			h_attr_delete(m, req, path + 19);
	} else if (strcmp(path, "/attributes/restSearch") == 0) {
		if (!method_is(req, POST))
			method_not_allowed(m, req, path, "Method Not Allowed");
		else
			h_attr_search(m, req);
	} else if (strncmp(path, "/sightings/index/", 17) == 0) {
		h_sighting_index(m, req, path + 17);
	} else {
		sl_peer_reply_json(p, req, 404, error_body(404, path, m));
	}
}

static json_t *dump(void *ctx)
{
	struct misp *m = ctx;
	json_t *evs = json_array(), *ev;
	size_t i;
	json_array_foreach(m->events, i, ev) json_array_append_new(evs, wrap(ev));
	return json_pack("{s:o,s:I,s:O,s:O,s:O,s:I}", "events", evs, "count",
	                 (json_int_t)json_array_size(m->events), "deliveries", m->deliveries,
	                 "sightings", m->sightings, "sighting_posts", m->sighting_posts,
	                 "answered", (json_int_t)m->answered);
}

/* Load one MISP event document ({"Event": ...}, {"response": [...]} or a list of those). */
static int seed_doc(struct misp *m, json_t *doc, char *errbuf, size_t errsz, const char *what)
{
	size_t i;
	json_t *x;
	int at;

	if (json_is_object(doc) && json_is_array(json_object_get(doc, "response")))
		doc = json_object_get(doc, "response");
	if (json_is_array(doc)) {
		json_array_foreach(doc, i,
		                   x) if (seed_doc(m, x, errbuf, errsz, what) != 0) return -1;
		return 0;
	}
	x = body_event(doc);
	if (!x) {
		snprintf(errbuf, errsz, "%s: not a MISP event", what);
		return -1;
	}
	if (json_is_string(json_object_get(x, "uuid")) &&
	    find_event(m, json_string_value(json_object_get(x, "uuid"))) >= 0) {
		snprintf(errbuf, errsz, "%s: duplicate event uuid", what);
		return -1;
	}
	x = json_deep_copy(x);
	if (add_event(m, x, &at) != 0) {
		json_decref(x);
		snprintf(errbuf, errsz, "%s: event limit reached", what);
		return -1;
	}
	json_decref(x);
	return 0;
}

static int seed_dir(struct misp *m, const char *dir, char *errbuf, size_t errsz)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort), rc = 0;

	if (n < 0) {
		snprintf(errbuf, errsz, "%s: cannot read the directory", dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t l = strlen(nm);
		if (rc == 0 && l > 5 && strcmp(nm + l - 5, ".json") == 0) {
			char path[4096], *buf = NULL;
			size_t len = 0;
			struct sl_err err = {0};
			json_t *doc;
			snprintf(path, sizeof(path), "%s/%s", dir, nm);
			if (sl_json_slurp(path, 64u << 20, &buf, &len, &err) != 0) {
				snprintf(errbuf, errsz, "%s: %s", path, err.msg);
				rc = -1;
			} else if (!(doc = sl_json_parse(buf, len, NULL, path, &err))) {
				snprintf(errbuf, errsz, "%s: %s", err.where, err.msg);
				rc = -1;
			} else {
				rc = seed_doc(m, doc, errbuf, errsz, path);
				json_decref(doc);
			}
			free(buf);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* POST /_test/answer {"status": 403, "count": N, "retry_after": "3"}: answer the next N (default:
 * all until {"status": 0}) API requests with that status, without handling them. */
static void test_answer(struct misp *m, struct evhttp_request *req)
{
	char msg[256];
	json_t *b = sl_peer_body_json(m->peer, req, msg, sizeof(msg)), *ra;
	json_int_t st;

	if (!json_is_object(b) || !json_is_integer(json_object_get(b, "status")) ||
	    ((st = json_integer_value(json_object_get(b, "status"))) != 0 &&
	     (st < 400 || st > 599))) {
		json_decref(b);
		sl_peer_reply_json(m->peer, req, 400,
		                   json_pack("{s:s}", "error",
		                             "body must be {\"status\": 0 or 400..599, \"count\": "
		                             "N, \"retry_after\": \"...\"}"));
		return;
	}
	m->answer_status = (int)st;
	m->answer_left = json_is_integer(json_object_get(b, "count"))
	                     ? (long)json_integer_value(json_object_get(b, "count"))
	                     : -1;
	ra = json_object_get(b, "retry_after");
	snprintf(m->answer_retry_after, sizeof(m->answer_retry_after), "%s",
	         json_is_string(ra) ? json_string_value(ra) : "");
	json_decref(b);
	sl_peer_reply_json(m->peer, req, 200,
	                   json_pack("{s:i,s:I}", "status", m->answer_status, "count",
	                             (json_int_t)m->answer_left));
}

static void test_seed_or_reset(struct misp *m, struct evhttp_request *req, const char *path)
{
	if (strcmp(path, "/_test/reset") == 0 && method_is(req, EVHTTP_REQ_POST)) {
		json_array_clear(m->events);
		json_object_clear(m->deliveries);
		json_array_clear(m->sightings);
		json_object_clear(m->sighting_posts);
		json_array_clear(m->reqlog);
		sl_peer_reply_json(m->peer, req, 200, json_pack("{s:b}", "reset", 1));
	} else if (strcmp(path, "/_test/seed") == 0 && method_is(req, EVHTTP_REQ_POST)) {
		char msg[256];
		json_t *b = sl_peer_body_json(m->peer, req, msg, sizeof(msg));
		if (b && seed_doc(m, b, msg, sizeof(msg), "body") == 0)
			sl_peer_reply_json(
			    m->peer, req, 200,
			    json_pack("{s:I}", "count", (json_int_t)json_array_size(m->events)));
		else
			sl_peer_reply_json(m->peer, req, 400, json_pack("{s:s}", "error", msg));
		json_decref(b);
	} else if (strcmp(path, "/_test/answer") == 0 && method_is(req, EVHTTP_REQ_POST)) {
		test_answer(m, req);
	} else if (strcmp(path, "/_test/deliveries") == 0) {
		/* the dump without the events: cheap enough to poll while a big sync runs */
		sl_peer_reply_json(m->peer, req, 200,
		                   json_pack("{s:I,s:O,s:I}", "count",
		                             (json_int_t)json_array_size(m->events), "deliveries",
		                             m->deliveries, "answered", (json_int_t)m->answered));
	} else if (strcmp(path, "/_test/requests") == 0) {
		sl_peer_reply_json(m->peer, req, 200,
		                   json_pack("{s:O,s:I}", "requests", m->reqlog, "dropped",
		                             (json_int_t)m->reqlog_dropped));
	} else {
		sl_peer_reply_json(m->peer, req, 404,
		                   json_pack("{s:s}", "error", "no such test endpoint"));
	}
}

static struct event *g_sigint, *g_sigterm;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: misp-peer [--port N] [--authkey KEY] [--seed DIR] [--seed-rng N]\n"
	        "                 [--fault KIND[:RATE]] [--max-events N] [--max-body BYTES]\n"
	        "                 [--slow-ms MS] [--slow-bytes N] [--org-name NAME] [--org-uuid "
	        "UUID]\n"
	        "                 [--lenient-accept]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"port", required_argument, NULL, 'p'},
	                                   {"authkey", required_argument, NULL, 'k'},
	                                   {"seed", required_argument, NULL, 's'},
	                                   {"seed-rng", required_argument, NULL, 'r'},
	                                   {"fault", required_argument, NULL, 'f'},
	                                   {"max-events", required_argument, NULL, 'e'},
	                                   {"max-body", required_argument, NULL, 'b'},
	                                   {"slow-ms", required_argument, NULL, 'w'},
	                                   {"slow-bytes", required_argument, NULL, 'c'},
	                                   {"org-name", required_argument, NULL, 'o'},
	                                   {"org-uuid", required_argument, NULL, 'u'},
	                                   {"lenient-accept", no_argument, NULL, 'L'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	static const struct sl_peer_ops ops = {handle, error_body, dump, NULL};
	struct misp m = {0};
	struct sl_peer_opts o = {0};
	const char *seed = NULL;
	int port = 0, c, rc = 0;
	char err[512];
	struct event_base *base;

	m.authkey = DEFAULT_AUTHKEY;
	m.org_name = "PeerOrg";
	m.org_uuid = "5f6e7d8c-0000-4000-8000-00000000a001";
	m.max_events = 100000;
	o.rng_seed = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'k':
			m.authkey = optarg;
			break;
		case 's':
			seed = optarg;
			break;
		case 'r':
			o.rng_seed = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			o.fault = optarg;
			break;
		case 'e':
			m.max_events = strtoul(optarg, NULL, 10);
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
		case 'o':
			m.org_name = optarg;
			break;
		case 'u':
			m.org_uuid = optarg;
			break;
		case 'L':
			m.lenient_accept = 1;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	m.events = json_array();
	m.deliveries = json_object();
	m.sightings = json_array();
	m.sighting_posts = json_object();
	m.reqlog = json_array();
	m.next_id = m.next_attr_id = m.next_sighting_id = 1;
	m.peer = sl_peer_new(base, port, &ops, &m, &o, err, sizeof(err));
	if (!m.peer) {
		fprintf(stderr, "misp-peer: %s\n", err);
		rc = 1;
		goto out;
	}
	if (seed && seed_dir(&m, seed, err, sizeof(err)) != 0) {
		fprintf(stderr, "misp-peer: --seed: %s\n", err);
		rc = 1;
		goto out;
	}
	printf("LISTEN http://127.0.0.1:%d\n", sl_peer_port(m.peer));
	fflush(stdout);
	g_sigint = evsignal_new(base, SIGINT, on_signal, base);
	g_sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(g_sigint, NULL);
	event_add(g_sigterm, NULL);
	event_base_dispatch(base);
	event_free(g_sigint);
	event_free(g_sigterm);
out:
	sl_peer_free(m.peer);
	json_decref(m.events);
	json_decref(m.deliveries);
	json_decref(m.sightings);
	json_decref(m.sighting_posts);
	json_decref(m.reqlog);
	event_base_free(base);
	return rc;
}
