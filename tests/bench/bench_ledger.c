/* bench_ledger.c — the ledger's bulk ingest rate: N STIX objects (half indicators, half SCOs; 80%
 * unique from peer "a", then 20% of them again from peer "b") through sl_ledger_ingest, next to a
 * raw COPY of the same rows into a bare table (id text, modified timestamptz, content jsonb) in the
 * same run, and the schema's floor (the stored rows COPYed bare into tables like the ledger's);
 * then the time of "related events" for an event with 10,000 observables. Only the ingest and COPY
 * calls are timed, not building the objects. Prints name=value lines. Env:
 * BENCH_LEDGER_OBJECTS (default 1000000), BENCH_LEDGER_BATCH (default 10000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "ledger.h"
#include "sltest.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of process pid, from /proc: the server's work for one backend, which
 * moves far less than wall-clock time on a machine shared with other jobs. -1 when unreadable (a
 * server on another host). */
static double proc_cpu_s(int pid)
{
	char path[64];
	unsigned long ut, st;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pid <= 0 || !(f = fopen(path, "r")))
		return -1;
	ok = fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	            &st) == 2;
	fclose(f);
	return ok ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) : -1;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The backend serving the ledger handle: the only sluice-ledger session in database db. */
static int ledger_backend(const char *dsn, const char *db)
{
	PGconn *c = PQconnectdb(dsn);
	const char *p[1] = {db};
	PGresult *r = PQexecParams(c,
	                           "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND "
	                           "application_name = 'sluice-ledger' AND pid <> pg_backend_pid()",
	                           1, NULL, p, NULL, NULL, 0);
	int pid = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
	              ? atoi(PQgetvalue(r, 0, 0))
	              : -1;

	PQclear(r);
	PQfinish(c);
	return pid;
}

static size_t env_size(const char *name, size_t dflt)
{
	const char *v = getenv(name);

	return v && atol(v) > 0 ? (size_t)atol(v) : dflt;
}

static void uuid_of(size_t i, unsigned salt, char *out)
{
	snprintf(out, 40, "%08x-%04x-4%03x-8000-%012zx", (unsigned)(i * 2654435761u), salt & 0xffff,
	         (unsigned)(i & 0xfff), i);
}

/* Object i: even = indicator on an IPv4 address, odd = an SCO (ipv4, domain, url, file). */
static json_t *make_object(size_t i)
{
	char id[96], u[40], v[160];
	unsigned a = (unsigned)(i / 2);

	uuid_of(i, 1, u);
	if (i % 2 == 0) {
		snprintf(id, sizeof(id), "indicator--%s", u);
		snprintf(v, sizeof(v), "[ipv4-addr:value = '10.%u.%u.%u']", (a >> 16) & 255,
		         (a >> 8) & 255, a & 255);
		return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "type",
		                 "indicator", "spec_version", "2.1", "id", id, "created",
		                 "2024-01-01T00:00:00.000Z", "modified", "2024-01-02T00:00:00.000Z",
		                 "name", "bench indicator", "pattern_type", "stix", "pattern", v,
		                 "valid_from", "2024-01-01T00:00:00Z", "indicator_types",
		                 "malicious-activity");
	}
	switch (a % 4) {
	case 0:
		snprintf(id, sizeof(id), "ipv4-addr--%s", u);
		snprintf(v, sizeof(v), "10.%u.%u.%u", (a >> 16) & 255, (a >> 8) & 255, a & 255);
		return json_pack("{s:s, s:s, s:s, s:s}", "type", "ipv4-addr", "spec_version", "2.1",
		                 "id", id, "value", v);
	case 1:
		snprintf(id, sizeof(id), "domain-name--%s", u);
		snprintf(v, sizeof(v), "host%u.Example.com", a);
		return json_pack("{s:s, s:s, s:s, s:s}", "type", "domain-name", "spec_version",
		                 "2.1", "id", id, "value", v);
	case 2:
		snprintf(id, sizeof(id), "url--%s", u);
		snprintf(v, sizeof(v), "http://host%u.example.com/path/%u?q=1", a, a);
		return json_pack("{s:s, s:s, s:s, s:s}", "type", "url", "spec_version", "2.1", "id",
		                 id, "value", v);
	default:
		snprintf(id, sizeof(id), "file--%s", u);
		snprintf(v, sizeof(v), "%016zx%016zx%016zx%016zx", i, i * 3, i * 7, i * 11);
		return json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "file", "spec_version", "2.1",
		                 "id", id, "hashes", "SHA-256", v);
	}
}

