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

static int read_json(const char *dir, const char *name, size_t max, json_t **out,
                     struct sl_err *err)
{
	char path[4096];
	char *buf;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = sl_json_slurp(path, max, &buf, &len, err);
	if (rc < 0)
		return rc;
	*out = sl_json_parse(buf, len, NULL, name, err);
	free(buf);
	return *out ? SL_OK : (err ? err->code : SL_EINVAL);
}

int sl_feed_source_sync_dir(struct sl_pipeline *p, struct sl_ledger *ledger, const char *peer,
                            const char *dir, long long now, struct sl_pipeline_stats *st,
                            sl_feed_event_error on_error, void *arg, struct sl_err *err)
{
	struct sl_feed_manifest *m = NULL;
	struct sl_feed_hashes *hashes = NULL;
	json_t *seen = NULL, *todo = NULL, *u;
	char path[4096], *buf = NULL;
	size_t len, i;
	int rc;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	rc = sl_json_slurp(path, FEED_EVENT_MAX, &buf, &len, err);
	if (rc < 0)
		return rc;
	rc = sl_feed_manifest_parse(buf, len, &m, err);
	free(buf);
	buf = NULL;
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/hashes.csv", dir);
	if (access(path, F_OK) == 0) {
		rc = sl_json_slurp(path, FEED_EVENT_MAX, &buf, &len, err);
		if (rc == SL_OK)
			rc = sl_feed_hashes_parse(buf, len, &hashes, err);
		free(buf);
		if (rc < 0)
			goto done;
	}
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
		rc = read_json(dir, name, FEED_EVENT_MAX, &ev, &e);
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
