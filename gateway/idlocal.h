/* idlocal.h — objects pulled from a peer that renames ids (OpenCTI) get back the ids sluice knows
 * them by, through the ledger's id map and the ids the peer says they had before. */
#ifndef SL_IDLOCAL_H
#define SL_IDLOCAL_H

#include <jansson.h>

#include "err.h"
#include "ledger.h"

/* OpenCTI's core extension, where its output keeps the ids an object was given (stix_ids). */
#define SL_IDLOCAL_OCTI_EXT "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

/* Rewrite, in place, every object id and every *_ref / *_refs value of bundle (a STIX bundle from
 * peer) that sluice knows by another id: through the id map, else — for an object the map does not
 * know — the first of its former ids (x_opencti_stix_ids, or stix_ids in OpenCTI's core extension)
 * that the ledger holds, which is then remembered in the id map. An id new to sluice is left as
 * the peer has it. Refs are rewritten after every object of the bundle was recognised, whatever
 * their order. Two round trips for the whole bundle, and one id map write per object recognised.
 * Returns how many ids were rewritten, or a negative sl_err_code with err filled (the bundle is
 * then unchanged). */
int sl_idlocal_bundle(struct sl_ledger *l, const char *peer, json_t *bundle, struct sl_err *err);

#endif