static void die(const char *what, const struct sl_err *err)
{
	fprintf(stderr, "bench_ledger: %s: %s: %s\n", what, err ? err->where : "",
	        err ? err->msg : "");
	exit(1);
}

static void exec_or_die(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_ledger: %s: %s", q, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

/* Send buf (len bytes) to stmt, a COPY ... FROM STDIN, in 1 MiB pieces and wait for the end;
 * exits on failure. Returns the seconds it took and adds the backend's CPU to *cpu (left as it is
 * when unreadable). */
static double copy_in(PGconn *c, const char *stmt, const char *buf, size_t len, double *cpu)
{
	double c0 = proc_cpu_s(PQbackendPID(c)), t0 = now_s(), t;
	PGresult *r = PQexec(c, stmt);
	size_t off;

	PQclear(r);
	for (off = 0; off < len; off += 1u << 20) {
		size_t k = len - off < (1u << 20) ? len - off : (1u << 20);

		if (PQputCopyData(c, buf + off, (int)k) != 1) {
			fprintf(stderr, "bench_ledger: %s: %s", stmt, PQerrorMessage(c));
			exit(1);
		}
	}
	PQputCopyEnd(c, NULL);
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "bench_ledger: %s: %s", stmt, PQerrorMessage(c));
			exit(1);
		}
		PQclear(r);
	}
	t = now_s() - t0;
	if (c0 >= 0 && proc_cpu_s(PQbackendPID(c)) >= 0)
		*cpu += proc_cpu_s(PQbackendPID(c)) - c0;
	return t;
}

/* A raw COPY of the same rows into a bare table, in one COPY: the ceiling for ingest. The rows are
 * all generated before the clock starts, so the server's work is timed, not overlapped with ours.
 */
static double raw_copy(const char *dsn, size_t unique, size_t total, double *cpu)
{
	PGconn *c = PQconnectdb(dsn);
	double t;
	size_t i, len = 0, cap = total * 400 + 4096;
	char *buf = malloc(cap);

	if (PQstatus(c) != CONNECTION_OK || !buf) {
		fprintf(stderr, "bench_ledger: %s", PQerrorMessage(c));
		exit(1);
	}
	exec_or_die(c, "CREATE TABLE raw_copy (id text, modified timestamptz, content jsonb)");
	for (i = 0; i < total; i++) {
		json_t *o = make_object(i < unique ? i : i - unique);
		char *s = json_dumps(o, JSON_COMPACT);
		const char *m = json_string_value(json_object_get(o, "modified"));
		size_t need = strlen(s) + 160;

		if (len + need > cap) {
			cap = (len + need) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				exit(1);
		}
		len += (size_t)sprintf(buf + len, "%s\t%s\t%s\n",
		                       json_string_value(json_object_get(o, "id")),
		                       m ? m : "1970-01-01T00:00:00Z", s);
		free(s);
		json_decref(o);
	}
	*cpu = 0;
	if (proc_cpu_s(PQbackendPID(c)) < 0)
		*cpu = -1;
	t = copy_in(c, "COPY raw_copy FROM STDIN", buf, len, cpu);
	free(buf);
	PQfinish(c);
	return t;
}

/* The floor: exactly the rows the ingest stored (objects, provenance_extra, observables), read
 * back and COPYed (binary, the cheapest load PostgreSQL has) into empty tables made LIKE the
 * ledger's own, with the same indexes and nothing of sluice: no staging, no outcome query, no
 * checks, no serialising. What storing this data in the schema the ledger promises costs at the
 * least, whatever the client does. Only the COPY INs are timed. */
