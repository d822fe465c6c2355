/* test_fast_misp2stix.c — the fast path (fast_json + attributes parsed one at a time + stix_emit)
 * writes the same bundle as the tree path (sl_misp_to_stix, the oracle): the same objects with the
 * same values, the same warnings, the same errors, for every misp-stix corpus event, the repo's
 * fixtures and a large synthetic-like event; and malformed input gets sl_json_parse's own error.
 * Skips (77) without ../shared only for the corpus part. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fast_misp2stix.h"
#include "json.h"
#include "map_ctx.h"
#include "misp2stix.h"
#include "sltest.h"

/* bundle objects keyed by id (streaming order differs from the tree's; order means nothing) */
static json_t *by_id(const json_t *bundle)
{
	json_t *m = json_object();
	size_t i;
	json_t *o;

	json_array_foreach(json_object_get(bundle, "objects"), i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		assert_non_null(id);
		assert_null(json_object_get(m, id)); /* ids are unique in both */
		json_object_set(m, id, o);
	}
	return m;
}

struct outcome {
	int rc;
	struct sl_err err;
	json_t *bundle, *warnings;
};

static void tree_way(const char *buf, size_t len, const struct sl_map_opts *opts, struct outcome *o)
{
	json_t *ev = sl_json_parse(buf, len, NULL, "ev", &o->err);

	o->warnings = json_array();
	o->bundle = NULL;
	if (!ev) {
		o->rc = o->err.code;
		return;
	}
	o->bundle = sl_misp_to_stix(ev, opts, o->warnings, &o->err);
	o->rc = o->bundle ? 0 : o->err.code;
	json_decref(ev);
}

static void fast_way(const char *buf, size_t len, const struct sl_map_opts *opts, struct outcome *o)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);

	o->warnings = json_array();
	o->rc = sl_fast_misp2stix_write(buf, len, "ev", opts, o->warnings, f, &o->err);
	fclose(f);
	o->bundle = NULL;
	if (o->rc == 0) {
		json_error_t je;
		o->bundle = json_loadb(text, tlen, 0, &je);
		if (!o->bundle)
			fail_msg("fast path wrote invalid JSON: %s", je.text);
	}
	free(text);
}

static void clear(struct outcome *o)
{
	json_decref(o->bundle);
	json_decref(o->warnings);
}

/* 1 when both ways agree */
static int agree(const struct outcome *a, const struct outcome *b, const char *name)
{
	if (a->rc != b->rc) {
		print_error("%s: rc tree %d (%s) fast %d (%s)\n", name, a->rc, a->err.msg, b->rc,
		            b->err.msg);
		return 0;
	}
	if (a->rc != 0)
		return !strcmp(a->err.msg, b->err.msg) && !strcmp(a->err.where, b->err.where);
	if (!json_equal(json_object_get(a->bundle, "id"), json_object_get(b->bundle, "id")) ||
	    !json_equal(json_object_get(a->bundle, "type"), json_object_get(b->bundle, "type")) ||
	    json_object_size(a->bundle) != json_object_size(b->bundle))
		return 0;
	json_t *ma = by_id(a->bundle), *mb = by_id(b->bundle);
	int same = json_equal(ma, mb) && json_equal(a->warnings, b->warnings);
	if (!same)
		print_error("%s: objects or warnings differ\n", name);
	json_decref(ma);
	json_decref(mb);
	return same;
}

static int compare(const char *buf, size_t len, const char *name, int strict)
{
	struct sl_map_opts opts = {strict};
	for (int attempt = 0;; attempt++) {
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(buf, len, &opts, &t);
		fast_way(buf, len, &opts, &f);
		int ok = agree(&t, &f, name);
		int rc = t.rc;
		clear(&t);
		clear(&f);
		if (ok)
			return rc;
		/* the conversion time stamped on some objects may tick between the two runs */
		if (attempt == 1)
			fail_msg("%s: fast path differs from the tree path", name);
	}
}

