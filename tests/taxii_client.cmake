# The TAXII 2.1 client connector (gateway/peer_taxii) against taxii-peer, an in-memory TAXII 2.1
# server with seeded faults (a test tool, never installed).
add_executable(taxii-peer peers/taxii_peer.c)
target_link_libraries(taxii-peer PRIVATE sl_peer_http)

sl_test(integration conn_taxii integration/test_conn_taxii.c LIBS sl_peer_proc TIMEOUT 240)
add_dependencies(test_conn_taxii taxii-peer)

# How fast the connector pulls and pushes against taxii-peer (runs only with `ctest -C bench -L bench`).
sl_bench(conn_taxii bench/bench_conn_taxii.c LIBS sl_peer_proc)
add_dependencies(bench_conn_taxii taxii-peer)
