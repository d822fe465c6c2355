/* policy.h — the sharing policy file (libconfuse syntax): one section per destination saying what
 * it may receive (TLP, MISP distribution and sharing groups, tag/type/org lists, GDPR actions,
 * retention). */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include <stddef.h>

#include "err.h"
#include "gdpr.h"

struct sl_policy;      /* a parsed policy file; immutable after sl_policy_load */
struct sl_policy_dest; /* one destination in it; borrowed from its policy */

/* Parse and validate path. On error *out is NULL and err names file:line and what is wrong.
 * The policy (owned by the caller, sl_policy_free) holds everything it needs, key bytes included.
 */
int sl_policy_load(const char *path, struct sl_policy **out, struct sl_err *err) SL_MUSTCHECK;
void sl_policy_free(struct sl_policy *p);

size_t sl_policy_dest_count(const struct sl_policy *p);
/* Borrowed, valid until sl_policy_free. NULL when out of range / not found. */
const struct sl_policy_dest *sl_policy_dest_at(const struct sl_policy *p, size_t i);
const struct sl_policy_dest *sl_policy_dest_find(const struct sl_policy *p, const char *name);
const char *sl_policy_dest_name(const struct sl_policy_dest *d);
enum sl_gdpr_action sl_policy_dest_gdpr(const struct sl_policy_dest *d, enum sl_gdpr_cat c);

/* HMAC-SHA256 of value under the policy's top-level hmac_key_file, for audit rows (the ledger never
 * stores personal data in clear). Returns SL_ENOTFOUND when the policy has no top-level key. */
int sl_policy_audit_hash(const struct sl_policy *p, const char *value, char out[SL_GDPR_HASH_HEX]);

#endif
