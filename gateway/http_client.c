/* http_client.c — curl multi on libevent (the "hiperfifo" pattern): curl tells us which sockets to
 * watch and when its timer is due; libevent tells curl when a socket is ready or the timer fired.
 */
#include "http_client.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define HEADERS_MAX (64 * 1024)
#define NHEADERS_MAX 128
#define ERRBODY_MAX (64 * 1024) /* non-2xx bodies in streaming mode */
#define DEFAULT_BODY_MAX ((size_t)16 * 1024 * 1024)

struct sl_http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct sl_http_xfer *xfers; /* doubly linked list of live transfers */
	size_t active;
	bool warned_insecure;
};

struct sl_http_xfer {
	struct sl_http_client *c;
	struct sl_http_xfer *prev, *next;
	CURL *easy;
	struct curl_slist *hdrs;
	char *req_body;
	char errbuf[CURL_ERROR_SIZE];
	char where[SL_ERR_WHERE_MAX];
	/* response */
	char *body;
	size_t body_len, body_cap, max_body;
	bool streaming, too_large, aborted, finishing;
	char *hdrbuf; /* raw header lines of the latest response, NUL-separated */
	size_t hdr_len;
	size_t nhdr;
	const char *hname[NHEADERS_MAX], *hval[NHEADERS_MAX];
	struct sl_sse *sse;
	struct sl_err sse_err;
	sl_http_chunk_cb on_chunk;
	sl_http_done_cb on_done;
	void *arg;
};

struct sockinfo {
	struct event *ev;
};

const char *sl_http_error_name(enum sl_http_error e)
{
	switch (e) {
	case SL_HTTP_OK:
		return "ok";
	case SL_HTTP_ESTATUS:
		return "http status";
	case SL_HTTP_ETIMEOUT:
		return "timeout";
	case SL_HTTP_ECONNECT:
		return "connect";
	case SL_HTTP_ETLS:
		return "tls";
	case SL_HTTP_ETOO_LARGE:
		return "too large";
	case SL_HTTP_EPARTIAL:
		return "reset/partial";
	case SL_HTTP_EABORTED:
		return "aborted";
	case SL_HTTP_EOTHER:
		return "other";
	}
	return "?";
}

static long status_of(struct sl_http_xfer *x)
{
	long st = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct sl_http_xfer *x = arg;
	size_t len = size * n;

	/* a new status line (after 1xx or a redirect) starts a new header set */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		x->hdr_len = 0;
		x->nhdr = 0;
		return len;
	}
	if (x->hdr_len + len + 1 > HEADERS_MAX) {
		x->too_large = true;
		return 0;
	}
	memcpy(x->hdrbuf + x->hdr_len, data, len);
	x->hdr_len += len;
	x->hdrbuf[x->hdr_len] = '\0';
	return len;
}

/* Split the raw header block into name/value pairs, in place. */
static void index_headers(struct sl_http_xfer *x)
{
	char *p = x->hdrbuf, *end = x->hdrbuf + x->hdr_len;

	x->nhdr = 0;
	while (p < end && x->nhdr < NHEADERS_MAX) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;

		if (!eol)
			eol = end;
		*eol = '\0';
		ve = eol;
		while (ve > p && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = '\0';
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			x->hname[x->nhdr] = p;
			x->hval[x->nhdr] = v;
			x->nhdr++;
		}
		p = eol + 1;
	}
}

static const char *find_header(const struct sl_http_xfer *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->nhdr; i++)
		if (strcasecmp(x->hname[i], name) == 0)
			return x->hval[i];
	return NULL;
}

const char *sl_http_response_header(const struct sl_http_response *r, const char *name)
{
	return r->priv_ ? find_header(r->priv_, name) : NULL;
}

