/* map_ctx.c — shared state and helpers of one MISP -> STIX 2.1 conversion. */
#include "map_ctx.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/* Years 0000-9999 without gmtime_r + snprintf, which were a sixth of the mapping's instructions
 * (several timestamps per attribute): days -> civil date as in H. Hinnant's days_from_civil
 * inverse. Returns -1 outside that range (the caller then takes the general path). */
static int fmt_time_fast(time_t t, int sdo, const char *frac, char out[SL_TS_MAX])
{
	long long secs = (long long)t, days, sod;
	char *p = out;

	if (secs < -62167219200LL || secs > 253402300799LL)
		return -1;
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	sod = secs - days * 86400;
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	int y = (int)(yoe + era * 400 + (m <= 2));
	if (y < 0 || y > 9999)
		return -1;
	size_t fl = sdo ? 4 : frac ? strlen(frac) : 0;
	if (fl > 12)
		return -1;
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, (int)(sod / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (int)(sod / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (int)(sod % 60), 2);
	if (fl) {
		memcpy(p, sdo ? ".000" : frac, fl);
		p += fl;
	}
	*p++ = 'Z';
	*p = '\0';
	return 0;
}

static void fmt_time(time_t t, int sdo, const char *frac, char out[SL_TS_MAX])
{
	struct tm tm;

	if (fmt_time_fast(t, sdo, frac, out) == 0)
		return;

	if (!gmtime_r(&t, &tm)) {
		snprintf(out, SL_TS_MAX, "1970-01-01T00:00:00%s", sdo ? ".000Z" : "Z");
		return;
	}
	if (sdo)
		snprintf(out, SL_TS_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		snprintf(out, SL_TS_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		         frac ? frac : "");
}

int sl_map_ts(struct sl_map_ctx *c, const json_t *v, int sdo, char out[SL_TS_MAX])
{
	long long n = -1;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		n = strtoll(s, &end, 10);
		if (end == s || *end != '\0')
			n = -1;
	}
	if (n < 0 || n > 253402300799LL) {
		/* misp-stix stamps the conversion time where MISP gives none */
		snprintf(out, SL_TS_MAX, "%s", c->now_ts);
		if (!sdo) {
			size_t l = strlen(out);
			if (l > 5 && !strcmp(out + l - 5, ".000Z"))
				memcpy(out + l - 5, "Z", 2);
		}
		return -1;
	}
	fmt_time((time_t)n, sdo, NULL, out);
	return 0;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int sl_map_iso_ts(const char *s, char out[SL_TS_MAX])
{
	struct tm tm;
	int Y, M, D, h = 0, m = 0, sec = 0, off = 0;
	char frac[12] = "";
	const char *p;

	if (!s || strlen(s) < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
	    s[7] != '-' || digits(s + 8, 2, &D))
		return -1;
	p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if (digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &m))
			return -1;
		p += 6;
		if (*p == ':') {
			if (digits(p + 1, 2, &sec))
				return -1;
			p += 3;
		}
		if (*p == '.') {
			size_t k = 0;
			const char *f = p + 1;
			while (*f >= '0' && *f <= '9') {
				if (k < 6)
					frac[1 + k++] = *f;
				f++;
			}
			/* keep significant fractional digits only, as Python's isoformat does for 0
			 */
			while (k > 0 && frac[k] == '0')
				k--;
			if (k > 0) {
				frac[0] = '.';
				frac[k + 1] = '\0';
			} else {
				frac[0] = '\0';
			}
			p = f;
		}
		if (*p == '+' || *p == '-') {
			int oh, om;
			if (digits(p + 1, 2, &oh))
				return -1;
			const char *q = p + 3;
			if (*q == ':')
				q++;
			if (digits(q, 2, &om))
				om = 0;
			off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		} else if (*p != 'Z' && *p != '\0') {
			return -1;
		}
	}
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	fmt_time(timegm(&tm) - off, 0, frac, out);
	return 0;
}

const char *sl_map_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int sl_map_bool(const json_t *o, const char *key, int dflt)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		return !strcmp(s, "1") || !strcasecmp(s, "true");
	}
	return dflt;
}

