/* pipeline.c — peer input -> mapper -> ledger -> policy per destination -> shares, audit and
 * outbox. */
#include "pipeline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "decision.h"
#include "misp2stix.h"

struct sl_pipeline {
	struct sl_ledger *ledger;
	const struct sl_policy *policy;
	json_t *pull; /* set of pull-only destination names */
	/* decide_all's share rows and ids, kept from one bundle to the next (a bundle's rows are
	 * hundreds of KB: a new block per bundle cost fresh pages, and freeing it made malloc
	 * consolidate its free lists) */
	struct sl_ledger_share *rows;
	const char **ids;
	size_t rows_cap, ids_cap;
	/* a second connection to the ledger, opened for the first bundle large enough to record
	 * its decisions in two halves at once (record_all) */
	struct sl_ledger *second;
};

#define ROWS_KEPT_MAX (4u << 20) /* bytes of share rows (or ids) kept between bundles */
/* Decisions from which a bundle's are recorded by two connections at once: two slices of the
 * ledger's (8,192 rows); an ordinary bundle's (a MISP event of 20 attributes, 20 destinations:
 * about 1,400) stay on one. */
#define RECORD_SPLIT_MIN 16384

struct sl_pipeline *sl_pipeline_new(struct sl_ledger *ledger, const struct sl_policy *policy,
                                    struct sl_err *err)
{
	struct sl_pipeline *p = calloc(1, sizeof(*p));

	if (!p || !(p->pull = json_object())) {
		free(p);
		sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
		return NULL;
	}
	p->ledger = ledger;
	p->policy = policy;
	return p;
}

void sl_pipeline_free(struct sl_pipeline *p)
{
	if (!p)
		return;
	json_decref(p->pull);
	free(p->rows);
	free(p->ids);
	sl_ledger_close(p->second);
	free(p);
}

int sl_pipeline_set_pull(struct sl_pipeline *p, const char *destination, struct sl_err *err)
{
	if (!sl_policy_dest_find(p->policy, destination))
		return sl_err_set(err, SL_ENOTFOUND, destination,
		                  "no such destination in the policy");
	return json_object_set_new(p->pull, destination, json_true()) ? SL_ENOMEM : SL_OK;
}

/* The version key the ledger uses: modified, else created, else (SCOs) the epoch. */
static const char *version_of(const char *modified, const char *created)
{
	return modified ? modified : created ? created : "1970-01-01T00:00:00Z";
}

static enum sl_ledger_decision ledger_decision(enum sl_policy_verdict v)
{
	switch (v) {
	case SL_POLICY_ALLOW:
		return SL_LEDGER_ALLOW;
	case SL_POLICY_ALLOW_CHANGED:
		return SL_LEDGER_ALLOW_WITH_CHANGES;
	default:
		return SL_LEDGER_DENY;
	}
}

/* One half of a bundle's decisions, recorded on a thread of its own. */
struct half {
	struct sl_ledger *ledger;
	struct sl_ledger_share *rows;
	size_t n, n_new;
	int rc;
	struct sl_err err;
};

static void *record_half(void *arg)
{
	struct half *h = arg;

	h->rc = sl_ledger_share_record(h->ledger, h->rows, h->n, &h->n_new, &h->err);
	return NULL;
}

/* Record rows[0..n), grouped by destination, as sl_ledger_share_record does. A large bundle (a
 * 10,000-attribute event: 100,000 decisions, 5 s of PostgreSQL work on one backend) is recorded
 * in two halves, split between destinations, by two connections at once: each half in one
 * transaction, so each destination's decisions are recorded whole or not at all, and when one
 * half fails the caller's retry finds the other's recorded (a decision is recorded once). */
static int record_all(struct sl_pipeline *p, struct sl_ledger_share *rows, size_t n, size_t *n_new,
                      struct sl_err *err)
{
	struct half h = {0};
	pthread_t t;
	size_t k;
	int rc;

