/* fuzz_misp_json.c — MISP event JSON from a peer: bounded parse, then MISP -> STIX 2.1. */
#include "fuzz.h"
#include "json.h"
#include "misp2stix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_map_opts opts = {0};
	struct sl_err err;
	json_t *w = json_array(), *ev, *b;

	ev = sl_json_parse((const char *)data, size, NULL, "fuzz", &err);
	if (ev) {
		b = sl_misp_to_stix(ev, &opts, w, &err);
		json_decref(b);
		opts.strict = 1;
		b = sl_misp_to_stix(ev, &opts, NULL, &err);
		json_decref(b);
	}
	json_decref(ev);
	json_decref(w);
	return 0;
}