static bool append_body(struct sl_http_xfer *x, const char *data, size_t len, size_t cap)
{
	if (x->body_len + len > cap) {
		x->too_large = true;
		return false;
	}
	if (x->body_len + len + 1 > x->body_cap) {
		size_t ncap = x->body_cap ? x->body_cap : 4096;
		char *nb;

		while (ncap < x->body_len + len + 1)
			ncap *= 2;
		if (ncap > cap + 1)
			ncap = cap + 1;
		nb = realloc(x->body, ncap);
		if (!nb)
			return false;
		x->body = nb;
		x->body_cap = ncap;
	}
	memcpy(x->body + x->body_len, data, len);
	x->body_len += len;
	x->body[x->body_len] = '\0';
	return true;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	struct sl_http_xfer *x = arg;
	size_t len = size * n;
	long st;

	if (!x->streaming)
		return append_body(x, data, len, x->max_body) ? len : 0;
	st = status_of(x);
	if (st < 200 || st > 299)
		return append_body(x, data, len, ERRBODY_MAX) ? len : 0;
	if (x->max_body) {
		if (x->body_len + len > x->max_body) {
			x->too_large = true;
			return 0;
		}
		x->body_len += len; /* counted, not kept */
	}
	if (x->sse) {
		int r = sl_sse_feed(x->sse, data, len, &x->sse_err);

		if (r == SL_ELIMIT)
			x->too_large = true;
		else if (r != 0)
			x->aborted = true;
		return r == 0 ? len : 0;
	}
	if (x->on_chunk(data, len, x->arg) != 0) {
		x->aborted = true;
		return 0;
	}
	return len;
}

static enum sl_http_error classify(struct sl_http_xfer *x, CURLcode rc)
{
	if (x->too_large)
		return SL_HTTP_ETOO_LARGE;
	if (x->aborted)
		return SL_HTTP_EABORTED;
	switch (rc) {
	case CURLE_OK:
		return SL_HTTP_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return SL_HTTP_ETIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return SL_HTTP_ECONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return SL_HTTP_ETLS;
	case CURLE_FILESIZE_EXCEEDED:
		return SL_HTTP_ETOO_LARGE;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2_STREAM:
		return SL_HTTP_EPARTIAL;
	default:
		return SL_HTTP_EOTHER;
	}
}

static void wipe_slist(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void xfer_free(struct sl_http_xfer *x)
{
	struct sl_http_client *c = x->c;

	if (x->prev)
		x->prev->next = x->next;
	else
		c->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	c->active--;
	curl_multi_remove_handle(c->multi, x->easy);
	curl_easy_cleanup(x->easy);
	wipe_slist(x->hdrs);
	free(x->req_body);
	free(x->body);
	free(x->hdrbuf);
	sl_sse_free(x->sse);
	free(x);
}

static void finish(struct sl_http_xfer *x, CURLcode rc)
{
	struct sl_http_response r;
	curl_off_t us = 0;

	memset(&r, 0, sizeof(r));
	x->finishing = true;
	r.status = (int)status_of(x);
	r.error = classify(x, rc);
	if (r.error == SL_HTTP_OK && (r.status < 200 || r.status > 299))
		r.error = SL_HTTP_ESTATUS;
	index_headers(x);
	r.priv_ = x;
	r.content_type = find_header(x, "Content-Type");
	r.retry_after = find_header(x, "Retry-After");
	r.link = find_header(x, "Link");
	if (!x->streaming || r.status < 200 || r.status > 299) {
		r.body = x->body ? x->body : "";
		r.body_len = x->body_len;
	}
	curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &us);
	r.total_s = (double)us / 1e6;
	switch (r.error) {
	case SL_HTTP_OK:
		sl_err_clear(&r.err);
		break;
	case SL_HTTP_ESTATUS:
		sl_err_set(&r.err, SL_ENET, x->where, "HTTP status %d", r.status);
		break;
	case SL_HTTP_ETOO_LARGE:
		if (x->sse_err.code == SL_ELIMIT)
			sl_err_set(&r.err, SL_ELIMIT, x->where, "%s", x->sse_err.msg);
		else
			sl_err_set(&r.err, SL_ELIMIT, x->where,
			           "response larger than the limit of %zu bytes", x->max_body);
		break;
	default:
		sl_err_set(&r.err, SL_ENET, x->where, "%s: %s", sl_http_error_name(r.error),
		           x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
		break;
	}
	if (x->on_done)
		x->on_done(&r, x->arg);
	xfer_free(x);
}

static void check_done(struct sl_http_client *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct sl_http_xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x)
			finish(x, m->data.result);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct sl_http_client *c = arg;
	int running = 0, flags = (what & EV_READ ? CURL_CSELECT_IN : 0) |
	                         (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sl_http_client *c = arg;
	int running = 0;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct sl_http_client *c = arg;
	struct sockinfo *si = sockp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (si) {
			event_free(si->ev);
			free(si);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	kind = (short)(EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	               (what & CURL_POLL_OUT ? EV_WRITE : 0));
	if (!si) {
		si = calloc(1, sizeof(*si));
		if (!si)
			return -1;
		curl_multi_assign(c->multi, s, si);
	} else {
		event_free(si->ev);
	}
	si->ev = event_new(c->base, s, kind, on_socket_event, c);
	if (!si->ev || event_add(si->ev, NULL) != 0)
		return -1;
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct sl_http_client *c = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	/* 0 means "now": still go through the loop rather than recurse into curl from its callback
	 */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

struct sl_http_client *sl_http_client_new(struct event_base *base, unsigned max_transfers,
                                          struct sl_err *err)
{
	struct sl_http_client *c;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		sl_err_set(err, SL_EIO, "http client", "curl_global_init failed");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		sl_err_set(err, SL_ENOMEM, "http client", "out of memory");
		return NULL;
	}
	c->base = base;
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timer, c);
	if (!c->multi || !c->timer) {
		sl_http_client_free(c);
		sl_err_set(err, SL_ENOMEM, "http client", "out of memory");
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	                  (long)(max_transfers ? max_transfers : 100));
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
	                  (long)(max_transfers ? max_transfers : 100));
	return c;
}

