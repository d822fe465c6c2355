/* fast_misp2stix.c — the event's text is split where it is cheap to split: the inner event's
 * "Attribute" array is found by a bracket-matching scan, the rest of the event (objects,
 * galaxies, tags, reports: usually small) is parsed as one tree with that array emptied, and the
 * array's elements are parsed one by one as the mapper asks for them. Anything unusual (escaped
 * keys, no array, text fast_json declines) takes the ordinary path: sl_json_parse + the tree. */
#include "fast_misp2stix.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fast_attr.h"
#include "fast_json.h"
#include "misp_galaxy.h"
#include "misp_objects.h"
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
	size_t stop; /* offset of the array's closing ']'; with open, the document's end */
	int base;    /* brackets open around an element */
	int first;
	int open;     /* the list's end is found as the elements are read (no skip over it first) */
	size_t arr;   /* offset of the list's '[' */
	size_t close; /* with open: offset of its ']' once reached */
	json_t *prefix; /* with open: the event up to the list (whole_skeleton completes it) */
	int wrapped;    /* {"Event": {...}} */
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

/* The members of a MISP object, and of its attributes, that misp_objects.c (map_object,
 * map_references) and the sightings step read; the rest of each object is checked but not built.
 * The event's other members are all built. test_fast_misp2stix's object cases fail when the mapper
 * starts reading a member missing here. */
static const char *const obj_keys[] = {
    "uuid",       "name",      "meta-category", "timestamp",       "comment",
    "first_seen", "last_seen", "Attribute",     "ObjectReference", NULL};
static const char *const obj_attr_keys[] = {"uuid",     "type",     "object_relation", "value",
                                            "to_ids",   "category", "comment",         "data",
                                            "Sighting", NULL};
static const struct sl_fast_json_keep keep_obj_attr = {obj_attr_keys, NULL, NULL};
static const struct sl_fast_json_keep keep_obj = {obj_keys, "Attribute", &keep_obj_attr};
static const struct sl_fast_json_keep keep_event = {NULL, "Object", &keep_obj};
static const struct sl_fast_json_keep keep_wrapped = {NULL, "Event", &keep_event};
/* The event skeleton (the event without its Attribute list, or part of it) as a tree with its
 * objects reduced to what is read; NULL when declined (the caller's full parse decides). */
static json_t *skeleton_parse(const char *buf, size_t len, int wrapped)
{
	return sl_fast_json_parse_kept(buf, len, 0, SL_JSON_DEFAULT_MAX_DEPTH,
	                               wrapped ? &keep_wrapped : &keep_event);
}

/* ---- MISP objects read from the text ------------------------------------------------------------
 * The Object list after the Attribute list is read object by object with sl_fast_json_fields (no
 * tree), into sl_map_obj_in for misp_objects.c, which maps them as it maps trees. All or nothing:
 * when any object is something this reader leaves to the tree (not an object, references, an
 * attribute that is not an object or has sightings, text fast_json declines), none is taken and
 * the list goes the tree's way. */

enum { OF_UUID, OF_NAME, OF_META, OF_TS, OF_COMMENT, OF_FIRST, OF_LAST, OF_ATTR, OF_REFS, OF_N };
static const char *const of_names[] = {
    "uuid",       "name",      "meta-category", "timestamp",       "comment",
    "first_seen", "last_seen", "Attribute",     "ObjectReference", NULL};
enum { AF_REL, AF_TYPE, AF_VALUE, AF_UUID, AF_CAT, AF_COMMENT, AF_DATA, AF_IDS, AF_SIGHT, AF_N };
static const char *const af_names[] = {"object_relation", "type", "value",  "uuid",     "category",
                                       "comment",         "data", "to_ids", "Sighting", NULL};

#define NO_STR ((size_t)-1)

struct objs {
	struct sl_map_obj_in *o;
	size_t n, cap, aoffcap, tscap;
	struct sl_map_oattr_in *a;
	size_t na, acap;
	size_t *aoff; /* per object: index of its first attribute in a */
	size_t *soff; /* string offsets into str: 6 per object, then 7 per attribute */
	size_t ns, scap;
	char *str; /* the strings, NUL-terminated */
	size_t slen, strcap;
	json_t **ts; /* per object: its timestamp (owned), or NULL */
	char *arena; /* sl_fast_json_fields' */
	size_t arena_cap;
	size_t list_at, list_end; /* the list's text: [list_at, list_end) of the document */
};

