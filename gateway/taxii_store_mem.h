/* taxii_store_mem.h — an in-memory TAXII store (tests, benchmarks, demos): collections, partners
 * with Basic/API-key credentials and per-collection rights, and a per-partner filter standing in
 * for policy. */
#ifndef SL_TAXII_STORE_MEM_H
#define SL_TAXII_STORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "taxii_store.h"

struct sl_taxii_store_mem;

/* Return false to hide obj (one object version of collection) from partner. */
typedef bool (*sl_taxii_mem_filter)(void *arg, const char *partner, const char *collection,
                                    const json_t *obj);

struct sl_taxii_store_mem *sl_taxii_store_mem_new(void);
/* NULL is a no-op. */
void sl_taxii_store_mem_free(struct sl_taxii_store_mem *st);
/* The ops table to hand to sl_taxii_server_new together with st as ctx (static, borrowed). */
const struct sl_taxii_store_ops *sl_taxii_store_mem_ops(void);

/* Strings are copied. alias/description may be NULL. */
int sl_taxii_store_mem_add_collection(struct sl_taxii_store_mem *st, const char *id,
                                      const char *title, const char *description, const char *alias,
                                      struct sl_err *err);
/* A partner who logs in with user/password (HTTP Basic) or api_key (Bearer); either may be NULL. */
int sl_taxii_store_mem_add_partner(struct sl_taxii_store_mem *st, const char *name,
                                   const char *user, const char *password, const char *api_key,
                                   struct sl_err *err);
/* Also accept partner on a verified TLS client certificate with this subject (RFC 2253, e.g.
 * "CN=partner-a,O=Example"), when the request carries no Basic or Bearer credentials. */
int sl_taxii_store_mem_set_cert_subject(struct sl_taxii_store_mem *st, const char *partner,
                                        const char *subject, struct sl_err *err);
/* Let partner know of collection with these rights (a partner without a grant does not see it). */
int sl_taxii_store_mem_grant(struct sl_taxii_store_mem *st, const char *partner,
                             const char *collection, bool can_read, bool can_write,
                             struct sl_err *err);
/* Install the visibility filter (NULL = everyone sees everything). arg is borrowed. */
void sl_taxii_store_mem_set_filter(struct sl_taxii_store_mem *st, sl_taxii_mem_filter f, void *arg);
/* Seed one STIX object (JSON text) with a given date_added (0 = now; dates never go backwards
 * within a collection: an earlier one is raised to the last). */
int sl_taxii_store_mem_put(struct sl_taxii_store_mem *st, const char *collection, const char *json,
                           int64_t date_added_us, struct sl_err *err);
/* How many object versions were handed to partner so far (the audit note_served records). */
size_t sl_taxii_store_mem_served(const struct sl_taxii_store_mem *st, const char *partner);

#endif