void sl_http_client_free(struct sl_http_client *c)
{
	if (!c)
		return;
	while (c->xfers)
		xfer_free(c->xfers);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->timer)
		event_free(c->timer);
	free(c);
	curl_global_cleanup();
}

size_t sl_http_client_active(const struct sl_http_client *c)
{
	return c->active;
}

void sl_http_xfer_cancel(struct sl_http_xfer *x)
{
	if (x && !x->finishing)
		xfer_free(x);
}

/* "GET https://host/path" without query or fragment: those may carry tokens. */
static void describe(char *out, size_t outsz, const char *method, const char *url)
{
	size_t n = strcspn(url, "?#");
	char q[200];

	if (n >= sizeof(q))
		n = sizeof(q) - 1;
	memcpy(q, url, n);
	q[n] = '\0';
	snprintf(out, outsz, "%s %s", method, sl_err_quote((char[210]){0}, 210, q, 190));
}

#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (curl_easy_setopt(x->easy, opt, val) != CURLE_OK) {                             \
			sl_err_set(err, SL_EINVAL, x->where, "cannot set %s", #opt);               \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

struct sl_http_xfer *sl_http_client_start(struct sl_http_client *c,
                                          const struct sl_http_request *req, struct sl_err *err)
{
	const char *method = req->method ? req->method : "GET";
	struct sl_http_xfer *x;
	size_t i;
	bool stream = req->on_chunk || req->on_sse_event;

	if (!req->url ||
	    (strncmp(req->url, "https://", 8) != 0 && strncmp(req->url, "http://", 7) != 0)) {
		sl_err_set(err, SL_EINVAL, "http client", "URL must be http:// or https://");
		return NULL;
	}
	if (!!req->tls.client_cert != !!req->tls.client_key) {
		sl_err_set(err, SL_EINVAL, "http client", "client_cert and client_key go together");
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		sl_err_set(err, SL_ENOMEM, "http client", "out of memory");
		return NULL;
	}
	x->c = c;
	describe(x->where, sizeof(x->where), method, req->url);
	x->streaming = stream;
	x->max_body = req->max_body ? req->max_body : (stream ? 0 : DEFAULT_BODY_MAX);
	x->on_chunk = req->on_chunk;
	x->on_done = req->on_done;
	x->arg = req->arg;
	x->hdrbuf = malloc(HEADERS_MAX + 1);
	x->easy = curl_easy_init();
	/* link first, so the fail path can use xfer_free */
	x->next = c->xfers;
	if (c->xfers)
		c->xfers->prev = x;
	c->xfers = x;
	c->active++;
	if (!x->hdrbuf || !x->easy) {
		sl_err_set(err, SL_ENOMEM, x->where, "out of memory");
		goto fail;
	}
	if (req->on_sse_event && !req->on_chunk) {
		x->sse = sl_sse_new(req->sse_max_line, 0, req->on_sse_event, req->arg);
		if (!x->sse) {
			sl_err_set(err, SL_ENOMEM, x->where, "out of memory");
			goto fail;
		}
	}
	for (i = 0; i < req->nheaders; i++) {
		struct curl_slist *n = curl_slist_append(x->hdrs, req->headers[i]);

		if (!n) {
			sl_err_set(err, SL_ENOMEM, x->where, "out of memory");
			goto fail;
		}
		x->hdrs = n;
	}
	if (req->auth_header) {
		struct curl_slist *n = curl_slist_append(x->hdrs, req->auth_header);

		if (!n) {
			sl_err_set(err, SL_ENOMEM, x->where, "out of memory");
			goto fail;
		}
		x->hdrs = n;
	}
	/* no "Expect: 100-continue" round trip before bodies */
	{
		struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");

		if (!n) {
			sl_err_set(err, SL_ENOMEM, x->where, "out of memory");
			goto fail;
		}
		x->hdrs = n;
	}
	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_PRIVATE, (void *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_HTTPHEADER, x->hdrs);
	SETOPT(CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
	SETOPT(CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode; caps apply after */
	SETOPT(CURLOPT_WRITEFUNCTION, on_write);
	SETOPT(CURLOPT_WRITEDATA, (void *)x);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, (void *)x);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
	       (long)(req->connect_timeout_ms ? req->connect_timeout_ms : 10000));
	SETOPT(CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms ? req->timeout_ms : stream ? 0 : 60000));
	if (req->low_speed_s) {
		SETOPT(CURLOPT_LOW_SPEED_LIMIT,
		       (long)(req->low_speed_bytes ? req->low_speed_bytes : 1));
		SETOPT(CURLOPT_LOW_SPEED_TIME, (long)req->low_speed_s);
	}
	if (x->max_body)
		SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);
	if (req->follow_redirects) {
		SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
		SETOPT(CURLOPT_MAXREDIRS, 5L);
		SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (req->tls.insecure_skip_verify && !c->warned_insecure) {
		/* once per client: loud enough to be seen, not once per poll */
		c->warned_insecure = true;
		sl_warn("http client: TLS certificate verification is OFF for %s "
		        "(insecure_skip_verify); the peer's identity is not checked",
		        x->where);
	}
	SETOPT(CURLOPT_SSL_VERIFYPEER, req->tls.insecure_skip_verify ? 0L : 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, req->tls.insecure_skip_verify ? 0L : 2L);
	if (req->tls.ca_file)
		SETOPT(CURLOPT_CAINFO, req->tls.ca_file);
	if (req->tls.ca_dir)
		SETOPT(CURLOPT_CAPATH, req->tls.ca_dir);
	if (req->tls.client_cert) {
		SETOPT(CURLOPT_SSLCERT, req->tls.client_cert);
		SETOPT(CURLOPT_SSLKEY, req->tls.client_key);
	}
	if (strcmp(method, "GET") == 0) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		SETOPT(CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, method);
		if (req->body_len) {
			x->req_body = malloc(req->body_len);
			if (!x->req_body) {
				sl_err_set(err, SL_ENOMEM, x->where, "out of memory");
				goto fail;
			}
			memcpy(x->req_body, req->body, req->body_len);
		}
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SETOPT(CURLOPT_POSTFIELDS, x->req_body ? x->req_body : "");
	}
	if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
		sl_err_set(err, SL_EIO, x->where, "curl_multi_add_handle failed");
		goto fail;
	}
	return x;
fail:
	xfer_free(x);
	return NULL;
}