static void objs_free(struct objs *x)
{
	for (size_t i = 0; i < x->n; i++)
		json_decref(x->ts[i]);
	free(x->o);
	free(x->a);
	free(x->aoff);
	free(x->soff);
	free(x->str);
	free(x->ts);
	free(x->arena);
	memset(x, 0, sizeof(*x));
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * size);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* A string member's offset in x->str (NO_STR when absent or not a string). */
static int put_str(struct objs *x, const struct sl_fast_json_field *f)
{
	size_t off = NO_STR;

	if (f->kind == SL_FJ_STRING) {
		if (grow((void **)&x->str, &x->strcap, x->slen + f->n + 1, 1))
			return -1;
		memcpy(x->str + x->slen, f->s, f->n);
		x->str[x->slen + f->n] = '\0';
		off = x->slen;
		x->slen += f->n + 1;
	}
	if (grow((void **)&x->soff, &x->scap, x->ns + 1, sizeof(size_t)))
		return -1;
	x->soff[x->ns++] = off;
	return 0;
}

static const char *str_at(const struct objs *x, size_t k)
{
	return x->soff[k] == NO_STR ? NULL : x->str + x->soff[k];
}

/* to_ids as sl_map_bool reads it, -1 for the type's default */
static int field_bool(const struct sl_fast_json_field *f)
{
	switch (f->kind) {
	case SL_FJ_TRUE:
		return 1;
	case SL_FJ_FALSE:
		return 0;
	case SL_FJ_INTEGER:
		return f->i != 0;
	case SL_FJ_STRING:
		return !strcmp(f->s, "1") || !strcasecmp(f->s, "true");
	default:
		return -1;
	}
}

/* The offset of the value of the event member named key in the text after the Attribute list
 * (b[i] is just past its ']'), or 0 when not there or not simply found. */
static size_t tail_member(const char *b, size_t len, size_t i, const char *key)
{
	size_t kl = strlen(key);

	for (;;) {
		i = skip_ws(b, len, i);
		if (i >= len || b[i] != ',')
			return 0;
		i = skip_ws(b, len, i + 1);
		if (i >= len || b[i] != '"')
			return 0;
		size_t k = i + 1;
		while (k < len && b[k] != '"' && b[k] != '\\')
			k++;
		if (k >= len || b[k] == '\\')
			return 0;
		int match = k - (i + 1) == kl && !memcmp(b + i + 1, key, kl);
		size_t v = skip_ws(b, len, k + 1);
		if (v >= len || b[v] != ':')
			return 0;
		v = skip_ws(b, len, v + 1);
		if (match)
			return v < len ? v : 0;
		size_t n = v < len ? sl_fast_json_skip(b + v, len - v) : 0;
		if (!n)
			return 0;
		i = v + n;
	}
}

/* Step through a list of objects: at b[*i] (past '[' or past the previous element) the next
 * element's '{' (1, *i on it), the list's ']' (0, *i on it), or anything else (-1). */
static int list_next(const char *b, size_t len, size_t *i, int *first)
{
	if (*i >= len)
		return -1;
	if (b[*i] == ']')
		return 0;
	if (!*first) {
		if (b[*i] != ',')
			return -1;
		*i = skip_ws(b, len, *i + 1);
	}
	*first = 0;
	return *i < len && b[*i] == '{' ? 1 : -1;
}

/* The attributes of one object, the list at b[i] ('['); 1 read, 0 left to the tree, -1 OOM. */
static int read_obj_attrs(struct objs *x, const char *b, size_t len, size_t i, int depth)
{
	struct sl_fast_json_field f[AF_N];
	size_t used;
	int first = 1;

	i = skip_ws(b, len, i + 1);
	for (;;) {
		int e = list_next(b, len, &i, &first);

		if (e <= 0)
			return e == 0;
		if (!sl_fast_json_fields(b + i, len - i, depth, SL_JSON_DEFAULT_MAX_DEPTH, af_names,
		                         f, &x->arena, &x->arena_cap, &used))
			return 0;
		if (f[AF_SIGHT].kind == SL_FJ_OTHER)
			return 0; /* sightings: the tree's way */
		if (grow((void **)&x->a, &x->acap, x->na + 1, sizeof(*x->a)))
			return -1;
		x->a[x->na].to_ids = field_bool(&f[AF_IDS]);
		for (int k = AF_REL; k <= AF_DATA; k++)
			if (put_str(x, &f[k]))
				return -1;
		x->na++;
		i = skip_ws(b, len, i + used);
	}
}

/* The Object list at b[i] ('[') whose elements sit at nesting depth base: 1 when every object
 * was read, 0 when the tree is to map them, -1 out of memory. */
