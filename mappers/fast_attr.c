/* fast_attr.c — an attribute's members are read by fast_json_fields (validated as jansson would,
 * nothing built), checked with the tree path's own checks (sl_misp_value_problem,
 * sl_misp_normalise, the pattern builder and validator), and its objects written as text in the
 * tree path's key order. Every reason to decline is found before the first byte is written, so a
 * declined attribute leaves no trace. Dedup and the container's refs go through c->c->seen and
 * its own text lists of the container's refs (sl_fast_attr_take_refs keeps them in the tree path's
 * order), so the rest of the conversion sees the same state either way. */
#include "fast_attr.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_json.h"
#include "json.h"
#include "map_ctx.h"
#include "misp_types.h"

/* the object being written (see raw) and the conversion it goes to */
struct wr {
	struct sl_map_ctx *c;
	struct sl_stix_id_hasher *sha;
	struct refs *objs, *rels;
	char *p;
	size_t n, cap;
	int oom, bad_utf8;
};

enum {
	F_UUID,
	F_TYPE,
	F_VALUE,
	F_CATEGORY,
	F_COMMENT,
	F_TO_IDS,
	F_TIMESTAMP,
	F_FIRST,
	F_LAST,
	F_GALAXY,
	F_TAG,
	F_SIGHTING,
	F_N
};

/* The members map_attribute reads; the rest of an attribute is validated and dropped. */
static const char *const names[] = {"uuid",   "type",      "value",      "category",  "comment",
                                    "to_ids", "timestamp", "first_seen", "last_seen", "Galaxy",
                                    "Tag",    "Sighting",  NULL};

struct sl_fast_attr {
	char *arena;
	size_t acap;
	struct sl_fast_json_field f[F_N];
	/* the last timestamp formatted: events carry the same one on many attributes */
	long long ts_n;
	char ts_sdo[SL_TS_MAX], ts_plain[SL_TS_MAX];
	struct wr w;
	struct sl_stix_id_hasher *sha; /* relationship ids (NULL: the portable SHA-1) */
	/* the container's object_refs as JSON text ("id","id",...): objects, then relationships */
	struct refs {
		char *p;
		size_t n, cap, count;
	} objs, rels;
};

struct sl_fast_attr *sl_fast_attr_new(void)
{
	struct sl_fast_attr *fa = calloc(1, sizeof(*fa));

	if (fa) {
		fa->ts_n = -1;
		fa->sha = sl_stix_id_hasher_new();
	}
	return fa;
}

void sl_fast_attr_free(struct sl_fast_attr *fa)
{
	if (!fa)
		return;
	free(fa->arena);
	free(fa->w.p);
	sl_stix_id_hasher_free(fa->sha);
	free(fa->objs.p);
	free(fa->rels.p);
	free(fa);
}

/* ---- reading -----------------------------------------------------------------------------------
 */

/* sl_map_str: a string member as a C string, NULL otherwise */
static const char *fstr(const struct sl_fast_attr *fa, int k)
{
	return fa->f[k].kind == SL_FJ_STRING ? fa->f[k].s : NULL;
}

/* sl_map_bool */
static int fbool(const struct sl_fast_attr *fa, int k, int dflt)
{
	const struct sl_fast_json_field *f = &fa->f[k];

	switch (f->kind) {
	case SL_FJ_TRUE:
		return 1;
	case SL_FJ_FALSE:
		return 0;
	case SL_FJ_INTEGER:
		return f->i != 0;
	case SL_FJ_STRING:
		return !strcmp(f->s, "1") || !strcasecmp(f->s, "true");
	default:
		return dflt;
	}
}

/* sl_map_ts on the timestamp member, both forms, through a one-entry cache */
static int timestamps(struct sl_fast_attr *fa, struct wr *c, char sdo[SL_TS_MAX],
                      char plain[SL_TS_MAX])
{
	const struct sl_fast_json_field *f = &fa->f[F_TIMESTAMP];
	long long n = -1;

	if (f->kind == SL_FJ_INTEGER) {
		n = f->i;
	} else if (f->kind == SL_FJ_STRING) {
		char *end;
		n = strtoll(f->s, &end, 10);
		if (end == f->s || *end != '\0')
			n = -1;
	}
	if (n < 0 || n > 253402300799LL) {
		/* no usable timestamp: the conversion time, as the tree path stamps it */
		sl_map_ts(c->c, NULL, 1, sdo);
		sl_map_ts(c->c, NULL, 0, plain);
		return 0;
	}
	if (n != fa->ts_n) {
		json_t *v = json_integer(n);
		if (!v)
			return SL_ENOMEM;
		sl_map_ts(c->c, v, 1, fa->ts_sdo);
		sl_map_ts(c->c, v, 0, fa->ts_plain);
		json_decref(v);
		fa->ts_n = n;
	}
	memcpy(sdo, fa->ts_sdo, SL_TS_MAX);
	memcpy(plain, fa->ts_plain, SL_TS_MAX);
	return 0;
}