	*n_new = 0;
	if (n < RECORD_SPLIT_MIN)
		return sl_ledger_share_record(p->ledger, rows, n, n_new, err);
	/* the first destination boundary at or after the middle */
	for (k = n / 2; k < n && strcmp(rows[k].destination, rows[k - 1].destination) == 0; k++)
		;
	if (k == n) /* one destination: one transaction */
		return sl_ledger_share_record(p->ledger, rows, n, n_new, err);
	if (!p->second) {
		struct sl_err e2 = {0};
		if (!(p->second = sl_ledger_open_sibling(p->ledger, &e2)))
			return sl_ledger_share_record(p->ledger, rows, n, n_new, err);
	}
	h.ledger = p->second;
	h.rows = rows + k;
	h.n = n - k;
	if (pthread_create(&t, NULL, record_half, &h) != 0)
		return sl_ledger_share_record(p->ledger, rows, n, n_new, err);
	rc = sl_ledger_share_record(p->ledger, rows, k, n_new, err);
	pthread_join(t, NULL);
	if (rc == 0 && h.rc < 0) {
		*err = h.err;
		rc = h.rc;
	}
	*n_new += h.n_new;
	return rc;
}

/* Decide the bundle for every destination at once (each object's facts read once; the decisions
 * come as rows of plain data) and record, in one transaction, every decision not recorded before
 * — except for the peer the bundle came from. */
static int decide_all(struct sl_pipeline *p, const char *peer, const json_t *bundle,
                      const json_t *sgs, size_t nown, const struct sl_ledger_result *res,
                      long long now, struct sl_pipeline_stats *st, struct sl_err *err)
{
	size_t nd = sl_policy_dest_count(p->policy), ndec, d, i, n = 0, n_new = 0;
	const json_t *objs = json_object_get(bundle, "objects");
	struct sl_policy_rows *dr = NULL;
	struct sl_ledger_share *rows;
	const char **ids;
	int rc;

	/* changed objects come as their JSON text, the payload the ledger stores: no changed tree
	 * is built, freed and serialised again */
	rc = sl_policy_decide_bundle_rows_sg(p->policy, bundle, sgs, now, SL_POLICY_ROWS_TEXT, &dr,
	                                     err);
	if (rc < 0)
		goto done;
	ndec = sl_policy_rows_count(dr);
	if (ndec > nown) /* the objects after the first nown are context (with_context) */
		ndec = nown;
	/* not zeroed: every field is set below, and zeroing nd * ndec rows cost more than the
	 * policy's decisions */
	if (nd * ndec + 1 > p->rows_cap) {
		free(p->rows);
		p->rows_cap = 0;
		if (!(p->rows = malloc((nd * ndec + 1) * sizeof(*p->rows)))) {
			rc = sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
			goto done;
		}
		p->rows_cap = nd * ndec + 1;
	}
	if (2 * (ndec + 1) > p->ids_cap) {
		free(p->ids);
		p->ids_cap = 0;
		if (!(p->ids = malloc(2 * (ndec + 1) * sizeof(*p->ids)))) {
			rc = sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
			goto done;
		}
		p->ids_cap = 2 * (ndec + 1);
	}
	rows = p->rows;
	ids = p->ids;
	/* each object's id and version once, not once per destination, as the policy read them
	 * with the object's facts (three lookups per object cost a third of filling its rows) */
	for (i = 0; i < ndec; i++) {
		const char *m, *c;
		sl_policy_rows_object(dr, i, &ids[2 * i], &m, &c);
		ids[2 * i + 1] = version_of(m, c);
	}
	for (d = 0; d < nd; d++) {
		const char *dname = sl_policy_dest_name(sl_policy_dest_at(p->policy, d));
		const struct sl_policy_row *pr = sl_policy_rows_dest(dr, d);
		int deliver = !json_object_get(p->pull, dname);

		if (peer && strcmp(dname, peer) == 0)
			continue; /* never back to the peer it came from */
		for (i = 0; i < ndec; i++) {
			if (res[i].outcome == SL_LEDGER_REJECTED)
				continue; /* quarantined: nothing of it goes anywhere */
			rows[n].destination = dname;
			rows[n].id = ids[2 * i];
			rows[n].modified = ids[2 * i + 1];
			rows[n].decision = ledger_decision(pr[i].verdict);
			rows[n].rule = pr[i].rule;
			rows[n].changes = pr[i].changes;
			/* a changed object's text is what goes; the input object gives its type */
			rows[n].obj = pr[i].text ? json_array_get(objs, i) : pr[i].obj;
			rows[n].payload = pr[i].text;
			rows[n].deliver = deliver;
			rows[n].recorded = false;
			n++;
		}
	}
	rc = record_all(p, rows, n, &n_new, err);
	if (rc < 0)
		goto done;
	/* Count only what this call decided for the first time. */
	for (i = 0; st && n_new && i < n; i++) {
		if (!rows[i].recorded)
			continue;
		if (rows[i].decision == SL_LEDGER_ALLOW)
			st->allowed++;
		else if (rows[i].decision == SL_LEDGER_ALLOW_WITH_CHANGES)
			st->changed++;
		else
			st->denied++;
	}
done:
	/* the rows of an ordinary bundle are kept for the next; a 10,000-attribute event's (100,000
	 * rows, 10 MB) are not held for the rest of the run */
	if (p->rows_cap * sizeof(*p->rows) > ROWS_KEPT_MAX) {
		free(p->rows);
		p->rows = NULL;
		p->rows_cap = 0;
	}
	if (p->ids_cap * sizeof(*p->ids) > ROWS_KEPT_MAX) {
		free(p->ids);
		p->ids = NULL;
		p->ids_cap = 0;
	}
	sl_policy_rows_free(dr);
	return rc;
}