static int read_objects(struct objs *x, const char *b, size_t len, size_t i, int base)
{
	struct sl_fast_json_field f[OF_N];
	size_t used;
	int first = 1;

	x->list_at = i;
	i = skip_ws(b, len, i + 1);
	for (;;) {
		int e = list_next(b, len, &i, &first);

		if (e < 0)
			return 0;
		if (e == 0) {
			x->list_end = i + 1;
			break;
		}
		if (!sl_fast_json_fields(b + i, len - i, base, SL_JSON_DEFAULT_MAX_DEPTH, of_names,
		                         f, &x->arena, &x->arena_cap, &used))
			return 0;
		if (f[OF_REFS].kind == SL_FJ_OTHER)
			return 0; /* references: the tree's way */
		if (grow((void **)&x->o, &x->cap, x->n + 1, sizeof(*x->o)) ||
		    grow((void **)&x->aoff, &x->aoffcap, x->n + 1, sizeof(*x->aoff)) ||
		    grow((void **)&x->ts, &x->tscap, x->n + 1, sizeof(*x->ts)))
			return -1;
		struct sl_map_obj_in *o = &x->o[x->n];
		memset(o, 0, sizeof(*o));
		x->ts[x->n] = f[OF_TS].kind == SL_FJ_STRING ? json_stringn(f[OF_TS].s, f[OF_TS].n)
		              : f[OF_TS].kind == SL_FJ_INTEGER ? json_integer(f[OF_TS].i)
		                                               : NULL;
		if ((f[OF_TS].kind == SL_FJ_STRING || f[OF_TS].kind == SL_FJ_INTEGER) &&
		    !x->ts[x->n])
			return -1;
		x->aoff[x->n] = x->na;
		x->n++;
		for (int k = OF_UUID; k <= OF_LAST; k++)
			if (k != OF_TS && put_str(x, &f[k]))
				return -1;
		enum sl_fast_json_kind ak = f[OF_ATTR].kind;
		o->attr_list = ak == SL_FJ_ABSENT || ak == SL_FJ_EMPTY_ARRAY ||
		               (ak == SL_FJ_OTHER && b[i + f[OF_ATTR].at] == '[');
		if (ak == SL_FJ_OTHER && o->attr_list) {
			int r = read_obj_attrs(x, b + i, used, f[OF_ATTR].at, base + 2);
			if (r <= 0)
				return r;
		}
		i = skip_ws(b, len, i + used);
	}
	/* every string is in place: point at them */
	size_t k = 0;
	for (size_t j = 0; j < x->n; j++) {
		struct sl_map_obj_in *o = &x->o[j];
		o->uuid = str_at(x, k++);
		o->name = str_at(x, k++);
		o->meta = str_at(x, k++);
		o->comment = str_at(x, k++);
		o->first_seen = str_at(x, k++);
		o->last_seen = str_at(x, k++);
		o->timestamp = x->ts[j];
		size_t end = j + 1 < x->n ? x->aoff[j + 1] : x->na;
		o->at = x->a + x->aoff[j];
		o->n = end - x->aoff[j];
		for (size_t q = x->aoff[j]; q < end; q++) {
			struct sl_map_oattr_in *a = &x->a[q];
			a->rel = str_at(x, k++);
			a->type = str_at(x, k++);
			a->value = str_at(x, k++);
			a->uuid = str_at(x, k++);
			a->category = str_at(x, k++);
			a->comment = str_at(x, k++);
			a->data = str_at(x, k++);
		}
	}
	return 1;
}

/* Where the next element starts: 1 (*at set), 0 at the end of the list, -1 when the text between
 * elements is malformed (err filled with the document's own parse error). */
static int elem_begin(struct elems *st, size_t *at, struct sl_err *err)
{
	const char *b = st->buf;
	size_t i = skip_ws(b, st->stop, st->pos);

	if (i >= st->stop) {
		if (!st->open)
			return 0;
		doc_error(st, err); /* the list never ends */
		return -1;
	}
	if (st->open && b[i] == ']') {
		st->close = i;
		return 0;
	}
	if (!st->first) {
		if (b[i] != ',') {
			doc_error(st, err);
			return -1;
		}
		i = skip_ws(b, st->stop, i + 1);
	}
	st->first = 0;
	*at = i;
	return 1;
}

