# gateway runtime foundation: backoff, config, SSE, event loop, HTTP client.
sl_test(unit backoff unit/test_backoff.c)
