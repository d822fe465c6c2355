/* cmd_map.c — `sluice map`: convert MISP events to STIX 2.1 bundles and back, from files,
 * directories or stdin, one element at a time (map_stream), with warnings and errors on stderr
 * naming file, event and attribute. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "fast_misp2stix.h"
#include "json.h"
#include "map_stream.h"
#include "misp2stix.h"
#include "stix2misp.h"
#include "stix_id.h"

#define MAP_ELEMENT_MAX (64u * 1024u * 1024u)

static const char usage_text[] =
    "usage: sluice map --from misp --to stix21 [options] [FILE|DIR|-]...\n"
    "       sluice map --from stix21 --to misp [options] [FILE|DIR|-]...\n"
    "\n"
    "Input (stdin when no FILE): a MISP event {\"Event\": ...}, a restSearch response\n"
    "{\"response\": [...]} (read event by event), a JSON array of events, a STIX 2.1 bundle or\n"
    "NDJSON of bundles; a DIR means every *.json in it, in name order.\n"
    "Output: one result as pretty JSON on stdout; several as one compact JSON per line (NDJSON).\n"
    "\n"
    "  -o, --output DIR  write one file per event, DIR/<event uuid>.json, instead of stdout\n"
    "      --strict      unmapped types, objects and galaxies fail the event instead of warning\n"
    "      --compact     compact JSON even for a single result\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit: 0 all mapped, 1 an event or file failed (the others are still written), 2 usage.\n";

struct map_run {
	int to_stix;
	int compact;
	const char *outdir;
	struct sl_map_opts opts;
	json_t *pending;    /* first stdout result, held until we know whether more follow */
	char *pending_text; /* the same for a bundle the fast mapper wrote (compact JSON) */
	int printed;        /* results already printed as NDJSON */
	int failed;
};

/* Best-effort event uuid from raw text that did not parse: the first "uuid": "..." value. */
static void guess_uuid(const char *buf, size_t len, char out[40])
{
	snprintf(out, 40, "?");
	const char *p = buf, *end = buf + len;
	while (p && p < end && (p = memmem(p, (size_t)(end - p), "\"uuid\"", 6)) != NULL) {
		p += 6;
		while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n'))
			p++;
		if (p < end && *p == '"' && end - p > 37 && p[37] == '"') {
			char u[37];
			memcpy(u, p + 1, 36);
			u[36] = 0;
			if (sl_stix_id_uuid_valid(u)) {
				snprintf(out, 40, "%s", u);
				return;
			}
		}
	}
}

static void print_warnings(const char *what, const json_t *warnings)
{
	size_t i;
	json_t *w;
	json_array_foreach(warnings, i, w)
	{
		fprintf(stderr, "sluice map: warning: %s: %s: %s\n", what,
		        json_string_value(json_object_get(w, "where"))
		            ? json_string_value(json_object_get(w, "where"))
		            : "?",
		        json_string_value(json_object_get(w, "message"))
		            ? json_string_value(json_object_get(w, "message"))
		            : "?");
	}
}

static int dump_line(json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	if (!s)
		return -1;
	int rc = puts(s) < 0 ? -1 : 0;
	free(s);
	return rc;
}

/* One result: to DIR/<uuid>.json, or stdout (held back until a second result shows output is
 * NDJSON). */
