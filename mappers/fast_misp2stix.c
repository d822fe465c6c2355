/* fast_misp2stix.c — the event's text is split where it is cheap to split: the inner event's
 * "Attribute" array is found by a bracket-matching scan, the rest of the event (objects,
 * galaxies, tags, reports: usually small) is parsed as one tree with that array emptied, and the
 * array's elements are parsed one by one as the mapper asks for them. Anything unusual (escaped
 * keys, no array, text fast_json declines) takes the ordinary path: sl_json_parse + the tree. */
#include "fast_misp2stix.h"

#include <stdlib.h>
#include <string.h>

#include "fast_json.h"
#include "json.h"
#include "map_ctx.h"

static size_t skip_ws(const char *b, size_t len, size_t i)
{
	while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
		i++;
	return i;
}

/* The offset of the value of member `key` in the object at b[o] ('{'), or -1 when absent or
 * when the object cannot be scanned simply (a key with an escape, a value that does not end). */
static long find_member(const char *b, size_t len, size_t o, const char *key)
{
	size_t kl = strlen(key), i = skip_ws(b, len, o + 1);

	if (i < len && b[i] == '}')
		return -1;
	while (i < len && b[i] == '"') {
		size_t k = i + 1, v, n;
		while (k < len && b[k] != '"' && b[k] != '\\')
			k++;
		if (k >= len || b[k] == '\\')
			return -1;
		int match = k - (i + 1) == kl && memcmp(b + i + 1, key, kl) == 0;
		v = skip_ws(b, len, k + 1);
		if (v >= len || b[v] != ':')
			return -1;
		v = skip_ws(b, len, v + 1);
		if (match)
			return (long)v;
		n = sl_fast_json_skip(b + v, len - v);
		if (!n)
			return -1;
		i = skip_ws(b, len, v + n);
		if (i >= len || b[i] != ',')
			return -1;
		i = skip_ws(b, len, i + 1);
	}
	return -1;
}

struct elems {
	const char *buf, *what;
	size_t len;  /* whole document, for error messages */
	size_t pos;  /* next byte to look at inside the array */
	size_t stop; /* offset of the array's closing ']' */
	int base;    /* brackets open around an element */
	int first;
};

/* The document's own parse error (sl_json_parse), which exists whenever an element cannot be read:
 * an element that does not parse makes the document not parse. */
static json_t *doc_error(struct elems *st, struct sl_err *err)
{
	json_t *v = sl_json_parse(st->buf, st->len, NULL, st->what, err);

	if (v) { /* should not happen; say where anyway */
		json_decref(v);
		sl_err_set(err, SL_EINVAL, st->what, "attribute list could not be read at byte %zu",
		           st->pos);
	}
	return NULL;
}

/* The members of an attribute the mapper reads (misp2stix.c: map_attribute, observable,
 * make_indicator, map_sightings; galaxies and tags below Galaxy/Tag). The rest of each attribute
 * (ids, distribution, sharing group, ...) is checked but not built. The corpus test
 * (test_fast_misp2stix) fails when the mapper starts reading a member missing here. */
static const char *const attr_keys[] = {"uuid",   "type",      "value",      "category",  "comment",
                                        "to_ids", "timestamp", "first_seen", "last_seen", "data",
                                        "Galaxy", "Tag",       "Sighting",   NULL};

static json_t *next_elem(void *arg, struct sl_err *err)
{
	struct elems *st = arg;
	const char *b = st->buf;
	size_t i = skip_ws(b, st->stop, st->pos), n;
	json_t *v;

	if (i >= st->stop)
		return NULL;
	if (!st->first) {
		if (b[i] != ',')
			return doc_error(st, err);
		i = skip_ws(b, st->stop, i + 1);
	}
	st->first = 0;
	v = sl_fast_json_parse_value(b + i, st->stop - i, st->base, SL_JSON_DEFAULT_MAX_DEPTH,
	                             attr_keys, &n);
	if (v) {
		st->pos = i + n;
		return v;
	}
	n = i < st->stop ? sl_fast_json_skip(b + i, st->stop - i) : 0;
	if (!n)
		return doc_error(st, err);
	st->pos = i + n;
	{
		/* declined (or a scalar): jansson on the element alone builds the same value */
		json_error_t je;
		v = json_loadb(b + i, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
		               &je);
		if (!v || !sl_json_depth_ok(v, SL_JSON_DEFAULT_MAX_DEPTH - st->base)) {
			json_decref(v);
			st->pos = i;
			return doc_error(st, err);
		}
	}
	return v;
}

/* The ordinary path: the whole tree. */
static int tree_path(const char *buf, size_t len, const char *what, const struct sl_map_opts *opts,
                     json_t *warnings, FILE *out, struct sl_err *err)
{
	/* over the size limit: sl_json_parse refuses it with its message */
	json_t *ev = len <= SL_JSON_DEFAULT_MAX_BYTES
	                 ? sl_fast_json_parse(buf, len, 0, SL_JSON_DEFAULT_MAX_DEPTH)
	                 : NULL;
	int r;

	if (!ev)
		ev = sl_json_parse(buf, len, NULL, what, err);
	if (!ev)
		return err && err->code ? err->code : SL_EINVAL;
	r = sl_misp_to_stix_write(ev, opts, warnings, out, err);
	json_decref(ev);
	return r;
}

int sl_fast_misp2stix_write(const char *buf, size_t len, const char *what,
                            const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                            struct sl_err *err)
{
	size_t top, inner, arr, alen;
	long ev, at;
	int base;

	if (!what)
		what = "input";
	if (len > SL_JSON_DEFAULT_MAX_BYTES)
		return tree_path(buf, len, what, opts, warnings, out, err); /* its limit error */
	top = skip_ws(buf, len, 0);
	if (top >= len || buf[top] != '{')
		return tree_path(buf, len, what, opts, warnings, out, err);
	/* the inner event as misp2stix.c takes it: "Event" when that is an object, else the top */
	ev = find_member(buf, len, top, "Event");
	inner = ev >= 0 && buf[ev] == '{' ? (size_t)ev : top;
	base = inner == top ? 2 : 3;
	at = find_member(buf, len, inner, "Attribute");
	if (at < 0 || buf[at] != '[')
		return tree_path(buf, len, what, opts, warnings, out, err);
	arr = (size_t)at;
	alen = sl_fast_json_skip(buf + arr, len - arr);
	if (!alen)
		return tree_path(buf, len, what, opts, warnings, out, err);

	/* the event without its attributes */
	char *skel = malloc(len - alen + 3);
	if (!skel)
		return sl_err_set(err, SL_ENOMEM, what, "out of memory");
	memcpy(skel, buf, arr);
	memcpy(skel + arr, "[]", 2);
	memcpy(skel + arr + 2, buf + arr + alen, len - arr - alen);
	json_t *tree = sl_fast_json_parse(skel, len - alen + 2, 0, SL_JSON_DEFAULT_MAX_DEPTH);
	free(skel);
	if (!tree)
		return tree_path(buf, len, what, opts, warnings, out, err);

	struct elems st = {buf, what, len, arr + 1, arr + alen - 1, base, 1};
	struct sl_map_attr_src src = {next_elem, &st};
	int r = sl_misp_to_stix_write_src(tree, &src, opts, warnings, out, err);
	json_decref(tree);
	return r;
}
