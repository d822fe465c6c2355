/* test_policy_property.c — random objects and MISP events with random markings, distributions and
 * personal data against random policies. An oracle written here from the policy language's rules
 * (docs/policies.md), not from the code under test, says what must happen; any difference is a
 * violation:
 *   - an object or attribute reaches a destination its policy forbids, or an allowed one does not
 * arrive;
 *   - personal data in clear reaches a destination whose policy says redact, pseudonymise or drop.
 * Prints "<N> cases, <V> violations" and the seed (SLUICE_SEED=<n> replays a run). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "test_policy_util.h"

#define NOW 1795200000LL
#define NPOL 40
#define NOBJ 150
#define NEV 40

static uint64_t rng;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* ---- the oracle's own tables ---- */
enum { CLEAR, GREEN, AMBER, ASTRICT, RED, NONE = -1 };
static const struct {
	const char *id;
	int level;
} ids[] = {
    {"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", CLEAR},
    {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", CLEAR},
    {"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", GREEN},
    {"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", GREEN},
    {"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", AMBER},
    {"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", AMBER},
    {"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", ASTRICT},
    {"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", ASTRICT},
    {"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", RED},
    {"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", RED},
    {"marking-definition--aaaaaaaa-0000-4000-8000-000000000000", NONE}, /* not TLP (a statement) */
};
#define NIDS (sizeof(ids) / sizeof(ids[0]))
static const struct {
	const char *tag;
	int level;
} tags[] = {{"tlp:white", CLEAR},
            {"TLP:CLEAR", CLEAR},
            {"tlp:green", GREEN},
            {"TLP:AMBER", AMBER},
            {"Tlp:Amber+Strict", ASTRICT},
            {"tlp:red", RED},
            {"tlp:ex:chr", RED /* malformed */},
            {"internal:only", NONE},
            {"share:partners", NONE},
            {"misc", NONE}};
#define NTAGS (sizeof(tags) / sizeof(tags[0]))
static const char *const sgs[] = {
    "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
    "c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f", "d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f80"};
static const char *const levels[] = {"clear", "green", "amber"};
static const char *const unmarked_names[] = {"deny",  "clear",        "green",
                                             "amber", "amber+strict", "red"};
static const char *const actions[] = {"keep", "drop", "redact", "pseudonymise"};
enum { KEEP, DROP, REDACT, PSEUDO };
enum { C_EMAIL, C_NAME, C_PHONE, C_ACCOUNT, C_IP };
static const char *const gkeys[] = {"email", "person_name", "phone", "user_account", "ip_address"};

struct dest {
	char name[16];
	int kind_misp, own_org, max, allow_as, unmarked; /* unmarked: NONE = deny */
	unsigned mask;
	int sg[4];
	int deny_type; /* index into stix_types or -1 */
	int deny_internal, allow_share;
	int gdpr[5];
	int retention;
};

static const char *const stix_types[] = {"indicator", "malware",      "email-addr", "identity",
                                         "ipv4-addr", "user-account", "tool"};
static const char *const misp_types[] = {"domain",     "email-src",    "ip-dst",
                                         "first-name", "phone-number", "github-username"};
static const int misp_cat[] = {-1, C_EMAIL, C_IP, C_NAME, C_PHONE, C_ACCOUNT};

static void random_dest(struct dest *d, int i)
{
	int k;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "d%d", i);
	d->kind_misp = rnd(2);
	d->own_org = rnd(3) == 0;
	d->max = rnd(3);
	d->allow_as = d->own_org && d->max == AMBER && rnd(2);
	d->unmarked = (int)rnd(6) - 1;
	d->mask =
	    (rnd(2) << 1) | (rnd(2) << 2) | (rnd(4) ? 1u << 3 : 0) | (d->own_org && rnd(2) ? 1 : 0);
	for (k = 0; k < 4; k++)
		d->sg[k] = k < 3 && rnd(3) == 0;
	d->deny_type = rnd(3) == 0 ? (int)rnd(7) : -1;
	d->deny_internal = rnd(3) == 0;
	d->allow_share = rnd(6) == 0;
	for (k = 0; k < 5; k++)
		d->gdpr[k] = rnd(4);
	d->retention = rnd(3) == 0 ? 0 : rnd(2) ? 30 : 365;
}