static void emit(struct map_run *r, const char *what, const char *uuid, json_t *doc)
{
	if (r->outdir) {
		char path[4096];
		if (!uuid || !sl_stix_id_uuid_valid(uuid)) {
			fprintf(stderr,
			        "sluice map: %s: event uuid %s is not a valid uuid; not written\n",
			        what, uuid ? uuid : "(missing)");
			r->failed = 1;
			json_decref(doc);
			return;
		}
		snprintf(path, sizeof(path), "%s/%s.json", r->outdir, uuid);
		if (json_dump_file(doc, path, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0) {
			fprintf(stderr, "sluice map: %s: cannot write %s: %s\n", what, path,
			        strerror(errno));
			r->failed = 1;
		}
		json_decref(doc);
		return;
	}
	if (!r->pending && !r->printed) {
		r->pending = doc;
		return;
	}
	if (r->pending) {
		dump_line(r->pending);
		json_decref(r->pending);
		r->pending = NULL;
		r->printed++;
	}
	dump_line(doc);
	r->printed++;
	json_decref(doc);
}

/* A bundle written by the fast mapper (text, owned): like emit, without a tree unless the output
 * is pretty or a file. */
static void emit_text(struct map_run *r, const char *what, char *text, size_t len)
{
	if (r->outdir) {
		char uuid[40] = "";
		const char *b = strstr(text, "\"id\":\"bundle--");
		json_t *doc = json_loadb(text, len, 0, NULL);
		if (b && strlen(b) > 14 + 36)
			snprintf(uuid, sizeof(uuid), "%.36s", b + 14);
		free(text);
		if (!doc) {
			fprintf(stderr, "sluice map: %s: out of memory\n", what);
			r->failed = 1;
			return;
		}
		emit(r, what, uuid, doc);
		return;
	}
	if (!r->pending_text && !r->printed) {
		r->pending_text = text;
		return;
	}
	if (r->pending_text) {
		puts(r->pending_text);
		free(r->pending_text);
		r->pending_text = NULL;
		r->printed++;
	}
	puts(text);
	r->printed++;
	free(text);
}

static void flush_pending(struct map_run *r)
{
	if (r->pending_text) {
		json_t *doc = r->compact ? NULL : json_loads(r->pending_text, 0, NULL);
		if (doc) {
			r->pending = doc; /* pretty, below */
		} else {
			puts(r->pending_text);
		}
		free(r->pending_text);
		r->pending_text = NULL;
	}
	if (!r->pending)
		return;
	char *s = json_dumps(r->pending, r->compact ? JSON_COMPACT : JSON_INDENT(2));
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(r->pending);
	r->pending = NULL;
}

static void map_misp_doc(struct map_run *r, const char *what, json_t *doc)
{
	const json_t *ev = json_object_get(doc, "Event");
	const char *uuid = json_string_value(json_object_get(ev ? ev : doc, "uuid"));
	char w[4200];
	struct sl_err err;
	json_t *warnings = json_array();
	snprintf(w, sizeof(w), "%s: event %s", what, uuid ? uuid : "(no uuid)");
	json_t *bundle = sl_misp_to_stix(doc, &r->opts, warnings, &err);
	print_warnings(what, warnings);
	json_decref(warnings);
	if (!bundle) {
		fprintf(stderr, "sluice map: %s: %s: %s\n", w, err.where, err.msg);
		r->failed = 1;
		return;
	}
	emit(r, what, uuid, bundle);
}

/* MISP -> STIX the fast way: the event read as text and the bundle written as text
 * (sl_fast_misp2stix_write, the mapper bench.map measures). -1 when it refused the element: the
 * caller then maps it through the tree, which names the error as it always has. */
static int map_misp_text(struct map_run *r, const char *what, const char *buf, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&text, &n);
	json_t *warnings = json_array();
	struct sl_err err = {0};
	int rc = -1;

	if (m && warnings)
		rc = sl_fast_misp2stix_write(buf, len, what, &r->opts, warnings, m, &err);
	if (m)
		fclose(m);
	if (rc < 0) {
		free(text);
		json_decref(warnings);
		return -1;
	}
	print_warnings(what, warnings);
	json_decref(warnings);
	emit_text(r, what, text, n);
	return 0;
}

static void map_stix_doc(struct map_run *r, const char *what, json_t *doc)
{
	struct sl_err err;
	json_t *warnings = json_array();
	size_t containers = 0, i;
	json_t *o;
	json_array_foreach(json_object_get(doc, "objects"), i, o)
	{
		const char *t = json_string_value(json_object_get(o, "type"));
		if (t && (!strcmp(t, "report") || !strcmp(t, "grouping")))
			containers++;
	}
	json_t *events;
	if (containers <= 1) {
		json_t *ev = sl_stix_to_misp(doc, &r->opts, warnings, &err);
		events = ev ? json_pack("[o]", ev) : NULL;
	} else {
		events = sl_stix_to_misp_all(doc, &r->opts, warnings, &err);
	}
	print_warnings(what, warnings);
	json_decref(warnings);
	const char *bid = json_string_value(json_object_get(doc, "id"));
	if (!events) {
		fprintf(stderr, "sluice map: %s: bundle %s: %s: %s\n", what, bid ? bid : "(no id)",
		        err.where, err.msg);
		r->failed = 1;
		return;
	}
	json_array_foreach(events, i, o)
	{
		const char *uuid =
		    json_string_value(json_object_get(json_object_get(o, "Event"), "uuid"));
		emit(r, what, uuid, json_incref(o));
	}
	json_decref(events);
}

