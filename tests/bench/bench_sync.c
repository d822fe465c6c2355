/* bench_sync.c — `sluice run` end to end: a MISP peer holding 1,000 events (one of them 10,000
 * attributes; gen_synthetic_events.py `large` and `batch`, as bench_map uses) synced to every
 * destination of dests[] (another MISP now; OpenCTI and TAXII join by adding an entry). Prints
 * name=value lines: end-to-end seconds, objects/s, the seconds from sluice's first sight of the
 * 10,000-attribute event to the moment ALL of it is at each destination (every object or
 * attribute the policy allows it, see expect(); goal < 2 s), and the gateway's peak RSS (goal
 * < 200 MB); then the ledger's floor for the large event (sync_large_event_floor_*: its rows
 * loaded bare into tables like the ledger's, the outbox rows leased and settled: no sluice logic).
 * SLBENCH_EVENTS, SLBENCH_LARGE, SLBENCH_DESTS shrink the run; SLBENCH_LOG_LEVEL sets
 * sluice's log level, SLBENCH_BATCH its limits.batch_size, and SLBENCH_KEEP keeps the run directory
 * (with sluice's log). Skips (77) without ../shared. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "peer_proc.h"
#include "sltest.h"

#define KEY "sluiceTestMispKey0000000000000000000000a"
#define N_BATCH 999 /* + the large event = 1,000 */
#define LARGE_ATTRS "10000"
#define GIVE_UP_S 1800
#define STALL_S 180

#define OCTI_TOKEN "sluiceBenchOctiToken0000000000000000000001"
#define OCTI_USER "5a0c8a2e-6f1b-4b7c-9d3e-0000000b0c71"
#define TAXII_USER "sluice"
#define TAXII_PASSWORD "benchTaxiiPw0"
#define TAXII_COLLECTION "5a0c8a2e-6f1b-4b7c-9d3e-0000000b7a11"

static const char *const hdrs[] = {"Authorization: " KEY, "Accept: application/json", NULL};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *req_json(const char *method, const char *base, const char *path,
                        const char *const *h, const char *body)
{
	char url[1024];
	struct sl_http_result r;
	json_t *v = NULL;

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (sl_http(method, url, h, body, 60000, &r) == 0 && r.status == 200)
		v = json_loads(r.body, 0, NULL);
	sl_http_result_free(&r);
	return v;
}

static json_t *get_json(const char *base, const char *path)
{
	return req_json("GET", base, path, hdrs, NULL);
}

/* ---- destinations ---------------------------------------------------------------------------- */

/* One destination of the benchmark: how to start it, what sluice.conf and the policy say about it,
 * and how to tell what it holds. Adding OpenCTI (tests/peers opencti-peer) or a TAXII partner is
 * one more entry of dests[] with these four functions. */
struct dest {
	const char *name; /* peer name in sluice.conf = destination name in the policy */
	int (*start)(struct dest *d);
	void (*conf)(const struct dest *d, FILE *f);
	void (*policy)(const struct dest *d, FILE *f);
	/* How many source events it holds now; sets *big_ms (wall ms) once the large event is
	 * there. Called every tick (200 ms) while the large event is missing, but with count only
	 * every second (else it returns d->held): counting a thousand reports each tick would load
	 * the machine the gateway runs on. */
	size_t (*poll)(struct dest *d, const char *big_uuid, long long *big_ms, bool count);
	/* what the large event is at this destination when all of it is there (see expect()) */
	long long want, big_held; /* big_held: how much of it was there at the last look */
	struct sl_peerproc *pp;
	long long big_ms, all_ms, changed_ms; /* wall ms; changed = when held last grew */
	size_t held;
};

static int misp_start(struct dest *d)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof bin), NULL};
	d->pp = sl_peerproc_start(argv);
	return d->pp ? 0 : -1;
}