void sl_map_warn(struct sl_map_ctx *c, int code, const char *where, const char *fmt, ...)
{
	char msg[SL_ERR_MSG_MAX], w[SL_ERR_WHERE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(w, sizeof(w), "event %s%s%s", c->event_uuid, where && *where ? "/" : "",
	         where ? where : "");
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	for (char *p = w; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (c->warnings)
		json_array_append_new(c->warnings,
		                      json_pack("{s:s, s:s}", "where", w, "message", msg));
	if (c->opts && c->opts->strict && !c->strict_error) {
		c->strict_error = 1;
		sl_err_set(&c->strict_err, code ? code : SL_EUNSUPPORTED, w, "%s", msg);
	}
}

size_t sl_map_cat(char *out, size_t cap, const char *a, const char *b, const char *c)
{
	const char *parts[3] = {a, b, c};
	size_t n = 0;

	if (!cap)
		return 0;
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(parts[i]);
		if (l > cap - 1 - n)
			l = cap - 1 - n;
		memcpy(out + n, parts[i], l);
		n += l;
	}
	out[n] = '\0';
	return n;
}

/* Ids, types and timestamps built here are ASCII: the _nocheck setters skip UTF-8 validation, which
 * is most of the cost of building tens of thousands of small objects. */
static void put(json_t *o, const char *k, const char *v)
{
	json_object_set_new_nocheck(o, k, json_string_nocheck(v));
}

json_t *sl_map_strobj(const char *const *kv)
{
	json_t *o = json_object();

	for (size_t i = 0; o && kv[i]; i += 2) {
		json_t *v = kv[i + 1] ? json_string(kv[i + 1]) : NULL;
		if (!v || json_object_set_new(o, kv[i], v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *sl_map_sdo(struct sl_map_ctx *c, const char *type, const char *uuid, const char *ts)
{
	char id[SL_STIX_ID_MAX];
	json_t *o = json_object();

	if (!o)
		return NULL;
	sl_map_cat(id, sizeof(id), type, "--", uuid);
	put(o, "type", type);
	put(o, "spec_version", "2.1");
	put(o, "id", id);
	put(o, "created_by_ref", c->identity_id);
	put(o, "created", ts);
	put(o, "modified", ts);
	return o;
}

json_t *sl_map_sco(const char *type, const char *uuid)
{
	char id[SL_STIX_ID_MAX];
	json_t *o = json_object();

	if (!o)
		return NULL;
	sl_map_cat(id, sizeof(id), type, "--", uuid);
	put(o, "type", type);
	put(o, "spec_version", "2.1");
	put(o, "id", id);
	return o;
}

void sl_map_emit(struct sl_map_ctx *c, json_t *arr, json_t *obj)
{
	if (!c->out) {
		json_array_append_new(arr, obj);
		return;
	}
	if (!c->emit_error) {
		size_t len;
		if ((c->nout++ > 0 && sl_stix_emit_raw(c->emit, ",", 1, &c->emit_err) != 0) ||
		    sl_stix_emit_value(c->emit, obj, &c->emit_err) != 0)
			c->emit_error = 1;
		else if (sl_stix_emit_data(c->emit, &len) && len >= SL_MAP_EMIT_BLOCK &&
		         sl_stix_emit_flush(c->emit, c->out, &c->emit_err) != 0)
			c->emit_error = 1;
	}
	json_decref(obj);
}

/* ---- the id set: open addressing on a 64-bit hash, ids kept in one growing arena ---------- */

struct ids_slot {
	uint64_t h; /* 0: empty */
	size_t off; /* of the id in the arena */
};

struct sl_map_ids {
	struct ids_slot *slot;
	size_t cap, n; /* cap a power of two, n <= cap / 2 */
	char *arena;
	size_t alen, acap;
};

/* 8 bytes at a time, then murmur3's finaliser: ids are ~50 bytes of which most differ only in
 * their uuid */
static uint64_t ids_hash(const char *s, size_t *len)
{
	size_t n = strlen(s), i = 0;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 31;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, s + i, n - i);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	*len = n;
	return h ? h : 1;
}

struct sl_map_ids *sl_map_ids_new(void)
{
	struct sl_map_ids *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cap = 256;
	s->slot = calloc(s->cap, sizeof(*s->slot));
	if (!s->slot) {
		free(s);
		return NULL;
	}
	return s;
}

void sl_map_ids_free(struct sl_map_ids *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s->arena);
	free(s);
}

size_t sl_map_ids_count(const struct sl_map_ids *s)
{
	return s ? s->n : 0;
}

/* The slot of id (hash h) or the empty slot where it would go. */
static struct ids_slot *ids_find(const struct sl_map_ids *s, const char *id, size_t len, uint64_t h)
{
	size_t mask = s->cap - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		struct ids_slot *x = &s->slot[i];
		if (!x->h || (x->h == h && !memcmp(s->arena + x->off, id, len + 1)))
			return x;
	}
}

int sl_map_ids_has(const struct sl_map_ids *s, const char *id)
{
	size_t len;
	uint64_t h;

	if (!s || !id)
		return 0;
	h = ids_hash(id, &len);
	return ids_find(s, id, len, h)->h != 0;
}

static int ids_grow(struct sl_map_ids *s)
{
	size_t cap = s->cap * 2;
	struct ids_slot *slot = calloc(cap, sizeof(*slot)), *old = s->slot;

	if (!slot)
		return SL_ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (!old[i].h)
			continue;
		size_t k = (size_t)old[i].h & (cap - 1);
		while (slot[k].h)
			k = (k + 1) & (cap - 1);
		slot[k] = old[i];
	}
	s->slot = slot;
	s->cap = cap;
	free(old);
	return 0;
}

int sl_map_ids_add(struct sl_map_ids *s, const char *id)
{
	size_t len;
	uint64_t h;
	struct ids_slot *x;

	if (!s || !id)
		return SL_ENOMEM;
	h = ids_hash(id, &len);
	x = ids_find(s, id, len, h);
	if (x->h)
		return 0;
	if (s->alen + len + 1 > s->acap) {
		size_t cap = s->acap ? s->acap : 4096;
		while (cap < s->alen + len + 1)
			cap *= 2;
		char *a = realloc(s->arena, cap);
		if (!a)
			return SL_ENOMEM;
		s->arena = a;
		s->acap = cap;
	}
	if ((s->n + 1) * 2 > s->cap) {
		if (ids_grow(s) != 0)
			return SL_ENOMEM;
		x = ids_find(s, id, len, h);
	}
	memcpy(s->arena + s->alen, id, len + 1);
	x->h = h;
	x->off = s->alen;
	s->alen += len + 1;
	s->n++;
	return 1;
}

int sl_map_add(struct sl_map_ctx *c, json_t *obj)
{
	const char *id = sl_map_str(obj, "id");

	if (!obj || !id) {
		json_decref(obj);
		return SL_ENOMEM;
	}
	if (sl_map_ids_add(c->seen, id) == 0) { /* already there (out of memory: kept anyway) */
		json_decref(obj);
		return 0;
	}
	json_array_append_new(c->refs, json_string(id));
	sl_map_emit(c, c->objects, obj);
	return 1;
}

int sl_map_rel(struct sl_map_ctx *c, const char *src, const char *type, const char *tgt,
               const char *ts)
{
	char id[SL_STIX_ID_MAX];
	json_t *r;

	sl_stix_id_relationship(src, type, tgt, id);
	if (sl_map_ids_has(c->seen, id))
		return 0;
	r = json_object();
	if (!r)
		return SL_ENOMEM;
	put(r, "type", "relationship");
	put(r, "spec_version", "2.1");
	put(r, "id", id);
	put(r, "created", ts);
	put(r, "modified", ts);
	/* the type may come from a MISP object reference: checked */
	json_object_set_new_nocheck(r, "relationship_type", json_string(type));
	put(r, "source_ref", src);
	put(r, "target_ref", tgt);
	sl_map_ids_add(c->seen, id);
	json_array_append_new(c->rel_refs, json_string(id));
	sl_map_emit(c, c->rels, r);
	return 1;
}

void sl_map_push_str(json_t *obj, const char *key, const char *s)
{
	json_t *a = json_object_get(obj, key);

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(obj, key, a);
	}
	json_array_append_new(a, json_string(s));
}

