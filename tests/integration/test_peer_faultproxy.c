/* test_peer_faultproxy.c — faultproxy passes bytes unchanged, and each mode does what it says:
 * latency, slice, truncate, reset, hang; modes change at run time; the same seed gives the same
 * pattern of resets. It sits in front of misp-peer here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "peer_proc.h"
#include "sltest.h"

#define KEY "sluiceTestMispKey0000000000000000000000a"

static struct sl_peerproc *g_misp, *g_proxy;
static char g_control[128];
static const char *const H[] = {"Authorization: " KEY, "Accept: application/json", NULL};

static struct sl_peerproc *start_proxy(const char *mode, const char *seed)
{
	char bin[1024], up[64], m[64], s[64];
	char *argv[] = {
	    (char *)sl_peerproc_bin("faultproxy", bin, sizeof(bin)), "--upstream", up, m, s, NULL};
	snprintf(up, sizeof(up), "127.0.0.1:%d", sl_peerproc_port(g_misp));
	snprintf(m, sizeof(m), "--mode=%s", mode);
	snprintf(s, sizeof(s), "--seed=%s", seed);
	return sl_peerproc_start(argv);
}

static int setup(void **state)
{
	char bin[1024], seed[1024];
	char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof(bin)), "--seed", seed,
	                NULL};
	const char *c;

	snprintf(seed, sizeof(seed), "%s/peers/misp", sltest_fixtures_dir());
	g_misp = sl_peerproc_start(argv);
	if (!g_misp)
		return -1;
	g_proxy = start_proxy("pass", "1");
	if (!g_proxy)
		return -1;
	c = strstr(sl_peerproc_line(g_proxy), "CONTROL ");
	if (!c)
		return -1;
	snprintf(g_control, sizeof(g_control), "%s", c + 8);
	return 0;
}

static int teardown(void **state)
{
	int a = sl_peerproc_stop(g_proxy), b = sl_peerproc_stop(g_misp);
	return a == 0 && b == 0 ? 0 : -1;
}

static void set_mode(const char *mode, long want_status)
{
	struct sl_http_result r;
	char url[256];
	snprintf(url, sizeof(url), "%s/mode", g_control);
	sl_http("POST", url, NULL, mode, 5000, &r);
	assert_int_equal(r.status, want_status);
	sl_http_result_free(&r);
}

static void get(struct sl_peerproc *pp, const char *path, long timeout_ms, struct sl_http_result *r)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", sl_peerproc_url(pp), path);
	sl_http("GET", url, H, NULL, timeout_ms, r);
}

static void test_pass_and_slice(void **state)
{
	struct sl_http_result direct, via;

	get(g_misp, "/events/view/7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01", 5000, &direct);
	assert_int_equal(direct.status, 200);
	get(g_proxy, "/events/view/7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01", 5000, &via);
	assert_int_equal(via.status, 200);
	assert_int_equal(via.len, direct.len);
	assert_memory_equal(via.body, direct.body, direct.len);
	sl_http_result_free(&via);

	set_mode("slice:7", 200);
	get(g_proxy, "/events/view/7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01", 5000, &via);
	assert_int_equal(via.curl_code, 0);
	assert_int_equal(via.len, direct.len);
	assert_memory_equal(via.body, direct.body, direct.len);
	sl_http_result_free(&via);
	sl_http_result_free(&direct);
}

static void test_latency(void **state)
{
	struct sl_http_result r;
	set_mode("latency:300", 200);
	get(g_proxy, "/servers/getVersion", 5000, &r);
	assert_int_equal(r.status, 200);
	/* held once each way: at least the configured delay */
	assert_true(r.seconds >= 0.3);
	sl_http_result_free(&r);
}

static void test_truncate_reset_hang(void **state)
{
	struct sl_http_result r;

	/* cut inside the body: the client sees fewer bytes than Content-Length announced */
	set_mode("truncate:400", 200);
	get(g_proxy, "/events/view/7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01", 5000, &r);
	assert_int_equal(r.curl_code, 18); /* CURLE_PARTIAL_FILE */
	assert_true(r.len < 400);
	sl_http_result_free(&r);

	set_mode("reset:1", 200);
	get(g_proxy, "/servers/getVersion", 5000, &r);
	assert_int_not_equal(r.curl_code, 0);
	assert_int_not_equal(r.curl_code, 28);
	sl_http_result_free(&r);

	set_mode("hang:1", 200);
	get(g_proxy, "/servers/getVersion", 400, &r);
	assert_int_equal(r.curl_code, 28); /* CURLE_OPERATION_TIMEDOUT */
	sl_http_result_free(&r);

	set_mode("pass", 200);
	get(g_proxy, "/servers/getVersion", 5000, &r);
	assert_int_equal(r.status, 200);
	sl_http_result_free(&r);

	set_mode("bogus:1", 400);
	set_mode("reset:2", 400);
	{
		char url[256];
		json_t *j;
		snprintf(url, sizeof(url), "%s/stats", g_control);
		sl_http("GET", url, NULL, NULL, 5000, &r);
		j = json_loads(r.body, 0, NULL);
		assert_int_equal(json_integer_value(json_object_get(j, "resets")), 1);
		assert_int_equal(json_integer_value(json_object_get(j, "hangs")), 1);
		assert_int_equal(json_integer_value(json_object_get(j, "truncated")), 1);
		json_decref(j);
		sl_http_result_free(&r);
	}
}

static void pattern(const char *seed, char *out, int n)
{
	struct sl_peerproc *pp = start_proxy("reset:0.5", seed);
	assert_non_null(pp);
	for (int i = 0; i < n; i++) {
		struct sl_http_result r;
		get(pp, "/servers/getVersion", 5000, &r);
		out[i] = r.curl_code == 0 ? '.' : 'R';
		sl_http_result_free(&r);
	}
	out[n] = '\0';
	assert_int_equal(sl_peerproc_stop(pp), 0);
}

static void test_seeded(void **state)
{
	char a[31], b[31];
	pattern("42", a, 30);
	pattern("42", b, 30);
	assert_string_equal(a, b);
	assert_non_null(strchr(a, 'R'));
	assert_non_null(strchr(a, '.'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pass_and_slice),
	    cmocka_unit_test(test_latency),
	    cmocka_unit_test(test_truncate_reset_hang),
	    cmocka_unit_test(test_seeded),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