static void misp_conf(const struct dest *d, FILE *f)
{
	fprintf(
	    f,
	    "peer \"%s\" {\n kind = \"misp\"\n url = \"%s\"\n direction = \"push\"\n"
	    " api_key_env = \"SLBENCH_MISP_KEY\"\n allow_plain_http = true\n timeout = 300\n}\n",
	    d->name, sl_peerproc_url(d->pp));
}

static void misp_policy(const struct dest *d, FILE *f)
{
	/* everything the generator makes may go: TLP:GREEN, distributions 0..3 */
	fprintf(f,
	        "destination \"%s\" {\n kind = \"misp\"\n max_tlp = \"amber\"\n own_org = true\n"
	        " distribution = {0, 1, 2, 3}\n}\n",
	        d->name);
}

/* The events applied (the peer's delivery record, with the time it applied each version and the
 * attributes the event then held): the large event is there once a version holding all of its
 * attributes was applied. */
static size_t misp_poll(struct dest *d, const char *big_uuid, long long *big_ms, bool count)
{
	json_t *v = get_json(sl_peerproc_url(d->pp), "/_test/deliveries");
	json_t *big;
	size_t n, k;

	(void)count; /* one cheap request tells both */
	if (!v)
		return 0;
	big = json_object_get(json_object_get(v, "deliveries"), big_uuid);
	for (k = 0; big && !*big_ms && k < json_array_size(json_object_get(big, "applied_ms")); k++)
		if ((d->big_held = json_integer_value(
		         json_array_get(json_object_get(big, "attributes"), k))) >= d->want)
			*big_ms = json_integer_value(
			    json_array_get(json_object_get(big, "applied_ms"), k));
	n = (size_t)json_integer_value(json_object_get(v, "count"));
	json_decref(v);
	return n;
}

/* OpenCTI (tests/peers opencti-peer): sluice pushes STIX bundles to its GraphQL API; the event is
 * there when OpenCTI shows its report (OpenCTI finds an object by any of its ids). */
static int octi_start(struct dest *d)
{
	char bin[1024];
	char *argv[] = {(char *)sl_peerproc_bin("opencti-peer", bin, sizeof bin),
	                "--user",
	                OCTI_TOKEN "=" OCTI_USER,
	                "--apply-delay-ms",
	                "50",
	                NULL};
	d->pp = sl_peerproc_start(argv);
	return d->pp ? 0 : -1;
}

static void stix_policy(const struct dest *d, FILE *f)
{
	fprintf(f,
	        "destination \"%s\" {\n kind = \"%s\"\n max_tlp = \"amber\"\n own_org = true\n"
	        " distribution = {0, 1, 2, 3}\n}\n",
	        d->name, strncmp(d->name, "taxii", 5) == 0 ? "taxii" : "opencti");
}

static void octi_conf(const struct dest *d, FILE *f)
{
	fprintf(
	    f,
	    "peer \"%s\" {\n kind = \"opencti\"\n url = \"%s\"\n direction = \"push\"\n"
	    " api_key_env = \"SLBENCH_OCTI_TOKEN\"\n allow_plain_http = true\n timeout = 300\n}\n",
	    d->name, sl_peerproc_url(d->pp));
}

/* Reports OpenCTI holds (one per MISP event). */
static size_t octi_poll(struct dest *d, const char *big_uuid, long long *big_ms, bool count)
{
	static const char *const h[] = {"Authorization: Bearer " OCTI_TOKEN,
	                                "Content-Type: application/json",
	                                "Accept: application/json", NULL};
	char q[512];
	json_t *v, *data;
	size_t n = 0;

	/* all of the large event: its report, and every object it may have imported (the only
	 * event in the run until then, as it is pulled first) */
	snprintf(q, sizeof(q), "{\"query\":\"{ report(id: \\\"report--%s\\\") { id } %s }\"}",
	         big_uuid, count ? "reports(first: 1) { pageInfo { globalCount } }" : "");
	v = req_json("POST", sl_peerproc_url(d->pp), "/graphql", h, q);
	data = json_object_get(v, "data");
	if (!*big_ms && json_is_object(json_object_get(data, "report"))) {
		json_t *c = get_json(sl_peerproc_url(d->pp), "/_test/count");
		/* imported, or refused by OpenCTI itself (custom x-misp-* types it has no entity
		 * for): what it did with every object of the event */
		d->big_held = json_integer_value(json_object_get(c, "received")) +
		              json_integer_value(json_object_get(c, "import_errors"));
		if (d->big_held >= d->want)
			*big_ms = now_ms();
		json_decref(c);
	}
	n = count
	        ? (size_t)json_integer_value(json_object_get(
	              json_object_get(json_object_get(data, "reports"), "pageInfo"), "globalCount"))
	        : d->held;
	json_decref(v);
	return n;
}

