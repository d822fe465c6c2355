/* taxii_store_ledger.c — the ledger has no collections: a collection is a view (optional type list
 * + the policy filter) over every stored version. Pages scan sl_ledger_page from the cursor,
 * copying each batch before judging it (judging may query the ledger again, e.g. for first/last),
 * and stop after limit+1 matches or the scan limit. match[id] requests read the ids' versions
 * directly.
 *
 * Speed: each view (every stored version, or one partner's shares) is held in memory once read,
 * in (date_added, seq) order, with the newest version of each id, so ordinary pages (default or
 * match[version]=all, no match[id]) are answered without the database. The cache is kept fresh by
 * migration 003's notifications on a side connection, polled (without waiting) at each request:
 * "added" reads the rows after the last one held, "erased" drops every cache. Served objects are
 * audited in batches sent on the side connection without waiting (flushed every AUDIT_FLUSH_ROWS
 * rows or AUDIT_FLUSH_US, and on free). Without a side connection (or schema < 3) every page and
 * audit goes to the database as before. */
#include "taxii_store_ledger.h"

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taxii_server.h"

#define MAX_VIEWS 64
#define BATCH_MAX 1000
#define MAX_CACHES 64                    /* cached views (partners) at once */
#define CACHE_DEFAULT_BYTES (512u << 20) /* all cached views together */
#define CACHE_FILL_ROWS 5000             /* rows read per request or timer tick into a cache */
#define AUDIT_FLUSH_ROWS 2000            /* audit rows per batch */
#define AUDIT_FLUSH_US 100000            /* oldest unsent audit row waits at most this (100 ms) */
#define LISTEN_RETRY_US 5000000          /* a failed LISTEN is tried again after 5 s */
#define AUDIT_MAX_PENDING 200000         /* rows not yet stored: beyond, serving fails (500) */

struct view {
	char collection[SL_TAXII_NAME_MAX];
	char **types;
	size_t n_types;
};

/* One cached row: a copied ledger version in one allocation (id, type, version, json follow). */
struct crow {
	const char *id, *type, *version, *json;
	char spec[8];
	size_t json_len;
	int64_t version_us, date_added_us, seq;
	bool erased;
	bool latest; /* no newer version of the id in this view (kept up to date as rows come) */
};

/* One view held in memory: every row of it in (date_added, seq) order, and the newest version_us
 * of each id (open addressing, keys borrowed from rows). */
struct vcache {
	bool used, complete, stale, too_big;
	char key[SL_TAXII_NAME_MAX]; /* partner name, "" = every stored version */
	struct crow **rows;
	size_t n, cap, bytes;
	const char **hkeys;
	struct crow **hrows; /* the newest version of each id */
	size_t hcap, hn;
	uint64_t last_use;
};

/* A served object waiting for its audit row (strings owned). */
struct arow {
	char *id, *version, *dest, *rule;
	unsigned count;
};

struct alist {
	struct arow *v;
	size_t n, cap;
	size_t *hidx; /* open addressing: index + 1 into v, 0 = empty */
	size_t hcap;
};

struct sl_taxii_store_ledger {
	struct sl_ledger *l;
	struct event *timer;      /* attach: flushes the audit, polls notifications */
	struct sl_ledger *side;   /* async audit; NULL = none (all synchronous, no cache) */
	struct sl_ledger *listen; /* notifications only, so none waits behind an audit batch */
	bool listening;
	int64_t listen_retry_at; /* now_us() before which not to try listening again */
	size_t cache_max;        /* bytes for all cached views; 0 = no cache */
	size_t cache_bytes;
	uint64_t tick;
	struct vcache caches[MAX_CACHES];
	struct alist pending, inflight;
	bool inflight_sent; /* inflight went out on the side connection and is not collected yet */
	int64_t pending_since_us;
	struct sl_err audit_err; /* the last failed batch, reported while too much is pending */
	const struct sl_taxii_store_ops *dir;
	void *dir_ctx;
	struct view views[MAX_VIEWS];
	size_t nviews;
	sl_taxii_ledger_filter filter;
	void *filter_arg;
	size_t scan_limit;
	bool partner_views; /* each partner reads its own view (the shares decided for it) */
	sl_taxii_ledger_ingest ingest; /* POSTs through the pipeline, or NULL */
	void *ingest_arg;
};

/* The versions of id the partner may see: all stored ones, or its view. */
static int id_versions(struct sl_taxii_store_ledger *st, const char *partner, const char *id,
                       sl_ledger_emit emit, void *arg, struct sl_err *err)
{
	if (st->partner_views)
		return sl_ledger_view_versions(st->l, partner, id, emit, arg, err);
	return sl_ledger_versions(st->l, id, emit, arg, err);
}

/* A copied ledger version. */
struct vrec {
	char *id, *type, *version, *json;
	char spec[8];
	size_t json_len;
	int64_t version_us, date_added_us, seq;
	bool erased;
};

struct vlist {
	struct vrec *v;
	size_t n, cap;
	int oom;
};

static void vlist_clear(struct vlist *vl)
{
	for (size_t i = 0; i < vl->n; i++) {
		free(vl->v[i].id);
		free(vl->v[i].type);
		free(vl->v[i].version);
		free(vl->v[i].json);
	}
	vl->n = 0;
	vl->oom = 0;
}

static void vlist_free(struct vlist *vl)
{
	vlist_clear(vl);
	free(vl->v);
	vl->v = NULL;
	vl->cap = 0;
}

