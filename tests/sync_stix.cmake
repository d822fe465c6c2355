sl_script_test(integration sync_taxii ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_taxii.sh PG TIMEOUT 120)
sl_script_test(integration sync_erase ${CMAKE_CURRENT_SOURCE_DIR}/integration/sync_erase.sh PG TIMEOUT 120)
