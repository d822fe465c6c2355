/* fuzz_pattern.c — STIX patterns: the grammar check and the reader used for STIX -> MISP. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stix2misp_pattern.h"
#include "stix_pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_stixpat p;
	struct sl_err err;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)sl_pattern_validate(s, &err);
	if (sl_stixpat_parse(s, &p, &err) == 0)
		sl_stixpat_free(&p);
	free(s);
	return 0;
}
