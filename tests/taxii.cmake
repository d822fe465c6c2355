# TAXII 2.1 server: conformance over HTTP on loopback (in-memory store), and its benchmark.
find_package(Threads REQUIRED)
sl_test(integration taxii integration/test_taxii.c integration/test_taxii_fixture.c
        LIBS Threads::Threads TIMEOUT 120)
sl_bench(taxii bench/bench_taxii.c bench/bench_taxii_wrk.c integration/test_taxii_fixture.c
         LIBS Threads::Threads)
# The OASIS taxii2-client against the server; skips unless SLUICE_TAXII2CLIENT names a source tree.
sl_test(interop taxii_client integration/test_taxii_interop.c integration/test_taxii_fixture.c
        LIBS Threads::Threads TIMEOUT 120)
# The server over the PostgreSQL ledger: only once a ledger implementation (sl_ledger_page) is in
# the tree, since gateway/ledger.h came first.
set(SL_HAVE_LEDGER_IMPL OFF)
file(GLOB _sl_ledger_srcs ${PROJECT_SOURCE_DIR}/gateway/ledger*.c)
foreach(_f ${_sl_ledger_srcs})
  file(STRINGS ${_f} _sl_def REGEX "^int sl_ledger_page\\(")
  if(_sl_def)
    set(SL_HAVE_LEDGER_IMPL ON)
  endif()
endforeach()
if(SL_HAVE_LEDGER_IMPL)
  sl_test(integration taxii_ledger integration/test_taxii_ledger.c integration/test_taxii_fixture.c
          PG LIBS Threads::Threads TIMEOUT 300)
  sl_bench(taxii_ledger bench/bench_taxii_ledger.c bench/bench_taxii_wrk.c
           integration/test_taxii_fixture.c PG LIBS Threads::Threads)
endif()
