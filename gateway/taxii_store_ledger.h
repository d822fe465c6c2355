/* taxii_store_ledger.h — TAXII collections as views over the PostgreSQL ledger: pages come from
 * sl_ledger_page/sl_ledger_versions in (date_added, seq) order, POSTs are ledger ingests, every
 * object served is an audit row. Partners, credentials and grants come from a directory (another
 * store's authenticate/list_collections/get_collection, e.g. the in-memory store filled from the
 * config). */
#ifndef SL_TAXII_STORE_LEDGER_H
#define SL_TAXII_STORE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "ledger.h"
#include "taxii_store.h"

struct sl_taxii_store_ledger;
struct event_base;

/* Return false to hide obj (one stored version) of collection from partner: where policy plugs in.
 */
typedef bool (*sl_taxii_ledger_filter)(void *arg, const char *partner, const char *collection,
                                       const json_t *obj);

/* ledger, dir_ops and dir_ctx are borrowed and must outlive the store. */
struct sl_taxii_store_ledger *sl_taxii_store_ledger_new(struct sl_ledger *ledger,
                                                        const struct sl_taxii_store_ops *dir_ops,
                                                        void *dir_ctx, struct sl_err *err);
/* NULL is a no-op. */
void sl_taxii_store_ledger_free(struct sl_taxii_store_ledger *st);
/* The ops table to hand to sl_taxii_server_new with st as ctx (static, borrowed). */
const struct sl_taxii_store_ops *sl_taxii_store_ledger_ops(void);

/* Limit collection's view to these STIX types (copied; n = 0: every type, the default). POSTed
 * objects of other types are refused for that collection. */
int sl_taxii_store_ledger_set_types(struct sl_taxii_store_ledger *st, const char *collection,
                                    const char *const *types, size_t n, struct sl_err *err);
/* Install the visibility filter (NULL = every partner sees every version in the view). */
void sl_taxii_store_ledger_set_filter(struct sl_taxii_store_ledger *st, sl_taxii_ledger_filter f,
                                      void *arg);
/* At most this many stored versions are examined per page request (default 10000); a page that
 * hits it ends early with more:true and a next token that resumes where it stopped. */
void sl_taxii_store_ledger_set_scan_limit(struct sl_taxii_store_ledger *st, size_t max_scanned);

/* Memory for views held in memory (default 512 MiB for all of them; 0 = no cache: every page is
 * a query). A view larger than this is always served from the database. Needs ledger schema 3
 * (its change notifications); without it the store queries the database for every page. */
void sl_taxii_store_ledger_set_cache(struct sl_taxii_store_ledger *st, size_t max_bytes);
/* Store every audit row of served objects now, waiting for the database (sl_taxii_store_ledger_free
 * does it too). Served objects are otherwise recorded in batches within ~100 ms. Call it on the
 * thread that runs the server. */
int sl_taxii_store_ledger_flush(struct sl_taxii_store_ledger *st, struct sl_err *err);

/* Run a timer on base (the server's loop) that writes pending audit rows within ~100 ms and
 * applies the ledger's change notifications while no request comes. Without it, both happen at
 * the next request (and at free). Detach, or free the store, before freeing base. */
int sl_taxii_store_ledger_attach(struct sl_taxii_store_ledger *st, struct event_base *base,
                                 struct sl_err *err);
void sl_taxii_store_ledger_detach(struct sl_taxii_store_ledger *st);

/* Serve each partner its own view: the object versions the policy allowed for the destination of
 * the partner's name, as that destination may see them (redacted, pseudonymised), recorded by
 * sl_ledger_share_record. Off by default (every partner sees every stored version, minus the
 * filter). */
void sl_taxii_store_ledger_set_partner_views(struct sl_taxii_store_ledger *st, bool on);

/* How POSTed objects enter: by default one sl_ledger_ingest as peer "taxii:<partner>". With a hook
 * (sluice's daemon and demo pass the pipeline), the hook ingests them as peer <partner> and decides
 * them for every other destination, filling res like sl_ledger_ingest. arg is borrowed. */
typedef int (*sl_taxii_ledger_ingest)(void *arg, const char *partner, const struct sl_ledger_in *in,
                                      size_t n, struct sl_ledger_result *res, struct sl_err *err);
void sl_taxii_store_ledger_set_ingest(struct sl_taxii_store_ledger *st, sl_taxii_ledger_ingest fn,
                                      void *arg);

#endif