/* The element at offset i as a tree (the members the mapper reads), or NULL with err filled. */
static json_t *elem_tree(struct elems *st, size_t i, struct sl_err *err)
{
	const char *b = st->buf;
	size_t n;
	json_t *v;

	v = sl_fast_json_parse_value(b + i, st->stop - i, st->base, SL_JSON_DEFAULT_MAX_DEPTH,
	                             attr_keys, &n);
	if (v) {
		st->pos = i + n;
		return v;
	}
	st->pos = i;
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

/* ---- the conversion ----------------------------------------------------------------------------
 * misp2stix.c's convert() for the streamed case, with each attribute offered to fast_attr first.
 * The event-level steps (identities, sightings, event reports) are misp2stix.c's, through
 * map_ctx.h. */

static void ref_id(char out[SL_STIX_ID_MAX], const char *type, const char *uuid)
{
	sl_map_cat(out, SL_STIX_ID_MAX, type, "--", uuid);
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new_nocheck(o, k, json_string(v));
}

/* An attribute fast_attr declined, mapped the tree path's way: the attribute alone in an event
 * with this event's uuid, creator and timestamp goes through sl_misp_to_stix, and what it gives
 * for the attribute (not the identity, container or empty-event note) joins this bundle with
 * sl_map_add's dedup. Attributes that do not even reach map_attribute's checks get its warnings
 * here. */
static int map_attr_tree(struct sl_map_ctx *c, json_t *a, size_t idx, int orgc_warned)
{
	static const struct sl_map_opts lax = {0};
	const json_t *ev = c->event;
	const char *u;
	char w[64], q[48];
	struct sl_err e;

	if (!json_is_object(a)) {
		snprintf(w, sizeof(w), "Attribute[%zu]", idx);
		sl_map_warn(c, SL_EINVAL, w, "attribute is not a JSON object; skipped");
		return 0;
	}
	u = sl_map_str(a, "uuid");
	if (!u || !sl_stix_id_uuid_valid(u)) {
		snprintf(w, sizeof(w), "Attribute[%zu]", idx);
		sl_err_quote(q, sizeof(q), u ? u : "(missing)", 40);
		sl_map_warn(c, SL_EINVAL, w, "attribute uuid \"%s\" is not a uuid; skipped", q);
		return 0;
	}
	json_t *one = json_object(), *list = json_array(), *warn = json_array();
	static const char *const keep[] = {"uuid", "timestamp", "Orgc", "Org"};
	int r = SL_ENOMEM;
	if (!one || !list || !warn || json_array_append(list, a) != 0)
		goto out;
	for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		json_t *v = json_object_get(ev, keep[k]);
		if (v && json_object_set(one, keep[k], v) != 0)
			goto out;
	}
	if (json_object_set(one, "Attribute", list) != 0)
		goto out;
	json_t *b = NULL;
	if (c->opts->strict && !c->strict_error) {
		/* the first warning is strict mode's error, with its code; it counts even when its
		 * text could not be recorded (json_pack refuses a message cut inside a UTF-8
		 * sequence), so ask the tree path itself */
		b = sl_misp_to_stix(one, c->opts, warn, &e);
		if (!b && e.code != SL_ENOMEM) {
			c->strict_error = 1;
			c->strict_err = e;
			json_array_clear(warn);
		}
	}
	if (!b)
		b = sl_misp_to_stix(one, &lax, warn, &e);
	if (!b)
		goto out;
	/* its warnings, less the event-level one this conversion has already given */
	size_t i;
	json_t *o;
	json_array_foreach(warn, i, o)
	{
		if (i == 0 && orgc_warned)
			continue;
		if (c->warnings)
			json_array_append(c->warnings, o);
	}
	char note[SL_STIX_ID_MAX];
	ref_id(note, "note", c->event_uuid);
	json_array_foreach(json_object_get(b, "objects"), i, o)
	{
		const char *id = sl_map_str(o, "id"), *type = sl_map_str(o, "type");
		if (i < 2 || !id || !type || !strcmp(id, note))
			continue; /* its identity and container; the note of an empty event */
		if (!strcmp(type, "marking-definition")) {
			if (!sl_map_ids_has(c->seen, id)) {
				sl_map_ids_add(c->seen, id);
				json_array_append(c->markings, o);
			}
		} else if (!strcmp(type, "relationship")) {
			if (!sl_map_ids_has(c->seen, id)) {
				sl_map_ids_add(c->seen, id);
				json_array_append_new(c->rel_refs, json_string(id));
				sl_map_emit(c, NULL, json_incref(o));
			}
		} else {
			sl_map_add(c, json_incref(o));
		}
	}
	json_decref(b);
	r = 0;
out:
	json_decref(one);
	json_decref(list);
	json_decref(warn);
	return r;
}

/* With an open list, once its end is known: the document with the list emptied, as a tree (the
 * same tree sl_json_parse would give), or NULL with the document's own parse error. */
