# MISP -> STIX 2.1 mapper: unit tests per module, the interop test against misp-stix, the benchmark.
sl_test(unit stix_id unit/test_stix_id.c)
sl_test(unit stix_pattern unit/test_stix_pattern.c)
sl_test(unit misp2stix unit/test_misp2stix.c)
sl_test(unit stix_emit unit/test_stix_emit.c)
sl_test(unit fast_json unit/test_fast_json.c)
sl_test(interop fast_misp2stix unit/test_fast_misp2stix.c)
sl_test(interop misp2stix_corpus interop/test_misp2stix_interop.c TIMEOUT 900)
sl_bench(map bench/bench_map.c)
