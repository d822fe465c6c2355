# MISP -> STIX 2.1 mapper: unit tests per module, the interop test against misp-stix, the benchmark.
sl_test(interop misp2stix_corpus interop/test_misp2stix_interop.c TIMEOUT 900)