/* ---- writing -----------------------------------------------------------------------------------
 */

/* Objects are written into w's buffer and handed to the bundle's stix_emit whole: one call per
 * object instead of one per piece. */
static int grow(struct wr *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 512;
	char *nb;

	while (cap < w->n + n)
		cap *= 2;
	nb = realloc(w->p, cap);
	if (!nb) {
		w->oom = 1;
		return -1;
	}
	w->p = nb;
	w->cap = cap;
	return 0;
}

static void raw(struct wr *w, const char *s, size_t n)
{
	if (w->n + n > w->cap && grow(w, n))
		return;
	memcpy(w->p + w->n, s, n);
	w->n += n;
}

#define LIT(c, s) raw(c, s, sizeof(s) - 1)

/* a JSON string from the event, escaped as json_dumps escapes it (sl_json_escape: short escapes,
 * \u00XX in upper case for other control characters, UTF-8 as is and checked) */
static void str(struct wr *w, const char *str, size_t n)
{
	size_t k;

	if (w->n + 6 * n + 2 > w->cap && grow(w, 6 * n + 2))
		return;
	w->p[w->n++] = '"';
	if ((k = sl_json_escape(w->p + w->n, str, n)) == SL_JSON_BAD_UTF8) {
		w->n--; /* nothing of it written */
		w->bad_utf8 = 1;
		return;
	}
	w->n += k;
	w->p[w->n++] = '"';
}

static void cstr(struct wr *c, const char *s)
{
	str(c, s, strlen(s));
}

/* ids, types and timestamps we made: plain ASCII with nothing to escape */
static void qraw(struct wr *c, const char *s)
{
	size_t n = strlen(s);

	if (c->n + n + 2 > c->cap && grow(c, n + 2))
		return;
	c->p[c->n] = '"';
	memcpy(c->p + c->n + 1, s, n);
	c->p[c->n + 1 + n] = '"';
	c->n += n + 2;
}

static int refs_add(struct refs *r, const char *id, size_t n)
{
	if (r->n + n + 3 > r->cap) {
		size_t cap = r->cap ? r->cap : 512;
		while (cap < r->n + n + 3)
			cap *= 2;
		char *nb = realloc(r->p, cap);
		if (!nb)
			return SL_ENOMEM;
		r->p = nb;
		r->cap = cap;
	}
	if (r->count++)
		r->p[r->n++] = ',';
	r->p[r->n++] = '"';
	memcpy(r->p + r->n, id, n);
	r->n += n;
	r->p[r->n++] = '"';
	return 0;
}

/* sl_map_add's bookkeeping for an object about to be written: 0 when its id is already in the
 * bundle (the object is dropped), 1 when it is to be written, SL_ENOMEM. */
static int begin(struct wr *c, const char *id, struct refs *refs)
{
	int r = sl_map_ids_add(c->c->seen, id);

	if (r == 0)
		return 0;
	if (r < 0 || refs_add(refs, id, strlen(id)) != 0)
		return SL_ENOMEM;
	c->n = 0;
	if (c->c->nout++ > 0)
		LIT(c, ",");
	return 1;
}

/* close the object and hand it to the bundle; a full block goes out as sl_map_emit sends it */
static void end(struct wr *w)
{
	struct sl_map_ctx *c = w->c;
	size_t len;

	LIT(w, "}");
	if (c->emit_error)
		return;
	if (w->oom || w->bad_utf8) {
		sl_err_set(&c->emit_err, w->oom ? SL_ENOMEM : SL_EINVAL, "output",
		           w->oom ? "out of memory serialising JSON"
		                  : "value cannot be serialised (invalid UTF-8 string)");
		c->emit_error = 1;
		return;
	}
	if (sl_stix_emit_raw(c->emit, w->p, w->n, &c->emit_err) != 0 ||
	    (sl_stix_emit_data(c->emit, &len) && len >= SL_MAP_EMIT_BLOCK &&
	     sl_stix_emit_flush(c->emit, c->out, &c->emit_err) != 0))
		c->emit_error = 1;
}