/* The prefix tree completed with what follows the list, parsed on its own behind the same
 * nesting ({"Event":{"Attribute":[] + the rest); NULL when that does not work out simply (a key
 * seen before, text fast_json leaves to jansson): the caller then parses the whole. */
static json_t *tail_merged(struct elems *st, const struct objs *ob)
{
	static const char wrap[] = "{\"Event\":{\"Attribute\":[]", bare[] = "{\"Attribute\":[]";
	const char *head = st->wrapped ? wrap : bare;
	size_t hl = st->wrapped ? sizeof(wrap) - 1 : sizeof(bare) - 1, tail = st->close + 1;
	/* objects read from the text (ob): their list, already checked, stands as [] */
	size_t cut = ob ? ob->list_at : st->len, resume = ob ? ob->list_end : st->len;
	size_t n = hl + (cut - tail) + (ob ? 2 : 0) + (st->len - resume);
	char *doc = malloc(n), *d = doc;
	json_t *tt, *pin, *tin, *v;
	const char *k;

	if (!doc)
		return NULL;
	memcpy(d, head, hl);
	d += hl;
	memcpy(d, st->buf + tail, cut - tail);
	d += cut - tail;
	if (ob) {
		memcpy(d, "[]", 2);
		d += 2;
	}
	memcpy(d, st->buf + resume, st->len - resume);
	tt = skeleton_parse(doc, n, st->wrapped);
	free(doc);
	pin = st->wrapped ? json_object_get(st->prefix, "Event") : st->prefix;
	tin = st->wrapped ? json_object_get(tt, "Event") : tt;
	if (!json_is_object(pin) || !json_is_object(tin))
		goto fail;
	/* a member on both sides is a duplicate key: the whole parse reports it */
	json_object_foreach(tin, k,
	                    v) if (strcmp(k, "Attribute") && json_object_get(pin, k)) goto fail;
	if (st->wrapped)
		json_object_foreach(tt, k, v) if (strcmp(k, "Event") &&
		                                  json_object_get(st->prefix, k)) goto fail;
	json_object_foreach(tin, k,
	                    v) if (strcmp(k, "Attribute") && json_object_set(pin, k, v)) goto fail;
	if (st->wrapped)
		json_object_foreach(tt, k, v) if (strcmp(k, "Event") &&
		                                  json_object_set(st->prefix, k, v)) goto fail;
	json_decref(tt);
	return json_incref(st->prefix);
fail:
	json_decref(tt);
	return NULL;
}

/* ob: the objects were read from the text (their list stands as [] in the tree; *text_objs = 1
 * when it does, 0 when a fallback below built them whole). */
static json_t *whole_skeleton(struct elems *st, const struct objs *ob, int *text_objs,
                              struct sl_err *err)
{
	json_t *merged = st->prefix ? tail_merged(st, ob) : NULL;

	*text_objs = 0;
	if (merged) {
		*text_objs = ob != NULL;
		return merged;
	}

	size_t tail = st->close + 1, n = st->arr + 2 + (st->len - tail);
	char *skel;
	json_t *t;

