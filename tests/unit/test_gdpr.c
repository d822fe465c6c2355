/* test_gdpr.c — personal data: each action (keep, drop, redact, pseudonymise) on each category,
 * pseudonyms checked against HMAC-SHA256 computed here with OpenSSL, consistency across objects and
 * patterns, retention, erasure, keyed hashes for audit rows, tag/type/org lists, and audit rows
 * without personal data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gdpr.h"
#include "test_policy_util.h"

#define NOW 1795200000LL
#define KEY "0123456789abcdef0123456789abcdef"

static struct sl_policy *policy_with(const char *action, const char *extra)
{
	char text[2048];

	snprintf(
	    text, sizeof(text),
	    "hmac_key_file = \"%s\"\n"
	    "destination \"d\" {\n  max_tlp = \"amber\"\n  unmarked = \"green\"\n  %s\n  gdpr {\n"
	    "    email = \"%s\"\n    person_name = \"%s\"\n    phone = \"%s\"\n    user_account = "
	    "\"%s\"\n"
	    "    ip_address = \"%s\"\n  }\n}\n",
	    pt_key_path(KEY), extra ? extra : "", action, action, action, action, action);
	return pt_policy(text);
}

/* What the pseudonym must be, computed independently: HMAC-SHA256(key, "<category>:<value>"), first
 * 16 bytes. */
static void expected_pseudonym(const char *cat, const char *value, char *out, size_t outsz)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char in[256], hex[33];
	int i;

	snprintf(in, sizeof(in), "%s:%s", cat, value);
	HMAC(EVP_sha256(), KEY, 32, (unsigned char *)in, strlen(in), md, &mdlen);
	for (i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	if (strcmp(cat, "email") == 0)
		snprintf(out, outsz, "%s@pseudonym.invalid", hex);
	else
		snprintf(out, outsz, "pseudonym:%s", hex);
}

static struct sl_policy_decision *decide(struct sl_policy *p, const char *text)
{
	json_t *o = pt_json(text);
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);

	assert_non_null(d);
	json_decref(o);
	return d;
}

static const char *email_obj =
    "{\"type\":\"email-addr\",\"id\":\"email-addr--1\",\"value\":\"Alice.Smith@example.org\","
    "\"display_name\":\"Alice Smith\"}";

static void keep_leaves_it(void **state)
{
	struct sl_policy *p = policy_with("keep", NULL);
	struct sl_policy_decision *d = decide(p, email_obj);

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
	assert_true(pt_contains(sl_policy_decision_object(d), "Alice.Smith@example.org"));
	sl_policy_decision_free(d);
	sl_policy_free(p);
}

static void drop_withholds_the_object(void **state)
{
	struct sl_policy *p = policy_with("drop", NULL);
	struct sl_policy_decision *d = decide(p, email_obj);

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	assert_null(sl_policy_decision_object(d));
	assert_non_null(strstr(sl_policy_decision_rule(d), "gdpr email = drop"));
	sl_policy_decision_free(d);
	sl_policy_free(p);
}

static void redact_keeps_the_object(void **state)
{
	struct sl_policy *p = policy_with("redact", NULL);
	struct sl_policy_decision *d = decide(p, email_obj);
	const json_t *o;
	json_t *row;

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW_CHANGED);
	o = sl_policy_decision_object(d);
	assert_string_equal(json_string_value(json_object_get(o, "value")), "[redacted:email]");
	assert_string_equal(json_string_value(json_object_get(o, "display_name")),
	                    "[redacted:person-name]");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "email-addr--1");
	assert_false(pt_contains(o, "Alice"));
	/* the audit row names field and action, never the value */
	row = sl_policy_decision_to_json(d);
	assert_string_equal(json_string_value(json_object_get(row, "decision")),
	                    "allow-with-changes");
	assert_string_equal(json_string_value(json_object_get(row, "object_id")), "email-addr--1");
	assert_string_equal(json_string_value(json_object_get(row, "destination")), "d");
	assert_true(pt_contains(json_object_get(row, "changes"), "\"path\":\"value\""));
	assert_true(pt_contains(json_object_get(row, "changes"), "\"action\":\"redact\""));
	assert_false(pt_contains(row, "Alice"));
	json_decref(row);
	sl_policy_decision_free(d);
	sl_policy_free(p);
}

