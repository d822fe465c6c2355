/* misp_galaxy.h — MISP galaxies and clusters -> STIX 2.1 SDOs (attack-pattern, malware,
 * threat-actor, intrusion-set, tool, course-of-action, vulnerability, location, identity,
 * x-misp-galaxy-cluster) and the relationships from the objects that carry them. Part of the
 * misp2stix conversion. */
#ifndef SL_MISP_GALAXY_H
#define SL_MISP_GALAXY_H

#include <jansson.h>

struct sl_map_ctx;

/* Remember the tag names of the clusters in `galaxies` (a MISP Galaxy list, may be NULL) in
 * c->galaxy_tags, so tags naming them do not become labels. Replaces any previous set. */
void sl_map_galaxy_tags(struct sl_map_ctx *c, const json_t *galaxies);

/* One SDO per cluster (deduplicated by id across the bundle). For an attribute/object (source_id
 * set) a relationship source_id -> cluster SDO ("related-to" unless misp-stix uses another);
 * event-level clusters are only referenced from the container. ts = created/modified (SDO form). */
void sl_map_galaxies(struct sl_map_ctx *c, const json_t *galaxies, const char *source_id,
                     const char *ts, int event_level);

/* The STIX type misp-stix gives clusters of a MISP galaxy type ("mitre-malware" -> "malware"). */
const char *sl_map_galaxy_stix_type(const char *galaxy_type);

#endif
