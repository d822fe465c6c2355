/* cmd_feed.c — `sluice feed`: write MISP events into a MISP feed directory (manifest.json,
 * hashes.csv, <uuid>.json) that any MISP can subscribe to, and check a feed directory the way a
 * subscriber reads it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
#include "ledger.h"
#include "feed_source.h"
#include "misp_feed.h"
#include "pipeline.h"
#include "policy.h"
#include "stix2misp.h"

#define FEED_FILE_MAX (256u * 1024u * 1024u)

static const char usage_text[] =
    "usage: sluice feed export -o DIR FILE|DIR...\n"
    "       sluice feed publish --destination D -o DIR [--db DSN]\n"
    "       sluice feed pull DIR|URL --peer NAME --policy FILE [--db DSN] [--ca-file F]\n"
    "       sluice feed check DIR\n"
    "\n"
    "export  write each MISP event ({\"Event\": ...} or a restSearch {\"response\": [...]}) found "
    "in\n"
    "        the files (or *.json in the directories) into the feed DIR, keeping events already "
    "there\n"
    "publish write destination D's view of the ledger (what its policy allows, as it may see it) "
    "as a\n"
    "        MISP feed in DIR, so any MISP can subscribe to sluice; events no longer in the view "
    "leave\n"
    "        the feed; every object published gets an audit row (destination feed:D)\n"
    "pull    take in a MISP feed (a directory, or an https:// URL with TLS verified) as peer "
    "NAME:\n"
    "        only events whose manifest timestamp changed since the last pull, checked against\n"
    "        hashes.csv, mapped, stored and decided for every destination of the policy (as "
    "views)\n"
    "check   read DIR as a subscriber does: manifest.json, hashes.csv, every event file; report\n"
    "        missing files and value hashes that do not match\n";

/* Call put(event) for every event in a parsed document. */
static int each_event(json_t *doc, const char *what, struct sl_feed_writer *w, int *bad)
{
	json_t *list = json_object_get(doc, "response"), *e;
	struct sl_err err;
	size_t i;
	int n = 0;

	if (!list) {
		list = json_array();
		json_array_append(list, doc);
	} else {
		json_incref(list);
	}
	json_array_foreach(list, i, e)
	{
		if (sl_feed_writer_put(w, e, &err) < 0) {
			fprintf(stderr, "sluice feed: %s: %s: %s\n", what, err.where, err.msg);
			(*bad)++;
		} else {
			n++;
		}
	}
	json_decref(list);
	return n;
}

static int export_file(const char *path, struct sl_feed_writer *w, int *bad)
{
	struct sl_err err;
	char *buf;
	size_t len;
	json_t *doc;
	int n;

	if (sl_json_slurp(path, FEED_FILE_MAX, &buf, &len, &err) < 0) {
		fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
		(*bad)++;
		return 0;
	}
	doc = sl_json_parse(buf, len, NULL, path, &err);
	free(buf);
	if (!doc) {
		fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
		(*bad)++;
		return 0;
	}
	n = each_event(doc, path, w, bad);
	json_decref(doc);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int export_path(const char *path, struct sl_feed_writer *w, int *bad)
{
	struct stat sb;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	DIR *d;
	int total = 0;

	if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return export_file(path, w, bad);
	if (!(d = opendir(path))) {
		fprintf(stderr, "sluice feed: %s: cannot open directory\n", path);
		(*bad)++;
		return 0;
	}
	/* Sorted, so the feed's manifest order does not depend on the file system. */
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		total += export_file(full, w, bad);
		free(names[i]);
	}
	free(names);
	return total;
}

