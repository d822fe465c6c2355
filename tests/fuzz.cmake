# Fuzz harnesses for every parser of outside input. -DSLUICE_FUZZ=ON with clang builds real libFuzzer
# targets (run them by hand: build/tests/fuzz_X corpus-dir); otherwise each harness is linked with
# fuzz/replay.c and registered as a `fuzz` test that runs the seed corpus plus seeded mutations of it, so
# the sanitizer build in CI feeds every parser hostile input.
option(SLUICE_FUZZ "Build libFuzzer targets (needs clang)" OFF)
set(SL_FUZZ_ITER 20000)
function(sl_fuzz name)
  add_executable(fuzz_${name} fuzz/fuzz_${name}.c $<$<NOT:$<BOOL:${SLUICE_FUZZ}>>:fuzz/replay.c>)
  target_include_directories(fuzz_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
  target_link_libraries(fuzz_${name} PRIVATE sl_gateway)
  if(SLUICE_FUZZ)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_test(NAME fuzz.${name} COMMAND fuzz_${name} -n ${SL_FUZZ_ITER} ${ARGN})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz ENVIRONMENT "${SL_TEST_ENV}"
                         SKIP_RETURN_CODE 77 TIMEOUT 600)
  endif()
endfunction()

set(F ${PROJECT_SOURCE_DIR}/fixtures)
sl_fuzz(misp_json ${F}/events ${F}/peers/misp ${F}/policies/example-event.json)
sl_fuzz(stix_json ${F}/policies/example-bundle.json ${F}/peers/opencti)
sl_fuzz(pattern ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/pattern)
sl_fuzz(policy ${F}/policies/sample.policy ${F}/demo/demo.policy)
sl_fuzz(config ${F}/config)
sl_fuzz(feed ${F}/demo/feed/manifest.json ${F}/demo/feed/hashes.csv)
