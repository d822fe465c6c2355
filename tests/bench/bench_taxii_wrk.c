/* bench_taxii_wrk.c — see bench_taxii_wrk.h. */
#include "bench_taxii_wrk.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double to_ms(double v, const char *unit)
{
	if (strcmp(unit, "us") == 0)
		return v / 1000.0;
	if (strcmp(unit, "s") == 0)
		return v * 1000.0;
	if (strcmp(unit, "m") == 0)
		return v * 60000.0;
	return v; /* ms */
}

int bench_run_wrk(const char *url, const char *auth, int seconds, struct wrk_result *res)
{
	char cmd[2048], line[512];
	FILE *p;

	memset(res, 0, sizeof(*res));
	snprintf(cmd, sizeof(cmd),
	         "wrk -t2 -c4 -d%ds --latency -H 'Accept: application/taxii+json;version=2.1' "
	         "%s%s%s '%s' 2>&1",
	         seconds, auth ? "-H 'Authorization: Basic " : "", auth ? auth : "",
	         auth ? "'" : "", url);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		double v;
		char unit[8];
		int pct;

		fputs(line, stderr);
		if (sscanf(line, " Requests/sec: %lf", &v) == 1)
			res->rps = v;
		else if (sscanf(line, " %d%% %lf%7[a-z]", &pct, &v, unit) == 3) {
			if (pct == 50)
				res->p50_ms = to_ms(v, unit);
			else if (pct == 75)
				res->p75_ms = to_ms(v, unit);
			else if (pct == 90)
				res->p90_ms = to_ms(v, unit);
			else if (pct == 99)
				res->p99_ms = to_ms(v, unit);
		} else if (sscanf(line, " Non-2xx or 3xx responses: %ld", &res->non2xx) == 1) {
		}
	}
	return pclose(p) == 0 ? 0 : -1;
}

/* The run with the median req/s (its latencies come along). */
struct wrk_result bench_median(const struct wrk_result *runs, int n)
{
	int idx[MAX_ROUNDS];

	for (int i = 0; i < n; i++)
		idx[i] = i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && runs[idx[j]].rps < runs[idx[j - 1]].rps; j--) {
			int t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	return runs[idx[n / 2]];
}

void bench_print(const char *name, const struct wrk_result *r)
{
	printf("%s_req_per_s=%.0f\n%s_p50_ms=%.3f\n%s_p75_ms=%.3f\n%s_p90_ms=%.3f\n%s_p99_ms=%.3f\n"
	       "%s_non2xx=%ld\n",
	       name, r->rps, name, r->p50_ms, name, r->p75_ms, name, r->p90_ms, name, r->p99_ms,
	       name, r->non2xx);
}

uint16_t bench_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int bench_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

pid_t bench_start_nginx(const char *dir, uint16_t port)
{
	char conf[512], text[2048], url[128];
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	/* One worker, like sluice's single event loop; sendfile and keep-alive as nginx ships them.
	 */
	snprintf(text, sizeof(text),
	         "user root;\nworker_processes 1;\ndaemon off;\nmaster_process on;\n"
	         "pid %s/nginx.pid;\nerror_log %s/error.log;\n"
	         "events { worker_connections 256; }\n"
	         "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n"
	         "  keepalive_requests 1000000;\n"
	         "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
	         "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
	         "  types { application/taxii+json json; }\n"
	         "  server {\n    listen 127.0.0.1:%u;\n    root %s/www;\n  }\n}\n",
	         dir, dir, dir, dir, dir, dir, dir, (unsigned)port, dir);
	if (bench_write_file(conf, text, strlen(text)) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		execlp("nginx", "nginx", "-p", dir, "-c", conf, (char *)NULL);
		_exit(127);
	}
	/* Wait until it answers. */
	snprintf(url, sizeof(url), "curl -sf -o /dev/null http://127.0.0.1:%u/page.json",
	         (unsigned)port);
	for (int i = 0; i < 100; i++) {
		struct timespec ts = {0, 50000000};

		if (system(url) == 0)
			return pid;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}
