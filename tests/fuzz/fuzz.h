/* fuzz.h — one libFuzzer entry point per harness. With clang (-DSLUICE_FUZZ=ON) each harness links
 * libFuzzer; otherwise replay.c drives it over a seed corpus and seeded mutations of it, so the
 * sanitizer build in CI runs every harness on hostile input. */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