static bool is_container(const json_t *o)
{
	const char *t = json_string_value(json_object_get(o, "type"));
	return t && (strcmp(t, "report") == 0 || strcmp(t, "grouping") == 0);
}

/* An object that comes without the report or grouping that lists it (edited on its own at
 * OpenCTI or a TAXII partner) is decided with the newest stored version of each container the
 * ledger knows lists it: their markings, labels, creator and MISP distribution apply to it as they
 * did when it came inside them. Decided alone, an object without markings of its own would be
 * refused everywhere, and one marked laxer than its event would go where the event may not.
 * Returns a new bundle, bundle's objects followed by those containers (context: decided, never
 * recorded), or NULL with err clear when no object needs any (marking definitions and identities
 * are what objects refer to, never decided with a container), NULL with err set on failure. */
static json_t *with_context(struct sl_pipeline *p, const json_t *bundle, struct sl_err *err)
{
	const json_t *objs = json_object_get(bundle, "objects"), *o, *refs, *r, *cs;
	json_t *listed = json_object(), *out = NULL, *all = NULL, *x;
	const char **loose = NULL, *id, *k;
	size_t i, j, n = 0;

	if (!listed || !(loose = malloc((json_array_size(objs) + 1) * sizeof(*loose))))
		goto oom;
	json_array_foreach(objs, i, o)
	{
		if (!is_container(o))
			continue;
		refs = json_object_get(o, "object_refs");
		json_array_foreach(refs, j, r)
		{
			if (json_is_string(r) &&
			    json_object_set(listed, json_string_value(r), json_null()) < 0)
				goto oom;
		}
		if ((id = json_string_value(json_object_get(o, "id"))) &&
		    json_object_set(listed, id, json_true()) < 0)
			goto oom;
	}
	json_array_foreach(objs, i, o)
	{
		id = json_string_value(json_object_get(o, "id"));
		if (id && !is_container(o) && !json_object_get(listed, id) &&
		    strncmp(id, "marking-definition--", 20) != 0 &&
		    strncmp(id, "identity--", 10) != 0)
			loose[n++] = id;
	}
	if (n == 0)
		goto done;
	if (!(cs = all = sl_ledger_outbox_containers(p->ledger, loose, n, err)))
		goto done;
	json_object_foreach((json_t *)cs, k, x) for (j = 0; j < json_array_size(x); j++)
	{
		const char *cid = json_string_value(json_array_get(x, j));
		json_t *v;
		struct sl_err e = {0};

		if (!cid || json_is_true(json_object_get(listed, cid)))
			continue; /* in the bundle, or already added */
		if (!(v = sl_ledger_get(p->ledger, cid, NULL, &e))) {
			if (e.code == SL_ENOTFOUND)
				continue;
			*err = e;
			json_decref(out);
			out = NULL;
			goto done;
		}
		if ((!out &&
		     (!(out = json_pack("{s:s,s:[]}", "type", "bundle", "objects")) ||
		      json_array_extend(json_object_get(out, "objects"), (json_t *)objs) < 0)) ||
		    json_array_append_new(json_object_get(out, "objects"), v) < 0 ||
		    json_object_set(listed, cid, json_true()) < 0) {
			json_decref(out);
			goto oom;
		}
	}
done:
	json_decref(all);
	json_decref(listed);
	free(loose);
	return out;
oom:
	json_decref(all);
	json_decref(listed);
	free(loose);
	sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
	return NULL;
}