static void sco_head(struct wr *c, const char *type, const char *id)
{
	LIT(c, "{\"type\":");
	qraw(c, type);
	LIT(c, ",\"spec_version\":\"2.1\",\"id\":");
	qraw(c, id);
}

static void sdo_head(struct wr *c, const char *type, const char *id, const char *ts)
{
	sco_head(c, type, id);
	LIT(c, ",\"created_by_ref\":");
	qraw(c, c->c->identity_id);
	LIT(c, ",\"created\":");
	qraw(c, ts);
	LIT(c, ",\"modified\":");
	qraw(c, ts);
}

/* ---- one attribute -----------------------------------------------------------------------------
 */

enum shape {
	OB_HASH,
	OB_FILENAME_HASH,
	OB_DOMAIN,
	OB_DOMAIN_IP,
	OB_IP,
	OB_HOST_PORT,
	OB_EMAIL,
	OB_EMAIL_ADDR, /* email-src / email-dst */
	OB_EMAIL_MSG,  /* email-subject / -body / -message-id */
	OB_FILENAME,
	OB_URL,
	OB_MUTEX,
	OB_AS,
	OB_REGKEY,
};

struct at {
	const char *uuid, *type, *value, *category, *comment;
	const struct sl_mtype *mt;
	char ts[SL_TS_MAX], vf[SL_TS_MAX];
	char where[96];
	char lab_type[256], lab_cat[256];
	int to_ids;
	/* observables */
	enum shape shape;
	const char *a, *b; /* the value's parts (a is a[0..alen)) */
	size_t alen;
	long port;
	long long asn;
	char *key; /* regkey: the full key (malloc'd) */
	char num[24];
	int ip6, src;
	const char *prop; /* email-message property */
};

static int port_ok(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || !isdigit((unsigned char)*s))
		return 0;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 65535)
		return 0;
	*out = v;
	return 1;
}

static void id_of(char out[SL_STIX_ID_MAX], const char *type, const char *uuid)
{
	sl_map_cat(out, SL_STIX_ID_MAX, type, "--", uuid);
}

static const char *ip_type(int v6)
{
	return v6 ? "ipv6-addr" : "ipv4-addr";
}

/* The observable's shape and its pattern in c->c->pat (map_attribute's `observable`). 1 when this
 * module writes it, 0 to decline, SL_ENOMEM. */
