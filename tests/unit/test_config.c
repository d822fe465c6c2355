/* test_config.c — sluice.conf: defaults, every kind of error naming file:line and key, secrets from
 * files and the environment, and snapshots that outlive a reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "sltest.h"

static char dir[] = "/tmp/sl_test_config.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text that must fail; check err names file:line and that msg mentions every needle. */
static void expect_error(const char *text, int line, const char *needle1, const char *needle2)
{
	char want_where[600];
	const char *path = write_file("bad.conf", text);
	struct sl_err err;
	struct sl_config *cfg = sl_config_load(path, SL_CONFIG_STRICT, &err);

	if (cfg)
		fail_msg("loaded although it should fail: %s", text);
	snprintf(want_where, sizeof(want_where), "%s:%d", path, line);
	assert_string_equal(err.where, want_where);
	if (needle1 && !strstr(err.msg, needle1))
		fail_msg("'%s' not in '%s'", needle1, err.msg);
	if (needle2 && !strstr(err.msg, needle2))
		fail_msg("'%s' not in '%s'", needle2, err.msg);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	setenv("SLUICE_TEST_MISP_KEY", "misp-secret-key", 1);
	setenv("SLUICE_TEST_OPENCTI_KEY", "opencti-secret-key", 1);
	setenv("SLUICE_TEST_PARTNER_PW", "partner-pw", 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct sl_config *load_fixture(const char *name)
{
	char path[512];
	struct sl_err err;
	struct sl_config *cfg;

	snprintf(path, sizeof(path), "%s/config/%s", sltest_fixtures_dir(), name);
	cfg = sl_config_load(path, SL_CONFIG_STRICT, &err);
	if (!cfg)
		fail_msg("%s: %s", err.where, err.msg);
	return cfg;
}

static void minimal_file_gets_documented_defaults(void **state)
{
	struct sl_config *cfg = load_fixture("minimal.conf");
	const struct sl_config_peer *p = sl_config_peer(cfg, 0);

	assert_null(sl_config_db_dsn(cfg));
	assert_int_equal(sl_config_log_level(cfg), SL_LOG_INFO);
	assert_int_equal(sl_config_limits(cfg)->max_body_bytes, 16777216);
	assert_int_equal(sl_config_limits(cfg)->max_json_depth, 64);
	assert_int_equal(sl_config_limits(cfg)->batch_size, 500);
	assert_int_equal(sl_config_limits(cfg)->max_transfers, 100);
	assert_false(sl_config_taxii(cfg)->enabled);
	assert_int_equal(sl_config_npeers(cfg), 1);
	assert_string_equal(p->name, "feed");
	assert_int_equal(p->kind, SL_PEER_MISP_FEED);
	assert_int_equal(p->direction, SL_PEER_PULL);
	assert_false(p->insecure_skip_verify); /* TLS verification is on unless asked otherwise */
	assert_false(p->api_key_configured);
	assert_null(p->api_key);
	assert_int_equal(p->poll_interval_s, 300);
	assert_int_equal(p->timeout_s, 60);
	assert_int_equal(p->connect_timeout_s, 10);
	assert_int_equal(p->max_body_bytes, 16777216); /* inherited from limits */
	assert_int_equal(p->collections.n, 0);
	sl_config_unref(cfg);
}

static void full_file_values(void **state)
{
	struct sl_config *cfg = load_fixture("full.conf");
	const struct sl_config_peer *m = sl_config_peer_by_name(cfg, "misp-main");
	const struct sl_config_peer *o = sl_config_peer_by_name(cfg, "opencti");
	const struct sl_config_peer *f = sl_config_peer_by_name(cfg, "circl-feed");
	const struct sl_config_taxii *t = sl_config_taxii(cfg);

	assert_string_equal(sl_config_db_dsn(cfg),
	                    "host=/run/postgresql dbname=sluice password=hunter2");
	assert_int_equal(sl_config_log_level(cfg), SL_LOG_DEBUG);
	assert_int_equal(sl_config_limits(cfg)->max_body_bytes, 1048576);
	assert_int_equal(sl_config_limits(cfg)->max_transfers, 50);
	assert_non_null(m);
	assert_non_null(o);
	assert_non_null(f);
	assert_null(sl_config_peer_by_name(cfg, "nope"));
	assert_int_equal(m->direction, SL_PEER_BOTH);
	assert_string_equal(m->api_key, "misp-secret-key");
	assert_int_equal(m->poll_interval_s, 120);
	assert_true(m->published_only);
	assert_int_equal(m->tags_include.n, 2);
	assert_string_equal(m->tags_include.v[1], "tlp:green");
	assert_string_equal(m->tags_exclude.v[0], "internal");
	assert_string_equal(o->api_key, "opencti-secret-key");
	assert_string_equal(o->collections.v[0], "live");
	assert_int_equal(f->max_body_bytes, 4096);
	assert_true(t->enabled);
	assert_string_equal(t->listen_host, "127.0.0.1");
	assert_int_equal(t->listen_port, 9443);
	assert_int_equal(t->max_page_size, 500);
	assert_int_equal(t->npartners, 1);
	assert_string_equal(t->partners[0].name, "cert-eu");
	assert_string_equal(t->partners[0].user, "certeu");
	assert_string_equal(t->partners[0].password, "partner-pw");
	assert_int_equal(t->partners[0].collections.n, 1);
	sl_config_unref(cfg);
}

static void unknown_keys_name_file_line_and_key(void **state)
{
	expect_error("log_level = \"info\"\nlog_lvel = \"debug\"\n", 2, "log_lvel", NULL);
	expect_error(
	    "peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\"\n\n apikey = \"k\"\n}\n", 5,
	    "apikey", "peer \"a\"");
	expect_error("limits {\n  max_bodybytes = 5\n}\n", 2, "max_bodybytes", "limits");
	expect_error(
	    "taxii_server {\n partner \"p\" {\n  user = \"u\"\n  pasword_env = \"X\"\n }\n}\n", 4,
	    "pasword_env", "partner \"p\"");
}

static void out_of_range_and_bad_values_name_the_key(void **state)
{
	expect_error("limits {\n max_json_depth = 5000\n}\n", 2, "max_json_depth", "[2, 1000]");
	expect_error("limits {\n batch_size = 0\n}\n", 2, "batch_size", "out of range");
	expect_error(
	    "peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\"\n timeout = -1\n}\n", 4,
	    "timeout", "peer \"a\"");
	expect_error("peer \"a\" {\n kind = \"mips\"\n}\n", 2, "kind",
	             "misp|opencti|taxii|misp-feed");
	expect_error("log_level = \"loud\"\n", 1, "log_level", "debug|info|warn|error");
	expect_error("\nlimits {\n max_transfers = \"many\"\n}\n", 3, "max_transfers", NULL);
	expect_error("peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\"\n ca_file = "
	             "\"/nonexistent/ca.pem\"\n}\n",
	             4, "ca_file", "/nonexistent/ca.pem");
}

static void missing_and_inconsistent_keys_name_the_block(void **state)
{
	/* cross-key checks can only run when the block is complete, so they point at its end */
	expect_error("peer \"a\" {\n kind = \"misp-feed\"\n}\n", 3, "'url'", "peer \"a\"");
	expect_error("peer \"a\" {\n url = \"https://x\"\n}\n", 3, "'kind'", NULL);
	expect_error("peer \"a\" {\n kind = \"misp\"\n url = \"https://x\"\n}\n", 4, "api_key_file",
	             "peer \"a\"");
	expect_error("peer \"a\" {\n kind = \"misp-feed\"\n url = \"http://x\"\n}\n", 4,
	             "allow_plain_http", NULL);
	expect_error("peer \"a\" {\n kind = \"misp-feed\"\n url = \"ftp://x\"\n}\n", 4, "https://",
	             NULL);
	expect_error("peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\"\n client_key = "
	             "\"/dev/null\"\n}\n",
	             5, "client_cert", NULL);
	expect_error(
	    "peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\"\n}\npeer \"a\" {\n}\n", 5,
	    "duplicate", "'a'");
	expect_error("taxii_server {\n listen = \"0.0.0.0:443\"\n}\n", 3, "tls_cert", NULL);
	expect_error("taxii_server {\n listen = \"localhost\"\n}\n", 3, "listen", NULL);
	expect_error("taxii_server {\n partner \"p\" {\n  user = \"u\"\n }\n}\n", 4,
	             "password_file", "partner \"p\"");
	expect_error(
	    "peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\"\n retry_base_ms = 5000\n "
	    "retry_cap_ms = 1000\n}\n",
	    6, "retry_base_ms", NULL);
	expect_error("peer \"a\" {\n kind = \"misp-feed\"\n url = \"https://x\n}\n", 5, NULL, NULL);
}

static void secrets_from_file_and_env(void **state)
{
	char text[1024];
	const char *keyfile;
	struct sl_config *cfg;
	struct sl_err err;

	keyfile = write_file("misp.key", "file-secret-value\n");
	snprintf(text, sizeof(text),
	         "peer \"m\" {\n kind = \"misp\"\n url = \"https://m\"\n api_key_file = \"%s\"\n}\n"
	         "peer \"o\" {\n kind = \"opencti\"\n url = \"https://o\"\n api_key_env = "
	         "\"SLUICE_TEST_OPENCTI_KEY\"\n}\n",
	         keyfile);
	cfg = sl_config_load(write_file("s.conf", text), SL_CONFIG_STRICT, &err);
	if (!cfg)
		fail_msg("%s: %s", err.where, err.msg);
	/* the trailing newline an editor leaves is not part of the key */
	assert_string_equal(sl_config_peer(cfg, 0)->api_key, "file-secret-value");
	assert_string_equal(sl_config_peer(cfg, 1)->api_key, "opencti-secret-key");
	sl_config_unref(cfg);

	/* an unset variable fails the load, naming the key and the variable, never a value */
	unsetenv("SLUICE_TEST_UNSET_KEY");
	expect_error("peer \"o\" {\n kind = \"opencti\"\n url = \"https://o\"\n api_key_env = "
	             "\"SLUICE_TEST_UNSET_KEY\"\n}\n",
	             4, "api_key_env", "SLUICE_TEST_UNSET_KEY");
	expect_error("peer \"o\" {\n kind = \"opencti\"\n url = \"https://o\"\n api_key_file = "
	             "\"/nonexistent/key\"\n}\n",
	             4, "api_key_file", "/nonexistent/key");
	write_file("empty.key", "\n");
	snprintf(text, sizeof(text),
	         "peer \"m\" {\n kind = \"misp\"\n url = \"https://m\"\n api_key_file = "
	         "\"%s/empty.key\"\n}\n",
	         dir);
	expect_error(text, 5, "api_key_file", "empty");
	snprintf(text, sizeof(text),
	         "peer \"m\" {\n kind = \"misp\"\n url = \"https://m\"\n api_key_file = \"%s\"\n "
	         "api_key_env = \"SLUICE_TEST_MISP_KEY\"\n}\n",
	         keyfile);
	expect_error(text, 6, "both", NULL);
	assert_null(strstr(err.msg, "secret"));

	/* check-config on a machine without the secrets: recorded as missing, not loaded */
	cfg = sl_config_load(write_file("m.conf", "peer \"o\" {\n kind = \"opencti\"\n url = "
	                                          "\"https://o\"\n api_key_env = "
	                                          "\"SLUICE_TEST_UNSET_KEY\"\n}\n"),
	                     SL_CONFIG_ALLOW_MISSING_SECRETS, &err);
	assert_non_null(cfg);
	assert_true(sl_config_peer(cfg, 0)->api_key_configured);
	assert_null(sl_config_peer(cfg, 0)->api_key);
	sl_config_unref(cfg);
}

static void errors_never_contain_secret_values(void **state)
{
	/* the key is read, then a later check fails: the message must not carry it */
	expect_error("peer \"o\" {\n kind = \"opencti\"\n url = \"https://o\"\n api_key_env = "
	             "\"SLUICE_TEST_OPENCTI_KEY\"\n client_cert = \"/dev/null\"\n}\n",
	             6, "client_key", NULL);
	{
		struct sl_err err;
		const char *path =
		    write_file("bad.conf", "peer \"o\" {\n kind = \"opencti\"\n url = "
		                           "\"https://o\"\n api_key_env = "
		                           "\"SLUICE_TEST_OPENCTI_KEY\"\n}\nbogus = 1\n");
		assert_null(sl_config_load(path, SL_CONFIG_STRICT, &err));
		assert_null(strstr(err.msg, "opencti-secret-key"));
		assert_null(strstr(err.where, "opencti-secret-key"));
	}
}

static void missing_file_is_named(void **state)
{
	struct sl_err err;

	assert_null(sl_config_load("/nonexistent/sluice.conf", SL_CONFIG_STRICT, &err));
	assert_int_equal(err.code, SL_EIO);
	assert_string_equal(err.where, "/nonexistent/sluice.conf");
}

static void old_snapshot_survives_a_reload(void **state)
{
	struct sl_err err;
	const char *path = write_file("r.conf", "log_level = \"warn\"\n");
	struct sl_config *old = sl_config_load(path, SL_CONFIG_STRICT, &err), *held, *fresh;

	assert_non_null(old);
	held = sl_config_ref(old); /* e.g. a transfer in flight */
	write_file("r.conf", "log_level = \"error\"\nledger_dsn = \"dbname=x\"\n");
	fresh = sl_config_load(path, SL_CONFIG_STRICT, &err);
	assert_non_null(fresh);
	sl_config_unref(old); /* the swap drops the daemon's reference */
	assert_int_equal(sl_config_log_level(held), SL_LOG_WARN);
	assert_null(sl_config_db_dsn(held));
	assert_int_equal(sl_config_log_level(fresh), SL_LOG_ERROR);
	assert_string_equal(sl_config_db_dsn(fresh), "dbname=x");
	sl_config_unref(held);
	sl_config_unref(fresh);
	sl_config_unref(NULL);
}

static void key_table_is_complete(void **state)
{
	size_t n, i;
	const struct sl_config_key *k = sl_config_keys(&n);
	int secrets = 0;

	assert_true(n > 30);
	for (i = 0; i < n; i++) {
		assert_non_null(k[i].doc);
		assert_non_null(k[i].type);
		if (strcmp(k[i].type, "int") == 0) {
			long def = strtol(k[i].def, NULL, 10);
			assert_true(def >= k[i].min && def <= k[i].max);
		}
		secrets += k[i].secret;
	}
	assert_int_equal(secrets, 4);
}

/* docs/config.md is generated from the table; this catches a key added without regenerating it. */
static void reference_documents_every_key(void **state)
{
	char path[600], *doc;
	size_t n, i, len;
	const struct sl_config_key *k = sl_config_keys(&n);
	FILE *f;

	snprintf(path, sizeof(path), "%s/../docs/config.md", sltest_fixtures_dir());
	f = fopen(path, "r");
	if (!f)
		skip();
	doc = calloc(1, 256 * 1024);
	assert_non_null(doc);
	len = fread(doc, 1, 256 * 1024 - 1, f);
	fclose(f);
	assert_true(len > 0);
	for (i = 0; i < n; i++) {
		char row[160], heading[80];
		char *sec, *at;

		snprintf(heading, sizeof(heading), "### %s\n",
		         k[i].section[0] ? k[i].section : "top level");
		sec = strstr(doc, heading);
		if (!sec)
			fail_msg("docs/config.md lacks the section '%s'", heading);
		snprintf(row, sizeof(row), "| `%s` | ", k[i].name);
		at = strstr(sec, row);
		/* the row must sit in its own section, before the next heading */
		if (!at || (strstr(sec + 4, "### ") && at > strstr(sec + 4, "### ")))
			fail_msg("docs/config.md lacks a row for %s.%s", k[i].section, k[i].name);
		if (k[i].def && strcmp(k[i].def, "{}") != 0) {
			char *eol = strchr(at, '\n');
			char def[64];

			snprintf(def, sizeof(def), "| %s |", k[i].def);
			*eol = '\0';
			if (!strstr(at, def))
				fail_msg("docs/config.md: %s default is not %s", k[i].name,
				         k[i].def);
			*eol = '\n';
		}
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(minimal_file_gets_documented_defaults),
	    cmocka_unit_test(full_file_values),
	    cmocka_unit_test(unknown_keys_name_file_line_and_key),
	    cmocka_unit_test(out_of_range_and_bad_values_name_the_key),
	    cmocka_unit_test(missing_and_inconsistent_keys_name_the_block),
	    cmocka_unit_test(secrets_from_file_and_env),
	    cmocka_unit_test(errors_never_contain_secret_values),
	    cmocka_unit_test(missing_file_is_named),
	    cmocka_unit_test(old_snapshot_survives_a_reload),
	    cmocka_unit_test(key_table_is_complete),
	    cmocka_unit_test(reference_documents_every_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
