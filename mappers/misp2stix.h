/* misp2stix.h — MISP event -> STIX 2.1 bundle, as the reference converter (misp-stix) maps it:
 * same ids, patterns, SCOs, refs and markings; deliberate differences are listed in
 * docs/mapping.md. */
#ifndef SL_MISP2STIX_H
#define SL_MISP2STIX_H

#include <jansson.h>
#include <stdio.h>

#include "err.h"

struct sl_map_opts {
	int strict; /* unmapped types/objects/galaxies are errors (SL_EUNSUPPORTED), not warnings */
};

/* Convert one MISP event. `event` is either {"Event": {...}} or the inner event object (borrowed).
 * Returns a new bundle ({"type":"bundle","id":"bundle--<event uuid>","objects":[...]}) or NULL with
 * err filled; err->where names the event uuid and the attribute/object uuid or JSON path.
 * Bad attributes (invalid IP, hash, value that cannot be patterned) are skipped with a warning.
 * Each warning is appended to `warnings` (a JSON array, may be NULL) as
 * {"where": "...", "message": "..."}. */
json_t *sl_misp_to_stix(const json_t *event, const struct sl_map_opts *opts, json_t *warnings,
                        struct sl_err *err) SL_MUSTCHECK;

/* The same conversion streamed to `out` as compact JSON: each object is written as soon as it is
 * built and freed, so memory stays near the size of the parsed event (the container, whose
 * object_refs are complete only at the end, is written last; bundle order carries no meaning in
 * STIX). Returns 0 or a negative sl_err_code; on error part of a bundle may have been written and
 * must be discarded. */
int sl_misp_to_stix_write(const json_t *event, const struct sl_map_opts *opts, json_t *warnings,
                          FILE *out, struct sl_err *err) SL_MUSTCHECK;

#endif
