/* taxii_store_ledger.c — the ledger has no collections: a collection is a view (optional type list
 * + the policy filter) over every stored version. Pages scan sl_ledger_page from the cursor,
 * copying each batch before judging it (judging may query the ledger again, e.g. for first/last),
 * and stop after limit+1 matches or the scan limit. match[id] requests read the ids' versions
 * directly. */
#include "taxii_store_ledger.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taxii_server.h"

#define MAX_VIEWS 64
#define BATCH_MAX 1000

struct view {
	char collection[SL_TAXII_NAME_MAX];
	char **types;
	size_t n_types;
};

struct sl_taxii_store_ledger {
	struct sl_ledger *l;
	const struct sl_taxii_store_ops *dir;
	void *dir_ctx;
	struct view views[MAX_VIEWS];
	size_t nviews;
	sl_taxii_ledger_filter filter;
	void *filter_arg;
	size_t scan_limit;
	bool partner_views; /* each partner reads its own view (the shares decided for it) */
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
		rc = sl_ledger_ingest(st->l, peer, in, m, NULL, lr, err);
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
	struct sl_ledger_audit *rows = calloc(n ? n : 1, sizeof(*rows));
	char dest[SL_TAXII_NAME_MAX + 8], rule[SL_TAXII_NAME_MAX + 32];
	int rc;

	if (!rows)
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