static int each_event(const char *dir, int strict)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		size_t l = strlen(de->d_name), len;
		char *buf;
		struct sl_err err;
		if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (sl_json_slurp(path, SL_JSON_DEFAULT_MAX_BYTES, &buf, &len, &err) != 0)
			continue;
		compare(buf, len, path, strict);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void fixtures_agree(void **state)
{
	char dir[4096];
	(void)state;
	snprintf(dir, sizeof(dir), "%s/events", sltest_fixtures_dir());
	int n = each_event(dir, 0);
	n += each_event(dir, 1);
	snprintf(dir, sizeof(dir), "%s/events/demo-feed", sltest_fixtures_dir());
	n += each_event(dir, 0);
	snprintf(dir, sizeof(dir), "%s/policies", sltest_fixtures_dir());
	n += each_event(dir, 0);
	assert_true(n >= 10);
}

static void corpus_agrees(void **state)
{
	const char *interop = sltest_interop_dir();
	char dir[4096];
	(void)state;
	if (!interop)
		skip();
	snprintf(dir, sizeof(dir), "%s/misp-stix-corpus/input", interop);
	int n = each_event(dir, 0);
	n += each_event(dir, 1); /* strict: the same events fail the same way */
	assert_int_equal(n, 2 * 278);
}

#define EV "\"uuid\":\"a6ef17d6-91cb-4a05-b10b-2f045daf874c\",\"timestamp\":\"1603642920\""
#define A(u, t, v, extra)                                                                          \
	"{\"uuid\":\"" u "\",\"type\":\"" t "\",\"value\":\"" v "\",\"category\":\"Network "       \
	"activity\",\"to_ids\":true,\"timestamp\":\"1603642920\"" extra "}"
#define U1 "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f"
#define U2 "518b4bcb-a86b-4783-9457-391d548b605b"
#define U3 "34cb1a7c-55ec-412a-8684-ba4a88d83a45"
#define SIGHT                                                                                      \
	",\"Sighting\":[{\"uuid\":\"5e1c3d8f-7a5c-4b2e-9c2a-0e2f6f7c1a11\",\"type\":\"0\","        \
	"\"date_sighting\":\"1603642990\",\"Organisation\":{\"uuid\":"                             \
	"\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CIRCL\"}}]"

static void shapes_agree(void **state)
{
	static const char *docs[] = {
	    /* inner event without the wrapper, attributes with sightings, tags, bad values */
	    "{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", SIGHT) "," A(
	        U2, "domain", "EXAMPLE.com",
	        ",\"Tag\":[{\"name\":\"tlp:green\"},{\"name\":\"x\"}]") "," A(U3, "ip-src",
	                                                                      "not-an-ip", "") "]}",
	    /* wrapped; an escaped key elsewhere; a scalar and a non-object in the list */
	    "{\"Event\":{" EV ",\"in\\u0066o\":\"t\",\"Attribute\":[7, [], " A(
	        U1, "md5", "d41d8cd98f00b204e9800998ecf8427e", "") "]}}",
	    /* escaped key inside an attribute, unicode, a 19-digit integer fast_json declines */
	    "{\"Event\":{" EV
	    ",\"Attribute\":[" A(U1, "url", "http://\\u00e9.example/\\\"q\\\"",
	                         ",\"d\\u0069stribution\":12345678901234567890") "]}}",
	    /* Attribute not a list; absent; empty */
	    "{\"Event\":{" EV ",\"Attribute\":{}}}",
	    "{\"Event\":{" EV "}}",
	    "{\"Event\":{" EV ",\"Attribute\":[ ]}}",
	    /* "Event" not an object: the top is the event */
	    "{\"Event\":3," EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "") "]}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "shape %zu", i);
		compare(docs[i], strlen(docs[i]), name, 0);
		compare(docs[i], strlen(docs[i]), name, 1);
	}
}