static int collect(void *arg, const struct sl_ledger_version *v)
{
	struct vlist *vl = arg;
	struct vrec *r;

	if (vl->n == vl->cap) {
		size_t cap = vl->cap ? vl->cap * 2 : 64;
		struct vrec *nv = realloc(vl->v, cap * sizeof(*nv));

		if (!nv) {
			vl->oom = 1;
			return 1;
		}
		vl->v = nv;
		vl->cap = cap;
	}
	r = &vl->v[vl->n];
	memset(r, 0, sizeof(*r));
	r->id = strdup(v->id);
	r->type = strdup(v->type ? v->type : "");
	r->version = strdup(v->modified);
	r->json = malloc(v->json_len + 1);
	if (!r->id || !r->type || !r->version || !r->json) {
		free(r->id);
		free(r->type);
		free(r->version);
		free(r->json);
		vl->oom = 1;
		return 1;
	}
	memcpy(r->json, v->json, v->json_len);
	r->json[v->json_len] = '\0';
	r->json_len = v->json_len;
	snprintf(r->spec, sizeof(r->spec), "%s", v->spec_version ? v->spec_version : "2.1");
	if (sl_taxii_ts_parse(v->modified, &r->version_us) != 0)
		r->version_us = 0;
	r->date_added_us = v->date_added_us;
	r->seq = v->seq;
	r->erased = v->erased;
	vl->n++;
	return 0;
}

static const struct view *find_view(const struct sl_taxii_store_ledger *st, const char *coll)
{
	for (size_t i = 0; i < st->nviews; i++)
		if (strcmp(st->views[i].collection, coll) == 0)
			return &st->views[i];
	return NULL;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool visible(const struct sl_taxii_store_ledger *st, const char *partner, const char *coll,
                    const struct vrec *r)
{
	json_t *obj;
	bool ok;

	/* An erased version is a tombstone: never served. */
	if (r->erased)
		return false;
	if (!st->filter)
		return true;
	obj = json_loadb(r->json, r->json_len, 0, NULL);
	if (!obj)
		return false;
	ok = st->filter(st->filter_arg, partner, coll, obj);
	json_decref(obj);
	return ok;
}

static bool type_ok(const struct view *vw, const struct sl_taxii_filter *f, const char *type)
{
	if (vw && vw->n_types && !in_list(type, (const char *const *)vw->types, vw->n_types))
		return false;
	return !f->n_types || in_list(type, f->types, f->n_types);
}

static bool spec_ok(const struct sl_taxii_filter *f, const struct vrec *r)
{
	/* The ledger keeps one spec version per (id, modified), STIX 2.1 in practice: with no
	 * match[spec_version] every stored version is its object's latest spec version. */
	return !f->n_spec_versions || in_list(r->spec, f->spec_versions, f->n_spec_versions);
}

static unsigned version_flags(const struct sl_taxii_filter *f)
{
	return !f->version_flags && !f->n_versions ? SL_TAXII_VERSION_LAST : f->version_flags;
}

/* Does r pass match[version], judged among the versions of its id the partner sees? all is the
 * versions of r->id (oldest first), or NULL to read them from the ledger. */
static int version_ok(struct sl_taxii_store_ledger *st, const char *partner, const char *coll,
                      const struct sl_taxii_filter *f, const struct vrec *r,
                      const struct vlist *all, bool *ok, struct sl_err *err)
{
	unsigned flags = version_flags(f);
	struct vlist own = {0};
	bool first = true, last = true;

	*ok = false;
	if (flags & SL_TAXII_VERSION_ALL) {
		*ok = true;
		return 0;
	}
	for (size_t i = 0; i < f->n_versions; i++)
		if (f->versions_us[i] == r->version_us) {
			*ok = true;
			return 0;
		}
	if (!(flags & (SL_TAXII_VERSION_FIRST | SL_TAXII_VERSION_LAST)))
		return 0;
	if (!all) {
		int rc = id_versions(st, partner, r->id, collect, &own, err);

		if (rc != 0 || own.oom) {
			vlist_free(&own);
			return rc ? rc : sl_err_set(err, SL_ENOMEM, r->id, "out of memory");
		}
		all = &own;
	}
	for (size_t i = 0; i < all->n; i++) {
		const struct vrec *v = &all->v[i];

		if (v->version_us == r->version_us || !spec_ok(f, v) ||
		    !visible(st, partner, coll, v))
			continue;
		if (v->version_us < r->version_us)
			first = false;
		else
			last = false;
	}
	vlist_free(&own);
	*ok = ((flags & SL_TAXII_VERSION_FIRST) && first) ||
	      ((flags & SL_TAXII_VERSION_LAST) && last);
	return 0;
}

static bool after(int64_t d, int64_t s, int64_t ad, int64_t as)
{
	return d > ad || (d == ad && s > as);
}

static int emit_rec(sl_taxii_emit emit, void *arg, const struct vrec *r, bool want_json)
{
	struct sl_taxii_record out = {
	    .id = r->id,
	    .version = r->version,
	    .spec_version = r->spec,
	    .media_type = strcmp(r->spec, "2.0") == 0 ? "application/stix+json;version=2.0"
	                                              : "application/stix+json;version=2.1",
	    .date_added_us = r->date_added_us,
	    .seq = (uint64_t)r->seq,
	    .json = want_json ? r->json : NULL,
	    .json_len = want_json ? r->json_len : 0,
	};

	return emit(arg, &out);
}

static int cmp_pos(const void *a, const void *b)
{
	const struct vrec *x = a, *y = b;

	if (x->date_added_us != y->date_added_us)
		return x->date_added_us < y->date_added_us ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* match[id]: read each id's versions, judge them with full knowledge, merge in (date_added, seq).
 */
static int page_by_ids(struct sl_taxii_store_ledger *st, const char *partner, const char *coll,
                       const struct view *vw, const struct sl_taxii_filter *f, int64_t ad,
                       int64_t as, size_t limit, bool want_json, sl_taxii_emit emit, void *emit_arg,
                       struct sl_taxii_page_end *end, struct sl_err *err)
{
	struct vlist picked = {0}, one = {0};
	size_t emitted = 0;
	int rc = 0;

	for (size_t k = 0; k < f->n_ids && rc == 0; k++) {
		vlist_clear(&one);
		bool *keep;

		rc = id_versions(st, partner, f->ids[k], collect, &one, err);
		if (rc == 0 && one.oom)
			rc = sl_err_set(err, SL_ENOMEM, f->ids[k], "out of memory");
		if (rc)
			break;
		keep = calloc(one.n ? one.n : 1, sizeof(*keep));
		if (!keep) {
			rc = sl_err_set(err, SL_ENOMEM, f->ids[k], "out of memory");
			break;
		}
		/* Judge every version before moving any out of `one`: first/last look at all. */
		for (size_t i = 0; rc == 0 && i < one.n; i++) {
			struct vrec *r = &one.v[i];

			keep[i] = false;
			if (!after(r->date_added_us, r->seq, ad, as) || !type_ok(vw, f, r->type) ||
			    !spec_ok(f, r) || !visible(st, partner, coll, r))
				continue;
			rc = version_ok(st, partner, coll, f, r, &one, &keep[i], err);
		}
		for (size_t i = 0; rc == 0 && i < one.n; i++) {
			if (!keep[i])
				continue;
			if (picked.n == picked.cap) {
				size_t cap = picked.cap ? picked.cap * 2 : 16;
				struct vrec *nv = realloc(picked.v, cap * sizeof(*nv));

				if (!nv) {
					rc = sl_err_set(err, SL_ENOMEM, f->ids[k], "out of memory");
					break;
				}
				picked.v = nv;
				picked.cap = cap;
			}
			/* Move the copy over; one's slot no longer owns it. */
			picked.v[picked.n++] = one.v[i];
			memset(&one.v[i], 0, sizeof(one.v[i]));
		}
		free(keep);
	}
	vlist_free(&one);
	if (rc == 0) {
		qsort(picked.v, picked.n, sizeof(*picked.v), cmp_pos);
		for (size_t i = 0; i < picked.n; i++) {
			if (emitted == limit) {
				end->more = true;
				break;
			}
			if (emit_rec(emit, emit_arg, &picked.v[i], want_json) != 0) {
				rc = sl_err_set(err, SL_EIO, coll,
				                "the response could not be written");
				break;
			}
			emitted++;
		}
	}
	vlist_free(&picked);
	return rc;
}

/* A fast 64-bit hash, 8 bytes at a time with a final mix. */
static uint64_t hash_str(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

/* ---- audit off the request path ------------------------------------------------------------- */

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void alist_clear(struct alist *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].id);
		free(a->v[i].version);
		free(a->v[i].dest);
		free(a->v[i].rule);
	}
	a->n = 0;
	if (a->hidx)
		memset(a->hidx, 0, a->hcap * sizeof(*a->hidx));
}