static void pseudonymise_is_keyed_stable_and_consistent(void **state)
{
	struct sl_policy *p = policy_with("pseudonymise", NULL);
	struct sl_policy_decision *d1 = decide(p, email_obj), *d2;
	char want[128], pat[256];

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d1), SL_POLICY_ALLOW_CHANGED);
	/* emails are compared case-blind so correlation survives */
	expected_pseudonym("email", "alice.smith@example.org", want, sizeof(want));
	assert_string_equal(
	    json_string_value(json_object_get(sl_policy_decision_object(d1), "value")), want);
	expected_pseudonym("person-name", "Alice Smith", want, sizeof(want));
	assert_string_equal(
	    json_string_value(json_object_get(sl_policy_decision_object(d1), "display_name")),
	    want);
	/* an indicator whose pattern holds the same address gets the same pseudonym in its pattern
	 */
	d2 = decide(
	    p,
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"pattern\":\"[email-addr:value = "
	    "'Alice.Smith@example.org']\",\"description\":\"seen from Alice.Smith@example.org\"}");
	expected_pseudonym("email", "alice.smith@example.org", want, sizeof(want));
	snprintf(pat, sizeof(pat), "[email-addr:value = '%s']", want);
	assert_string_equal(
	    json_string_value(json_object_get(sl_policy_decision_object(d2), "pattern")), pat);
	assert_false(pt_contains(sl_policy_decision_object(d2), "Alice.Smith"));
	sl_policy_decision_free(d1);
	sl_policy_decision_free(d2);
	sl_policy_free(p);
}

static void pseudonyms_differ_per_key(void **state)
{
	char *a =
	    sl_gdpr_pseudonym((const unsigned char *)KEY, 32, SL_GDPR_PHONE, "+32 2 555 01 23");
	char *b = sl_gdpr_pseudonym((const unsigned char *)"another-key-another-key-another!", 32,
	                            SL_GDPR_PHONE, "+32 2 555 01 23");
	char *c =
	    sl_gdpr_pseudonym((const unsigned char *)KEY, 32, SL_GDPR_PHONE, "+32 2 555 01 23");

	(void)state;
	assert_string_not_equal(a, b);
	assert_string_equal(a, c);
	free(a);
	free(b);
	free(c);
}

/* The pseudonymiser (key set up once, for many values) gives exactly the one-shot pseudonym, which
 * is HMAC-SHA256 over "<category>:<value>" (emails lower-cased), first 16 bytes in hex; also for
 * values made one after another with the same context. */
static void pseudonymiser_matches_hmac(void **state)
{
	static const struct {
		enum sl_gdpr_cat c;
		const char *value, *input;
	} cases[] = {
	    {SL_GDPR_EMAIL, "J.Doe@Mail.Example.org", "email:j.doe@mail.example.org"},
	    {SL_GDPR_IP_ADDRESS, "198.51.100.7", "ip-address:198.51.100.7"},
	    {SL_GDPR_USER_ACCOUNT, "jdoe", "user-account:jdoe"},
	    {SL_GDPR_IP_ADDRESS, "198.51.100.7", "ip-address:198.51.100.7"},
	};
	struct sl_gdpr_pseudonymiser *ps =
	    sl_gdpr_pseudonymiser_new((const unsigned char *)KEY, 32);
	size_t i, j;

	(void)state;
	assert_non_null(ps);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hexd[33], want[80];
		char *one = sl_gdpr_pseudonym((const unsigned char *)KEY, 32, cases[i].c,
		                              cases[i].value),
		     *many = sl_gdpr_pseudonymiser_make(ps, cases[i].c, cases[i].value);
		assert_non_null(HMAC(EVP_sha256(), KEY, 32, (const unsigned char *)cases[i].input,
		                     strlen(cases[i].input), md, &mdlen));
		for (j = 0; j < 16; j++)
			snprintf(hexd + 2 * j, 3, "%02x", md[j]);
		if (cases[i].c == SL_GDPR_EMAIL)
			snprintf(want, sizeof(want), "%s@pseudonym.invalid", hexd);
		else
			snprintf(want, sizeof(want), "pseudonym:%s", hexd);
		assert_string_equal(one, want);
		assert_string_equal(many, want);
		free(one);
		free(many);
	}
	sl_gdpr_pseudonymiser_free(ps);
	sl_gdpr_pseudonymiser_free(NULL);
}

