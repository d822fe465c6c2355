/* test_policy_fast.c — the fast verdict path (sl_policy_verdict_facts, sl_policy_verdicts_facts:
 * interned tag/type/org patterns, bit tests) gives exactly the verdict of the full decision
 * (sl_policy_decide_facts, which walks the lists and writes the rule chain), on random objects
 * against policies with wildcards and mixed case, on a policy with more patterns than the fast path
 * interns, and on every object of the misp-stix corpus when ../shared is there. Also: objects with
 * more members, labels and personal values than the facts keep inline are read completely. */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "sltest.h"
#include "test_policy_util.h"

#define NOW 1795200000LL /* 2026-11-21 */
#define MAXD 16

static uint64_t rng;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static long cases, failures, texts; /* texts: changed objects compared as text */

/* Every destination's fast verdicts against its full decision, for one object. */
static void agree(const struct sl_policy *p, const json_t *o, const struct sl_policy_ctx *ctx,
                  const char *what)
{
	enum sl_policy_verdict all[MAXD];
	struct sl_err err;
	struct sl_policy_facts *f = sl_policy_facts_stix(o, ctx, &err);
	size_t i, nd = sl_policy_dest_count(p);

	if (!f) {
		fprintf(stderr, "%s: no facts: %s\n", what, err.msg);
		failures++;
		return;
	}
	if (nd > MAXD)
		abort();
	sl_policy_verdicts_facts(p, f, NOW, all);
	for (i = 0; i < nd; i++) {
		const struct sl_policy_dest *d = sl_policy_dest_at(p, i);
		struct sl_policy_decision *dec = sl_policy_decide_facts(d, f, NOW, &err);
		enum sl_policy_verdict one = sl_policy_verdict_facts(d, f, NOW);
		cases++;
		if (!dec || sl_policy_decision_verdict(dec) != all[i] ||
		    sl_policy_decision_verdict(dec) != one) {
			char *s = json_dumps(o, JSON_COMPACT);
			fprintf(stderr, "%s: destination %s: fast %s/%s, decision %s (%s)\n  %s\n",
			        what, sl_policy_dest_name(d), sl_policy_verdict_name(all[i]),
			        sl_policy_verdict_name(one),
			        dec ? sl_policy_verdict_name(sl_policy_decision_verdict(dec)) : "-",
			        dec ? sl_policy_decision_rule(dec) : err.msg, s);
			free(s);
			failures++;
		}
		sl_policy_decision_free(dec);
	}
	sl_policy_facts_free(f);
}

static const char *const marks[] = {PT_GREEN,  PT_RED,     PT_AMBER,  PT_WHITE,
                                    PT_CLEAR2, PT_AS_MISP, PT_AMBER2, "marking-definition--0000"};
static const char *const labels[] = {"tlp:green",    "TLP:AMBER",       "internal:secret",
                                     "Internal:x",   "misp:tool=\"x\"", "osint:source",
                                     "share:yes",    "SHARE:partner",   "tlp:bogus",
                                     "kill-chain:a", "team:red"};
static const char *const types[] = {
    "indicator",    "malware",          "email-addr",         "identity",  "ipv4-addr",
    "user-account", "x-misp-attribute", "marking-definition", "Indicator", "tool"};
static const char *const orgs[] = {"identity--aaaa0000-0000-4000-8000-000000000001",
                                   "identity--BBBB0000-0000-4000-8000-000000000002",
                                   "identity--cccc0000-0000-4000-8000-000000000003", "not-an-id"};

static json_t *random_object(unsigned n)
{
	const char *type = types[rnd(sizeof(types) / sizeof(types[0]))];
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", type, "id", "x--1", "modified",
	                      rnd(4) ? "2026-11-20T10:00:00.000Z" : "2020-01-01T00:00:00Z");
	unsigned k, m;
	char buf[96];

	if (rnd(4)) {
		json_t *a = json_array();
		for (k = 0, m = rnd(3) + 1; k < m; k++)
			json_array_append_new(a, json_string(marks[rnd(8)]));
		json_object_set_new(o, "object_marking_refs", a);
	}
	if (rnd(3)) {
		json_t *a = json_array();
		for (k = 0, m = rnd(4) + 1; k < m; k++)
			json_array_append_new(a, json_string(labels[rnd(11)]));
		json_object_set_new(o, "labels", a);
	}
	if (rnd(2))
		json_object_set_new(o, "created_by_ref", json_string(orgs[rnd(4)]));
	if (rnd(2))
		json_object_set_new(o, "x_misp_distribution", json_integer((json_int_t)rnd(6)));
	if (rnd(3) == 0) {
		snprintf(buf, sizeof(buf), "user%u@example.org", n);
		json_object_set_new(o, strcmp(type, "email-addr") == 0 ? "value" : "description",
		                    json_string(buf));
	}
	if (strcmp(type, "indicator") == 0) {
		snprintf(buf, sizeof(buf), "[ipv4-addr:value = '10.0.%u.%u']", n % 200, n % 100);
		json_object_set_new(o, "pattern", json_string(buf));
	}
	if (strcmp(type, "ipv4-addr") == 0)
		json_object_set_new(o, "value", json_string("192.0.2.1"));
	if (strcmp(type, "identity") == 0) {
		json_object_set_new(o, "identity_class", json_string("individual"));
		json_object_set_new(o, "name", json_string("Jane Roe"));
	}
	return o;
}