static void alist_free(struct alist *a)
{
	alist_clear(a);
	free(a->v);
	free(a->hidx);
	memset(a, 0, sizeof(*a));
}

/* dr = dest_rule_hash(dest, rule), computed once per page. */
static uint64_t dest_rule_hash(const char *dest, const char *rule)
{
	return hash_str(dest) ^ (hash_str(rule) * 31);
}

static uint64_t arow_hash(uint64_t dr, const char *id, const char *version)
{
	return dr ^ hash_str(id) ^ (hash_str(version) * 961);
}

static bool arow_is(const struct arow *r, const char *dest, const char *rule, const char *id,
                    const char *version)
{
	return strcmp(r->id, id) == 0 && strcmp(r->version, version) == 0 &&
	       strcmp(r->dest, dest) == 0 && strcmp(r->rule, rule) == 0;
}

/* Rebuild a's index with room for at least want rows (a load of at most one half). */
static int alist_index(struct alist *a, size_t want)
{
	size_t cap = a->hcap ? a->hcap : 1024;
	size_t *h;

	while (cap < want * 2)
		cap *= 2;
	if (cap == a->hcap)
		return 0;
	if (!(h = calloc(cap, sizeof(*h))))
		return -1;
	for (size_t k = 0; k < a->n; k++) {
		const struct arow *r = &a->v[k];
		size_t i =
		    arow_hash(dest_rule_hash(r->dest, r->rule), r->id, r->version) & (cap - 1);

		while (h[i])
			i = (i + 1) & (cap - 1);
		h[i] = k + 1;
	}
	free(a->hidx);
	a->hidx = h;
	a->hcap = cap;
	return 0;
}