/* Key files may be longer than SHA-256's 64-byte block (up to SL_GDPR_KEY_MAX): HMAC hashes such
 * a key first, and the pseudonymiser, which keeps the key's hash states, must do the same; keys of
 * exactly one block, and shorter ones, are used as they are. */
static void pseudonymiser_key_lengths(void **state)
{
	static const size_t lens[] = {16, 63, 64, 65, 200, SL_GDPR_KEY_MAX};
	unsigned char *key = malloc(SL_GDPR_KEY_MAX);
	size_t i, j;

	(void)state;
	assert_non_null(key);
	for (j = 0; j < SL_GDPR_KEY_MAX; j++)
		key[j] = (unsigned char)(j * 131 + 7);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct sl_gdpr_pseudonymiser *ps = sl_gdpr_pseudonymiser_new(key, lens[i]);
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hexd[33], want[80], *many;
		const char *input = "ip-address:203.0.113.9";
		assert_non_null(ps);
		assert_non_null(HMAC(EVP_sha256(), key, (int)lens[i], (const unsigned char *)input,
		                     strlen(input), md, &mdlen));
		for (j = 0; j < 16; j++)
			snprintf(hexd + 2 * j, 3, "%02x", md[j]);
		snprintf(want, sizeof(want), "pseudonym:%s", hexd);
		many = sl_gdpr_pseudonymiser_make(ps, SL_GDPR_IP_ADDRESS, "203.0.113.9");
		assert_string_equal(many, want);
		free(many);
		sl_gdpr_pseudonymiser_free(ps);
	}
	free(key);
}

