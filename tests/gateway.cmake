# gateway runtime foundation: backoff, config, SSE, event loop, HTTP client.
sl_test(unit backoff unit/test_backoff.c)
sl_test(unit config unit/test_config.c)
sl_script_test(unit config_cli ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config_cli.sh)
sl_test(unit sse unit/test_sse.c)
# Real servers on loopback inside the test (evhttp, a resetting socket, TLS with a generated cert).
sl_test(integration http_client integration/test_http_client.c TIMEOUT 120)
sl_bench(http bench/bench_http.c)
sl_test(unit evloop unit/test_evloop.c)
