/* test_policy_file.c — the policy file: the sample loads, defaults hold, and every bad file is
 * refused with an error naming file:line and the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/sl_policy_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static char *key_file(void)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/sl_key_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
	close(fd);
	return path;
}

/* Loading text must fail with where = "<path>:<line>" and a message containing each needle. */
static void refused(const char *text, int line, const char *needle1, const char *needle2)
{
	struct sl_policy *p = (struct sl_policy *)1;
	struct sl_err err;
	char want[128];
	char *path = write_tmp(text);

	assert_int_not_equal(sl_policy_load(path, &p, &err), 0);
	assert_null(p);
	snprintf(want, sizeof(want), "%s:%d", path, line);
	if (strcmp(err.where, want) != 0)
		fail_msg("where '%s', wanted '%s' (msg: %s)", err.where, want, err.msg);
	if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
		fail_msg("message '%s' lacks '%s' / '%s'", err.msg, needle1,
		         needle2 ? needle2 : "");
	unlink(path);
}

static void sample_policy_loads(void **state)
{
	char path[512];
	struct sl_policy *p = NULL;
	struct sl_err err;
	const struct sl_policy_dest *d;

	(void)state;
	snprintf(path, sizeof(path), "%s/policies/sample.policy", getenv("SLUICE_FIXTURES"));
	if (sl_policy_load(path, &p, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	assert_int_equal(sl_policy_dest_count(p), 3);
	d = sl_policy_dest_find(p, "csirt-network-misp");
	assert_non_null(d);
	assert_string_equal(sl_policy_dest_name(d), "csirt-network-misp");
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_EMAIL), SL_GDPR_PSEUDONYMISE);
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_PERSON_NAME), SL_GDPR_REDACT);
	assert_null(sl_policy_dest_find(p, "nobody"));
	assert_null(sl_policy_dest_at(p, 3));
	sl_policy_free(p);
	sl_policy_free(NULL);
}

static void defaults_are_the_cautious_ones(void **state)
{
	struct sl_policy *p = NULL;
	struct sl_err err;
	char *path = write_tmp("destination \"x\" {\n}\n");
	const struct sl_policy_dest *d;

	(void)state;
	assert_int_equal(sl_policy_load(path, &p, &err), 0);
	d = sl_policy_dest_at(p, 0);
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_EMAIL), SL_GDPR_REDACT);
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_PERSON_NAME), SL_GDPR_REDACT);
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_PHONE), SL_GDPR_REDACT);
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_USER_ACCOUNT), SL_GDPR_REDACT);
	assert_int_equal(sl_policy_dest_gdpr(d, SL_GDPR_IP_ADDRESS), SL_GDPR_KEEP);
	sl_policy_free(p);
	unlink(path);
}

static void unknown_key_names_its_line(void **state)
{
	(void)state;
	refused("# comment\ndestination \"a\" {\n  kind = \"misp\"\n\n  max_tlpp = \"green\"\n}\n",
	        5, "max_tlpp", "destination 'a'");
	refused(
	    "destination \"a\" {\n  gdpr {\n    email = \"keep\"\n    emial = \"keep\"\n  }\n}\n",
	    4, "emial", NULL);
	refused("colour = \"blue\"\n", 1, "colour", NULL);
}

static void unknown_tlp_names_its_line(void **state)
{
	(void)state;
	refused("destination \"a\" {\n  max_tlp = \"purple\"\n}\n", 2, "max_tlp", "purple");
	refused("destination \"a\" {\n  kind = \"taxii\"\n  unmarked = \"ultraviolet\"\n}\n", 3,
	        "unmarked", NULL);
	refused("destination \"a\" {\n  max_tlp = \"red\"\n}\n", 2, "RED never leaves", NULL);
}

static void amber_strict_needs_own_org(void **state)
{
	(void)state;
	refused("destination \"a\" {\n  max_tlp = \"amber\"\n  allow_amber_strict = true\n}\n", 3,
	        "allow_amber_strict", "own organisation");
	refused("destination \"a\" {\n  max_tlp = \"amber+strict\"\n}\n", 2, "max_tlp", "own_org");
}