static void render(const struct dest *ds, int n, const char *key, char *out, size_t outsz)
{
	size_t len = 0;
	int i, k, first;

	len += snprintf(out + len, outsz - len, "hmac_key_file = \"%s\"\n", key);
	for (i = 0; i < n; i++) {
		const struct dest *d = &ds[i];
		len += snprintf(
		    out + len, outsz - len,
		    "destination \"%s\" {\n kind = \"%s\"\n own_org = %s\n max_tlp = \"%s\"\n"
		    " allow_amber_strict = %s\n unmarked = \"%s\"\n retention_days = %d\n "
		    "distribution = {",
		    d->name, d->kind_misp ? "misp" : "taxii", d->own_org ? "true" : "false",
		    levels[d->max], d->allow_as ? "true" : "false", unmarked_names[d->unmarked + 1],
		    d->retention);
		for (first = 1, k = 0; k < 4; k++)
			if (d->mask & (1u << k)) {
				len +=
				    snprintf(out + len, outsz - len, "%s%d", first ? "" : ", ", k);
				first = 0;
			}
		len += snprintf(out + len, outsz - len, "}\n sharing_groups = {");
		for (first = 1, k = 0; k < 4; k++)
			if (d->sg[k]) {
				len += snprintf(out + len, outsz - len, "%s\"%s\"",
				                first ? "" : ", ", sgs[k]);
				first = 0;
			}
		len += snprintf(out + len, outsz - len, "}\n");
		if (d->deny_type >= 0)
			len += snprintf(out + len, outsz - len, " deny_types = {\"%s\", \"%s\"}\n",
			                stix_types[d->deny_type], misp_types[d->deny_type % 6]);
		if (d->deny_internal)
			len += snprintf(out + len, outsz - len, " deny_tags = {\"internal:*\"}\n");
		if (d->allow_share)
			len += snprintf(out + len, outsz - len, " allow_tags = {\"share:*\"}\n");
		len += snprintf(out + len, outsz - len, " gdpr {\n");
		for (k = 0; k < 5; k++)
			len += snprintf(out + len, outsz - len, "  %s = \"%s\"\n", gkeys[k],
			                actions[d->gdpr[k]]);
		len += snprintf(out + len, outsz - len, " }\n}\n");
	}
}

/* ---- the oracle ---- */
struct pii {
	int cat;
	char value[64];
};

struct facts {
	int tlp_own, tlp_inh;      /* most restrictive level, NONE if none */
	int ndist, dist[3], sg[3]; /* sg: index into sgs or -1 */
	long long modified;
	const char *type;
	int internal, share;
	struct pii pii[4];
	int npii;
};

static int max2(int a, int b)
{
	return a > b ? a : b;
}

static int oracle_allows(const struct dest *d, const struct facts *f)
{
	int t = max2(f->tlp_own, f->tlp_inh), i, k;

	if (t == NONE)
		t = d->unmarked;
	if (t == NONE || t == RED)
		return 0;
	if (t == ASTRICT ? !(d->own_org && d->allow_as) : t > d->max)
		return 0;
	for (i = 0; i < f->ndist; i++) {
		int l = f->dist[i];
		if (l == 5) {
			if (f->ndist == 1)
				return 0;
			continue;
		}
		if (l == 4) {
			if (f->sg[i] < 0 || !d->sg[f->sg[i]])
				return 0;
			continue;
		}
		if (!(d->mask & (1u << l)))
			return 0;
	}
	if (d->retention && f->modified < NOW - (long long)d->retention * 86400)
		return 0;
	if (d->deny_type >= 0 && (strcmp(f->type, stix_types[d->deny_type]) == 0 ||
	                          strcmp(f->type, misp_types[d->deny_type % 6]) == 0))
		return 0;
	if (d->deny_internal && f->internal)
		return 0;
	if (d->allow_share && !f->share)
		return 0;
	for (k = 0; k < f->npii; k++)
		if (d->gdpr[f->pii[k].cat] == DROP)
			return 0;
	return 1;
}

