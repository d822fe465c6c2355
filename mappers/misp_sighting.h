/* misp_sighting.h — a MISP sighting on its own <-> a STIX sighting (or false-positive opinion), for
 * sightings that travel without their event: MISP's /sightings/restSearch and bulkSaveSightings. */
#ifndef SL_MISP_SIGHTING_H
#define SL_MISP_SIGHTING_H

#include <jansson.h>

#include "err.h"

/* One MISP sighting (borrowed: the object inside {"Sighting": ...}, with uuid, type,
 * date_sighting, source, Organisation) as the STIX object misp2stix makes of it inside its event:
 * type 0 a sighting, sighting_of_ref the indicator when there is one (indicator_id, may be NULL)
 * else the observed-data (observed_data_id, may be NULL), observed_data_refs when both exist,
 * where_sighted_refs the identity of its organisation; type 1 a false-positive opinion. The
 * organisation's identity object itself is not made. A new reference, or NULL with err filled
 * (type 2, expiration, is not mapped: SL_EUNSUPPORTED). */
json_t *sl_misp_sighting_to_stix(const json_t *sighting, const char *indicator_id,
                                 const char *observed_data_id, struct sl_err *err) SL_MUSTCHECK;

/* One STIX sighting (sighting_of_ref an indicator or observed-data) or false-positive opinion
 * (borrowed) as the MISP sighting of that attribute, for /sightings/bulkSaveSightings:
 * {"uuid", "attribute_uuid", "type": "0"|"1", "date_sighting", "source"}. The attribute's uuid is
 * the target object's (MISP attributes carry the uuid of the STIX objects made from them). NULL
 * with err filled for anything else. */
json_t *sl_stix_sighting_to_misp(const json_t *obj, struct sl_err *err) SL_MUSTCHECK;

#endif