static int send_batch(struct sl_taxii_store_ledger *st, struct sl_err *err)
{
	size_t n = st->inflight.n;
	struct sl_ledger_audit *rows = calloc(n ? n : 1, sizeof(*rows));
	char(*res)[40] = calloc(n ? n : 1, sizeof(*res));
	int rc;

	if (!rows || !res) {
		free(rows);
		free(res);
		return sl_err_set(err, SL_ENOMEM, "audit", "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const struct arow *a = &st->inflight.v[i];

		if (a->count > 1)
			snprintf(res[i], sizeof(res[i]), "served %u times", a->count);
		else
			snprintf(res[i], sizeof(res[i]), "served");
		rows[i].id = a->id;
		rows[i].modified = a->version;
		rows[i].destination = a->dest;
		rows[i].decision = SL_LEDGER_ALLOW;
		rows[i].rule = a->rule;
		rows[i].result = res[i];
	}
	rc = sl_ledger_audit_send(st->side, rows, n, err);
	free(rows);
	free(res);
	return rc;
}

/* Move the audit along: send the batch out if it is not yet, collect its outcome (wait: until
 * stored), then make the pending rows the next batch when due (force: whatever is pending). A
 * batch stays until the database has stored it: a failed one is sent again (at most 3 tries per
 * call, then the error is returned and it waits for the next call). */
static int audit_pump(struct sl_taxii_store_ledger *st, bool wait, bool force, struct sl_err *err)
{
	for (int tries = 0;;) {
		bool busy = false;
		int rc;

		if (st->inflight.n) {
			if (!st->inflight_sent) {
				/* A lost connection is reset by the send. */
				if ((rc = send_batch(st, err)) != 0) {
					st->audit_err = *err;
					return rc;
				}
				st->inflight_sent = true;
				if (!wait)
					return 0;
			}
			rc = sl_ledger_audit_collect(st->side, wait, &busy, err);
			if (busy)
				return 0;
			st->inflight_sent = false;
			if (rc != 0) {
				st->audit_err = *err;
				if (++tries >= 3)
					return rc;
				continue;
			}
			alist_clear(&st->inflight);
		}
		if (!st->pending.n)
			return 0;
		if (!force && st->pending.n < AUDIT_FLUSH_ROWS &&
		    now_us() - st->pending_since_us < AUDIT_FLUSH_US)
			return 0;
		{
			struct alist t = st->inflight;

			st->inflight = st->pending;
			st->pending = t;
		}
	}
}

/* Queue the audit rows of one page. The same object version served again to the same partner
 * from the same collection before the batch goes out is one row, "served N times". */
static int audit_queue(struct sl_taxii_store_ledger *st, const char *partner,
                       const char *collection, const struct sl_taxii_served *items, size_t n,
                       struct sl_err *err)
{
	char dest[SL_TAXII_NAME_MAX + 8], rule[SL_TAXII_NAME_MAX + 32];
	struct alist *p = &st->pending;
	struct sl_err e = {0};
	uint64_t dr;

	audit_pump(st, false, false, &e);
	if (p->n + st->inflight.n + n > AUDIT_MAX_PENDING) {
		/* The database is not keeping up (or failing): wait for it, then refuse. */
		if (audit_pump(st, true, true, &e) != 0 ||
		    p->n + st->inflight.n + n > AUDIT_MAX_PENDING)
			return sl_err_set(err, SL_EDB, "audit",
			                  "served objects cannot be recorded: %s",
			                  e.msg[0] ? e.msg : "too many pending");
	}
	if (p->n + n > p->cap) {
		size_t cap = p->cap ? p->cap : 256;
		struct arow *nv;

		while (cap < p->n + n)
			cap *= 2;
		if (!(nv = realloc(p->v, cap * sizeof(*nv))))
			return sl_err_set(err, SL_ENOMEM, collection, "out of memory");
		p->v = nv;
		p->cap = cap;
	}
	if (alist_index(p, p->n + n) != 0)
		return sl_err_set(err, SL_ENOMEM, collection, "out of memory");
	if (!p->n)
		st->pending_since_us = now_us();
	snprintf(dest, sizeof(dest), "taxii:%s", partner);
	snprintf(rule, sizeof(rule), "taxii collection %s", collection);
	dr = dest_rule_hash(dest, rule);
	for (size_t k = 0; k < n; k++) {
		size_t i = arow_hash(dr, items[k].id, items[k].version) & (p->hcap - 1);
		struct arow *a;

		for (; p->hidx[i]; i = (i + 1) & (p->hcap - 1))
			if (arow_is(&p->v[p->hidx[i] - 1], dest, rule, items[k].id,
			            items[k].version))
				break;
		if (p->hidx[i]) {
			p->v[p->hidx[i] - 1].count++;
			continue;
		}
		a = &p->v[p->n];
		a->id = strdup(items[k].id);
		a->version = strdup(items[k].version);
		a->dest = strdup(dest);
		a->rule = strdup(rule);
		a->count = 1;
		if (!a->id || !a->version || !a->dest || !a->rule) {
			free(a->id);
			free(a->version);
			free(a->dest);
			free(a->rule);
			return sl_err_set(err, SL_ENOMEM, collection, "out of memory");
		}
		p->n++;
		p->hidx[i] = p->n;
	}
	audit_pump(st, false, false, &e);
	return 0;
}

/* ---- the view cache ------------------------------------------------------------------------- */

static void vcache_clear(struct sl_taxii_store_ledger *st, struct vcache *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->rows[i]);
	free(c->rows);
	free(c->hkeys);
	free(c->hrows);
	st->cache_bytes -= c->bytes;
	memset(c, 0, sizeof(*c));
}

static void caches_drop_all(struct sl_taxii_store_ledger *st)
{
	for (size_t i = 0; i < MAX_CACHES; i++)
		if (st->caches[i].used)
			vcache_clear(st, &st->caches[i]);
}

static struct crow **newest_slot(struct vcache *c, const char *id)
{
	size_t m, i;

	if ((c->hn + 1) * 2 > c->hcap) {
		size_t ncap = c->hcap ? c->hcap * 2 : 1024;
		const char **nk = calloc(ncap, sizeof(*nk));
		struct crow **nv = calloc(ncap, sizeof(*nv));

		if (!nk || !nv) {
			free(nk);
			free(nv);
			return NULL;
		}
		for (size_t k = 0; k < c->hcap; k++) {
			if (!c->hkeys[k])
				continue;
			for (i = hash_str(c->hkeys[k]) & (ncap - 1); nk[i];
			     i = (i + 1) & (ncap - 1))
				;
			nk[i] = c->hkeys[k];
			nv[i] = c->hrows[k];
		}
		free(c->hkeys);
		free(c->hrows);
		c->hkeys = nk;
		c->hrows = nv;
		c->hcap = ncap;
	}
	m = c->hcap - 1;
	for (i = hash_str(id) & m; c->hkeys[i]; i = (i + 1) & m)
		if (strcmp(c->hkeys[i], id) == 0)
			return &c->hrows[i];
	c->hkeys[i] = id;
	c->hrows[i] = NULL;
	c->hn++;
	return &c->hrows[i];
}

struct fill {
	struct sl_taxii_store_ledger *st;
	struct vcache *c;
	int oom, too_big;
};

