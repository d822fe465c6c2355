/* test_fast_attr.c — the attributes fast_attr writes as text come out as the tree path writes
 * them: every kind it takes, with hostile strings (quotes, backslashes, control characters,
 * non-ASCII, escapes, invalid UTF-8, huge values) in the value, category, comment and type, odd
 * to_ids / timestamp / first_seen forms, duplicate uuids, strict mode. The oracles are the tree
 * path (sl_misp_to_stix: same objects, warnings and errors) and, where every attribute takes the
 * fast path, the streamed tree path (sl_misp_to_stix_write: the same bytes). The kinds are
 * checked to really take the fast path (a silent fallback would pass the comparisons), and
 * relationship ids (hashed piece by piece, through a reused context) against a plain UUIDv5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "fast_attr.h"
#include "fast_misp2stix.h"
#include "json.h"
#include "map_ctx.h"
#include "misp2stix.h"
#include "stix_id.h"

#define EVU "a6ef17d6-91cb-4a05-b10b-2f045daf874c"
#define EV                                                                                         \
	"\"uuid\":\"" EVU "\",\"timestamp\":\"1603642920\",\"published\":true,"                    \
	"\"publish_timestamp\":\"1603642980\",\"info\":\"t\",\"Orgc\":{\"uuid\":"                  \
	"\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CIRCL\"}"
#define U1 "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f"
#define U2 "518b4bcb-a86b-4783-9457-391d548b605b"

/* ---- the two ways -----------------------------------------------------------------------------
 */

struct outcome {
	int rc;
	struct sl_err err;
	char *text; /* fast and streamed ways */
	size_t len;
	json_t *bundle, *warnings;
};

static void clear(struct outcome *o)
{
	free(o->text);
	json_decref(o->bundle);
	json_decref(o->warnings);
	memset(o, 0, sizeof(*o));
}

static void tree_way(const char *doc, size_t len, const struct sl_map_opts *opts, struct outcome *o,
                     int stream)
{
	json_t *ev = sl_json_parse(doc, len, NULL, "ev", &o->err);

	o->warnings = json_array();
	if (!ev) {
		o->rc = o->err.code;
		return;
	}
	if (stream) {
		FILE *f = open_memstream(&o->text, &o->len);
		o->rc = sl_misp_to_stix_write(ev, opts, o->warnings, f, &o->err);
		fclose(f);
	} else {
		o->bundle = sl_misp_to_stix(ev, opts, o->warnings, &o->err);
		o->rc = o->bundle ? 0 : o->err.code;
	}
	json_decref(ev);
}

static void fast_way(const char *doc, size_t len, const struct sl_map_opts *opts, struct outcome *o)
{
	FILE *f = open_memstream(&o->text, &o->len);

	o->warnings = json_array();
	o->rc = sl_fast_misp2stix_write(doc, len, "ev", opts, o->warnings, f, &o->err);
	fclose(f);
	if (o->rc == 0) {
		json_error_t je;
		o->bundle = json_loadb(o->text, o->len, 0, &je);
		if (!o->bundle)
			fail_msg("fast path wrote invalid JSON: %s", je.text);
	}
}

static json_t *by_id(const json_t *bundle)
{
	json_t *m = json_object();
	size_t i;
	json_t *o;

	json_array_foreach(json_object_get(bundle, "objects"), i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		assert_non_null(id);
		assert_null(json_object_get(m, id));
		json_object_set(m, id, o);
	}
	return m;
}

/* 1 when the fast way agrees with the tree (objects, warnings, errors) and, when bytes is set,
 * writes the streamed tree's very bytes */
