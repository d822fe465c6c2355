/* test_fast_json.c — the fast parser builds exactly jansson's tree (same keys in the same order,
 * same values) for everything jansson accepts that it takes on, and never accepts what jansson
 * refuses: hand-picked edge cases, the repo's fixtures and misp-stix's corpus, and seeded random
 * corruptions of them. json_loadb is the oracle. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fast_json.h"
#include "json.h"
#include "sltest.h"

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

static long accepted, declined;
static const char *const keep_event[] = {"Event", "b", "k2", NULL};
static const char *const keep_none[] = {"(none)", NULL};

/* fast(buf) is NULL or, key order included, the same tree jansson builds; when jansson refuses
 * the text, fast must refuse it too. must_take: jansson accepts it and fast must not decline. */
static void check_kept(const char *buf, size_t len, const char *const *keep);

static void check_filtered(const char *buf, size_t len);

static void check(const char *buf, size_t len, int must_take)
{
	check_kept(buf, len, keep_event);
	check_kept(buf, len, keep_none);
	check_filtered(buf, len);
	json_error_t je;
	json_t *want = json_loadb(buf, len, FLAGS, &je);
	json_t *got = sl_fast_json_parse(buf, len, 0, 64);

	if (!want) {
		if (got)
			fail_msg("fast parser accepted what jansson refuses (%s): %.*s", je.text,
			         (int)(len > 200 ? 200 : len), buf);
		return;
	}
	if (!got) {
		declined++;
		if (must_take)
			fail_msg("fast parser declined valid JSON: %.*s",
			         (int)(len > 200 ? 200 : len), buf);
		json_decref(want);
		return;
	}
	accepted++;
	char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	char *b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(a);
	assert_non_null(b);
	if (strcmp(a, b) != 0)
		fail_msg("trees differ:\n jansson %.300s\n fast    %.300s", a, b);
	free(a);
	free(b);
	json_decref(want);
	json_decref(got);
}

/* sl_fast_json_parse_value with a keep list: members not kept are validated like jansson would,
 * so the value is refused exactly when jansson refuses it, and the kept members are jansson's. */
static void check_kept(const char *buf, size_t len, const char *const *keep)
{
	json_error_t je;
	size_t lead = 0, used = 0;

	while (lead < len && strchr(" \t\r\n", buf[lead]) && buf[lead])
		lead++;
	json_t *got = sl_fast_json_parse_value(buf + lead, len - lead, 0, 64, keep, &used);
	if (!got)
		return;
	size_t end = lead + used;
	while (end < len && buf[end] && strchr(" \t\r\n", buf[end]))
		end++;
	json_t *want = json_loadb(buf, len, FLAGS, &je);
	if (end != len) { /* trailing bytes: not the caller's business here */
		json_decref(want);
		json_decref(got);
		return;
	}
	if (!want)
		fail_msg("parse_value accepted what jansson refuses (%s): %.*s", je.text,
		         (int)(len > 200 ? 200 : len), buf);
	if (json_is_object(want)) {
		json_t *filtered = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(want, k, v) for (const char *const *kk = keep; *kk;
		                                     kk++) if (!strcmp(*kk, k))
		    json_object_set(filtered, k, v);
		json_decref(want);
		want = filtered;
	}
	char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
	if (!a || !b || strcmp(a, b) != 0)
		fail_msg("kept members differ:\n jansson %.300s\n fast    %.300s", a, b);
	free(a);
	free(b);
	json_decref(want);
	json_decref(got);
}

/* sl_fast_json_parse_kept with a schema like the fast path's (Event -> Object list -> each
 * object's Attribute list): refused whenever jansson refuses the text, else jansson's tree with the
 * same members dropped. */
static const char *const obj_names[] = {"uuid", "name", "Attribute", NULL};
static const char *const attr_names[] = {"type", "value", NULL};
static const struct sl_fast_json_keep k_attr = {attr_names, NULL, NULL};
static const struct sl_fast_json_keep k_obj = {obj_names, "Attribute", &k_attr};
static const struct sl_fast_json_keep k_event = {NULL, "Object", &k_obj};
static const struct sl_fast_json_keep k_top = {NULL, "Event", &k_event};

