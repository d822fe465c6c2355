# The sync daemon (gateway/sync, peer_misp, cmd_run): in-process against misp-peer processes and the
# test PostgreSQL.
sl_test(integration sync integration/test_sync.c PG LIBS sl_peer_proc TIMEOUT 180)
# The ledger's bulk outbox calls a push uses (claim with payloads, settle many, newest, containers).
sl_test(integration outbox integration/test_outbox.c PG)
# A large bundle's decisions recorded by two connections at once, each exactly once.
sl_test(integration pipeline integration/test_pipeline.c PG)
add_dependencies(test_sync misp-peer)
sl_script_test(integration sync_run ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_run.sh PG TIMEOUT 120)
# `sluice run` serving its own TAXII 2.1 API to the config's partners, each its policy's view.
sl_script_test(integration run_taxii ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_taxii.sh PG TIMEOUT 120)
sl_script_test(integration sync_crash ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_crash.sh PG TIMEOUT 900)
# Each failure mode of issue 5 on one MISP peer (behind faultproxy) while two others sync
# (`test_sync_faults [CASE...]` runs some of them).
sl_test(integration sync_faults integration/test_sync_faults.c PG LIBS sl_peer_proc TIMEOUT 600)
add_dependencies(test_sync_faults misp-peer faultproxy)
# `sluice run` end to end: 1,000 events (one of 10,000 attributes) from a MISP peer to every
# destination of bench_sync.c's dests[]; only with `ctest -C bench -L bench -R sync`.
sl_bench(sync bench/bench_sync.c PG LIBS sl_peer_proc)
add_dependencies(bench_sync misp-peer opencti-peer taxii-peer sluice)