static int cmd_export(int argc, char **argv)
{
	const char *out = NULL;
	struct sl_feed_writer *w;
	struct sl_err err;
	int i, n = 0, bad = 0, nin = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			if (++i >= argc)
				return sl_cmd_usage_error("feed", "-o needs a directory");
			out = argv[i];
		} else if (argv[i][0] == '-') {
			return sl_cmd_usage_error("feed", "unknown option '%s'", argv[i]);
		} else {
			nin++;
		}
	}
	if (!out || !nin)
		return sl_cmd_usage_error("feed", "export needs -o DIR and at least one input");
	if (!(w = sl_feed_writer_open(out, &err))) {
		fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			i++;
			continue;
		}
		n += export_path(argv[i], w, &bad);
	}
	if (sl_feed_writer_commit(w, &err) < 0) {
		fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
		bad++;
	}
	sl_feed_writer_free(w);
	printf("sluice feed: %d events written to %s%s\n", n, out, bad ? " (with errors)" : "");
	return bad ? 1 : 0;
}

/* Read dir/name into a malloc'd buffer, printing why not. */
static int read_in(const char *dir, const char *name, char **buf, size_t *len)
{
	char path[4096];
	struct sl_err err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (sl_json_slurp(path, FEED_FILE_MAX, buf, len, &err) == 0)
		return 0;
	fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
	return -1;
}

static int cmd_check(const char *dir)
{
	struct sl_feed_manifest *m = NULL;
	struct sl_feed_hashes *h = NULL;
	struct sl_err err;
	char name[64], *buf;
	size_t len, i;
	int bad = 0, rc;

	if (read_in(dir, "manifest.json", &buf, &len) < 0)
		return 1;
	rc = sl_feed_manifest_parse(buf, len, &m, &err);
	free(buf);
	if (rc < 0)
		goto invalid;
	if (read_in(dir, "hashes.csv", &buf, &len) < 0) {
		sl_feed_manifest_free(m);
		return 1;
	}
	rc = sl_feed_hashes_parse(buf, len, &h, &err);
	free(buf);
	if (rc < 0)
		goto invalid;
	for (i = 0; i < sl_feed_manifest_count(m); i++) {
		json_t *ev;
		snprintf(name, sizeof(name), "%s.json", sl_feed_manifest_uuid(m, i));
		if (read_in(dir, name, &buf, &len) < 0) {
			bad++;
			continue;
		}
		ev = sl_json_parse(buf, len, NULL, name, &err);
		free(buf);
		if (!ev || sl_feed_event_check(h, ev, &err) < 0) {
			fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
			bad++;
		}
		json_decref(ev);
	}
	printf("sluice feed: %zu events in %s, %d with problems\n", sl_feed_manifest_count(m), dir,
	       bad);
	sl_feed_hashes_free(h);
	sl_feed_manifest_free(m);
	return bad ? 1 : 0;
invalid:
	fprintf(stderr, "sluice feed: %s: %s\n", err.where, err.msg);
	sl_feed_manifest_free(m);
	return 1;
}

struct collect {
	json_t *objs;
	struct sl_ledger_page_query q;
};

static int collect_one(void *arg, const struct sl_ledger_version *v)
{
	struct collect *c = arg;
	struct sl_err err;
	json_t *o = sl_json_parse(v->json, v->json_len, NULL, v->id, &err);

	c->q.after_date_added_us = v->date_added_us;
	c->q.after_seq = v->seq;
	if (!o)
		return -1;
	return json_array_append_new(c->objs, o);
}

