/* test_taxii_fixture.c — see test_taxii_fixture.h. */
#include "test_taxii_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/thread.h>

static void die(const char *what, const struct sl_err *e)
{
	fprintf(stderr, "taxii fixture: %s: %s: %s\n", what, e ? e->where : "", e ? e->msg : "");
	abort();
}

void tx_server_init(struct tx_server *s, const struct sl_http_server_config *hcfg,
                    const struct sl_taxii_server_config *tcfg)
{
	tx_server_init_store(s, hcfg, tcfg, NULL, NULL);
}

void tx_server_init_store(struct tx_server *s, const struct sl_http_server_config *hcfg,
                          const struct sl_taxii_server_config *tcfg,
                          const struct sl_taxii_store_ops *ops, void *ctx)
{
	struct sl_http_server_config hdef = {.host = "127.0.0.1", .max_body_size = 2 * 65536};
	struct sl_taxii_server_config tdef = {
	    .api_root = "sluice",
	    .title = "sluice test",
	    .description = "test api root",
	    .max_content_length = 65536,
	    .max_page = 100,
	};
	struct sl_err err = {0};

	memset(s, 0, sizeof(*s));
	evthread_use_pthreads();
	{
		/* The changelist folds the add/del of write interest around each reply into fewer
		 * epoll_ctl calls; what a production loop should use too. */
		struct event_config *ec = event_config_new();

		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		s->base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	s->store = sl_taxii_store_mem_new();
	if (!s->base || !s->store)
		die("init", NULL);
	s->http = sl_http_server_new(s->base, hcfg ? hcfg : &hdef, &err);
	if (!s->http)
		die("http", &err);
	s->port = sl_http_server_port(s->http);
	s->taxii =
	    sl_taxii_server_new(s->http, tcfg ? tcfg : &tdef, ops ? ops : sl_taxii_store_mem_ops(),
	                        ops ? ctx : s->store, &err);
	if (!s->taxii)
		die("taxii", &err);
	snprintf(s->base_url, sizeof(s->base_url), "%s://127.0.0.1:%u",
	         hcfg && hcfg->tls_cert_file ? "https" : "http", (unsigned)s->port);
}

/* The thread gets the event base, not the tx_server: callers copy a started tx_server by value
 * (own_server in test_taxii.c returns one), and the copy it was started from is gone. */
static void *loop(void *arg)
{
	event_base_loop(arg, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

void tx_server_start(struct tx_server *s)
{
	/* the server shares the process with its clients: one that hangs up must not kill it */
	signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&s->thread, NULL, loop, s->base) != 0)
		die("thread", NULL);
	s->running = true;
}

void tx_server_stop(struct tx_server *s)
{
	if (s->running) {
		/* Let connections that are failing right now finish closing (see http_server.h). */
		struct timeval drain = {0, 50000};

		event_base_loopexit(s->base, &drain);
		pthread_join(s->thread, NULL);
	}
	sl_taxii_server_free(s->taxii);
	sl_http_server_free(s->http);
	sl_taxii_store_mem_free(s->store);
	event_base_free(s->base);
	memset(s, 0, sizeof(*s));
}

struct buf {
	char *p;
	size_t n;
};

static size_t collect(char *data, size_t sz, size_t nm, void *arg)
{
	struct buf *b = arg;
	size_t len = sz * nm;
	char *p = realloc(b->p, b->n + len + 1);

	if (!p)
		return 0;
	memcpy(p + b->n, data, len);
	b->p = p;
	b->n += len;
	p[b->n] = '\0';
	return len;
}

int tx_do_raw(const struct tx_server *s, const struct tx_req *r, struct tx_resp *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct buf body = {0}, head = {0};
	char url[4096], line[1024];
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", s->base_url, r->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (r->user) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, r->user);
	}
	if (r->bearer) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", r->bearer);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (!r->accept)
		hdrs = curl_slist_append(hdrs, "Accept: application/taxii+json;version=2.1");
	else if (!*r->accept)
		hdrs = curl_slist_append(hdrs, "Accept:");
	else {
		snprintf(line, sizeof(line), "Accept: %s", r->accept);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (r->body) {
		snprintf(line, sizeof(line), "Content-Type: %s",
		         r->ctype ? r->ctype : "application/taxii+json;version=2.1");
		hdrs = curl_slist_append(hdrs, line);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(r->body_len ? r->body_len : strlen(r->body)));
		hdrs = curl_slist_append(hdrs, "Expect:");
	}
	if (r->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->cafile)
		curl_easy_setopt(c, CURLOPT_CAINFO, r->cafile);
	if (r->cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, r->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, r->key);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	out->body = body.p ? body.p : strdup("");
	out->len = body.n;
	out->headers = head.p ? head.p : strdup("");
	out->json = json_loadb(out->body, out->len, 0, NULL);
	return rc == CURLE_OK ? 0 : (int)rc;
}

struct tx_resp tx_do(const struct tx_server *s, const struct tx_req *r)
{
	struct tx_resp out;
	int rc = tx_do_raw(s, r, &out);

	if (rc != 0) {
		fprintf(stderr, "taxii fixture: %s %s: curl error %d (%s)\n",
		        r->method ? r->method : "GET", r->path, rc, curl_easy_strerror(rc));
		abort();
	}
	return out;
}

void tx_resp_free(struct tx_resp *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *tx_header(const struct tx_resp *r, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);

	for (const char *p = r->headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(out, n, "%.*s", (int)(len - (size_t)(v - p)), v);
			return out;
		}
		if (!eol)
			break;
		p = eol + 2;
	}
	return NULL;
}