static void malformed_gets_parser_error(void **state)
{
	static const char *bad[] = {
	    /* broken inside an attribute, after others were mapped */
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "") "," A(
	        U2, "ip-dst", "1.2.3.5", ",\"x\":tru") "]}}",
	    /* duplicate key inside an attribute */
	    "{\"Event\":{" EV
	    ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", ",\"type\":\"x\"") "]}}",
	    /* garbage between elements; a missing comma */
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "") " x]}}",
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", "")
	        A(U2, "ip-dst", "1.2.3.5", "") "]}}",
	    /* broken outside the list; truncated; a duplicate Attribute list */
	    "{\"Event\":{" EV ",\"Attribute\":[],\"info\":}}",
	    "{\"Event\":{" EV ",\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4", ""),
	    "{\"Event\":{" EV ",\"Attribute\":[],\"Attribute\":[]}}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(bad[i], strlen(bad[i]), NULL, &t);
		fast_way(bad[i], strlen(bad[i]), NULL, &f);
		assert_int_equal(t.rc, SL_EINVAL);
		assert_int_equal(f.rc, SL_EINVAL);
		/* sl_json_parse's message: what, line and column */
		assert_string_equal(f.err.where, t.err.where);
		assert_string_equal(f.err.msg, t.err.msg);
		assert_non_null(strstr(f.err.where, "ev:1:"));
		clear(&t);
		clear(&f);
	}
	/* over the size limit: refused before parsing, with sl_json_parse's message */
	{
		size_t big = SL_JSON_DEFAULT_MAX_BYTES + 16;
		char *huge = malloc(big);
		assert_non_null(huge);
		memset(huge, ' ', big);
		memcpy(huge, "{\"Event\":{" EV ",\"Attribute\":[]}}",
		       strlen("{\"Event\":{" EV ",\"Attribute\":[]}}"));
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(huge, big, NULL, &t);
		fast_way(huge, big, NULL, &f);
		assert_int_equal(t.rc, SL_ELIMIT);
		assert_int_equal(f.rc, SL_ELIMIT);
		assert_string_equal(f.err.msg, t.err.msg);
		clear(&t);
		clear(&f);
		free(huge);
	}
	/* nesting past the limit inside an attribute: the same limit error */
	char deep[4096];
	int n = snprintf(deep, sizeof(deep), "{\"Event\":{" EV ",\"Attribute\":[{\"x\":");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	n += snprintf(deep + n, sizeof(deep) - (size_t)n, "}]}}");
	struct outcome t, f;
	memset(&t, 0, sizeof(t));
	memset(&f, 0, sizeof(f));
	tree_way(deep, (size_t)n, NULL, &t);
	fast_way(deep, (size_t)n, NULL, &f);
	assert_int_equal(t.rc, SL_ELIMIT);
	assert_int_equal(f.rc, SL_ELIMIT);
	assert_string_equal(f.err.msg, t.err.msg);
	clear(&t);
	clear(&f);
}

/* ---- MISP objects: the fast path reads them from the text (no tree) when the event starts the
 * way MISP writes it (Orgc, published... before the Attribute list) and hands them to the same
 * object mapper; every template the tree path knows, and bad input inside objects. */

#define EVHEAD                                                                                     \
	"{\"Event\":{\"uuid\":\"a6ef17d6-91cb-4a05-b10b-2f045daf874c\",\"info\":\"objects\","      \
	"\"timestamp\":\"1603642920\",\"published\":true,\"publish_timestamp\":\"1603642950\","    \
	"\"Orgc\":{\"id\":\"1\",\"uuid\":\"55f6ea5e-2c60-40e5-964f-47a8950d210f\","                \
	"\"name\":\"CIRCL\"},\"Attribute\":[" A(U1, "ip-dst", "1.2.3.4",                           \
	                                        "") "],"                                           \
	                                            "\"ShadowAttribute\":[],\"Object\":["
#define EVTAIL "],\"Tag\":[{\"name\":\"tlp:green\"}]}}"
/* an object attribute; n: a digit making its uuid unique within the object */
#define OA(n, rel, type, value, ids)                                                               \
	"{\"id\":\"9\",\"uuid\":\"0c8e4a4e-1d7c-4c8b-9b5a-5d7e0f3b1a0" n                           \
	"\",\"object_relation\":\"" rel "\",\"type\":\"" type "\",\"value\":\"" value              \
	"\",\"to_ids\":" ids                                                                       \
	",\"category\":\"Other\",\"comment\":\"c\",\"distribution\":\"5\",\"deleted\":false}"
