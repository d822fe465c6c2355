/* feed_source.c — a local MISP feed directory as a source peer. */
#include "feed_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "misp_feed.h"

#define FEED_EVENT_MAX (64u * 1024u * 1024u)
#define FEED_POSITION_MAX (16u * 1024u * 1024u)

static json_t *load_position(struct sl_ledger *ledger, const char *peer, struct sl_err *err)
{
	char *buf = malloc(FEED_POSITION_MAX);
	json_t *seen = NULL;
	struct sl_err e;
	int rc;

	if (!buf)
		return NULL;
	rc = sl_ledger_cursor_get(ledger, peer, "manifest", buf, FEED_POSITION_MAX, &e);
	if (rc == SL_OK)
		seen = sl_json_parse(buf, strlen(buf), NULL, "feed position", err);
	else if (rc == SL_ENOTFOUND)
		seen = json_object();
	else if (err)
		*err = e;
	free(buf);
	if (seen && !json_is_object(seen)) {
		json_decref(seen);
		sl_err_set(err, SL_EINVAL, peer, "stored feed position is not an object");
		return NULL;
	}
	return seen;
}

static int read_json(const struct sl_feed_fetcher *f, const char *name, size_t max, json_t **out,
                     struct sl_err *err)
{
	char *buf;
	size_t len;
	int rc;

	*out = NULL;
	rc = f->fetch(f->ctx, name, max, &buf, &len, err);
	if (rc < 0)
		return rc;
	*out = sl_json_parse(buf, len, NULL, name, err);
	free(buf);
	return *out ? SL_OK : (err ? err->code : SL_EINVAL);
}

int sl_feed_source_sync(struct sl_pipeline *p, struct sl_ledger *ledger, const char *peer,
                        const struct sl_feed_fetcher *f, long long now,
                        struct sl_pipeline_stats *st, sl_feed_event_error on_error, void *arg,
                        struct sl_err *err)
{
	struct sl_feed_manifest *m = NULL;
	struct sl_feed_hashes *hashes = NULL;
	json_t *seen = NULL, *todo = NULL, *u;
	char *buf = NULL;
	size_t len, i;
	int rc;

	rc = f->fetch(f->ctx, "manifest.json", FEED_EVENT_MAX, &buf, &len, err);
	if (rc < 0)
		return rc;
	rc = sl_feed_manifest_parse(buf, len, &m, err);
	free(buf);
	buf = NULL;
	if (rc < 0)
		return rc;
	rc = f->fetch(f->ctx, "hashes.csv", FEED_EVENT_MAX, &buf, &len, err);
	if (rc == SL_OK) {
		rc = sl_feed_hashes_parse(buf, len, &hashes, err);
		free(buf);
	} else if (rc == SL_ENOTFOUND) {
		rc = SL_OK; /* a feed without hashes.csv: nothing to check against */
	}
	if (rc < 0)
		goto done;
	seen = load_position(ledger, peer, err);
	if (!seen) {
		rc = err ? err->code : SL_EDB;
		goto done;
	}
	todo = sl_feed_changed(m, seen);
	json_array_foreach(todo, i, u)
	{
		const char *uuid = json_string_value(u);
		struct sl_ledger_cursor cur = {peer, "manifest", NULL};
		struct sl_err e;
		json_t *ev = NULL;
		char name[64], *pos;
		size_t k;
		long long ts = -1;

		for (k = 0; k < sl_feed_manifest_count(m); k++)
			if (strcmp(sl_feed_manifest_uuid(m, k), uuid) == 0)
				ts = sl_feed_manifest_timestamp(m, k);
		snprintf(name, sizeof(name), "%s.json", uuid);
		sl_err_clear(&e);
		rc = read_json(f, name, FEED_EVENT_MAX, &ev, &e);
		if (rc == SL_OK && hashes)
			rc = sl_feed_event_check(hashes, ev, &e);
		if (rc < 0) {
			if (ev) {
				char *raw = json_dumps(ev, JSON_COMPACT);
				if (sl_ledger_quarantine(ledger, peer, raw ? raw : "",
				                         raw ? strlen(raw) : 0, e.msg, NULL) < 0) {
					/* reported below all the same; quarantine is best effort */
				}
				free(raw);
			}
			if (st) {
				st->events++;
				st->failed++;
			}
			if (on_error)
				on_error(arg, uuid, &e);
			json_decref(ev);
			continue;
		}
		/* The position this event moves the feed to, committed after its decisions. */
		json_object_set_new(seen, uuid, json_integer(ts));
		pos = json_dumps(seen, JSON_COMPACT | JSON_SORT_KEYS);
		cur.position = pos;
		rc = pos ? sl_pipeline_misp_event(p, peer, ev, &cur, now, st, NULL, &e) : SL_ENOMEM;
		free(pos);
		json_decref(ev);
		if (rc < 0) {
			json_object_del(seen, uuid);
			if (rc == SL_EDB) {
				/* The database is gone: stop, the next run resumes from the last
				 * commit. */
				if (err)
					*err = e;
				goto done;
			}
			if (on_error)
				on_error(arg, uuid, &e);
		}
	}
	rc = SL_OK;
done:
	json_decref(todo);
	json_decref(seen);
	sl_feed_hashes_free(hashes);
	sl_feed_manifest_free(m);
	return rc;
}

