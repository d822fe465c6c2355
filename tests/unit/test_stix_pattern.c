/* test_stix_pattern.c — pattern values are escaped so no input breaks its literal, and the
 * validator accepts the STIX 2.1 grammar and refuses what is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stix_pattern.h"

static void escapes_quotes_and_backslashes(void **state)
{
	struct sl_pattern *p = sl_pattern_new();
	const char *v = "C:\\it's\\";

	(void)state;
	assert_int_equal(sl_pattern_add(p, "file:name", v, strlen(v)), 0);
	assert_string_equal(sl_pattern_str(p), "[file:name = 'C:\\\\it\\'s\\\\']");
	assert_int_equal(sl_pattern_validate(sl_pattern_str(p), NULL), 0);
	sl_pattern_free(p);
}

/* Hostile values: a quote that would close the literal and inject a comparison, a trailing
 * backslash, control characters, NUL-free binary. Every result must still be one valid comparison.
 */
static void hostile_values_stay_inside_the_literal(void **state)
{
	static const char *vals[] = {
	    "x' OR file:name = 'y", "\\", "'", "\\'", "a]b[c", "\n\t\r", "' AND [", "%APPDATA%\\x"};
	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct sl_pattern *p = sl_pattern_new();
		struct sl_err e;
		assert_int_equal(sl_pattern_add(p, "file:name", vals[i], strlen(vals[i])), 0);
		assert_int_equal(sl_pattern_add_pct(p, "windows-registry-key:values.data", vals[i],
		                                    strlen(vals[i])),
		                 0);
		assert_int_equal(sl_pattern_validate(sl_pattern_str(p), &e), 0);
		sl_pattern_free(p);
	}
}

static void pct_escaping_as_misp_stix(void **state)
{
	struct sl_pattern *p = sl_pattern_new();
	const char *v = "%APPDATA%\\bravo.exe";

	(void)state;
	sl_pattern_add_pct(p, "windows-registry-key:values.data", v, strlen(v));
	assert_string_equal(
	    sl_pattern_str(p),
	    "[windows-registry-key:values.data = '\\\\%APPDATA\\\\%\\\\bravo.exe']");
	sl_pattern_free(p);
}

static void groups_and_joins(void **state)
{
	struct sl_pattern *p = sl_pattern_new();

	(void)state;
	assert_null(sl_pattern_str(p)); /* nothing added: no pattern */
	sl_pattern_group_begin(p);
	sl_pattern_add(p, "network-traffic:dst_ref.type", "ipv4-addr", 9);
	sl_pattern_add(p, "network-traffic:dst_ref.value", "1.2.3.4", 7);
	sl_pattern_group_end(p);
	sl_pattern_group_begin(p); /* empty groups vanish */
	sl_pattern_group_end(p);
	sl_pattern_add(p, "network-traffic:dst_port", "443", 3);
	assert_string_equal(sl_pattern_str(p), "[(network-traffic:dst_ref.type = 'ipv4-addr' AND "
	                                       "network-traffic:dst_ref.value = '1.2.3.4') AND "
	                                       "network-traffic:dst_port = '443']");
	assert_int_equal(sl_pattern_count(p), 3);
	assert_int_equal(sl_pattern_validate(sl_pattern_str(p), NULL), 0);
	sl_pattern_reset(p);
	assert_null(sl_pattern_str(p));
	sl_pattern_free(p);
}

static void validator_accepts_grammar(void **state)
{
	static const char *ok[] = {
	    "[file:hashes.'SHA-256' = 'abc']",
	    "[file:hashes.MD5 = 'a' OR file:name != 'b']",
	    "[network-traffic:dst_port > 1024 AND network-traffic:protocols[*] = 'tcp']",
	    "[email-message:to_refs[0].value LIKE '%@example.com']",
	    "[domain-name:value MATCHES '^evil'] FOLLOWEDBY [url:value = 'x']",
	    "([ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value ISSUBSET '10.0.0.0/8']) "
	    "WITHIN 300 SECONDS",
	    "[file:size IN (1, 2, 3)] REPEATS 2 TIMES",
	    "[x-misp:foo NOT = true] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
	    "[artifact:payload_bin = b'aGVsbG8=' AND file:hashes.MD5 = h'00ff']",
	    "[EXISTS windows-registry-key:values]",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sl_err e;
		int r = sl_pattern_validate(ok[i], &e);
		if (r != 0)
			fail_msg("rejected %s: %s (%s)", ok[i], e.msg, e.where);
	}
}

static void validator_refuses_broken(void **state)
{
	static const char *bad[] = {
	    "",
	    "file:name = 'x'",
	    "[file:name = 'x'",
	    "[file:name = 'x]",
	    "[file:name = 'it's']",
	    "[file:name = 'a\\b']",
	    "[file:name 'x']",
	    "[File:name = 'x']",
	    "[file:name = 'x'] extra",
	    "[rule r { strings: $a = \"x\" condition: $a }]",
	    "[file:name = 'x' AND]",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sl_err e;
		sl_err_clear(&e);
		if (sl_pattern_validate(bad[i], &e) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(e.code, SL_EINVAL);
		assert_non_null(strstr(e.where, "offset"));
	}
}

static void validator_bounded_depth(void **state)
{
	size_t n = 5000;
	char *s = malloc(2 * n + 40);
	struct sl_err e;

	(void)state;
	memset(s, '(', n);
	strcpy(s + n, "[file:name = 'x']");
	memset(s + n + 17, ')', n);
	s[2 * n + 17] = '\0';
	assert_int_equal(sl_pattern_validate(s, &e), SL_EINVAL);
	assert_non_null(strstr(e.msg, "deep"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(escapes_quotes_and_backslashes),
	    cmocka_unit_test(hostile_values_stay_inside_the_literal),
	    cmocka_unit_test(pct_escaping_as_misp_stix),
	    cmocka_unit_test(groups_and_joins),
	    cmocka_unit_test(validator_accepts_grammar),
	    cmocka_unit_test(validator_refuses_broken),
	    cmocka_unit_test(validator_bounded_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
