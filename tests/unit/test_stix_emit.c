/* test_stix_emit.c — the fast serialiser writes exactly what json_dumps(v, JSON_COMPACT) writes:
 * every ASCII byte and escape, valid and invalid UTF-8, embedded NULs, numbers, nesting and key
 * order; it refuses what jansson refuses and keeps its bounds. jansson itself is the oracle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stix_emit.h"

/* emit(v) must equal json_dumps(v, JSON_COMPACT), including both failing */
static void same_as_jansson(const json_t *v)
{
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t len = 0;
	char *got = sl_stix_emit_dumps(v, &len);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(want);
	free(got);
}

static void every_ascii_byte_escaped_as_jansson(void **state)
{
	(void)state;
	for (int b = 0; b < 0x80; b++) {
		char s[3] = {'a', (char)b, 'z'};
		json_t *v = json_stringn(s, 3);
		assert_non_null(v);
		same_as_jansson(v);
		json_t *o = json_object();
		json_object_setn_new(o, s, 3, json_integer(b)); /* keys are escaped the same way */
		same_as_jansson(o);
		json_decref(o);
		json_decref(v);
	}
	/* at every offset of a longer string, so word-at-a-time scanning cannot skip it */
	for (int b = 0; b < 0x80; b++)
		for (int at = 0; at < 20; at++) {
			char s[21] = "abcdefghijklmnopqrst";
			s[at] = (char)b;
			json_t *v = json_stringn(s, 20);
			same_as_jansson(v);
			json_decref(v);
			/* and a multi-byte character there instead */
			memcpy(s + (at < 18 ? at : 17), "\xe2\x82\xac", 3);
			v = json_stringn(s, 20);
			same_as_jansson(v);
			json_decref(v);
		}
	json_t *all = json_stringn("\x01\b\f\n\r\t\"\\/\x1f\x7f end", 15);
	same_as_jansson(all);
	json_decref(all);
}

static void utf8_valid_kept_invalid_refused(void **state)
{
	static const char *valid[] = {
	    "\xc2\xa9",         "\xe2\x82\xac",          "\xef\xbf\xbf", "\xf0\x9f\x98\x80",
	    "\xf4\x8f\xbf\xbf", "\xe2\x80\xa8 line sep", "\xdf\xbf"};
	static const char *invalid[] = {
	    "\x80",         "\xc0\xaf",         "\xc1\xbf",         "\xe0\x80\xaf",
	    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xc2",
	    "\xe2\x82",     "ok\xff",           "\xf0\x8f\xbf\xbf",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		json_t *v = json_string(valid[i]);
		assert_non_null(v);
		same_as_jansson(v);
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		/* only _nocheck can build such a string; json_dumps then fails, and so must we */
		json_t *v = json_pack("{s:s, s:o}", "id", "x", "bad",
		                      json_stringn_nocheck(invalid[i], strlen(invalid[i])));
		assert_null(json_dumps(v, JSON_COMPACT));
		struct sl_stix_emit *e = sl_stix_emit_new(0);
		struct sl_err err;
		assert_int_equal(sl_stix_emit_raw(e, "[", 1, &err), 0);
		assert_int_equal(sl_stix_emit_value(e, v, &err), SL_EINVAL);
		assert_string_equal(err.where, "output");
		assert_non_null(strstr(err.msg, "UTF-8"));
		size_t len;
		/* what was there before the failed value is kept, nothing of the value */
		assert_string_equal(sl_stix_emit_data(e, &len), "[");
		assert_int_equal(len, 1);
		sl_stix_emit_free(e);
		json_decref(v);
	}
}

static void embedded_nul_and_long_strings(void **state)
{
	(void)state;
	json_t *v = json_stringn("a\0b\0", 4);
	same_as_jansson(v);
	json_decref(v);
	/* long enough to outgrow the initial buffer, with escapes spread through it */
	size_t n = 300000;
	char *s = malloc(n);
	for (size_t i = 0; i < n; i++)
		s[i] = i % 97 == 0 ? '\n' : i % 89 == 0 ? '"' : (char)('a' + i % 26);
	v = json_stringn(s, n);
	same_as_jansson(v);
	json_decref(v);
	free(s);
}