/* the oracle: jansson's value v filtered by k (a new reference) */
static json_t *filter(const json_t *v, const struct sl_fast_json_keep *k)
{
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		    json_array_append_new(a, json_is_object(e) ? filter(e, k) : json_incref(e));
		return a;
	}
	if (!json_is_object(v))
		return json_incref((json_t *)v);
	json_t *o = json_object();
	const char *key;
	json_t *m;
	json_object_foreach((json_t *)v, key, m)
	{
		int keep = !k->names;
		for (const char *const *n = k->names; n && *n; n++)
			keep |= !strcmp(*n, key);
		if (k->sub && !strcmp(k->sub, key))
			json_object_set_new(o, key,
			                    json_is_object(m) || json_is_array(m)
			                        ? filter(m, k->inner)
			                        : json_incref(m));
		else if (keep)
			json_object_set(o, key, m);
	}
	return o;
}

static void check_filtered(const char *buf, size_t len)
{
	json_error_t je;
	json_t *got = sl_fast_json_parse_kept(buf, len, 0, 64, &k_top);
	json_t *want = got ? json_loadb(buf, len, FLAGS, &je) : NULL;

	if (!got)
		return;
	if (!want || !sl_json_depth_ok(want, 64))
		fail_msg("parse_kept accepted what jansson refuses: %.*s",
		         (int)(len > 200 ? 200 : len), buf);
	json_t *f = filter(want, &k_top);
	char *a = json_dumps(f, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
	if (!a || !b || strcmp(a, b) != 0)
		fail_msg("parse_kept differs:\n jansson %.300s\n fast    %.300s", a, b);
	free(a);
	free(b);
	json_decref(f);
	json_decref(want);
	json_decref(got);
}

/* the filter drops what it should, keeps order, and still refuses bad text it drops */
static void kept_schema(void **state)
{
	static const char doc[] =
	    "{\"Event\":{\"x\":1,\"Object\":[{\"id\":\"1\",\"name\":\"n\",\"Attribute\":[{"
	    "\"id\":2,\"type\":\"t\",\"value\":\"v\",\"deep\":[[1]]},5]},7],\"y\":[]}}";
	(void)state;
	json_t *got = sl_fast_json_parse_kept(doc, strlen(doc), 0, 64, &k_top);
	assert_non_null(got);
	char *text = json_dumps(got, JSON_COMPACT);
	assert_string_equal(text, "{\"Event\":{\"x\":1,\"Object\":[{\"name\":\"n\",\"Attribute\":"
	                          "[{\"type\":\"t\",\"value\":\"v\"},5]},7],\"y\":[]}}");
	free(text);
	json_decref(got);
	static const char *refused[] = {
	    /* broken, duplicated or too deep inside a dropped member */
	    "{\"Event\":{\"Object\":[{\"id\":tru,\"name\":\"n\"}]}}",
	    "{\"Event\":{\"Object\":[{\"id\":1,\"id\":2}]}}",
	    "{\"Event\":{\"Object\":[{\"Attribute\":[{\"id\":\"\\x\"}]}]}}",
	    /* an escaped key (left to the full parser), not an object */
	    "{\"Event\":{\"\\u0041\":1}}",
	    "[1]",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_null(sl_fast_json_parse_kept(refused[i], strlen(refused[i]), 0, 64, &k_top));
	char deep[256];
	int n = snprintf(deep, sizeof(deep), "{\"Event\":{\"Object\":[{\"id\":");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	n += snprintf(deep + n, sizeof(deep) - (size_t)n, "}]}}");
	assert_null(sl_fast_json_parse_kept(deep, (size_t)n, 0, 64, &k_top));
}

static void edge_cases(void **state)
{
	static const char *take[] = {
	    "{}",
	    "[]",
	    " \t\r\n{\"a\" : [ 1 , -2 , 0 , -0 , 1.5 , -0.0 , 1e3 , 2E-2 , 1e-400 ] } ",
	    "{\"s\":\"plain\",\"e\":\"q\\\"b\\\\s\\/n\\nr\\rt\\tb\\bf\\f\"}",
	    "[\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\",\"\\u0000nul in value\"]",
	    "{\"\\u00e9t\\u00e9\":1,\"k2\":{\"k3\":[true,false,null,{}]}}",
	    "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 raw utf-8\"]",
	    "{\"b\":1,\"a\":2,\"c\":3}", /* order kept */
	    "[999999999999999999,-999999999999999999]",
	    "{\"a long key that does not fit the small buffer of the parser "
	    "........\\n\":\"x\\ty\"}",
	};
	static const char *refuse[] = {
	    "",
	    "1",
	    "\"top-level string\"",
	    "{\"a\":1,\"a\":2}",
	    "{\"a\":1,}",
	    "[1,]",
	    "[01]",
	    "[1.]",
	    "[.5]",
	    "[1e]",
	    "[-]",
	    "[+1]",
	    "{\"a\" 1}",
	    "{a:1}",
	    "[\"raw\ncontrol\"]",
	    "[\"bad \\x escape\"]",
	    "[\"\\ud800 lone\"]",
	    "[\"\\udc00 lone low\"]",
	    "[\"\\ud800\\u0041\"]",
	    "[\"\\u12\"]",
	    "[\"\xc0\xaf\"]",
	    "[\"\xed\xa0\x80\"]",
	    "[\"unterminated]",
	    "[1] trailing",
	    "[1][2]",
	    "[tru]",
	    "[nul]",
	    "{\"k\\u0000nul\":1}",
	    "[1e400]",
	    "[99999999999999999999]",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(take) / sizeof(take[0]); i++)
		check(take[i], strlen(take[i]), 1);
	for (size_t i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++) {
		check(refuse[i], strlen(refuse[i]), 0);
		assert_null(sl_fast_json_parse(refuse[i], strlen(refuse[i]), 0, 64));
	}
	/* depth: 64 levels parse, 65 do not, and a base depth counts against the limit */
	char deep[200];
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	json_t *v = sl_fast_json_parse(deep + 1, 128, 0, 64);
	assert_non_null(v);
	json_decref(v);
	assert_null(sl_fast_json_parse(deep, 130, 0, 64));
	assert_null(sl_fast_json_parse(deep + 1, 128, 1, 64));
}

static void skip_finds_value_ends(void **state)
{
	(void)state;
	assert_int_equal(sl_fast_json_skip("{\"a\":\"}\\\"]\",\"b\":[1,{}]} ,", 25), 23);
	assert_int_equal(sl_fast_json_skip("[1,[2,[3]]],x", 13), 11);
	assert_int_equal(sl_fast_json_skip("\"s\\\"\"rest", 9), 5);
	assert_int_equal(sl_fast_json_skip("123,", 4), 3);
	assert_int_equal(sl_fast_json_skip("[1,2", 4), 0);
	assert_int_equal(sl_fast_json_skip("\"open", 5), 0);
}

static void corrupt_and_check(const char *buf, size_t len, unsigned *seed)
{
	char *m = malloc(len + 1);
	static const char bytes[] = "{}[]\",:\\ 0e-.tu\x01\x80\xc3\xff";

	for (int k = 0; k < 20; k++) {
		memcpy(m, buf, len);
		size_t n = len;
		int edits = 1 + rand_r(seed) % 3;
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)rand_r(seed) % n;
			if (rand_r(seed) % 4 == 0)
				n = at + 1; /* truncate */
			else
				m[at] = bytes[rand_r(seed) % (sizeof(bytes) - 1)];
		}
		check(m, n, 0);
	}
	free(m);
}

static int each_file(const char *dir, unsigned *seed, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR && depth < 3) {
			n += each_file(path, seed, depth + 1);
			continue;
		}
		if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		char *buf;
		size_t len;
		struct sl_err err;
		if (sl_json_slurp(path, SL_JSON_DEFAULT_MAX_BYTES, &buf, &len, &err) != 0)
			continue;
		check(buf, len, 1);
		if (n % 4 == 0 && len < 200000)
			corrupt_and_check(buf, len, seed);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void fixtures_and_corpus(void **state)
{
	unsigned seed = 20261128;
	const char *interop = sltest_interop_dir();
	(void)state;
	int n = each_file(sltest_fixtures_dir(), &seed, 0);
	if (interop) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/misp-stix-corpus", interop);
		n += each_file(dir, &seed, 0);
	}
	assert_true(n > 5);
	print_message("files=%d accepted=%ld declined=%ld\n", n, accepted, declined);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(edge_cases),
	    cmocka_unit_test(kept_schema),
	    cmocka_unit_test(skip_finds_value_ends),
	    cmocka_unit_test(fixtures_and_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
