/* bench_policy.c — policy decisions per second. Headline (with engineer A's mapper built in): MISP
 * events mapped to STIX by mappers/misp2stix.c, then each bundle decided for 20 destinations
 * exactly as gateway/pipeline.c's decide_all does it (sl_policy_decide_bundle_rows with changed
 * objects as text, one ledger share row filled per destination and object): pipeline_step_* and
 * its ratio to the mapping of the same objects; beside it, on every tenth bundle, the step with
 * changed trees as before and the ledger's json_dumps of each changed row that the text replaced
 * (ledger_payload_dumps_*). Also on a pool of 1,000,000 mapper-shaped STIX objects: facts read once
 * per object and full decisions, verdicts only, every verdict at once (sl_policy_verdicts_facts),
 * the facts alone, the naive per-destination path, and a JSON parse+serialise round trip (a lower
 * bound of any mapper's cost when the mapper is not built in). read_floor_*: every member and
 * string of the mapped objects visited once, no decision (the least any policy reading the
 * mapper's output does). Lines are name=value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "decision.h"
#include "ledger.h"
#include "policy.h"
#ifdef SL_BENCH_HAVE_MAPPER
#include "misp2stix.h"
#endif

#define NOW 1795200000LL
#define POOL 20000
#define NDEST 20

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const marks[] = {"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
                                    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                                    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                                    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
                                    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"};

static json_t *make_object(unsigned i)
{
	char id[80], pat[160], v[64];
	json_t *o;

	switch (i % 6) {
	case 0:
		snprintf(v, sizeof(v), "host%u.bad.example", i);
		snprintf(pat, sizeof(pat), "[domain-name:value = '%s']", v);
		break;
	case 1:
		snprintf(v, sizeof(v), "198.51.%u.%u", (i / 250) % 250, i % 250);
		snprintf(pat, sizeof(pat), "[ipv4-addr:value = '%s']", v);
		break;
	case 2:
		snprintf(v, sizeof(v), "phisher%u@mail.example", i);
		snprintf(pat, sizeof(pat), "[email-addr:value = '%s']", v);
		break;
	default:
		snprintf(v, sizeof(v), "%032x", i * 2654435761u);
		snprintf(pat, sizeof(pat), "[file:hashes.MD5 = '%s']", v);
	}
	snprintf(id, sizeof(id), "indicator--%08x-1111-4222-8333-%012x", i, i * 7u);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s], s:s, s:i}", "type",
	              "indicator", "spec_version", "2.1", "id", id, "created",
	              "2026-11-20T10:00:00.000Z", "modified", "2026-11-20T10:00:00.000Z", "pattern",
	              pat, "pattern_type", "stix", "valid_from", "2026-11-20T10:00:00Z", "labels",
	              i % 3 ? "misp:category=\"Network activity\"" : "internal:test",
	              "object_marking_refs", marks[i % 5], "created_by_ref",
	              "identity--5f3e8c1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b", "x_misp_distribution",
	              (int)(i % 4));
	if (i % 6 == 5)
		json_object_set_new(o, "description",
		                    json_sprintf("Seen sending from phisher%u@mail.example", i));
	return o;
}

/* 20 destinations of mixed kinds, TLP levels, distributions and retention; personal data kept,
 * redacted, pseudonymised or dropped (keep_all: kept everywhere, to tell what personal-data
 * changes cost). */
static void write_policy(const char *path, const char *keypath, int keep_all)
{
	static const char *const tlp[] = {"clear", "green", "amber"};
	static const char *const act[] = {"keep", "redact", "pseudonymise", "drop"};
	FILE *f = fopen(path, "w");
	int i;

	fprintf(f, "hmac_key_file = \"%s\"\n", keypath);
	for (i = 0; i < NDEST; i++)
		fprintf(
		    f,
		    "destination \"d%02d\" {\n kind = \"%s\"\n max_tlp = \"%s\"\n unmarked = "
		    "\"green\"\n"
		    " distribution = {%s}\n retention_days = %d\n deny_tags = {\"internal:*\"}\n"
		    " gdpr {\n  email = \"%s\"\n  ip_address = \"%s\"\n }\n}\n",
		    i, i % 2 ? "misp" : "taxii", tlp[i % 3], i % 4 ? "2, 3" : "1, 2, 3",
		    i % 5 ? 0 : 365, keep_all ? "keep" : act[i % 4],
		    keep_all ? "keep" : act[(i / 4) % 4]);
	fclose(f);
}

