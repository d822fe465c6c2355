/* cmd_ledger.c — `sluice ledger`: migrate the ledger database, ingest bundles as if a peer sent
 * them, and read it as an operator or compliance officer would (stats, show, related, sources,
 * audit). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "json.h"
#include "ledger.h"

#define INGEST_BATCH 10000
#define INGEST_FILE_MAX (1024u * 1024u * 1024u)

static const char usage_text[] =
    "usage: sluice ledger <command> [--db DSN] [--json] [options]\n"
    "\n"
    "commands:\n"
    "  migrate                       apply the schema migrations this sluice knows (idempotent)\n"
    "  ingest --source PEER [--origin ID] FILE\n"
    "                                store a STIX 2.1 bundle (or NDJSON of bundles) as sent by "
    "PEER\n"
    "  stats                         counts of versions, provenance, observables, quarantine...\n"
    "  show ID                       every stored version of ID and the newest one's JSON\n"
    "  related ID [--limit N]        events (reports, groupings...) sharing observables with ID\n"
    "  sources VALUE [--type T]      objects, peers and events that carry an observable value\n"
    "  audit [--destination D] [--since T] [--limit N]\n"
    "                                outbound decisions, oldest first\n"
    "\n"
    "options:\n"
    "  --db DSN    libpq connection string or URI (default: $SLUICE_DB, then ledger_dsn in\n"
    "              $SLUICE_CONFIG or /etc/sluice/sluice.conf)\n"
    "  --json      machine-readable output\n"
    "  --help      this text\n";

struct opts {
	const char *db, *source, *origin, *type, *destination, *since;
	long limit;
	int json;
	const char *args[2];
	int nargs;
};

/* Where the DSN comes from: --db, then $SLUICE_DB, then ledger_dsn in the config file
 * ($SLUICE_CONFIG, else /etc/sluice/sluice.conf when it exists). The snapshot is kept for the
 * process's short life. */
static const char *dsn_from_config(void)
{
	static struct sl_config *cfg;
	const char *path = getenv("SLUICE_CONFIG");
	struct sl_err err;

	if (!path || !*path) {
		path = "/etc/sluice/sluice.conf";
		if (access(path, R_OK) != 0)
			return NULL;
	}
	if (!cfg && !(cfg = sl_config_load(path, SL_CONFIG_ALLOW_MISSING_SECRETS, &err))) {
		fprintf(stderr, "sluice ledger: %s: %s\n", err.where, err.msg);
		return NULL;
	}
	return sl_config_db_dsn(cfg);
}

static const char *resolve_dsn(const struct opts *o)
{
	const char *env = getenv("SLUICE_DB");

	if (o->db && *o->db)
		return o->db;
	if (env && *env)
		return env;
	return dsn_from_config();
}

static int parse(int argc, char **argv, const char *sub, const char *const *allowed, int maxargs,
                 struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		size_t k;
		int ok = 0;

		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (a[0] != '-' || strcmp(a, "-") == 0) {
			if (o->nargs >= maxargs)
				return sl_cmd_usage_error("ledger", "%s: unexpected argument '%s'",
				                          sub, a);
			o->args[o->nargs++] = a;
			continue;
		}
		for (k = 0; allowed[k]; k++)
			if (strcmp(a, allowed[k]) == 0)
				ok = 1;
		if (strcmp(a, "--db") == 0)
			slot = &o->db;
		else if (ok && strcmp(a, "--source") == 0)
			slot = &o->source;
		else if (ok && strcmp(a, "--origin") == 0)
			slot = &o->origin;
		else if (ok && strcmp(a, "--type") == 0)
			slot = &o->type;
		else if (ok && strcmp(a, "--destination") == 0)
			slot = &o->destination;
		else if (ok && strcmp(a, "--since") == 0)
			slot = &o->since;
		else if (ok && strcmp(a, "--limit") == 0) {
			char *end;

			if (i + 1 >= argc)
				return sl_cmd_usage_error("ledger", "%s: --limit needs a value",
				                          sub);
			o->limit = strtol(argv[++i], &end, 10);
			if (*end || o->limit <= 0 || o->limit > 1000000)
				return sl_cmd_usage_error("ledger",
				                          "%s: --limit must be 1..1000000", sub);
			continue;
		} else
			return sl_cmd_usage_error("ledger", "%s: unknown option '%s'", sub, a);
		if (i + 1 >= argc)
			return sl_cmd_usage_error("ledger", "%s: %s needs a value", sub, a);
		*slot = argv[++i];
	}
	return 0;
}

