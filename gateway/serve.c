/* serve.c — sluice's own TAXII 2.1 server inside `sluice run`: the config's partners and
 * collections, each partner served its own policy view of the ledger. */
#include "serve.h"

#include <stdlib.h>

#include <jansson.h>

#include "http_server.h"
#include "taxii_server.h"
#include "taxii_store_ledger.h"
#include "taxii_store_mem.h"

struct sl_serve {
	struct sl_http_server *http;
	struct sl_taxii_store_mem *dir;
	struct sl_taxii_store_ledger *store;
	struct sl_taxii_server *taxii;
};

void sl_serve_free(struct sl_serve *s)
{
	if (!s)
		return;
	sl_taxii_server_free(s->taxii);
	sl_http_server_free(s->http);
	sl_taxii_store_ledger_free(s->store); /* writes the audit rows still pending */
	sl_taxii_store_mem_free(s->dir);
	free(s);
}

/* Every collection any partner may read, once. */
static int add_collections(struct sl_serve *s, const struct sl_config_taxii *t, struct sl_err *err)
{
	json_t *seen = json_object();
	size_t i, k;
	int rc = 0;

	if (!seen)
		return sl_err_set(err, SL_ENOMEM, "taxii_server", "out of memory");
	for (i = 0; rc == 0 && i < t->npartners; i++)
		for (k = 0; rc == 0 && k < t->partners[i].collections.n; k++) {
			const char *id = t->partners[i].collections.v[k];
			if (json_object_get(seen, id))
				continue;
			json_object_set_new(seen, id, json_true());
			rc = sl_taxii_store_mem_add_collection(
			    s->dir, id, id, "what your sharing policy allows you", NULL, err);
		}
	json_decref(seen);
	return rc < 0 ? -1 : 0;
}

int sl_serve_start(struct event_base *base, const struct sl_config *cfg, struct sl_ledger *ledger,
                   struct sl_serve **out, struct sl_err *err)
{
	const struct sl_config_taxii *t = sl_config_taxii(cfg);
	const struct sl_config_limits *lim = sl_config_limits(cfg);
	struct sl_http_server_config hc = {0};
	struct sl_taxii_server_config tc = {0};
	struct sl_serve *s;
	size_t i, k;

	*out = NULL;
	if (!t || !t->enabled)
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return sl_err_set(err, SL_ENOMEM, "taxii_server", "out of memory");
	if (!(s->dir = sl_taxii_store_mem_new())) {
		sl_serve_free(s);
		return sl_err_set(err, SL_ENOMEM, "taxii_server", "out of memory");
	}
	if (add_collections(s, t, err) < 0)
		goto fail;
	for (i = 0; i < t->npartners; i++) {
		const struct sl_config_partner *p = &t->partners[i];
		if (sl_taxii_store_mem_add_partner(s->dir, p->name, p->user, p->password, NULL,
		                                   err) < 0)
			goto fail;
		for (k = 0; k < p->collections.n; k++)
			if (sl_taxii_store_mem_grant(s->dir, p->name, p->collections.v[k], true,
			                             false, err) < 0)
				goto fail;
	}
	if (!(s->store = sl_taxii_store_ledger_new(ledger, sl_taxii_store_mem_ops(), s->dir, err)))
		goto fail;
	sl_taxii_store_ledger_set_partner_views(s->store, true);
	if (sl_taxii_store_ledger_attach(s->store, base, err) < 0)
		goto fail;
	hc.host = t->listen_host;
	hc.port = t->listen_port;
	hc.tls_cert_file = t->tls_cert;
	hc.tls_key_file = t->tls_key;
	hc.tls_client_ca = t->tls_client_ca;
	hc.max_body_size = lim->max_body_bytes + 4096; /* so an oversized POST is a TAXII 413 */
	if (!(s->http = sl_http_server_new(base, &hc, err)))
		goto fail;
	tc.api_root = "api";
	tc.title = "sluice";
	tc.description = "Each partner sees only what its sharing policy allows";
	tc.max_content_length = lim->max_body_bytes;
	tc.max_page = t->max_page_size;
	if (!(s->taxii =
	          sl_taxii_server_new(s->http, &tc, sl_taxii_store_ledger_ops(), s->store, err)))
		goto fail;
	*out = s;
	return 0;
fail:
	sl_serve_free(s);
	return err->code ? err->code : SL_EINVAL;
}

unsigned sl_serve_port(const struct sl_serve *s)
{
	return s ? sl_http_server_port(s->http) : 0;
}