struct tlp_def {
	const char *tag, *id, *name, *level;
	int v2;
};

static const struct tlp_def tlps[] = {
    {"tlp:white", "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "TLP:WHITE", "white",
     0},
    {"tlp:green", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "TLP:GREEN", "green",
     0},
    {"tlp:amber", "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", "TLP:AMBER", "amber",
     0},
    {"tlp:red", "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "TLP:RED", "red", 0},
    {"tlp:clear", "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR", "clear",
     1},
    {"tlp:amber+strict", "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
     "TLP:AMBER+STRICT", "amber+strict", 1},
};

const char *sl_map_tlp(struct sl_map_ctx *c, const char *tag)
{
	for (size_t i = 0; i < sizeof(tlps) / sizeof(tlps[0]); i++) {
		const struct tlp_def *t = &tlps[i];
		json_t *m;
		if (strcmp(tag, t->tag) != 0)
			continue;
		if (sl_map_ids_has(c->seen, t->id))
			return t->id;
		/* built member by member: json_pack's format parsing cost as much as the rest of a
		 * small event's tags (every value here is a constant) */
		json_t *inner = json_object(), *outer = json_object();
		m = json_object();
		put(m, "type", "marking-definition");
		put(m, "spec_version", "2.1");
		put(m, "id", t->id);
		put(m, "created", t->v2 ? "2022-10-01T00:00:00.000Z" : "2017-01-20T00:00:00.000Z");
		if (t->v2) {
			put(m, "name", t->name);
			put(inner, "extension_type", "property-extension");
			put(inner, "tlp_2_0", t->level);
			json_object_set_new_nocheck(
			    outer, "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d",
			    inner);
			json_object_set_new_nocheck(m, "extensions", outer);
		} else {
			put(m, "definition_type", "tlp");
			put(m, "name", t->name);
			put(inner, "tlp", t->level);
			json_object_set_new_nocheck(m, "definition", inner);
			json_decref(outer);
		}
		if (!m || !inner || !outer || json_object_size(m) != (size_t)(t->v2 ? 6 : 7)) {
			json_decref(m);
			return NULL;
		}
		sl_map_ids_add(c->seen, t->id);
		json_array_append_new(c->markings, m);
		return t->id;
	}
	return NULL;
}

static int confidence_of(const char *tag)
{
	static const struct {
		const char *tag;
		int v;
	} lv[] = {
	    {"misp:confidence-level=\"completely-confident\"", 100},
	    {"misp:confidence-level=\"usually-confident\"", 75},
	    {"misp:confidence-level=\"fairly-confident\"", 50},
	    {"misp:confidence-level=\"rarely-confident\"", 25},
	    {"misp:confidence-level=\"unconfident\"", 0},
	};
	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++)
		if (!strcmp(tag, lv[i].tag))
			return lv[i].v;
	return -1;
}