/* The sharing-group directory to decide bundle with (group uuid -> MISP SharingGroup): the
 * definitions that came with it (sgs, may be NULL), stored in the ledger first, and the stored
 * ones for every other group its objects name (a copy from another peer carries only the uuid).
 * NULL with err->code 0 when no object names a group; NULL with err on failure. */
static json_t *sg_directory(struct sl_pipeline *p, const char *peer, const json_t *bundle,
                            const json_t *sgs, struct sl_err *err)
{
	json_t *dir = NULL, *stored;

	memset(err, 0, sizeof(*err));
	if (sgs && sl_ledger_sharing_groups_put(p->ledger, peer, sgs, err) != 0)
		return NULL;
	if (!(stored = sl_ledger_sharing_groups_named(p->ledger, json_object_get(bundle, "objects"),
	                                              NULL, sgs, err)))
		return NULL;
	if (!json_object_size(stored)) {
		json_decref(stored);
		return sgs ? json_incref((json_t *)sgs) : NULL;
	}
	if (!(dir = sgs ? json_copy((json_t *)sgs) : json_object()) ||
	    json_object_update(dir, stored) != 0) {
		json_decref(dir);
		dir = NULL;
		sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
	}
	json_decref(stored);
	return dir;
}

/* decide_all for a bundle's first n objects, with the stored containers of those that came
 * without theirs (with_context) and the sharing-group definitions they name (sg_directory; sgs:
 * those that came with the bundle, may be NULL). */
static int decide_in_context(struct sl_pipeline *p, const char *peer, const json_t *bundle,
                             const json_t *sgs, size_t n, const struct sl_ledger_result *res,
                             long long now, struct sl_pipeline_stats *st, struct sl_err *err)
{
	json_t *ctx, *dir = NULL;
	int rc = -1;

	memset(err, 0, sizeof(*err));
	ctx = with_context(p, bundle, err);
	if ((ctx || !err->code) &&
	    ((dir = sg_directory(p, peer, ctx ? ctx : bundle, sgs, err)) || !err->code))
		rc = decide_all(p, peer, ctx ? ctx : bundle, dir, n, res, now, st, err);
	json_decref(dir);
	json_decref(ctx);
	return rc;
}

/* sl_pipeline_bundle, with the definitions of the MISP sharing groups its objects name (group
 * uuid -> SharingGroup; NULL when there are none). */
static int pipeline_bundle(struct sl_pipeline *p, const char *peer, const char *origin_id,
                           const json_t *bundle, const json_t *sgs,
                           const struct sl_ledger_cursor *cursor, long long now,
                           struct sl_pipeline_stats *st, struct sl_err *err)
{
	const json_t *objs = json_object_get(bundle, "objects");
	struct sl_ledger_in *in = NULL;
	struct sl_ledger_result *res = NULL;
	size_t n = json_array_size(objs), i;
	int rc;

