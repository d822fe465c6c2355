/* stix2misp.h — STIX 2.1 bundle -> MISP event: exact for what sluice (and misp-stix) emits, by the
 * misp:* labels; heuristic for third-party bundles (OpenCTI, TAXII partners). */
#ifndef SL_STIX2MISP_H
#define SL_STIX2MISP_H

#include <jansson.h>

#include "err.h"
#include "misp2stix.h"

/* Convert one bundle (borrowed) to {"Event": {...}}. A bundle holding several reports/groupings gives
 * the first one's event; use sl_stix_to_misp_all for all. Returns a new reference or NULL with err
 * filled. Objects that cannot be mapped are reported in `warnings` (may be NULL) as for
 * sl_misp_to_stix. */
json_t *sl_stix_to_misp(const json_t *bundle, const struct sl_map_opts *opts, json_t *warnings,
			struct sl_err *err) SL_MUSTCHECK;

/* Every report/grouping in the bundle as its own event; objects not referenced by any container go
 * into one extra event named after the bundle. Returns a new JSON array of {"Event": ...}. */
json_t *sl_stix_to_misp_all(const json_t *bundle, const struct sl_map_opts *opts, json_t *warnings,
			    struct sl_err *err) SL_MUSTCHECK;

#endif
