# policies/: TLP, MISP distribution and sharing groups, GDPR, the policy file, decisions, the CLI.
sl_test(unit policy_file unit/test_policy_file.c)
sl_test(unit tlp unit/test_tlp.c)
sl_test(unit distribution unit/test_distribution.c)
sl_test(unit gdpr unit/test_gdpr.c)
sl_test(unit policy_property unit/test_policy_property.c)
sl_test(unit policy_cli unit/test_policy_cli.c)
sl_bench(policy bench/bench_policy.c)
# With engineer A's mapper in the tree, the bench also maps the same objects and prints the ratio.
if(EXISTS ${PROJECT_SOURCE_DIR}/mappers/misp2stix.c)
  target_compile_definitions(bench_policy PRIVATE SL_BENCH_HAVE_MAPPER=1)
endif()
sl_test(unit policy_hostile unit/test_policy_hostile.c)
sl_test(interop policy_corpus unit/test_policy_interop.c)