	skel = malloc(n);
	if (!skel) {
		sl_err_set(err, SL_ENOMEM, st->what, "out of memory");
		return NULL;
	}
	memcpy(skel, st->buf, st->arr);
	memcpy(skel + st->arr, "[]", 2);
	memcpy(skel + st->arr + 2, st->buf + tail, st->len - tail);
	t = skeleton_parse(skel, n, st->wrapped);
	if (!t)
		t = sl_fast_json_parse(skel, n, 0, SL_JSON_DEFAULT_MAX_DEPTH);
	if (!t) {
		/* declined (a 19-digit integer, a NUL in a key...) or malformed: jansson decides */
		json_error_t je;
		t = json_loadb(skel, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
		if (t && !sl_json_depth_ok(t, SL_JSON_DEFAULT_MAX_DEPTH)) {
			json_decref(t);
			t = NULL;
		}
	}
	free(skel);
	if (!t)
		doc_error(st, err);
	return t;
}

/* The container with its object_refs spliced in from fa's text lists, written in blocks so the
 * list (1.6 MB on a 10,000-attribute event) never sits in the output buffer whole. The bytes
 * '"object_refs":[]' can only be that member: inside a JSON string the quotes would be escaped. */
static void emit_container(struct sl_map_ctx *c, struct sl_fast_attr *fa, const json_t *container)
{
	static const char mark[] = "\"object_refs\":[";
	size_t len, at, n[2];
	char *text = c->emit_error ? NULL : sl_stix_emit_dumps(container, &len);
	const char *hit = text ? strstr(text, "\"object_refs\":[]") : NULL;
	const char *lists[2];

	if (c->emit_error)
		return;
	if (!hit) {
		free(text);
		sl_err_set(&c->emit_err, SL_ENOMEM, "output", "out of memory serialising JSON");
		c->emit_error = 1;
		return;
	}
	at = (size_t)(hit - text) + sizeof(mark) - 1;
	lists[0] = sl_fast_attr_refs_text(fa, 0, &n[0]);
	lists[1] = sl_fast_attr_refs_text(fa, 1, &n[1]);
	int r = (c->nout++ > 0 ? sl_stix_emit_raw(c->emit, ",", 1, &c->emit_err) : 0) ||
	        sl_stix_emit_raw(c->emit, text, at, &c->emit_err);
	for (int k = 0; k < 2 && !r; k++) {
		if (k == 1 && n[0] && n[1])
			r = sl_stix_emit_raw(c->emit, ",", 1, &c->emit_err);
		for (size_t o = 0; o < n[k] && !r; o += SL_MAP_EMIT_BLOCK) {
			size_t take = n[k] - o < SL_MAP_EMIT_BLOCK ? n[k] - o : SL_MAP_EMIT_BLOCK;
			r = sl_stix_emit_raw(c->emit, lists[k] + o, take, &c->emit_err);
		}
	}
	if (!r)
		r = sl_stix_emit_raw(c->emit, text + at, len - at, &c->emit_err);
	free(text);
	if (r)
		c->emit_error = 1;
}

static int fast_convert(const json_t *event, struct elems *st, const struct sl_map_opts *opts,
                        json_t *warnings, FILE *out, struct sl_err *err)
{
	struct sl_map_ctx c;
	struct sl_fast_attr *fa = NULL;
	const json_t *ev, *a;
	json_t *container = NULL, *pending = NULL, *ident = NULL, *ev_gtags = NULL, *full = NULL;
	char cont_id[SL_STIX_ID_MAX], ts[SL_TS_MAX], pub[SL_TS_MAX];
	size_t i;
	int rc = SL_ENOMEM, orgc_warned = 0, text_objs = 0;
	struct objs objs;

	memset(&objs, 0, sizeof(objs));

	sl_err_clear(err);
	ev = sl_map_inner_event(event);
	const char *eu = sl_map_str(ev, "uuid");
	if (!eu || !sl_stix_id_uuid_valid(eu)) {
		char q[48];
		sl_err_quote(q, sizeof(q), eu ? eu : "(missing)", 40);
		return sl_err_set(err, SL_EINVAL, "Event.uuid", "event uuid \"%s\" is not a uuid",
		                  q);
	}
	/* an open list's trees come from fast_json, which held the whole document to the limit */
	if (!st->open && !sl_json_depth_ok(ev, SL_JSON_DEFAULT_MAX_DEPTH))
		return sl_err_set(err, SL_ELIMIT, eu, "event %s nests deeper than %d levels", eu,
		                  SL_JSON_DEFAULT_MAX_DEPTH);

	if (sl_map_begin(&c, ev, eu, opts, warnings, out, &ident, cont_id, pub, &orgc_warned,
	                 err) != 0)
		goto out;
	snprintf(ts, sizeof(ts), "%s", c.event_ts);
	const char *kind = pub[0] ? "report" : "grouping"; /* as sl_map_begin named it */
	fa = sl_fast_attr_new();
	pending = json_array();
	if (!fa || !pending) {
		sl_err_set(err, SL_ENOMEM, eu, "out of memory");
		goto out;
	}

	if (!st->open) {
		sl_map_galaxy_tags(&c, json_object_get(ev, "Galaxy"));
		ev_gtags = c.galaxy_tags;
		c.galaxy_tags = NULL;
	}

	/* the attributes, one element of the list at a time */
	for (i = 0;; i++) {
		size_t at, used;
		struct sl_err se;
		int r;
		sl_err_clear(&se);
		r = elem_begin(st, &at, &se);
		if (r == 0)
			break;
		if (r < 0) {
			if (err)
				*err = se;
			rc = se.code ? se.code : SL_EINVAL;
			goto out;
		}
		r = sl_fast_attr_map(fa, &c, st->buf + at, st->stop - at, st->base, &used);
		if (r == 1) {
			st->pos = at + used;
			continue;
		}
		if (r < 0) {
			sl_err_set(err, SL_ENOMEM, eu, "out of memory");
			goto out;
		}
		json_t *el = elem_tree(st, at, &se);
		if (!el) {
			if (err)
				*err = se;
			rc = se.code ? se.code : SL_EINVAL;
			goto out;
		}
		/* sightings wait for the whole bundle's ids */
		const json_t *sg = json_object_get(el, "Sighting");
		if (json_is_object(el) && json_is_array(sg)) {
			json_t *keep = json_object();
			const json_t *u = json_object_get(el, "uuid");
			if (!keep || (u && json_object_set(keep, "uuid", (json_t *)u) != 0) ||
			    json_object_set(keep, "Sighting", (json_t *)sg) != 0 ||
			    json_array_append_new(pending, keep) != 0) {
				json_decref(el);
				sl_err_set(err, SL_ENOMEM, eu, "out of memory");
				goto out;
			}
			json_object_del(el, "Sighting");
		}
		r = map_attr_tree(&c, el, i, orgc_warned);
		json_decref(el);
		if (r == 0)
			r = sl_fast_attr_take_refs(fa, &c);
		if (r < 0) {
			sl_err_set(err, SL_ENOMEM, eu, "out of memory");
			goto out;
		}
	}
	if (st->open) {
		/* the rest of the event is only known now: parse it all, less the list */
		struct sl_err se;
		size_t ol = tail_member(st->buf, st->len, st->close + 1, "Object");
		sl_err_clear(&se);
		if (ol && st->buf[ol] == '[') {
			int r = read_objects(&objs, st->buf, st->len, ol, st->base);
			if (r < 0) {
				sl_err_set(err, SL_ENOMEM, eu, "out of memory");
				goto out;
			}
			text_objs = r;
		}
		full = whole_skeleton(st, text_objs ? &objs : NULL, &text_objs, &se);
		if (!full) {
			if (err)
				*err = se;
			rc = se.code ? se.code : SL_EINVAL;
			goto out;
		}
		/* no depth check: whole_skeleton's trees are within the limit (fast_json's or
		 * checked) */
		ev = sl_map_inner_event(full);
		c.event = ev;
		sl_map_galaxy_tags(&c, json_object_get(ev, "Galaxy"));
		ev_gtags = c.galaxy_tags;
		c.galaxy_tags = NULL;
	}
	if (sl_map_check_list(&c, ev, "Object")) {
		if (text_objs)
			sl_map_objects_in(&c, objs.o, objs.n);
		else
			sl_map_objects(&c, json_object_get(ev, "Object"));
	}
	sl_map_galaxies(&c, json_object_get(ev, "Galaxy"), NULL, c.event_ts, 1);
	if (sl_fast_attr_take_refs(fa, &c) != 0) {
		sl_err_set(err, SL_ENOMEM, eu, "out of memory");
		goto out;
	}
	json_array_foreach(pending, i, a) sl_map_sightings(&c, a);
	if (sl_map_check_list(&c, ev, "Object")) {
		const json_t *o;
		size_t k;
		json_array_foreach(json_object_get(ev, "Object"), k, o)
		{
			const json_t *oa = json_object_get(o, "Attribute");
			if (json_is_array(oa))
				json_array_foreach(oa, i, a) sl_map_sightings(&c, a);
		}
	}
	if (sl_map_check_list(&c, ev, "EventReport"))
		sl_map_event_reports(&c, json_object_get(ev, "EventReport"));

	container = sl_map_strobj((const char *const[]){
	    "type", kind, "spec_version", "2.1", "id", cont_id, "created_by_ref", c.identity_id,
	    "created", ts, "modified", ts, "name",
	    sl_map_str(ev, "info") ? sl_map_str(ev, "info") : "", NULL});
	if (pub[0])
		set_str(container, "published", pub);
	else
		set_str(container, "context", "suspicious-activity");
	if (sl_fast_attr_take_refs(fa, &c) != 0) {
		sl_err_set(err, SL_ENOMEM, eu, "out of memory");
		goto out;
	}
	if (sl_fast_attr_ref_count(fa) == 0) {
		json_t *n = sl_map_sdo(&c, "note", eu, ts);
		set_str(
		    n, "content",
		    "This MISP Event is empty and contains no attribute, object, galaxy or tag.");
		json_object_set_new(n, "object_refs", json_pack("[s]", cont_id));
		sl_map_add(&c, n);
	}
	/* a place for object_refs, in the tree path's key order; filled in as text below */
	json_object_set_new(container, "object_refs", json_array());
	sl_map_push_str(container, "labels", "Threat-Report");
	sl_map_push_str(container, "labels", "misp:tool=\"MISP-STIX-Converter\"");
	c.galaxy_tags = ev_gtags;
	ev_gtags = NULL;
	sl_map_tags(&c, container, json_object_get(ev, "Tag"));

	if (c.strict_error) {
		if (err)
			*err = c.strict_err;
		rc = c.strict_err.code ? c.strict_err.code : SL_EUNSUPPORTED;
		goto out;
	}
	{
		size_t k;
		json_t *m;
		sl_map_emit(&c, NULL, ident);
		ident = NULL;
		if (sl_fast_attr_take_refs(fa, &c) != 0) {
			sl_err_set(err, SL_ENOMEM, eu, "out of memory");
			goto out;
		}
		emit_container(&c, fa, container);
		json_array_foreach(c.markings, k, m) sl_map_emit(&c, NULL, json_incref(m));
		if (!c.emit_error && (sl_stix_emit_raw(c.emit, "]}", 2, &c.emit_err) != 0 ||
		                      sl_stix_emit_flush(c.emit, out, &c.emit_err) != 0))
			c.emit_error = 1;
		if (c.emit_error) {
			if (err) {
				*err = c.emit_err;
				sl_err_prefix_where(err, eu);
			}
			rc = c.emit_err.code ? c.emit_err.code : SL_EIO;
			goto out;
		}
	}
	rc = ferror(out) ? sl_err_set(err, SL_EIO, "output", "writing the bundle failed") : 0;
out:
	json_decref(ident);
	json_decref(full);
	json_decref(ev_gtags);
	json_decref(container);
	json_decref(c.objects);
	json_decref(c.rels);
	json_decref(c.refs);
	json_decref(c.rel_refs);
	sl_map_ids_free(c.seen);
	json_decref(c.markings);
	json_decref(c.galaxy_tags);
	sl_pattern_free(c.pat);
	sl_stix_emit_free(c.emit);
	sl_fast_attr_free(fa);
	json_decref(pending);
	objs_free(&objs);
	return rc;
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

/* The event up to its Attribute list, closed right after the list ("...,"Attribute":[]}}"), is
 * enough to start when it holds every member the conversion needs before the attributes: those
 * cannot come again later (a duplicate key is an error), so the list is read as it comes and the
 * rest of the event parsed after it, without a pass over the list to find its end first. Returns
 * 1 when this way does not apply (nothing written), else the conversion's result. */
static int prefix_way(const char *buf, size_t len, const char *what, int wrapped, size_t arr,
                      int base, const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                      struct sl_err *err)
{
	size_t n = arr + 4;
	char *pre = malloc(n);
	json_t *tree;
	const json_t *ev, *orgc;

	if (!pre || !out)
		return free(pre), 1;
	memcpy(pre, buf, arr);
	memcpy(pre + arr, wrapped ? "[]}}" : "[]} ", 4);
	tree = skeleton_parse(pre, n, wrapped);
	free(pre);
	if (!json_is_object(tree)) {
		json_decref(tree);
		return 1;
	}
	ev = sl_map_inner_event(tree);
	orgc = json_object_get(ev, "Orgc");
	if (!json_object_get(ev, "uuid") || !json_object_get(ev, "timestamp") || !orgc ||
	    (!json_is_object(orgc) && !json_object_get(ev, "Org")) ||
	    !json_object_get(ev, "published") ||
	    (sl_map_bool(ev, "published", 0) && !json_object_get(ev, "publish_timestamp"))) {
		json_decref(tree);
		return 1;
	}
	struct elems st = {buf, what, len, arr + 1, len, base, 1, 1, arr, 0, tree, wrapped};
	int r = fast_convert(tree, &st, opts, warnings, out, err);
	json_decref(tree);
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
	{
		int r =
		    prefix_way(buf, len, what, inner != top, arr, base, opts, warnings, out, err);
		if (r != 1)
			return r;
	}
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
	json_t *tree = skeleton_parse(skel, len - alen + 2, inner != top);
	if (!tree)
		tree = sl_fast_json_parse(skel, len - alen + 2, 0, SL_JSON_DEFAULT_MAX_DEPTH);
	free(skel);
	if (!tree)
		return tree_path(buf, len, what, opts, warnings, out, err);

	struct elems st = {buf, what, len, arr + 1, arr + alen - 1, base, 1, 0, arr, 0, NULL, 0};
	int r;
	if (!out)
		r = sl_err_set(err, SL_EINVAL, "output", "no output stream");
	else if (!json_is_object(tree))
		r = sl_err_set(err, SL_EINVAL, "event", "a MISP event must be a JSON object");
	else
		r = fast_convert(tree, &st, opts, warnings, out, err);
	json_decref(tree);
	return r;
}
