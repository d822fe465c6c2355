/* peer_http.h — what the MISP and OpenCTI test peers share: an evhttp server on a loopback port
 * chosen at run time, bounded JSON request bodies, replies, and seeded fault injection (set at
 * start or at run time). */
#ifndef SL_PEER_HTTP_H
#define SL_PEER_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Faults. "pre" faults answer instead of the handler, so the request is NOT applied; "post" faults
 * run the handler (state changes) and then damage the answer, so the client cannot know it was
 * applied. */
enum sl_peer_fault {
	SL_PEER_FAULT_NONE = 0,
	SL_PEER_FAULT_500,        /* pre: 500 with the peer's error body */
	SL_PEER_FAULT_429,        /* pre: 429 with Retry-After */
	SL_PEER_FAULT_401,        /* pre: 401 with the peer's authentication error body */
	SL_PEER_FAULT_HTML,       /* pre: a front proxy's HTML error page, status 502 */
	SL_PEER_FAULT_HTML200,    /* pre: an HTML login page with status 200 */
	SL_PEER_FAULT_WRONGSHAPE, /* pre: valid JSON of the wrong shape, status 200 */
	SL_PEER_FAULT_HANG,       /* pre: never answer */
	SL_PEER_FAULT_MALFORMED,  /* post: body cut in half and garbled */
	SL_PEER_FAULT_SLOW,       /* post: body trickled in small chunks */
	SL_PEER_FAULT_RESET,      /* post: connection closed after half the body */
};

struct sl_peer;

/* The peer's own parts, called by the shared dispatcher. */
struct sl_peer_ops {
	/* Handle one API request (auth is the handler's job); must answer with sl_peer_reply*() or,
	 * for a stream, take the request over with evhttp_send_reply_start. path excludes the query
	 * string. */
	void (*handle)(struct sl_peer *p, struct evhttp_request *req, const char *path, void *ctx);
	/* The JSON error body this API answers with for status (500, 401 ...) on path; new
	 * reference. */
	json_t *(*error_body)(int status, const char *path, void *ctx);
	/* GET /_test/dump: the peer's whole state as JSON; new reference. */
	json_t *(*dump)(void *ctx);
	/* Paths that are streams: post faults are not applied to them (they never end). May be
	 * NULL. */
	int (*is_stream)(const char *path);
};

struct sl_peer_opts {
	uint64_t rng_seed; /* --seed-rng */
	size_t max_body;   /* request body limit (413 beyond) */
	int slow_ms;       /* interval between trickled chunks */
	size_t slow_bytes; /* bytes per trickled chunk */
	const char *fault; /* --fault KIND[:RATE], may be NULL */
};

/* Create a peer listening on 127.0.0.1:port (0 = any free port). ctx is passed to ops. Returns NULL
 * and a message in errbuf on failure. */
struct sl_peer *sl_peer_new(struct event_base *base, int port, const struct sl_peer_ops *ops,
                            void *ctx, const struct sl_peer_opts *o, char *errbuf, size_t errsz);
void sl_peer_free(struct sl_peer *p);
int sl_peer_port(const struct sl_peer *p);
struct event_base *sl_peer_base(const struct sl_peer *p);

/* Parse "KIND[:RATE]" (RATE 0..1, default 1) and make it the current fault, unlimited count. */
int sl_peer_fault_parse(struct sl_peer *p, const char *spec, char *errbuf, size_t errsz);
const char *sl_peer_fault_name(enum sl_peer_fault k);

/* Seeded pseudo-random numbers, so fault patterns and generated ids repeat for a given --seed-rng.
 */
uint64_t sl_peer_rand(struct sl_peer *p);
/* A random (version 4) UUID from the seeded generator; out holds 37 bytes. */
void sl_peer_uuid4(struct sl_peer *p, char out[37]);

/* The request body parsed as JSON (bounded size and depth). NULL with a message in errbuf when
 * empty, too large or not JSON. New reference. */
json_t *sl_peer_body_json(struct sl_peer *p, struct evhttp_request *req, char *errbuf,
                          size_t errsz);
/* The request body as a NUL-terminated malloc'd string (bounded); NULL when too large. */
char *sl_peer_body_str(struct sl_peer *p, struct evhttp_request *req, size_t *len);

/* Answer with JSON (body is stolen; NULL means an empty body) or with text, applying this request's
 * post fault, if any. */
void sl_peer_reply_json(struct sl_peer *p, struct evhttp_request *req, int status, json_t *body);
void sl_peer_reply_text(struct sl_peer *p, struct evhttp_request *req, int status,
                        const char *ctype, const char *body, size_t len);

/* Value of query parameter name (decoded, malloc'd) or NULL. */
char *sl_peer_query(struct evhttp_request *req, const char *name);

/* Counters for the dump: requests seen, faults injected. */
json_t *sl_peer_stats(const struct sl_peer *p);

#endif