static void each_category_is_found(void **state)
{
	struct sl_policy *p = policy_with("redact", NULL);
	static const struct {
		const char *obj, *value, *redaction;
	} cases[] = {
	    {"{\"type\":\"identity\",\"id\":\"identity--1\",\"identity_class\":\"individual\","
	     "\"name\":\"Jane Roe\"}",
	     "Jane Roe", "[redacted:person-name]"},
	    {"{\"type\":\"user-account\",\"id\":\"user-account--1\",\"account_login\":\"jroe42\"}",
	     "jroe42", "[redacted:user-account]"},
	    {"{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--1\",\"value\":\"192.0.2.77\"}",
	     "192.0.2.77", "[redacted:ip-address]"},
	    {"{\"type\":\"indicator\",\"id\":\"indicator--1\",\"pattern\":\"[ipv4-addr:value = "
	     "'192.0.2.78']\"}",
	     "192.0.2.78", "[redacted:ip-address]"},
	    {"{\"type\":\"x-misp-attribute\",\"id\":\"x-misp-attribute--1\",\"x_misp_type\":"
	     "\"phone-number\","
	     "\"x_misp_value\":\"+32 2 555 01 23\"}",
	     "+32 2 555 01 23", "[redacted:phone]"},
	    {"{\"type\":\"note\",\"id\":\"note--1\",\"content\":\"contact bob@corp.example "
	     "please\"}",
	     "bob@corp.example", "[redacted:email]"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_policy_decision *d = decide(p, cases[i].obj);
		if (sl_policy_decision_verdict(d) != SL_POLICY_ALLOW_CHANGED ||
		    pt_contains(sl_policy_decision_object(d), cases[i].value) ||
		    !pt_contains(sl_policy_decision_object(d), cases[i].redaction))
			fail_msg("case %zu: %s", i, sl_policy_decision_rule(d));
		sl_policy_decision_free(d);
	}
	/* an organisation's name is not personal data */
	{
		struct sl_policy_decision *d = decide(p, "{\"type\":\"identity\",\"id\":\"identity-"
		                                         "-2\",\"identity_class\":\"organization\","
		                                         "\"name\":\"ACME\"}");
		assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
		sl_policy_decision_free(d);
	}
	sl_policy_free(p);
}

static void ip_addresses_are_personal_only_when_the_policy_says(void **state)
{
	struct sl_policy *p =
	    pt_policy("destination \"d\" { max_tlp = \"amber\" unmarked = \"green\" }\n");
	struct sl_policy_decision *d =
	    decide(p, "{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--1\",\"value\":\"192.0.2.7\"}");

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
	assert_true(pt_contains(sl_policy_decision_object(d), "192.0.2.7"));
	sl_policy_decision_free(d);
	sl_policy_free(p);
}

static void misp_event_person_object_and_attributes(void **state)
{
	struct sl_policy *p = policy_with("pseudonymise", NULL);
	json_t *ev = pt_json(
	    "{\"Event\":{\"uuid\":\"e1\",\"info\":\"mail from "
	    "x@y.example\",\"distribution\":3,\"timestamp\":1795100000,"
	    "\"Tag\":[{\"name\":\"tlp:green\"}],\"Attribute\":["
	    "{\"uuid\":\"a1\",\"type\":\"email-src\",\"value\":\"x@y.example\",\"distribution\":5},"
	    "{\"uuid\":\"a2\",\"type\":\"ip-dst|port\",\"value\":\"198.51.100.9|443\","
	    "\"distribution\":5},"
	    "{\"uuid\":\"a3\",\"type\":\"github-username\",\"value\":\"octo-jroe\","
	    "\"distribution\":5}],"
	    "\"Object\":[{\"uuid\":\"o1\",\"name\":\"person\",\"distribution\":5,\"Attribute\":["
	    "{\"uuid\":\"p1\",\"type\":\"text\",\"object_relation\":\"first-name\",\"value\":"
	    "\"Jane\",\"distribution\":5},"
	    "{\"uuid\":\"p2\",\"type\":\"phone-number\",\"object_relation\":\"phone-number\","
	    "\"value\":\"+33 1 23 45 67 89\","
	    "\"distribution\":5}]}]}}");
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_misp_event(sl_policy_dest_at(p, 0), ev, NOW, &err);
	const json_t *out = sl_policy_decision_object(d);
	char want[128];

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW_CHANGED);
	assert_false(pt_contains(out, "x@y.example"));
	assert_false(pt_contains(out, "198.51.100.9"));
	assert_true(pt_contains(out, "|443"));
	assert_false(pt_contains(out, "octo-jroe"));
	assert_false(pt_contains(out, "\"Jane\""));
	assert_false(pt_contains(out, "+33 1 23"));
	expected_pseudonym("email", "x@y.example", want, sizeof(want));
	/* the event's info and the attribute get the same pseudonym */
	assert_true(pt_contains(json_object_get(json_object_get(out, "Event"), "info"), want));
	assert_true(pt_contains(json_object_get(json_object_get(out, "Event"), "Attribute"), want));
	assert_false(pt_contains(sl_policy_decision_changes(d), "Jane"));
	sl_policy_decision_free(d);
	json_decref(ev);
	sl_policy_free(p);
}

