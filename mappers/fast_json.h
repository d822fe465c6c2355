/* fast_json.h — a fast parser for well-formed JSON into jansson values: the same tree
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) builds, without its per-byte stream layer.
 * It accepts only what jansson accepts; on anything else it gives up and the caller falls back to
 * sl_json_parse, which produces the error message (line, column) users see. */
#ifndef SL_FAST_JSON_H
#define SL_FAST_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Parse buf[0..len) (an object or array, as sl_json_parse requires). max_depth bounds nesting
 * counted from base_depth (so a fragment of a document can be held to the document's limit).
 * Returns a new reference, or NULL when the text is not valid JSON, nests too deep, or uses
 * something this parser leaves to jansson (a NUL in a key, an integer of 19+ digits). */
json_t *sl_fast_json_parse(const char *buf, size_t len, int base_depth, int max_depth);

/* Parse the one object or array starting at buf[0] (no leading whitespace) and set *used to its
 * length; what follows is not looked at. When keep (NULL-terminated names) is given and the value
 * is an object, only its members named there are built: the others are checked as jansson would
 * check them (syntax, UTF-8, duplicates, depth) and dropped. NULL when declined, as above (also
 * for a key with an escape in such an object). */
json_t *sl_fast_json_parse_value(const char *buf, size_t len, int base_depth, int max_depth,
                                 const char *const *keep, size_t *used);

/* Which members of an object sl_fast_json_parse_kept builds: those named in names (every one when
 * names is NULL); the member named sub, when it is an object or an array, has it (or each of its
 * object elements) filtered by inner; the others are checked as jansson would check them (syntax,
 * UTF-8, duplicates, depth) and dropped. */
struct sl_fast_json_keep {
	const char *const *names; /* NULL-terminated, or NULL for all */
	const char *sub;
	const struct sl_fast_json_keep *inner;
};

/* Parse the object buf[0..len) (whitespace around it allowed) keeping what keep says, as a tree.
 * NULL when declined: not valid JSON, too deep, not an object, a key with an escape or a NUL, more
 * than 64 members in an object, or what sl_fast_json_parse declines. */
json_t *sl_fast_json_parse_kept(const char *buf, size_t len, int base_depth, int max_depth,
                                const struct sl_fast_json_keep *keep);

/* The byte length of the JSON value starting at buf[0] (leading whitespace not allowed), found by
 * matching brackets and string quotes only, without validating it; 0 if it does not end within
 * len. */
size_t sl_fast_json_skip(const char *buf, size_t len);

/* A member picked out by sl_fast_json_fields. */
enum sl_fast_json_kind {
	SL_FJ_ABSENT = 0,
	SL_FJ_STRING,  /* s[0..n) decoded (escapes resolved, may hold NUL), NUL-terminated */
	SL_FJ_INTEGER, /* i */
	SL_FJ_TRUE,
	SL_FJ_FALSE,
	SL_FJ_NULL,
	SL_FJ_EMPTY_ARRAY, /* [] */
	SL_FJ_OTHER,       /* a real, an object or a non-empty array (validated, not kept) */
};
struct sl_fast_json_field {
	enum sl_fast_json_kind kind;
	const char *s; /* points into *arena: valid until the arena is next used */
	size_t n, off;
	size_t at; /* byte offset of the value in buf (every kind but SL_FJ_ABSENT) */
	long long i;
};

/* Read the object starting at buf[0] without building a tree: out[k] describes the member named
 * names[k] (NULL-terminated list); every other member is validated as jansson would (syntax, UTF-8,
 * duplicates, depth) and dropped. Strings are decoded into *arena (a malloc'd buffer the caller
 * keeps between calls and frees; grown as needed, *arena_cap its size). Returns 1 and sets *used
 * to the object's length, or 0 when declined: not valid JSON, too deep, a key with an escape, an
 * integer of 19+ digits, out of memory (the caller then takes the tree path, which decides). */
int sl_fast_json_fields(const char *buf, size_t len, int base_depth, int max_depth,
                        const char *const *names, struct sl_fast_json_field *out, char **arena,
                        size_t *arena_cap, size_t *used);

#endif
