/* test_misp_feed.c — MISP feeds: manifest planning, hashes.csv checks, the atomic writer, and that
 * what the writer makes is what a reader (and MISP) expects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "json.h"
#include "misp_feed.h"

#define U1 "5f1a1111-1111-4111-8111-111111111111"
#define U2 "5f1a2222-2222-4222-8222-222222222222"
#define U3 "5f1a3333-3333-4333-8333-333333333333"

static void md5_matches_known_vectors(void **state)
{
	char out[33];
	sl_feed_value_md5("", 0, out);
	assert_string_equal(out, "d41d8cd98f00b204e9800998ecf8427e");
	sl_feed_value_md5("abc", 3, out);
	assert_string_equal(out, "900150983cd24fb0d6963f7d28e17f72");
}

static void manifest_plans_only_changed_events(void **state)
{
	const char *doc = "{\"" U1 "\":{\"timestamp\":\"1700000000\",\"info\":\"a\"},"
	                  "\"" U2 "\":{\"timestamp\":1700000500},"
	                  "\"" U3 "\":{\"timestamp\":1700000900}}";
	struct sl_feed_manifest *m;
	struct sl_err e;
	json_t *seen, *todo;

	assert_int_equal(sl_feed_manifest_parse(doc, strlen(doc), &m, &e), 0);
	assert_int_equal(sl_feed_manifest_count(m), 3);
	assert_string_equal(sl_feed_manifest_uuid(m, 0), U1);
	assert_int_equal(sl_feed_manifest_timestamp(m, 0), 1700000000);

	/* U1 unchanged, U2 changed since, U3 never seen. */
	seen = json_pack("{s:I,s:I}", U1, (json_int_t)1700000000, U2, (json_int_t)1600000000);
	todo = sl_feed_changed(m, seen);
	assert_int_equal(json_array_size(todo), 2);
	assert_string_equal(json_string_value(json_array_get(todo, 0)), U2);
	assert_string_equal(json_string_value(json_array_get(todo, 1)), U3);
	json_decref(todo);
	todo = sl_feed_changed(m, NULL);
	assert_int_equal(json_array_size(todo), 3);
	json_decref(todo);
	json_decref(seen);
	sl_feed_manifest_free(m);
}

static void manifest_errors_name_the_entry(void **state)
{
	struct sl_feed_manifest *m;
	struct sl_err e;
	const char *bad_key = "{\"not-a-uuid\":{\"timestamp\":1}}";
	const char *no_ts = "{\"" U1 "\":{\"info\":\"x\"}}";
	const char *not_obj = "[1,2]";

	assert_int_equal(sl_feed_manifest_parse(bad_key, strlen(bad_key), &m, &e), SL_EINVAL);
	assert_non_null(strstr(e.msg, "not-a-uuid"));
	assert_int_equal(sl_feed_manifest_parse(no_ts, strlen(no_ts), &m, &e), SL_EINVAL);
	assert_non_null(strstr(e.msg, U1));
	assert_non_null(strstr(e.msg, "timestamp"));
	assert_int_equal(sl_feed_manifest_parse(not_obj, strlen(not_obj), &m, &e), SL_EINVAL);
	assert_int_equal(sl_feed_manifest_parse("{", 1, &m, &e), SL_EINVAL);
	assert_non_null(strstr(e.where, "manifest.json"));
}

static json_t *event(const char *uuid, long long ts, const char *domain)
{
	json_t *ev =
	    json_pack("{s:{s:s,s:s,s:s,s:I,s:s,s:s,s:{s:s,s:s},s:[{s:s}],"
	              "s:[{s:s,s:s,s:s},{s:s,s:s,s:s}],"
	              "s:[{s:s,s:[{s:s,s:s,s:s}]}]}}",
	              "Event", "uuid", uuid, "info", "test event", "date", "2023-11-14",
	              "timestamp", (json_int_t)ts, "analysis", "2", "threat_level_id", "1", "Orgc",
	              "name", "CERT-X", "uuid", U3, "Tag", "name", "tlp:green", "Attribute", "uuid",
	              "aaaaaaaa-0000-4000-8000-000000000001", "type", "domain", "value", domain,
	              "uuid", "aaaaaaaa-0000-4000-8000-000000000002", "type", "ip-dst|port",
	              "value", "198.51.100.7|443", "Object", "name", "file", "Attribute", "uuid",
	              "aaaaaaaa-0000-4000-8000-000000000003", "type", "md5", "value",
	              "900150983cd24fb0d6963f7d28e17f72");
	assert_non_null(ev);
	return ev;
}

static void hashes_check_composites_and_objects(void **state)
{
	char d[33], ip[33], port[33], md[33], csv[1024];
	struct sl_feed_hashes *h;
	struct sl_err e;
	json_t *ev = event(U1, 1700000000, "evil.example");

	sl_feed_value_md5("evil.example", 12, d);
	sl_feed_value_md5("198.51.100.7", 12, ip);
	sl_feed_value_md5("443", 3, port);
	sl_feed_value_md5("900150983cd24fb0d6963f7d28e17f72", 32, md);
	snprintf(csv, sizeof(csv), "%s," U1 "\n%s," U1 "\r\n%s," U1 "\n%s," U1 "\n", d, ip, port,
	         md);
	assert_int_equal(sl_feed_hashes_parse(csv, strlen(csv), &h, &e), 0);
	assert_int_equal(sl_feed_event_check(h, ev, &e), 0);
	sl_feed_hashes_free(h);

	/* Drop the port's hash: the check names the composite attribute. */
	snprintf(csv, sizeof(csv), "%s," U1 "\n%s," U1 "\n%s," U1 "\n", d, ip, md);
	assert_int_equal(sl_feed_hashes_parse(csv, strlen(csv), &h, &e), 0);
	assert_int_equal(sl_feed_event_check(h, ev, &e), SL_EINVAL);
	assert_string_equal(e.where, "event " U1 "/attribute aaaaaaaa-0000-4000-8000-000000000002");
	sl_feed_hashes_free(h);
	json_decref(ev);
}