/* an object; u: the last hex digit of its uuid */
#define OBJ(u, name, meta, attrs)                                                                  \
	"{\"id\":\"7\",\"name\":\"" name "\",\"meta-category\":\"" meta                            \
	"\",\"description\":\"d\","                                                                \
	"\"uuid\":\"3f9a7e2c-6b1d-4e5f-8a7b-c2d3e4f5a6b" u "\",\"timestamp\":\"1603642930\","      \
	"\"comment\":\"oc\",\"first_seen\":null,\"last_seen\":null,\"ObjectReference\":[],"        \
	"\"Attribute\":[" attrs "]}"

static const char *const kinds[] = {
    OBJ("0", "file", "file",
        OA("1", "filename", "filename", "a.exe",
           "true") "," OA("2", "md5", "md5", "d41d8cd98f00b204e9800998ecf8427e",
                          "true") "," OA("3", "size-in-bytes", "size-in-bytes", "12",
                                         "false") "," OA("4", "path", "text", "C:\\\\temp",
                                                         "false") "," OA("5", "entropy", "float",
                                                                         "4.2", "false")),
    OBJ("1", "ip-port", "network",
        OA("1", "ip", "ip-dst", "10.0.0.1", "true") "," OA("2", "dst-port", "port", "443",
                                                           "true") "," OA("3", "domain", "domain",
                                                                          "a.example", "false")),
    OBJ("2", "domain-ip", "network",
        OA("1", "domain", "domain", "b.example", "true") "," OA(
            "2", "ip", "ip-dst", "10.0.0.2", "true") "," OA("3", "ip", "ip-dst", "::1", "false")),
    OBJ("3", "url", "network",
        OA("1", "url", "url", "http://c.example/x", "true") "," OA("2", "port", "port", "80",
                                                                   "false")),
    OBJ("4", "email", "network",
        OA("1", "from", "email-src", "a@example.org",
           "true") "," OA("2", "to", "email-dst", "b@example.org",
                          "false") "," OA("3", "subject", "email-subject", "hi", "true")),
    OBJ("5", "network-connection", "network",
        OA("1", "ip-src", "ip-src", "10.0.0.3", "true") "," OA(
            "2", "ip-dst", "ip-dst", "10.0.0.4",
            "true") "," OA("3", "dst-port", "port", "53", "false") "," OA("4", "layer4-protocol",
                                                                          "text", "UDP", "false")),
    OBJ("6", "network-socket", "network",
        OA("1", "ip-dst", "ip-dst", "10.0.0.5",
           "false") "," OA("2", "address-family", "text", "AF_INET",
                           "false") "," OA("3", "state", "text", "listening", "false")),
    OBJ("7", "x509", "network",
        OA("1", "x509-fingerprint-sha1", "x509-fingerprint-sha1",
           "da39a3ee5e6b4b0d3255bfef95601890afd80709",
           "true") "," OA("2", "issuer", "text", "CN=x",
                          "false") "," OA("3", "is_self_signed", "boolean", "1",
                                          "false") "," OA("4", "pubkey-info-exponent", "text",
                                                          "65537", "false")),
    OBJ("8", "registry-key", "misc",
        OA("1", "key", "regkey", "HKLM\\\\Software\\\\x",
           "true") "," OA("2", "data", "text", "1", "false") "," OA("3", "data-type", "text",
                                                                    "REG_DWORD", "false")),
    OBJ("9", "user-account", "misc",
        OA("1", "username", "text", "root",
           "true") "," OA("2", "user-id", "text", "0", "false") "," OA("3", "disabled", "boolean",
                                                                       "true", "false")),
    OBJ("a", "process", "misc",
        OA("1", "pid", "text", "42", "true") "," OA("2", "command-line", "text", "sh -c x",
                                                    "false") "," OA("3", "hidden", "boolean", "0",
                                                                    "false")),
    OBJ("b", "asn", "network",
        OA("1", "asn", "AS", "AS64500", "true") "," OA("2", "description", "text", "Test AS",
                                                       "false")),
    OBJ("c", "mutex", "misc", OA("1", "name", "mutex", "Global\\\\m", "true")),
    OBJ("d", "android-app", "misc", OA("1", "name", "text", "app", "false")),
    OBJ("e", "cpe-asset", "misc",
        OA("1", "cpe", "cpe", "cpe:2.3:a:x:y:1", "false") "," OA("2", "language", "text", "en",
                                                                 "false")),
    OBJ("f", "artifact", "file",
        OA("1", "sha256", "sha256",
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "true")),
    OBJ("0", "directory", "file", OA("1", "path", "text", "/tmp", "false")),
    OBJ("1", "credential", "misc",
        OA("1", "username", "text", "u", "false") "," OA("2", "password", "text", "p", "false")),
    OBJ("2", "attack-pattern", "misc",
        OA("1", "name", "text", "AP", "false") "," OA("2", "id", "text", "66", "false")),
    OBJ("3", "course-of-action", "misc", OA("1", "name", "text", "Patch", "false")),
    OBJ("4", "intrusion-set", "misc",
        OA("1", "name", "text", "IS", "false") "," OA("2", "aliases", "text", "a1", "false") "," OA(
            "3", "first_seen", "datetime", "2020-01-01T00:00:00+01:00", "false")),
    OBJ("5", "person", "misc",
        OA("1", "first-name", "first-name", "Ann", "false") "," OA("2", "phone-number",
                                                                   "phone-number", "+1", "false")),
    OBJ("6", "organization", "misc", OA("1", "name", "text", "Org", "false")),
    OBJ("7", "employee", "misc", OA("1", "first-name", "first-name", "Bo", "false")),
    OBJ("8", "legal-entity", "misc", OA("1", "name", "text", "LE", "false")),
    OBJ("9", "news-agency", "misc", OA("1", "name", "text", "NA", "false")),
    OBJ("a", "github-user", "misc", OA("1", "username", "text", "gh", "false")),
    OBJ("b", "twitter-account", "misc", OA("1", "name", "text", "tw", "false")),
    OBJ("c", "facebook-account", "misc", OA("1", "account-id", "text", "1", "false")),
    OBJ("d", "gitlab-user", "misc", OA("1", "id", "text", "2", "false")),
    OBJ("e", "telegram-account", "misc", OA("1", "username", "text", "tg", "false")),
    OBJ("f", "reddit-account", "misc", OA("1", "account-name", "text", "rd", "false")),
    OBJ("0", "parler-account", "misc", OA("1", "account-name", "text", "pa", "false")),
    OBJ("1", "vulnerability", "vulnerability",
        OA("1", "id", "vulnerability", "CVE-2020-0001", "false") "," OA("2", "summary", "text", "s",
                                                                        "false")),
    OBJ("2", "yara", "misc",
        OA("1", "yara", "yara", "rule x { condition: true }",
           "false") "," OA("2", "yara-rule-name", "text", "x", "false")),
    OBJ("3", "sigma", "misc", OA("1", "sigma", "sigma", "title: x", "false")),
    /* no template: an x-misp-object, warned about */
    OBJ("4", "no-such-template", "misc", OA("1", "thing", "text", "v", "true")),
};