static int cache_row(void *arg, const struct sl_ledger_version *v)
{
	struct fill *fl = arg;
	struct vcache *c = fl->c;
	size_t lid = strlen(v->id) + 1, lt = strlen(v->type ? v->type : "") + 1,
	       lv = strlen(v->modified) + 1,
	       size = sizeof(struct crow) + lid + lt + lv + v->json_len + 1;
	struct crow *r;
	char *p;
	struct crow **slot;

	if (fl->st->cache_bytes + size > fl->st->cache_max) {
		fl->too_big = 1;
		return 1;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct crow **nr = realloc(c->rows, cap * sizeof(*nr));

		if (!nr) {
			fl->oom = 1;
			return 1;
		}
		c->rows = nr;
		c->cap = cap;
	}
	if (!(r = malloc(size))) {
		fl->oom = 1;
		return 1;
	}
	p = (char *)(r + 1);
	memcpy(p, v->id, lid);
	r->id = p;
	p += lid;
	memcpy(p, v->type ? v->type : "", lt);
	r->type = p;
	p += lt;
	memcpy(p, v->modified, lv);
	r->version = p;
	p += lv;
	memcpy(p, v->json, v->json_len);
	p[v->json_len] = '\0';
	r->json = p;
	r->json_len = v->json_len;
	snprintf(r->spec, sizeof(r->spec), "%s", v->spec_version ? v->spec_version : "2.1");
	if (sl_taxii_ts_parse(v->modified, &r->version_us) != 0)
		r->version_us = 0;
	r->date_added_us = v->date_added_us;
	r->seq = v->seq;
	r->erased = v->erased;
	if (!(slot = newest_slot(c, r->id))) {
		free(r);
		fl->oom = 1;
		return 1;
	}
	/* As the database judges latest_only: no version with a later modified. */
	if (!*slot || r->version_us > (*slot)->version_us) {
		if (*slot)
			(*slot)->latest = false;
		*slot = r;
		r->latest = true;
	} else {
		r->latest = r->version_us == (*slot)->version_us;
	}
	c->rows[c->n++] = r;
	c->bytes += size;
	fl->st->cache_bytes += size;
	return 0;
}

/* Evict the least recently used cache other than keep; false when there is none. */
static bool evict_one(struct sl_taxii_store_ledger *st, const struct vcache *keep)
{
	struct vcache *lru = NULL;

	for (size_t i = 0; i < MAX_CACHES; i++) {
		struct vcache *c = &st->caches[i];

		if (c->used && c != keep && c->n && (!lru || c->last_use < lru->last_use))
			lru = c;
	}
	if (!lru)
		return false;
	vcache_clear(st, lru);
	return true;
}

/* Apply what the side connection reported. false: the cache cannot be trusted now. */
static bool side_poll(struct sl_taxii_store_ledger *st)
{
	struct sl_err e = {0};
	unsigned added, erased;

	if (!st->side || !st->listen || !st->cache_max)
		return false;
	if (!st->listening) {
		/* (Re)connect and listen; whatever was missed meanwhile is dropped. Not more than
		 * once per LISTEN_RETRY_US (a database without schema 3 would refuse every time).
		 */
		if (now_us() < st->listen_retry_at)
			return false;
		if (sl_ledger_listen(st->listen, &e) != 0) {
			st->listen_retry_at = now_us() + LISTEN_RETRY_US;
			return false;
		}
		st->listening = true;
		caches_drop_all(st);
		return true;
	}
	if (sl_ledger_notifications(st->listen, &added, &erased, &e) != 0) {
		st->listening = false;
		caches_drop_all(st);
		return false;
	}
	if (erased)
		caches_drop_all(st);
	else if (added)
		for (size_t i = 0; i < MAX_CACHES; i++)
			st->caches[i].stale = true;
	return true;
}

/* The cache of key, filled up to the last committed row; NULL = answer from the database. */
/* Read up to one batch (CACHE_FILL_ROWS) more of c from the database: the rows after the last one
 * held. c->complete says whether it now holds every committed row; false = c is unusable now
 * (too big for the budget, or the read failed: dropped). */
static bool cache_fill(struct sl_taxii_store_ledger *st, struct vcache *c)
{
	struct sl_ledger_page_query q = {0};
	struct sl_err e = {0};

	/* A view is every stored version ("") or one destination's shares (its name). */
	q.destination = c->key[0] ? c->key : NULL;
	for (;;) {
		struct fill fl = {.st = st, .c = c};
		bool more = false;
		int rc;

		if (c->n) {
			q.after_date_added_us = c->rows[c->n - 1]->date_added_us;
			q.after_seq = c->rows[c->n - 1]->seq;
		}
		rc = sl_ledger_page(st->l, &q, CACHE_FILL_ROWS, cache_row, &fl, &more, &e);
		if (fl.too_big) {
			char key[SL_TAXII_NAME_MAX];

			/* Make room from other views; a view larger than the whole budget is
			 * served from the database. */
			if (evict_one(st, c))
				continue;
			memcpy(key, c->key, sizeof(key));
			vcache_clear(st, c);
			c->used = true;
			c->too_big = true;
			memcpy(c->key, key, sizeof(key));
			return false;
		}
		if (rc != 0 || fl.oom) {
			vcache_clear(st, c);
			return false;
		}
		c->complete = !more;
		return true;
	}
}

/* The cache of key holding every committed row, or NULL: answer from the database (the view is
 * too big, or still being read: one batch per request and per timer tick, so no request waits
 * for a whole view). */
static struct vcache *cache_get(struct sl_taxii_store_ledger *st, const char *key)
{
	struct vcache *c = NULL, *free_slot = NULL;

	if (!side_poll(st))
		return NULL;
	for (size_t i = 0; i < MAX_CACHES && !c; i++) {
		if (st->caches[i].used && strcmp(st->caches[i].key, key) == 0)
			c = &st->caches[i];
		else if (!st->caches[i].used && !free_slot)
			free_slot = &st->caches[i];
	}
	if (!c) {
		if (!free_slot) {
			struct vcache *lru = NULL;

			for (size_t i = 0; i < MAX_CACHES; i++)
				if (!lru || st->caches[i].last_use < lru->last_use)
					lru = &st->caches[i];
			vcache_clear(st, lru);
			free_slot = lru;
		}
		c = free_slot;
		c->used = true;
		snprintf(c->key, sizeof(c->key), "%s", key);
	}
	c->last_use = ++st->tick;
	if (c->too_big)
		return NULL;
	if (c->stale) {
		c->stale = false;
		c->complete = false;
	}
	if (!c->complete && !cache_fill(st, c))
		return NULL;
	return c->complete ? c : NULL;
}

