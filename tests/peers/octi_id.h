/* octi_id.h — OpenCTI's deterministic ids, as the OpenCTI test peer assigns them: a STIX object's
 * standard_id = "<type>--" + UUIDv5(OASIS namespace, canonical JSON of its contributing
 * properties). */
#ifndef SL_OCTI_ID_H
#define SL_OCTI_ID_H

#include <jansson.h>
#include <stddef.h>

#define SL_OCTI_NS_OASIS "00abedb4-aa42-466c-9c01-fed23315a9b7"

/* Maps a *_ref value to the standard_id of the object it names, or NULL when unknown (the ref is
 * then used as given). Borrowed result. */
typedef const char *(*sl_octi_resolve_fn)(const char *ref, void *ctx);

/* UUIDv5 of name[0..len) in namespace ns (a UUID string); out holds 37 bytes. Returns 0, -1 on a
 * bad ns. */
int sl_octi_uuid5(const char *ns, const char *name, size_t len, char out[37]);

/* The contributing-properties object for obj (new reference), or NULL with a message naming the
 * type and the missing properties in errbuf. resolve may be NULL. */
json_t *sl_octi_id_data(const json_t *obj, sl_octi_resolve_fn resolve, void *ctx, char *errbuf,
                        size_t errsz);

/* The standard_id of obj as a malloc'd string, or NULL with errbuf filled. */
char *sl_octi_standard_id(const json_t *obj, sl_octi_resolve_fn resolve, void *ctx, char *errbuf,
                          size_t errsz);

/* OpenCTI's entity type for a STIX object ("Indicator", "Organization", "IPv4-Addr",
 * "StixFile"...), borrowed static string. */
const char *sl_octi_entity_type(const json_t *obj);

#endif
