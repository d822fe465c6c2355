/* test_policy_cli.c — `sluice policy`: check prints "policy OK: N destinations" or file:line errors
 * (exit 1), explain prints each object's decision and rule chain, usage errors exit 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static char out[1 << 17];

/* Run `sluice <args>` (stderr merged), return the exit code; output in out. */
static int run(const char *args)
{
	char cmd[2048];
	FILE *f;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s 2>&1", getenv("SLUICE_FIXTURES"),
	         getenv("SLUICE_BIN"), args);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_ok_and_bad(void **state)
{
	char path[] = "/tmp/sl_cli_XXXXXX", args[256];
	int fd;

	(void)state;
	assert_int_equal(run("policy check policies/sample.policy"), 0);
	assert_string_equal(out, "policy OK: 3 destinations\n");
	fd = mkstemp(path);
	assert_int_equal(
	    write(fd,
	          "destination \"p\" {\n  max_tlp = \"green\"\n  sharing_groups = {\"zzz\"}\n}\n",
	          66),
	    66);
	close(fd);
	snprintf(args, sizeof(args), "policy check %s", path);
	assert_int_equal(run(args), 1);
	assert_non_null(strstr(out, ":3: "));
	assert_non_null(strstr(out, "zzz"));
	unlink(path);
}

static void usage_errors_exit_2(void **state)
{
	(void)state;
	assert_int_equal(run("policy"), 2);
	assert_int_equal(run("policy frobnicate"), 2);
	assert_int_equal(run("policy check"), 2);
	assert_int_equal(run("policy explain policies/example-bundle.json"), 2);
	assert_non_null(strstr(out, "--policy"));
	assert_int_equal(run("policy explain --policy policies/sample.policy --now soon "
	                     "policies/example-bundle.json"),
	                 2);
	assert_int_equal(run("policy --help"), 0);
	assert_non_null(strstr(out, "explain"));
}

static void explain_a_bundle(void **state)
{
	(void)state;
	assert_int_equal(
	    run("policy explain policies/example-bundle.json --policy policies/sample.policy "
	        "--destination csirt-network-misp --now 1795200000"),
	    0);
	assert_non_null(strstr(out, "indicator--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e  deny"));
	assert_non_null(strstr(out, "RED never leaves"));
	assert_non_null(strstr(out, "relationship--5e6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8a9b  deny"));
	assert_non_null(
	    strstr(out, "email-addr--3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f  allow-with-changes"));
	assert_null(strstr(out, "== destination public-taxii"));
	/* the emitted bundle has no personal data in clear */
	assert_int_equal(
	    run("policy explain policies/example-bundle.json --policy policies/sample.policy "
	        "--destination csirt-network-misp --now 1795200000 --emit"),
	    0);
	assert_null(strstr(out, "\"j.doe@mail.example.org\""));
	assert_null(strstr(out, "'j.doe@mail.example.org'"));
	assert_non_null(strstr(out, "@pseudonym.invalid"));
}

static void explain_a_misp_event_as_json_rows(void **state)
{
	char *line, *save = NULL;
	int rows = 0;

	(void)state;
	assert_int_equal(
	    run("policy explain policies/example-event.json --policy policies/sample.policy --json "
	        "--now 1795200000"),
	    0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_non_null(
		    strstr(line, "\"object_id\":\"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d\""));
		assert_non_null(strstr(line, "\"decision\":"));
		assert_null(strstr(line, "j.doe@"));
		rows++;
	}
	assert_int_equal(rows, 3);
}

static void explain_refuses_unknown_destination(void **state)
{
	(void)state;
	assert_int_equal(
	    run("policy explain policies/example-event.json --policy policies/sample.policy "
	        "--destination nowhere"),
	    1);
	assert_non_null(strstr(out, "nowhere"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(check_ok_and_bad),
	    cmocka_unit_test(usage_errors_exit_2),
	    cmocka_unit_test(explain_a_bundle),
	    cmocka_unit_test(explain_a_misp_event_as_json_rows),
	    cmocka_unit_test(explain_refuses_unknown_destination),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