static long violations, cases, allowed;

static void violation(const char *what, const struct dest *d, const char *detail)
{
	violations++;
	if (violations <= 10)
		fprintf(stderr, "VIOLATION %s at %s: %s\n", what, d->name, detail);
}

/* PII that must not be in clear in out, and PII that was kept must still be there. */
static void check_pii(const struct dest *d, const struct facts *f, const json_t *out,
                      const char *rule)
{
	int k;

	for (k = 0; k < f->npii; k++) {
		int a = d->gdpr[f->pii[k].cat];
		int present = pt_contains(out, f->pii[k].value);
		if ((a == REDACT || a == PSEUDO) && present)
			violation("personal data in clear", d, rule);
		if (a == KEEP && !present)
			violation("kept value missing", d, rule);
	}
}

static void tlp_from_tag(struct facts *f, const char *tag, int own)
{
	size_t i;

	for (i = 0; i < NTAGS; i++)
		if (strcmp(tags[i].tag, tag) == 0 && tags[i].level != NONE) {
			if (own)
				f->tlp_own = max2(f->tlp_own, tags[i].level);
			else
				f->tlp_inh = max2(f->tlp_inh, tags[i].level);
		}
	if (strncasecmp(tag, "internal:", 9) == 0)
		f->internal = 1;
	if (strncasecmp(tag, "share:", 6) == 0)
		f->share = 1;
}

static void add_pii(struct facts *f, int cat, const char *v)
{
	f->pii[f->npii].cat = cat;
	snprintf(f->pii[f->npii].value, sizeof(f->pii[0].value), "%s", v);
	f->npii++;
}

static char *pii_value(int cat, unsigned n, char *buf, size_t sz)
{
	switch (cat) {
	case C_EMAIL:
		snprintf(buf, sz, "user%u.q@mail%u.example", n, rnd(1000));
		break;
	case C_NAME:
		snprintf(buf, sz, "Person Q%u Z", n);
		break;
	case C_PHONE:
		snprintf(buf, sz, "+32 470 %06u", n);
		break;
	case C_ACCOUNT:
		snprintf(buf, sz, "acct_q%u", n);
		break;
	default:
		snprintf(buf, sz, "203.0.%u.%u", n % 250 + 1, rnd(250) + 1);
	}
	return buf;
}

static unsigned counter;