static int agree_once(const char *doc, size_t len, int strict, int bytes, const char *name)
{
	struct sl_map_opts opts = {strict};
	struct outcome t, s, f;
	int ok = 1;

	memset(&t, 0, sizeof(t));
	memset(&s, 0, sizeof(s));
	memset(&f, 0, sizeof(f));
	tree_way(doc, len, &opts, &t, 0);
	tree_way(doc, len, &opts, &s, 1);
	fast_way(doc, len, &opts, &f);
	if (t.rc != f.rc) {
		print_error("%s: rc tree %d (%s) fast %d (%s)\n", name, t.rc, t.err.msg, f.rc,
		            f.err.msg);
		ok = 0;
	} else if (t.rc != 0) {
		ok = !strcmp(t.err.msg, f.err.msg) && !strcmp(t.err.where, f.err.where);
		if (!ok)
			print_error("%s: errors differ: %s: %s / %s: %s\n", name, t.err.where,
			            t.err.msg, f.err.where, f.err.msg);
	} else {
		json_t *ma = by_id(t.bundle), *mb = by_id(f.bundle);
		ok = json_equal(ma, mb) && json_equal(t.warnings, f.warnings) &&
		     json_equal(json_object_get(t.bundle, "id"), json_object_get(f.bundle, "id"));
		if (!ok)
			print_error("%s: objects or warnings differ\n", name);
		if (ok && bytes && (s.len != f.len || memcmp(s.text, f.text, s.len) != 0)) {
			print_error("%s: bytes differ from the streamed tree path\n", name);
			ok = 0;
		}
		json_decref(ma);
		json_decref(mb);
	}
	clear(&t);
	clear(&s);
	clear(&f);
	return ok;
}

/* the conversion time stamped where a timestamp is missing may tick between the runs */
static void agree(const char *doc, int strict, int bytes, const char *name)
{
	if (!agree_once(doc, strlen(doc), strict, bytes, name) &&
	    !agree_once(doc, strlen(doc), strict, bytes, name))
		fail_msg("%s (strict %d): the fast path differs from the tree path", name, strict);
}

static char *event_of(const char *attrs)
{
	size_t n = strlen(attrs) + 512;
	char *d = malloc(n);

	assert_non_null(d);
	snprintf(d, n, "{\"Event\":{" EV ",\"Attribute\":[%s]}}", attrs);
	return d;
}

static char *attr(const char *uuid, const char *type, const char *value, const char *extra)
{
	size_t n = strlen(type) + strlen(value) + strlen(extra) + 256;
	char *a = malloc(n);

	assert_non_null(a);
	snprintf(a, n,
	         "{\"id\":\"7\",\"uuid\":\"%s\",\"type\":\"%s\",\"value\":\"%s\",\"category\":"
	         "\"Network activity\",\"to_ids\":true,\"timestamp\":\"1603642920\","
	         "\"distribution\":\"5\",\"comment\":\"\",\"deleted\":false,\"first_seen\":null%s}",
	         uuid, type, value, extra);
	return a;
}

/* ---- the fast path is taken --------------------------------------------------------------------
 */

struct rig {
	struct sl_map_ctx c;
	struct sl_fast_attr *fa;
	char *text;
	size_t len;
	struct sl_map_opts opts;
};

static void rig_open(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->c.opts = &r->opts;
	r->c.seen = sl_map_ids_new();
	r->c.refs = json_array();
	r->c.rel_refs = json_array();
	r->c.markings = json_array();
	r->c.warnings = json_array();
	r->c.pat = sl_pattern_new();
	r->c.out = open_memstream(&r->text, &r->len);
	r->c.emit = sl_stix_emit_new(0);
	sl_stix_emit_set_sink(r->c.emit, r->c.out, SL_MAP_EMIT_BLOCK);
	snprintf(r->c.event_uuid, sizeof(r->c.event_uuid), "%s", EVU);
	snprintf(r->c.identity_id, sizeof(r->c.identity_id),
	         "identity--55f6ea5e-2c60-40e5-964f-47a8950d210f");
	snprintf(r->c.now_ts, sizeof(r->c.now_ts), "2026-01-01T00:00:00.000Z");
	r->fa = sl_fast_attr_new();
	assert_non_null(r->fa);
}

static void rig_close(struct rig *r)
{
	sl_fast_attr_free(r->fa);
	sl_stix_emit_free(r->c.emit);
	fclose(r->c.out);
	free(r->text);
	sl_pattern_free(r->c.pat);
	sl_map_ids_free(r->c.seen);
	json_decref(r->c.refs);
	json_decref(r->c.rel_refs);
	json_decref(r->c.markings);
	json_decref(r->c.warnings);
}

