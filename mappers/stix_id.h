/* stix_id.h — UUIDs for STIX ids: validation of MISP uuids, UUIDv5 (RFC 4122, SHA-1 via OpenSSL),
 * and the relationship ids misp-stix derives from "source - type - target". No allocation, no
 * state (except in a hasher, below). */
#ifndef SL_STIX_ID_H
#define SL_STIX_ID_H

#include <stddef.h>

#define SL_UUID_STRLEN 36
/* "relationship--" + uuid + NUL; enough for any "<type>--<uuid>" with a type up to 64 characters.
 */
#define SL_STIX_ID_MAX 104

/* 1 when s is a canonical 8-4-4-4-12 hexadecimal uuid (either case), else 0. */
int sl_stix_id_uuid_valid(const char *s);

/* Parse a uuid string into 16 bytes. Returns 0, or -1 when it is not a uuid. */
int sl_stix_id_uuid_parse(const char *s, unsigned char out[16]);

/* UUIDv5 of name[0..len) in namespace ns, written lower-case into out (37 bytes with the NUL). */
void sl_stix_id_uuid5(const unsigned char ns[16], const char *name, size_t len, char out[37]);

/* misp-stix's relationship id: "relationship--" + uuid5(76beed5f-7251-457e-8c2a-b45f7b589d3d,
 * "<source_ref> - <relationship_type> - <target_ref>"). out must hold SL_STIX_ID_MAX bytes. */
void sl_stix_id_relationship(const char *source_ref, const char *rel_type, const char *target_ref,
                             char out[SL_STIX_ID_MAX]);

/* Many relationship ids in a row (a conversion): the SHA-1 fetched and its context made once and
 * reused (a fresh context per id cost twice the hashing). Opaque; _new returns NULL when OpenSSL
 * cannot provide SHA-1; _free(NULL) is a no-op. One hasher per thread. */
struct sl_stix_id_hasher;
struct sl_stix_id_hasher *sl_stix_id_hasher_new(void);
void sl_stix_id_hasher_free(struct sl_stix_id_hasher *h);
/* sl_stix_id_relationship through h (the same id; h NULL: a fresh context, as there). */
void sl_stix_id_relationship_with(struct sl_stix_id_hasher *h, const char *source_ref,
                                  const char *rel_type, const char *target_ref,
                                  char out[SL_STIX_ID_MAX]);

#endif
