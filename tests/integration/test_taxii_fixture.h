/* test_taxii_fixture.h — shared by the TAXII tests and the benchmark: a sluice TAXII server over
 * the in-memory store, running its event loop in a thread on a loopback port, and a libcurl helper
 * to talk to it. */
#ifndef SL_TAXII_FIXTURE_H
#define SL_TAXII_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "http_server.h"
#include "taxii_server.h"
#include "taxii_store_mem.h"

struct tx_server {
	struct event_base *base;
	struct sl_http_server *http;
	struct sl_taxii_server *taxii;
	struct sl_taxii_store_mem *store;
	pthread_t thread;
	bool running;
	uint16_t port;
	char base_url[128];
};

struct tx_resp {
	long status;
	char *body;
	size_t len;
	char *headers; /* raw response headers */
	json_t *json;  /* parsed body, or NULL */
};

struct tx_req {
	const char *method;     /* NULL = GET */
	const char *path;       /* appended to base_url */
	const char *user;       /* Basic user:password, e.g. "alice:pw-alice"; NULL = none */
	const char *bearer;     /* Authorization: Bearer */
	const char *accept;     /* NULL = the TAXII 2.1 type; "" = no Accept header */
	const char *ctype;      /* Content-Type for bodies; NULL = the TAXII 2.1 type */
	const char *body;       /* POST body */
	size_t body_len;        /* 0 = strlen(body) */
	const char *cafile;     /* TLS trust anchor (https) */
	const char *cert, *key; /* TLS client certificate */
};

/* Create the server (not yet running); http/taxii configs may be NULL for test defaults. */
void tx_server_init(struct tx_server *s, const struct sl_http_server_config *hcfg,
                    const struct sl_taxii_server_config *tcfg);
/* The same over another store (ops/ctx borrowed); s->store is then an unused, empty in-memory
 * store. */
void tx_server_init_store(struct tx_server *s, const struct sl_http_server_config *hcfg,
                          const struct sl_taxii_server_config *tcfg,
                          const struct sl_taxii_store_ops *ops, void *ctx);
/* Run the event loop in a thread. */
void tx_server_start(struct tx_server *s);
/* Stop the loop, join, free everything. */
void tx_server_stop(struct tx_server *s);

/* Perform one request; aborts the test on a transport failure unless allow_fail. */
struct tx_resp tx_do(const struct tx_server *s, const struct tx_req *r);
int tx_do_raw(const struct tx_server *s, const struct tx_req *r, struct tx_resp *out);
void tx_resp_free(struct tx_resp *r);
/* A response header's value (first occurrence) copied into out; NULL when absent. */
const char *tx_header(const struct tx_resp *r, const char *name, char *out, size_t n);

#endif