static void hashes_malformed_line_is_named(void **state)
{
	struct sl_feed_hashes *h;
	struct sl_err e;
	const char *csv = "d41d8cd98f00b204e9800998ecf8427e," U1 "\nnot a hash line\n";
	assert_int_equal(sl_feed_hashes_parse(csv, strlen(csv), &h, &e), SL_EINVAL);
	assert_string_equal(e.where, "hashes.csv:2");
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512], *buf;
	struct sl_err e;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (sl_json_slurp(path, 1 << 24, &buf, len, &e) < 0)
		return NULL;
	return buf;
}

static void writer_output_reads_back(void **state)
{
	char dir[] = "/tmp/sl-feed-XXXXXX";
	struct sl_feed_writer *w;
	struct sl_feed_manifest *m;
	struct sl_feed_hashes *h;
	struct sl_err e;
	json_t *e1 = event(U1, 1700000000, "one.example"),
	       *e2 = event(U2, 1700000100, "two.example");
	json_t *e1b = event(U1, 1700000200, "one-b.example"), *back;
	char *buf;
	size_t len;

	assert_non_null(mkdtemp(dir));
	w = sl_feed_writer_open(dir, &e);
	assert_non_null(w);
	assert_int_equal(sl_feed_writer_put(w, e1, &e), 0);
	assert_int_equal(sl_feed_writer_put(w, e2, &e), 0);
	assert_int_equal(sl_feed_writer_commit(w, &e), 0);
	sl_feed_writer_free(w);

	/* A second writer (a restart) updates one event and keeps the other. */
	w = sl_feed_writer_open(dir, &e);
	assert_non_null(w);
	assert_int_equal(sl_feed_writer_put(w, e1b, &e), 0);
	assert_int_equal(sl_feed_writer_commit(w, &e), 0);
	sl_feed_writer_free(w);

	buf = slurp(dir, "manifest.json", &len);
	assert_non_null(buf);
	assert_int_equal(sl_feed_manifest_parse(buf, len, &m, &e), 0);
	free(buf);
	assert_int_equal(sl_feed_manifest_count(m), 2);
	assert_string_equal(sl_feed_manifest_uuid(m, 0), U1);
	assert_int_equal(sl_feed_manifest_timestamp(m, 0), 1700000200);
	sl_feed_manifest_free(m);

	buf = slurp(dir, "hashes.csv", &len);
	assert_non_null(buf);
	assert_int_equal(sl_feed_hashes_parse(buf, len, &h, &e), 0);
	free(buf);
	assert_int_equal(sl_feed_event_check(h, e1b, &e), 0);
	assert_int_equal(sl_feed_event_check(h, e2, &e), 0);
	/* The old version's domain is gone from hashes.csv. */
	assert_int_equal(sl_feed_event_check(h, e1, &e), SL_EINVAL);
	sl_feed_hashes_free(h);

	buf = slurp(dir, U2 ".json", &len);
	assert_non_null(buf);
	back = sl_json_parse(buf, len, NULL, "event", &e);
	free(buf);
	assert_true(json_equal(back, e2));
	json_decref(back);

	/* Removal takes the event out of the manifest, the hashes and the folder. */
	w = sl_feed_writer_open(dir, &e);
	assert_int_equal(sl_feed_writer_remove(w, U2, &e), 0);
	assert_int_equal(sl_feed_writer_commit(w, &e), 0);
	sl_feed_writer_free(w);
	buf = slurp(dir, "manifest.json", &len);
	assert_null(strstr(buf, U2));
	free(buf);
	buf = slurp(dir, "hashes.csv", &len);
	assert_null(strstr(buf, U2));
	free(buf);
	assert_null(slurp(dir, U2 ".json", &len));

	json_decref(e1);
	json_decref(e1b);
	json_decref(e2);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

static void writer_refuses_events_without_uuid(void **state)
{
	char dir[] = "/tmp/sl-feed-XXXXXX";
	struct sl_feed_writer *w;
	struct sl_err e;
	json_t *bad = json_pack("{s:{s:s,s:I}}", "Event", "uuid", "../../etc/passwd", "timestamp",
	                        (json_int_t)1);

	assert_non_null(mkdtemp(dir));
	w = sl_feed_writer_open(dir, &e);
	assert_int_equal(sl_feed_writer_put(w, bad, &e), SL_EINVAL);
	assert_non_null(strstr(e.msg, "uuid"));
	sl_feed_writer_free(w);
	json_decref(bad);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(md5_matches_known_vectors),
	    cmocka_unit_test(manifest_plans_only_changed_events),
	    cmocka_unit_test(manifest_errors_name_the_entry),
	    cmocka_unit_test(hashes_check_composites_and_objects),
	    cmocka_unit_test(hashes_malformed_line_is_named),
	    cmocka_unit_test(writer_output_reads_back),
	    cmocka_unit_test(writer_refuses_events_without_uuid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