	if (st)
		st->events++;
	if (!json_is_object(bundle) || !json_is_array(objs)) {
		char *raw = json_dumps(bundle, JSON_COMPACT);
		/* a connector that could not read an item says why (peer.h) */
		const char *why = json_string_value(json_object_get(bundle, "x_sluice_error"));
		rc = sl_err_set(err, SL_EINVAL, origin_id ? origin_id : "bundle", "%s",
		                why ? why : "not a STIX bundle: no objects array");
		if (sl_ledger_quarantine(p->ledger, peer, raw ? raw : "", raw ? strlen(raw) : 0,
		                         err->msg, NULL) < 0) {
			/* the refusal stands; quarantine is best effort here */
		}
		free(raw);
		if (st)
			st->failed++;
		return rc;
	}
	in = calloc(n ? n : 1, sizeof(*in));
	res = calloc(n ? n : 1, sizeof(*res));
	if (!in || !res) {
		rc = sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		in[i].obj = json_array_get(objs, i);
		in[i].origin_id = origin_id;
	}
	/* No cursor here: it moves only once the decisions are recorded too. */
	rc = sl_ledger_ingest(p->ledger, peer, in, n, NULL, res, err);
	if (rc < 0)
		goto done;
	if (st) {
		st->objects += n;
		for (i = 0; i < n; i++) {
			if (res[i].outcome == SL_LEDGER_REJECTED)
				st->rejected++;
			else if (res[i].outcome != SL_LEDGER_SAME)
				st->stored++;
		}
	}
	rc = decide_in_context(p, peer, bundle, sgs, n, res, now, st, err);
	if (rc < 0)
		goto done;
	if (cursor)
		rc = sl_ledger_cursor_set(p->ledger, cursor, err);
done:
	free(in);
	free(res);
	return rc;
}

int sl_pipeline_bundle(struct sl_pipeline *p, const char *peer, const char *origin_id,
                       const json_t *bundle, const struct sl_ledger_cursor *cursor, long long now,
                       struct sl_pipeline_stats *st, struct sl_err *err)
{
	return pipeline_bundle(p, peer, origin_id, bundle, NULL, cursor, now, st, err);
}

int sl_pipeline_objects(struct sl_pipeline *p, const char *peer, const struct sl_ledger_in *in,
                        size_t n, struct sl_ledger_result *res, long long now,
                        struct sl_pipeline_stats *st, struct sl_err *err)
{
	json_t *bundle = json_object(), *objs = json_array();
	size_t i;
	int rc;

	if (!bundle || !objs || json_object_set_new(bundle, "objects", objs)) {
		json_decref(bundle);
		return sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
	}
	for (i = 0; i < n; i++)
		if (json_array_append(objs, (json_t *)in[i].obj)) {
			json_decref(bundle);
			return sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
		}
	if (st)
		st->events++;
	rc = sl_ledger_ingest(p->ledger, peer, in, n, NULL, res, err);
	if (rc == 0 && st) {
		st->objects += n;
		for (i = 0; i < n; i++) {
			if (res[i].outcome == SL_LEDGER_REJECTED)
				st->rejected++;
			else if (res[i].outcome != SL_LEDGER_SAME)
				st->stored++;
		}
	}
	if (rc == 0)
		rc = decide_in_context(p, peer, bundle, NULL, n, res, now, st, err);
	json_decref(bundle);
	return rc;
}

/* MISP's distribution level as an int 0..5, -1 when absent or unreadable. */
static int dist_of(const json_t *o)
{
	const json_t *v = json_object_get(o, "distribution");
	const char *s = json_string_value(v);

	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 5)
		return (int)json_integer_value(v);
	if (s && s[0] >= '0' && s[0] <= '5' && !s[1])
		return s[0] - '0';
	return -1;
}

/* uuid -> {"d": level, "sg": sharing group uuid} for whatever in ev has a distribution of its own
 * (5 = "inherit" has none). */
static void scope_note(json_t *scope, const json_t *o, int parent)
{
	const char *uuid = json_string_value(json_object_get(o, "uuid"));
	const char *sg =
	    json_string_value(json_object_get(json_object_get(o, "SharingGroup"), "uuid"));
	int d = dist_of(o);

	if (d == 5 || d < 0)
		d = parent;
	if (!uuid || d < 0 || d == 5)
		return;
	json_object_set_new(scope, uuid,
	                    sg && d == 4 ? json_pack("{s:i,s:s}", "d", d, "sg", sg)
	                                 : json_pack("{s:i}", "d", d));
}