/* what sl_fast_attr_map does with one attribute's text: 1 taken, 0 declined */
static int taken(const char *text)
{
	struct rig r;
	size_t used = 0, before;
	int rc;

	rig_open(&r);
	sl_stix_emit_data(r.c.emit, &before);
	rc = sl_fast_attr_map(r.fa, &r.c, text, strlen(text), 3, &used);
	if (rc == 1) {
		assert_int_equal(used, strlen(text));
	} else {
		size_t after;
		/* declined: nothing written, nothing recorded */
		sl_stix_emit_data(r.c.emit, &after);
		assert_int_equal(after, before);
		assert_int_equal(sl_map_ids_count(r.c.seen), 0);
		assert_int_equal(sl_fast_attr_ref_count(r.fa), 0);
		assert_int_equal(json_array_size(r.c.warnings), 0);
	}
	rig_close(&r);
	return rc;
}

static const struct kind {
	const char *type, *value;
} kinds[] = {
    {"ip-dst", "198.51.100.7"},
    {"ip-src", "2001:db8::1"},
    {"ip-src", "10.0.0.0/8"},
    {"ip-dst|port", "198.51.100.7|443"},
    {"ip-src|port", "2001:db8::2|8080"},
    {"domain", "Example.COM"},
    {"hostname", "mail.example.org"},
    {"domain|ip", "example.net|192.0.2.1"},
    {"hostname|port", "mail.example.org|587"},
    {"url", "https://example.com/a?b=c"},
    {"uri", "/path/x"},
    {"link", "https://example.com/report"},
    {"md5", "D41D8CD98F00B204E9800998ECF8427E"},
    {"sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"ssdeep", "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"},
    {"x509-fingerprint-sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"filename|md5", "a.dll|d41d8cd98f00b204e9800998ecf8427e"},
    {"filename|sha256", "b.exe|E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"},
    {"filename", "invoice.pdf.exe"},
    {"email", "a.b@example.com"},
    {"email-src", "x@example.com"},
    {"email-dst", "y@example.com"},
    {"email-subject", "Invoice"},
    {"email-body", "Hello"},
    {"email-message-id", "<1@example.com>"},
    {"mutex", "Global\\\\m"},
    {"AS", "AS64496"},
    {"regkey", "HKLM\\\\Software\\\\Run"},
    {"vulnerability", "CVE-2021-44228"},
    {"user-agent", "Mozilla/5.0"},
    {"http-method", "POST"},
    {"port", "8443"},
    {"text", "free text"},
    {"comment", "a comment"},
    {"no-such-type", "x"},
};

static void common_kinds_take_the_fast_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		for (int ids = 0; ids < 2; ids++) {
			char *a =
			    attr(U1, kinds[i].type, kinds[i].value, ids ? "" : ",\"to_ids\":false");
			/* to_ids twice would be a duplicate key: build it without */
			char *fixed = a;
			if (!ids) {
				char *p = strstr(a, "\"to_ids\":true,");
				memmove(p, p + 14, strlen(p + 14) + 1);
			}
			if (taken(fixed) != 1)
				fail_msg("%s (to_ids %d) was not taken by the fast path",
				         kinds[i].type, ids);
			free(a);
		}
	}
}

