/* misp_objects.h — MISP objects (file, ip-port, domain-ip, url, email, network-connection, x509,
 * registry-key, user-account, process, asn, ...) -> STIX 2.1 observed-data + SCOs, indicators,
 * SDOs, and their object references as relationships. Part of the misp2stix conversion. */
#ifndef SL_MISP_OBJECTS_H
#define SL_MISP_OBJECTS_H

#include <jansson.h>

struct sl_map_ctx;

/* Map every MISP object of the event's Object list (borrowed), then their ObjectReferences. */
void sl_map_objects(struct sl_map_ctx *c, const json_t *objects);

/* A MISP object attribute's members as read elsewhere than from a tree (the fast path reads them
 * from text): each string NULL when absent or not a string, as sl_map_str gives them. */
struct sl_map_oattr_in {
	const char *rel, *type, *value, *uuid, *category, *comment, *data;
	int to_ids; /* 1 or 0 as sl_map_bool reads it, -1 when it gives the type's default */
};
/* A MISP object's members, likewise (borrowed). */
struct sl_map_obj_in {
	const char *uuid, *name, *meta, *comment, *first_seen, *last_seen;
	const json_t *timestamp; /* NULL when absent */
	int attr_list;           /* 0 when Attribute is there but not a list */
	const struct sl_map_oattr_in *at;
	size_t n;
};

/* Map n objects given by their members, as sl_map_objects maps the same objects as trees (the
 * same checks, warnings and output). For objects without ObjectReferences: it maps none. */
void sl_map_objects_in(struct sl_map_ctx *c, const struct sl_map_obj_in *objs, size_t n);

#endif