static void objects_agree(void **state)
{
	char doc[16384];
	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char name[64];
		int n = snprintf(doc, sizeof(doc), EVHEAD "%s" EVTAIL, kinds[i]);
		assert_true(n > 0 && (size_t)n < sizeof(doc));
		snprintf(name, sizeof(name), "object kind %zu", i);
		compare(doc, (size_t)n, name, 0);
		compare(doc, (size_t)n, name, 1);
	}
	/* all of them in one event (their uuids repeat: dedup too) */
	size_t total = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		total += strlen(kinds[i]) + 1;
	char *all = malloc(total + 4096);
	assert_non_null(all);
	size_t at = (size_t)sprintf(all, "%s", EVHEAD);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		at += (size_t)sprintf(all + at, "%s%s", i ? "," : "", kinds[i]);
	at += (size_t)sprintf(all + at, "%s", EVTAIL);
	compare(all, at, "all object kinds", 0);
	free(all);
}

#define OU "3f9a7e2c-6b1d-4e5f-8a7b-c2d3e4f5a6b"
/* objects with something wrong inside: warned, naming the object and attribute, the rest mapped */
static void bad_objects_warned(void **state)
{
	static const struct {
		const char *objs;
		const char *where; /* in a warning */
		const char *words; /* in that warning's message */
	} cases[] = {
	    /* an attribute value that is not an IP */
	    {OBJ("0", "ip-port", "network", OA("1", "ip", "ip-dst", "300.1.1.1", "true")),
	     "object " OU "0/attribute 0c8e4a4e-1d7c-4c8b-9b5a-5d7e0f3b1a01", "300.1.1.1"},
	    /* an attribute without a value; a value that is a number */
	    {OBJ("1", "url", "network",
	         "{\"uuid\":\"0c8e4a4e-1d7c-4c8b-9b5a-5d7e0f3b1a01\",\"object_relation\":\"url\","
	         "\"type\":\"url\",\"value\":5}"),
	     "object " OU "1/attribute 0c8e4a4e-1d7c-4c8b-9b5a-5d7e0f3b1a01", "lacks"},
	    /* an object without a uuid */
	    {"{\"name\":\"url\",\"Attribute\":[" OA("1", "url", "url", "http://x.example/",
	                                            "true") "]}",
	     "Object[1]", "no valid uuid"},
	    /* Attribute that is not a list */
	    {"{\"name\":\"url\",\"uuid\":\"" OU "2\",\"Attribute\":{}}", "object " OU "2",
	     "not a list"},
	    /* a file object with only a bad size: nothing to build from */
	    {OBJ("3", "file", "file", OA("1", "size-in-bytes", "size-in-bytes", "big", "true")),
	     "object " OU "3", "whole number"},
	};
	char doc[8192];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[64];
		/* the bad object between two good ones */
		int n = snprintf(doc, sizeof(doc), EVHEAD "%s,%s,%s" EVTAIL, kinds[3],
		                 cases[i].objs, kinds[2]);
		assert_true(n > 0 && (size_t)n < sizeof(doc));
		snprintf(name, sizeof(name), "bad object %zu", i);
		compare(doc, (size_t)n, name, 0);
		struct outcome f;
		memset(&f, 0, sizeof(f));
		fast_way(doc, (size_t)n, NULL, &f);
		assert_int_equal(f.rc, 0);
		int found = 0;
		size_t k;
		json_t *w;
		json_array_foreach(f.warnings, k, w)
		{
			const char *text = json_string_value(w);
			if (!text)
				text = json_string_value(json_object_get(w, "message"));
			char *dump = json_dumps(w, JSON_ENCODE_ANY);
			if (dump && strstr(dump, cases[i].where) && strstr(dump, cases[i].words))
				found = 1;
			free(dump);
			(void)text;
		}
		if (!found) {
			char *dump = json_dumps(f.warnings, 0);
			fail_msg("case %zu: no warning naming %s (%s): %s", i, cases[i].where,
			         cases[i].words, dump);
		}
		/* the good objects on either side are in the bundle */
		json_t *m = by_id(f.bundle);
		assert_non_null(json_object_get(m, "observed-data--" OU "3"));
		assert_non_null(json_object_get(m, "observed-data--" OU "2"));
		json_decref(m);
		clear(&f);
	}
	/* broken JSON inside an object: the parser's own error (what, line, column) */
	static const char *broken[] = {
	    EVHEAD OBJ("0", "url", "network", OA("1", "url", "url", "http://x/", "tru")) EVTAIL,
	    EVHEAD OBJ("0", "url", "network",
	               OA("1", "url", "url", "http://x/", "true") ","
	                                                          "{\"uuid\":1,\"uuid\":2}") EVTAIL,
	    EVHEAD "{\"name\":\"url\" \"uuid\":1}" EVTAIL,
	    EVHEAD OBJ("0", "url", "network", OA("1", "url", "url", "http://x/", "true")) EVTAIL
	    ",\"Object\":[]}",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		struct outcome t, f;
		memset(&t, 0, sizeof(t));
		memset(&f, 0, sizeof(f));
		tree_way(broken[i], strlen(broken[i]), NULL, &t);
		fast_way(broken[i], strlen(broken[i]), NULL, &f);
		assert_int_equal(t.rc, SL_EINVAL);
		assert_int_equal(f.rc, SL_EINVAL);
		assert_string_equal(f.err.where, t.err.where);
		assert_string_equal(f.err.msg, t.err.msg);
		assert_non_null(strstr(f.err.where, "ev:1:"));
		clear(&t);
		clear(&f);
	}
}