static void unusual_attributes_are_declined(void **state)
{
	static const char *declined[] = {
	    /* members the tree path acts on */
	    "{\"uuid\":\"" U1 "\",\"type\":\"ip-dst\",\"value\":\"1.2.3.4\",\"Tag\":[{\"name\":"
	    "\"tlp:red\"}]}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"ip-dst\",\"value\":\"1.2.3.4\",\"Galaxy\":[{}]}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"ip-dst\",\"value\":\"1.2.3.4\",\"Sighting\":[{}]}",
	    /* values the tree path warns about or normalises its own way */
	    "{\"uuid\":\"" U1 "\",\"type\":\"ip-dst\",\"value\":\"1.2.3.999\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"md5\",\"value\":\"abc\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"mac-address\",\"value\":\"'00:11:22:33:44:55'\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"a\\u0000b\"}",
	    "{\"uuid\":\"bad\",\"type\":\"url\",\"value\":\"x\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"attachment\",\"value\":\"a\",\"data\":\"QQ==\"}",
	    /* text jansson would refuse or that needs decoding: the tree path decides */
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\",\"type\":\"url\"}",
	    "{\"uuid\":\"" U1 "\",\"typ\\u0065\":\"url\",\"value\":\"x\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\",\"n\":12345678901234567890}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"a\x01z\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"\\ud800\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"\xff\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\"",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
		if (taken(declined[i]) != 0)
			fail_msg("case %zu was taken by the fast path: %s", i, declined[i]);
}

/* ---- hostile strings ---------------------------------------------------------------------------
 */

/* JSON string contents (already escaped for the document) */
static const char *const hostile[] = {
    "q\\\"uo\\\"te",
    "back\\\\slash\\\\\\\\",
    "ctl\\u0001\\u001f\\b\\f\\n\\r\\t end",
    "\\u007f del",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "caf\\u00e9 \\ud83d\\ude00",
    "slash\\/ed",
    "pattern ' breaker \\\\' ]",
    "",
};

static void hostile_values_agree(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t h = 0; h < sizeof(hostile) / sizeof(hostile[0]); h++) {
			char value[512], name[128];
			/* the kind's own value with the hostile text in front and behind */
			snprintf(value, sizeof(value), "%s%s%s", hostile[h], kinds[k].value,
			         hostile[h]);
			char *a = attr(U1, kinds[k].type, value, "");
			char *b = attr(U2, kinds[k].type, kinds[k].value, "");
			size_t n = strlen(a) + strlen(b) + 2;
			char *both = malloc(n);
			snprintf(both, n, "%s,%s", a, b);
			char *doc = event_of(both);
			snprintf(name, sizeof(name), "%s / hostile %zu", kinds[k].type, h);
			agree(doc, 0, 0, name);
			agree(doc, 1, 0, name);
			free(doc);
			free(both);
			free(a);
			free(b);
		}
}

static void hostile_members_agree(void **state)
{
	static const char *extras[] = {
	    ",\"category\":\"Pay\\\"load\\\\ \\u0002 delivery \xc3\xa9\"",
	    ",\"comment\":\"a \\\"comment\\\" \\\\ \\n with \\u00e9\",\"to_ids\":true",
	    ",\"comment\":7,\"to_ids\":true",
	    ",\"category\":null,\"to_ids\":true",
	    ",\"to_ids\":\"1\"",
	    ",\"to_ids\":\"TRUE\"",
	    ",\"to_ids\":0",
	    ",\"to_ids\":1.5",
	    ",\"timestamp\":1603642921",
	    ",\"timestamp\":\" 1603642921\"",
	    ",\"timestamp\":\"soon\"",
	    ",\"timestamp\":-5",
	    ",\"timestamp\":253402300800",
	    ",\"timestamp\":\"1603642920\",\"first_seen\":\"2020-01-01T00:30:00.120000+01:00\"",
	    ",\"timestamp\":\"1603642920\",\"last_seen\":\"2020-13-01\"",
	    ",\"Tag\":[],\"Galaxy\":[],\"Sighting\":[]",
	    ",\"Tag\":null,\"Galaxy\":\"x\",\"Sighting\":{}",
	    ",\"ShadowAttribute\":[],\"Event\":{},\"RelatedAttribute\":[{\"a\":[1,2,{\"b\":null}]}"
	    "]",
	    ",\"type\":\"ty\\\"pe\"", /* a duplicate key: the same parse error */
	};
	(void)state;
	for (size_t e = 0; e < sizeof(extras) / sizeof(extras[0]); e++)
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			char name[128], a[1024];
			snprintf(a, sizeof(a),
			         "{\"uuid\":\"" U1 "\",\"type\":\"%s\",\"value\":\"%s\"%s}",
			         kinds[k].type, kinds[k].value, extras[e]);
			char *doc = event_of(a);
			snprintf(name, sizeof(name), "%s / extra %zu", kinds[k].type, e);
			agree(doc, 0, 0, name);
			agree(doc, 1, 0, name);
			free(doc);
		}
}