static void retention_by_modified(void **state)
{
	struct sl_policy *p = policy_with("keep", "retention_days = 365");
	struct sl_policy_decision *d;
	json_t *ev;
	struct sl_err err;
	char obj[256];
	time_t t;
	struct tm tm;

	(void)state;
	/* 400 days old: withheld */
	t = (time_t)(NOW - 400LL * 86400);
	gmtime_r(&t, &tm);
	strftime(
	    obj, sizeof(obj),
	    "{\"type\":\"malware\",\"id\":\"malware--1\",\"modified\":\"%Y-%m-%dT%H:%M:%S.000Z\"}",
	    &tm);
	d = decide(p, obj);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_DENY);
	assert_non_null(strstr(sl_policy_decision_rule(d), "retention_days 365"));
	sl_policy_decision_free(d);
	/* 100 days old: goes */
	t = (time_t)(NOW - 100LL * 86400);
	gmtime_r(&t, &tm);
	strftime(
	    obj, sizeof(obj),
	    "{\"type\":\"malware\",\"id\":\"malware--1\",\"modified\":\"%Y-%m-%dT%H:%M:%S.000Z\"}",
	    &tm);
	d = decide(p, obj);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW);
	sl_policy_decision_free(d);
	/* MISP: an old attribute inside a recent event is removed */
	snprintf(obj, sizeof(obj), "%lld", NOW - 400LL * 86400);
	ev = pt_json("{\"Event\":{\"uuid\":\"e1\",\"info\":\"x\",\"distribution\":3,\"timestamp\":"
	             "1795100000,\"Attribute\":["
	             "{\"uuid\":\"new\",\"type\":\"domain\",\"value\":\"a.example\",\"timestamp\":"
	             "1795100000},"
	             "{\"uuid\":\"old\",\"type\":\"domain\",\"value\":\"b.example\",\"timestamp\":"
	             "1760000000}]}}");
	d = sl_policy_decide_misp_event(sl_policy_dest_at(p, 0), ev, NOW, &err);
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW_CHANGED);
	assert_false(pt_contains(sl_policy_decision_object(d), "b.example"));
	assert_true(pt_contains(sl_policy_decision_object(d), "a.example"));
	sl_policy_decision_free(d);
	json_decref(ev);
	sl_policy_free(p);
}

static void erasure_removes_every_occurrence(void **state)
{
	json_t *o = pt_json(
	    "{\"type\":\"indicator\",\"id\":\"indicator--1\",\"pattern\":\"[email-addr:value = "
	    "'eve@example.org']\",\"description\":\"eve@example.org "
	    "again\",\"labels\":[\"eve@example.org\"],"
	    "\"created_by_ref\":\"identity--1\"}");
	struct sl_err err;
	int count = 0;
	json_t *e = sl_gdpr_erase(o, "eve@example.org", &count, &err);

	(void)state;
	assert_non_null(e);
	assert_int_equal(count, 3);
	assert_false(pt_contains(e, "eve@example.org"));
	assert_string_equal(json_string_value(json_object_get(e, "pattern")),
	                    "[email-addr:value = '[erased]']");
	assert_string_equal(json_string_value(json_object_get(e, "id")), "indicator--1");
	assert_true(pt_contains(o, "eve@example.org")); /* the input is untouched */
	json_decref(e);
	assert_null(sl_gdpr_erase(o, "", NULL, &err));
	assert_int_equal(err.code, SL_EINVAL);
	json_decref(o);
}

static void keyed_hash_for_audit_rows(void **state)
{
	char h[SL_GDPR_HASH_HEX], want[65];
	unsigned char md[32];
	unsigned int mdlen;
	int i;

	(void)state;
	assert_int_equal(sl_gdpr_keyed_hash((const unsigned char *)KEY, 32, "alice@example.org", h),
	                 0);
	HMAC(EVP_sha256(), KEY, 32, (const unsigned char *)"alice@example.org", 17, md, &mdlen);
	for (i = 0; i < 32; i++)
		sprintf(want + 2 * i, "%02x", md[i]);
	assert_string_equal(h, want);
	assert_int_equal(sl_gdpr_keyed_hash(NULL, 0, "x", h), SL_EINVAL);
}