static void numbers_literals_nesting_order(void **state)
{
	(void)state;
	json_t *v = json_pack("{s:I, s:I, s:i, s:f, s:f, s:f, s:b, s:b, s:n, s:[], s:{}, "
	                      "s:[{s:[i, {s:s}]}, []], s:s}",
	                      "max", (json_int_t)INT64_MAX, "min", (json_int_t)INT64_MIN, "zero", 0,
	                      "pi", 3.14159, "big", 1e300, "whole", 2.0, "t", 1, "f", 0, "null",
	                      "ea", "eo", "deep", "x", 7, "y", "z", "\xc3\xa9t\xc3\xa9", "v");
	assert_non_null(v);
	same_as_jansson(v);
	/* insertion order, not sorted: a key set last comes last */
	json_object_set_new(v, "aaa", json_integer(-42));
	same_as_jansson(v);
	json_decref(v);
	json_t *arr = json_array();
	for (int i = 0; i < 1000; i++)
		json_array_append_new(arr, json_integer(i * 7919 - 3000000));
	same_as_jansson(arr);
	json_decref(arr);
}

static void bounded_output(void **state)
{
	struct sl_err err;
	(void)state;
	struct sl_stix_emit *e = sl_stix_emit_new(64);
	json_t *small = json_pack("{s:s}", "id", "indicator--1");
	json_t *big = json_pack("{s:s}", "value",
	                        "0123456789012345678901234567890123456789"
	                        "0123456789012345678901234567890123456789");
	assert_int_equal(sl_stix_emit_value(e, small, &err), 0);
	assert_int_equal(sl_stix_emit_value(e, big, &err), SL_ELIMIT);
	assert_string_equal(err.where, "output");
	assert_non_null(strstr(err.msg, "64 bytes"));
	size_t len;
	/* the value that fit is intact, the one that did not left nothing behind */
	assert_string_equal(sl_stix_emit_data(e, &len), "{\"id\":\"indicator--1\"}");
	/* after a flush, room again */
	FILE *f = tmpfile();
	assert_int_equal(sl_stix_emit_flush(e, f, &err), 0);
	assert_int_equal(sl_stix_emit_data(e, &len)[0], '\0');
	assert_int_equal(len, 0);
	assert_int_equal(sl_stix_emit_value(e, small, &err), 0);
	assert_int_equal(sl_stix_emit_flush(e, f, &err), 0);
	char back[128] = "";
	rewind(f);
	assert_int_equal(fread(back, 1, sizeof(back) - 1, f), 42);
	assert_string_equal(back, "{\"id\":\"indicator--1\"}{\"id\":\"indicator--1\"}");
	fclose(f);
	json_decref(small);
	json_decref(big);
	sl_stix_emit_free(e);
	sl_stix_emit_free(NULL);
}

/* with a sink, a huge value goes out in blocks and the bytes are still exactly jansson's */
static void sink_writes_blocks(void **state)
{
	struct sl_err err;
	(void)state;
	json_t *refs = json_array();
	for (int i = 0; i < 20000; i++) {
		char id[64];
		snprintf(id, sizeof(id), "indicator--%08d-0000-4000-8000-00000000%04d", i,
		         i % 9999);
		json_array_append_new(refs, json_string(id));
	}
	json_t *container = json_pack("{s:s, s:o}", "type", "report", "object_refs", refs);
	char *want = json_dumps(container, JSON_COMPACT);
	FILE *f = tmpfile();
	struct sl_stix_emit *e = sl_stix_emit_new(0);
	sl_stix_emit_set_sink(e, f, 1024);
	assert_int_equal(sl_stix_emit_raw(e, "[", 1, &err), 0);
	assert_int_equal(sl_stix_emit_value(e, container, &err), 0);
	size_t held;
	sl_stix_emit_data(e, &held);
	assert_true(held < 4096 + 1024); /* a block or the first 4 KiB, not the 1 MB value */
	assert_int_equal(sl_stix_emit_raw(e, "]", 1, &err), 0);
	assert_int_equal(sl_stix_emit_flush(e, f, &err), 0);
	long n = ftell(f);
	assert_int_equal(n, (long)strlen(want) + 2);
	char *got = malloc((size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(got, 1, (size_t)n, f), (size_t)n);
	got[n] = '\0';
	assert_int_equal(got[0], '[');
	assert_int_equal(got[n - 1], ']');
	assert_memory_equal(got + 1, want, strlen(want));
	free(got);
	free(want);
	fclose(f);
	sl_stix_emit_free(e);
	json_decref(container);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_ascii_byte_escaped_as_jansson),
	    cmocka_unit_test(utf8_valid_kept_invalid_refused),
	    cmocka_unit_test(embedded_nul_and_long_strings),
	    cmocka_unit_test(numbers_literals_nesting_order),
	    cmocka_unit_test(bounded_output),
	    cmocka_unit_test(sink_writes_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
