sl_test(unit misp_feed unit/test_misp_feed.c)
sl_script_test(integration feed_cli ${CMAKE_CURRENT_SOURCE_DIR}/integration/feed_cli.sh)
sl_script_test(integration demo ${CMAKE_CURRENT_SOURCE_DIR}/integration/demo.sh PG)
sl_script_test(integration pipeline_erase ${CMAKE_CURRENT_SOURCE_DIR}/integration/pipeline_erase.sh PG)