/* First row strictly after (ad, as). */
static size_t cache_seek(const struct vcache *c, int64_t ad, int64_t as)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct crow *r = c->rows[mid];

		if (r->date_added_us > ad || (r->date_added_us == ad && r->seq > as))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* A page from the cache, with the database path's semantics: the rows sl_ledger_page would have
 * returned (types, latest_only) are the ones examined and counted against the scan limit. */
static int cache_page(struct sl_taxii_store_ledger *st, const struct vcache *c, const char *partner,
                      const char *collection, const struct sl_taxii_filter *f,
                      const char *const *types, size_t ntypes, bool latest_only, int64_t ad,
                      int64_t as, size_t limit, bool want_json, sl_taxii_emit emit, void *emit_arg,
                      struct sl_taxii_page_end *end, struct sl_err *err)
{
	size_t emitted = 0, scanned = 0;
	const struct crow *last = NULL;

	for (size_t i = cache_seek(c, ad, as); i < c->n; i++) {
		const struct crow *r = c->rows[i];
		struct vrec v;

		if (ntypes && !in_list(r->type, types, ntypes))
			continue;
		if (latest_only && !r->latest)
			continue;
		/* A further candidate exists: stop here if the page is full or the work bound hit.
		 */
		if (last && scanned >= st->scan_limit) {
			end->more = true;
			end->has_resume = true;
			end->resume.date_added_us = last->date_added_us;
			end->resume.seq = (uint64_t)last->seq;
			return 0;
		}
		scanned++;
		last = r;
		v = (struct vrec){.id = (char *)r->id,
		                  .type = (char *)r->type,
		                  .version = (char *)r->version,
		                  .json = (char *)r->json,
		                  .json_len = r->json_len,
		                  .version_us = r->version_us,
		                  .date_added_us = r->date_added_us,
		                  .seq = r->seq,
		                  .erased = r->erased};
		memcpy(v.spec, r->spec, sizeof(v.spec));
		if (!spec_ok(f, &v) || !visible(st, partner, collection, &v))
			continue;
		if (emitted == limit) {
			end->more = true;
			return 0;
		}
		if (emit_rec(emit, emit_arg, &v, want_json) != 0)
			return sl_err_set(err, SL_EIO, collection,
			                  "the response could not be written");
		emitted++;
	}
	return 0;
}

static int op_page(void *ctx, const char *partner, const char *collection,
                   const struct sl_taxii_filter *f, size_t limit, bool want_json,
                   sl_taxii_emit emit, void *emit_arg, struct sl_taxii_page_end *end,
                   struct sl_err *err)
{
	struct sl_taxii_store_ledger *st = ctx;
	const struct view *vw = find_view(st, collection);
	struct sl_ledger_page_query q = {0};
	const char *types[SL_TAXII_MAX_LIST];
	size_t ntypes = 0, emitted = 0, scanned = 0;
	int64_t ad = 0, as = 0;
	struct vlist batch = {0};
	int rc = 0;

	end->more = false;
	/* Start strictly after both the cursor and added_after (as (A, max seq)). */
	if (f->has_added_after) {
		ad = f->added_after_us;
		as = INT64_MAX;
	}
	if (f->has_after && after(f->after.date_added_us, (int64_t)f->after.seq, ad, as)) {
		ad = f->after.date_added_us;
		as = (int64_t)f->after.seq;
	}
	if (f->n_ids)
		return page_by_ids(st, partner, collection, vw, f, ad, as, limit, want_json, emit,
		                   emit_arg, end, err);
	/* Let the ledger filter types: the view's list, narrowed by match[type]. */
	if (vw && vw->n_types) {
		for (size_t i = 0; i < vw->n_types && ntypes < SL_TAXII_MAX_LIST; i++)
			if (!f->n_types || in_list(vw->types[i], f->types, f->n_types))
				types[ntypes++] = vw->types[i];
		if (!ntypes)
			return 0;
	} else {
		for (size_t i = 0; i < f->n_types; i++)
			types[ntypes++] = f->types[i];
	}
	q.types = ntypes ? types : NULL;
	q.n_types = ntypes;
	/* The ledger knows "newest of each id" itself; anything else is judged here. With the
	 * default (last), a version the policy hides leaves its object out for that partner: the
	 * view does not fall back to an older version (one query per page, not one per object). */
	q.latest_only = version_flags(f) == SL_TAXII_VERSION_LAST && !f->n_versions;
	q.destination = st->partner_views ? partner : NULL;
	/* The cache answers what needs no per-object lookup: the default (last) and all. */
	if (q.latest_only || (version_flags(f) == SL_TAXII_VERSION_ALL && !f->n_versions)) {
		const struct vcache *c = cache_get(st, st->partner_views ? partner : "");

		if (c)
			return cache_page(st, c, partner, collection, f, q.types, q.n_types,
			                  q.latest_only, ad, as, limit, want_json, emit, emit_arg,
			                  end, err);
	}
	q.after_date_added_us = ad;
	q.after_seq = as;
	for (;;) {
		bool lmore = false;
		size_t want = limit + 1 - emitted;

		vlist_clear(&batch);
		rc = sl_ledger_page(st->l, &q, want < BATCH_MAX ? want : BATCH_MAX, collect, &batch,
		                    &lmore, err);
		if (rc == 0 && batch.oom)
			rc = sl_err_set(err, SL_ENOMEM, collection, "out of memory");
		if (rc)
			break;
		for (size_t i = 0; i < batch.n; i++) {
			const struct vrec *r = &batch.v[i];
			bool ok = q.latest_only;

			scanned++;
			q.after_date_added_us = r->date_added_us;
			q.after_seq = r->seq;
			if (!spec_ok(f, r) || !visible(st, partner, collection, r))
				goto next;
			if (!ok) {
				rc = version_ok(st, partner, collection, f, r, NULL, &ok, err);
				if (rc)
					goto out;
			}
			if (!ok)
				goto next;
			if (emitted == limit) {
				end->more = true;
				goto out;
			}
			if (emit_rec(emit, emit_arg, r, want_json) != 0) {
				rc = sl_err_set(err, SL_EIO, collection,
				                "the response could not be written");
				goto out;
			}
			emitted++;
		next:
			/* Bounded work per request: stop, and let the next page resume here. */
			if (scanned >= st->scan_limit && (i + 1 < batch.n || lmore)) {
				end->more = true;
				end->has_resume = true;
				end->resume.date_added_us = r->date_added_us;
				end->resume.seq = (uint64_t)r->seq;
				goto out;
			}
		}
		if (!lmore || batch.n == 0)
			break;
	}
out:
	vlist_free(&batch);
	return rc;
}