static void tag_type_and_org_lists(void **state)
{
	struct sl_policy *p =
	    pt_policy("destination \"d\" { max_tlp = \"amber\" unmarked = \"green\" deny_tags = "
	              "{\"internal:*\"}\n"
	              "  allow_types = {\"indicator\", \"malware\"}\n"
	              "  deny_orgs = {\"11111111-1111-4111-8111-111111111111\"} }\n"
	              "destination \"e\" { max_tlp = \"amber\" unmarked = \"green\" allow_tags = "
	              "{\"share:partners\"}\n"
	              "  allow_orgs = {\"22222222-2222-4222-8222-222222222222\"} }\n");
	struct sl_err err;
	struct {
		const char *dest, *obj;
		int go;
	} cases[] = {
	    {"d", "{\"type\":\"malware\",\"id\":\"malware--1\"}", 1},
	    {"d", "{\"type\":\"tool\",\"id\":\"tool--1\"}", 0},
	    {"d", "{\"type\":\"malware\",\"id\":\"malware--1\",\"labels\":[\"Internal:Only\"]}", 0},
	    {"d",
	     "{\"type\":\"malware\",\"id\":\"malware--1\",\"created_by_ref\":"
	     "\"identity--11111111-1111-4111-8111-111111111111\"}",
	     0},
	    {"e",
	     "{\"type\":\"tool\",\"id\":\"tool--1\",\"labels\":[\"share:partners\"],\"created_by_"
	     "ref\":"
	     "\"identity--22222222-2222-4222-8222-222222222222\"}",
	     1},
	    {"e",
	     "{\"type\":\"tool\",\"id\":\"tool--1\",\"created_by_ref\":"
	     "\"identity--22222222-2222-4222-8222-222222222222\"}",
	     0},
	    {"e", "{\"type\":\"tool\",\"id\":\"tool--1\",\"labels\":[\"share:partners\"]}", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = pt_json(cases[i].obj);
		struct sl_policy_decision *d = sl_policy_decide_stix(
		    sl_policy_dest_find(p, cases[i].dest), o, NULL, NOW, &err);
		if ((sl_policy_decision_verdict(d) != SL_POLICY_DENY) != cases[i].go)
			fail_msg("case %zu: %s", i, sl_policy_decision_rule(d));
		sl_policy_decision_free(d);
		json_decref(o);
	}
	sl_policy_free(p);
}

static void changes_never_touch_the_input(void **state)
{
	struct sl_policy *p = policy_with("redact", "kind = \"misp\" distribution = {2, 3}");
	json_t *o = pt_json(
	    "{\"type\":\"email-addr\",\"id\":\"email-addr--1\",\"value\":\"kim@example.org\","
	    "\"x_misp_distribution\":2,\"extensions\":{\"x\":{\"note\":\"no personal data\"}},"
	    "\"x_notes\":[\"kim@example.org\",\"other\"]}");
	json_t *before = json_deep_copy(o);
	struct sl_err err;
	struct sl_policy_decision *d =
	    sl_policy_decide_stix(sl_policy_dest_at(p, 0), o, NULL, NOW, &err);
	const json_t *out = sl_policy_decision_object(d);

	(void)state;
	assert_int_equal(sl_policy_decision_verdict(d), SL_POLICY_ALLOW_CHANGED);
	assert_true(json_equal(o, before));
	assert_false(pt_contains(out, "kim@example.org"));
	assert_true(pt_contains(json_object_get(out, "x_notes"), "other"));
	assert_int_equal(json_integer_value(json_object_get(out, "x_misp_distribution")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "x_misp_distribution")), 2);
	sl_policy_decision_free(d);
	json_decref(before);
	json_decref(o);
	sl_policy_free(p);
}

/* sl_gdpr_replaced_n (one pass, what a bundle's changed objects are built with) gives what
 * sl_gdpr_replaced gives applied once per value in the same order: nested objects and arrays,
 * identity keys and refs left alone, a later value found inside an earlier replacement, several
 * occurrences in one string; the input is never modified and unchanged parts are shared. */