/* A random STIX object and (maybe) its container; f gets the oracle's view. */
static void random_stix(json_t **obj, json_t **containers, struct facts *f)
{
	char id[64], buf[96], buf2[96];
	json_t *o = json_object(), *refs = json_array(), *labels = json_array(), *c;
	int t = rnd(7), k, n;

	memset(f, 0, sizeof(*f));
	f->tlp_own = f->tlp_inh = NONE;
	f->type = stix_types[t];
	snprintf(id, sizeof(id), "%s--%08u-0000-4000-8000-000000000000", f->type, ++counter);
	json_object_set_new(o, "type", json_string(f->type));
	json_object_set_new(o, "id", json_string(id));
	f->modified = NOW - (long long)rnd(800) * 86400 - 3600;
	{
		time_t tt = (time_t)f->modified;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
		json_object_set_new(o, "modified", json_string(buf));
	}
	for (n = rnd(3), k = 0; k < n; k++) {
		int m = rnd(NIDS);
		json_array_append_new(refs, json_string(ids[m].id));
		if (ids[m].level != NONE)
			f->tlp_own = max2(f->tlp_own, ids[m].level);
	}
	if (rnd(40) == 0) { /* malformed: read as RED */
		json_array_append_new(refs, json_integer(1));
		f->tlp_own = RED;
	}
	json_object_set_new(o, "object_marking_refs", refs);
	for (n = rnd(3), k = 0; k < n; k++) {
		int m = rnd(NTAGS);
		json_array_append_new(labels, json_string(tags[m].tag));
		tlp_from_tag(f, tags[m].tag, 1);
	}
	json_object_set_new(o, "labels", labels);
	if (rnd(2)) {
		int l = rnd(6);
		f->dist[f->ndist] = l;
		f->sg[f->ndist] = -1;
		json_object_set_new(o, "x_misp_distribution",
		                    rnd(2) ? json_integer(l) : json_sprintf("%d", l));
		if (l == 4) {
			int s = rnd(4);
			f->sg[f->ndist] = s;
			json_object_set_new(o, "x_misp_sharing_group_uuid", json_string(sgs[s]));
		}
		f->ndist++;
	}
	switch (t) {
	case 0: /* indicator: pattern with an email or an IP */
		if (rnd(2)) {
			pii_value(C_EMAIL, ++counter, buf, sizeof(buf));
			add_pii(f, C_EMAIL, buf);
			snprintf(buf2, sizeof(buf2), "[email-addr:value = '%s']", buf);
		} else {
			pii_value(C_IP, ++counter, buf, sizeof(buf));
			add_pii(f, C_IP, buf);
			snprintf(buf2, sizeof(buf2), "[ipv4-addr:value = '%s']", buf);
		}
		json_object_set_new(o, "pattern", json_string(buf2));
		break;
	case 2:
		add_pii(f, C_EMAIL, pii_value(C_EMAIL, ++counter, buf, sizeof(buf)));
		json_object_set_new(o, "value", json_string(buf));
		if (rnd(2)) {
			add_pii(f, C_NAME, pii_value(C_NAME, ++counter, buf, sizeof(buf)));
			json_object_set_new(o, "display_name", json_string(buf));
		}
		break;
	case 3:
		if (rnd(2)) {
			add_pii(f, C_NAME, pii_value(C_NAME, ++counter, buf, sizeof(buf)));
			json_object_set_new(o, "identity_class", json_string("individual"));
		} else {
			snprintf(buf, sizeof(buf), "Org %u", ++counter);
			json_object_set_new(o, "identity_class", json_string("organization"));
		}
		json_object_set_new(o, "name", json_string(buf));
		break;
	case 4:
		add_pii(f, C_IP, pii_value(C_IP, ++counter, buf, sizeof(buf)));
		json_object_set_new(o, "value", json_string(buf));
		break;
	case 5:
		add_pii(f, C_ACCOUNT, pii_value(C_ACCOUNT, ++counter, buf, sizeof(buf)));
		json_object_set_new(o, "account_login", json_string(buf));
		break;
	default:
		json_object_set_new(o, "name", json_string("x"));
	}
	if (rnd(5) == 0) { /* an address in free text */
		add_pii(f, C_EMAIL, pii_value(C_EMAIL, ++counter, buf, sizeof(buf)));
		snprintf(buf2, sizeof(buf2), "reported by %s.", buf);
		json_object_set_new(o, "description", json_string(buf2));
	}
	*containers = NULL;
	if (rnd(2)) {
		json_t *cr = json_array(), *cl = json_array();
		c = json_object();
		json_object_set_new(c, "type", json_string("report"));
		json_object_set_new(c, "id",
		                    json_string("report--00000000-0000-4000-8000-000000000001"));
		if (rnd(2)) {
			int m = rnd(NIDS);
			json_array_append_new(cr, json_string(ids[m].id));
			if (ids[m].level != NONE)
				f->tlp_inh = max2(f->tlp_inh, ids[m].level);
		}
		json_object_set_new(c, "object_marking_refs", cr);
		if (rnd(3) == 0) {
			int m = rnd(NTAGS);
			json_array_append_new(cl, json_string(tags[m].tag));
			tlp_from_tag(f, tags[m].tag, 0);
		}
		json_object_set_new(c, "labels", cl);
		if (rnd(2) && f->ndist < 3) {
			int l = rnd(6);
			json_object_set_new(c, "x_misp_distribution", json_integer(l));
			f->dist[f->ndist] = l;
			f->sg[f->ndist] = -1;
			if (l == 4) {
				int s = rnd(4);
				f->sg[f->ndist] = s;
				json_object_set_new(c, "x_misp_sharing_group_uuid",
				                    json_string(sgs[s]));
			}
			f->ndist++;
		}
		*containers = json_array();
		json_array_append_new(*containers, c);
	}
	*obj = o;
}