static int observable(struct wr *c, struct at *at)
{
	const char *t = at->type, *v = at->value, *bar;
	struct sl_pattern *p = c->c->pat;
	const struct sl_mtype *mt = at->mt;
	char path[64];
	int r = 0;

	at->a = v;
	at->alen = strlen(v);
	if (mt->hash_sco && strncmp(t, "filename|", 9) != 0) {
		at->shape = OB_HASH;
		sl_map_cat(path, sizeof(path),
		           !strncmp(t, "x509-", 5) ? "x509-certificate:hashes." : "file:hashes.",
		           mt->hash_pat, "");
		return sl_pattern_add(p, path, v, at->alen) ? SL_ENOMEM : 1;
	}
	if (mt->hash_sco) {
		if (!(bar = strchr(v, '|')))
			return 0;
		at->shape = OB_FILENAME_HASH;
		at->alen = (size_t)(bar - v);
		at->b = bar + 1;
		sl_map_cat(path, sizeof(path), "file:hashes.", mt->hash_pat, "");
		return sl_pattern_add(p, "file:name", v, at->alen) ||
		               sl_pattern_add(p, path, at->b, strlen(at->b))
		           ? SL_ENOMEM
		           : 1;
	}
	if (!strcmp(t, "domain") || !strcmp(t, "hostname")) {
		at->shape = OB_DOMAIN;
		return sl_pattern_add(p, "domain-name:value", v, at->alen) ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "domain|ip")) {
		/* sl_misp_value_problem has checked both halves */
		if (!(bar = strchr(v, '|')) || strlen(bar + 1) >= 64)
			return 0;
		at->shape = OB_DOMAIN_IP;
		at->alen = (size_t)(bar - v);
		at->b = bar + 1;
		at->ip6 = sl_misp_ip_kind(at->b) == 6;
		return sl_pattern_add(p, "domain-name:value", v, at->alen) ||
		               sl_pattern_add(p, "domain-name:resolves_to_refs[*].value", at->b,
		                              strlen(at->b))
		           ? SL_ENOMEM
		           : 1;
	}
	if (!strcmp(t, "ip-src") || !strcmp(t, "ip-dst") || !strcmp(t, "ip-src|port") ||
	    !strcmp(t, "ip-dst|port")) {
		char ip[64];
		at->shape = OB_IP;
		at->src = t[3] == 's';
		at->port = -1;
		if (strchr(t, '|')) {
			if (!(bar = strchr(v, '|')) || (size_t)(bar - v) >= sizeof(ip) ||
			    !port_ok(bar + 1, &at->port))
				return 0;
			at->alen = (size_t)(bar - v);
		}
		memcpy(ip, v, at->alen);
		ip[at->alen] = '\0';
		int k = sl_misp_ip_kind(ip);
		if (!k)
			return 0;
		at->ip6 = k == 6;
		r = sl_pattern_add(
		    p, at->src ? "network-traffic:src_ref.type" : "network-traffic:dst_ref.type",
		    ip_type(at->ip6), 9);
		r = r || sl_pattern_add(p,
		                        at->src ? "network-traffic:src_ref.value"
		                                : "network-traffic:dst_ref.value",
		                        ip, at->alen);
		if (at->port >= 0) {
			snprintf(at->num, sizeof(at->num), "%ld", at->port);
			r = r || sl_pattern_add(p,
			                        at->src ? "network-traffic:src_port"
			                                : "network-traffic:dst_port",
			                        at->num, strlen(at->num));
		}
		return r ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "hostname|port")) {
		if (!(bar = strchr(v, '|')) || !port_ok(bar + 1, &at->port))
			return 0;
		at->shape = OB_HOST_PORT;
		at->alen = (size_t)(bar - v);
		snprintf(at->num, sizeof(at->num), "%ld", at->port);
		return sl_pattern_add(p, "domain-name:value", v, at->alen) ||
		               sl_pattern_add(p, "network-traffic:dst_port", at->num,
		                              strlen(at->num))
		           ? SL_ENOMEM
		           : 1;
	}
	if (!strcmp(t, "email")) {
		at->shape = OB_EMAIL;
		return sl_pattern_add(p, "email-addr:value", v, at->alen) ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "email-src") || !strcmp(t, "email-dst")) {
		at->shape = OB_EMAIL_ADDR;
		at->src = t[6] == 's';
		return sl_pattern_add(p,
		                      at->src ? "email-message:from_ref.value"
		                              : "email-message:to_refs[*].value",
		                      v, at->alen)
		           ? SL_ENOMEM
		           : 1;
	}
	if (!strcmp(t, "email-subject") || !strcmp(t, "email-body") ||
	    !strcmp(t, "email-message-id")) {
		at->shape = OB_EMAIL_MSG;
		at->prop = t[6] == 's' ? "subject" : t[6] == 'b' ? "body" : "message_id";
		snprintf(path, sizeof(path), "email-message:%s", at->prop);
		return sl_pattern_add(p, path, v, at->alen) ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "filename")) {
		at->shape = OB_FILENAME;
		return sl_pattern_add(p, "file:name", v, at->alen) ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "url") || !strcmp(t, "uri") || !strcmp(t, "link")) {
		at->shape = OB_URL;
		return sl_pattern_add(p, "url:value", v, at->alen) ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "mutex")) {
		at->shape = OB_MUTEX;
		return sl_pattern_add(p, "mutex:name", v, at->alen) ? SL_ENOMEM : 1;
	}
	if (!strcmp(t, "AS")) {
		const char *d = !strncasecmp(v, "AS", 2) ? v + 2 : v;
		char *end;
		long long n = strtoll(d, &end, 10);
		if (!isdigit((unsigned char)*d) || *end || n < 1 || n > 4294967295LL)
			return 0;
		at->shape = OB_AS;
		at->asn = n;
		snprintf(at->num, sizeof(at->num), "%lld", n);
		return sl_pattern_add(p, "autonomous-system:number", at->num, strlen(at->num))
		           ? SL_ENOMEM
		           : 1;
	}
	if (!strcmp(t, "regkey")) {
		at->shape = OB_REGKEY;
		at->key = sl_misp_regkey_full(v, at->alen);
		if (!at->key)
			return SL_ENOMEM;
		return sl_pattern_add(p, "windows-registry-key:key", at->key, strlen(at->key))
		           ? SL_ENOMEM
		           : 1;
	}
	return 0; /* the rest (attachments, MAC addresses, registry values, ...): the tree path */
}

