/* observable.h — canonical values of STIX cyber observables (SCOs), so the same IoC delivered by
 * two sources in two spellings is one observable: lower-cased domains and emails, normalised IPs
 * and CIDRs, lower-case hex hashes, URLs normalised as far as is safe. No I/O, no allocation. */
#ifndef SL_OBSERVABLE_H
#define SL_OBSERVABLE_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

#define SL_OBSERVABLE_TYPE_MAX 32    /* "domain-name", "file:sha256" */
#define SL_OBSERVABLE_VALUE_MAX 2048 /* longer values are not indexed */

/* Canonicalise value of observable type (an SCO type such as "ipv4-addr", "domain-name", "url",
 * "email-addr", "mac-addr", or "file:md5" / "file:sha1" / "file:sha256" / "file:sha512") into out
 * (size n). Returns 0, SL_EINVAL when the value is not valid for the type (err names type and the
 * quoted value), SL_ELIMIT when it does not fit. Types not listed are kept as they are. */
int sl_observable_canon(const char *type, const char *value, char *out, size_t n,
                        struct sl_err *err);

/* Guess the observable type of a bare value typed by a person ("10.0.0.1", "Example.COM",
 * "https://x", "a@b", a hex hash). Returns a static string; "domain-name" when nothing else fits.
 */
const char *sl_observable_guess(const char *value);

/* Called once per observable found; type and value are canonical and borrowed for the call. */
typedef int (*sl_observable_emit)(void *arg, const char *type, const char *value);

/* The observables of one STIX object: the value(s) of an SCO, or the `[type:prop = 'v']`
 * comparisons of an indicator's STIX pattern (any number, joined by AND/OR; other forms are
 * skipped). Values that do not canonicalise are skipped. Returns 0 or the first non-zero emit
 * result. */
int sl_observable_each(const json_t *obj, sl_observable_emit emit, void *arg);

#endif