#ifdef SL_BENCH_HAVE_MAPPER
/* A MISP event of 50 attributes (ip-dst and domain alternating, every value distinct, tlp:green):
 * the mapper makes 228 STIX objects of it, the grouping carrying the TLP the others inherit. */
static json_t *make_event(long i)
{
	char eu[40];
	json_t *ev, *attrs;
	int a;

	snprintf(eu, sizeof(eu), "%08lx-1e2f-4a3b-8c4d-5e6f7a8b9c0d", (unsigned long)i);
	ev = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s}], s:[]}}", "Event", "uuid", eu,
	               "info", "bench", "date", "2026-11-20", "timestamp", "1795168800",
	               "distribution", "3", "analysis", "1", "Tag", "name", "tlp:green",
	               "Attribute");
	attrs = json_object_get(json_object_get(ev, "Event"), "Attribute");
	for (a = 0; a < 50; a++) {
		char au[40], v[64];
		snprintf(au, sizeof(au), "%08lx-2f3a-4b4c-9d5e-%012x", (unsigned long)i,
		         (unsigned)a);
		if (a % 2)
			snprintf(v, sizeof(v), "host%d.bad%ld.example", a, i);
		else
			snprintf(v, sizeof(v), "198.51.%ld.%d", i % 250, a);
		json_array_append_new(attrs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "uuid", au,
		                                       "type", a % 2 ? "domain" : "ip-dst",
		                                       "category", "Network activity", "value", v,
		                                       "to_ids", 1, "timestamp", "1795168800"));
	}
	return ev;
}

struct step_counts {
	long decisions, allowed, changed, denied, rules, changes, objects;
};

/* The share rows and ids decide_all keeps in its pipeline from one bundle to the next. */
static struct {
	struct sl_ledger_share *rows;
	const char **ids;
	size_t rows_cap, ids_cap;
} step_buf;

/* Exactly what gateway/pipeline.c's decide_all does with the policy for one bundle (everything
 * but the ledger call): every destination's decisions at once as rows, changed objects as text
 * (sl_policy_decide_bundle_rows, SL_POLICY_ROWS_TEXT), each object's id and version read once, one
 * ledger share row per destination and object filled from them (the text as its payload), the
 * verdicts counted as decide_all counts them for its stats, then everything freed. */
__attribute__((noinline)) static int pipeline_step_flags(const struct sl_policy *p,
                                                         const json_t *bundle, unsigned flags,
                                                         struct step_counts *c);

__attribute__((noinline)) static int pipeline_step(const struct sl_policy *p, const json_t *bundle,
                                                   struct step_counts *c)
{
	return pipeline_step_flags(p, bundle, SL_POLICY_ROWS_TEXT, c);
}

/* pipeline_step with flags: 0 gives changed objects as trees (what decide_all asked for before
 * the payload text), which the ledger then serialised per recorded row. */
__attribute__((noinline)) static int pipeline_step_flags(const struct sl_policy *p,
                                                         const json_t *bundle, unsigned flags,
                                                         struct step_counts *c)
{
	size_t nd = sl_policy_dest_count(p), n, d, i, k = 0;
	const json_t *objs = json_object_get(bundle, "objects");
	struct sl_policy_rows *dr = NULL;
	struct sl_ledger_share *rows;
	const char **ids;
	struct sl_err err;

