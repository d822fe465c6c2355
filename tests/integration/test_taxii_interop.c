/* test_taxii_interop.c — the OASIS taxii2-client library (Python) against sluice's TAXII server:
 * discovery, collections, as_pages paging with limit=1 through a date_added tie, manifest pages,
 * POST + status, GET by id. Needs a taxii2client source tree (not shipped here):
 * SLUICE_TAXII2CLIENT=<dir containing the taxii2client package>, and python3 with requests, six,
 * pytz; otherwise it skips (77). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sltest.h"
#include "test_taxii_fixture.h"

#define C_TIES "44444444-4444-4444-8444-444444444444"
#define C_WRITE "55555555-5555-4555-8555-555555555555"
#define NTIES 30

static const char script[] =
    "import json, sys\n"
    "from taxii2client.v21 import Server, as_pages\n"
    "url, ties, write, nties = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])\n"
    "out = {}\n"
    "srv = Server(url + '/taxii2/', user='alice', password='pw-alice')\n"
    "out['api_roots'] = len(srv.api_roots)\n"
    "root = srv.default\n"
    "out['default'] = root is not None\n"
    "cols = {c.id: c for c in root.collections}\n"
    "out['collections'] = sorted(cols)\n"
    "seen = []\n"
    "for env in as_pages(cols[ties].get_objects, per_request=1):\n"
    "    seen += [o['id'] for o in env.get('objects', [])]\n"
    "out['tie_objects'] = len(seen)\n"
    "out['tie_distinct'] = len(set(seen))\n"
    "man = []\n"
    "for env in as_pages(cols[ties].get_manifest, per_request=7):\n"
    "    man += [o['id'] for o in env.get('objects', [])]\n"
    "out['manifest_records'] = len(set(man))\n"
    "good = {'type': 'indicator', 'spec_version': '2.1',\n"
    "        'id': 'indicator--eeeeeeee-0000-4000-8000-000000000001',\n"
    "        'created': '2024-01-01T00:00:00.000Z', 'modified': '2024-01-01T00:00:00.000Z',\n"
    "        'pattern': \"[ipv4-addr:value = '10.9.9.9']\", 'pattern_type': 'stix',\n"
    "        'valid_from': '2024-01-01T00:00:00Z'}\n"
    "st = cols[write].add_objects({'objects': [good, {'type': 'indicator'}]})\n"
    "out['post_status'] = st.status\n"
    "out['post_success'] = st.success_count\n"
    "out['post_failure'] = st.failure_count\n"
    "st.refresh()\n"
    "out['status_refresh'] = st.status\n"
    "env = cols[write].get_object(good['id'])\n"
    "out['get_by_id'] = env['objects'][0]['id'] == good['id']\n"
    "ok = (out['api_roots'] == 1 and out['default'] and len(out['collections']) == 2 and\n"
    "      out['tie_objects'] == nties and out['tie_distinct'] == nties and\n"
    "      out['manifest_records'] == nties and out['post_status'] == 'complete' and\n"
    "      out['post_success'] == 1 and out['post_failure'] == 1 and\n"
    "      out['status_refresh'] == 'complete' and out['get_by_id'])\n"
    "out['ok'] = ok\n"
    "print(json.dumps(out, sort_keys=True))\n"
    "sys.exit(0 if ok else 1)\n";

int main(void)
{
	const char *client = getenv("SLUICE_TAXII2CLIENT");
	const char *py = getenv("SLUICE_PYTHON3");
	char cmd[4096], path[] = "/tmp/sl_taxii_interopXXXXXX";
	struct tx_server s;
	struct sl_err err = {0};
	int fd, rc;
	char json[1024];

	if (!py || !*py)
		py = "python3";
	if (!client || !*client) {
		fprintf(stderr, "SLUICE_TAXII2CLIENT is not set: skipping\n");
		return SLTEST_SKIP;
	}
	snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s' '%s' -c 'import taxii2client.v21' 2>/dev/null",
	         client, py);
	if (system(cmd) != 0) {
		fprintf(stderr, "taxii2client or its dependencies are not importable: skipping\n");
		return SLTEST_SKIP;
	}
	tx_server_init(&s, NULL, NULL);
	sl_taxii_store_mem_add_collection(s.store, C_TIES, "ties", NULL, NULL, &err);
	sl_taxii_store_mem_add_collection(s.store, C_WRITE, "write", NULL, NULL, &err);
	sl_taxii_store_mem_add_partner(s.store, "alice", "alice", "pw-alice", NULL, &err);
	sl_taxii_store_mem_grant(s.store, "alice", C_TIES, true, false, &err);
	sl_taxii_store_mem_grant(s.store, "alice", C_WRITE, true, true, &err);
	for (int n = 0; n < NTIES; n++) {
		snprintf(json, sizeof(json),
		         "{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--"
		         "00000000-0000-4000-8000-%012d\",\"created\":\"2023-01-01T00:00:00.000Z\","
		         "\"modified\":\"2023-01-01T00:00:00.000Z\",\"pattern\":\"[x:y='%d']\","
		         "\"pattern_type\":\"stix\",\"valid_from\":\"2023-01-01T00:00:00Z\"}",
		         n, n);
		if (sl_taxii_store_mem_put(s.store, C_TIES, json, 1700000000000000, &err) != 0)
			return 1;
	}
	tx_server_start(&s);

	fd = mkstemp(path);
	if (fd < 0 || write(fd, script, sizeof(script) - 1) != (ssize_t)(sizeof(script) - 1))
		return 1;
	close(fd);
	snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s' '%s' %s %s %s %s %d", client, py, path,
	         s.base_url, C_TIES, C_WRITE, NTIES);
	rc = system(cmd);
	unlink(path);
	tx_server_stop(&s);
	if (rc != 0) {
		fprintf(stderr, "taxii2client checks failed (see the JSON above)\n");
		return 1;
	}
	return 0;
}