/* The observable's SCOs: their ids (1 or 2) for the observed-data's object_refs. */
static int sco_ids(const struct at *at, char ids[2][SL_STIX_ID_MAX])
{
	const char *u = at->uuid;

	switch (at->shape) {
	case OB_HASH:
		id_of(ids[0], !strncmp(at->type, "x509-", 5) ? "x509-certificate" : "file", u);
		return 1;
	case OB_FILENAME_HASH:
	case OB_FILENAME:
		id_of(ids[0], "file", u);
		return 1;
	case OB_DOMAIN:
		id_of(ids[0], "domain-name", u);
		return 1;
	case OB_DOMAIN_IP:
		id_of(ids[0], "domain-name", u);
		id_of(ids[1], ip_type(at->ip6), u);
		return 2;
	case OB_IP:
		id_of(ids[0], "network-traffic", u);
		id_of(ids[1], ip_type(at->ip6), u);
		return 2;
	case OB_HOST_PORT:
		id_of(ids[0], "domain-name", u);
		id_of(ids[1], "network-traffic", u);
		return 2;
	case OB_EMAIL:
		id_of(ids[0], "email-addr", u);
		return 1;
	case OB_EMAIL_ADDR:
		id_of(ids[0], "email-message", u);
		id_of(ids[1], "email-addr", u);
		return 2;
	case OB_EMAIL_MSG:
		id_of(ids[0], "email-message", u);
		return 1;
	case OB_URL:
		id_of(ids[0], "url", u);
		return 1;
	case OB_MUTEX:
		id_of(ids[0], "mutex", u);
		return 1;
	case OB_AS:
		id_of(ids[0], "autonomous-system", u);
		return 1;
	case OB_REGKEY:
		id_of(ids[0], "windows-registry-key", u);
		return 1;
	}
	return 0;
}

/* SCO k of the observable, after its head: the members the tree path sets, in its order */
static void sco_body(struct wr *c, const struct at *at, int k, char ids[2][SL_STIX_ID_MAX])
{
	const char *v = at->value;

	switch (at->shape) {
	case OB_HASH:
		LIT(c, ",\"hashes\":{");
		qraw(c, at->mt->hash_sco);
		LIT(c, ":");
		cstr(c, v);
		LIT(c, "}");
		return;
	case OB_FILENAME_HASH:
		LIT(c, ",\"hashes\":{");
		qraw(c, at->mt->hash_sco);
		LIT(c, ":");
		cstr(c, at->b);
		LIT(c, "},\"name\":");
		str(c, v, at->alen);
		return;
	case OB_DOMAIN:
	case OB_EMAIL:
	case OB_URL:
		LIT(c, ",\"value\":");
		cstr(c, v);
		return;
	case OB_DOMAIN_IP:
		LIT(c, ",\"value\":");
		if (k == 0) {
			str(c, v, at->alen);
			LIT(c, ",\"resolves_to_refs\":[");
			qraw(c, ids[1]);
			LIT(c, "]");
		} else {
			cstr(c, at->b);
		}
		return;
	case OB_IP:
		if (k == 0) {
			LIT(c, ",");
			qraw(c, at->src ? "src_ref" : "dst_ref");
			LIT(c, ":");
			qraw(c, ids[1]);
			if (at->port >= 0) {
				LIT(c, ",");
				qraw(c, at->src ? "src_port" : "dst_port");
				LIT(c, ":");
				raw(c, at->num, strlen(at->num));
			}
			LIT(c, ",\"protocols\":[\"tcp\"]");
		} else {
			LIT(c, ",\"value\":");
			str(c, v, at->alen);
		}
		return;
	case OB_HOST_PORT:
		if (k == 0) {
			LIT(c, ",\"value\":");
			str(c, v, at->alen);
		} else {
			LIT(c, ",\"dst_ref\":");
			qraw(c, ids[0]);
			LIT(c, ",\"dst_port\":");
			raw(c, at->num, strlen(at->num));
			LIT(c, ",\"protocols\":[\"tcp\"]");
		}
		return;
	case OB_EMAIL_ADDR:
		if (k == 0) {
			LIT(c, ",\"is_multipart\":false,");
			if (at->src) {
				LIT(c, "\"from_ref\":");
				qraw(c, ids[1]);
			} else {
				LIT(c, "\"to_refs\":[");
				qraw(c, ids[1]);
				LIT(c, "]");
			}
		} else {
			LIT(c, ",\"value\":");
			cstr(c, v);
		}
		return;
	case OB_EMAIL_MSG:
		LIT(c, ",\"is_multipart\":false,");
		qraw(c, at->prop);
		LIT(c, ":");
		cstr(c, v);
		return;
	case OB_FILENAME:
	case OB_MUTEX:
		LIT(c, ",\"name\":");
		cstr(c, v);
		return;
	case OB_AS:
		LIT(c, ",\"number\":");
		raw(c, at->num, strlen(at->num));
		return;
	case OB_REGKEY:
		LIT(c, ",\"key\":");
		cstr(c, at->key);
		return;
	}
}