static int cmd_publish(int argc, char **argv)
{
	const char *db = getenv("SLUICE_DB"), *dest = NULL, *out = NULL;
	struct collect c = {0};
	struct sl_feed_writer *w = NULL;
	struct sl_feed_manifest *old = NULL;
	struct sl_ledger *l = NULL;
	struct sl_map_opts opts = {0};
	json_t *bundle = NULL, *events = NULL, *warnings = json_array(), *keep = json_object(), *e;
	struct sl_ledger_audit *rows = NULL;
	char feedname[512], path[4096], *buf;
	struct sl_err err;
	size_t i, len;
	bool more = true;
	int rc = 1;

	for (i = 1; i < (size_t)argc; i++) {
		const char **slot;
		if (strcmp(argv[i], "--destination") == 0)
			slot = &dest;
		else if (strcmp(argv[i], "-o") == 0)
			slot = &out;
		else if (strcmp(argv[i], "--db") == 0)
			slot = &db;
		else
			return sl_cmd_usage_error("feed", "unknown option '%s'", argv[i]);
		if (++i >= (size_t)argc)
			return sl_cmd_usage_error("feed", "%s needs a value", argv[i - 1]);
		*slot = argv[i];
	}
	if (!dest || !out)
		return sl_cmd_usage_error("feed", "publish needs --destination D and -o DIR");
	if (!db || !*db)
		return sl_cmd_usage_error("feed", "no database: give --db DSN or set SLUICE_DB");
	sl_err_clear(&err);
	if (!(l = sl_ledger_open(db, &err)))
		goto fail;
	c.objs = json_array();
	c.q.latest_only = true;
	c.q.destination = dest;
	while (more)
		if (sl_ledger_page(l, &c.q, 1000, collect_one, &c, &more, &err) != 0)
			goto fail;
	bundle = json_pack("{s:s,s:s,s:O}", "type", "bundle", "id",
	                   "bundle--00000000-0000-4000-8000-000000000000", "objects", c.objs);
	if (!(events = sl_stix_to_misp_all(bundle, &opts, warnings, &err)))
		goto fail;
	if (!(w = sl_feed_writer_open(out, &err)))
		goto fail;
	json_array_foreach(events, i, e)
	{
		const char *uuid =
		    json_string_value(json_object_get(json_object_get(e, "Event"), "uuid"));
		if (sl_feed_writer_put(w, e, &err) < 0)
			goto fail;
		if (uuid)
			json_object_set_new(keep, uuid, json_true());
	}
	/* Events published before that left the view (erased, or a changed policy) leave the feed.
	 */
	snprintf(path, sizeof(path), "%s/manifest.json", out);
	if (access(path, F_OK) == 0 && sl_json_slurp(path, FEED_FILE_MAX, &buf, &len, &err) == 0) {
		if (sl_feed_manifest_parse(buf, len, &old, &err) == 0)
			for (i = 0; i < sl_feed_manifest_count(old); i++)
				if (!json_object_get(keep, sl_feed_manifest_uuid(old, i)) &&
				    sl_feed_writer_remove(w, sl_feed_manifest_uuid(old, i), &err) <
				        0) {
					free(buf);
					goto fail;
				}
		free(buf);
	}
	if (sl_feed_writer_commit(w, &err) < 0)
		goto fail;
	snprintf(feedname, sizeof(feedname), "feed:%s", dest);
	rows = calloc(json_array_size(c.objs) + 1, sizeof(*rows));
	if (!rows)
		goto fail;
	json_array_foreach(c.objs, i, e)
	{
		const char *m = json_string_value(json_object_get(e, "modified"));
		rows[i].id = json_string_value(json_object_get(e, "id"));
		rows[i].modified = m ? m : json_string_value(json_object_get(e, "created"));
		rows[i].destination = feedname;
		rows[i].decision = SL_LEDGER_ALLOW;
		rows[i].rule = "published in the destination's MISP feed";
		rows[i].result = "published";
	}
	if (sl_ledger_audit_append(l, rows, json_array_size(c.objs), &err) < 0)
		goto fail;
	printf("sluice feed: %zu events (%zu objects) of %s's view published to %s, %zu mapping "
	       "warnings\n",
	       json_array_size(events), json_array_size(c.objs), dest, out,
	       json_array_size(warnings));
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "sluice feed: %s%s%s\n", err.where, err.where[0] ? ": " : "", err.msg);
done:
	free(rows);
	sl_feed_manifest_free(old);
	sl_feed_writer_free(w);
	json_decref(keep);
	json_decref(warnings);
	json_decref(events);
	json_decref(bundle);
	json_decref(c.objs);
	sl_ledger_close(l);
	return rc;
}

static void pull_error(void *arg, const char *uuid, const struct sl_err *err)
{
	fprintf(stderr, "sluice feed: event %s refused: %s: %s\n", uuid, err->where, err->msg);
	(*(int *)arg)++;
}

