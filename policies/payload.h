/* payload.h — the JSON text of an object as a destination receives it after personal-data changes:
 * written from the original object with the substitutions applied as it goes (no changed tree built
 * and freed), byte for byte what json_dumps(changed, JSON_COMPACT | JSON_SORT_KEYS) gives. */
#ifndef SL_PAYLOAD_H
#define SL_PAYLOAD_H

#include <jansson.h>
#include <stddef.h>

#include "gdpr.h"

/* Where the text goes: p is malloc'd and grown as needed (free it), len bytes used. */
struct sl_payload_buf {
	char *p;
	size_t len, cap;
};

/* Write into b (from its start, NUL-terminated, b->len its length) the text of obj with subs[0..n)
 * applied as sl_gdpr_replaced_n applies them (values NUL-terminated, vlen their strlen, none
 * empty) and, with downgrade, a top-level
 * "x_misp_distribution" that then reads 2 (integer or one-digit string) written as 1 (of the same
 * kind), as the policy does on push to MISP. *downgraded (may be NULL) says whether it was.
 * Returns 0, or a negative sl_err_code: SL_EINVAL for a bad substitution or a string that is not
 * valid UTF-8 (json_dumps refuses it too), SL_ELIMIT for nesting deeper than sl_gdpr_replaced_n
 * takes (128), SL_ENOMEM. */
int sl_payload_text(struct sl_payload_buf *b, const json_t *obj, const struct sl_gdpr_sub *subs,
                    size_t n, int downgrade, int *downgraded);

/* For writing several texts of one object with the same values (replaced differently: redacted
 * for some destinations, pseudonymised for others): the first text's top-level members, in the
 * order written, and where each is in it. A member in which none of the values occurs is the same
 * bytes in every such text, whatever the values are replaced with, so the next text copies it. */
#define SL_PAYLOAD_MEMO_MEMBERS 32
struct sl_payload_memo {
	const json_t *obj;  /* the object the memo is of; NULL: none yet */
	unsigned long long sig; /* the caller's name for the set of values (and their order) */
	const char *text;   /* the first text, kept by the caller while the memo is used */
	size_t nm;
	struct sl_payload_seg {
		const char *key;
		size_t klen;
		const json_t *v;
		size_t off, len;     /* the member's `"key":value` in text */
		unsigned char touched; /* a value occurs in it (or it is the level a downgrade reads) */
	} m[SL_PAYLOAD_MEMO_MEMBERS];
};

/* sl_payload_text with a memo (may be NULL): when memo is of obj with sig and has its text, the
 * members it marks untouched are copied from that text; else the members are recorded in it
 * (memo->obj and sig set; the caller sets memo->text to a copy of b's text that it keeps). The
 * same text either way. */
int sl_payload_text_memo(struct sl_payload_buf *b, const json_t *obj,
                         const struct sl_gdpr_sub *subs, size_t n, int downgrade, int *downgraded,
                         struct sl_payload_memo *memo, unsigned long long sig);

#endif