static const char policy_text[] =
    "destination \"wild\" { kind = \"taxii\" own_org = true max_tlp = \"amber\" unmarked = "
    "\"green\"\n"
    " distribution = {0, 1, 2, 3}\n deny_tags = {\"internal:*\", \"TLP:BOGUS\"}\n"
    " deny_types = {\"tool\", \"x-misp-*\"} }\n"
    "destination \"allowlists\" { kind = \"misp\" max_tlp = \"amber\" unmarked = \"clear\"\n"
    " distribution = {1, 2, 3}\n allow_tags = {\"share:*\"}\n"
    " allow_orgs = {\"bbbb0000-0000-4000-8000-000000000002\", "
    "\"CCCC0000-0000-4000-8000-000000000003\"}\n"
    " gdpr { email = \"redact\" ip_address = \"drop\" } }\n"
    "destination \"types\" { kind = \"opencti\" max_tlp = \"green\" unmarked = \"deny\"\n"
    " distribution = {2, 3}\n allow_types = {\"indicator\", \"email-*\", \"identity\"}\n"
    " deny_orgs = {\"AAAA0000-0000-4000-8000-000000000001\"}\n retention_days = 30\n"
    " gdpr { email = \"drop\" person_name = \"redact\" } }\n"
    "destination \"open\" { kind = \"taxii\" own_org = true allow_amber_strict = true\n"
    " max_tlp = \"amber\" unmarked = \"amber\" distribution = {0, 1, 2, 3}\n"
    " gdpr { ip_address = \"redact\" person_name = \"drop\" } }\n";

static void test_random(void)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *report =
	    json_pack("[{s:s, s:s, s:[s], s:[s], s:i, s:s}]", "type", "report", "id", "report--1",
	              "object_marking_refs", PT_AMBER, "labels", "share:partner",
	              "x_misp_distribution", 2, "created_by_ref", orgs[2]);
	unsigned i;

	for (i = 0; i < 20000; i++) {
		json_t *o = random_object(i);
		struct sl_policy_ctx ctx = {i % 3 == 0 ? report : NULL, NULL, NULL, NULL};
		agree(p, o, &ctx, "random object");
		json_decref(o);
	}
	json_decref(report);
	sl_policy_free(p);
}

/* More distinct patterns than the fast path interns: the destinations fall back to their lists,
 * and still agree. */
static void test_many_patterns(void)
{
	static char text[16384];
	size_t len = 0;
	struct sl_policy *p;
	unsigned i;

	len += (size_t)snprintf(
	    text + len, sizeof(text) - len,
	    "destination \"many\" { kind = \"taxii\" own_org = true max_tlp = \"amber\" "
	    "unmarked = \"green\" distribution = {0, 1, 2, 3}\n deny_tags = {");
	for (i = 0; i < 80; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\"t%u:*\"",
		                        i ? ", " : "", i);
	snprintf(text + len, sizeof(text) - len,
	         ", \"internal:*\"} }\ndestination \"few\" { kind = \"misp\" own_org = true "
	         "max_tlp = \"green\" "
	         "unmarked = \"green\" distribution = {0, 1, 2, 3} allow_tags = {\"share:*\"} }\n");
	p = pt_policy(text);
	for (i = 0; i < 3000; i++) {
		json_t *o = random_object(i);
		if (i % 2) {
			char t[32];
			snprintf(t, sizeof(t), "T%u:anything", i % 90);
			json_object_set_new(o, "labels", json_pack("[s]", t));
		}
		agree(p, o, NULL, "80 deny_tags");
		json_decref(o);
	}
	sl_policy_free(p);
}

/* 40 fields with an email each, 24 labels: more than the facts keep inline or scan member by
 * member. Every email is redacted, and the deny tag in the 24th label is seen. */
static void test_large_object(void)
{
	struct sl_policy *p = pt_policy(
	    "destination \"r\" { kind = \"taxii\" own_org = true max_tlp = \"amber\" unmarked = "
	    "\"green\"\n"
	    " distribution = {0, 1, 2, 3} deny_tags = {\"stop:*\"} gdpr { email = \"redact\" } "
	    "}\n");
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "note", "id", "note--1", "content", "x"),
	       *lab = json_array();
	struct sl_policy_decision *dec;
	struct sl_err err;
	char k[32], v[64];
	unsigned i, left = 0;

	for (i = 0; i < 40; i++) {
		snprintf(k, sizeof(k), "x_field_%u", i);
		snprintf(v, sizeof(v), "write to person%u@example.org today", i);
		json_object_set_new(o, k, json_string(v));
	}
	for (i = 0; i < 23; i++) {
		snprintf(v, sizeof(v), "label:%u", i);
		json_array_append_new(lab, json_string(v));
	}
	json_object_set_new(o, "labels", lab);
	dec = sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
	if (!dec || sl_policy_decision_verdict(dec) != SL_POLICY_ALLOW_CHANGED ||
	    json_array_size(sl_policy_decision_changes(dec)) != 40) {
		fprintf(stderr, "large object: %s, %zu changes\n",
		        dec ? sl_policy_decision_rule(dec) : err.msg,
		        dec ? json_array_size(sl_policy_decision_changes(dec)) : 0);
		failures++;
	}
	for (i = 0; dec && i < 40; i++) {
		snprintf(v, sizeof(v), "person%u@example.org", i);
		left += pt_contains(sl_policy_decision_object(dec), v);
	}
	if (left) {
		fprintf(stderr, "large object: %u emails left in clear\n", left);
		failures++;
	}
	sl_policy_decision_free(dec);
	agree(p, o, NULL, "large object");
	json_array_append_new(lab, json_string("STOP:now"));
	dec = sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
	if (!dec || sl_policy_decision_verdict(dec) != SL_POLICY_DENY ||
	    !strstr(sl_policy_decision_rule(dec), "'STOP:now' is in deny_tags")) {
		fprintf(stderr, "large object, 24th label: %s\n",
		        dec ? sl_policy_decision_rule(dec) : err.msg);
		failures++;
	}
	sl_policy_decision_free(dec);
	agree(p, o, NULL, "large object with deny tag");
	json_decref(o);
	sl_policy_free(p);
}