static struct sl_ledger *open_or_say(const struct opts *o, struct sl_err *err)
{
	const char *dsn = resolve_dsn(o);
	struct sl_ledger *l;

	if (!dsn) {
		fprintf(stderr, "sluice ledger: no database: give --db DSN or set SLUICE_DB\n");
		return NULL;
	}
	l = sl_ledger_open(dsn, err);
	if (!l)
		fprintf(stderr, "sluice ledger: %s: %s\n", err->where, err->msg);
	return l;
}

static int fail(const struct sl_err *err)
{
	fprintf(stderr, "sluice ledger: %s%s%s\n", err->where, *err->where ? ": " : "", err->msg);
	return 1;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (s)
		printf("%s\n", s);
	free(s);
}

static int cmd_migrate(const struct opts *o)
{
	struct sl_err err = {0};
	struct sl_ledger *l = open_or_say(o, &err);
	int from = 0, to = 0;

	if (!l)
		return 1;
	if (sl_ledger_migrate(l, &from, &to, &err) != 0) {
		sl_ledger_close(l);
		return fail(&err);
	}
	sl_ledger_close(l);
	if (o->json)
		printf("{\"from\": %d, \"to\": %d}\n", from, to);
	else if (from == to)
		printf("ledger schema is at version %d: nothing to do\n", to);
	else
		printf("ledger schema migrated from version %d to %d\n", from, to);
	return 0;
}

struct tally {
	long count[SL_LEDGER_REJECTED + 1];
	json_t *rejected;
	int failed; /* a batch could not be stored */
};

static void ingest_objects(struct sl_ledger *l, const struct opts *o, json_t *objs,
                           const char *origin, const char *where, struct tally *t)
{
	size_t n = json_array_size(objs), start;
	struct sl_ledger_in *in = calloc(INGEST_BATCH, sizeof(*in));
	struct sl_ledger_result *res = calloc(INGEST_BATCH, sizeof(*res));

	if (!in || !res) {
		fprintf(stderr, "sluice ledger: out of memory\n");
		t->failed = 1;
		goto out;
	}
	for (start = 0; start < n; start += INGEST_BATCH) {
		size_t k = n - start < INGEST_BATCH ? n - start : INGEST_BATCH, i;
		struct sl_err err = {0};

		for (i = 0; i < k; i++) {
			in[i].obj = json_array_get(objs, start + i);
			in[i].origin_id = origin;
		}
		if (sl_ledger_ingest(l, o->source, in, k, NULL, res, &err) != 0) {
			fprintf(stderr, "sluice ledger: %s: objects %zu..%zu not stored: %s\n",
			        where, start, start + k - 1, err.msg);
			t->failed = 1;
			continue;
		}
		for (i = 0; i < k; i++) {
			t->count[res[i].outcome]++;
			if (res[i].outcome == SL_LEDGER_REJECTED) {
				const char *id =
				    json_string_value(json_object_get(in[i].obj, "id"));

				json_array_append_new(
				    t->rejected, json_pack("{s:s, s:I, s:s?, s:s}", "where", where,
				                           "index", (json_int_t)(start + i), "id",
				                           id, "reason", res[i].msg));
				if (!o->json)
					fprintf(
					    stderr,
					    "sluice ledger: %s: objects[%zu]%s%s: rejected: %s\n",
					    where, start + i, id ? " " : "", id ? id : "",
					    res[i].msg);
			}
		}
	}
out:
	free(in);
	free(res);
}

/* One bundle (already parsed) from where (file or file:line). */
static void ingest_bundle(struct sl_ledger *l, const struct opts *o, json_t *b, const char *raw,
                          size_t raw_len, const char *where, struct tally *t)
{
	json_t *objs = json_object_get(b, "objects");
	const char *origin = o->origin ? o->origin : json_string_value(json_object_get(b, "id"));
	const char *type = json_string_value(json_object_get(b, "type"));

	if (!json_is_object(b) || !type || strcmp(type, "bundle") != 0 ||
	    (objs && !json_is_array(objs))) {
		struct sl_err err = {0};
		char reason[SL_LEDGER_MSG_MAX];

		snprintf(reason, sizeof(reason),
		         "%s: not a STIX bundle (no type 'bundle' or 'objects' is "
		         "not an array)",
		         where);
		fprintf(stderr, "sluice ledger: %s\n", reason);
		json_array_append_new(t->rejected, json_pack("{s:s, s:s}", "where", where, "reason",
		                                             "not a STIX bundle"));
		t->count[SL_LEDGER_REJECTED]++;
		if (sl_ledger_quarantine(l, o->source, raw, raw_len, reason, &err) != 0)
			t->failed = fail(&err);
		return;
	}
	ingest_objects(l, o, objs, origin, where, t);
}

