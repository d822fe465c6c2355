/* fuzz_stix_json.c — STIX 2.1 bundles from partners: bounded parse, then STIX -> MISP. */
#include "fuzz.h"
#include "json.h"
#include "stix2misp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_map_opts opts = {0};
	struct sl_err err;
	json_t *w = json_array(), *b, *out;

	b = sl_json_parse((const char *)data, size, NULL, "fuzz", &err);
	if (b) {
		out = sl_stix_to_misp_all(b, &opts, w, &err);
		json_decref(out);
	}
	json_decref(b);
	json_decref(w);
	return 0;
}
