# TAXII 2.1 server: conformance over HTTP on loopback (in-memory store), and its benchmark.
find_package(Threads REQUIRED)
sl_test(integration taxii integration/test_taxii.c integration/test_taxii_fixture.c
        LIBS Threads::Threads TIMEOUT 120)
sl_bench(taxii bench/bench_taxii.c integration/test_taxii_fixture.c LIBS Threads::Threads)
# The OASIS taxii2-client against the server; skips unless SLUICE_TAXII2CLIENT names a source tree.
sl_test(interop taxii_client integration/test_taxii_interop.c integration/test_taxii_fixture.c
        LIBS Threads::Threads TIMEOUT 120)