/* A decision's rule chain is written when first read: reading it after the facts, the containers
 * and the policy were freed still gives the whole chain (ASan would see a use after free), and
 * destinations that redact alike share one changed object without seeing each other's changes. */
static void test_rule_later(void)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *o = pt_json("{\"type\": \"indicator\", \"id\": \"indicator--1\", \"modified\": "
	                    "\"2026-11-20T10:00:00Z\", \"pattern\": \"[ipv4-addr:value = "
	                    "'10.1.2.3']\", \"description\": \"ask bob@example.org\"}");
	json_t *conts = pt_json("[{\"type\": \"report\", \"id\": \"report--1\", "
	                        "\"object_marking_refs\": [\"" PT_GREEN "\"], \"labels\": "
	                        "[\"share:partner\"], \"x_misp_distribution\": 3}]");
	struct sl_policy_ctx ctx = {conts, NULL, NULL, NULL};
	struct sl_policy_decision *dec[4];
	struct sl_err err;
	struct sl_policy_facts *f = sl_policy_facts_stix(o, &ctx, &err);
	json_t *audit;
	size_t i;

	for (i = 0; i < 4; i++)
		dec[i] = sl_policy_decide_facts(sl_policy_dest_at(p, i), f, NOW, &err);
	sl_policy_facts_free(f);
	json_decref(conts);
	sl_policy_free(p);
	/* "open": allowed, the address and the email redacted (gdpr defaults) */
	audit = dec[3] ? sl_policy_decision_to_json(dec[3]) : NULL;
	if (!audit || sl_policy_decision_verdict(dec[3]) != SL_POLICY_ALLOW_CHANGED ||
	    !strstr(sl_policy_decision_rule(dec[3]), "destination open") ||
	    !strstr(sl_policy_decision_rule(dec[3]), "object TLP:GREEN (" PT_GREEN ")") ||
	    !strstr(sl_policy_decision_rule(dec[3]), "container distribution 3") ||
	    !strstr(sl_policy_decision_rule(dec[3]), "redact ip-address in pattern") ||
	    strcmp(json_string_value(json_object_get(audit, "rule")),
	           sl_policy_decision_rule(dec[3])) != 0 ||
	    json_array_size(json_object_get(audit, "changes")) != 2 ||
	    pt_contains(sl_policy_decision_object(dec[3]), "10.1.2.3") ||
	    pt_contains(sl_policy_decision_object(dec[3]), "bob@example.org")) {
		fprintf(stderr, "rule read later: %s\n",
		        dec[3] ? sl_policy_decision_rule(dec[3]) : err.msg);
		failures++;
	}
	/* "allowlists": a deny whose reason names the container-less creator */
	if (!dec[1] || sl_policy_decision_verdict(dec[1]) != SL_POLICY_DENY ||
	    !strstr(sl_policy_decision_rule(dec[1]),
	            "creator organisation (unknown) is not in allow_orgs")) {
		fprintf(stderr, "deny read later: %s\n",
		        dec[1] ? sl_policy_decision_rule(dec[1]) : err.msg);
		failures++;
	}
	json_decref(audit);
	for (i = 0; i < 4; i++)
		sl_policy_decision_free(dec[i]);
	json_decref(o);
}

/* An audit row for a chain with non-ASCII text, and for one cut at its size limit inside a
 * character: the row is still made, with the chain up to the last whole character. */
static void test_audit_utf8(void)
{
	struct sl_policy *p = pt_policy(
	    "destination \"u\" { kind = \"taxii\" own_org = true max_tlp = \"amber\"\n"
	    " unmarked = \"green\" distribution = {0, 1, 2, 3} deny_tags = {\"geheim:*\"} }\n");
	size_t lens[3] = {3, 1000, 1001}, i, j;

	/* 1000 and 1001 characters: one of the two chains is cut inside a character */
	for (i = 0; i < 3; i++) {
		char *tag = malloc(8 + 2 * lens[i] + 1);
		json_t *o, *row;
		struct sl_policy_decision *dec;
		struct sl_err err;
		const char *rule;
		strcpy(tag, "geheim:");
		for (j = 0; j < lens[i]; j++)
			strcat(tag, "\xc3\xa4"); /* U+00E4 */
		o = json_pack("{s:s, s:s, s:[s]}", "type", "indicator", "id", "indicator--u",
		              "labels", tag);
		dec = sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
		row = dec ? sl_policy_decision_to_json(dec) : NULL;
		rule = json_string_value(json_object_get(row, "rule"));
		if (!rule || !strstr(rule, "-> deny (tag 'geheim:\xc3\xa4") ||
		    (i == 0 && strcmp(rule, sl_policy_decision_rule(dec)) != 0)) {
			fprintf(stderr, "audit row with %zu non-ASCII characters: %s\n", lens[i],
			        rule ? rule : "(none)");
			failures++;
		}
		json_decref(row);
		sl_policy_decision_free(dec);
		json_decref(o);
		free(tag);
	}
	sl_policy_free(p);
}