/* Every attribute on the fast path: the streamed tree path's exact bytes. */
static void bytes_match_the_streamed_tree(void **state)
{
	size_t cap = 1 << 20, n = 0;
	char *all = malloc(cap);
	(void)state;
	assert_non_null(all);
	all[0] = '\0';
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t h = 0; h + 1 < sizeof(hostile) / sizeof(hostile[0]); h++) {
			char value[512], uuid[40];
			/* hostile text only where the value stays valid for the kind */
			int free_text =
			    !strcmp(kinds[k].type, "url") || !strcmp(kinds[k].type, "filename") ||
			    !strcmp(kinds[k].type, "text") || !strcmp(kinds[k].type, "mutex") ||
			    !strcmp(kinds[k].type, "email-subject") ||
			    !strcmp(kinds[k].type, "user-agent");
			snprintf(value, sizeof(value), "%s%s", free_text ? hostile[h] : "",
			         kinds[k].value);
			snprintf(uuid, sizeof(uuid), "91ae0a21-c7ae-4c7f-b84b-%012zx", k * 100 + h);
			char *a = attr(uuid, kinds[k].type, value, "");
			n += (size_t)snprintf(all + n, cap - n, "%s%s", n ? "," : "", a);
			free(a);
		}
	/* a duplicate uuid: its objects are already in the bundle */
	char *dup = attr("91ae0a21-c7ae-4c7f-b84b-000000000000", "url", "http://dup/", "");
	n += (size_t)snprintf(all + n, cap - n, ",%s", dup);
	free(dup);
	char *doc = event_of(all);
	agree(doc, 0, 1, "all kinds");
	free(doc);
	free(all);
}

/* Fast and declined attributes mixed: a declined one (tags, sightings) between fast ones with
 * the same uuid, so dedup, refs order and sightings cross the two paths. */
static void mixed_paths_agree(void **state)
{
	(void)state;
	char *a1 = attr(U1, "ip-dst", "198.51.100.7", "");
	char *a2 = attr(U1, "domain", "example.com",
	                ",\"Tag\":[{\"name\":\"tlp:amber\"},{\"name\":\"misp:confidence-level="
	                "\\\"usually-confident\\\"\"},{\"name\":\"x\\\"y\"}],\"Sighting\":[{"
	                "\"uuid\":\"5e1c3d8f-7a5c-4b2e-9c2a-0e2f6f7c1a11\",\"type\":\"0\","
	                "\"date_sighting\":\"1603642990\",\"Organisation\":{\"uuid\":"
	                "\"55f6ea5e-2c60-40e5-964f-47a8950d210f\",\"name\":\"CIRCL\"}}]");
	char *a3 = attr(U2, "url", "http://example.com/\\\"x",
	                ",\"Sighting\":[{\"uuid\":\"5e1c3d8f-7a5c-4b2e-9c2a-0e2f6f7c1a12\","
	                "\"type\":\"1\",\"date_sighting\":\"1603642990\"}]");
	char *a4 = attr(U2, "ip-src", "bad ip", "");
	char list[8192];
	snprintf(list, sizeof(list), "%s,%s,%s,%s,7,[]", a1, a2, a3, a4);
	char *doc = event_of(list);
	agree(doc, 0, 0, "mixed");
	agree(doc, 1, 0, "mixed");
	free(doc);
	/* and an event with an object, event tags and a report citing a fast attribute */
	size_t n = strlen(list) + 4096;
	doc = malloc(n);
	snprintf(doc, n,
	         "{\"Event\":{" EV ",\"Tag\":[{\"name\":\"tlp:green\"}],\"Attribute\":[%s],"
	         "\"Object\":[{\"uuid\":\"" U2 "\",\"name\":\"domain-ip\",\"meta-category\":"
	         "\"network\",\"timestamp\":\"1603642920\",\"Attribute\":[{\"uuid\":"
	         "\"1c7d6e7a-3c1f-4f0e-8f38-0c1b2a3d4e5f\",\"type\":\"domain\",\"object_relation\":"
	         "\"domain\",\"value\":\"example.org\",\"to_ids\":true,\"timestamp\":"
	         "\"1603642920\"}]}],\"EventReport\":[{\"uuid\":"
	         "\"2c7d6e7a-3c1f-4f0e-8f38-0c1b2a3d4e5f\",\"name\":\"r\",\"timestamp\":"
	         "\"1603642920\",\"content\":\"see @[attribute](" U1 ")\"}]}}",
	         list);
	agree(doc, 0, 0, "mixed with object and report");
	free(doc);
	free(a1);
	free(a2);
	free(a3);
	free(a4);
}