/* The MISP sharing scope travels with the mapped objects into the ledger: the container gets the
 * event's distribution (x_misp_distribution, and x_misp_sharing_group_uuid for 4), and every object
 * made from an attribute or MISP object with a distribution of its own gets that one (misp-stix
 * reuses their uuids in the STIX ids). The policy reads them for every destination, later pushes
 * too; without them an event for "this community" or a sharing group would be decided as if it
 * had no MISP limit. */
static void misp_scope(const json_t *ev, json_t *bundle)
{
	json_t *scope = json_object(), *o, *a, *obj, *hit;
	const char *ev_uuid = json_string_value(json_object_get(ev, "uuid"));
	size_t i, k;

	if (!scope || !ev_uuid)
		goto done;
	scope_note(scope, ev, -1);
	json_array_foreach(json_object_get(ev, "Attribute"), i, a) scope_note(scope, a, -1);
	json_array_foreach(json_object_get(ev, "Object"), i, o)
	{
		int od = dist_of(o);
		scope_note(scope, o, -1);
		json_array_foreach(json_object_get(o, "Attribute"), k, a)
		    scope_note(scope, a, od == 5 ? -1 : od);
	}
	json_array_foreach(json_object_get(bundle, "objects"), i, obj)
	{
		const char *id = json_string_value(json_object_get(obj, "id"));
		const char *u = id ? strstr(id, "--") : NULL;

		if (!u || !(hit = json_object_get(scope, u + 2)))
			continue;
		json_object_set(obj, "x_misp_distribution", json_object_get(hit, "d"));
		if (json_object_get(hit, "sg"))
			json_object_set(obj, "x_misp_sharing_group_uuid",
			                json_object_get(hit, "sg"));
	}
done:
	json_decref(scope);
}

/* The definition of o's sharing group (its SharingGroup object, with its members) put in sgs
 * under its uuid. */
static void sg_note(json_t *sgs, const json_t *o)
{
	const json_t *sg = json_object_get(o, "SharingGroup");
	const char *u = json_string_value(json_object_get(sg, "uuid"));

	/* the event's own comes first: an attribute's copy of the same group adds nothing */
	if (u && dist_of(o) == 4 && !json_object_get(sgs, u))
		json_object_set(sgs, u, (json_t *)sg);
}

/* group uuid -> MISP SharingGroup for every sharing group ev and its attributes and objects name
 * (NULL when none does): the policy needs the members to find destinations that belong to a group
 * by their organisation or server, not only by its uuid. */
static json_t *misp_sharing_groups(const json_t *ev)
{
	json_t *sgs = json_object(), *o, *a;
	size_t i, k;

	if (!sgs)
		return NULL;
	sg_note(sgs, ev);
	json_array_foreach(json_object_get(ev, "Attribute"), i, a) sg_note(sgs, a);
	json_array_foreach(json_object_get(ev, "Object"), i, o)
	{
		sg_note(sgs, o);
		json_array_foreach(json_object_get(o, "Attribute"), k, a) sg_note(sgs, a);
	}
	if (!json_object_size(sgs)) {
		json_decref(sgs);
		return NULL;
	}
	return sgs;
}

/* MISP's flags are true, 1, "1" or "true". */
static bool misp_true(const json_t *v)
{
	const char *s = json_string_value(v);
	return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0) ||
	       (s && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0));
}

/* Deletions at a MISP peer, which MISP's sync carries as soft-deleted attributes and objects
 * ("deleted": true, with a newer timestamp) inside the event: an attribute deleted inside a live
 * object is taken out before mapping (the object is what is left of it); the uuids of deleted
 * attributes and objects are returned, so that what they map to goes as a revoked version. */
static json_t *misp_deleted(json_t *ev)
{
	json_t *gone = json_object(), *a, *o, *attrs;
	size_t i, k;

	json_array_foreach(json_object_get(ev, "Attribute"), i, a) if (misp_true(
	    json_object_get(a, "deleted")) && json_string_value(json_object_get(a, "uuid")))
	    json_object_set_new(gone, json_string_value(json_object_get(a, "uuid")), json_true());
	json_array_foreach(json_object_get(ev, "Object"), i, o)
	{
		if (misp_true(json_object_get(o, "deleted"))) {
			if (json_string_value(json_object_get(o, "uuid")))
				json_object_set_new(gone, json_string_value(json_object_get(o, "uuid")),
				                    json_true());
			continue;
		}
		attrs = json_object_get(o, "Attribute");
		for (k = json_array_size(attrs); k-- > 0;)
			if (misp_true(json_object_get(json_array_get(attrs, k), "deleted")))
				json_array_remove(attrs, k);
	}
	return gone;
}

