# STIX 2.1 -> MISP mapper and `sluice map`: unit tests, the round trip over fixtures/events and the corpus,
# and the CLI script test.
sl_test(unit stix2misp unit/test_stix2misp.c)
sl_test(unit misp_sighting unit/test_misp_sighting.c)
sl_test(integration roundtrip integration/test_roundtrip.c)
sl_test(interop roundtrip_corpus integration/test_roundtrip_corpus.c TIMEOUT 900)
sl_script_test(integration map_cli ${CMAKE_CURRENT_SOURCE_DIR}/integration/map_cli.sh)