/* A TAXII 2.1 partner (tests/peers taxii-peer) with one writable collection: sluice POSTs
 * envelopes; the event is there when its report can be read back. */
static int taxii_start(struct dest *d)
{
	char bin[1024], data[256];
	char *argv[] = {(char *)sl_peerproc_bin("taxii-peer", bin, sizeof bin),
	                "--user",
	                TAXII_USER,
	                "--password",
	                TAXII_PASSWORD,
	                "--data",
	                data,
	                NULL};
	FILE *f;

	snprintf(data, sizeof(data), "%s/taxii-data.json", getenv("SLBENCH_DIR"));
	if (!(f = fopen(data, "w")))
		return -1;
	fprintf(f,
	        "{\"collections\": [{\"id\": \"%s\", \"title\": \"bench\", \"can_read\": true, "
	        "\"can_write\": true, \"objects\": []}]}\n",
	        TAXII_COLLECTION);
	fclose(f);
	d->pp = sl_peerproc_start(argv);
	return d->pp ? 0 : -1;
}

static void taxii_conf(const struct dest *d, FILE *f)
{
	fprintf(
	    f,
	    "peer \"%s\" {\n kind = \"taxii\"\n url = \"%s/taxii2/\"\n direction = \"push\"\n"
	    " api_key_env = \"SLBENCH_TAXII_CRED\"\n allow_plain_http = true\n timeout = 300\n}\n",
	    d->name, sl_peerproc_url(d->pp));
}

/* Reports in the collection (paged by `next`). */
static size_t taxii_poll(struct dest *d, const char *big_uuid, long long *big_ms, bool count)
{
	static const char *const h[] = {
	    "Authorization: Basic c2x1aWNlOmJlbmNoVGF4aWlQdzA=", /* sluice:benchTaxiiPw0 */
	    "Accept: application/taxii+json;version=2.1", NULL};
	char path[512];
	json_t *v;
	size_t n = 0;
	int pages = 0;

	if (!*big_ms) {
		/* all of the large event: every object it may have (the collection starts empty and
		 * the large event is pulled first) */
		v = get_json(sl_peerproc_url(d->pp), "/_test/count");
		d->big_held = json_integer_value(json_object_get(v, "count"));
		if (d->big_held >= d->want)
			*big_ms = now_ms();
		json_decref(v);
	}
	if (!count)
		return d->held;
	snprintf(path, sizeof(path),
	         "/api1/collections/%s/objects/?match%%5Btype%%5D=report&limit=1000",
	         TAXII_COLLECTION);
	while (pages++ < 100 && (v = req_json("GET", sl_peerproc_url(d->pp), path, h, NULL))) {
		const char *next = json_string_value(json_object_get(v, "next"));
		n += json_array_size(json_object_get(v, "objects"));
		if (!json_is_true(json_object_get(v, "more")) || !next) {
			json_decref(v);
			break;
		}
		snprintf(
		    path, sizeof(path),
		    "/api1/collections/%s/objects/?match%%5Btype%%5D=report&limit=1000&next=%s",
		    TAXII_COLLECTION, next);
		json_decref(v);
	}
	return n;
}

