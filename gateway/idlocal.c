/* idlocal.c — give the objects of a peer that renames ids (OpenCTI) back the ids sluice knows them
 * by: the id map first, else the former ids the peer keeps (see idlocal.h). */
#include "idlocal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_ref_key(const char *k)
{
	size_t n = strlen(k);
	return (n > 4 && strcmp(k + n - 4, "_ref") == 0) ||
	       (n > 5 && strcmp(k + n - 5, "_refs") == 0);
}

/* The ids the peer says obj had before it renamed it (OpenCTI's x_opencti_stix_ids, or its core
 * extension's stix_ids), borrowed. */
static const json_t *former_ids(const json_t *obj)
{
	const json_t *ids = json_object_get(obj, "x_opencti_stix_ids");
	if (!ids) /* OpenCTI's own output form: its core extension */
		ids = json_object_get(
		    json_object_get(json_object_get(obj, "extensions"), SL_IDLOCAL_OCTI_EXT),
		    "stix_ids");
	return ids;
}

/* The keys of set as an array of borrowed strings; NULL when out of memory. */
static const char **keys_of(json_t *set, size_t *n)
{
	const char **v = calloc(json_object_size(set) + 1, sizeof(*v)), *k;
	json_t *x;

	*n = 0;
	if (v)
		json_object_foreach(set, k, x) v[(*n)++] = k;
	return v;
}

/* Every id o names: its own and its *_ref / *_refs values, into the set ids. */
static void add_ids(json_t *ids, const json_t *o)
{
	const char *k, *id = json_string_value(json_object_get(o, "id"));
	json_t *v, *r;
	size_t j;

	if (id)
		json_object_set_new(ids, id, json_true());
	json_object_foreach((json_t *)o, k, v)
	{
		if (!is_ref_key(k))
			continue;
		if (json_is_string(v))
			json_object_set_new(ids, json_string_value(v), json_true());
		json_array_foreach(v, j, r) if (json_is_string(r))
		    json_object_set_new(ids, json_string_value(r), json_true());
	}
}

/* For every object the map does not know, its former ids: without known, gathered into cands;
 * with it, the first one the ledger holds becomes the object's id in the map, and the pair goes
 * into the ledger's id map (a failed write is recognised through the ledger again next time). */
static void former_pass(struct sl_ledger *l, const char *peer, const json_t *objs, json_t *map,
                        json_t *cands, const json_t *known)
{
	const json_t *o, *c;
	const char *id;
	size_t i, j;

	json_array_foreach(objs, i, o)
	{
		if (!(id = json_string_value(json_object_get(o, "id"))) || json_object_get(map, id))
			continue;
		json_array_foreach(former_ids(o), j, c)
		{
			const char *f = json_string_value(c);
			struct sl_err err = {0};

			if (!f || strcmp(f, id) == 0 || strlen(f) >= SL_LEDGER_ID_MAX)
				continue;
			if (!known) {
				json_object_set_new(cands, f, json_true());
				continue;
			}
			if (!json_object_get(known, f))
				continue;
			if (sl_ledger_idmap_put(l, peer, id, f, &err) < 0) {
				/* see above */
			}
			json_object_set_new(map, id, json_string(f));
			break;
		}
	}
}

/* Rewrite s (a string in a bundle) when the map names it otherwise; 1 when it did. */
static int rewrite(json_t *s, const json_t *map)
{
	const json_t *m = json_is_string(s) ? json_object_get(map, json_string_value(s)) : NULL;
	return m && json_string_set(s, json_string_value(m)) == 0;
}

int sl_idlocal_bundle(struct sl_ledger *l, const char *peer, json_t *bundle, struct sl_err *err)
{
	json_t *objs = json_object_get(bundle, "objects"), *all = json_object(),
	       *cands = json_object(), *map = NULL, *known = NULL, *o, *v, *r;
	const char **ids = NULL, *k;
	size_t i, j, n;
	int done = 0, rc = 0;

	if (!all || !cands || !peer) {
		rc = sl_err_set(err, peer ? SL_ENOMEM : SL_EINVAL, "idmap",
		                peer ? "out of memory" : "no peer");
		goto out;
	}
	json_array_foreach(objs, i, o) add_ids(all, o);
	if (!(ids = keys_of(all, &n))) {
		rc = sl_err_set(err, SL_ENOMEM, "idmap", "out of memory");
		goto out;
	}
	if (!(map = sl_ledger_idmap_to_stix_many(l, peer, ids, n, err))) {
		rc = err->code ? err->code : SL_EDB;
		goto out;
	}
	former_pass(l, peer, objs, map, cands, NULL);
	if (json_object_size(cands)) {
		free(ids);
		if (!(ids = keys_of(cands, &n))) {
			rc = sl_err_set(err, SL_ENOMEM, "idmap", "out of memory");
			goto out;
		}
		if (!(known = sl_ledger_known(l, ids, n, err))) {
			rc = err->code ? err->code : SL_EDB;
			goto out;
		}
		former_pass(l, peer, objs, map, NULL, known);
	}
	json_array_foreach(objs, i, o)
	{
		done += rewrite(json_object_get(o, "id"), map);
		json_object_foreach(o, k, v)
		{
			if (!is_ref_key(k))
				continue;
			done += rewrite(v, map);
			json_array_foreach(v, j, r) done += rewrite(r, map);
		}
	}
	rc = done;
out:
	free(ids);
	json_decref(all);
	json_decref(cands);
	json_decref(map);
	json_decref(known);
	return rc;
}
