/* misp_objects.h — MISP objects (file, ip-port, domain-ip, url, email, network-connection, x509,
 * registry-key, user-account, process, asn, ...) -> STIX 2.1 observed-data + SCOs, indicators,
 * SDOs, and their object references as relationships. Part of the misp2stix conversion. */
#ifndef SL_MISP_OBJECTS_H
#define SL_MISP_OBJECTS_H

#include <jansson.h>

struct sl_map_ctx;

/* Map every MISP object of the event's Object list (borrowed), then their ObjectReferences. */
void sl_map_objects(struct sl_map_ctx *c, const json_t *objects);

#endif
