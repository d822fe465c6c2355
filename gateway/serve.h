/* serve.h — sluice's own TAXII 2.1 server inside `sluice run`, from the config's taxii_server
 * block: each partner reads its collections as its policy destination of the same name allows. */
#ifndef SL_SERVE_H
#define SL_SERVE_H

#include <event2/event.h>

#include "config.h"
#include "err.h"
#include "ledger.h"

struct sl_serve;

/* Start serving on base when cfg has a taxii_server block (else *out stays NULL and 0 is
 * returned). Every collection named in a partner's `collections` exists; a partner reads the
 * versions its policy destination (the partner block's name) was allowed, as it may see them, and
 * cannot write. cfg is read during the call only; ledger is borrowed, must outlive the server and
 * is used on base's thread. */
int sl_serve_start(struct event_base *base, const struct sl_config *cfg, struct sl_ledger *ledger,
                   struct sl_serve **out, struct sl_err *err) SL_MUSTCHECK;
/* The port it listens on (useful with port 0). */
unsigned sl_serve_port(const struct sl_serve *s);
/* Stop serving and write the pending audit rows of served objects. NULL is a no-op. */
void sl_serve_free(struct sl_serve *s);

#endif