static void sharing_group_must_be_a_uuid(void **state)
{
	(void)state;
	refused("destination \"a\" {\n  kind = \"misp\"\n  sharing_groups = "
	        "{\"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d\",\n"
	        "                    \"not-a-uuid\"}\n}\n",
	        3, "sharing_groups", "not-a-uuid");
	refused("destination \"a\" {\n  org_uuid = \"1234\"\n}\n", 2, "org_uuid", "not a uuid");
}

static void missing_hmac_key_file_names_its_line(void **state)
{
	char text[512];

	(void)state;
	refused("destination \"a\" {\n  gdpr {\n    email = \"pseudonymise\"\n    hmac_key_file = "
	        "\"/nonexistent/k\"\n"
	        "  }\n}\n",
	        4, "hmac_key_file", "/nonexistent/k");
	refused("\nhmac_key_file = \"/nonexistent/top\"\n", 2, "hmac_key_file", NULL);
	refused("destination \"a\" {\n  gdpr {\n    email = \"pseudonymise\"\n  }\n}\n", 1,
	        "HMAC key", NULL);
	/* a key that is too short is no key */
	snprintf(text, sizeof(text), "hmac_key_file = \"%s\"\n", write_tmp("short"));
	refused(text, 1, "hmac_key_file", "bytes");
}

static void pseudonymise_with_key_loads(void **state)
{
	struct sl_policy *p = NULL;
	struct sl_err err;
	char text[512], h1[SL_GDPR_HASH_HEX], h2[SL_GDPR_HASH_HEX];
	char *path;

	(void)state;
	snprintf(
	    text, sizeof(text),
	    "hmac_key_file = \"%s\"\ndestination \"a\" {\n  gdpr {\n    email = \"pseudonymise\"\n"
	    "  }\n}\n",
	    key_file());
	path = write_tmp(text);
	if (sl_policy_load(path, &p, &err) != 0)
		fail_msg("%s: %s", err.where, err.msg);
	assert_int_equal(sl_policy_audit_hash(p, "alice@example.org", h1), 0);
	assert_int_equal(sl_policy_audit_hash(p, "alice@example.org", h2), 0);
	assert_string_equal(h1, h2);
	assert_int_equal(strlen(h1), 64);
	assert_null(strstr(h1, "alice"));
	sl_policy_free(p);
	unlink(path);
}

static void bad_values_name_their_line(void **state)
{
	(void)state;
	refused("destination \"a\" {\n  kind = \"ftp\"\n}\n", 2, "kind", "ftp");
	refused("destination \"a\" {\n  distribution = {1, 7}\n}\n", 2, "distribution", "7");
	refused("destination \"a\" {\n  distribution = {0}\n}\n", 2, "distribution", "own_org");
	refused("destination \"a\" {\n  retention_days = -4\n}\n", 2, "retention_days", NULL);
	refused("destination \"a\" {\n  gdpr {\n    phone = \"shred\"\n  }\n}\n", 3, "phone",
	        "shred");
	refused("destination \"a\" {\n  kind = \"misp\"\n", 1, "never closed", NULL);
	refused("destination \"a\" {\n}\ndestination \"a\" {\n}\n", 3, "a", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sample_policy_loads),
	    cmocka_unit_test(defaults_are_the_cautious_ones),
	    cmocka_unit_test(unknown_key_names_its_line),
	    cmocka_unit_test(unknown_tlp_names_its_line),
	    cmocka_unit_test(amber_strict_needs_own_org),
	    cmocka_unit_test(sharing_group_must_be_a_uuid),
	    cmocka_unit_test(missing_hmac_key_file_names_its_line),
	    cmocka_unit_test(pseudonymise_with_key_loads),
	    cmocka_unit_test(bad_values_name_their_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