/* The object and its report in one bundle: the object is in the output iff allowed, and the report
 * (if it goes) never refers to it when it was withheld. */
static void check_bundle(const struct sl_policy_dest *pd, const struct dest *d, json_t *o,
                         json_t *conts, int want)
{
	json_t *rep = json_deep_copy(json_array_get(conts, 0)), *b, *out = NULL, *e;
	const char *id = json_string_value(json_object_get(o, "id"));
	struct sl_policy_decision **decs = NULL;
	size_t n = 0, k;
	struct sl_err err;
	int in_out = 0, in_refs = 0;

	json_object_set_new(
	    rep, "object_refs",
	    json_pack("[s, s]", id, "malware--00000000-0000-4000-8000-0000000000ff"));
	b = json_pack("{s:s, s:s, s:[O, o]}", "type", "bundle", "id", "bundle--1", "objects", o,
	              rep);
	cases++;
	if (sl_policy_decide_bundle(pd, b, NOW, &out, &decs, &n, &err) != 0) {
		violation("bundle not decided", d, err.msg);
		json_decref(b);
		return;
	}
	json_array_foreach(json_object_get(out, "objects"), k, e)
	{
		if (json_equal(json_object_get(e, "id"), json_object_get(o, "id")))
			in_out = 1;
		else if (pt_contains(json_object_get(e, "object_refs"), id))
			in_refs = 1;
	}
	if (in_out != want)
		violation(in_out ? "forbidden object sent in a bundle"
		                 : "allowed object withheld from a bundle",
		          d, id);
	if (!in_out && in_refs)
		violation("report still refers to a withheld object", d, id);
	sl_policy_decisions_free(decs, n);
	json_decref(out);
	json_decref(b);
}

/* The same bundle decided for every destination at once (sl_policy_decide_bundle_all, which shares
 * verdicts between objects of one class and keeps classes from one call to the next): each
 * destination's bundle holds the object iff the oracle allows it, with its personal data handled
 * as that destination says. */
