/* taxii_server.h — sluice's TAXII 2.1 server: discovery, one api root, collections, objects,
 * manifest, versions, status, on an sl_http_server, over any store implementing struct
 * sl_taxii_store_ops. */
#ifndef SL_TAXII_SERVER_H
#define SL_TAXII_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http_server.h"
#include "taxii_store.h"

struct sl_taxii_server;

struct sl_taxii_server_config {
	const char *api_root;           /* one path segment: the api root is /<api_root>/ */
	const char *title;              /* discovery and api root title */
	const char *description;        /* may be NULL */
	const char *contact;            /* may be NULL */
	size_t max_content_length;      /* POST bodies above this get 413; 0 = 10 MiB. Set the http
	                                 * server's max_body_size above it so the 413 is a TAXII error */
	size_t max_page;                /* server cap on objects per page; 0 = 1000 */
	const unsigned char *token_key; /* HMAC key for `next` tokens; NULL = random per process */
	size_t token_key_len;
	size_t max_statuses;         /* status resources kept (oldest dropped first); 0 = 4096 */
	unsigned status_ttl_s;       /* each kept at most this long; 0 = 86400 (24 h, the spec) */
	size_t max_status_bytes;     /* total status JSON kept; 0 = 64 MiB */
	size_t max_objects_per_post; /* objects in one envelope, more = 413; 0 = 10000 */
};

/* Register the TAXII routes on http (borrowed, must outlive the server); store ops/ctx are
 * borrowed. */
struct sl_taxii_server *sl_taxii_server_new(struct sl_http_server *http,
                                            const struct sl_taxii_server_config *cfg,
                                            const struct sl_taxii_store_ops *ops, void *store_ctx,
                                            struct sl_err *err);
/* NULL is a no-op. Free it after the http server stopped dispatching. */
void sl_taxii_server_free(struct sl_taxii_server *srv);

/* TAXII/STIX timestamps: parse "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (UTC, fraction cut to
 * microseconds) into microseconds since the epoch. Returns 0 or SL_EINVAL. */
int sl_taxii_ts_parse(const char *s, int64_t *us);
/* Format as the TAXII timestamp "YYYY-MM-DDTHH:MM:SS.ssssssZ" into out (at least 32 bytes). */
char *sl_taxii_ts_format(int64_t us, char *out, size_t n);

#endif