/* SLBENCH_DESTS (default "misp opencti taxii") picks the destinations. */
static struct dest dests[] = {
    {"misp-dst", misp_start, misp_conf, misp_policy, misp_poll, 0, 0, NULL, 0, 0, 0, 0},
    {"opencti", octi_start, octi_conf, stix_policy, octi_poll, 0, 0, NULL, 0, 0, 0, 0},
    {"taxii-partner", taxii_start, taxii_conf, stix_policy, taxii_poll, 0, 0, NULL, 0, 0, 0, 0},
};
#define NDESTS (sizeof(dests) / sizeof(dests[0]))
static struct dest *act[NDESTS]; /* the ones this run uses */
static size_t nact;

/* ---- the run --------------------------------------------------------------------------------- */

static int sh(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "bench_sync: failed (%d): %s\n", rc, cmd);
	return rc;
}

/* The gateway's peak resident set so far, in kB (VmHWM), or -1. */
static long vm_hwm_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* When sluice first asked the source for the large event (its request log), or 0. */
static long long first_sight(struct sl_peerproc *src, const char *big_uuid)
{
	json_t *v = get_json(sl_peerproc_url(src), "/_test/requests"), *e;
	char path[128];
	long long t = 0;
	size_t i;

	snprintf(path, sizeof(path), "/events/view/%s", big_uuid);
	json_array_foreach(json_object_get(v, "requests"), i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "p")), path) == 0) {
			t = json_integer_value(json_object_get(e, "t"));
			break;
		}
	}
	json_decref(v);
	return t;
}

/* The large event's uuid, and the number of events and attributes (with objects') of the seed. */
/* A number printed by a shell command, or -1. */
static long long sh_number(const char *cmd)
{
	char line[64];
	long long v = -1;
	FILE *p = popen(cmd, "r");

	if (!p)
		return -1;
	if (!fgets(line, sizeof(line), p) || sscanf(line, "%lld", &v) != 1)
		v = -1;
	return pclose(p) == 0 ? v : -1;
}

/* What "all of the large event" is at each destination, asked of sluice's own mapper and policy
 * (as the end-to-end test asks them), never written down here: a STIX destination must hold every
 * object of the mapped event that `sluice policy explain` allows it; a MISP destination an event
 * with every attribute that survives the MISP -> STIX -> MISP round trip (its policy allows all).
 */
static int expect(const char *sluice, const char *dir, const char *seeddir, const char *pol)
{
	char cmd[8192];
	size_t i;

	snprintf(cmd, sizeof(cmd),
	         "'%s' map --from misp --to stix21 '%s/0000_large.json' >'%s/large.stix.json' "
	         "2>/dev/null && '%s' map --from stix21 --to misp '%s/large.stix.json' "
	         ">'%s/large.misp.json' 2>/dev/null",
	         sluice, seeddir, dir, sluice, dir, dir);
	if (sh(cmd) != 0)
		return -1;
	for (i = 0; i < nact; i++) {
		struct dest *d = act[i];
		if (d->start == misp_start)
			snprintf(
			    cmd, sizeof(cmd),
			    "'%s' -c 'import json,sys\n"
			    "e=json.load(open(sys.argv[1]))\ne=e.get(\"Event\",e)\n"
			    "print(len(e.get(\"Attribute\",[]))+sum(len(o.get(\"Attribute\",[])) "
			    "for o in e.get(\"Object\",[])))' '%s/large.misp.json'",
			    getenv("SLUICE_PYTHON3") ? getenv("SLUICE_PYTHON3") : "python3", dir);
		else
			snprintf(
			    cmd, sizeof(cmd),
			    "'%s' policy explain '%s/large.stix.json' --policy '%s' --destination "
			    "'%s' --json | grep -c '\"decision\":\"allow'",
			    sluice, dir, pol, d->name);
		if ((d->want = sh_number(cmd)) <= 0) {
			fprintf(stderr, "bench_sync: cannot tell what %s must hold: %s\n", d->name,
			        cmd);
			return -1;
		}
		printf("sync_large_event_objects_for_%s=%lld\n", d->name, d->want);
	}
	return 0;
}

