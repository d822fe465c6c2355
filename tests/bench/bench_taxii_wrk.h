/* bench_taxii_wrk.h — the TAXII benchmarks' wrk driver: run wrk against a URL (optionally with
 * Basic auth and the TAXII Accept header), parse req/s and latency percentiles, print name=value
 * lines. */
#ifndef SL_BENCH_TAXII_WRK_H
#define SL_BENCH_TAXII_WRK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_ROUNDS 9

struct wrk_result {
	double rps;
	double p50_ms, p75_ms, p90_ms, p99_ms;
	long non2xx;
};

/* wrk -t2 -c4 for seconds; auth is the base64 of user:password or NULL. 0 or -1. */
int bench_run_wrk(const char *url, const char *auth, int seconds, struct wrk_result *res);
/* The run with the median req/s of runs[0..n) (n <= MAX_ROUNDS). */
struct wrk_result bench_median(const struct wrk_result *runs, int n);
/* A free loopback TCP port (0 on failure). */
uint16_t bench_free_port(void);
/* Write len bytes of data to path; 0 or -1. */
int bench_write_file(const char *path, const char *data, size_t len);
/* nginx (one worker, sendfile) serving dir/www on 127.0.0.1:port, once it answers
 * /page.json; its pid, or -1. Stop it with kill(pid, SIGQUIT) and waitpid. */
pid_t bench_start_nginx(const char *dir, uint16_t port);
/* Print name_req_per_s=..., name_p50_ms=... lines. */
void bench_print(const char *name, const struct wrk_result *r);

#endif
