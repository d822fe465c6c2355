/* fuzz_feed.c — MISP feed files: manifest.json and hashes.csv from a remote feed. */
#include "fuzz.h"
#include "misp_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_feed_manifest *m;
	struct sl_feed_hashes *h;
	struct sl_err err;

	if (sl_feed_manifest_parse((const char *)data, size, &m, &err) == 0) {
		json_t *todo = sl_feed_changed(m, NULL);
		json_decref(todo);
		sl_feed_manifest_free(m);
	}
	if (sl_feed_hashes_parse((const char *)data, size, &h, &err) == 0)
		sl_feed_hashes_free(h);
	return 0;
}
