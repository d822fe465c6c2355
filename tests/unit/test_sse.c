/* test_sse.c — the event-stream parser: OpenCTI-shaped streams split at every byte boundary give
 * the same events; line endings, comments, ids, retry; bounded lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sse.h"

struct seen {
	char log[4096];
	size_t len;
	int n;
	int stop_after;
};

static int record(const struct sl_sse_event *ev, void *arg)
{
	struct seen *s = arg;

	s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len, "[%s|%s|%s|%ld]",
	                           ev->type, ev->id, ev->data, ev->retry_ms);
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

/* OpenCTI's first frame, a create event spanning two data lines, a comment, a heartbeat. */
static const char stream[] = "\xef\xbb\xbf: hello\r\n"
                             "event: connected\r\n"
                             "data: {\"connectionId\":\"abc\"}\r\n"
                             "\r\n"
                             "id: 1711633413527-0\n"
                             "event: create\n"
                             "data: {\"a\":1,\n"
                             "data:\"b\":2}\n"
                             "retry: 5000\n"
                             "\n"
                             ": keep-alive\r"
                             "\r"
                             "id: 1711633413527-1\r"
                             "event: heartbeat\r"
                             "data: \"2024-03-28T13:43:33.527Z\"\r"
                             "\r"
                             "data\n"
                             "\n"
                             "id: ignored-without-data\n"
                             "\n"
                             "data: trailing event never terminated";

static const char expect[] = "[connected||{\"connectionId\":\"abc\"}|-1]"
                             "[create|1711633413527-0|{\"a\":1,\n\"b\":2}|5000]"
                             "[heartbeat|1711633413527-1|\"2024-03-28T13:43:33.527Z\"|-1]"
                             "[message|1711633413527-1||-1]";

static void whole_stream(void **state)
{
	struct seen s = {0};
	struct sl_sse *p = sl_sse_new(0, 0, record, &s);
	struct sl_err err;

	assert_int_equal(sl_sse_feed(p, stream, sizeof(stream) - 1, &err), 0);
	assert_string_equal(s.log, expect);
	/* an id line alone changes the resume point even without an event */
	assert_string_equal(sl_sse_last_id(p), "ignored-without-data");
	sl_sse_free(p);
}

static void split_at_every_byte_boundary(void **state)
{
	size_t len = sizeof(stream) - 1, cut, cut2;
	struct sl_err err;

	for (cut = 0; cut <= len; cut++) {
		struct seen s = {0};
		struct sl_sse *p = sl_sse_new(0, 0, record, &s);

		assert_int_equal(sl_sse_feed(p, stream, cut, &err), 0);
		assert_int_equal(sl_sse_feed(p, stream + cut, len - cut, &err), 0);
		if (strcmp(s.log, expect) != 0)
			fail_msg("split at %zu: got %s", cut, s.log);
		sl_sse_free(p);
	}
	/* and one byte at a time, plus a three-way split */
	{
		struct seen s = {0};
		struct sl_sse *p = sl_sse_new(0, 0, record, &s);

		for (cut = 0; cut < len; cut++)
			assert_int_equal(sl_sse_feed(p, stream + cut, 1, &err), 0);
		assert_string_equal(s.log, expect);
		sl_sse_free(p);
	}
	for (cut = 0; cut <= len; cut += 7)
		for (cut2 = cut; cut2 <= len; cut2 += 5) {
			struct seen s = {0};
			struct sl_sse *p = sl_sse_new(0, 0, record, &s);

			assert_int_equal(sl_sse_feed(p, stream, cut, &err), 0);
			assert_int_equal(sl_sse_feed(p, stream + cut, cut2 - cut, &err), 0);
			assert_int_equal(sl_sse_feed(p, stream + cut2, len - cut2, &err), 0);
			assert_string_equal(s.log, expect);
			sl_sse_free(p);
		}
}

static void callback_can_stop(void **state)
{
	struct seen s = {.stop_after = 2};
	struct sl_sse *p = sl_sse_new(0, 0, record, &s);
	struct sl_err err;

	assert_int_equal(sl_sse_feed(p, stream, sizeof(stream) - 1, &err), 7);
	assert_int_equal(s.n, 2);
	sl_sse_free(p);
}

static int keep_len(const struct sl_sse_event *ev, void *arg)
{
	*(size_t *)arg = ev->data_len;
	return strlen(ev->data) == ev->data_len ? 0 : -1;
}

static void big_events_are_whole(void **state)
{
	static char line[3000];
	size_t got = 0;
	struct sl_sse *p = sl_sse_new(0, 0, keep_len, &got);
	struct sl_err err;
	int i;

	memset(line, 'y', sizeof(line));
	memcpy(line, "data: ", 6);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 40; i++) /* 40 lines of 2993 bytes: far past the first buffer */
		assert_int_equal(sl_sse_feed(p, line, sizeof(line), &err), 0);
	assert_int_equal(sl_sse_feed(p, "\n", 1, &err), 0);
	assert_int_equal(got, 40 * 2993 + 39);
	sl_sse_free(p);
}

static void long_lines_and_events_are_refused(void **state)
{
	struct seen s = {0};
	struct sl_sse *p = sl_sse_new(16, 64, record, &s);
	struct sl_err err;
	char big[100];

	assert_int_equal(sl_sse_feed(p, "data: short\n\n", 13, &err), 0);
	assert_int_equal(s.n, 1);
	memset(big, 'x', sizeof(big));
	assert_int_equal(sl_sse_feed(p, big, sizeof(big), &err), SL_ELIMIT);
	assert_non_null(strstr(err.msg, "line longer than 16"));
	/* a failed parser refuses more input instead of resynchronising mid-line */
	assert_int_equal(sl_sse_feed(p, "\n\n", 2, &err), SL_EINVAL);
	sl_sse_free(p);

	p = sl_sse_new(16, 20, record, &s);
	assert_int_equal(sl_sse_feed(p, "data: 0123456789\ndata: 0123456789\n", 34, &err),
	                 SL_ELIMIT);
	assert_non_null(strstr(err.msg, "event data longer than 20"));
	sl_sse_free(p);
	sl_sse_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(whole_stream),
	    cmocka_unit_test(split_at_every_byte_boundary),
	    cmocka_unit_test(callback_can_stop),
	    cmocka_unit_test(big_events_are_whole),
	    cmocka_unit_test(long_lines_and_events_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
