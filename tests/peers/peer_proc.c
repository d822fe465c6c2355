/* peer_proc.c — start and stop test peers from tests, and make plain HTTP requests with libcurl. */
#include "peer_proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

struct sl_peerproc {
	pid_t pid;
	int port;
	char url[64];
	char line[256];
};

struct sl_peerproc *sl_peerproc_start(char *const argv[])
{
	int fds[2];
	pid_t pid;
	char line[256];
	size_t n = 0;
	struct sl_peerproc *pp;

	if (pipe(fds) != 0)
		return NULL;
	pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while (n < sizeof(line) - 1) {
		struct pollfd pfd = {fds[0], POLLIN, 0};
		ssize_t r;
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		r = read(fds[0], line + n, 1);
		if (r <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	/* the peers print nothing after the LISTEN line */
	close(fds[0]);
	pp = calloc(1, sizeof(*pp));
	pp->pid = pid;
	if (sscanf(line, "LISTEN http://127.0.0.1:%d", &pp->port) != 1) {
		fprintf(stderr, "%s: no LISTEN line (got '%s')\n", argv[0], line);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		free(pp);
		return NULL;
	}
	snprintf(pp->url, sizeof(pp->url), "http://127.0.0.1:%d", pp->port);
	snprintf(pp->line, sizeof(pp->line), "%s", line);
	return pp;
}

const char *sl_peerproc_url(const struct sl_peerproc *pp)
{
	return pp->url;
}

const char *sl_peerproc_line(const struct sl_peerproc *pp)
{
	return pp->line;
}

int sl_peerproc_port(const struct sl_peerproc *pp)
{
	return pp->port;
}

pid_t sl_peerproc_pid(const struct sl_peerproc *pp)
{
	return pp->pid;
}

int sl_peerproc_stop(struct sl_peerproc *pp)
{
	int st = 0, rc = -1;

	if (!pp)
		return -1;
	kill(pp->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		pid_t w = waitpid(pp->pid, &st, WNOHANG);
		if (w == pp->pid) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
			break;
		}
		usleep(50000);
	}
	if (rc == -1 && waitpid(pp->pid, &st, WNOHANG) == 0) {
		kill(pp->pid, SIGKILL);
		waitpid(pp->pid, &st, 0);
	}
	free(pp);
	return rc;
}

const char *sl_peerproc_bin(const char *name, char *buf, size_t bufsz)
{
	const char *bd = getenv("SLUICE_BUILD_DIR");
#ifdef SL_PEER_BIN_DIR
	if (!bd) {
		snprintf(buf, bufsz, "%s/%s", SL_PEER_BIN_DIR, name);
		return buf;
	}
#endif
	snprintf(buf, bufsz, "%s/tests/%s", bd ? bd : ".", name);
	return buf;
}

struct sink {
	char *p;
	size_t n;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t add = size * nmemb;
	char *q;

	if (s->n + add > (64u << 20))
		return 0;
	q = realloc(s->p, s->n + add + 1);
	if (!q)
		return 0;
	memcpy(q + s->n, ptr, add);
	s->n += add;
	q[s->n] = '\0';
	s->p = q;
	return add;
}

int sl_http(const char *method, const char *url, const char *const *headers, const char *body,
            long timeout_ms, struct sl_http_result *res)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct sink b = {0}, h = {0};
	CURLcode cc;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms ? timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	cc = curl_easy_perform(c);
	res->curl_code = (int)cc;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	if (cc != CURLE_OK && cc != CURLE_PARTIAL_FILE && cc != CURLE_RECV_ERROR)
		res->status = res->status ? res->status : 0;
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &res->seconds);
	res->body = b.p ? b.p : strdup("");
	res->len = b.n;
	res->headers = h.p ? h.p : strdup("");
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? 0 : -1;
}

void sl_http_result_free(struct sl_http_result *res)
{
	free(res->body);
	free(res->headers);
	memset(res, 0, sizeof(*res));
}
