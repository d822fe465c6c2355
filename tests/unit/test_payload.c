/* test_payload.c — a changed object's text written in one pass (sl_payload_text) is byte for byte
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) of the tree sl_gdpr_replaced_n builds, with the MISP
 * downgrade applied as the policy applies it: fixed hard cases (escapes, non-ASCII, a NUL inside
 * a string, identity members, nesting, many members, reals) and thousands of random objects. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "payload.h"

static long cases, failures;
static uint64_t rng;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* What the policy's tree path gives: the substitutions copy-on-write, then x_misp_distribution 2
 * (integer, or a one-digit string) written as 1 of the same kind. */
static char *oracle(json_t *obj, const struct sl_gdpr_sub *subs, size_t n, int downgrade,
                    int *downgraded)
{
	json_t *t = sl_gdpr_replaced_n(obj, subs, n, NULL), *lv;
	char *s;

	*downgraded = 0;
	if (!t)
		return NULL;
	lv = json_object_get(t, "x_misp_distribution");
	if (downgrade &&
	    ((json_is_integer(lv) && json_integer_value(lv) == 2) ||
	     (json_is_string(lv) && strcmp(json_string_value(lv), "2") == 0))) {
		json_t *c = json_copy(t);
		json_decref(t);
		t = c;
		json_object_set_new(t, "x_misp_distribution",
		                    json_is_string(lv) ? json_string("1") : json_integer(1));
		*downgraded = 1;
	}
	s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(t);
	return s;
}

static void check(const char *what, json_t *obj, const struct sl_gdpr_sub *subs, size_t n,
                  int downgrade)
{
	struct sl_payload_buf b = {0};
	int dg_want = 0, dg_got = -1, rc;
	char *want = oracle(obj, subs, n, downgrade, &dg_want);
	const char *got;

	cases++;
	rc = sl_payload_text(&b, obj, subs, n, downgrade, &dg_got);
	got = b.p;
	if ((rc == 0) != (want != NULL) ||
	    (want && (strlen(want) != b.len || strcmp(want, got) != 0)) ||
	    (want && dg_want != dg_got)) {
		fprintf(stderr, "%s: rc %d, downgraded %d/%d\n  want %s\n  got  %s\n", what, rc,
		        dg_want, dg_got, want ? want : "(failure)", rc == 0 ? got : "(failure)");
		failures++;
	}
	free(want);
	free(b.p);
}

/* Two texts of one object with the same values replaced otherwise (redacted, then
 * pseudonymised), the second copying untouched members from the first through a memo: both are
 * what the tree path gives. */
static void check_memo(const char *what, json_t *obj, const struct sl_gdpr_sub *a,
                       const struct sl_gdpr_sub *b, size_t n, int downgrade)
{
	struct sl_payload_memo memo = {0};
	struct sl_payload_buf buf = {0};
	const struct sl_gdpr_sub *v[3] = {a, b, a};
	char *first = NULL;
	int k, dg, dgw;

	for (k = 0; k < 3; k++) {
		char *want = oracle(obj, v[k], n, downgrade, &dgw);
		int rc = sl_payload_text_memo(&buf, obj, v[k], n, downgrade, &dg, &memo, 7);
		cases++;
		if ((rc == 0) != (want != NULL) || (want && strcmp(want, buf.p) != 0) ||
		    (want && dg != dgw) || (k > 0 && want && memo.text != first)) {
			fprintf(stderr, "%s: text %d with a memo: rc %d\n  want %s\n  got  %s\n", what,
			        k, rc, want ? want : "(failure)", rc == 0 ? buf.p : "(failure)");
			failures++;
		}
		if (k == 0 && rc == 0 && memo.obj == obj) {
			first = strdup(buf.p); /* the caller keeps the first text */
			memo.text = first;
		}
		free(want);
	}
	free(first);
	free(buf.p);
}

