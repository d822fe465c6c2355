# Test peers: in-memory MISP and OpenCTI that speak the real HTTP APIs, and a seeded TCP fault proxy.
# They are test tools (never installed); integration tests start them on loopback ports chosen at run time.
# Like sl_test, but without sl_gateway: the peers and their tests use nothing from the product, so they
# keep building (and can test a fix) while gateway/ is mid-change.
function(sl_peer_test label name)
  cmake_parse_arguments(T "" "TIMEOUT" "LIBS" ${ARGN})
  add_executable(test_${name} ${T_UNPARSED_ARGUMENTS})
  target_link_libraries(test_${name} PRIVATE sltest PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${label}.${name} COMMAND test_${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${label}.${name} PROPERTIES LABELS ${label} ENVIRONMENT "${SL_TEST_ENV}"
                       SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT})
endfunction()

# The peers read JSON through mappers/json.c (bounded size and depth) like the product does; they compile
# it and err.c themselves instead of linking all of sl_mappers, so a mappers change in progress does not
# stop the peers from building.
add_library(sl_peer_http STATIC peers/peer_http.c ${PROJECT_SOURCE_DIR}/mappers/json.c
                                ${PROJECT_SOURCE_DIR}/mappers/err.c)
target_include_directories(sl_peer_http PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/peers
                                               ${PROJECT_SOURCE_DIR}/mappers)
target_link_libraries(sl_peer_http PUBLIC PkgConfig::LIBEVENT PkgConfig::JANSSON)

add_executable(misp-peer peers/misp_peer.c)
target_link_libraries(misp-peer PRIVATE sl_peer_http)

# A helper for tests that start peers and speak to them with libcurl.
add_library(sl_peer_proc STATIC peers/peer_proc.c)
target_include_directories(sl_peer_proc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/peers)
target_compile_definitions(sl_peer_proc PRIVATE SL_PEER_BIN_DIR="${CMAKE_CURRENT_BINARY_DIR}")
target_link_libraries(sl_peer_proc PUBLIC PkgConfig::LIBCURL PkgConfig::JANSSON)

sl_peer_test(integration peer_misp integration/test_peer_misp.c LIBS sl_peer_proc TIMEOUT 120)
add_dependencies(test_peer_misp misp-peer)

add_library(sl_octi_id STATIC peers/octi_id.c)
target_include_directories(sl_octi_id PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/peers)
target_link_libraries(sl_octi_id PUBLIC PkgConfig::JANSSON PkgConfig::OPENSSL)
sl_peer_test(unit peer_octi_id integration/test_peer_octi_id.c LIBS sl_octi_id)

add_executable(opencti-peer peers/opencti_peer.c peers/gql.c)
target_link_libraries(opencti-peer PRIVATE sl_peer_http sl_octi_id)
sl_peer_test(integration peer_opencti integration/test_peer_opencti.c LIBS sl_peer_proc TIMEOUT 120)
add_dependencies(test_peer_opencti opencti-peer)

add_executable(faultproxy peers/faultproxy.c)
target_link_libraries(faultproxy PRIVATE PkgConfig::LIBEVENT)
sl_peer_test(integration peer_faultproxy integration/test_peer_faultproxy.c LIBS sl_peer_proc TIMEOUT 120)
add_dependencies(test_peer_faultproxy faultproxy misp-peer)

# How fast the peers are (runs only with `ctest -C bench -L bench`).
add_executable(bench_peers peers/bench_peers.c)
target_link_libraries(bench_peers PRIVATE sl_peer_proc)
add_dependencies(bench_peers misp-peer opencti-peer)
add_test(NAME bench.peers COMMAND bench_peers CONFIGURATIONS bench)
set_tests_properties(bench.peers PROPERTIES LABELS bench ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 1200)
