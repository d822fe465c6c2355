# The OpenCTI connector (gateway/peer_opencti) against opencti-peer, the in-memory OpenCTI test peer
# that tests/peers.cmake builds; and renamed ids given back (gateway/idlocal) on the test PostgreSQL.
sl_test(integration conn_opencti integration/test_conn_opencti.c LIBS sl_peer_proc TIMEOUT 240)
add_dependencies(test_conn_opencti opencti-peer)
sl_test(integration idlocal integration/test_idlocal.c PG)
