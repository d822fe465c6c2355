/* stix2misp_pattern.h — reading STIX 2.1 patterns back into (object path, operator, value)
 * comparisons, for the STIX -> MISP direction. Paths are normalised: quotes dropped, list indices
 * become [*]. */
#ifndef SL_STIX2MISP_PATTERN_H
#define SL_STIX2MISP_PATTERN_H

#include <stddef.h>

#include "err.h"

struct sl_stixpat_cmp {
	char *path; /* "file:hashes.SHA-256", "domain-name:resolves_to_refs[*].value" */
	char *op;   /* "=", "!=", "LIKE", "MATCHES", "IN", ">", ... */
	char
	    *value; /* unescaped string literal, or the literal's text (numbers, booleans, lists) */
};

struct sl_stixpat {
	struct sl_stixpat_cmp *cmp; /* owned */
	size_t n;
	int has_or; /* an OR joins comparisons or observations: the comparisons are alternatives */
	int has_followed; /* FOLLOWEDBY or a qualifier (WITHIN, REPEATS, START/STOP) was present */
};

/* Parse pattern into out (zeroed first). Returns 0, or SL_EINVAL / SL_ELIMIT with err naming the
 * byte offset; out is freed on error. At most 4096 comparisons. */
int sl_stixpat_parse(const char *pattern, struct sl_stixpat *out, struct sl_err *err);
void sl_stixpat_free(struct sl_stixpat *p);

#endif