void sl_map_tags(struct sl_map_ctx *c, json_t *obj, const json_t *tags)
{
	size_t i;
	const json_t *t;
	int conf = -1;

	if (!json_is_array(tags))
		return;
	json_array_foreach(tags, i, t)
	{
		const char *name = sl_map_str(t, "name");
		const char *mid;
		if (!name) {
			if (json_is_string(t))
				name = json_string_value(t);
			else
				continue;
		}
		if ((mid = sl_map_tlp(c, name)) != NULL) {
			json_t *mr = json_object_get(obj, "object_marking_refs");
			int dup = 0;
			size_t k;
			json_t *x;
			json_array_foreach(mr, k, x) if (!strcmp(json_string_value(x), mid)) dup =
			    1;
			if (!dup)
				sl_map_push_str(obj, "object_marking_refs", mid);
			continue;
		}
		if (c->galaxy_tags && json_object_get(c->galaxy_tags, name))
			continue;
		sl_map_push_str(obj, "labels", name);
		int v = confidence_of(name);
		if (v >= 0 && (conf < 0 || v < conf))
			conf = v;
	}
	if (conf >= 0)
		json_object_set_new(obj, "confidence", json_integer(conf));
}

int sl_map_iso_epoch(const char *s, char out[24])
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	snprintf(out, 24, "%lld", (long long)timegm(&tm));
	return 0;
}
