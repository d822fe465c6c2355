/* test_roundtrip_corpus.c — the round-trip comparison of test_roundtrip.c over the shared misp-stix
 * corpus (skips when ../shared is absent); prints how many events round-trip losslessly. */
#define SL_RT_CORPUS 1
#include "test_roundtrip.c"