static double schema_floor(const char *dsn, double *cpu)
{
	static const char *const tables[] = {"objects", "provenance_extra", "observables"};
	PGconn *c = PQconnectdb(dsn);
	double t = 0, cpu_sum = 0;
	size_t k;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench_ledger: %s", PQerrorMessage(c));
		exit(1);
	}
	for (k = 0; k < sizeof(tables) / sizeof(*tables); k++) {
		char q[256];
		char *buf = NULL, *row;
		size_t len = 0, cap = 0;
		int got;
		double t0;
		PGresult *r;

		snprintf(q, sizeof(q), "CREATE TABLE floor_%s (LIKE %s INCLUDING ALL)", tables[k],
		         tables[k]);
		exec_or_die(c, q);
		snprintf(q, sizeof(q), "COPY %s TO STDOUT (FORMAT binary)", tables[k]);
		r = PQexec(c, q);
		if (PQresultStatus(r) != PGRES_COPY_OUT) {
			fprintf(stderr, "bench_ledger: %s: %s", q, PQerrorMessage(c));
			exit(1);
		}
		PQclear(r);
		while ((got = PQgetCopyData(c, &row, 0)) > 0) {
			if (len + (size_t)got > cap) {
				cap = (len + (size_t)got) * 2;
				if (!(buf = realloc(buf, cap)))
					exit(1);
			}
			memcpy(buf + len, row, (size_t)got);
			len += (size_t)got;
			PQfreemem(row);
		}
		while ((r = PQgetResult(c)) != NULL)
			PQclear(r);
		snprintf(q, sizeof(q), "COPY floor_%s FROM STDIN (FORMAT binary)", tables[k]);
		t0 = copy_in(c, q, buf, len, &cpu_sum);
		t += t0;
		printf("schema_floor_%s_seconds=%.3f\n", tables[k], t0);
		free(buf);
		snprintf(q, sizeof(q), "DROP TABLE floor_%s", tables[k]);
		exec_or_die(c, q);
	}
	*cpu = cpu_sum;
	PQfinish(c);
	return t;
}

