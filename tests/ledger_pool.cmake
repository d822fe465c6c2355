# The ledger worker pool (gateway/ledger_pool.c): jobs off the loop on their own connections, on
# the real test PostgreSQL.
find_package(Threads REQUIRED)
sl_test(integration ledger_pool integration/test_ledger_pool.c PG LIBS Threads::Threads TIMEOUT 300)
sl_bench(ledger_pool bench/bench_ledger_pool.c PG LIBS Threads::Threads)
