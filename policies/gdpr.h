/* gdpr.h — personal data in threat intel: the categories sluice recognises, the actions a policy
 * applies (keep, drop, redact, pseudonymise with keyed HMAC-SHA256), erasure for the ledger, and
 * keyed hashes for audit. */
#ifndef SL_GDPR_H
#define SL_GDPR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum sl_gdpr_cat {
	SL_GDPR_EMAIL,
	SL_GDPR_PERSON_NAME,
	SL_GDPR_PHONE,
	SL_GDPR_USER_ACCOUNT,
	SL_GDPR_IP_ADDRESS,
	SL_GDPR_NCAT
};

enum sl_gdpr_action { SL_GDPR_KEEP, SL_GDPR_DROP, SL_GDPR_REDACT, SL_GDPR_PSEUDONYMISE };

#define SL_GDPR_KEY_MIN 16 /* bytes; a shorter key file is refused */
#define SL_GDPR_KEY_MAX                                                                            \
	4096 /* bytes; only the first 4096 bytes of a larger file would be read: refused */
#define SL_GDPR_HASH_HEX 65 /* 64 hex digits + NUL */

/* "email", "person-name", "phone", "user-account", "ip-address". */
const char *sl_gdpr_cat_name(enum sl_gdpr_cat c);
/* "keep", "drop", "redact", "pseudonymise"; sl_gdpr_action_from_name also takes "pseudonymize".
 * Returns -1 for an unknown name. */
const char *sl_gdpr_action_name(enum sl_gdpr_action a);
int sl_gdpr_action_from_name(const char *name);

/* Read a key file (raw bytes, trailing newline kept as part of the key). *key is malloc'd, owned by
 * the caller. Refuses missing/unreadable files and keys outside [SL_GDPR_KEY_MIN, SL_GDPR_KEY_MAX].
 */
int sl_gdpr_key_load(const char *path, unsigned char **key, size_t *keylen, struct sl_err *err);

/* HMAC-SHA256(key, value) as 64 lower-case hex digits into out. For audit rows: the ledger stores
 * this, never the personal value itself. Returns 0 or SL_EINVAL (NULL key/value). */
int sl_gdpr_keyed_hash(const unsigned char *key, size_t keylen, const char *value,
                       char out[SL_GDPR_HASH_HEX]);

/* The pseudonym sluice writes for value of category c: stable for a key (emails are compared
 * case-blind), so partners can still correlate. Emails stay syntactically emails
 * ("<hex>@pseudonym.invalid"), others become "pseudonym:<hex>". Returns a malloc'd string, or NULL
 * on allocation failure. */
char *sl_gdpr_pseudonym(const unsigned char *key, size_t keylen, enum sl_gdpr_cat c,
                        const char *value);

/* The same pseudonyms, for many values under one key: the key is set up once (owned; _free).
 * _make returns what sl_gdpr_pseudonym returns (malloc'd, NULL on failure). Not to be shared
 * between threads. */
struct sl_gdpr_pseudonymiser;
struct sl_gdpr_pseudonymiser *sl_gdpr_pseudonymiser_new(const unsigned char *key, size_t keylen);
char *sl_gdpr_pseudonymiser_make(struct sl_gdpr_pseudonymiser *ps, enum sl_gdpr_cat c,
                                 const char *value);
void sl_gdpr_pseudonymiser_free(struct sl_gdpr_pseudonymiser *ps);

/* The text a redacted value becomes: "[redacted:<category>]". */
const char *sl_gdpr_redaction(enum sl_gdpr_cat c);

/* Replace every occurrence of `value` in the string values of `v` (recursively; object keys, and
 * the properties id, type, spec_version, created, modified and *_ref / *_refs are left alone) with
 * `with`. Modifies v in place. Returns the number of strings changed, or a negative sl_err_code. */
int sl_gdpr_replace(json_t *v, const char *value, const char *with);

/* Copy-on-write form of sl_gdpr_replace: v is not modified. Returns a new reference: v itself when
 * nothing changed, else a new value that shares every unchanged part with v (treat both as
 * read-only). *count (may be NULL) gets the number of strings changed. NULL on allocation failure
 * or nesting deeper than 128. */
json_t *sl_gdpr_replaced(json_t *v, const char *value, const char *with, int *count);

/* Several substitutions in a row, copy-on-write, in one pass over v: the same result as calling
 * sl_gdpr_replaced with subs[0], then subs[1] on its result, and so on. value is NUL-terminated
 * and vlen its strlen. NULL on allocation failure, a bad substitution or nesting deeper than
 * 128. */
struct sl_gdpr_sub {
	const char *value;
	size_t vlen;
	const char *with;
};
/* touched (may be NULL) is for building several results of one v with the same values (and
 * other replacements): when touched->known, v's top-level members (the first 64, in iteration
 * order) whose bit is clear are taken unchanged without being looked at; else it is filled with
 * the members that changed. A member changes exactly when one of the values occurs in it,
 * whatever they are replaced with, so the filter is exact for any with. */
struct sl_gdpr_touched {
	int known;
	uint64_t members;
};
json_t *sl_gdpr_replaced_n(json_t *v, const struct sl_gdpr_sub *subs, size_t n,
                           struct sl_gdpr_touched *touched);
/* What sl_gdpr_replaced_n does to one string: s (up to its NUL) with every substitution applied in
 * turn, malloc'd; NULL with *oom clear when none of the values occurs in it. */
char *sl_gdpr_replace_each(const char *s, const struct sl_gdpr_sub *subs, size_t n, int *oom);
/* Whether a member of this name is left alone by the replacements (id, type, spec_version,
 * created, modified, uuid, *_ref, *_refs). */
int sl_gdpr_key_is_identity(const char *k);

/* Erasure for the ledger: a new object (owned by the caller) equal to obj with every occurrence of
 * value replaced by "[erased]", and *count (may be NULL) the number of strings changed. NULL with
 * err on failure. */
json_t *sl_gdpr_erase(const json_t *obj, const char *value, int *count, struct sl_err *err);

/* Find email addresses in free text. Calls found(start, len, arg) for each; stops early when it
 * returns non-zero. */
void sl_gdpr_scan_emails(const char *s, int (*found)(const char *start, size_t len, void *arg),
                         void *arg);

#endif