static void map_stream(struct map_run *r, const char *name, FILE *f)
{
	struct sl_map_stream *s = sl_map_stream_new(f, MAP_ELEMENT_MAX, SL_JSON_DEFAULT_MAX_DEPTH);
	struct sl_err err;
	const char *buf = NULL;
	size_t len = 0, idx;
	int rc;
	if (!s) {
		fprintf(stderr, "sluice map: %s: out of memory\n", name);
		r->failed = 1;
		return;
	}
	while ((rc = sl_map_stream_next(s, &buf, &len, &idx, &err)) != 0) {
		char what[4200];
		snprintf(what, sizeof(what), "%s: element %zu", name, idx);
		if (rc < 0) {
			char u[40];
			guess_uuid(buf ? buf : "", rc == SL_ELIMIT ? len : 0, u);
			if (rc == SL_ELIMIT)
				fprintf(stderr, "sluice map: %s: event %s: %s\n", what, u, err.msg);
			else
				fprintf(stderr, "sluice map: %s: %s\n", name, err.msg);
			r->failed = 1;
			if (rc != SL_ELIMIT)
				break;
			continue;
		}
		if (r->to_stix && map_misp_text(r, what, buf, len) == 0)
			continue;
		json_t *doc = sl_json_parse(buf, len, NULL, what, &err);
		if (!doc) {
			char u[40];
			guess_uuid(buf, len, u);
			/* err.where is "<file>: element N:line:column" */
			fprintf(stderr, "sluice map: %s: event %s: %s\n", err.where, u, err.msg);
			r->failed = 1;
			continue;
		}
		if (!json_is_object(doc)) {
			fprintf(stderr, "sluice map: %s: not a JSON object\n", what);
			r->failed = 1;
		} else if (r->to_stix) {
			map_misp_doc(r, what, doc);
		} else {
			map_stix_doc(r, what, doc);
		}
		json_decref(doc);
	}
	sl_map_stream_free(s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void map_path(struct map_run *r, const char *path)
{
	struct stat st;
	if (strcmp(path, "-") == 0) {
		map_stream(r, "(stdin)", stdin);
		return;
	}
	if (stat(path, &st) != 0) {
		fprintf(stderr, "sluice map: %s: %s\n", path, strerror(errno));
		r->failed = 1;
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		char **names = NULL;
		size_t n = 0;
		struct dirent *de;
		if (!d) {
			fprintf(stderr, "sluice map: %s: %s\n", path, strerror(errno));
			r->failed = 1;
			return;
		}
		while ((de = readdir(d)) != NULL) {
			size_t l = strlen(de->d_name);
			if (de->d_name[0] == '.' || l < 6 ||
			    strcmp(de->d_name + l - 5, ".json") != 0)
				continue;
			char **nn = realloc(names, (n + 1) * sizeof(*names));
			if (!nn)
				break;
			names = nn;
			names[n++] = strdup(de->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp_str);
		for (size_t i = 0; i < n; i++) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", path, names[i]);
			if (names[i] && stat(p, &st) == 0 && S_ISREG(st.st_mode))
				map_path(r, p);
			free(names[i]);
		}
		free(names);
		return;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "sluice map: %s: %s\n", path, strerror(errno));
		r->failed = 1;
		return;
	}
	map_stream(r, path, f);
	fclose(f);
}

int sl_cmd_map(int argc, char **argv)
{
	static const struct option longopts[] = {{"from", required_argument, NULL, 'f'},
	                                         {"to", required_argument, NULL, 't'},
	                                         {"output", required_argument, NULL, 'o'},
	                                         {"strict", no_argument, NULL, 's'},
	                                         {"compact", no_argument, NULL, 'c'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	struct map_run r;
	const char *from = NULL, *to = NULL;
	int c;
	memset(&r, 0, sizeof(r));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'o':
			r.outdir = optarg;
			break;
		case 's':
			r.opts.strict = 1;
			break;
		case 'c':
			r.compact = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case ':':
			return sl_cmd_usage_error("map", "option %s needs a value",
			                          argv[optind - 1]);
		default:
			return sl_cmd_usage_error("map", "unknown option %s", argv[optind - 1]);
		}
	}
	if (!from || !to)
		return sl_cmd_usage_error("map", "--from and --to are required");
	if (!strcmp(from, "misp") && !strcmp(to, "stix21"))
		r.to_stix = 1;
	else if (!strcmp(from, "stix21") && !strcmp(to, "misp"))
		r.to_stix = 0;
	else
		return sl_cmd_usage_error(
		    "map", "cannot map from '%s' to '%s' (misp -> stix21 or stix21 -> misp)", from,
		    to);
	if (r.outdir) {
		struct stat st;
		if (mkdir(r.outdir, 0755) != 0 && errno != EEXIST)
			return sl_cmd_usage_error("map", "cannot create output directory %s: %s",
			                          r.outdir, strerror(errno));
		if (stat(r.outdir, &st) != 0 || !S_ISDIR(st.st_mode))
			return sl_cmd_usage_error("map", "-o %s is not a directory", r.outdir);
	}
	if (optind >= argc)
		map_path(&r, "-");
	for (int i = optind; i < argc; i++)
		map_path(&r, argv[i]);
	flush_pending(&r);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "sluice map: writing stdout: %s\n", strerror(errno));
		return 1;
	}
	return r.failed ? 1 : 0;
}
