/* test_json.c — bounded JSON input: size and depth limits, error positions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

static void parses_valid_json(void **state)
{
	struct sl_err e;
	json_t *v = sl_json_parse("{\"a\":[1,2]}", 11, NULL, "t", &e);
	assert_non_null(v);
	assert_int_equal(json_array_size(json_object_get(v, "a")), 2);
	json_decref(v);
}

static void malformed_names_line_and_column(void **state)
{
	struct sl_err e;
	const char *doc = "{\n  \"a\": [1,\n  }";
	assert_null(sl_json_parse(doc, strlen(doc), NULL, "feed.json", &e));
	assert_int_equal(e.code, SL_EINVAL);
	assert_non_null(strstr(e.where, "feed.json:3:"));
	assert_non_null(strstr(e.msg, "malformed JSON"));
}

static void deep_nesting_is_refused(void **state)
{
	struct sl_err e;
	size_t n = 1000, i;
	char *doc = malloc(2 * n + 1);
	for (i = 0; i < n; i++) {
		doc[i] = '[';
		doc[2 * n - 1 - i] = ']';
	}
	doc[2 * n] = '\0';
	assert_null(sl_json_parse(doc, 2 * n, NULL, "deep", &e));
	assert_int_equal(e.code, SL_ELIMIT);
	assert_non_null(strstr(e.msg, "deeper than 64"));
	free(doc);
}

static void brackets_in_strings_do_not_count(void **state)
{
	struct sl_err e;
	struct sl_json_limits lim = {1024, 2};
	const char *doc = "{\"a\":\"[[[[[[\\\"[[[\"}";
	json_t *v = sl_json_parse(doc, strlen(doc), &lim, "s", &e);
	assert_non_null(v);
	json_decref(v);
}

static void oversize_is_refused_before_parsing(void **state)
{
	struct sl_err e;
	struct sl_json_limits lim = {10, 8};
	assert_null(sl_json_parse("[1,2,3,4,5,6]", 13, &lim, "big", &e));
	assert_int_equal(e.code, SL_ELIMIT);
}

static void duplicate_keys_are_refused(void **state)
{
	struct sl_err e;
	assert_null(sl_json_parse("{\"a\":1,\"a\":2}", 13, NULL, "dup", &e));
	assert_int_equal(e.code, SL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_valid_json),
		cmocka_unit_test(malformed_names_line_and_column),
		cmocka_unit_test(deep_nesting_is_refused),
		cmocka_unit_test(brackets_in_strings_do_not_count),
		cmocka_unit_test(oversize_is_refused_before_parsing),
		cmocka_unit_test(duplicate_keys_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