static void quarantine_text(struct sl_ledger *l, const struct opts *o, const char *raw, size_t len,
                            const struct sl_err *perr, struct tally *t)
{
	struct sl_err err = {0};
	char reason[SL_LEDGER_MSG_MAX];

	snprintf(reason, sizeof(reason), "%s: not JSON: %s", perr->where, perr->msg);
	fprintf(stderr, "sluice ledger: %s\n", reason);
	json_array_append_new(t->rejected,
	                      json_pack("{s:s, s:s}", "where", perr->where, "reason", perr->msg));
	t->count[SL_LEDGER_REJECTED]++;
	if (sl_ledger_quarantine(l, o->source, raw, len, reason, &err) != 0)
		t->failed = fail(&err);
}

static int cmd_ingest(const struct opts *o)
{
	static const char *const names[] = {"", "new", "newer", "same", "older", "rejected"};
	struct sl_err err = {0};
	struct sl_ledger *l;
	struct tally t;
	char *text = NULL;
	size_t len = 0;
	json_t *doc, *out;
	int k, rc;

	if (!o->source || !*o->source)
		return sl_cmd_usage_error("ledger", "ingest: --source PEER is required");
	if (o->nargs != 1)
		return sl_cmd_usage_error("ledger", "ingest: give one FILE (or - for stdin)");
	if (sl_json_slurp(o->args[0], INGEST_FILE_MAX, &text, &len, &err) != 0)
		return fail(&err);
	if (!(l = open_or_say(o, &err))) {
		free(text);
		return 1;
	}
	memset(&t, 0, sizeof(t));
	t.rejected = json_array();
	doc = sl_json_parse(text, len, NULL, o->args[0], &err);
	if (doc) {
		ingest_bundle(l, o, doc, text, len, o->args[0], &t);
		json_decref(doc);
	} else if (memchr(text, '\n', len) && strchr(text, '\n') < text + len - 1) {
		/* NDJSON: one bundle per line; a bad line is quarantined and the rest goes on */
		char *line = text, *end = text + len;
		int lineno = 1;

		while (line < end) {
			char *nl = memchr(line, '\n', (size_t)(end - line));
			size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
			char where[SL_ERR_WHERE_MAX];

			snprintf(where, sizeof(where), "%s:%d", o->args[0], lineno);
			if (ll > 0 && strspn(line, " \t\r") < ll) {
				struct sl_err perr = {0};
				json_t *b = sl_json_parse(line, ll, NULL, where, &perr);

				if (b)
					ingest_bundle(l, o, b, line, ll, where, &t);
				else
					quarantine_text(l, o, line, ll, &perr, &t);
				json_decref(b);
			}
			line += ll + 1;
			lineno++;
		}
	} else {
		quarantine_text(l, o, text, len, &err, &t);
	}
	sl_ledger_close(l);
	free(text);
	if (o->json) {
		out = json_object();
		for (k = SL_LEDGER_NEW; k <= SL_LEDGER_REJECTED; k++)
			json_object_set_new(out, names[k], json_integer(t.count[k]));
		json_object_set(out, "rejections", t.rejected);
		print_json(out);
		json_decref(out);
	} else {
		printf("%-10s %8s\n", "outcome", "objects");
		for (k = SL_LEDGER_NEW; k <= SL_LEDGER_REJECTED; k++)
			printf("%-10s %8ld\n", names[k], t.count[k]);
	}
	rc = t.failed || t.count[SL_LEDGER_REJECTED] ? 1 : 0;
	json_decref(t.rejected);
	return rc;
}

