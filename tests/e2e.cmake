# `sluice run` end to end (issue 5): three misp-peers, an opencti-peer and two taxii-peers with
# different policies (fixtures/e2e/); what arrives where is checked against `sluice policy explain`.
sl_script_test(integration e2e ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_e2e.sh PG TIMEOUT 300)
