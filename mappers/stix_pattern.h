/* stix_pattern.h — building STIX 2.1 patterns from untrusted values (every value quoted and
 * escaped, so no input can break out of its string literal) and a validator of STIX 2.1 pattern
 * syntax. */
#ifndef SL_STIX_PATTERN_H
#define SL_STIX_PATTERN_H

#include <stddef.h>

#include "err.h"

/* A pattern under construction: comparisons joined with " AND ", optionally in parenthesised
 * groups. */
struct sl_pattern;

/* _new returns NULL on OOM; _free(NULL) is a no-op. */
struct sl_pattern *sl_pattern_new(void);
void sl_pattern_free(struct sl_pattern *p);

/* Append "<path> = '<escaped value>'" (value[0..len) may hold any bytes; ' and \ are escaped). */
int sl_pattern_add(struct sl_pattern *p, const char *path, const char *value, size_t len);
/* Same, but also escape '%' as misp-stix does for registry values ('\%' inside the literal). */
int sl_pattern_add_pct(struct sl_pattern *p, const char *path, const char *value, size_t len);
/* Open / close a parenthesised group of comparisons; groups are themselves joined with " AND ". */
int sl_pattern_group_begin(struct sl_pattern *p);
int sl_pattern_group_end(struct sl_pattern *p);
/* Number of comparisons added so far. */
size_t sl_pattern_count(const struct sl_pattern *p);
/* The pattern "[...]" (borrowed, valid until the next call on p), or NULL when nothing was added or
 * an allocation failed. */
const char *sl_pattern_str(struct sl_pattern *p);
/* Forget everything added, keep the buffer. */
void sl_pattern_reset(struct sl_pattern *p);

/* Append value escaped for a STIX string literal ('\\' and '\'') to a malloc'd copy; returns a new
 * string (caller frees) or NULL on OOM. */
char *sl_pattern_escape(const char *value, size_t len);

/* Check pattern against the STIX 2.1 pattern grammar (observation expressions, comparison
 * operators, object paths, literals, qualifiers). Returns 0, or SL_EINVAL with err naming the byte
 * offset. */
int sl_pattern_validate(const char *pattern, struct sl_err *err);

#endif