static void labels(struct wr *c, const struct at *at)
{
	LIT(c, ",\"labels\":[");
	cstr(c, at->lab_type);
	LIT(c, ",");
	cstr(c, at->lab_cat);
	LIT(c, "]");
}

static int indicator(struct wr *c, const struct at *at, const char *pattern)
{
	char id[SL_STIX_ID_MAX];
	int r;

	id_of(id, "indicator", at->uuid);
	if ((r = begin(c, id, c->objs)) <= 0)
		return r;
	sdo_head(c, "indicator", id, at->ts);
	if (at->comment && *at->comment) {
		LIT(c, ",\"description\":");
		cstr(c, at->comment);
	}
	LIT(c, ",\"pattern\":");
	cstr(c, pattern);
	LIT(c, ",\"pattern_type\":\"stix\",\"pattern_version\":\"2.1\",\"valid_from\":");
	qraw(c, at->vf);
	LIT(c, ",\"kill_chain_phases\":[{\"kill_chain_name\":\"misp-category\",\"phase_name\":");
	cstr(c, at->category ? at->category : "");
	LIT(c, "}]");
	labels(c, at);
	end(c);
	return 1;
}

static int custom(struct wr *c, const struct at *at)
{
	char id[SL_STIX_ID_MAX];
	int r;

	id_of(id, "x-misp-attribute", at->uuid);
	if ((r = begin(c, id, c->objs)) <= 0)
		return r;
	sdo_head(c, "x-misp-attribute", id, at->ts);
	labels(c, at);
	LIT(c, ",\"x_misp_category\":");
	cstr(c, at->category ? at->category : "");
	if (at->comment && *at->comment) {
		LIT(c, ",\"x_misp_comment\":");
		cstr(c, at->comment);
	}
	LIT(c, ",\"x_misp_type\":");
	cstr(c, at->type);
	LIT(c, ",\"x_misp_value\":");
	cstr(c, at->value);
	end(c);
	return 1;
}

static int relationship(struct wr *c, const char *src, const char *type, const char *tgt,
                        const char *ts)
{
	char id[SL_STIX_ID_MAX];
	int r;

	sl_stix_id_relationship_with(c->sha, src, type, tgt, id);
	if ((r = begin(c, id, c->rels)) <= 0)
		return r;
	LIT(c, "{\"type\":\"relationship\",\"spec_version\":\"2.1\",\"id\":");
	qraw(c, id);
	LIT(c, ",\"created\":");
	qraw(c, ts);
	LIT(c, ",\"modified\":");
	qraw(c, ts);
	LIT(c, ",\"relationship_type\":");
	qraw(c, type);
	LIT(c, ",\"source_ref\":");
	qraw(c, src);
	LIT(c, ",\"target_ref\":");
	qraw(c, tgt);
	end(c);
	return 1;
}

/* The pattern in c->c->pat if it validates; NULL to decline (the tree path warns about it). */
static const char *valid_pattern(struct wr *c)
{
	const char *pat = sl_pattern_str(c->c->pat);
	struct sl_err e;

	return pat && sl_pattern_validate(pat, &e) == 0 ? pat : NULL;
}