	if (sl_policy_decide_bundle_rows(p, bundle, NOW, flags, &dr, &err) != 0) {
		fprintf(stderr, "bench: %s: %s\n", err.where, err.msg);
		return -1;
	}
	n = sl_policy_rows_count(dr);
	if (nd * n + 1 > step_buf.rows_cap) {
		free(step_buf.rows);
		if (!(step_buf.rows = malloc((nd * n + 1) * sizeof(*step_buf.rows))))
			abort();
		step_buf.rows_cap = nd * n + 1;
	}
	if (2 * (n + 1) > step_buf.ids_cap) {
		free(step_buf.ids);
		if (!(step_buf.ids = malloc(2 * (n + 1) * sizeof(*step_buf.ids))))
			abort();
		step_buf.ids_cap = 2 * (n + 1);
	}
	rows = step_buf.rows;
	ids = step_buf.ids;
	for (i = 0; i < n; i++) {
		const char *m, *cr;
		sl_policy_rows_object(dr, i, &ids[2 * i], &m, &cr);
		ids[2 * i + 1] = m ? m : cr ? cr : "1970-01-01T00:00:00Z";
	}
	for (d = 0; d < nd; d++) {
		const char *dname = sl_policy_dest_name(sl_policy_dest_at(p, d));
		const struct sl_policy_row *pr = sl_policy_rows_dest(dr, d);
		for (i = 0; i < n; i++, k++) {
			rows[k].destination = dname;
			rows[k].id = ids[2 * i];
			rows[k].modified = ids[2 * i + 1];
			rows[k].decision = pr[i].verdict == SL_POLICY_ALLOW ? SL_LEDGER_ALLOW
			                   : pr[i].verdict == SL_POLICY_ALLOW_CHANGED
			                       ? SL_LEDGER_ALLOW_WITH_CHANGES
			                       : SL_LEDGER_DENY;
			rows[k].rule = pr[i].rule;
			rows[k].changes = pr[i].changes;
			rows[k].obj = pr[i].text ? json_array_get(objs, i) : pr[i].obj;
			rows[k].payload = pr[i].text;
			rows[k].deliver = 1;
			rows[k].recorded = false;
		}
	}
	/* what decide_all counts for its stats (its loop runs over the rows recorded now) */
	for (i = 0; i < k; i++) {
		c->decisions++;
		if (rows[i].decision == SL_LEDGER_ALLOW)
			c->allowed++;
		else if (rows[i].decision == SL_LEDGER_ALLOW_WITH_CHANGES)
			c->changed++;
		else
			c->denied++;
	}
	sl_policy_rows_free(dr);
	return 0;
}

/* What the ledger did with a changed row before rows came with the payload text: serialise the
 * changed tree (json_dumps, compact, keys sorted) for every changed row it records; with the text
 * it stores the row's text as it is. The step with trees, then that serialisation, per bundle:
 * the whole pipeline's cost of a changed payload before this change. */
__attribute__((noinline)) static long ledger_payload_dumps(const struct sl_policy *p,
                                                           const json_t *bundle, double *t)
{
	struct sl_policy_rows *dr = NULL;
	struct sl_err err;
	size_t nd = sl_policy_dest_count(p), n, d, i;
	long rows = 0;
	double t0;

	if (sl_policy_decide_bundle_rows(p, bundle, NOW, 0, &dr, &err) != 0)
		return -1;
	n = sl_policy_rows_count(dr);
	t0 = now_s(); /* the serialisation alone */
	for (d = 0; d < nd; d++) {
		const struct sl_policy_row *pr = sl_policy_rows_dest(dr, d);
		for (i = 0; i < n; i++)
			if (pr[i].verdict == SL_POLICY_ALLOW_CHANGED && pr[i].obj) {
				free(json_dumps(pr[i].obj, JSON_COMPACT | JSON_SORT_KEYS));
				rows++;
			}
	}
	*t += now_s() - t0;
	sl_policy_rows_free(dr);
	return rows;
}

/* The same decisions through sl_policy_decide_bundle_all (a decision object per object and
 * destination, read with the four getters): what pipeline.c called before the rows. */
