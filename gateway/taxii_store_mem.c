/* taxii_store_mem.c — records kept per collection in (date_added, seq) order (append-only, deletes
 * are tombstones), plus an id -> versions hash so first/last/spec_version can be judged per object.
 */
#include "taxii_store_mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taxii_server.h"

#define MAX_COLLECTIONS 64
#define MAX_PARTNERS 64

struct rec {
	char *id;
	char *type;
	char *version;
	int64_t version_us;
	char spec_version[8];
	int64_t date_added_us;
	uint64_t seq;
	char *json;
	size_t json_len;
	bool deleted;
	struct rec *head;         /* the first version of this id (itself when it is the first) */
	struct rec *next_version; /* chain of the versions of one id */
	struct rec *next_in_bucket;
};

struct coll {
	struct sl_taxii_collection info;
	struct rec **recs; /* ordered by (date_added, seq) */
	size_t n, cap;
	struct rec **buckets; /* heads are the first version of each id */
	size_t nbuckets, nids;
};

struct partner {
	char name[SL_TAXII_NAME_MAX];
	char *user, *password, *api_key, *cert_subject;
	struct {
		size_t coll;
		bool can_read, can_write;
	} grants[MAX_COLLECTIONS];
	size_t ngrants;
	size_t served;
};

struct sl_taxii_store_mem {
	struct coll colls[MAX_COLLECTIONS];
	size_t ncolls;
	struct partner partners[MAX_PARTNERS];
	size_t npartners;
	uint64_t seq;
	sl_taxii_mem_filter filter;
	void *filter_arg;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct coll *find_coll(struct sl_taxii_store_mem *st, const char *id)
{
	for (size_t i = 0; i < st->ncolls; i++)
		if (strcmp(st->colls[i].info.id, id) == 0)
			return &st->colls[i];
	return NULL;
}

static struct partner *find_partner(struct sl_taxii_store_mem *st, const char *name)
{
	for (size_t i = 0; i < st->npartners; i++)
		if (strcmp(st->partners[i].name, name) == 0)
			return &st->partners[i];
	return NULL;
}

static struct rec *first_version(const struct coll *c, const char *id)
{
	struct rec *r;