static void one_pass_equals_one_pass_per_value(void **state)
{
	static const char *const objs[] = {
	    "{\"type\":\"indicator\",\"id\":\"indicator--a@b.example\",\"pattern\":"
	    "\"[email-addr:value = 'a@b.example'] OR [email-addr:value = 'A@b.example']\","
	    "\"description\":\"a@b.example and kim and 10.0.0.1, a@b.example\","
	    "\"created_by_ref\":\"identity--kim\",\"object_refs\":[\"x--kim\"],"
	    "\"labels\":[\"kim\",\"other\"],\"kill_chain_phases\":[{\"kill_chain_name\":\"kim\","
	    "\"phase_name\":\"10.0.0.1\",\"id\":\"kim\"}],\"x_n\":7,\"x_b\":true,"
	    "\"extensions\":{\"e\":{\"deep\":[[\"kim\"],{\"type\":\"kim\",\"v\":\"kim\"}]}}}",
	    "{\"type\":\"ipv4-addr\",\"id\":\"ipv4-addr--1\",\"value\":\"10.0.0.1\"}",
	    "{\"type\":\"note\",\"id\":\"note--1\",\"content\":\"nothing personal\","
	    "\"x\":[1,2,{\"y\":null}]}",
	};
	/* "pseudonym:kim" contains "kim": the second substitution rewrites the first's output */
	const struct sl_gdpr_sub subs[] = {
	    {"a@b.example", 11, "ps@pseudonym.invalid"},
	    {"10.0.0.1", 8, "[redacted:ip-address]"},
	    {"kim", 3, "pseudonym:kim"},
	    {"pseudonym", 9, "[redacted:person-name]"},
	};
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		for (n = 0; n <= sizeof(subs) / sizeof(subs[0]); n++) {
			json_t *o = pt_json(objs[i]), *before = json_deep_copy(o);
			json_t *seq = json_incref(o), *one = sl_gdpr_replaced_n(o, subs, n, NULL),
			       *nx;
			size_t k;
			for (k = 0; k < n; k++) {
				nx = sl_gdpr_replaced(seq, subs[k].value, subs[k].with, NULL);
				assert_non_null(nx);
				json_decref(seq);
				seq = nx;
			}
			assert_non_null(one);
			if (!json_equal(one, seq)) {
				char *a = json_dumps(one, JSON_SORT_KEYS),
				     *b = json_dumps(seq, JSON_SORT_KEYS);
				fail_msg("object %zu, %zu substitutions:\n%s\n%s", i, n, a, b);
			}
			/* the members found touched by one set of replacements are the ones others
			 * of the same values touch: a second build through the filter (other
			 * with-strings, as a second destination's) is what a full pass gives */
			{
				struct sl_gdpr_sub other[4];
				struct sl_gdpr_touched t = {0, 0};
				json_t *first = sl_gdpr_replaced_n(o, subs, n, &t), *second, *full;
				assert_non_null(first);
				assert_true(json_equal(first, one));
				assert_true(t.known || n == 0);
				for (k = 0; k < n; k++) {
					other[k] = subs[k];
					other[k].with = k % 2 ? "[x]" : "pseudonym:other";
				}
				second = sl_gdpr_replaced_n(o, other, n, &t);
				full = sl_gdpr_replaced_n(o, other, n, NULL);
				assert_non_null(second);
				assert_true(json_equal(second, full));
				json_decref(first);
				json_decref(second);
				json_decref(full);
			}
			assert_true(json_equal(o, before));
			/* nothing changed: the input itself */
			if (json_equal(o, seq))
				assert_ptr_equal(one, o);
			json_decref(one);
			json_decref(seq);
			json_decref(before);
			json_decref(o);
		}
	/* a substitution that is not one: refused, not looped on */
	{
		const struct sl_gdpr_sub bad[] = {{"", 0, "x"}};
		json_t *o = pt_json(objs[1]);
		assert_null(sl_gdpr_replaced_n(o, bad, 1, NULL));
		json_decref(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(keep_leaves_it),
	    cmocka_unit_test(pseudonymiser_matches_hmac),
	    cmocka_unit_test(pseudonymiser_key_lengths),
	    cmocka_unit_test(drop_withholds_the_object),
	    cmocka_unit_test(redact_keeps_the_object),
	    cmocka_unit_test(pseudonymise_is_keyed_stable_and_consistent),
	    cmocka_unit_test(pseudonyms_differ_per_key),
	    cmocka_unit_test(each_category_is_found),
	    cmocka_unit_test(ip_addresses_are_personal_only_when_the_policy_says),
	    cmocka_unit_test(misp_event_person_object_and_attributes),
	    cmocka_unit_test(retention_by_modified),
	    cmocka_unit_test(erasure_removes_every_occurrence),
	    cmocka_unit_test(keyed_hash_for_audit_rows),
	    cmocka_unit_test(tag_type_and_org_lists),
	    cmocka_unit_test(changes_never_touch_the_input),
	    cmocka_unit_test(one_pass_equals_one_pass_per_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