static int write_observable(struct sl_fast_attr *fa, struct wr *c, struct at *at, const char *pat)
{
	char od[SL_STIX_ID_MAX], ids[2][SL_STIX_ID_MAX];
	char fo[SL_TS_MAX], lo[SL_TS_MAX];
	int n = sco_ids(at, ids), r;

	if (sl_map_iso_ts(fstr(fa, F_FIRST), fo) != 0)
		memcpy(fo, at->vf, SL_TS_MAX);
	if (sl_map_iso_ts(fstr(fa, F_LAST), lo) != 0)
		memcpy(lo, at->vf, SL_TS_MAX);
	id_of(od, "observed-data", at->uuid);
	if ((r = begin(c, od, c->objs)) < 0)
		return r;
	if (r) {
		sdo_head(c, "observed-data", od, at->ts);
		LIT(c, ",\"first_observed\":");
		qraw(c, fo);
		LIT(c, ",\"last_observed\":");
		qraw(c, lo);
		LIT(c, ",\"number_observed\":1,\"object_refs\":[");
		for (int k = 0; k < n; k++) {
			if (k)
				LIT(c, ",");
			qraw(c, ids[k]);
		}
		LIT(c, "]");
		labels(c, at);
		end(c);
	}
	for (int k = 0; k < n; k++) {
		const char *dash = strstr(ids[k], "--");
		char type[40];
		size_t tl = (size_t)(dash - ids[k]);
		if ((r = begin(c, ids[k], c->objs)) < 0)
			return r;
		if (!r)
			continue;
		memcpy(type, ids[k], tl);
		type[tl] = '\0';
		sco_head(c, type, ids[k]);
		sco_body(c, at, k, ids);
		end(c);
	}
	if (pat) {
		char ind[SL_STIX_ID_MAX];
		if (indicator(c, at, pat) < 0)
			return SL_ENOMEM;
		id_of(ind, "indicator", at->uuid);
		if (relationship(c, ind, "based-on", od, at->ts) < 0)
			return SL_ENOMEM;
	}
	return 0;
}

/* Everything map_attribute checks before it writes, then the writing. 1, 0 (declined), <0. */
static int map_one(struct sl_fast_attr *fa, struct wr *c, struct at *at)
{
	const struct sl_fast_json_field *f = fa->f;
	enum sl_mtype_kind kind;
	const char *pat = NULL;
	int r;

	/* members whose content the tree path would act on: left to it */
	if (f[F_GALAXY].kind == SL_FJ_OTHER || f[F_TAG].kind == SL_FJ_OTHER ||
	    f[F_SIGHTING].kind == SL_FJ_OTHER)
		return 0;
	for (int k = 0; k < F_GALAXY; k++)
		if (f[k].kind == SL_FJ_STRING && strlen(f[k].s) != f[k].n)
			return 0; /* a NUL inside: C strings would cut it */
	at->uuid = fstr(fa, F_UUID);
	at->type = fstr(fa, F_TYPE);
	at->value = fstr(fa, F_VALUE);
	at->category = fstr(fa, F_CATEGORY);
	at->comment = fstr(fa, F_COMMENT);
	if (!at->uuid || !sl_stix_id_uuid_valid(at->uuid) || !at->type || !at->value)
		return 0;
	/* labels are cut at 255 bytes by the tree path: rare, left to it */
	if (strlen(at->type) > 200 || (at->category && strlen(at->category) > 200))
		return 0;
	if (!strcmp(at->type, "mac-address") || sl_misp_value_problem(at->type, at->value))
		return 0;
	at->mt = sl_mtype_get(at->type);
	kind = at->mt ? at->mt->kind : SL_MT_UNMAPPED;
	at->to_ids = fbool(fa, F_TO_IDS, at->mt ? at->mt->to_ids_default : 0);
	if (kind == SL_MT_RULE || kind == SL_MT_CAMPAIGN)
		return 0;

	char *norm = sl_misp_normalise(at->type, at->value);
	if (norm)
		at->value = norm;
	sl_pattern_reset(c->c->pat);
	r = 1;
	if (kind == SL_MT_OBSERVABLE) {
		r = observable(c, at);
		if (r == 1 && at->to_ids && !(pat = valid_pattern(c)))
			r = sl_pattern_str(c->c->pat) ? 0 : SL_ENOMEM;
	} else if (kind == SL_MT_INDICATOR && at->to_ids) {
		const char *t = at->type, *v = at->value;
		long port;
		if (!strcmp(t, "http-method"))
			r = sl_pattern_add(
			    c->c->pat,
			    "network-traffic:extensions.'http-request-ext'.request_method", v,
			    strlen(v));
		else if (!strcmp(t, "user-agent"))
			r = sl_pattern_add(c->c->pat,
			                   "network-traffic:extensions.'http-request-ext'."
			                   "request_header.'User-Agent'",
			                   v, strlen(v));
		else if (!strcmp(t, "port") && port_ok(v, &port))
			r = sl_pattern_add(c->c->pat, "network-traffic:dst_port", v, strlen(v));
		else
			r = -1; /* size-in-bytes and bad values: the tree path */
		r = r == 0 ? 1 : r == SL_ENOMEM ? SL_ENOMEM : 0;
		if (r == 1 && !(pat = valid_pattern(c)))
			r = sl_pattern_str(c->c->pat) ? 0 : SL_ENOMEM;
	}
	if (r != 1)
		goto out;

	/* nothing can decline from here on */
	if ((r = timestamps(fa, c, at->ts, at->vf)) < 0)
		goto out;
	sl_map_cat(at->lab_type, sizeof(at->lab_type), "misp:type=\"", at->type, "\"");
	sl_map_cat(at->lab_cat, sizeof(at->lab_cat), "misp:category=\"",
	           at->category ? at->category : "", "\"");
	switch (kind) {
	case SL_MT_UNMAPPED:
		snprintf(at->where, sizeof(at->where), "attribute %s", at->uuid);
		sl_map_warn(c->c, SL_EUNSUPPORTED, at->where, "MISP Attribute type %s not mapped.",
		            at->type);
		r = custom(c, at);
		break;
	case SL_MT_INDICATOR:
		r = at->to_ids ? indicator(c, at, pat) : custom(c, at);
		break;
	case SL_MT_VULN: {
		char id[SL_STIX_ID_MAX];
		id_of(id, "vulnerability", at->uuid);
		if ((r = begin(c, id, c->objs)) <= 0)
			break;
		sdo_head(c, "vulnerability", id, at->ts);
		LIT(c, ",\"name\":");
		cstr(c, at->value);
		labels(c, at);
		LIT(c, ",\"external_references\":[{\"source_name\":\"cve\",\"external_id\":");
		cstr(c, at->value);
		LIT(c, "}]");
		end(c);
		break;
	}
	case SL_MT_OBSERVABLE:
		r = write_observable(fa, c, at, pat);
		break;
	default:
		break;
	}
	r = r < 0 ? r : 1;
out:
	free(at->key);
	free(norm);
	return r;
}

