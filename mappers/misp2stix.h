/* misp2stix.h — MISP event -> STIX 2.1 bundle, as the reference converter (misp-stix) maps it:
 * same ids, patterns, SCOs, refs and markings; deliberate differences are listed in docs/mapping.md. */
#ifndef SL_MISP2STIX_H
#define SL_MISP2STIX_H

#include <jansson.h>

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

#endif
