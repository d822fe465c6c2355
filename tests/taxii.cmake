# TAXII 2.1 server: conformance over HTTP on loopback (in-memory store), and its benchmark.
find_package(Threads REQUIRED)
sl_test(integration taxii integration/test_taxii.c integration/test_taxii_fixture.c
        LIBS Threads::Threads TIMEOUT 120)
sl_bench(taxii bench/bench_taxii.c integration/test_taxii_fixture.c LIBS Threads::Threads)
