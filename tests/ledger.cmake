# The PostgreSQL ledger: observable canonicalisation (unit), the ledger on the real test PostgreSQL
# (integration), the `sluice ledger` CLI (script), and the bulk-ingest benchmark.
find_package(Threads REQUIRED)
sl_test(unit observable unit/test_observable.c)
sl_test(integration ledger integration/test_ledger.c PG LIBS Threads::Threads TIMEOUT 300)
sl_script_test(integration ledger_cli ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ledger_cli.sh PG)
sl_bench(ledger bench/bench_ledger.c PG)
sl_test(integration ledger_upgrade integration/test_ledger_upgrade.c PG)
