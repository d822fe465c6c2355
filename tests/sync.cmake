# The sync daemon (gateway/sync, peer_misp, cmd_run): in-process against misp-peer processes and the
# test PostgreSQL.
sl_test(integration sync integration/test_sync.c PG LIBS sl_peer_proc TIMEOUT 180)
add_dependencies(test_sync misp-peer)
sl_script_test(integration sync_run ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_run.sh PG TIMEOUT 120)
sl_script_test(integration sync_crash ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_crash.sh PG TIMEOUT 240)