/* ---- a feed in a directory ---- */

static int dir_fetch(void *ctx, const char *name, size_t max, char **buf, size_t *len,
                     struct sl_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", (const char *)ctx, name);
	if (access(path, F_OK) != 0)
		return sl_err_set(err, SL_ENOTFOUND, path, "no such file in the feed");
	return sl_json_slurp(path, max, buf, len, err);
}

int sl_feed_source_sync_dir(struct sl_pipeline *p, struct sl_ledger *ledger, const char *peer,
                            const char *dir, long long now, struct sl_pipeline_stats *st,
                            sl_feed_event_error on_error, void *arg, struct sl_err *err)
{
	struct sl_feed_fetcher f = {dir_fetch, (void *)dir};

	return sl_feed_source_sync(p, ledger, peer, &f, now, st, on_error, arg, err);
}

/* ---- a feed at a URL ---- */

struct sl_feed_url {
	char *base;
	struct sl_http_tls tls;
	unsigned timeout_s;
	struct event_base *evb;
	struct sl_http_client *http;
};

struct url_result {
	int done, rc;
	char *buf;
	size_t len;
	struct sl_err err;
};

static void url_done(const struct sl_http_response *r, void *arg)
{
	struct url_result *res = arg;

	res->done = 1;
	if (r->error == SL_HTTP_OK) {
		res->buf = malloc(r->body_len + 1);
		if (!res->buf) {
			res->rc = sl_err_set(&res->err, SL_ENOMEM, r->err.where, "out of memory");
			return;
		}
		memcpy(res->buf, r->body, r->body_len);
		res->buf[r->body_len] = '\0';
		res->len = r->body_len;
		res->rc = SL_OK;
	} else if (r->error == SL_HTTP_ESTATUS && r->status == 404) {
		res->rc = sl_err_set(&res->err, SL_ENOTFOUND, r->err.where,
		                     "404: no such file in the feed");
	} else if (r->error == SL_HTTP_ESTATUS) {
		res->rc = sl_err_set(&res->err, SL_ENET, r->err.where, "HTTP status %d", r->status);
	} else {
		res->err = r->err;
		res->rc = r->err.code ? r->err.code : SL_ENET;
	}
}

static int url_fetch(void *ctx, const char *name, size_t max, char **buf, size_t *len,
                     struct sl_err *err)
{
	struct sl_feed_url *u = ctx;
	struct url_result res = {0};
	struct sl_http_request req = {0};
	const char *hdr[1] = {"Accept: application/json"};
	char *url;
	size_t n = strlen(u->base) + strlen(name) + 2;

	*buf = NULL;
	*len = 0;
	if (!(url = malloc(n)))
		return sl_err_set(err, SL_ENOMEM, name, "out of memory");
	snprintf(url, n, "%s%s%s", u->base, u->base[strlen(u->base) - 1] == '/' ? "" : "/", name);
	req.url = url;
	req.headers = hdr;
	req.nheaders = 1;
	req.timeout_ms = u->timeout_s * 1000u;
	req.max_body = max;
	req.tls = u->tls;
	req.on_done = url_done;
	req.arg = &res;
	if (!sl_http_client_start(u->http, &req, err)) {
		free(url);
		return err ? err->code : SL_ENET;
	}
	free(url);
	while (!res.done)
		if (event_base_loop(u->evb, EVLOOP_ONCE) < 0)
			return sl_err_set(err, SL_ENET, name, "event loop failed");
	if (res.rc < 0) {
		if (err)
			*err = res.err;
		return res.rc;
	}
	*buf = res.buf;
	*len = res.len;
	return SL_OK;
}

struct sl_feed_url *sl_feed_url_new(const char *base_url, const struct sl_http_tls *tls,
                                    unsigned timeout_s, struct sl_err *err)
{
	struct sl_feed_url *u = calloc(1, sizeof(*u));

	if (!u || !(u->base = strdup(base_url)) || !(u->evb = event_base_new())) {
		sl_feed_url_free(u);
		sl_err_set(err, SL_ENOMEM, "feed", "out of memory");
		return NULL;
	}
	if (strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0) {
		sl_feed_url_free(u);
		sl_err_set(err, SL_EINVAL, "feed", "a feed URL starts with https:// or http://");
		return NULL;
	}
	if (tls)
		u->tls = *tls;
	u->timeout_s = timeout_s ? timeout_s : 60;
	if (!(u->http = sl_http_client_new(u->evb, 8, err))) {
		sl_feed_url_free(u);
		return NULL;
	}
	return u;
}

void sl_feed_url_free(struct sl_feed_url *u)
{
	if (!u)
		return;
	sl_http_client_free(u->http);
	if (u->evb)
		event_base_free(u->evb);
	free(u->base);
	free(u);
}

struct sl_feed_fetcher sl_feed_url_fetcher(struct sl_feed_url *u)
{
	struct sl_feed_fetcher f = {url_fetch, u};
	return f;
}
