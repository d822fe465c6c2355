/* test_observable.c — canonical observable values: the spellings sources really send of one IoC
 * come out the same, invalid values are refused naming the type and value, and observables are
 * found in SCOs and in simple indicator patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "observable.h"

static void canon_is(const char *type, const char *in, const char *want)
{
	char out[SL_OBSERVABLE_VALUE_MAX];
	struct sl_err err = {0};

	assert_int_equal(sl_observable_canon(type, in, out, sizeof(out), &err), 0);
	assert_string_equal(out, want);
}

static void refused(const char *type, const char *in, const char *why)
{
	char out[SL_OBSERVABLE_VALUE_MAX];
	struct sl_err err = {0};

	assert_int_equal(sl_observable_canon(type, in, out, sizeof(out), &err), SL_EINVAL);
	assert_non_null(strstr(err.msg, type));
	assert_non_null(strstr(err.msg, why));
}

static void ipv4(void **state)
{
	canon_is("ipv4-addr", " 10.0.0.1 ", "10.0.0.1");
	canon_is("ipv4-addr", "010.000.000.001", "10.0.0.1"); /* leading zeros are decimal */
	canon_is("ipv4-addr", "192.168.1.0/24", "192.168.1.0/24");
	canon_is("ipv4-addr", "192.168.1.7/32", "192.168.1.7");
	refused("ipv4-addr", "256.1.1.1", "is not an IPv4 address");
	refused("ipv4-addr", "10.0.0.1/33", "prefix");
	refused("ipv4-addr", "10.0.0", "is not an IPv4 address");
}

static void ipv6(void **state)
{
	canon_is("ipv6-addr", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
	canon_is("ipv6-addr", "2001:db8::1/128", "2001:db8::1");
	canon_is("ipv6-addr", "2001:DB8::/32", "2001:db8::/32");
	refused("ipv6-addr", "2001:db8:::1", "is not an IPv6 address");
}

static void domains_emails_hashes(void **state)
{
	canon_is("domain-name", "Evil.EXAMPLE.com.", "evil.example.com");
	canon_is("email-addr", "Alice@Example.ORG", "alice@example.org");
	canon_is("file:sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	canon_is("file:md5", "D41D8CD98F00B204E9800998ECF8427E",
	         "d41d8cd98f00b204e9800998ecf8427e");
	refused("file:md5", "d41d8cd98f00b204e9800998ecf8427", "wrong length");
	refused("file:sha1", "zz1d8cd98f00b204e9800998ecf8427e12345678", "not hexadecimal");
	refused("email-addr", "no-at-sign", "has no '@'");
	refused("domain-name", "evil.example.com/path", "is not a domain name");
}

static void urls(void **state)
{
	canon_is("url", "HTTP://Evil.Example.COM:80", "http://evil.example.com/");
	canon_is("url", "https://Evil.example.com:443/A/b?Q=%2f#Frag",
	         "https://evil.example.com/A/b?Q=%2F#Frag");
	canon_is("url", "https://evil.example.com:8443/x", "https://evil.example.com:8443/x");
	/* userinfo is kept as is; the path keeps its case */
	canon_is("url", "ftp://User@FTP.Example.com/Pub", "ftp://User@ftp.example.com/Pub");
}

static void guesses(void **state)
{
	assert_string_equal(sl_observable_guess("10.1.2.3"), "ipv4-addr");
	assert_string_equal(sl_observable_guess("10.1.2.0/24"), "ipv4-addr");
	assert_string_equal(sl_observable_guess("2001:db8::1"), "ipv6-addr");
	assert_string_equal(sl_observable_guess("http://x.example"), "url");
	assert_string_equal(sl_observable_guess("a@b.example"), "email-addr");
	assert_string_equal(sl_observable_guess("d41d8cd98f00b204e9800998ecf8427e"), "file:md5");
	assert_string_equal(sl_observable_guess("Example.COM"), "domain-name");
}

struct found {
	char items[8][160];
	int n;
};

static int collect(void *arg, const char *type, const char *value)
{
	struct found *f = arg;

	if (f->n < 8)
		snprintf(f->items[f->n++], sizeof(f->items[0]), "%s=%s", type, value);
	return 0;
}

static void from_objects(void **state)
{
	struct found f = {0};
	json_t *sco = json_pack("{s:s, s:s}", "type", "ipv4-addr", "value", "010.0.0.1");
	json_t *file = json_pack("{s:s, s:{s:s, s:s}}", "type", "file", "hashes", "MD5",
	                         "D41D8CD98F00B204E9800998ECF8427E", "x-custom", "ignored");
	json_t *ind =
	    json_pack("{s:s, s:s, s:s}", "type", "indicator", "pattern_type", "stix", "pattern",
	              "[domain-name:value = 'Evil.Example.com'] OR [file:hashes.'SHA-1' = "
	              "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] AND [url:value = 'it\\'s'] OR "
	              "[network-traffic:dst_port = 443]");
	json_t *yara = json_pack("{s:s, s:s, s:s}", "type", "indicator", "pattern_type", "yara",
	                         "pattern", "[domain-name:value = 'not.stix']");

	assert_int_equal(sl_observable_each(sco, collect, &f), 0);
	assert_int_equal(sl_observable_each(file, collect, &f), 0);
	assert_int_equal(sl_observable_each(ind, collect, &f), 0);
	assert_int_equal(sl_observable_each(yara, collect, &f), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(f.items[0], "ipv4-addr=10.0.0.1");
	assert_string_equal(f.items[1], "file:md5=d41d8cd98f00b204e9800998ecf8427e");
	assert_string_equal(f.items[2], "domain-name=evil.example.com");
	assert_string_equal(f.items[3], "file:sha1=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(f.items[4], "url=it's");
	json_decref(sco);
	json_decref(file);
	json_decref(ind);
	json_decref(yara);
}

static void hostile_patterns(void **state)
{
	static const char *const pats[] = {"[domain-name:value = 'unterminated",
	                                   "[:value = 'x']",
	                                   "[domain-name:value =",
	                                   "''''",
	                                   "[a:b = 'c'",
	                                   "[domain-name:value = ''] ",
	                                   ":::::====''''"};
	size_t i;

	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		struct found f = {0};
		json_t *ind = json_pack("{s:s, s:s}", "type", "indicator", "pattern", pats[i]);

		assert_int_equal(sl_observable_each(ind, collect, &f), 0);
		assert_true(f.n <= 1);
		json_decref(ind);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ipv4),
	    cmocka_unit_test(ipv6),
	    cmocka_unit_test(domains_emails_hashes),
	    cmocka_unit_test(urls),
	    cmocka_unit_test(guesses),
	    cmocka_unit_test(from_objects),
	    cmocka_unit_test(hostile_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