/* what the text reader leaves to the tree (references, sightings, a non-object): the same bundle */
static void objects_left_to_tree_agree(void **state)
{
	static const char *docs[] = {
	    EVHEAD "{\"name\":\"url\",\"uuid\":\"" OU "0\",\"ObjectReference\":[{\"uuid\":"
	           "\"9d2c6a3e-5b7f-4a1c-8e2d-3f4a5b6c7d8e\",\"referenced_uuid\":\"" U1 "\","
	           "\"relationship_type\":\"related-to\"}],\"Attribute\":[" OA(
	               "1", "url", "url", "http://x.example/", "true") "]}" EVTAIL,
	    EVHEAD OBJ(
	        "1", "url", "network",
	        "{\"uuid\":\"0c8e4a4e-1d7c-4c8b-9b5a-5d7e0f3b1a01\",\"object_relation\":"
	        "\"url\",\"type\":\"url\",\"value\":\"http://y.example/\",\"to_ids\":true" SIGHT
	        "}") EVTAIL,
	    EVHEAD "7," OBJ("2", "url", "network", OA("1", "url", "url", "http://z/", "1")) EVTAIL,
	    EVHEAD OBJ("3", "url", "network", "8") EVTAIL,
	};
	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "left to tree %zu", i);
		compare(docs[i], strlen(docs[i]), name, 0);
	}
}