int sl_fast_attr_map(struct sl_fast_attr *fa, struct sl_map_ctx *c, const char *buf, size_t len,
                     int base_depth, size_t *used)
{
	struct at at;
	size_t n;
	int r;

	if (!sl_fast_json_fields(buf, len, base_depth, SL_JSON_DEFAULT_MAX_DEPTH, names, fa->f,
	                         &fa->arena, &fa->acap, &n))
		return 0;
	memset(&at, 0, sizeof(at));
	fa->w.c = c;
	fa->w.objs = &fa->objs;
	fa->w.sha = fa->sha;
	fa->w.rels = &fa->rels;
	fa->w.n = 0;
	fa->w.oom = fa->w.bad_utf8 = 0;
	r = map_one(fa, &fa->w, &at);
	if (r == 1)
		*used = n;
	return r;
}

static int refs_add_json(struct refs *r, const json_t *v)
{
	size_t n;
	char *t = sl_stix_emit_dumps(v, &n);
	int rc;

	if (!t || n < 2) {
		free(t);
		return SL_ENOMEM;
	}
	rc = refs_add(r, t + 1, n - 2); /* refs_add quotes it again */
	free(t);
	return rc;
}

int sl_fast_attr_take_refs(struct sl_fast_attr *fa, struct sl_map_ctx *c)
{
	json_t *lists[2] = {c->refs, c->rel_refs};
	struct refs *to[2] = {&fa->objs, &fa->rels};

	for (int k = 0; k < 2; k++) {
		size_t i;
		json_t *v;
		json_array_foreach(lists[k], i, v)
		{
			const char *id = json_string_value(v);
			size_t n = json_string_length(v), j;
			/* ids are "<type>--<uuid>": nothing to escape; anything else the slow way
			 */
			for (j = 0; j < n && (unsigned char)id[j] >= 0x20 && id[j] != '"' &&
			            id[j] != '\\' && (unsigned char)id[j] < 0x80;
			     j++)
				;
			if (j == n ? refs_add(to[k], id, n) != 0 : refs_add_json(to[k], v) != 0)
				return SL_ENOMEM;
		}
		json_array_clear(lists[k]);
	}
	return 0;
}

size_t sl_fast_attr_ref_count(const struct sl_fast_attr *fa)
{
	return fa->objs.count + fa->rels.count;
}

const char *sl_fast_attr_refs_text(const struct sl_fast_attr *fa, int rels, size_t *len)
{
	const struct refs *r = rels ? &fa->rels : &fa->objs;

	*len = r->n;
	return r->p ? r->p : "";
}