static void test_fixed(void)
{
	struct sl_gdpr_sub subs[3] = {{"eve@example.org", 15, "[redacted:email]"},
	                              {"10.0.0.1", 8, "pseudonym:0123abcd"},
	                              {"eve", 3, "[redacted:user-account]"}};
	json_t *o;
	char many[64];
	int i;

	o = json_pack("{s:s, s:s, s:s, s:s, s:[s,s], s:s, s:{s:s, s:[{s:s}]}, s:i, s:f, s:b, s:n}",
	              "type", "indicator", "id", "indicator--eve@example.org", "pattern",
	              "[email-addr:value = 'eve@example.org'] OR [ipv4-addr:value = '10.0.0.1']",
	              "description", "quote \" backslash \\ tab \t nl \n ctl \x01 del \x7f "
	                             "\xc3\xa4 \xe2\x80\xa8 eve@example.org",
	              "object_refs", "x--eve@example.org", "eve", "created_by_ref",
	              "identity--eve", "x_nested", "eve", "10.0.0.1", "list", "k",
	              "mail eve@example.org", "number", 42, "real", 0.1, "flag", 1, "none");
	check("hard strings", o, subs, 3, 0);
	check("no substitution", o, subs, 0, 0);
	json_object_set_new(o, "x_misp_distribution", json_integer(2));
	check("downgrade integer", o, subs, 3, 1);
	check("no downgrade asked", o, subs, 3, 0);
	json_object_set_new(o, "x_misp_distribution", json_string("2"));
	check("downgrade string", o, subs, 3, 1);
	json_object_set_new(o, "x_misp_distribution", json_string("3"));
	check("no downgrade for 3", o, subs, 3, 1);
	/* a NUL inside a string: cut there when a value occurs before it, kept whole when not */
	json_object_set_new(o, "x_nul", json_stringn("eve\0tail", 8));
	json_object_set_new(o, "x_nul2", json_stringn("none\0eve", 8));
	check("NUL inside a string", o, subs, 3, 0);
	check("NUL inside a string, one value", o, subs + 2, 1, 0);
	check("one value, many occurrences", o, subs, 1, 0);
	/* keys that sort by bytes: non-ASCII, prefixes, upper case; and more than 32 members */
	json_object_set_new(o, "\xc3\xa4", json_string("eve"));
	json_object_set_new(o, "Z", json_string("eve"));
	json_object_set_new(o, "typ", json_string("eve"));
	json_object_set_new(o, "types", json_string("eve"));
	for (i = 0; i < 40; i++) {
		snprintf(many, sizeof(many), "x_m%d", 40 - i);
		json_object_set_new(o, many, json_string(i % 2 ? "eve" : "10.0.0.1 x"));
	}
	check("many members", o, subs, 3, 0);
	json_decref(o);
	/* invalid UTF-8 refused as json_dumps refuses it */
	o = json_pack("{s:s}", "type", "x");
	json_object_set_new_nocheck(o, "bad", json_stringn_nocheck("eve \xff", 5));
	check("invalid UTF-8", o, subs, 3, 0);
	json_decref(o);
}

static json_t *random_value(int depth);

static json_t *random_string(void)
{
	static const char *const parts[] = {"eve@example.org", "10.0.0.1", "eve",  "a",
	                                    "\"",              "\\",       "\n",   "\xc3\xa4",
	                                    "\xf0\x9f\x98\x80", "\x1f",    " ",    "[redacted:email]"};
	char buf[256];
	size_t n = 0, k = rnd(6);

	while (k--) {
		const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];
		size_t l = strlen(p);
		if (n + l >= sizeof(buf))
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return json_stringn(buf, n);
}

static json_t *random_object(int depth)
{
	static const char *const keys[] = {"id",      "type",       "name",   "value",
	                                   "x_refs",  "object_refs", "pattern", "created",
	                                   "sub_ref", "description", "eve",    "\xc3\xa4k",
	                                   "labels",  "x_misp_distribution"};
	json_t *o = json_object();
	unsigned k = rnd(8);

	while (k--)
		json_object_set_new(o, keys[rnd(sizeof(keys) / sizeof(keys[0]))],
		                    random_value(depth + 1));
	return o;
}

static json_t *random_value(int depth)
{
	json_t *a;
	unsigned k;

	switch (depth > 4 ? rnd(4) : rnd(7)) {
	case 0:
	case 1:
		return random_string();
	case 2:
		return json_integer((json_int_t)rnd(4));
	case 3:
		return rnd(2) ? json_true() : json_null();
	case 4:
		return json_real(rnd(100) / 8.0);
	case 5:
		a = json_array();
		for (k = rnd(4); k--;)
			json_array_append_new(a, random_value(depth + 1));
		return a;
	default:
		return random_object(depth);
	}
}

static void test_random(void)
{
	struct sl_gdpr_sub all[3] = {{"eve@example.org", 15, "pseudonym@pseudonym.invalid"},
	                             {"10.0.0.1", 8, "[redacted:ip-address]"},
	                             {"eve", 3, "pseudonym:eve"}};
	struct sl_gdpr_sub other[3] = {{"eve@example.org", 15, "[redacted:email]"},
	                               {"10.0.0.1", 8, "pseudonym:0a0b"},
	                               {"eve", 3, "\"eve\\"}};
	int i;

	for (i = 0; i < 5000; i++) {
		json_t *o = random_object(0);
		size_t first = rnd(3);
		if (rnd(3) == 0)
			json_object_set_new(o, "x_misp_distribution",
			                    rnd(2) ? json_integer(2) : json_string("2"));
		check("random object", o, all + first, 3 - first, (int)rnd(2));
		check_memo("random object", o, all + first, other + first, 3 - first, (int)rnd(2));
		json_decref(o);
	}
}

int main(void)
{
	const char *s = getenv("SLUICE_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);

	printf("seed=%llu\n", (unsigned long long)seed);
	rng = seed * 2654435761u + 88172645463325252ull;
	test_fixed();
	test_random();
	printf("%ld cases, %ld failures\n", cases, failures);
	return failures ? 1 : 0;
}