static void huge_values_agree(void **state)
{
	size_t big = 2u * 1024u * 1024u;
	char *v = malloc(big + 1), *doc;
	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < big; i++)
		v[i] = "abc\\\"/xyz"[i % 9] == '\\' ? 'q' : "abcde/xyz"[i % 9];
	memcpy(v, "https://", 8);
	v[big] = '\0';
	char *a = attr(U1, "url", v, "");
	char *b = attr(U2, "text", v, "");
	size_t n = strlen(a) + strlen(b) + 2;
	char *both = malloc(n);
	snprintf(both, n, "%s,%s", a, b);
	doc = event_of(both);
	agree(doc, 0, 1, "huge values");
	free(doc);
	free(both);
	free(a);
	free(b);
	free(v);
}

static void malformed_attributes_agree(void **state)
{
	static const char *bad[] = {
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"a\x01z\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"\xff\xfe\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"\xc3\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"\\ud800x\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"\\x\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":01}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\",\"value\":\"y\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\",}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\" \"value\":\"x\"}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\",\"n\":1e999}",
	    "{\"uuid\":\"" U1 "\",\"type\":\"url\",\"value\":\"x\",\"n\":tru}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[32], list[512];
		char *ok = attr(U2, "ip-dst", "192.0.2.1", "");
		snprintf(list, sizeof(list), "%s,%s", ok, bad[i]);
		free(ok);
		char *doc = event_of(list);
		snprintf(name, sizeof(name), "malformed %zu", i);
		agree(doc, 0, 0, name);
		free(doc);
	}
}

/* The event read around its Attribute list (the members before it hold what the conversion needs
 * first): what follows the list is parsed after it, and its faults must give the same errors,
 * its oddities the same bundle. */
static void after_the_list_agrees(void **state)
{
	static const char *tails[] = {
	    "", /* nothing after */
	    ",\"Tag\":[{\"name\":\"tlp:green\"}],\"Galaxy\":[]",
	    ",\"n\":12345678901234567890,\"Tag\":[]", /* fast_json declines: jansson's tree */
	    ",\"ke\\u0079\":1",                       /* an escaped key */
	    ",\"Attribute\":[]",                      /* a second list: a duplicate key */
	    ",\"uuid\":\"" U2 "\"",                   /* a member needed first, again */
	    ",\"info\":}",                            /* malformed */
	    ",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]"
	    "]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", /* too deep */
	};
	char list[2048], doc[8192];
	char *a = attr(U1, "url", "http://example.com/", ""), *b = attr(U2, "md5", "x", "");
	(void)state;
	snprintf(list, sizeof(list), "%s,%s", a, b);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char name[32];
		snprintf(doc, sizeof(doc), "{\"Event\":{" EV ",\"Attribute\":[%s]%s}}", list,
		         tails[i]);
		snprintf(name, sizeof(name), "tail %zu", i);
		agree(doc, 0, 0, name);
		agree(doc, 1, 0, name);
		/* unwrapped, and with a top-level member after the event */
		snprintf(doc, sizeof(doc), "{" EV ",\"Attribute\":[%s]%s}", list, tails[i]);
		agree(doc, 0, 0, name);
		snprintf(doc, sizeof(doc), "{\"Event\":{" EV ",\"Attribute\":[%s]%s},\"z\":[1]}",
		         list, tails[i]);
		agree(doc, 0, 0, name);
	}
	/* a top-level member before the event repeated after it; the event itself twice */
	snprintf(doc, sizeof(doc), "{\"a\":1,\"Event\":{" EV ",\"Attribute\":[%s]},\"a\":2}", list);
	agree(doc, 0, 0, "top-level duplicate");
	snprintf(doc, sizeof(doc), "{\"Event\":{" EV ",\"Attribute\":[%s]},\"Event\":{}}", list);
	agree(doc, 0, 0, "two events");
	snprintf(doc, sizeof(doc), "{\"a\":1,\"Event\":{" EV ",\"Attribute\":[%s]},\"b\":2}", list);
	agree(doc, 0, 1, "top-level members around the event");
	/* the list cut off, or never closed */
	snprintf(doc, sizeof(doc), "{\"Event\":{" EV ",\"Attribute\":[%s", list);
	agree(doc, 0, 0, "unclosed");
	snprintf(doc, sizeof(doc), "{\"Event\":{" EV ",\"Attribute\":[%s,", list);
	agree(doc, 0, 0, "unclosed after a comma");
	snprintf(doc, sizeof(doc), "{\"Event\":{" EV ",\"Attribute\":[%s,]}}", list);
	agree(doc, 0, 0, "trailing comma");
	free(a);
	free(b);
}

