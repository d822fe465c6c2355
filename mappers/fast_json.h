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

/* The byte length of the JSON value starting at buf[0] (leading whitespace not allowed), found by
 * matching brackets and string quotes only, without validating it; 0 if it does not end within
 * len. */
size_t sl_fast_json_skip(const char *buf, size_t len);

#endif