__attribute__((noinline)) static int decisions_step(const struct sl_policy *p, const json_t *bundle,
                                                    struct step_counts *c)
{
	struct sl_policy_decision **decs[NDEST];
	struct sl_err err;
	size_t n = 0, d, i;

	if (sl_policy_decide_bundle_all(p, bundle, NOW, NULL, decs, &n, &err) != 0) {
		fprintf(stderr, "bench: %s: %s\n", err.where, err.msg);
		return -1;
	}
	for (d = 0; d < NDEST; d++) {
		for (i = 0; i < n; i++) {
			const struct sl_policy_decision *dec = decs[d][i];
			enum sl_policy_verdict v = sl_policy_decision_verdict(dec);
			const char *rule = sl_policy_decision_rule(dec);
			const json_t *ch = sl_policy_decision_changes(dec);
			c->decisions++;
			c->allowed += v == SL_POLICY_ALLOW;
			c->changed += v == SL_POLICY_ALLOW_CHANGED;
			c->denied += v == SL_POLICY_DENY;
			c->rules += rule[0] != '\0';
			c->changes += (long)json_array_size(ch);
			c->objects += sl_policy_decision_object(dec) != NULL;
		}
		sl_policy_decisions_free(decs[d], n);
	}
	return 0;
}

/* One function per measured step, never inlined, so that callgrind's inclusive counts give each
 * step's instructions (`valgrind --tool=callgrind bench_policy 23000`, then callgrind_annotate
 * --inclusive=yes): wall-clock figures on a shared machine vary, instruction counts do not. */
__attribute__((noinline)) static json_t *step_map(const json_t *ev, struct sl_err *err)
{
	return sl_misp_to_stix(ev, NULL, NULL, err);
}

__attribute__((noinline)) static int step_policy(const struct sl_policy *p, const json_t *bundle,
                                                 struct step_counts *c)
{
	return pipeline_step(p, bundle, c);
}

__attribute__((noinline)) static int step_policy_trees(const struct sl_policy *p,
                                                       const json_t *bundle, struct step_counts *c)
{
	return pipeline_step_flags(p, bundle, 0, c);
}

__attribute__((noinline)) static long step_ledger_payload_dumps(const struct sl_policy *p,
                                                               const json_t *bundle, double *t)
{
	return ledger_payload_dumps(p, bundle, t);
}

__attribute__((noinline)) static int
step_policy_decision_objects(const struct sl_policy *p, const json_t *bundle, struct step_counts *c)
{
	return decisions_step(p, bundle, c);
}

__attribute__((noinline)) static int step_policy_personal_data_kept(const struct sl_policy *p,
                                                                    const json_t *bundle,
                                                                    struct step_counts *c)
{
	return pipeline_step(p, bundle, c);
}

/* The floor of any policy that reads what the mapper built: every member of every object visited
 * once (arrays and nested objects too) and every string scanned once for an '@' (the cheapest
 * personal-data test there is), with no decision at all. A policy must at least read each
 * object's markings, distribution, tags and values to decide it. */
static long floor_visit(const json_t *v)
{
	const char *k;
	const json_t *e;
	size_t i;
	long n = 0;

	if (json_is_string(v))
		return memchr(json_string_value(v), '@', json_string_length(v)) != NULL;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e) n += floor_visit(e);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, e) n += 1 + floor_visit(e);
	}
	return n;
}

__attribute__((noinline)) static long step_floor(const json_t *bundle)
{
	const json_t *o;
	size_t i;
	long n = 0;

	json_array_foreach(json_object_get(bundle, "objects"), i, o) n += floor_visit(o);
	return n;
}

/* The older, finer measures on one mapped bundle: facts and full decisions, verdicts only, every
 * verdict at once, full decisions with an audit row each, and the bundle per destination. */
