/* test_err.c — the error value: codes, where-paths, and scrubbing of hostile text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"

static void set_returns_code_and_fills(void **state)
{
	struct sl_err e;
	assert_int_equal(sl_err_set(&e, SL_EINVAL, "event 1", "bad %s", "value"), SL_EINVAL);
	assert_int_equal(e.code, SL_EINVAL);
	assert_string_equal(e.where, "event 1");
	assert_string_equal(e.msg, "bad value");
	assert_int_equal(sl_err_set(NULL, SL_EIO, NULL, "x"), SL_EIO);
}

static void control_characters_are_scrubbed(void **state)
{
	struct sl_err e;
	sl_err_set(&e, SL_EINVAL, "a\nb", "line\r\nforged\x1b[31m");
	assert_null(strchr(e.msg, '\n'));
	assert_null(strchr(e.msg, '\x1b'));
	assert_string_equal(e.where, "a?b");
}

static void prefix_builds_a_path(void **state)
{
	struct sl_err e;
	sl_err_set(&e, SL_EINVAL, "attribute 2", "x");
	sl_err_prefix_where(&e, "event 1");
	assert_string_equal(e.where, "event 1/attribute 2");
	sl_err_clear(&e);
	sl_err_prefix_where(&e, "event 1");
	assert_string_equal(e.where, "event 1");
}

static void quote_truncates_long_values(void **state)
{
	char big[10000], out[64];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sl_err_quote(out, sizeof(out), big, 40);
	assert_int_equal(strlen(out), 43);
	assert_string_equal(out + 40, "...");
	sl_err_quote(out, sizeof(out), "ok\tx", 40);
	assert_string_equal(out, "ok?x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_returns_code_and_fills),
		cmocka_unit_test(control_characters_are_scrubbed),
		cmocka_unit_test(prefix_builds_a_path),
		cmocka_unit_test(quote_truncates_long_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