static int cmd_stats(const struct opts *o)
{
	struct sl_err err = {0};
	struct sl_ledger *l = open_or_say(o, &err);
	struct sl_ledger_stats s;
	int rc;

	if (!l)
		return 1;
	rc = sl_ledger_stats(l, &s, &err);
	sl_ledger_close(l);
	if (rc != 0)
		return fail(&err);
	if (o->json) {
		printf("{\"schema_version\": %d, \"objects\": %" PRId64 ", \"versions\": %" PRId64
		       ", \"provenance\": %" PRId64 ", \"observables\": %" PRId64
		       ", \"quarantined\": %" PRId64 ", \"outbox_pending\": %" PRId64
		       ", \"audit\": %" PRId64 ", \"cursors\": %" PRId64 "}\n",
		       s.schema_version, s.objects, s.versions, s.provenance, s.observables,
		       s.quarantined, s.outbox_pending, s.audit, s.cursors);
		return 0;
	}
	printf("%-16s %12d\n", "schema version", s.schema_version);
	printf("%-16s %12" PRId64 "\n", "objects", s.objects);
	printf("%-16s %12" PRId64 "\n", "versions", s.versions);
	printf("%-16s %12" PRId64 "\n", "provenance", s.provenance);
	printf("%-16s %12" PRId64 "\n", "observables", s.observables);
	printf("%-16s %12" PRId64 "\n", "quarantined", s.quarantined);
	printf("%-16s %12" PRId64 "\n", "outbox pending", s.outbox_pending);
	printf("%-16s %12" PRId64 "\n", "audit rows", s.audit);
	printf("%-16s %12" PRId64 "\n", "cursors", s.cursors);
	return 0;
}

static int collect_version(void *arg, const struct sl_ledger_version *v)
{
	json_array_append_new(
	    arg, json_pack("{s:s, s:s, s:s, s:b, s:b, s:I, s:I}", "modified", v->modified, "type",
	                   v->type, "spec_version", v->spec_version, "revoked", v->revoked,
	                   "erased", v->erased, "date_added_us", (json_int_t)v->date_added_us,
	                   "seq", (json_int_t)v->seq));
	return 0;
}

static int cmd_show(const struct opts *o)
{
	struct sl_err err = {0};
	struct sl_ledger *l;
	json_t *versions, *newest;
	size_t i;
	json_t *v;

	if (o->nargs != 1)
		return sl_cmd_usage_error("ledger", "show: give one STIX ID");
	if (!(l = open_or_say(o, &err)))
		return 1;
	versions = json_array();
	if (sl_ledger_versions(l, o->args[0], collect_version, versions, &err) != 0 ||
	    !(newest = sl_ledger_get(l, o->args[0], NULL, &err))) {
		json_decref(versions);
		sl_ledger_close(l);
		return fail(&err);
	}
	sl_ledger_close(l);
	if (o->json) {
		json_t *out = json_pack("{s:s, s:o, s:o}", "id", o->args[0], "versions", versions,
		                        "newest", newest);
		print_json(out);
		json_decref(out);
		return 0;
	}
	printf("%-28s %-6s %-8s %-8s %s\n", "MODIFIED", "SPEC", "REVOKED", "ERASED", "SEQ");
	json_array_foreach(versions, i, v)
	{
		printf("%-28s %-6s %-8s %-8s %" JSON_INTEGER_FORMAT "\n",
		       json_string_value(json_object_get(v, "modified")),
		       json_string_value(json_object_get(v, "spec_version")),
		       json_is_true(json_object_get(v, "revoked")) ? "yes" : "no",
		       json_is_true(json_object_get(v, "erased")) ? "yes" : "no",
		       json_integer_value(json_object_get(v, "seq")));
	}
	printf("\nnewest version:\n");
	print_json(newest);
	json_decref(versions);
	json_decref(newest);
	return 0;
}

static int cmd_related(const struct opts *o)
{
	struct sl_err err = {0};
	struct sl_ledger *l;
	json_t *rel, *v;
	size_t i;

	if (o->nargs != 1)
		return sl_cmd_usage_error("ledger", "related: give one container ID");
	if (!(l = open_or_say(o, &err)))
		return 1;
	rel = sl_ledger_related(l, o->args[0], o->limit ? (size_t)o->limit : 100, &err);
	sl_ledger_close(l);
	if (!rel)
		return fail(&err);
	if (o->json) {
		print_json(rel);
	} else {
		printf("%-8s %-14s %s\n", "SHARED", "TYPE", "ID");
		json_array_foreach(rel, i, v)
		{
			printf("%-8" JSON_INTEGER_FORMAT " %-14s %s\n",
			       json_integer_value(json_object_get(v, "shared")),
			       json_string_value(json_object_get(v, "type")),
			       json_string_value(json_object_get(v, "id")));
		}
		if (json_array_size(rel) == 0)
			printf("(no event shares an observable with %s)\n", o->args[0]);
	}
	json_decref(rel);
	return 0;
}