	if (!c->nbuckets)
		return NULL;
	for (r = c->buckets[hash_str(id) & (c->nbuckets - 1)]; r; r = r->next_in_bucket)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

static int grow_buckets(struct coll *c)
{
	size_t nb = c->nbuckets ? c->nbuckets * 2 : 1024;
	struct rec **b = calloc(nb, sizeof(*b));

	if (!b)
		return SL_ENOMEM;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct rec *r = c->buckets[i], *next;

		for (; r; r = next) {
			size_t k = hash_str(r->id) & (nb - 1);

			next = r->next_in_bucket;
			r->next_in_bucket = b[k];
			b[k] = r;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
	return 0;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void rec_free(struct rec *r)
{
	free(r->id);
	free(r->type);
	free(r->version);
	free(r->json);
	free(r);
}

static bool visible(struct sl_taxii_store_mem *st, const char *partner, const struct coll *c,
                    const struct rec *r)
{
	json_t *obj;
	bool ok;

	if (r->deleted)
		return false;
	if (!st->filter)
		return true;
	obj = json_loadb(r->json, r->json_len, 0, NULL);
	if (!obj)
		return false;
	ok = st->filter(st->filter_arg, partner, c->info.id, obj);
	json_decref(obj);
	return ok;
}

/* Store one object version stamped date_added; *dup set when this exact version already exists. */
static int insert(struct sl_taxii_store_mem *st, struct coll *c, const json_t *obj,
                  int64_t date_added, char *msg, size_t msgn)
{
	const char *id = json_string_value(json_object_get(obj, "id"));
	const char *modified = json_string_value(json_object_get(obj, "modified"));
	const char *created = json_string_value(json_object_get(obj, "created"));
	const char *spec = json_string_value(json_object_get(obj, "spec_version"));
	const char *sep;
	char tsbuf[32];
	struct rec *r, *head, *v;

	if (!id || !(sep = strstr(id, "--"))) {
		snprintf(msg, msgn, "the object has no valid id");
		return SL_EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return SL_ENOMEM;
	r->id = strdup(id);
	r->type = strndup(id, (size_t)(sep - id));
	if (!modified)
		modified = created;
	if (!modified)
		modified = sl_taxii_ts_format(date_added, tsbuf, sizeof(tsbuf));
	r->version = strdup(modified);
	if (sl_taxii_ts_parse(modified, &r->version_us) != 0) {
		snprintf(msg, msgn, "modified/created is not a STIX timestamp");
		rec_free(r);
		return SL_EINVAL;
	}
	snprintf(r->spec_version, sizeof(r->spec_version), "%s", spec ? spec : "2.1");
	r->json = json_dumps(obj, JSON_COMPACT);
	if (!r->id || !r->type || !r->version || !r->json) {
		rec_free(r);
		return SL_ENOMEM;
	}
	r->json_len = strlen(r->json);
	head = first_version(c, id);
	for (v = head; v; v = v->next_version) {
		if (!v->deleted && v->version_us == r->version_us &&
		    strcmp(v->spec_version, r->spec_version) == 0) {
			int same = strcmp(v->json, r->json) == 0;

			rec_free(r);
			if (same)
				return 0; /* exact duplicate: not an error (TAXII 2.1 5.4) */
			snprintf(msg, msgn,
			         "a different object with this id and version is stored");
			return SL_ECONFLICT;
		}
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		struct rec **nr = realloc(c->recs, ncap * sizeof(*nr));

		if (!nr) {
			rec_free(r);
			return SL_ENOMEM;
		}
		c->recs = nr;
		c->cap = ncap;
	}
	if (c->n && date_added < c->recs[c->n - 1]->date_added_us)
		date_added = c->recs[c->n - 1]->date_added_us;
	r->date_added_us = date_added;
	r->seq = ++st->seq;
	if (head) {
		for (v = head; v->next_version; v = v->next_version)
			;
		v->next_version = r;
		r->head = head;
	} else {
		r->head = r;
		size_t k;

		if (c->nids + 1 > c->nbuckets && grow_buckets(c) != 0) {
			rec_free(r);
			return SL_ENOMEM;
		}
		k = hash_str(id) & (c->nbuckets - 1);
		r->next_in_bucket = c->buckets[k];
		c->buckets[k] = r;
		c->nids++;
	}
	c->recs[c->n++] = r;
	return 0;
}

struct sl_taxii_store_mem *sl_taxii_store_mem_new(void)
{
	return calloc(1, sizeof(struct sl_taxii_store_mem));
}

void sl_taxii_store_mem_free(struct sl_taxii_store_mem *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->ncolls; i++) {
		for (size_t j = 0; j < st->colls[i].n; j++)
			rec_free(st->colls[i].recs[j]);
		free(st->colls[i].recs);
		free(st->colls[i].buckets);
	}
	for (size_t i = 0; i < st->npartners; i++) {
		free(st->partners[i].user);
		free(st->partners[i].password);
		free(st->partners[i].api_key);
		free(st->partners[i].cert_subject);
	}
	free(st);
}

int sl_taxii_store_mem_add_collection(struct sl_taxii_store_mem *st, const char *id,
                                      const char *title, const char *description, const char *alias,
                                      struct sl_err *err)
{
	struct coll *c;

	if (st->ncolls >= MAX_COLLECTIONS)
		return sl_err_set(err, SL_ELIMIT, id, "more than %d collections", MAX_COLLECTIONS);
	if (find_coll(st, id))
		return sl_err_set(err, SL_ECONFLICT, id, "collection exists");
	c = &st->colls[st->ncolls++];
	snprintf(c->info.id, sizeof(c->info.id), "%s", id);
	snprintf(c->info.title, sizeof(c->info.title), "%s", title ? title : id);
	snprintf(c->info.description, sizeof(c->info.description), "%s",
	         description ? description : "");
	snprintf(c->info.alias, sizeof(c->info.alias), "%s", alias ? alias : "");
	return 0;
}

int sl_taxii_store_mem_add_partner(struct sl_taxii_store_mem *st, const char *name,
                                   const char *user, const char *password, const char *api_key,
                                   struct sl_err *err)
{
	struct partner *p;

	if (st->npartners >= MAX_PARTNERS)
		return sl_err_set(err, SL_ELIMIT, name, "more than %d partners", MAX_PARTNERS);
	p = &st->partners[st->npartners++];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->user = user ? strdup(user) : NULL;
	p->password = password ? strdup(password) : NULL;
	p->api_key = api_key ? strdup(api_key) : NULL;
	return 0;
}

int sl_taxii_store_mem_set_cert_subject(struct sl_taxii_store_mem *st, const char *partner,
                                        const char *subject, struct sl_err *err)
{
	struct partner *p = find_partner(st, partner);

	if (!p)
		return sl_err_set(err, SL_ENOTFOUND, partner, "no such partner");
	free(p->cert_subject);
	p->cert_subject = strdup(subject);
	return p->cert_subject ? 0 : sl_err_set(err, SL_ENOMEM, partner, "out of memory");
}

int sl_taxii_store_mem_grant(struct sl_taxii_store_mem *st, const char *partner,
                             const char *collection, bool can_read, bool can_write,
                             struct sl_err *err)
{
	struct partner *p = find_partner(st, partner);
	struct coll *c = find_coll(st, collection);

	if (!p || !c)
		return sl_err_set(err, SL_ENOTFOUND, p ? collection : partner, "no such %s",
		                  p ? "collection" : "partner");
	p->grants[p->ngrants].coll = (size_t)(c - st->colls);
	p->grants[p->ngrants].can_read = can_read;
	p->grants[p->ngrants].can_write = can_write;
	p->ngrants++;
	return 0;
}

void sl_taxii_store_mem_set_filter(struct sl_taxii_store_mem *st, sl_taxii_mem_filter f, void *arg)
{
	st->filter = f;
	st->filter_arg = arg;
}

int sl_taxii_store_mem_put(struct sl_taxii_store_mem *st, const char *collection, const char *json,
                           int64_t date_added_us, struct sl_err *err)
{
	struct coll *c = find_coll(st, collection);
	char msg[SL_TAXII_MSG_MAX] = "";
	json_t *obj;
	int rc;

	if (!c)
		return sl_err_set(err, SL_ENOTFOUND, collection, "no such collection");
	obj = json_loads(json, 0, NULL);
	if (!obj || !json_is_object(obj)) {
		json_decref(obj);
		return sl_err_set(err, SL_EINVAL, collection, "not a JSON object");
	}
	rc = insert(st, c, obj, date_added_us ? date_added_us : now_us(), msg, sizeof(msg));
	json_decref(obj);
	if (rc)
		return sl_err_set(err, rc, collection, "%s", msg[0] ? msg : "cannot store");
	return 0;
}

size_t sl_taxii_store_mem_served(const struct sl_taxii_store_mem *st, const char *partner)
{
	for (size_t i = 0; i < st->npartners; i++)
		if (strcmp(st->partners[i].name, partner) == 0)
			return st->partners[i].served;
	return 0;
}

/* ---- the ops ---- */

static bool same_secret(const char *a, const char *b)
{
	size_t la, lb;

	if (!a || !b)
		return false;
	la = strlen(a);
	lb = strlen(b);
	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static int op_authenticate(void *ctx, const struct sl_taxii_credentials *cred, char *partner,
                           size_t n, struct sl_err *err)
{
	struct sl_taxii_store_mem *st = ctx;

	for (size_t i = 0; i < st->npartners; i++) {
		struct partner *p = &st->partners[i];
		bool ok = false;

		/* Credentials in the request decide; a certificate only stands in for none. */
		if (cred->user)
			ok = p->user && strcmp(cred->user, p->user) == 0 &&
			     same_secret(cred->password, p->password);
		else if (cred->bearer)
			ok = p->api_key && same_secret(cred->bearer, p->api_key);
		else if (cred->cert_subject)
			ok = p->cert_subject && strcmp(cred->cert_subject, p->cert_subject) == 0;
		if (ok) {
			snprintf(partner, n, "%s", p->name);
			return 0;
		}
	}
	return sl_err_set(err, SL_ENOTFOUND, "taxii auth", "unknown credentials");
}

static int grant_of(struct sl_taxii_store_mem *st, const char *partner, const char *id,
                    struct sl_taxii_collection *out)
{
	struct partner *p = find_partner(st, partner);

	if (!p)
		return SL_ENOTFOUND;
	for (size_t i = 0; i < p->ngrants; i++) {
		struct coll *c = &st->colls[p->grants[i].coll];

		if (id && strcmp(c->info.id, id) != 0)
			continue;
		*out = c->info;
		out->can_read = p->grants[i].can_read;
		out->can_write = p->grants[i].can_write;
		return 0;
	}
	return SL_ENOTFOUND;
}

static int op_list_collections(void *ctx, const char *partner, struct sl_taxii_collection *out,
                               size_t max, size_t *n, struct sl_err *err)
{
	struct sl_taxii_store_mem *st = ctx;
	struct partner *p = find_partner(st, partner);

	*n = 0;
	if (!p)
		return 0;
	for (size_t i = 0; i < p->ngrants && *n < max; i++) {
		struct coll *c = &st->colls[p->grants[i].coll];

		out[*n] = c->info;
		out[*n].can_read = p->grants[i].can_read;
		out[*n].can_write = p->grants[i].can_write;
		(*n)++;
	}
	return 0;
}

static int op_get_collection(void *ctx, const char *partner, const char *id,
                             struct sl_taxii_collection *out, struct sl_err *err)
{
	if (grant_of(ctx, partner, id, out) != 0)
		return sl_err_set(err, SL_ENOTFOUND, id, "no such collection");
	return 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool spec_ok(struct sl_taxii_store_mem *st, const char *partner, const struct coll *c,
                    const struct rec *head, const struct rec *r, const struct sl_taxii_filter *f)
{
	if (f->n_spec_versions)
		return in_list(r->spec_version, f->spec_versions, f->n_spec_versions);
	/* Default: only the latest spec version the partner can see of this object. */
	for (const struct rec *v = head; v; v = v->next_version)
		if (v != r && strcmp(v->spec_version, r->spec_version) > 0 &&
		    visible(st, partner, c, v))
			return false;
	return true;
}

static bool version_ok(struct sl_taxii_store_mem *st, const char *partner, const struct coll *c,
                       const struct rec *r, const struct sl_taxii_filter *f)
{
	unsigned flags = f->version_flags;
	const struct rec *head;
	bool is_first = true, is_last = true;

	if (!flags && !f->n_versions)
		flags = SL_TAXII_VERSION_LAST;
	head = r->head;
	/* The common case, one version: it is its own first, last and latest spec version. */
	if (head == r && !r->next_version) {
		if (f->n_spec_versions &&
		    !in_list(r->spec_version, f->spec_versions, f->n_spec_versions))
			return false;
		if (flags & (SL_TAXII_VERSION_ALL | SL_TAXII_VERSION_FIRST | SL_TAXII_VERSION_LAST))
			return true;
		for (size_t i = 0; i < f->n_versions; i++)
			if (f->versions_us[i] == r->version_us)
				return true;
		return false;
	}
	if (!spec_ok(st, partner, c, head, r, f))
		return false;
	if (flags & SL_TAXII_VERSION_ALL)
		return true;
	for (size_t i = 0; i < f->n_versions; i++)
		if (f->versions_us[i] == r->version_us)
			return true;
	if (!(flags & (SL_TAXII_VERSION_FIRST | SL_TAXII_VERSION_LAST)))
		return false;
	for (const struct rec *v = head; v; v = v->next_version) {
		bool older = v->version_us < r->version_us;

		if (v->version_us == r->version_us || (older && !is_first) || (!older && !is_last))
			continue;
		if (!visible(st, partner, c, v) || !spec_ok(st, partner, c, head, v, f))
			continue;
		if (older)
			is_first = false;
		else
			is_last = false;
	}
	return ((flags & SL_TAXII_VERSION_FIRST) && is_first) ||
	       ((flags & SL_TAXII_VERSION_LAST) && is_last);
}

/* First index whose record is after the cursor and the added_after bound. */
static size_t lower_bound(const struct coll *c, const struct sl_taxii_filter *f)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rec *r = c->recs[mid];
		bool before = false;

		if (f->has_added_after && r->date_added_us <= f->added_after_us)
			before = true;
		if (f->has_after &&
		    (r->date_added_us < f->after.date_added_us ||
		     (r->date_added_us == f->after.date_added_us && r->seq <= f->after.seq)))
			before = true;
		if (before)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int op_page(void *ctx, const char *partner, const char *collection,
                   const struct sl_taxii_filter *f, size_t limit, bool want_json,
                   sl_taxii_emit emit, void *emit_arg, struct sl_taxii_page_end *end,
                   struct sl_err *err)
{
	struct sl_taxii_store_mem *st = ctx;
	struct coll *c = find_coll(st, collection);
	size_t emitted = 0;

	end->more = false;
	if (!c)
		return sl_err_set(err, SL_ENOTFOUND, collection, "no such collection");
	for (size_t i = lower_bound(c, f); i < c->n; i++) {
		const struct rec *r = c->recs[i];
		struct sl_taxii_record out;

		if (r->deleted)
			continue;
		if (f->n_ids && !in_list(r->id, f->ids, f->n_ids))
			continue;
		if (f->n_types && !in_list(r->type, f->types, f->n_types))
			continue;
		if (!visible(st, partner, c, r) || !version_ok(st, partner, c, r, f))
			continue;
		if (emitted == limit) {
			end->more = true;
			break;
		}
		out.id = r->id;
		out.version = r->version;
		out.spec_version = r->spec_version;
		out.media_type = strcmp(r->spec_version, "2.0") == 0
		                     ? "application/stix+json;version=2.0"
		                     : "application/stix+json;version=2.1";
		out.date_added_us = r->date_added_us;
		out.seq = r->seq;
		out.json = want_json ? r->json : NULL;
		out.json_len = want_json ? r->json_len : 0;
		if (emit(emit_arg, &out) != 0)
			return sl_err_set(err, SL_EIO, collection,
			                  "the response could not be written");
		emitted++;
	}
	return 0;
}

static int op_add(void *ctx, const char *partner, const char *collection, json_t *const *objs,
                  size_t n, struct sl_taxii_add_result *results, struct sl_err *err)
{
	struct sl_taxii_store_mem *st = ctx;
	struct coll *c = find_coll(st, collection);
	int64_t when = now_us();

	if (!c)
		return sl_err_set(err, SL_ENOTFOUND, collection, "no such collection");
	for (size_t i = 0; i < n; i++) {
		results[i].msg[0] = '\0';
		results[i].code =
		    insert(st, c, objs[i], when, results[i].msg, sizeof(results[i].msg));
		if (results[i].code && !results[i].msg[0])
			snprintf(results[i].msg, sizeof(results[i].msg), "%s",
			         sl_err_code_name(results[i].code));
	}
	return 0;
}

static int op_delete(void *ctx, const char *partner, const char *collection, const char *id,
                     const struct sl_taxii_filter *f, size_t *n_deleted, struct sl_err *err)
{
	struct sl_taxii_store_mem *st = ctx;
	struct coll *c = find_coll(st, collection);
	struct rec *match[256];
	size_t nm = 0;

	*n_deleted = 0;
	if (!c)
		return sl_err_set(err, SL_ENOTFOUND, collection, "no such collection");
	/* Judge every version first, then delete: deleting `last` must not make another one last.
	 */
	for (struct rec *v = first_version(c, id); v && nm < 256; v = v->next_version)
		if (visible(st, partner, c, v) && version_ok(st, partner, c, v, f))
			match[nm++] = v;
	for (size_t i = 0; i < nm; i++)
		match[i]->deleted = true;
	*n_deleted = nm;
	return 0;
}

static int op_note_served(void *ctx, const char *partner, const char *collection,
                          const struct sl_taxii_served *items, size_t n, struct sl_err *err)
{
	struct partner *p = find_partner(ctx, partner);

	if (p)
		p->served += n;
	return 0;
}

static const struct sl_taxii_store_ops mem_ops = {
    .authenticate = op_authenticate,
    .list_collections = op_list_collections,
    .get_collection = op_get_collection,
    .page = op_page,
    .add = op_add,
    .delete_object = op_delete,
    .note_served = op_note_served,
};

const struct sl_taxii_store_ops *sl_taxii_store_mem_ops(void)
{
	return &mem_ops;
}