/* ---- relationship ids ------------------------------------------------------------------------ */

static void reference_uuid5(const unsigned char ns[16], const char *name, size_t len, char out[37])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha1(), NULL), 1);
	EVP_DigestUpdate(c, ns, 16);
	EVP_DigestUpdate(c, name, len);
	EVP_DigestFinal_ex(c, md, &ml);
	EVP_MD_CTX_free(c);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10],
	         md[11], md[12], md[13], md[14], md[15]);
}

static void uuid5_matches_openssl(void **state)
{
	static const unsigned char ns[16] = {0x76, 0xbe, 0xed, 0x5f, 0x72, 0x51, 0x45, 0x7e,
	                                     0x8c, 0x2a, 0xb4, 0x5f, 0x7b, 0x58, 0x9d, 0x3d};
	char name[1100], got[37], want[37];
	unsigned seed = 7;
	(void)state;
	/* every length across the 64-byte block and padding boundaries, random bytes */
	for (size_t len = 0; len < sizeof(name); len++) {
		for (size_t i = 0; i < len; i++)
			name[i] = (char)rand_r(&seed);
		sl_stix_id_uuid5(ns, name, len, got);
		reference_uuid5(ns, name, len, want);
		assert_string_equal(got, want);
	}
	/* relationship ids: the name hashed in pieces is "<src> - <type> - <tgt>" */
	char id[SL_STIX_ID_MAX];
	sl_stix_id_relationship("indicator--" U1, "based-on", "observed-data--" U1, id);
	snprintf(name, sizeof(name), "indicator--" U1 " - based-on - observed-data--" U1);
	reference_uuid5(ns, name, strlen(name), want);
	assert_int_equal(strncmp(id, "relationship--", 14), 0);
	assert_string_equal(id + 14, want);
	/* through a reused context (the fast path's), many times: the same ids */
	struct sl_stix_id_hasher *h = sl_stix_id_hasher_new();
	assert_non_null(h);
	for (int i = 0; i < 300; i++) {
		char src[64], id2[SL_STIX_ID_MAX];
		snprintf(src, sizeof(src), "indicator--%08d-c7ae-4c7f-b84b-b84a7ce53d1f", i);
		sl_stix_id_relationship(src, i % 2 ? "based-on" : "related-to", "x--" U2, id);
		sl_stix_id_relationship_with(h, src, i % 2 ? "based-on" : "related-to", "x--" U2,
		                             id2);
		assert_string_equal(id, id2);
	}
	sl_stix_id_hasher_free(h);
}

/* the bundle's id set: what was added is there once, what was not is not, across growth */
static void id_set(void **state)
{
	struct sl_map_ids *s = sl_map_ids_new();
	char id[SL_STIX_ID_MAX];

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "indicator--%08x-0000-4000-8000-%012d", i * 2654435761u,
		         i);
		assert_int_equal(sl_map_ids_add(s, id), 1);
		assert_int_equal(sl_map_ids_add(s, id), 0);
	}
	assert_int_equal(sl_map_ids_count(s), 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "indicator--%08x-0000-4000-8000-%012d", i * 2654435761u,
		         i);
		assert_true(sl_map_ids_has(s, id));
		id[0] = 'x'; /* a different id with the same tail */
		assert_false(sl_map_ids_has(s, id));
	}
	assert_false(sl_map_ids_has(s, NULL));
	assert_false(sl_map_ids_has(s, ""));
	assert_int_equal(sl_map_ids_add(s, ""), 1);
	assert_true(sl_map_ids_has(s, ""));
	sl_map_ids_free(s);
	sl_map_ids_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(id_set),
	    cmocka_unit_test(common_kinds_take_the_fast_path),
	    cmocka_unit_test(unusual_attributes_are_declined),
	    cmocka_unit_test(hostile_values_agree),
	    cmocka_unit_test(hostile_members_agree),
	    cmocka_unit_test(bytes_match_the_streamed_tree),
	    cmocka_unit_test(mixed_paths_agree),
	    cmocka_unit_test(huge_values_agree),
	    cmocka_unit_test(malformed_attributes_agree),
	    cmocka_unit_test(after_the_list_agrees),
	    cmocka_unit_test(uuid5_matches_openssl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