static const char *s_of(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static int cmd_sources(const struct opts *o)
{
	struct sl_err err = {0};
	struct sl_ledger *l;
	json_t *src, *v;
	size_t i;

	if (o->nargs != 1)
		return sl_cmd_usage_error("ledger", "sources: give one VALUE");
	if (!(l = open_or_say(o, &err)))
		return 1;
	src = sl_ledger_sources(l, o->type, o->args[0], &err);
	sl_ledger_close(l);
	if (!src)
		return fail(&err);
	if (o->json) {
		print_json(src);
		json_decref(src);
		return 0;
	}
	printf("%s %s\n\nobjects:\n", s_of(src, "type"), s_of(src, "value"));
	json_array_foreach(json_object_get(src, "objects"), i, v) printf("  %s\n", s_of(v, "id"));
	printf("\nsources:\n  %-16s %-38s %-26s %-8s %s\n", "PEER", "ORIGIN", "FIRST SEEN", "COUNT",
	       "OBJECT");
	json_array_foreach(json_object_get(src, "sources"), i, v)
	{
		printf("  %-16s %-38s %-26.26s %-8" JSON_INTEGER_FORMAT " %s@%s\n", s_of(v, "peer"),
		       s_of(v, "origin_id"), s_of(v, "first_seen"),
		       json_integer_value(json_object_get(v, "count")), s_of(v, "id"),
		       s_of(v, "modified"));
	}
	printf("\nevents and sightings:\n");
	json_array_foreach(json_object_get(src, "containers"), i, v)
	    printf("  %-14s %s\n", s_of(v, "type"), s_of(v, "id"));
	json_decref(src);
	return 0;
}

static int cmd_audit(const struct opts *o)
{
	struct sl_err err = {0};
	struct sl_ledger *l;
	json_t *rows, *v;
	size_t i;

	if (!(l = open_or_say(o, &err)))
		return 1;
	rows = sl_ledger_audit_list(l, o->destination, o->since, o->limit ? (size_t)o->limit : 1000,
	                            &err);
	sl_ledger_close(l);
	if (!rows)
		return fail(&err);
	if (o->json) {
		print_json(rows);
		json_decref(rows);
		return 0;
	}
	printf("%-26s %-19s %-16s %-28s %-30s %s\n", "AT", "DECISION", "DESTINATION", "RULE",
	       "RESULT", "OBJECT");
	json_array_foreach(rows, i, v)
	{
		printf("%-26.26s %-19s %-16s %-28s %-30s %s@%s\n", s_of(v, "at"),
		       s_of(v, "decision"), s_of(v, "destination"), s_of(v, "rule"),
		       s_of(v, "result"), s_of(v, "id"), s_of(v, "modified"));
	}
	json_decref(rows);
	return 0;
}

int sl_cmd_ledger(int argc, char **argv)
{
	static const char *const none[] = {NULL};
	static const char *const ingest[] = {"--source", "--origin", NULL};
	static const char *const related[] = {"--limit", NULL};
	static const char *const sources[] = {"--type", NULL};
	static const char *const audit[] = {"--destination", "--since", "--limit", NULL};
	struct opts o;
	const char *sub;
	int i, rc;

	if (argc < 2)
		return sl_cmd_usage_error("ledger",
		                          "missing command (migrate, ingest, stats, show, "
		                          "related, sources, audit)");
	sub = argv[1];
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
	if (sub[0] == '-')
		return sl_cmd_usage_error("ledger", "unknown option '%s'", sub);
	argc--;
	argv++;
	if (strcmp(sub, "migrate") == 0)
		return (rc = parse(argc, argv, sub, none, 0, &o)) ? rc : cmd_migrate(&o);
	if (strcmp(sub, "ingest") == 0)
		return (rc = parse(argc, argv, sub, ingest, 1, &o)) ? rc : cmd_ingest(&o);
	if (strcmp(sub, "stats") == 0)
		return (rc = parse(argc, argv, sub, none, 0, &o)) ? rc : cmd_stats(&o);
	if (strcmp(sub, "show") == 0)
		return (rc = parse(argc, argv, sub, none, 1, &o)) ? rc : cmd_show(&o);
	if (strcmp(sub, "related") == 0)
		return (rc = parse(argc, argv, sub, related, 1, &o)) ? rc : cmd_related(&o);
	if (strcmp(sub, "sources") == 0)
		return (rc = parse(argc, argv, sub, sources, 1, &o)) ? rc : cmd_sources(&o);
	if (strcmp(sub, "audit") == 0)
		return (rc = parse(argc, argv, sub, audit, 0, &o)) ? rc : cmd_audit(&o);
	return sl_cmd_usage_error("ledger", "unknown command '%s'", sub);
}