static int read_seed(const char *seeddir, char big_uuid[64], long long *events, long long *attrs)
{
	char path[4096];
	json_t *ev;
	FILE *p;
	char line[256];

	snprintf(path, sizeof(path), "%s/0000_large.json", seeddir);
	ev = json_load_file(path, 0, NULL);
	if (!ev)
		return -1;
	snprintf(big_uuid, 64, "%s",
	         json_string_value(json_object_get(json_object_get(ev, "Event"), "uuid")));
	json_decref(ev);
	/* counting a thousand files in C would be longer than this */
	snprintf(path, sizeof(path),
	         "'%s' -c 'import json,glob,sys\n"
	         "n=a=0\n"
	         "for f in glob.glob(sys.argv[1]+\"/*.json\"):\n"
	         "  e=json.load(open(f))[\"Event\"]; n+=1\n"
	         "  a+=len(e[\"Attribute\"])+sum(len(o[\"Attribute\"]) for o in e[\"Object\"])\n"
	         "print(n,a)' '%s'",
	         getenv("SLUICE_PYTHON3") ? getenv("SLUICE_PYTHON3") : "python3", seeddir);
	if (!(p = popen(path, "r")))
		return -1;
	if (!fgets(line, sizeof(line), p) || sscanf(line, "%lld %lld", events, attrs) != 2) {
		pclose(p);
		return -1;
	}
	return pclose(p) == 0 ? 0 : -1;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run q on c; false (and a message) unless it succeeded. */
static bool pq_ok(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "bench_sync: floor: %s: %s", q, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* COPY the rows of select (binary) into table, timing only the COPY in. -1 on failure. */
static double floor_copy(PGconn *c, const char *select, const char *table, long *rows)
{
	char q[2048], *row, *buf = NULL;
	size_t len = 0, cap = 0, off;
	int got;
	double t0, t;
	PGresult *r;

	*rows = 0;
	snprintf(q, sizeof(q), "COPY (%s) TO STDOUT (FORMAT binary)", select);
	r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COPY_OUT) {
		fprintf(stderr, "bench_sync: floor: %s: %s", q, PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	while ((got = PQgetCopyData(c, &row, 0)) > 0) {
		if (len + (size_t)got > cap) {
			cap = (len + (size_t)got) * 2;
			if (!(buf = realloc(buf, cap)))
				abort();
		}
		memcpy(buf + len, row, (size_t)got);
		len += (size_t)got;
		PQfreemem(row);
		(*rows)++;
	}
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	*rows -= *rows > 0; /* the first chunk is the header with the first row: near enough */
	snprintf(q, sizeof(q), "COPY %s FROM STDIN (FORMAT binary)", table);
	t0 = mono_s();
	r = PQexec(c, q);
	PQclear(r);
	for (off = 0; off < len; off += 1u << 20)
		if (PQputCopyData(c, buf + off,
		                  (int)(len - off < (1u << 20) ? len - off : (1u << 20))) != 1)
			break;
	PQputCopyEnd(c, NULL);
	t = mono_s() - t0;
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench_sync: floor: %s: %s", q, PQerrorMessage(c));
			t = -1;
		}
		PQclear(r);
	}
	if (t >= 0)
		t = mono_s() - t0;
	free(buf);
	return t;
}

/* The ledger's floor for the large event: the rows issue 3's data model keeps for it (its versions
 * and observables; an outbox row and an audit row per destination and version), read back after
 * the run and loaded bare (binary COPY) into empty tables made LIKE the ledger's own (the outbox
 * rows as pending, as they are written), then every outbox row leased and settled with one UPDATE
 * each for all of them (the gateway does both per batch). No sluice logic at all: what storing
 * and moving these rows costs at the least, to set beside the 2 s goal. */
static void ledger_floor(const char *dsn, const char *big_uuid)
{
	static const char *const parts[][2] = {
	    {"objects", "SELECT o.* FROM objects o WHERE o.origin_id = "},
	    {"observables", "SELECT b.* FROM observables b JOIN objects o ON o.id = b.stix_id "
	                    "WHERE o.origin_id = "},
	    {"outbox", "SELECT x.outbox_id, x.destination, x.id, x.modified, x.action, "
	               "'pending'::text, 0, x.created_at, NULL::text, x.payload, x.created_at, "
	               "x.created_at FROM outbox x JOIN objects o USING (id, modified) "
	               "WHERE o.origin_id = "},
	    {"audit", "SELECT a.* FROM audit a JOIN objects o USING (id, modified) "
	              "WHERE o.origin_id = "},
	};
	PGconn *c = PQconnectdb(dsn);
	double sum = 0, t;
	size_t k;
	char q[1024], sel[1024];
	long rows;

	if (PQstatus(c) != CONNECTION_OK ||
	    strspn(big_uuid, "0123456789abcdef-") != strlen(big_uuid)) {
		fprintf(stderr, "bench_sync: floor: %s", PQerrorMessage(c));
		PQfinish(c);
		return;
	}
	for (k = 0; k < sizeof(parts) / sizeof(*parts); k++) {
		/* logged, like the ledger's (a temp table would skip the WAL) */
		snprintf(q, sizeof(q), "CREATE TABLE floor_%s (LIKE %s INCLUDING ALL)", parts[k][0],
		         parts[k][0]);
		if (!pq_ok(c, q))
			goto out;
		snprintf(sel, sizeof(sel), "%s'%s'", parts[k][1], big_uuid);
		snprintf(q, sizeof(q), "floor_%s", parts[k][0]);
		if ((t = floor_copy(c, sel, q, &rows)) < 0)
			goto out;
		printf("sync_large_event_floor_%s_rows=%ld\nsync_large_event_floor_%s_s=%.3f\n",
		       parts[k][0], rows, parts[k][0], t);
		sum += t;
	}
	{
		static const char *const moves[][2] = {
		    {"lease", "UPDATE floor_outbox SET attempts = attempts + 1, next_attempt = "
		              "clock_timestamp() + interval '60 s', updated_at = now()"},
		    {"settle", "UPDATE floor_outbox SET state = 'sent', updated_at = now(), "
		               "next_attempt = clock_timestamp()"},
		};
		for (k = 0; k < 2; k++) {
			double t0 = mono_s();
			if (!pq_ok(c, moves[k][1]))
				goto out;
			t = mono_s() - t0;
			printf("sync_large_event_floor_outbox_%s_s=%.3f\n", moves[k][0], t);
			sum += t;
		}
	}
	printf("sync_large_event_floor_s=%.3f\n", sum);
out:
	for (k = 0; k < sizeof(parts) / sizeof(*parts); k++) {
		snprintf(q, sizeof(q), "DROP TABLE IF EXISTS floor_%s", parts[k][0]);
		PQclear(PQexec(c, q));
	}
	PQfinish(c);
}

int main(void)
{
	const char *interop = sltest_interop_dir(), *sluice = getenv("SLUICE_BIN");
	const char *py = getenv("SLUICE_PYTHON3") ? getenv("SLUICE_PYTHON3") : "python3";
	char dir[] = "/tmp/sl_bench_sync_XXXXXX", cmd[8192], bin[1024], seeddir[4096];
	char conf[4200], pol[4200], logp[4200], big_uuid[64];
	char *dsn, *floor_dsn = NULL;
	struct sl_peerproc *src = NULL;
	long long events, attrs, t0, seen = 0, t_end = 0, worst_big = 0;
	long hwm = -1;
	pid_t pid;
	int status = 0, rc = 1, fd;
	size_t i, done = 0;
	FILE *f;
	struct rusage ru;
	const char *which, *large = LARGE_ATTRS;
	int nbatch = N_BATCH;
	unsigned tick = 0;
	long long last;

	if (!interop) {
		fprintf(stderr, "bench_sync: no ../shared/interop, skipped\n");
		return SLTEST_SKIP;
	}
	if (!sluice || !sltest_pg_dsn()) {
		fprintf(stderr, "bench_sync: run through ctest (needs SLUICE_BIN and the test "
		                "PostgreSQL)\n");
		return SLTEST_SKIP;
	}
	if (!mkdtemp(dir))
		return 1;
	setenv("SLBENCH_DIR", dir, 1);
	setenv("SLBENCH_MISP_KEY", KEY, 1);
	setenv("SLBENCH_OCTI_TOKEN", OCTI_TOKEN, 1);
	setenv("SLBENCH_TAXII_CRED", TAXII_USER ":" TAXII_PASSWORD, 1);
	which = getenv("SLBENCH_DESTS") ? getenv("SLBENCH_DESTS") : "misp opencti taxii";
	for (i = 0; i < NDESTS; i++)
		if (strstr(which, i == 0 ? "misp" : i == 1 ? "opencti" : "taxii"))
			act[nact++] = &dests[i];
	if (getenv("SLBENCH_EVENTS"))
		nbatch = atoi(getenv("SLBENCH_EVENTS")) - 1;
	if (getenv("SLBENCH_LARGE"))
		large = getenv("SLBENCH_LARGE");
	snprintf(seeddir, sizeof(seeddir), "%s/seed", dir);
	snprintf(cmd, sizeof(cmd),
	         "'%s' '%s/gen_synthetic_events.py' large '%s/0000_large.json' %s >/dev/null && "
	         "'%s' '%s/gen_synthetic_events.py' batch '%s' %d 20 >/dev/null",
	         py, interop, seeddir, large, py, interop, seeddir, nbatch);
	if (mkdir(seeddir, 0700) != 0 || sh(cmd) != 0 ||
	    read_seed(seeddir, big_uuid, &events, &attrs) != 0)
		goto out;
	{
		char *argv[] = {(char *)sl_peerproc_bin("misp-peer", bin, sizeof bin), "--seed",
		                seeddir, NULL};
		if (!(src = sl_peerproc_start(argv)))
			goto out;
	}
	for (i = 0; i < nact; i++)
		if (act[i]->start(act[i]) != 0)
			goto out;
	floor_dsn = dsn = sltest_fresh_db("sl_bench_sync");
	snprintf(pol, sizeof(pol), "%s/bench.policy", dir);
	snprintf(conf, sizeof(conf), "%s/sluice.conf", dir);
	if (!(f = fopen(pol, "w")))
		goto out;
	for (i = 0; i < nact; i++)
		act[i]->policy(act[i], f);
	fclose(f);
	if (expect(sluice, dir, seeddir, pol) != 0)
		goto out;
	if (!(f = fopen(conf, "w")))
		goto out;
	fprintf(
	    f,
	    "ledger_dsn = \"%s\"\npolicy_file = \"%s\"\nlog_level = \"%s\"\n"
	    "peer \"misp-src\" {\n kind = \"misp\"\n url = \"%s\"\n direction = \"pull\"\n"
	    " api_key_env = \"SLBENCH_MISP_KEY\"\n allow_plain_http = true\n timeout = 300\n}\n",
	    dsn, pol, getenv("SLBENCH_LOG_LEVEL") ? getenv("SLBENCH_LOG_LEVEL") : "warn",
	    sl_peerproc_url(src));
	if (getenv("SLBENCH_BATCH")) /* else sluice's default */
		fprintf(f, "limits {\n batch_size = %d\n}\n", atoi(getenv("SLBENCH_BATCH")));
	for (i = 0; i < nact; i++)
		act[i]->conf(act[i], f);
	fclose(f);
	snprintf(logp, sizeof(logp), "%s/run.log", dir);

	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		execl(sluice, sluice, "run", "-c", conf, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		goto out;
	while (done < nact && now_ms() - t0 < GIVE_UP_S * 1000LL) {
		long k;
		usleep(200000);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "bench_sync: sluice run exited early (status %d); see %s\n",
			        status, logp);
			pid = -1;
			break;
		}
		if ((k = vm_hwm_kb(pid)) > hwm)
			hwm = k;
		tick++;
		for (i = 0; i < nact; i++) {
			struct dest *d = act[i];
			size_t n;
			if ((d->all_ms && d->big_ms) || (d->big_ms && tick % 5))
				continue;
			n = d->poll(d, big_uuid, &d->big_ms, tick % 5 == 0);
			if (n != d->held) {
				d->held = n;
				d->changed_ms = now_ms();
			}
			if (n >= (size_t)events && !d->all_ms)
				d->all_ms = d->changed_ms;
			if (d->all_ms && d->big_ms)
				done++; /* every event there, and all of the large one */
		}
		/* give up when, after a first arrival, nothing arrived anywhere for STALL_S (the
		 * first may take minutes: the large event comes first) */
		for (i = 0, last = t0; i < nact; i++)
			if (act[i]->changed_ms > last)
				last = act[i]->changed_ms;
		if (last > t0 && now_ms() - last > STALL_S * 1000LL) {
			fprintf(stderr, "bench_sync: nothing arrived for %d s, giving up\n",
			        STALL_S);
			break;
		}
	}
	seen = first_sight(src, big_uuid);
	if (pid > 0) {
		long k = vm_hwm_kb(pid);
		if (k > hwm)
			hwm = k;
		kill(pid, SIGTERM);
		if (wait4(pid, &status, 0, &ru) == pid && ru.ru_maxrss > hwm)
			hwm = ru.ru_maxrss;
	}

	printf("sync_events=%lld\nsync_attributes=%lld\n", events, attrs);
	for (i = 0; i < nact; i++) {
		struct dest *d = act[i];
		if (d->all_ms > t_end)
			t_end = d->all_ms;
		if (d->big_ms > t_end)
			t_end = d->big_ms;
		if (d->big_ms && seen)
			printf("sync_large_event_to_%s_s=%.2f\n", d->name,
			       (d->big_ms - seen) / 1000.0);
		else
			printf("sync_large_event_to_%s_s=never\nsync_large_event_held_at_%s=%lld\n",
			       d->name, d->name, d->big_held);
		if (d->big_ms - seen > worst_big)
			worst_big = d->big_ms - seen;
		if (d->all_ms)
			printf("sync_all_at_%s_s=%.1f\n", d->name, (d->all_ms - t0) / 1000.0);
		else
			printf("sync_all_at_%s_s=unfinished\nsync_held_at_%s=%zu\n"
			       "sync_last_arrival_at_%s_s=%.1f\n",
			       d->name, d->name, d->held, d->name,
			       d->changed_ms ? (d->changed_ms - t0) / 1000.0 : -1.0);
	}
	if (done == nact) {
		double s = (t_end - t0) / 1000.0;
		printf("sync_end_to_end_s=%.1f\nsync_objects_per_s=%.0f\n", s,
		       (double)(events + attrs) * nact / s);
		rc = 0;
	} else {
		printf("sync_end_to_end_s=unfinished\n");
		fprintf(stderr, "bench_sync: not every destination got every event in %d s\n",
		        GIVE_UP_S);
	}
	if (done == nact && floor_dsn)
		ledger_floor(floor_dsn, big_uuid);
	printf("sync_gateway_peak_rss_mb=%.1f\n", hwm / 1024.0);
	printf("sync_large_event_goal_2s=%s\nsync_peak_rss_goal_200mb=%s\n",
	       worst_big && worst_big < 2000 ? "met" : "missed",
	       hwm < 200 * 1024 ? "met" : "missed");
out:
	free(floor_dsn);
	for (i = 0; i < nact; i++)
		if (act[i]->pp)
			sl_peerproc_stop(act[i]->pp);
	if (src)
		sl_peerproc_stop(src);
	if (!getenv("SLBENCH_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		sh(cmd);
	} else {
		fprintf(stderr, "bench_sync: kept %s\n", dir);
	}
	return rc;
}