static void check_bundle_all(const struct sl_policy *p, const struct dest *ds, int nd, json_t *o,
                             json_t *conts, const struct facts *f)
{
	json_t *rep = json_deep_copy(json_array_get(conts, 0)), *b, *outs[16];
	const char *id = json_string_value(json_object_get(o, "id"));
	struct sl_policy_decision **decs[16];
	struct sl_policy_rows *rows = NULL;
	struct sl_err err;
	size_t n = 0, k;
	int i;

	if (nd > 16)
		abort();
	json_object_set_new(
	    rep, "object_refs",
	    json_pack("[s, s]", id, "malware--00000000-0000-4000-8000-0000000000ff"));
	b = json_pack("{s:s, s:s, s:[O, o]}", "type", "bundle", "id", "bundle--1", "objects", o,
	              rep);
	cases++;
	if (sl_policy_decide_bundle_all(p, b, NOW, outs, decs, &n, &err) != 0 || n != 2) {
		violation("bundle not decided for all destinations", &ds[0], err.msg);
		json_decref(b);
		return;
	}
	for (i = 0; i < nd; i++) {
		int want = oracle_allows(&ds[i], f), in_out = 0;
		const json_t *e;
		json_array_foreach(json_object_get(outs[i], "objects"), k, e) in_out |=
		    json_equal(json_object_get(e, "id"), json_object_get(o, "id"));
		if (in_out != want)
			violation(in_out ? "forbidden object sent in a bundle for all"
			                 : "allowed object withheld from a bundle for all",
			          &ds[i], sl_policy_decision_rule(decs[i][0]));
		if (want && sl_policy_decision_object(decs[i][0]))
			check_pii(&ds[i], f, sl_policy_decision_object(decs[i][0]),
			          sl_policy_decision_rule(decs[i][0]));
		json_decref(outs[i]);
		sl_policy_decisions_free(decs[i], n);
	}
	/* the rows the gateway records: the same, row by row */
	cases++;
	if (sl_policy_decide_bundle_rows(p, b, NOW, 0, &rows, &err) != 0 ||
	    sl_policy_rows_count(rows) != 2) {
		violation("bundle not decided as rows", &ds[0], rows ? "row count" : err.msg);
		sl_policy_rows_free(rows);
		json_decref(b);
		return;
	}
	for (i = 0; i < nd; i++) {
		const struct sl_policy_row *rw = sl_policy_rows_dest(rows, (size_t)i);
		int want = oracle_allows(&ds[i], f);
		if ((rw[0].verdict != SL_POLICY_DENY) != want || (rw[0].obj != NULL) != want)
			violation(want ? "allowed object withheld from the rows"
			               : "forbidden object sent in the rows",
			          &ds[i], rw[0].rule);
		if (want && rw[0].obj)
			check_pii(&ds[i], f, rw[0].obj, rw[0].rule);
	}
	sl_policy_rows_free(rows);
	/* the rows as the pipeline takes them: a changed object as its JSON text */
	rows = NULL;
	cases++;
	if (sl_policy_decide_bundle_rows(p, b, NOW, SL_POLICY_ROWS_TEXT, &rows, &err) != 0 ||
	    sl_policy_rows_count(rows) != 2) {
		violation("bundle not decided as text rows", &ds[0], rows ? "row count" : err.msg);
		sl_policy_rows_free(rows);
		json_decref(b);
		return;
	}
	for (i = 0; i < nd; i++) {
		const struct sl_policy_row *rw = sl_policy_rows_dest(rows, (size_t)i);
		int want = oracle_allows(&ds[i], f);
		json_t *sent = rw[0].text ? json_loads(rw[0].text, 0, NULL) : NULL;
		if ((rw[0].verdict != SL_POLICY_DENY) != want ||
		    (rw[0].obj != NULL || rw[0].text != NULL) != want || (rw[0].text && !sent))
			violation(want ? "allowed object withheld from the text rows"
			               : "forbidden object sent in the text rows",
			          &ds[i], rw[0].rule);
		if (want && (sent || rw[0].obj))
			check_pii(&ds[i], f, sent ? sent : rw[0].obj, rw[0].rule);
		json_decref(sent);
	}
	sl_policy_rows_free(rows);
	json_decref(b);
}