static void detail_measures(const struct sl_policy *p, const json_t *bundle, double t[6])
{
	json_t *conts = json_array(), *o;
	struct sl_err err;
	size_t k, j;
	double t0;

	/* the grouping carries the event's TLP: its objects inherit it */
	json_array_foreach(json_object_get(bundle, "objects"), k, o)
	{
		const char *ty = json_string_value(json_object_get(o, "type"));
		if (ty && (strcmp(ty, "report") == 0 || strcmp(ty, "grouping") == 0))
			json_array_append(conts, o);
	}
	t0 = now_s();
	json_array_foreach(json_object_get(bundle, "objects"), k, o)
	{
		struct sl_policy_ctx ctx = {conts, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(o, &ctx, &err);
		for (j = 0; f && j < NDEST; j++)
			sl_policy_decision_free(
			    sl_policy_decide_facts(sl_policy_dest_at(p, j), f, NOW, &err));
		sl_policy_facts_free(f);
	}
	t[0] += now_s() - t0;
	t0 = now_s();
	json_array_foreach(json_object_get(bundle, "objects"), k, o)
	{
		struct sl_policy_ctx ctx = {conts, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(o, &ctx, &err);
		for (j = 0; f && j < NDEST; j++)
			(void)sl_policy_verdict_facts(sl_policy_dest_at(p, j), f, NOW);
		sl_policy_facts_free(f);
	}
	t[1] += now_s() - t0;
	t0 = now_s();
	json_array_foreach(json_object_get(bundle, "objects"), k, o)
	{
		struct sl_policy_ctx ctx = {conts, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(o, &ctx, &err);
		enum sl_policy_verdict v[NDEST];
		if (f)
			sl_policy_verdicts_facts(p, f, NOW, v);
		sl_policy_facts_free(f);
	}
	t[2] += now_s() - t0;
	t0 = now_s();
	json_array_foreach(json_object_get(bundle, "objects"), k, o)
	{
		struct sl_policy_ctx ctx = {conts, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(o, &ctx, &err);
		for (j = 0; f && j < NDEST; j++) {
			struct sl_policy_decision *d =
			    sl_policy_decide_facts(sl_policy_dest_at(p, j), f, NOW, &err);
			json_decref(sl_policy_decision_to_json(d));
			sl_policy_decision_free(d);
		}
		sl_policy_facts_free(f);
	}
	t[3] += now_s() - t0;
	t0 = now_s();
	for (j = 0; j < NDEST; j++) {
		json_t *out;
		struct sl_policy_decision **decs;
		size_t n = 0;
		if (sl_policy_decide_bundle(sl_policy_dest_at(p, j), bundle, NOW, &out, &decs, &n,
		                            &err) == 0) {
			json_decref(out);
			sl_policy_decisions_free(decs, n);
		}
	}
	t[4] += now_s() - t0;
	t0 = now_s();
	{
		json_t *outs[NDEST];
		struct sl_policy_decision **decs[NDEST];
		size_t n = 0;
		if (sl_policy_decide_bundle_all(p, bundle, NOW, outs, decs, &n, &err) == 0)
			for (j = 0; j < NDEST; j++) {
				json_decref(outs[j]);
				sl_policy_decisions_free(decs[j], n);
			}
	}
	t[5] += now_s() - t0;
	json_decref(conts);
}

static void print_ratio(const char *name, double t, long nobj, double t_map, long nmap)
{
	double per = t * 1e9 / (double)(nobj ? nobj : 1), map = t_map * 1e9 / (double)nmap;

	printf("%s_ns_per_mapped_object_all_destinations=%.1f\n", name, per);
	printf("ratio_%s_to_map=%.3f\n", name, per / (map > 0 ? map : 1));
}

/* MISP events mapped to STIX by the mapper, then decided for every destination the way the
 * pipeline does, until `total` mapped objects went through both steps. Every tenth bundle is also
 * measured the older, finer ways. */
static void mapped_section(const struct sl_policy *p, const struct sl_policy *pkeep, long total)
{
	struct step_counts c, cb, ck, ct;
	long nev = 0, nobj = 0, ndetail = 0, dumped = 0, nchanged_detail = 0;
	long floor_seen = 0;
	double t_floor = 0, t_map = 0, t_step = 0, t_step_b = 0, t_step_k = 0, t_step_t = 0,
	       t_dumps = 0, t0, t[6] = {0, 0, 0, 0, 0, 0};
	struct sl_err err;
	static const char *const names[6] = {
	    "policy",       "verdict_only",           "verdicts_all",
	    "policy_audit", "bundle_per_destination", "bundle_all"};
	int k;

	memset(&c, 0, sizeof(c));
	memset(&cb, 0, sizeof(cb));
	memset(&ck, 0, sizeof(ck));
	memset(&ct, 0, sizeof(ct));
	while (nobj < total) {
		json_t *ev = make_event(nev), *bundle;
		size_t n;
		t0 = now_s();
		bundle = step_map(ev, &err);
		t_map += now_s() - t0;
		if (!bundle) {
			fprintf(stderr, "bench: mapping failed: %s\n", err.msg);
			exit(1);
		}
		n = json_array_size(json_object_get(bundle, "objects"));
		t0 = now_s();
		floor_seen += step_floor(bundle);
		t_floor += now_s() - t0;
		t0 = now_s();
		if (step_policy(p, bundle, &c) != 0)
			exit(1);
		t_step += now_s() - t0;
		if (nev % 10 == 0) {
			t0 = now_s();
			if (step_policy_decision_objects(p, bundle, &cb) != 0)
				exit(1);
			t_step_b += now_s() - t0;
			t0 = now_s();
			if (step_policy_personal_data_kept(pkeep, bundle, &ck) != 0)
				exit(1);
			t_step_k += now_s() - t0;
			t0 = now_s();
			if (step_policy_trees(p, bundle, &ct) != 0)
				exit(1);
			t_step_t += now_s() - t0;
			dumped += step_ledger_payload_dumps(p, bundle, &t_dumps);
			detail_measures(p, bundle, t);
			ndetail += (long)n;
		}
		nobj += (long)n;
		nev++;
		json_decref(bundle);
		json_decref(ev);
	}
	printf("mapper=available\n");
	printf("mapped_events=%ld\n", nev);
	printf("mapped_objects=%ld\n", nobj);
	printf("mapped_objects_measured_finely=%ld\n", ndetail);
	printf("map_ns_per_object=%.1f\n", t_map * 1e9 / (double)nobj);
	printf("pipeline_decisions=%ld\n", c.decisions);
	printf("pipeline_allowed=%ld\n", c.allowed);
	printf("pipeline_allowed_with_changes=%ld\n", c.changed);
	printf("pipeline_denied=%ld\n", c.denied);
	printf("pipeline_decision_objects_changes=%ld\n", cb.changes);
	printf("pipeline_decisions_per_s=%.0f\n", (double)c.decisions / t_step);
	print_ratio("pipeline_step", t_step, nobj, t_map, nobj);
	/* what reading the mapper's objects costs any policy, before deciding anything */
	printf("read_floor_members_and_strings=%ld\n", floor_seen);
	print_ratio("read_floor", t_floor, nobj, t_map, nobj);
	print_ratio("pipeline_step_decision_objects", t_step_b, ndetail, t_map, nobj);
	print_ratio("pipeline_step_personal_data_kept", t_step_k, ndetail, t_map, nobj);
	/* before the payload text: the step with changed trees, and the ledger's json_dumps of each
	 * changed row (the step and the dumps together were the pipeline's cost of a payload) */
	nchanged_detail = ct.changed;
	print_ratio("pipeline_step_changed_trees", t_step_t, ndetail, t_map, nobj);
	printf("ledger_payload_dumps_rows=%ld\n", dumped);
	printf("ledger_payload_dumps_ns_per_changed_row=%.1f\n",
	       dumped ? t_dumps * 1e9 / (double)dumped : 0.0);
	print_ratio("ledger_payload_dumps", t_dumps, ndetail, t_map, nobj);
	if (nchanged_detail != dumped)
		printf("warning: %ld changed rows, %ld dumped\n", nchanged_detail, dumped);
	for (k = 0; k < 6; k++)
		print_ratio(names[k], t[k], ndetail, t_map, nobj);
}
#endif

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 1000000;
	char ppath[] = "/tmp/sl_bench_policy_XXXXXX", kpath[] = "/tmp/sl_bench_key_XXXXXX";
	struct sl_policy *p = NULL, *pkeep = NULL;
	struct sl_err err;
	json_t **pool = malloc(POOL * sizeof(*pool)), *report;
	long i, allowed = 0, changed = 0;
	double t0, t_fan, t_naive, t_json, t_verdict, t_audit, t_all, t_facts;
	long verdicts = 0, verdicts_all = 0;
	size_t k;
	int fd;

	fd = mkstemp(kpath);
	if (fd < 0 || write(fd, "bench-key-0123456789abcdef0123456789", 36) != 36)
		return 1;
	close(fd);
	fd = mkstemp(ppath);
	close(fd);
	write_policy(ppath, kpath, 1);
	if (sl_policy_load(ppath, &pkeep, &err) != 0) {
		fprintf(stderr, "%s: %s\n", err.where, err.msg);
		return 1;
	}
	write_policy(ppath, kpath, 0);
	if (sl_policy_load(ppath, &p, &err) != 0) {
		fprintf(stderr, "%s: %s\n", err.where, err.msg);
		return 1;
	}
	for (i = 0; i < POOL; i++)
		pool[i] = make_object((unsigned)i);
	report = json_pack("[{s:s, s:s, s:[s], s:i}]", "type", "report", "id",
	                   "report--0f3a7b2c-1d4e-4f5a-8b6c-9d0e1f2a3b4c", "object_marking_refs",
	                   marks[1], "x_misp_distribution", 3);

	/* the gateway's path: facts once per object, then every destination */
	t0 = now_s();
	for (i = 0; i < total; i++) {
		struct sl_policy_ctx ctx = {i % 2 ? report : NULL, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(pool[i % POOL], &ctx, &err);
		for (k = 0; k < NDEST; k++) {
			struct sl_policy_decision *d =
			    sl_policy_decide_facts(sl_policy_dest_at(p, k), f, NOW, &err);
			enum sl_policy_verdict v = sl_policy_decision_verdict(d);
			allowed += v != SL_POLICY_DENY;
			changed += v == SL_POLICY_ALLOW_CHANGED;
			sl_policy_decision_free(d);
		}
		sl_policy_facts_free(f);
	}
	t_fan = now_s() - t0;

	/* full decisions with an audit row each (the rule chain written, changes serialised) */
	t0 = now_s();
	for (i = 0; i < total / 10; i++) {
		struct sl_policy_ctx ctx = {i % 2 ? report : NULL, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(pool[i % POOL], &ctx, &err);
		for (k = 0; k < NDEST; k++) {
			struct sl_policy_decision *d =
			    sl_policy_decide_facts(sl_policy_dest_at(p, k), f, NOW, &err);
			json_decref(sl_policy_decision_to_json(d));
			sl_policy_decision_free(d);
		}
		sl_policy_facts_free(f);
	}
	t_audit = (now_s() - t0) * 10;

	/* every destination's verdict at once */
	t0 = now_s();
	for (i = 0; i < total; i++) {
		struct sl_policy_ctx ctx = {i % 2 ? report : NULL, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(pool[i % POOL], &ctx, &err);
		enum sl_policy_verdict v[NDEST];
		sl_policy_verdicts_facts(p, f, NOW, v);
		for (k = 0; k < NDEST; k++)
			verdicts_all += v[k] != SL_POLICY_DENY;
		sl_policy_facts_free(f);
	}
	t_all = now_s() - t0;

	/* reading the facts alone */
	t0 = now_s();
	for (i = 0; i < total; i++) {
		struct sl_policy_ctx ctx = {i % 2 ? report : NULL, NULL, NULL, NULL};
		sl_policy_facts_free(sl_policy_facts_stix(pool[i % POOL], &ctx, &err));
	}
	t_facts = now_s() - t0;

	/* verdicts only (no rule chain, no copies): the fan-out before full decisions are built */
	t0 = now_s();
	for (i = 0; i < total; i++) {
		struct sl_policy_ctx ctx = {i % 2 ? report : NULL, NULL, NULL, NULL};
		struct sl_policy_facts *f = sl_policy_facts_stix(pool[i % POOL], &ctx, &err);
		for (k = 0; k < NDEST; k++)
			verdicts += sl_policy_verdict_facts(sl_policy_dest_at(p, k), f, NOW) !=
			            SL_POLICY_DENY;
		sl_policy_facts_free(f);
	}
	t_verdict = now_s() - t0;

	/* naive: facts re-read for every destination (a tenth of the objects) */
	t0 = now_s();
	for (i = 0; i < total / 10; i++) {
		struct sl_policy_ctx ctx = {i % 2 ? report : NULL, NULL, NULL, NULL};
		for (k = 0; k < NDEST; k++)
			sl_policy_decision_free(sl_policy_decide_stix(
			    sl_policy_dest_at(p, k), pool[i % POOL], &ctx, NOW, &err));
	}
	t_naive = (now_s() - t0) * 10;

	/* lower bound of any mapper: serialise and parse each object once (a tenth of them) */
	t0 = now_s();
	for (i = 0; i < total / 10; i++) {
		char *s = json_dumps(pool[i % POOL], JSON_COMPACT);
		json_t *back = json_loads(s, 0, NULL);
		json_decref(back);
		free(s);
	}
	t_json = (now_s() - t0) * 10;

	printf("objects=%ld\n", total);
	printf("destinations=%d\n", NDEST);
	printf("decisions=%ld\n", total * NDEST);
	printf("allowed=%ld\n", allowed);
	printf("allowed_with_changes=%ld\n", changed);
	printf("policy_seconds=%.3f\n", t_fan);
	printf("policy_decisions_per_s=%.0f\n", (double)total * NDEST / t_fan);
	printf("policy_ns_per_decision=%.1f\n", t_fan * 1e9 / ((double)total * NDEST));
	printf("policy_ns_per_object_all_destinations=%.1f\n", t_fan * 1e9 / (double)total);
	printf("policy_naive_ns_per_object_all_destinations=%.1f\n", t_naive * 1e9 / (double)total);
	printf("policy_audit_ns_per_object_all_destinations=%.1f\n", t_audit * 1e9 / (double)total);
	printf("verdict_only_allowed=%ld\n", verdicts);
	printf("verdict_only_ns_per_object_all_destinations=%.1f\n",
	       t_verdict * 1e9 / (double)total);
	printf("verdicts_all_allowed=%ld\n", verdicts_all);
	printf("verdicts_all_ns_per_object_all_destinations=%.1f\n", t_all * 1e9 / (double)total);
	printf("facts_ns_per_object=%.1f\n", t_facts * 1e9 / (double)total);
	printf("json_roundtrip_ns_per_object=%.1f\n", t_json * 1e9 / (double)total);
	printf("ratio_policy_to_json_roundtrip=%.3f\n", t_fan / t_json);
#ifdef SL_BENCH_HAVE_MAPPER
	mapped_section(p, pkeep, total);
#else
	printf("mapper=unavailable\n");
#endif
	for (i = 0; i < POOL; i++)
		json_decref(pool[i]);
	free(pool);
#ifdef SL_BENCH_HAVE_MAPPER
	free(step_buf.rows);
	free(step_buf.ids);
#endif
	json_decref(report);
	sl_policy_free(p);
	sl_policy_free(pkeep);
	unlink(ppath);
	unlink(kpath);
	return 0;
}