/* Every object made from a deleted attribute or object (misp-stix reuses their uuids in the STIX
 * ids) goes as revoked: destinations withdraw it (MISP: a soft deletion; TAXII: the revoked
 * version; OpenCTI: a deletion). */
static void misp_revoke(const json_t *gone, json_t *bundle)
{
	json_t *obj;
	size_t i;

	if (!json_object_size(gone))
		return;
	json_array_foreach(json_object_get(bundle, "objects"), i, obj)
	{
		const char *id = json_string_value(json_object_get(obj, "id"));
		const char *u = id ? strstr(id, "--") : NULL;

		if (u && json_object_get(gone, u + 2) && json_object_get(obj, "modified"))
			json_object_set_new(obj, "revoked", json_true());
	}
}

int sl_pipeline_misp_event_take(struct sl_pipeline *p, const char *peer, json_t **event,
                                const struct sl_ledger_cursor *cursor, long long now,
                                struct sl_pipeline_stats *st, json_t *warnings, struct sl_err *err)
{
	struct sl_map_opts opts = {0};
	json_t *w = json_array(), *bundle, *gone, *sgs;
	const json_t *ev = json_object_get(*event, "Event");
	char *uuid;
	int rc;

	if (!ev)
		ev = *event;
	gone = misp_deleted((json_t *)ev);
	bundle = sl_misp_to_stix(*event, &opts, w, err);
	if (st)
		st->warnings += json_array_size(w);
	if (warnings)
		json_array_extend(warnings, w);
	json_decref(w);
	if (!bundle) {
		char *raw = json_dumps(*event, JSON_COMPACT);
		if (sl_ledger_quarantine(p->ledger, peer, raw ? raw : "", raw ? strlen(raw) : 0,
		                         err->msg, NULL) < 0) {
			/* the refusal stands; quarantine is best effort here */
		}
		free(raw);
		json_decref(*event);
		*event = NULL;
		json_decref(gone);
		if (st) {
			st->events++;
			st->failed++;
		}
		return err->code ? err->code : SL_EINVAL;
	}
	misp_scope(ev, bundle);
	misp_revoke(gone, bundle);
	json_decref(gone);
	sgs = misp_sharing_groups(ev);
	uuid = json_string_value(json_object_get(ev, "uuid"))
	           ? strdup(json_string_value(json_object_get(ev, "uuid")))
	           : NULL;
	json_decref(*event); /* all of it is in the bundle now */
	*event = NULL;
	rc = pipeline_bundle(p, peer, uuid, bundle, sgs, cursor, now, st, err);
	free(uuid);
	json_decref(sgs);
	json_decref(bundle);
	return rc;
}

int sl_pipeline_misp_event(struct sl_pipeline *p, const char *peer, const json_t *event,
                           const struct sl_ledger_cursor *cursor, long long now,
                           struct sl_pipeline_stats *st, json_t *warnings, struct sl_err *err)
{
	/* the caller keeps its own reference; misp_deleted edits only an event whose objects hold
	 * deleted attributes: that one is copied first */
	json_t *e = json_incref((json_t *)event);
	const json_t *ev = json_object_get(event, "Event") ? json_object_get(event, "Event") : event;
	const json_t *o;
	size_t i, k;

	json_array_foreach(json_object_get(ev, "Object"), i, o)
	{
		const json_t *a;
		json_array_foreach(json_object_get(o, "Attribute"), k, a) if (misp_true(
		    json_object_get(a, "deleted")))
		{
			json_decref(e);
			if (!(e = json_deep_copy(event)))
				return sl_err_set(err, SL_ENOMEM, "pipeline", "out of memory");
			goto take;
		}
	}
take:

	return sl_pipeline_misp_event_take(p, peer, &e, cursor, now, st, warnings, err);
}