static int cmd_pull(int argc, char **argv)
{
	const char *db = getenv("SLUICE_DB"), *src = NULL, *peer = NULL, *pfile = NULL, *ca = NULL;
	struct sl_pipeline_stats st = {0};
	struct sl_policy *pol = NULL;
	struct sl_ledger *l = NULL;
	struct sl_pipeline *pipe = NULL;
	struct sl_feed_url *url = NULL;
	struct sl_err err;
	size_t d;
	int i, rc = 1, refused = 0;

	for (i = 1; i < argc; i++) {
		const char **slot;
		if (strcmp(argv[i], "--peer") == 0)
			slot = &peer;
		else if (strcmp(argv[i], "--policy") == 0)
			slot = &pfile;
		else if (strcmp(argv[i], "--db") == 0)
			slot = &db;
		else if (strcmp(argv[i], "--ca-file") == 0)
			slot = &ca;
		else if (argv[i][0] == '-')
			return sl_cmd_usage_error("feed", "unknown option '%s'", argv[i]);
		else if (src)
			return sl_cmd_usage_error("feed", "pull takes one feed");
		else {
			src = argv[i];
			continue;
		}
		if (++i >= argc)
			return sl_cmd_usage_error("feed", "%s needs a value", argv[i - 1]);
		*slot = argv[i];
	}
	if (!src || !peer || !pfile)
		return sl_cmd_usage_error("feed",
		                          "pull needs a feed, --peer NAME and --policy FILE");
	if (!db || !*db)
		return sl_cmd_usage_error("feed", "no database: give --db DSN or set SLUICE_DB");
	sl_err_clear(&err);
	if (sl_policy_load(pfile, &pol, &err) < 0 || !(l = sl_ledger_open(db, &err)) ||
	    sl_ledger_migrate(l, NULL, NULL, &err) < 0 || !(pipe = sl_pipeline_new(l, pol, &err)))
		goto fail;
	for (d = 0; d < sl_policy_dest_count(pol); d++)
		if (sl_pipeline_set_pull(pipe, sl_policy_dest_name(sl_policy_dest_at(pol, d)),
		                         &err) < 0)
			goto fail;
	if (strncmp(src, "https://", 8) == 0 || strncmp(src, "http://", 7) == 0) {
		struct sl_http_tls tls = {0};
		struct sl_feed_fetcher f;
		tls.ca_file = ca;
		if (!(url = sl_feed_url_new(src, &tls, 60, &err)))
			goto fail;
		f = sl_feed_url_fetcher(url);
		if (sl_feed_source_sync(pipe, l, peer, &f, (long long)time(NULL), &st, pull_error,
		                        &refused, &err) < 0)
			goto fail;
	} else if (sl_feed_source_sync_dir(pipe, l, peer, src, (long long)time(NULL), &st,
	                                   pull_error, &refused, &err) < 0) {
		goto fail;
	}
	printf("sluice feed: %zu events read (%zu refused), %zu STIX objects, %zu new versions, "
	       "decisions: %zu allow, %zu allow-with-changes, %zu deny\n",
	       st.events, st.failed, st.objects, st.stored, st.allowed, st.changed, st.denied);
	rc = refused ? 1 : 0;
	goto done;
fail:
	fprintf(stderr, "sluice feed: %s%s%s\n", err.where, err.where[0] ? ": " : "", err.msg);
done:
	sl_feed_url_free(url);
	sl_pipeline_free(pipe);
	sl_ledger_close(l);
	sl_policy_free(pol);
	return rc;
}

int sl_cmd_feed(int argc, char **argv)
{
	if (argc < 2)
		return sl_cmd_usage_error("feed", "which command: export or check?");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(argv[1], "pull") == 0)
		return cmd_pull(argc - 1, argv + 1);
	if (strcmp(argv[1], "publish") == 0)
		return cmd_publish(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0) {
		if (argc != 3 || argv[2][0] == '-')
			return sl_cmd_usage_error("feed", "check takes one directory");
		return cmd_check(argv[2]);
	}
	return sl_cmd_usage_error("feed", "unknown command '%s'", argv[1]);
}