/* map_ctx formats timestamps by hand (the hot path); libc's gmtime_r is the oracle */
static void timestamps_match_gmtime(void **state)
{
	static const long long fixed[] = {
	    0, 1, 59, 86399, 86400, 951782400, 951868800, 1700000060, 4102444800LL, 253402300799LL};
	struct sl_map_ctx c;
	unsigned seed = 42;
	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.now_ts, sizeof(c.now_ts), "2026-01-01T00:00:00.000Z");
	for (int i = 0; i < 200000; i++) {
		long long n =
		    i < 10 ? fixed[i] : ((long long)rand_r(&seed) * rand_r(&seed)) % 253402300800LL;
		for (int sdo = 0; sdo < 2; sdo++) {
			char got[SL_TS_MAX], want[SL_TS_MAX];
			json_t *v = json_integer(n);
			time_t t = (time_t)n;
			struct tm tm;
			assert_int_equal(sl_map_ts(&c, v, sdo, got), 0);
			json_decref(v);
			gmtime_r(&t, &tm);
			snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d%s",
			         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			         tm.tm_min, tm.tm_sec, sdo ? ".000Z" : "Z");
			assert_string_equal(got, want);
		}
	}
	/* with offsets and fractions, across 1970 and at the ends of the range */
	static const char *iso[][2] = {
	    {"2020-01-01T00:30:00+01:00", "2019-12-31T23:30:00Z"},
	    {"1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5Z"},
	    {"0001-03-01T12:00:00.120000+00:00", "0001-03-01T12:00:00.12Z"},
	    {"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
	    {"1900-02-28T10:00:00-05:00", "1900-02-28T15:00:00Z"},
	    {"2000-02-29T23:00:00-01:00", "2000-03-01T00:00:00Z"},
	};
	for (size_t i = 0; i < sizeof(iso) / sizeof(iso[0]); i++) {
		char got[SL_TS_MAX];
		assert_int_equal(sl_map_iso_ts(iso[i][0], got), 0);
		assert_string_equal(got, iso[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(shapes_agree),
	    cmocka_unit_test(objects_agree),
	    cmocka_unit_test(bad_objects_warned),
	    cmocka_unit_test(objects_left_to_tree_agree),
	    cmocka_unit_test(malformed_gets_parser_error),
	    cmocka_unit_test(fixtures_agree),
	    cmocka_unit_test(corpus_agrees),
	    cmocka_unit_test(timestamps_match_gmtime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