static void run_stix(const struct sl_policy *p, const struct dest *ds, int nd)
{
	json_t *o, *c;
	struct facts f;
	int i;

	random_stix(&o, &c, &f);
	for (i = 0; i < nd; i++) {
		struct sl_policy_ctx ctx = {c, NULL, NULL, NULL};
		struct sl_err err;
		struct sl_policy_decision *dec =
		    sl_policy_decide_stix(sl_policy_dest_at(p, (size_t)i), o, &ctx, NOW, &err);
		int want = oracle_allows(&ds[i], &f);
		int got = dec && sl_policy_decision_verdict(dec) != SL_POLICY_DENY;
		cases++;
		if (!dec) {
			violation("no decision", &ds[i], err.msg);
			continue;
		}
		{
			/* the allocation-free verdicts (one destination, and all of them at once)
			 * must agree exactly with the full decision */
			struct sl_policy_facts *fa = sl_policy_facts_stix(o, &ctx, &err);
			enum sl_policy_verdict all[16];
			if (fa && sl_policy_dest_count(p) <= 16)
				sl_policy_verdicts_facts(p, fa, NOW, all);
			if (!fa ||
			    sl_policy_verdict_facts(sl_policy_dest_at(p, (size_t)i), fa, NOW) !=
			        sl_policy_decision_verdict(dec) ||
			    (sl_policy_dest_count(p) <= 16 &&
			     all[i] != sl_policy_decision_verdict(dec)))
				violation("verdict-only differs from the decision", &ds[i],
				          sl_policy_decision_rule(dec));
			sl_policy_facts_free(fa);
		}
		if (got && !want)
			violation("forbidden object sent", &ds[i], sl_policy_decision_rule(dec));
		if (!got && want)
			violation("allowed object withheld", &ds[i], sl_policy_decision_rule(dec));
		if (got) {
			allowed++;
			check_pii(&ds[i], &f, sl_policy_decision_object(dec),
			          sl_policy_decision_rule(dec));
		}
		sl_policy_decision_free(dec);
		if (c)
			check_bundle(sl_policy_dest_at(p, (size_t)i), &ds[i], o, c, want);
	}
	if (c)
		check_bundle_all(p, ds, nd, o, c, &f);
	json_decref(o);
	json_decref(c);
}