int main(void)
{
	size_t n = env_size("BENCH_LEDGER_OBJECTS", 1000000);
	size_t batch = env_size("BENCH_LEDGER_BATCH", 10000);
	size_t unique = n - n / 5, start, i, counts[SL_LEDGER_REJECTED + 1] = {0};
	char *dsn = sltest_fresh_db("sl_bench_ledger");
	char *rawdsn = sltest_fresh_db("sl_bench_ledger_raw");
	struct sl_err err = {0};
	struct sl_ledger *l = sl_ledger_open(dsn, &err);
	struct sl_ledger_in *in = calloc(batch, sizeof(*in));
	struct sl_ledger_result *res = calloc(batch, sizeof(*res));
	double t_ingest = 0, t0, t_raw, t_rel, cpu_client = 0, cpu_raw, cpu_b0, cpu_b1, c0, t_floor,
	       cpu_floor;
	int backend;
	json_t *refs, *ev, *rel;
	int phase;

	if (!l || sl_ledger_migrate(l, NULL, NULL, &err) != 0)
		die("open", &err);
	backend = ledger_backend(sltest_pg_dsn(), "sl_bench_ledger");
	cpu_b0 = proc_cpu_s(backend);
	/* 80% unique from peer a, then the first 20% again from peer b: n objects in all */
	for (phase = 0; phase < 2; phase++) {
		size_t end = phase == 0 ? unique : n - unique;
		const char *peer = phase == 0 ? "a" : "b";

		for (start = 0; start < end; start += batch) {
			size_t k = end - start < batch ? end - start : batch;

			for (i = 0; i < k; i++) {
				in[i].obj = make_object(start + i);
				in[i].origin_id = phase == 0 ? "event-a" : "event-b";
			}
			t0 = now_s();
			c0 = thread_cpu_s();
			if (sl_ledger_ingest(l, peer, in, k, NULL, res, &err) != 0)
				die("ingest", &err);
			t_ingest += now_s() - t0;
			cpu_client += thread_cpu_s() - c0;
			for (i = 0; i < k; i++) {
				counts[res[i].outcome]++;
				json_decref((json_t *)in[i].obj);
			}
		}
	}
	cpu_b1 = proc_cpu_s(backend);
	t_raw = raw_copy(rawdsn, unique, n, &cpu_raw);
	t_floor = schema_floor(dsn, &cpu_floor);
	printf("ledger_objects=%zu\n", n);
	printf("ledger_new=%zu\nledger_same=%zu\nledger_rejected=%zu\n", counts[SL_LEDGER_NEW],
	       counts[SL_LEDGER_SAME], counts[SL_LEDGER_REJECTED]);
	printf("ledger_ingest_seconds=%.3f\n", t_ingest);
	printf("ledger_ingest_objects_per_s=%.0f\n", (double)n / t_ingest);
	printf("raw_copy_seconds=%.3f\n", t_raw);
	printf("raw_copy_rows_per_s=%.0f\n", (double)n / t_raw);
	printf("ledger_vs_raw_copy_ratio=%.3f\n", t_raw / t_ingest);
	/* CPU, which moves less than wall-clock time when other jobs share the machine: the ledger
	 * backend's and sluice's own during ingest, the raw COPY backend's */
	printf("ledger_client_cpu_seconds=%.2f\n", cpu_client);
	if (cpu_b0 >= 0 && cpu_b1 >= 0 && cpu_raw >= 0) {
		printf("ledger_backend_cpu_seconds=%.2f\n", cpu_b1 - cpu_b0);
		printf("raw_copy_backend_cpu_seconds=%.2f\n", cpu_raw);
		printf("ledger_vs_raw_copy_cpu_ratio=%.3f\n",
		       cpu_raw / (cpu_b1 - cpu_b0 + cpu_client));
	}
	/* the schema's own floor: the stored rows loaded bare into tables like the ledger's (a
	 * ratio no ingest into this schema can beat) */
	printf("schema_floor_seconds=%.3f\n", t_floor);
	printf("schema_floor_vs_raw_copy_ratio=%.3f\n", t_raw / t_floor);
	if (cpu_raw >= 0 && cpu_floor > 0) {
		printf("schema_floor_backend_cpu_seconds=%.2f\n", cpu_floor);
		printf("schema_floor_vs_raw_copy_cpu_ratio=%.3f\n", cpu_raw / cpu_floor);
	}

	/* an event citing 10,000 observables (SCOs and indicators), and ten events sharing some */
	refs = json_array();
	for (i = 0; i < 10000; i++) {
		char u[40], id[96];

		uuid_of(i, 1, u);
		snprintf(id, sizeof(id), "%s--%s",
		         i % 2 == 0 ? "indicator"
		                    : ((i / 2) % 4 == 0   ? "ipv4-addr"
		                       : (i / 2) % 4 == 1 ? "domain-name"
		                       : (i / 2) % 4 == 2 ? "url"
		                                          : "file"),
		         u);
		json_array_append_new(refs, json_string(id));
	}
	ev = json_array();
	for (i = 0; i < 11; i++) {
		char u[40], id[96];
		json_t *r = json_array();
		size_t k;

		uuid_of(i, 7, u);
		snprintf(id, sizeof(id), "report--%s", u);
		for (k = 0; k < json_array_size(refs); k++)
			if (i == 0 || k % (i * 97) == 0)
				json_array_append(r, json_array_get(refs, k));
		json_array_append_new(ev, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
		                                    "type", "report", "spec_version", "2.1", "id",
		                                    id, "created", "2024-01-01T00:00:00Z",
		                                    "modified", "2024-01-01T00:00:00Z", "name",
		                                    "event", "published", "2024-01-01T00:00:00Z",
		                                    "object_refs", r));
	}
	for (i = 0; i < 11; i++) {
		in[i].obj = json_array_get(ev, i);
		in[i].origin_id = NULL;
	}
	if (sl_ledger_ingest(l, "a", in, 11, NULL, res, &err) != 0)
		die("ingest events", &err);
	{
		char u[40], id[96];

		uuid_of(0, 7, u);
		snprintf(id, sizeof(id), "report--%s", u);
		t0 = now_s();
		rel = sl_ledger_related(l, id, 100, &err);
		t_rel = now_s() - t0;
		if (!rel)
			die("related", &err);
	}
	printf("related_events_found=%zu\n", json_array_size(rel));
	printf("related_events_10000_observables_ms=%.1f\n", t_rel * 1000);
	json_decref(rel);
	json_decref(ev);
	json_decref(refs);
	sl_ledger_close(l);
	free(in);
	free(res);
	free(dsn);
	free(rawdsn);
	return 0;
}
