/* tlp.h — Traffic Light Protocol 2.0 as FIRST defines it: levels, and reading them from STIX
 * marking-definition ids, marking-definition objects and MISP tlp:* tags (TLP 1.0 WHITE reads as
 * CLEAR). */
#ifndef SL_TLP_H
#define SL_TLP_H

#include <jansson.h>

/* Ordered from least to most restrictive, so the larger value always wins. */
enum sl_tlp {
	SL_TLP_NONE = -1, /* no TLP marking at all */
	SL_TLP_CLEAR = 0,
	SL_TLP_GREEN = 1,
	SL_TLP_AMBER = 2,
	SL_TLP_AMBER_STRICT = 3,
	SL_TLP_RED = 4,
};

/* "TLP:AMBER+STRICT" etc. (TLP 2.0 spelling), "none" for SL_TLP_NONE. Never NULL. */
const char *sl_tlp_name(enum sl_tlp t);

/* A level name without prefix, any case: clear, white (= clear), green, amber, amber+strict, red.
 * Returns the level, or SL_TLP_NONE when the name is not a TLP level. */
enum sl_tlp sl_tlp_from_name(const char *name);

/* A fixed marking-definition id written by misp-stix (TLP 1.0 and 2.0) or OpenCTI.
 * Returns SL_TLP_NONE when the id is not one of them. */
enum sl_tlp sl_tlp_from_marking_id(const char *id);

/* A marking-definition object read by content: definition_type "tlp" with definition.tlp, the
 * TLP 2.0 extension (tlp_2_0), or OpenCTI's x_opencti_definition_type "TLP". Returns SL_TLP_NONE
 * when it is not a TLP marking; *malformed is set when it claims to be TLP but the level cannot be
 * read, or its content contradicts its fixed id (the caller then takes the most restrictive
 * reading). */
enum sl_tlp sl_tlp_from_marking_object(const json_t *md, int *malformed);

/* A MISP tag name: "tlp:amber", "TLP:AMBER", "tlp:white", "tlp:amber+strict". Returns SL_TLP_NONE
 * when the tag is not in the tlp namespace; *malformed is set for a tlp:* tag that names no TLP 2.0
 * level. */
enum sl_tlp sl_tlp_from_tag(const char *tag, int *malformed);

#endif
