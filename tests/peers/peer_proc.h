/* peer_proc.h — for tests: start a test peer (misp-peer, opencti-peer, faultproxy) as a child
 * process, read its "LISTEN http://127.0.0.1:<port>" line, and stop it; plus small libcurl request
 * helpers. */
#ifndef SL_PEER_PROC_H
#define SL_PEER_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct sl_peerproc;

/* Run argv[0] (a path) with argv; waits up to 10 s for the LISTEN line. NULL on failure (message on
 * stderr: this is test code). The child's stderr is inherited. */
struct sl_peerproc *sl_peerproc_start(char *const argv[]);
/* Base URL, e.g. "http://127.0.0.1:40123" (borrowed), and the port. */
const char *sl_peerproc_url(const struct sl_peerproc *pp);
int sl_peerproc_port(const struct sl_peerproc *pp);
/* The whole LISTEN line (faultproxy adds " CONTROL http://127.0.0.1:<port>"), borrowed. */
const char *sl_peerproc_line(const struct sl_peerproc *pp);
pid_t sl_peerproc_pid(const struct sl_peerproc *pp);
/* SIGTERM, wait, and return the exit status (-1 if it did not exit cleanly). Frees pp. */
int sl_peerproc_stop(struct sl_peerproc *pp);

/* The path of a built peer binary: SLUICE_BUILD_DIR/tests/<name>, or the compile-time directory. */
const char *sl_peerproc_bin(const char *name, char *buf, size_t bufsz);

struct sl_http_result {
	long status;   /* HTTP status, 0 when the transfer failed */
	int curl_code; /* CURLcode of the transfer */
	char *body;    /* malloc'd, NUL-terminated (may be partial on error) */
	size_t len;
	char *headers;  /* malloc'd raw response headers */
	double seconds; /* total transfer time */
};

/* One request: method, url, extra headers (NULL-terminated list, may be NULL), body (may be NULL),
 * timeout in ms (0 = 10 s). Fills res; free with sl_http_result_free. */
int sl_http(const char *method, const char *url, const char *const *headers, const char *body,
            long timeout_ms, struct sl_http_result *res);
void sl_http_result_free(struct sl_http_result *res);

#endif