static int op_add(void *ctx, const char *partner, const char *collection, json_t *const *objs,
                  size_t n, struct sl_taxii_add_result *results, struct sl_err *err)
{
	struct sl_taxii_store_ledger *st = ctx;
	const struct view *vw = find_view(st, collection);
	struct sl_ledger_in *in = calloc(n ? n : 1, sizeof(*in));
	struct sl_ledger_result *lr = calloc(n ? n : 1, sizeof(*lr));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	char peer[SL_TAXII_NAME_MAX + 8];
	size_t m = 0;
	int rc = 0;

	if (!in || !lr || !idx) {
		rc = sl_err_set(err, SL_ENOMEM, collection, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *type = json_string_value(json_object_get(objs[i], "type"));

		results[i].code = 0;
		results[i].msg[0] = '\0';
		if (vw && vw->n_types &&
		    !in_list(type ? type : "", (const char *const *)vw->types, vw->n_types)) {
			results[i].code = SL_EINVAL;
			snprintf(results[i].msg, sizeof(results[i].msg),
			         "type %s does not belong in this collection", type ? type : "?");
			continue;
		}
		in[m].obj = objs[i];
		in[m].origin_id = collection;
		idx[m++] = i;
	}
	snprintf(peer, sizeof(peer), "taxii:%s", partner);
	if (m) {
		/* One transaction: all of the envelope's valid objects or (SL_EDB) none. */
		rc = st->ingest ? st->ingest(st->ingest_arg, partner, in, m, lr, err)
		                : sl_ledger_ingest(st->l, peer, in, m, NULL, lr, err);
		if (rc)
			goto out;
		for (size_t k = 0; k < m; k++) {
			struct sl_taxii_add_result *res = &results[idx[k]];

			if (lr[k].outcome == SL_LEDGER_REJECTED) {
				res->code = SL_EINVAL;
				snprintf(res->msg, sizeof(res->msg), "%s",
				         lr[k].msg[0] ? lr[k].msg : "rejected by the ledger");
			}
		}
	}
out:
	free(in);
	free(lr);
	free(idx);
	return rc;
}

static int op_delete(void *ctx, const char *partner, const char *collection, const char *id,
                     const struct sl_taxii_filter *f, size_t *n_deleted, struct sl_err *err)
{
	/* The ledger is append-only history; erasure is the GDPR path (sluice ledger erase). */
	*n_deleted = 0;
	return sl_err_set(err, SL_EUNSUPPORTED, collection,
	                  "the ledger does not delete over TAXII");
}

static int op_note_served(void *ctx, const char *partner, const char *collection,
                          const struct sl_taxii_served *items, size_t n, struct sl_err *err)
{
	struct sl_taxii_store_ledger *st = ctx;
	struct sl_ledger_audit *rows;
	char dest[SL_TAXII_NAME_MAX + 8], rule[SL_TAXII_NAME_MAX + 32];
	int rc;

	if (st->side)
		return audit_queue(st, partner, collection, items, n, err);
	if (!(rows = calloc(n ? n : 1, sizeof(*rows))))
		return sl_err_set(err, SL_ENOMEM, collection, "out of memory");
	snprintf(dest, sizeof(dest), "taxii:%s", partner);
	snprintf(rule, sizeof(rule), "taxii collection %s", collection);
	for (size_t i = 0; i < n; i++) {
		rows[i].id = items[i].id;
		rows[i].modified = items[i].version;
		rows[i].destination = dest;
		rows[i].decision = SL_LEDGER_ALLOW;
		rows[i].rule = rule;
		rows[i].result = "served";
	}
	rc = sl_ledger_audit_append(st->l, rows, n, err);
	free(rows);
	return rc;
}

static int op_authenticate(void *ctx, const struct sl_taxii_credentials *cred, char *partner,
                           size_t n, struct sl_err *err)
{
	struct sl_taxii_store_ledger *st = ctx;

	return st->dir->authenticate(st->dir_ctx, cred, partner, n, err);
}

static int op_list_collections(void *ctx, const char *partner, struct sl_taxii_collection *out,
                               size_t max, size_t *n, struct sl_err *err)
{
	struct sl_taxii_store_ledger *st = ctx;

	return st->dir->list_collections(st->dir_ctx, partner, out, max, n, err);
}

static int op_get_collection(void *ctx, const char *partner, const char *id,
                             struct sl_taxii_collection *out, struct sl_err *err)
{
	struct sl_taxii_store_ledger *st = ctx;

	return st->dir->get_collection(st->dir_ctx, partner, id, out, err);
}

static const struct sl_taxii_store_ops ledger_ops = {
    .authenticate = op_authenticate,
    .list_collections = op_list_collections,
    .get_collection = op_get_collection,
    .page = op_page,
    .add = op_add,
    .delete_object = op_delete,
    .note_served = op_note_served,
};

const struct sl_taxii_store_ops *sl_taxii_store_ledger_ops(void)
{
	return &ledger_ops;
}

struct sl_taxii_store_ledger *sl_taxii_store_ledger_new(struct sl_ledger *ledger,
                                                        const struct sl_taxii_store_ops *dir_ops,
                                                        void *dir_ctx, struct sl_err *err)
{
	struct sl_taxii_store_ledger *st;

	if (!ledger || !dir_ops || !dir_ops->authenticate || !dir_ops->list_collections ||
	    !dir_ops->get_collection) {
		sl_err_set(err, SL_EINVAL, "taxii ledger store", "needs a ledger and a directory");
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		sl_err_set(err, SL_ENOMEM, "taxii ledger store", "out of memory");
		return NULL;
	}
	st->l = ledger;
	st->dir = dir_ops;
	st->dir_ctx = dir_ctx;
	st->scan_limit = 10000;
	st->cache_max = CACHE_DEFAULT_BYTES;
	/* A side connection for notifications and the audit; without one, everything is
	 * synchronous on the main connection (still correct, slower). */
	st->side = sl_ledger_open_sibling(ledger, NULL);
	st->listen = st->side ? sl_ledger_open_sibling(ledger, NULL) : NULL;
	return st;
}

static void view_free_types(struct view *v)
{
	for (size_t i = 0; i < v->n_types; i++)
		free(v->types[i]);
	free(v->types);
	v->types = NULL;
	v->n_types = 0;
}

void sl_taxii_store_ledger_free(struct sl_taxii_store_ledger *st)
{
	if (!st)
		return;
	sl_taxii_store_ledger_detach(st);
	sl_taxii_store_ledger_flush(st, NULL);
	caches_drop_all(st);
	alist_free(&st->pending);
	alist_free(&st->inflight);
	sl_ledger_close(st->side);
	sl_ledger_close(st->listen);
	for (size_t i = 0; i < st->nviews; i++)
		view_free_types(&st->views[i]);
	free(st);
}

int sl_taxii_store_ledger_set_types(struct sl_taxii_store_ledger *st, const char *collection,
                                    const char *const *types, size_t n, struct sl_err *err)
{
	struct view *v = (struct view *)find_view(st, collection);

	if (n > SL_TAXII_MAX_LIST)
		return sl_err_set(err, SL_ELIMIT, collection, "more than %d types",
		                  SL_TAXII_MAX_LIST);
	if (!v) {
		if (st->nviews == MAX_VIEWS)
			return sl_err_set(err, SL_ELIMIT, collection, "more than %d views",
			                  MAX_VIEWS);
		v = &st->views[st->nviews++];
		snprintf(v->collection, sizeof(v->collection), "%s", collection);
	}
	view_free_types(v);
	if (!n)
		return 0;
	v->types = calloc(n, sizeof(*v->types));
	if (!v->types)
		return sl_err_set(err, SL_ENOMEM, collection, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v->types[i] = strdup(types[i]);
		if (!v->types[i]) {
			v->n_types = i;
			view_free_types(v);
			return sl_err_set(err, SL_ENOMEM, collection, "out of memory");
		}
	}
	v->n_types = n;
	return 0;
}

void sl_taxii_store_ledger_set_filter(struct sl_taxii_store_ledger *st, sl_taxii_ledger_filter f,
                                      void *arg)
{
	st->filter = f;
	st->filter_arg = arg;
}

void sl_taxii_store_ledger_set_scan_limit(struct sl_taxii_store_ledger *st, size_t max_scanned)
{
	st->scan_limit = max_scanned ? max_scanned : 1;
}

void sl_taxii_store_ledger_set_partner_views(struct sl_taxii_store_ledger *st, bool on)
{
	st->partner_views = on;
}

void sl_taxii_store_ledger_set_cache(struct sl_taxii_store_ledger *st, size_t max_bytes)
{
	caches_drop_all(st);
	st->cache_max = max_bytes;
}

int sl_taxii_store_ledger_flush(struct sl_taxii_store_ledger *st, struct sl_err *err)
{
	struct sl_err e = {0};

	if (!st->side)
		return 0;
	return audit_pump(st, true, true, err ? err : &e);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sl_taxii_store_ledger *st = arg;
	struct sl_err e = {0};

	(void)fd;
	(void)what;
	if (st->cache_max && side_poll(st)) {
		/* Go on reading one view that is still incomplete. */
		for (size_t i = 0; i < MAX_CACHES; i++) {
			struct vcache *c = &st->caches[i];

			if (c->used && !c->too_big && (c->stale || !c->complete)) {
				c->stale = false;
				c->complete = false;
				cache_fill(st, c);
				break;
			}
		}
	}
	audit_pump(st, false, false, &e);
}

int sl_taxii_store_ledger_attach(struct sl_taxii_store_ledger *st, struct event_base *base,
                                 struct sl_err *err)
{
	struct timeval tv = {0, AUDIT_FLUSH_US / 2};

	sl_taxii_store_ledger_detach(st);
	if (!st->side)
		return 0;
	if (!(st->timer = event_new(base, -1, EV_PERSIST, on_timer, st)) ||
	    event_add(st->timer, &tv) != 0) {
		sl_taxii_store_ledger_detach(st);
		return sl_err_set(err, SL_ENOMEM, "taxii ledger store", "cannot add a timer");
	}
	return 0;
}

void sl_taxii_store_ledger_detach(struct sl_taxii_store_ledger *st)
{
	if (st && st->timer) {
		event_free(st->timer);
		st->timer = NULL;
	}
}

void sl_taxii_store_ledger_set_ingest(struct sl_taxii_store_ledger *st, sl_taxii_ledger_ingest fn,
                                      void *arg)
{
	st->ingest = fn;
	st->ingest_arg = arg;
}