#define MAXA 6
static void run_event(const struct sl_policy *p, const struct dest *ds, int nd)
{
	struct facts ef, af[MAXA];
	char buf[96], uuid[MAXA][40];
	json_t *ev = json_object(), *inner = json_object(), *etags = json_array(),
	       *attrs = json_array();
	int na = 1 + rnd(MAXA), i, k, l, esg;

	memset(&ef, 0, sizeof(ef));
	ef.tlp_own = ef.tlp_inh = NONE;
	ef.type = "misp-event";
	json_object_set_new(ev, "Event", inner);
	json_object_set_new(inner, "uuid",
	                    json_sprintf("e%07u-0000-4000-8000-000000000000", ++counter));
	json_object_set_new(inner, "info", json_string("random event"));
	ef.modified = NOW - (long long)rnd(400) * 86400 - 3600;
	json_object_set_new(inner, "timestamp", json_sprintf("%lld", ef.modified));
	l = rnd(6);
	json_object_set_new(inner, "distribution", json_sprintf("%d", l));
	ef.dist[0] = l;
	esg = rnd(4);
	ef.sg[0] = l == 4 ? esg : -1;
	ef.ndist = 1;
	json_object_set_new(inner, "sharing_group_id", json_string("1"));
	json_object_set_new(inner, "SharingGroup", json_pack("{s:s}", "uuid", sgs[esg]));
	for (k = rnd(3); k > 0; k--) {
		int m = rnd(NTAGS);
		json_array_append_new(etags, json_pack("{s:s}", "name", tags[m].tag));
		tlp_from_tag(&ef, tags[m].tag, 1);
	}
	json_object_set_new(inner, "Tag", etags);
	for (i = 0; i < na; i++) {
		json_t *a = json_object(), *at = json_array();
		int t = rnd(6);
		struct facts *f = &af[i];
		memset(f, 0, sizeof(*f));
		f->tlp_own = NONE;
		f->tlp_inh = max2(ef.tlp_own, ef.tlp_inh);
		f->internal = ef.internal;
		f->share = ef.share;
		f->type = misp_types[t];
		snprintf(uuid[i], sizeof(uuid[i]), "a%07u-0000-4000-8000-000000000000", ++counter);
		json_object_set_new(a, "uuid", json_string(uuid[i]));
		json_object_set_new(a, "type", json_string(f->type));
		if (misp_cat[t] >= 0) {
			pii_value(misp_cat[t], ++counter, buf, sizeof(buf));
			add_pii(f, misp_cat[t], buf);
		} else {
			snprintf(buf, sizeof(buf), "dom%u.example", ++counter);
		}
		json_object_set_new(a, "value", json_string(buf));
		f->modified = NOW - (long long)rnd(400) * 86400 - 3600;
		json_object_set_new(a, "timestamp", json_integer(f->modified));
		l = rnd(6);
		json_object_set_new(a, "distribution", json_integer(l));
		f->dist[0] = ef.dist[0];
		f->sg[0] = ef.sg[0];
		f->dist[1] = l;
		f->sg[1] = -1;
		f->ndist = 2;
		if (l == 4) {
			int s = rnd(4);
			f->sg[1] = s;
			json_object_set_new(a, "SharingGroup", json_pack("{s:s}", "uuid", sgs[s]));
		}
		if (rnd(3) == 0) {
			int m = rnd(NTAGS);
			json_array_append_new(at, json_pack("{s:s}", "name", tags[m].tag));
			tlp_from_tag(f, tags[m].tag, 1);
		}
		json_object_set_new(a, "Tag", at);
		json_array_append_new(attrs, a);
	}
	json_object_set_new(inner, "Attribute", attrs);

	for (i = 0; i < nd; i++) {
		struct sl_err err;
		struct sl_policy_decision *dec =
		    sl_policy_decide_misp_event(sl_policy_dest_at(p, (size_t)i), ev, NOW, &err);
		int evwant = oracle_allows(&ds[i], &ef);
		int evgot = dec && sl_policy_decision_verdict(dec) != SL_POLICY_DENY;
		const json_t *out;
		cases++;
		if (!dec) {
			violation("no decision", &ds[i], err.msg);
			continue;
		}
		if (evgot != evwant)
			violation(evgot ? "forbidden event sent" : "allowed event withheld", &ds[i],
			          sl_policy_decision_rule(dec));
		out = sl_policy_decision_object(dec);
		for (k = 0; evgot && k < na; k++) {
			int want = oracle_allows(&ds[i], &af[k]);
			int got = pt_contains(out, uuid[k]);
			cases++;
			if (got && !want)
				violation("forbidden attribute sent", &ds[i], uuid[k]);
			if (!got && want)
				violation("allowed attribute withheld", &ds[i], uuid[k]);
			if (got) {
				allowed++;
				check_pii(&ds[i], &af[k], out, uuid[k]);
			}
		}
		sl_policy_decision_free(dec);
	}
	json_decref(ev);
}

int main(void)
{
	const char *s = getenv("SLUICE_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
	const char *key = pt_key_path("property-test-key-0123456789abcdef");
	static char text[65536];
	struct dest ds[6];
	int pi, i, nd;

	printf("seed=%llu\n", (unsigned long long)seed);
	rng = seed * 2654435761u + 88172645463325252ull;
	for (pi = 0; pi < NPOL; pi++) {
		struct sl_policy *p;
		nd = 1 + rnd(6);
		for (i = 0; i < nd; i++)
			random_dest(&ds[i], i);
		render(ds, nd, key, text, sizeof(text));
		p = pt_policy(text);
		for (i = 0; i < NOBJ; i++)
			run_stix(p, ds, nd);
		for (i = 0; i < NEV; i++)
			run_event(p, ds, nd);
		sl_policy_free(p);
	}
	/* the share allowed shows the random policies are neither all-open nor all-closed */
	printf("allowed=%ld\n", allowed);
	printf("%ld cases, %ld violations\n", cases, violations);
	if (violations)
		printf("replay with SLUICE_SEED=%llu\n", (unsigned long long)seed);
	return violations ? 1 : 0;
}
