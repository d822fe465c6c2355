/* fast_misp2stix.h — MISP event JSON text -> STIX 2.1 bundle text, the fast way: the event is
 * parsed with fast_json, its Attribute list one element at a time (the whole event tree is never
 * in memory), and objects are serialised with stix_emit as they are mapped. Same bundle as
 * sl_misp_to_stix (objects in streaming order). */
#ifndef SL_FAST_MISP2STIX_H
#define SL_FAST_MISP2STIX_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "misp2stix.h"

/* Convert the MISP event in buf[0..len) ({"Event": {...}} or the inner object), read with
 * sl_json_parse's default limits, and write the bundle to out as compact JSON. `what` names the
 * input in parse errors (e.g. a file name). opts, warnings as for sl_misp_to_stix. Returns 0 or a
 * negative sl_err_code with err filled (malformed JSON: the same message and line:column as
 * sl_json_parse); on error part of a bundle may have been written and must be discarded. */
int sl_fast_misp2stix_write(const char *buf, size_t len, const char *what,
                            const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                            struct sl_err *err) SL_MUSTCHECK;

#endif