static int same_object(const json_t *a, const json_t *b)
{
	return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

/* A row of the rows asked for as text agrees with the per-destination decision: the same
 * verdict, chain and changes; an object changed for its personal data or distribution comes as
 * text, byte for byte what the ledger stored before (json_dumps of the changed object, compact,
 * keys sorted), and every other object as a tree. */
static void text_row_agrees(const struct sl_policy_decision *dec, const struct sl_policy_row *rw,
                            const char *what, size_t i, size_t k)
{
	const json_t *o = sl_policy_decision_object(dec);
	char *want = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int ok = sl_policy_decision_verdict(dec) == rw->verdict &&
	         strcmp(sl_policy_decision_rule(dec), rw->rule) == 0 &&
	         json_equal((json_t *)sl_policy_decision_changes(dec), (json_t *)rw->changes);

	cases++;
	if (rw->text)
		ok = ok && !rw->obj && rw->verdict == SL_POLICY_ALLOW_CHANGED && want &&
		     strcmp(want, rw->text) == 0;
	else
		ok = ok && same_object(o, rw->obj);
	if (!ok) {
		fprintf(stderr, "%s: rows as text: destination %zu object %zu: %s | %s\n  %s\n  %s\n",
		        what, i, k, sl_policy_decision_rule(dec), rw->rule, want ? want : "(none)",
		        rw->text ? rw->text : "(tree)");
		failures++;
	}
	if (rw->text)
		texts++;
	free(want);
}

/* sl_policy_decide_bundle_all gives every destination what sl_policy_decide_bundle gives it:
 * same verdicts, rule chains, changes, objects and bundle to send; and so do the rows of
 * sl_policy_decide_bundle_rows (what the gateway records). */
static void bundle_agree(const struct sl_policy *p, const json_t *bundle, const char *what)
{
	json_t *outs[MAXD];
	struct sl_policy_decision **decs[MAXD];
	struct sl_policy_rows *rows = NULL, *trows = NULL;
	struct sl_err err;
	size_t nd = sl_policy_dest_count(p), n = 0, i, k;

	if (sl_policy_decide_bundle_all(p, bundle, NOW, outs, decs, &n, &err) != 0) {
		fprintf(stderr, "%s: bundle_all: %s\n", what, err.msg);
		failures++;
		return;
	}
	if (sl_policy_decide_bundle_rows(p, bundle, NOW, 0, &rows, &err) != 0 ||
	    sl_policy_rows_count(rows) != n) {
		fprintf(stderr, "%s: bundle_rows: %s\n", what, rows ? "count differs" : err.msg);
		failures++;
	}
	/* the rows as the pipeline asks for them: changed objects as text */
	if (sl_policy_decide_bundle_rows(p, bundle, NOW, SL_POLICY_ROWS_TEXT, &trows, &err) != 0 ||
	    sl_policy_rows_count(trows) != n) {
		fprintf(stderr, "%s: bundle_rows as text: %s\n", what,
		        trows ? "count differs" : err.msg);
		failures++;
	}
	/* each object's id, modified and created as the bundle holds them (what the pipeline
	 * records the rows under) */
	for (k = 0; rows && k < sl_policy_rows_count(rows); k++) {
		const json_t *o = json_array_get(json_object_get(bundle, "objects"), k);
		const char *id, *m, *c;
		sl_policy_rows_object(rows, k, &id, &m, &c);
		cases++;
		if (id != json_string_value(json_object_get(o, "id")) ||
		    m != json_string_value(json_object_get(o, "modified")) ||
		    c != json_string_value(json_object_get(o, "created"))) {
			fprintf(stderr, "%s: rows: object %zu: id or version differs\n", what, k);
			failures++;
		}
	}
	for (i = 0; i < nd; i++) {
		json_t *out1 = NULL;
		struct sl_policy_decision **d1 = NULL;
		size_t n1 = 0;
		if (sl_policy_decide_bundle(sl_policy_dest_at(p, i), bundle, NOW, &out1, &d1, &n1,
		                            &err) != 0 ||
		    n1 != n || !json_equal(out1, outs[i])) {
			fprintf(stderr, "%s: destination %zu: bundles differ\n", what, i);
			failures++;
		}
		for (k = 0; k < n && k < n1; k++) {
			cases++;
			if (sl_policy_decision_verdict(d1[k]) !=
			        sl_policy_decision_verdict(decs[i][k]) ||
			    strcmp(sl_policy_decision_rule(d1[k]),
			           sl_policy_decision_rule(decs[i][k])) != 0 ||
			    !json_equal((json_t *)sl_policy_decision_changes(d1[k]),
			                (json_t *)sl_policy_decision_changes(decs[i][k])) ||
			    !same_object(sl_policy_decision_object(d1[k]),
			                 sl_policy_decision_object(decs[i][k]))) {
				fprintf(stderr, "%s: destination %zu object %zu: %s | %s\n", what,
				        i, k, sl_policy_decision_rule(d1[k]),
				        sl_policy_decision_rule(decs[i][k]));
				failures++;
			}
			if (rows && k < sl_policy_rows_count(rows)) {
				const struct sl_policy_row *rw = &sl_policy_rows_dest(rows, i)[k];
				cases++;
				if (sl_policy_decision_verdict(d1[k]) != rw->verdict ||
				    strcmp(sl_policy_decision_rule(d1[k]), rw->rule) != 0 ||
				    !json_equal((json_t *)sl_policy_decision_changes(d1[k]),
				                (json_t *)rw->changes) ||
				    !same_object(sl_policy_decision_object(d1[k]), rw->obj) ||
				    rw->text) {
					fprintf(stderr,
					        "%s: rows: destination %zu object %zu: %s | %s\n",
					        what, i, k, sl_policy_decision_rule(d1[k]),
					        rw->rule);
					failures++;
				}
			}
			if (trows && k < sl_policy_rows_count(trows))
				text_row_agrees(d1[k], &sl_policy_rows_dest(trows, i)[k], what, i, k);
		}
		json_decref(out1);
		sl_policy_decisions_free(d1, n1);
		json_decref(outs[i]);
		sl_policy_decisions_free(decs[i], n);
	}
	sl_policy_rows_free(rows);
	sl_policy_rows_free(trows);
}

static void test_bundle_all(void)
{
	struct sl_policy *p = pt_policy(policy_text), *q;
	json_t *b = pt_json(
	    "{\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": ["
	    "{\"type\": \"indicator\", \"id\": \"indicator--red\", \"object_marking_refs\": "
	    "[\"" PT_RED "\"], \"pattern\": \"[ipv4-addr:value = '10.9.9.9']\"},"
	    "{\"type\": \"indicator\", \"id\": \"indicator--ok\", \"labels\": [\"share:x\"], "
	    "\"created_by_ref\": \""
	    "identity--cccc0000-0000-4000-8000-000000000003\", "
	    "\"pattern\": \"[email-addr:value = 'eve@example.org']\"},"
	    "{\"type\": \"relationship\", \"id\": \"relationship--1\", \"source_ref\": "
	    "\"indicator--ok\", \"target_ref\": \"indicator--red\"},"
	    "{\"type\": \"report\", \"id\": \"report--1\", \"object_marking_refs\": [\"" PT_GREEN
	    "\"], \"x_misp_distribution\": 2, \"object_refs\": [\"indicator--red\", "
	    "\"indicator--ok\", \"relationship--1\", \"indicator--two\"]},"
	    "{\"type\": \"indicator\", \"id\": \"indicator--two\", \"pattern\": "
	    "\"[domain-name:value = 'two.example']\"},"
	    "42]}");
	json_t *fx;
	char path[4096];

	bundle_agree(p, b, "synthetic bundle");
	fx = pt_json("{\"type\": \"bundle\", \"id\": \"bundle--0\", \"objects\": []}");
	bundle_agree(p, fx, "empty bundle");
	json_decref(fx);
	/* two MISP destinations share the report's downgraded copy; only the first withholds
	 * indicator--ok, so only its report loses that ref */
	q = pt_policy("destination \"m1\" { kind = \"misp\" max_tlp = \"amber\" unmarked = "
	              "\"green\" distribution = {1, 2, 3} deny_tags = {\"share:*\"} }\n"
	              "destination \"m2\" { kind = \"misp\" max_tlp = \"amber\" unmarked = "
	              "\"green\" distribution = {1, 2, 3} }\n");
	bundle_agree(q, b, "two MISP destinations");
	sl_policy_free(q);
	snprintf(path, sizeof(path), "%s/policies/example-bundle.json", sltest_fixtures_dir());
	if ((fx = json_load_file(path, 0, NULL)) != NULL)
		bundle_agree(p, fx, "example-bundle.json");
	json_decref(fx);
	json_decref(b);
	sl_policy_free(p);
}

/* Objects that share a verdict class in sl_policy_decide_bundle_all (same markings, labels,
 * creator, type and kinds of personal data) but differ in their personal values, their age or
 * their id each get their own decision: the same verdict and chain, but each its own changed
 * object, and retention withholds only the old one. */
static void test_bundle_classes(void)
{
	struct sl_policy *p = pt_policy(policy_text);
	json_t *b = pt_json(
	    "{\"type\": \"bundle\", \"id\": \"bundle--2\", \"objects\": ["
	    "{\"type\": \"report\", \"id\": \"report--r\", \"object_marking_refs\": [\"" PT_GREEN
	    "\"], \"labels\": [\"share:partner\"], \"x_misp_distribution\": 3, "
	    "\"created_by_ref\": \"identity--cccc0000-0000-4000-8000-000000000003\", "
	    "\"object_refs\": [\"email-addr--1\", \"email-addr--2\", \"email-addr--3\", "
	    "\"indicator--a\", \"indicator--b\", \"indicator--c\", \"identity--p\"]},"
	    "{\"type\": \"email-addr\", \"id\": \"email-addr--1\", \"value\": "
	    "\"alice@example.org\", \"modified\": \"2026-11-20T10:00:00Z\"},"
	    "{\"type\": \"email-addr\", \"id\": \"email-addr--2\", \"value\": "
	    "\"bob@example.org\", \"modified\": \"2026-11-20T10:00:00Z\"},"
	    "{\"type\": \"email-addr\", \"id\": \"email-addr--3\", \"value\": "
	    "\"carol@example.org\", \"modified\": \"2019-01-01T00:00:00Z\"},"
	    "{\"type\": \"indicator\", \"id\": \"indicator--a\", \"pattern\": "
	    "\"[ipv4-addr:value = '10.0.0.1']\", \"description\": \"a.longer.mail@example.org "
	    "x\"},"
	    "{\"type\": \"indicator\", \"id\": \"indicator--b\", \"pattern\": "
	    "\"[ipv4-addr:value = '10.0.0.222']\", \"description\": \"b@ex.org\"},"
	    "{\"type\": \"indicator\", \"id\": \"indicator--c\", \"pattern\": "
	    "\"[ipv4-addr:value = '10.0.0.3']\"},"
	    "{\"type\": \"identity\", \"id\": \"identity--p\", \"identity_class\": "
	    "\"individual\", \"name\": \"Jane Roe\"}]}");
	json_t *outs[MAXD];
	struct sl_policy_decision **decs[MAXD];
	const struct sl_policy_decision *e1, *e2, *e3;
	struct sl_err err;
	size_t n = 0, i, open = 3, dtypes = 2;

	bundle_agree(p, b, "objects sharing a class");
	if (sl_policy_decide_bundle_all(p, b, NOW, outs, decs, &n, &err) != 0 || n != 8) {
		fprintf(stderr, "classes: %s\n", err.msg);
		failures++;
		return;
	}
	/* "types" (email = drop): both recent addresses withheld for their data, the old one for
	 * its age */
	e1 = decs[dtypes][1];
	e3 = decs[dtypes][3];
	if (sl_policy_decision_verdict(e1) != SL_POLICY_DENY ||
	    !strstr(sl_policy_decision_rule(e1), "email = drop") ||
	    !strstr(sl_policy_decision_rule(e3), "older than retention_days 30")) {
		fprintf(stderr, "classes, retention: %s | %s\n", sl_policy_decision_rule(e1),
		        sl_policy_decision_rule(e3));
		failures++;
	}
	/* "open" (email redacted by default): one chain, two objects, each with its own address
	 * redacted and not the other's */
	e1 = decs[open][1];
	e2 = decs[open][2];
	if (sl_policy_decision_verdict(e1) != SL_POLICY_ALLOW_CHANGED ||
	    sl_policy_decision_verdict(e2) != SL_POLICY_ALLOW_CHANGED ||
	    strcmp(sl_policy_decision_rule(e1), sl_policy_decision_rule(e2)) != 0 ||
	    strcmp(json_string_value(json_object_get(sl_policy_decision_object(e1), "id")),
	           "email-addr--1") != 0 ||
	    strcmp(json_string_value(json_object_get(sl_policy_decision_object(e2), "id")),
	           "email-addr--2") != 0 ||
	    pt_contains(sl_policy_decision_object(e1), "alice@") ||
	    pt_contains(sl_policy_decision_object(e2), "bob@") ||
	    pt_contains(outs[open], "alice@") || pt_contains(outs[open], "10.0.0.222") ||
	    !pt_contains(sl_policy_decision_object(e1), "[redacted:email]")) {
		fprintf(stderr, "classes, own changed objects: %s\n", sl_policy_decision_rule(e1));
		failures++;
	}
	/* the input is never changed */
	if (!pt_contains(b, "alice@example.org") || !pt_contains(b, "10.0.0.222")) {
		fprintf(stderr, "classes: the input bundle was changed\n");
		failures++;
	}
	/* a decision taken out of its array outlives the others and the policy */
	e3 = decs[open][8 - 1];
	decs[open][7] = NULL;
	for (i = 0; i < sl_policy_dest_count(p); i++) {
		json_decref(outs[i]);
		sl_policy_decisions_free(decs[i], n);
	}
	sl_policy_free(p);
	json_decref(b);
	if (!strstr(sl_policy_decision_rule(e3), "destination open") ||
	    strcmp(sl_policy_decision_object_id(e3), "identity--p") != 0) {
		fprintf(stderr, "classes, decision kept alone: %s\n", sl_policy_decision_rule(e3));
		failures++;
	}
	json_decref(sl_policy_decision_take_object((struct sl_policy_decision *)e3));
	sl_policy_decision_free((struct sl_policy_decision *)e3);
}

/* Random bundles: random objects (some sharing an id), containers listing random ids,
 * relationships between random ids, entries that are not objects; both bundle paths agree. */
static void test_random_bundles(void)
{
	struct sl_policy *p = pt_policy(policy_text);
	unsigned b, i;

	for (b = 0; b < 60; b++) {
		json_t *bundle = json_pack("{s:s, s:s, s:[]}", "type", "bundle", "id", "bundle--r",
		                           "objects"),
		       *objs = json_object_get(bundle, "objects");
		unsigned n = 5 + rnd(60);
		char id[64];
		for (i = 0; i < n; i++) {
			json_t *o = random_object(b * 100 + i);
			unsigned kind = rnd(10);
			snprintf(id, sizeof(id), "%s--%u",
			         json_string_value(json_object_get(o, "type")), rnd(8) ? i : 0);
			json_object_set_new(o, "id", json_string(id));
			if (kind == 0 || kind == 1) {
				json_t *refs = json_array();
				unsigned k, m = rnd(6);
				json_object_set_new(o, "type",
				                    json_string(kind ? "report" : "grouping"));
				for (k = 0; k < m; k++) {
					snprintf(id, sizeof(id), "%s--%u",
					         types[rnd(sizeof(types) / sizeof(types[0]))],
					         rnd(n));
					json_array_append_new(refs, json_string(id));
				}
				json_object_set_new(o, "object_refs", refs);
			} else if (kind == 2) {
				json_object_set_new(o, "type", json_string("relationship"));
				snprintf(id, sizeof(id), "%s--%u",
				         types[rnd(sizeof(types) / sizeof(types[0]))], rnd(n));
				json_object_set_new(o, "source_ref", json_string(id));
				snprintf(id, sizeof(id), "%s--%u",
				         types[rnd(sizeof(types) / sizeof(types[0]))], rnd(n));
				json_object_set_new(o, "target_ref", json_string(id));
			}
			json_array_append_new(objs, o);
		}
		if (rnd(5) == 0)
			json_array_append_new(objs, json_integer(7));
		bundle_agree(p, bundle, "random bundle");
		json_decref(bundle);
	}
	sl_policy_free(p);
}

/* The policy keeps verdict classes from one call to the next, and starts its cache again past
 * 1024 classes: decisions made before that still read their chains and objects (ASan would see
 * a use after free), and later calls still agree with the per-destination path. */
static void test_class_cache(void)
{
	struct sl_policy *p = pt_policy(policy_text);
	struct sl_policy_decision **first[MAXD];
	size_t nd = sl_policy_dest_count(p), n0 = 0, b, i;
	json_t *bundle0 = NULL;
	struct sl_err err;

	for (b = 0; b < 26; b++) {
		json_t *bundle = json_pack("{s:s, s:s, s:[]}", "type", "bundle", "id", "bundle--c",
		                           "objects"),
		       *objs = json_object_get(bundle, "objects");
		for (i = 0; i < 50; i++) {
			char label[32], id[32];
			snprintf(label, sizeof(label), "share:%zu-%zu", b, i);
			snprintf(id, sizeof(id), "indicator--%zu", i);
			json_array_append_new(objs,
			                      json_pack("{s:s, s:s, s:[s], s:s}", "type",
			                                "indicator", "id", id, "labels", label,
			                                "description", "mail eve@example.org"));
		}
		if (b == 0) {
			if (sl_policy_decide_bundle_all(p, bundle, NOW, NULL, first, &n0, &err) !=
			    0)
				failures++;
			bundle0 = json_incref(bundle);
		} else if (b % 5 == 0) {
			bundle_agree(p, bundle, "after many classes");
		} else {
			struct sl_policy_decision **decs[MAXD];
			size_t n = 0;
			if (sl_policy_decide_bundle_all(p, bundle, NOW, NULL, decs, &n, &err) != 0)
				failures++;
			for (i = 0; i < nd; i++)
				sl_policy_decisions_free(decs[i], n);
		}
		json_decref(bundle);
	}
	json_decref(bundle0);
	sl_policy_free(p);
	for (i = 0; i < nd && n0 == 50; i++) {
		const struct sl_policy_decision *d = first[i][49];
		if (!strstr(sl_policy_decision_rule(d), "share:0-49") &&
		    !strstr(sl_policy_decision_rule(d), "destination")) {
			fprintf(stderr, "class cache: chain lost: %s\n",
			        sl_policy_decision_rule(d));
			failures++;
		}
		if (sl_policy_decision_object(d) &&
		    !pt_contains(sl_policy_decision_object(d), "indicator--49")) {
			fprintf(stderr, "class cache: object lost\n");
			failures++;
		}
		sl_policy_decisions_free(first[i], n0);
	}
}

/* Threads sharing one policy (and so its class cache) decide the same bundles at once: each gets
 * exactly the verdicts, chains and objects one thread alone gets. */
#define TH_BUNDLES 8
#define TH_THREADS 4

struct th_arg {
	const struct sl_policy *p;
	json_t *const *bundles;
	char *digest[TH_BUNDLES]; /* every decision of a bundle, as text */
};

static char *bundle_digest(const struct sl_policy *p, const json_t *bundle)
{
	struct sl_policy_decision **decs[MAXD];
	size_t nd = sl_policy_dest_count(p), n = 0, i, k;
	json_t *all = json_array();
	struct sl_err err;
	char *s;

	if (sl_policy_decide_bundle_all(p, bundle, NOW, NULL, decs, &n, &err) != 0)
		return strdup("error");
	for (i = 0; i < nd; i++) {
		for (k = 0; k < n; k++) {
			json_t *row = sl_policy_decision_to_json(decs[i][k]);
			const json_t *o = sl_policy_decision_object(decs[i][k]);
			json_object_set(row, "object", o ? (json_t *)o : json_null());
			json_array_append_new(all, row);
		}
		sl_policy_decisions_free(decs[i], n);
	}
	s = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	return s;
}

static void *th_run(void *a)
{
	struct th_arg *t = a;
	int b, r;

	for (r = 0; r < 3; r++)
		for (b = 0; b < TH_BUNDLES; b++) {
			free(t->digest[b]);
			t->digest[b] = bundle_digest(t->p, t->bundles[b]);
		}
	return NULL;
}

static void test_threads(void)
{
	struct sl_policy *ref = pt_policy(policy_text), *p = pt_policy(policy_text);
	json_t *bundles[TH_BUNDLES];
	struct th_arg args[TH_THREADS];
	pthread_t th[TH_THREADS];
	int b, t, i;

	for (b = 0; b < TH_BUNDLES; b++) {
		json_t *objs = json_array();
		for (i = 0; i < 40; i++) {
			json_t *o = random_object((unsigned)(b * 100 + i));
			char id[32];
			snprintf(id, sizeof(id), "x--%d-%d", b, i);
			json_object_set_new(o, "id", json_string(id));
			json_array_append_new(objs, o);
		}
		bundles[b] = json_pack("{s:s, s:s, s:o}", "type", "bundle", "id", "bundle--t",
		                       "objects", objs);
	}
	memset(args, 0, sizeof(args));
	for (t = 0; t < TH_THREADS; t++) {
		args[t].p = p;
		args[t].bundles = bundles;
		if (pthread_create(&th[t], NULL, th_run, &args[t]) != 0)
			abort();
	}
	for (t = 0; t < TH_THREADS; t++)
		pthread_join(th[t], NULL);
	for (b = 0; b < TH_BUNDLES; b++) {
		/* a policy of its own, one thread: the reference */
		char *want = bundle_digest(ref, bundles[b]);
		for (t = 0; t < TH_THREADS; t++) {
			cases++;
			if (!args[t].digest[b] || strcmp(args[t].digest[b], want) != 0) {
				fprintf(stderr, "threads: thread %d bundle %d differs\n", t, b);
				failures++;
			}
			free(args[t].digest[b]);
		}
		free(want);
		json_decref(bundles[b]);
	}
	sl_policy_free(ref);
	sl_policy_free(p);
}

/* Every object of every corpus bundle, with its containers and the bundle's markings as
 * sl_policy_decide_bundle passes them. */
static void test_corpus(void)
{
	const char *dir = sltest_interop_dir();
	char path[4096];
	struct sl_policy *p;
	struct dirent *de;
	DIR *dd;
	long objects = 0;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/misp-stix-corpus/stix21", dir);
	if (!(dd = opendir(path)))
		return;
	p = pt_policy(policy_text);
	while ((de = readdir(dd)) != NULL) {
		json_t *bundle, *markings, *parents, *o, *e;
		size_t i, j;
		if (!strstr(de->d_name, ".json"))
			continue;
		markings = json_object();
		parents = json_object();
		snprintf(path, sizeof(path), "%s/misp-stix-corpus/stix21/%s", dir, de->d_name);
		bundle = json_load_file(path, 0, NULL);
		json_array_foreach(json_object_get(bundle, "objects"), i, o)
		{
			const char *type = json_string_value(json_object_get(o, "type"));
			if (type && strcmp(type, "marking-definition") == 0)
				json_object_set(markings,
				                json_string_value(json_object_get(o, "id")), o);
			if (type && (strcmp(type, "report") == 0 || strcmp(type, "grouping") == 0))
				json_array_foreach(json_object_get(o, "object_refs"), j, e)
				{
					const char *ref = json_string_value(e);
					if (!ref)
						continue;
					if (!json_object_get(parents, ref))
						json_object_set_new(parents, ref, json_array());
					json_array_append(json_object_get(parents, ref), o);
				}
		}
		json_array_foreach(json_object_get(bundle, "objects"), i, o)
		{
			const char *id = json_string_value(json_object_get(o, "id"));
			struct sl_policy_ctx ctx = {id ? json_object_get(parents, id) : NULL,
			                            markings, NULL, NULL};
			if (!json_is_object(o))
				continue;
			agree(p, o, &ctx, de->d_name);
			objects++;
		}
		if (json_is_array(json_object_get(bundle, "objects")))
			bundle_agree(p, bundle, de->d_name);
		json_decref(markings);
		json_decref(parents);
		json_decref(bundle);
	}
	closedir(dd);
	sl_policy_free(p);
	printf("corpus_objects=%ld\n", objects);
}

int main(void)
{
	const char *s = getenv("SLUICE_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);

	printf("seed=%llu\n", (unsigned long long)seed);
	rng = seed * 2654435761u + 88172645463325252ull;
	test_random();
	test_many_patterns();
	test_large_object();
	test_rule_later();
	test_audit_utf8();
	test_bundle_all();
	test_bundle_classes();
	test_random_bundles();
	test_class_cache();
	test_threads();
	test_corpus();
	if (texts == 0) {
		fprintf(stderr, "no object came as text: the text rows were not tested\n");
		failures++;
	}
	printf("%ld changed objects compared as text\n", texts);
	printf("%ld cases, %ld failures\n", cases, failures);
	return failures ? 1 : 0;
}
