/* ledger_ingest.c — the ledger's bulk ingest (sl_ledger_ingest, sl_ledger_quarantine): STIX checks,
 * canonical JSON, COPY into staging and set-based upserts in one transaction with the cursor. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "json.h"
#include "ledger_impl.h"
#include "observable.h"

/* ---- STIX checks ---------------------------------------------------------------------------- */

/* Parse a STIX timestamp (RFC 3339, UTC, "Z") into canonical microsecond form (out >=
 * SL_LEDGER_TS_MAX). Digits past microseconds are dropped. */
bool lg_stix_ts(const char *s, char *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se, us = 0, dim, i;
	const char *p;

	if (!s || strlen(s) < 20)
		return false;
	for (i = 0; i < 19; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return false;
		} else if (i == 10) {
			if (s[i] != 'T' && s[i] != 't')
				return false;
		} else if (i == 13 || i == 16) {
			if (s[i] != ':')
				return false;
		} else if (!isdigit((unsigned char)s[i])) {
			return false;
		}
	}
	y = atoi(s);
	mo = atoi(s + 5);
	d = atoi(s + 8);
	h = atoi(s + 11);
	mi = atoi(s + 14);
	se = atoi(s + 17);
	p = s + 19;
	if (*p == '.') {
		int digits = 0;

		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 6)
				us = us * 10 + (*p - '0');
		for (; digits < 6; digits++)
			us *= 10;
	}
	if ((*p != 'Z' && *p != 'z') || p[1] != '\0')
		return false;
	if (y < 1 || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return false;
	dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d < 1 || d > dim)
		return false;
	/* "YYYY-MM-DDTHH:MM:SS.ffffffZ", by hand: this runs twice per ingested object */
	{
		const int parts[7] = {y, mo, d, h, mi, se, us};
		static const int width[7] = {4, 2, 2, 2, 2, 2, 6};
		static const char after[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
		char *o = out;

		for (i = 0; i < 7; i++) {
			int k, v = parts[i];

			for (k = width[i] - 1; k >= 0; k--, v /= 10)
				o[k] = (char)('0' + v % 10);
			o += width[i];
			*o++ = after[i];
		}
		*o = '\0';
	}
	return true;
}

static bool is_sco(const char *type)
{
	static const char *const scos[] = {"artifact",
	                                   "autonomous-system",
	                                   "directory",
	                                   "domain-name",
	                                   "email-addr",
	                                   "email-message",
	                                   "file",
	                                   "ipv4-addr",
	                                   "ipv6-addr",
	                                   "mac-addr",
	                                   "mutex",
	                                   "network-traffic",
	                                   "process",
	                                   "software",
	                                   "url",
	                                   "user-account",
	                                   "windows-registry-key",
	                                   "x509-certificate"};
	size_t i;

	for (i = 0; i < sizeof(scos) / sizeof(scos[0]); i++)
		if (strcmp(type, scos[i]) == 0)
			return true;
	return false;
}

static bool is_container(const char *type)
{
	return strcmp(type, "report") == 0 || strcmp(type, "grouping") == 0 ||
	       strcmp(type, "observed-data") == 0 || strcmp(type, "note") == 0 ||
	       strcmp(type, "opinion") == 0 || strcmp(type, "sighting") == 0;
}

static bool is_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

/* A STIX id: "<type>--<uuid>". */
bool lg_is_stix_id(const char *s)
{
	const char *sep = s ? strstr(s, "--") : NULL;

	return sep && sep > s && strlen(sep + 2) == 36 && is_uuid(sep + 2);
}

struct prepared {
	const char *id, *type;
	char modified[SL_LEDGER_TS_MAX];
	char created[SL_LEDGER_TS_MAX];
	bool has_created;
	const char *spec_version;
	bool revoked;
};

/* Validate one object; msg gets the reason (naming the field) on failure. */
static bool check_object(const json_t *o, struct prepared *p, char *msg, size_t n)
{
	const json_t *jid, *jtype, *jmod, *jcre, *jspec, *jrev;
	char q[80];
	size_t tl, i;
	const char *mod_src;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(o)) {
		snprintf(msg, n, "not a JSON object");
		return false;
	}
	jtype = json_object_get(o, "type");
	jid = json_object_get(o, "id");
	if (!json_is_string(jtype) || json_string_length(jtype) == 0) {
		snprintf(msg, n, "missing 'type'");
		return false;
	}
	p->type = json_string_value(jtype);
	tl = strlen(p->type);
	for (i = 0; i < tl; i++)
		if (!(islower((unsigned char)p->type[i]) || isdigit((unsigned char)p->type[i]) ||
		      p->type[i] == '-'))
			break;
	if (i < tl || tl < 3 || tl > 250) {
		snprintf(msg, n, "'type' '%s' is not a STIX type",
		         sl_err_quote(q, sizeof(q), p->type, 60));
		return false;
	}
	if (strcmp(p->type, "bundle") == 0) {
		snprintf(msg, n, "a bundle inside a batch: ingest its objects");
		return false;
	}
	if (!json_is_string(jid)) {
		snprintf(msg, n, "missing 'id'");
		return false;
	}
	p->id = json_string_value(jid);
	if (strncmp(p->id, p->type, tl) != 0 || strncmp(p->id + tl, "--", 2) != 0) {
		snprintf(msg, n, "'id' '%s' does not start with its type '%s--'",
		         sl_err_quote(q, sizeof(q), p->id, 60), p->type);
		return false;
	}
	if (strlen(p->id + tl + 2) != 36 || !is_uuid(p->id + tl + 2)) {
		snprintf(msg, n, "'id' '%s' does not end in a UUID",
		         sl_err_quote(q, sizeof(q), p->id, 60));
		return false;
	}
	jspec = json_object_get(o, "spec_version");
	if (jspec && !json_is_string(jspec)) {
		snprintf(msg, n, "'spec_version' is not a string");
		return false;
	}
	p->spec_version = jspec ? json_string_value(jspec) : "2.1";
	jrev = json_object_get(o, "revoked");
	if (jrev && !json_is_boolean(jrev)) {
		snprintf(msg, n, "'revoked' is not a boolean");
		return false;
	}
	p->revoked = json_is_true(jrev);
	jcre = json_object_get(o, "created");
	if (jcre) {
		if (!lg_stix_ts(json_string_value(jcre), p->created)) {
			snprintf(msg, n, "'created' is not a STIX timestamp");
			return false;
		}
		p->has_created = true;
	}
	jmod = json_object_get(o, "modified");
	mod_src = "modified";
	if (!jmod && strcmp(p->type, "marking-definition") == 0) {
		jmod = jcre;
		mod_src = "created";
	}
	if (!jmod) {
		if (!is_sco(p->type)) {
			snprintf(msg, n, "missing 'modified'");
			return false;
		}
		memcpy(p->modified, EPOCH_TS, sizeof(EPOCH_TS)); /* SCOs have no versions */
		return true;
	}
	if (!lg_stix_ts(json_string_value(jmod), p->modified)) {
		snprintf(msg, n, "'%s' is not a STIX timestamp", mod_src);
		return false;
	}
	if (p->has_created && strcmp(p->modified, p->created) < 0) {
		snprintf(msg, n, "'modified' %s is earlier than 'created' %s", p->modified,
		         p->created);
		return false;
	}
	return true;
}

/* ---- ingest --------------------------------------------------------------------------------- */

/* One object of a batch, prepared before anything is sent: its canonical text (COPY-escaped) and
 * its observable and reference rows live in the batch's buffers at these offsets. */
struct item {
	struct prepared p;
	const char *origin;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hash[2 * SHA256_DIGEST_LENGTH + 1];
	size_t canon_off, canon_len; /* the canonical text as is (objects go by binary COPY) */
	size_t obs_off, obs_len;
	size_t refs_off, refs_len;
	bool container;
	char outcome;     /* 'n' 'w' 'o' 's', or 'r' rejected */
	bool repeat;      /* the same (id, modified) came earlier in the batch */
	size_t first;     /* the item of the batch that first carried this version */
	const char *bmax; /* the newest modified of this id within the batch */
	/* for a version already stored: its first delivery, kept on its objects row (NULL when
	 * stored before schema 4), borrowed from the outcome query's result */
	const char *db_peer, *db_origin;
	bool prov_seen; /* provenance_extra has (this version, peer, this origin) already */
};

struct batch {
	struct item *items;
	struct buf canon, obs, refs, quar, scratch, out;
	/* SHA-256 fetched once per batch: OpenSSL 3's one-shot SHA256() looks the algorithm up on
	 * every call, 1.2 us an object instead of 0.45 */
	EVP_MD *sha256;
	EVP_MD_CTX *sha;
	int64_t seq; /* the next of the seq values reserved for this batch's versions */
};

static void batch_free(struct batch *b)
{
	free(b->items);
	lg_buf_free(&b->canon);
	lg_buf_free(&b->obs);
	lg_buf_free(&b->refs);
	lg_buf_free(&b->quar);
	lg_buf_free(&b->scratch);
	lg_buf_free(&b->out);
	EVP_MD_CTX_free(b->sha);
	EVP_MD_free(b->sha256);
}

static bool batch_oom(const struct batch *b)
{
	return b->canon.oom || b->obs.oom || b->refs.oom || b->quar.oom || b->scratch.oom ||
	       b->out.oom;
}

struct obs_ctx {
	struct buf *b;
	size_t start;
	const char *id;
};

/* observables rows: value, type, stix_id; one object's duplicates dropped here so the direct COPY
 * of a new object's rows cannot collide with itself. */
static int obs_row(void *arg, const char *type, const char *value)
{
	struct obs_ctx *c = arg;
	size_t mark = c->b->len;
	const char *row, *end;

	lg_buf_copy_str(c->b, value);
	lg_buf_ch(c->b, '\t');
	lg_buf_copy_str(c->b, type);
	lg_buf_ch(c->b, '\t');
	lg_buf_copy_str(c->b, c->id);
	lg_buf_ch(c->b, '\n');
	if (c->b->oom)
		return 0;
	for (row = c->b->p + c->start; row < c->b->p + mark; row = end + 1) {
		end = memchr(row, '\n', (size_t)(c->b->p + mark - row));
		if ((size_t)(end + 1 - row) == c->b->len - mark &&
		    memcmp(row, c->b->p + mark, c->b->len - mark) == 0) {
			c->b->len = mark;
			break;
		}
	}
	return 0;
}

/* container_refs rows: container_id, container_type, ref_id. */
static void ref_row(struct buf *b, const struct prepared *p, const json_t *ref)
{
	if (!json_is_string(ref) || !lg_is_stix_id(json_string_value(ref)))
		return;
	lg_buf_copy_str(b, p->id);
	lg_buf_ch(b, '\t');
	lg_buf_copy_str(b, p->type);
	lg_buf_ch(b, '\t');
	lg_buf_copy_str(b, json_string_value(ref));
	lg_buf_ch(b, '\n');
}

static void container_rows(struct buf *refs, const struct prepared *p, const json_t *o)
{
	static const char *const arrays[] = {"object_refs", "observed_data_refs"};
	size_t i, k;
	const json_t *v;

	for (k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++)
		json_array_foreach(json_object_get(o, arrays[k]), i, v) ref_row(refs, p, v);
	ref_row(refs, p, json_object_get(o, "sighting_of_ref"));
}

static void quarantine_row(struct buf *q, const char *peer, const char *reason, const char *raw,
                           size_t raw_len)
{
	size_t keep =
	    raw_len > SL_LEDGER_QUARANTINE_RAW_MAX ? SL_LEDGER_QUARANTINE_RAW_MAX : raw_len;
	char num[24];

	/* never cut a UTF-8 sequence in half: PostgreSQL would refuse the text */
	while (keep > 0 && keep < raw_len && ((unsigned char)raw[keep] & 0xC0) == 0x80)
		keep--;
	lg_buf_copy_str(q, peer);
	lg_buf_ch(q, '\t');
	lg_buf_copy_str(q, reason);
	lg_buf_ch(q, '\t');
	lg_buf_copy_field(q, raw, keep);
	snprintf(num, sizeof(num), "\t%zu\n", raw_len);
	lg_buf_str(q, num);
}

void lg_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* jansson writes a NUL inside a string as \u0000, which jsonb refuses (and would fail the batch).
 */
static bool has_nul_escape(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && memcmp(p, "\\u0000", 6) == 0)
			return true;
		p += p + 1 < end && p[1] == '\\' ? 2 : 1;
	}
	return false;
}

/* Is s[0..n) valid UTF-8 (the bytes PostgreSQL will accept)? Only called on text with a byte over
 * 0x7F. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k, len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

/* A JSON string as jansson writes it: ", \ and control characters escaped (\u00XX in upper-case
 * hex where there is no short form), everything else as is. */
static bool canon_str(struct buf *o, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t i, start = 0;
	bool high = false;

	lg_buf_ch(o, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char u[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\') {
			high |= c >= 0x80;
			continue;
		}
		lg_buf_put(o, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"':
			lg_buf_str(o, "\\\"");
			break;
		case '\\':
			lg_buf_str(o, "\\\\");
			break;
		case '\b':
			lg_buf_str(o, "\\b");
			break;
		case '\f':
			lg_buf_str(o, "\\f");
			break;
		case '\n':
			lg_buf_str(o, "\\n");
			break;
		case '\r':
			lg_buf_str(o, "\\r");
			break;
		case '\t':
			lg_buf_str(o, "\\t");
			break;
		default:
			u[4] = hexd[c >> 4];
			u[5] = hexd[c & 15];
			u[6] = '\0';
			lg_buf_str(o, u);
		}
	}
	lg_buf_put(o, s + start, n - start);
	lg_buf_ch(o, '"');
	return !high || utf8_ok((const unsigned char *)s, n);
}

struct canon_key {
	const char *key;
	size_t len;
	const json_t *value;
};

/* jansson's order of keys: bytewise, a prefix first. */
static int canon_key_cmp(const struct canon_key *a, const struct canon_key *b)
{
	int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int canon_key_qsort(const void *a, const void *b)
{
	return canon_key_cmp(a, b);
}

#define CANON_DEPTH 128
#define CANON_SMALL 32 /* keys sorted on the stack */

/* sluice's canonical text of v appended to o: the same bytes as json_dumpb(v, JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY), so content hashes do not change, at a fraction of the cost
 * (no callback per token). false on what it leaves to jansson: a real number (jansson's %.17g
 * rules are not copied), invalid UTF-8, nesting over CANON_DEPTH. */
static bool canon_put(struct buf *o, const json_t *v, int depth)
{
	char num[24];
	size_t i, n;

	if (depth > CANON_DEPTH)
		return false;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		struct canon_key small[CANON_SMALL], *keys = small;
		const char *key;
		size_t klen;
		json_t *val;
		bool ok = true;

		n = json_object_size(v);
		if (n > CANON_SMALL && !(keys = malloc(n * sizeof(*keys)))) {
			o->oom = true;
			return true;
		}
		i = 0;
		json_object_keylen_foreach((json_t *)v, key, klen, val)
		{
			struct canon_key k = {key, klen, val};
			size_t j = i++;

			if (n > CANON_SMALL) {
				keys[j] = k;
				continue;
			}
			for (; j > 0 && canon_key_cmp(&keys[j - 1], &k) > 0; j--)
				keys[j] = keys[j - 1];
			keys[j] = k;
		}
		if (n > CANON_SMALL)
			qsort(keys, n, sizeof(*keys), canon_key_qsort);
		lg_buf_ch(o, '{');
		for (i = 0; i < n && ok; i++) {
			if (i)
				lg_buf_ch(o, ',');
			ok = canon_str(o, keys[i].key, keys[i].len);
			lg_buf_ch(o, ':');
			ok = ok && canon_put(o, keys[i].value, depth + 1);
		}
		lg_buf_ch(o, '}');
		if (keys != small)
			free(keys);
		return ok;
	}
	case JSON_ARRAY:
		lg_buf_ch(o, '[');
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			if (i)
				lg_buf_ch(o, ',');
			if (!canon_put(o, json_array_get(v, i), depth + 1))
				return false;
		}
		lg_buf_ch(o, ']');
		return true;
	case JSON_STRING:
		return canon_str(o, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		lg_buf_str(o, num);
		return true;
	case JSON_TRUE:
		lg_buf_str(o, "true");
		return true;
	case JSON_FALSE:
		lg_buf_str(o, "false");
		return true;
	case JSON_NULL:
		lg_buf_str(o, "null");
		return true;
	default:
		return false;
	}
}

/* Canonical form of obj into b->scratch: compact, keys sorted (jsonb keeps the content, the hash
 * this text). Returns its length, 0 when it cannot be serialised. */
static size_t canonical(const json_t *obj, struct batch *b)
{
	size_t len = 0;

	if (!obj)
		return 0;
	b->scratch.len = 0;
	if (canon_put(&b->scratch, obj, 0) && !b->scratch.oom)
		return b->scratch.len;
	if (b->scratch.oom)
		return 0;
	b->scratch.len = 0;
	for (;;) { /* jansson's own writer for what canon_put leaves to it */
		len = json_dumpb(obj, b->scratch.p, b->scratch.cap,
		                 JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		if (len == 0 || len < b->scratch.cap)
			return len;
		lg_buf_grow(&b->scratch, len + 1);
		if (b->scratch.oom)
			return 0;
	}
}

/* Validate one object's fields and take its version key; an invalid one is rejected into the
 * quarantine rows at once. The rest of its preparation (serialise_one) can wait. */
static void check_one(const char *peer, const struct sl_ledger_in *in, struct batch *b,
                      struct item *it, struct sl_ledger_result *res)
{
	size_t len;

	res->msg[0] = '\0';
	res->outcome = 0;
	it->origin = in->origin_id ? in->origin_id : "";
	if (check_object(in->obj, &it->p, res->msg, sizeof(res->msg)))
		return;
	len = canonical(in->obj, b);
	it->outcome = 'r';
	res->outcome = SL_LEDGER_REJECTED;
	quarantine_row(&b->quar, peer, res->msg, len ? b->scratch.p : "", len);
}

/* Serialise and hash one checked object and gather its observable and reference rows; an object
 * that cannot be stored as it serialises (too big, a NUL) is rejected here. Returns false then. */
static bool serialise_one(const char *peer, const struct sl_ledger_in *in, struct batch *b,
                          struct item *it, struct sl_ledger_result *res)
{
	size_t len = canonical(in->obj, b);
	struct obs_ctx oc;
	bool ok = true;

	if (len == 0) {
		snprintf(res->msg, sizeof(res->msg), "cannot serialise the object");
		ok = false;
	}
	if (ok && len > SL_LEDGER_MAX_OBJECT_BYTES) {
		snprintf(res->msg, sizeof(res->msg),
		         "object of %zu bytes is over the limit of %u bytes", len,
		         SL_LEDGER_MAX_OBJECT_BYTES);
		ok = false;
	}
	if (ok && has_nul_escape(b->scratch.p, len)) {
		snprintf(res->msg, sizeof(res->msg),
		         "a string holds a NUL character (\\u0000), which the ledger cannot store");
		ok = false;
	}
	if (!ok) {
		it->outcome = 'r';
		res->outcome = SL_LEDGER_REJECTED;
		quarantine_row(&b->quar, peer, res->msg, len ? b->scratch.p : "", len);
		return false;
	}
	if (!b->sha || !EVP_DigestInit_ex(b->sha, b->sha256, NULL) ||
	    !EVP_DigestUpdate(b->sha, b->scratch.p, len) ||
	    !EVP_DigestFinal_ex(b->sha, it->md, NULL))
		SHA256((const unsigned char *)b->scratch.p, len, it->md);
	lg_hex(it->md, sizeof(it->md), it->hash);
	it->canon_off = b->canon.len;
	lg_buf_put(&b->canon, b->scratch.p, len);
	it->canon_len = b->canon.len - it->canon_off;
	it->obs_off = b->obs.len;
	oc.b = &b->obs;
	oc.start = b->obs.len;
	oc.id = it->p.id;
	sl_observable_each(in->obj, obs_row, &oc);
	it->obs_len = b->obs.len - it->obs_off;
	it->container = is_container(it->p.type);
	it->refs_off = b->refs.len;
	if (it->container)
		container_rows(&b->refs, &it->p, in->obj);
	it->refs_len = b->refs.len - it->refs_off;
	return true;
}

static enum sl_ledger_outcome outcome_of(char c)
{
	switch (c) {
	case 'n':
		return SL_LEDGER_NEW;
	case 'w':
		return SL_LEDGER_NEWER;
	case 'o':
		return SL_LEDGER_OLDER;
	case 'r':
		return SL_LEDGER_REJECTED;
	default:
		return SL_LEDGER_SAME;
	}
}

/* Send b->out as one COPY (nothing to do when empty), then empty it. */
static int copy_out(struct sl_ledger *l, const char *stmt, struct batch *b, struct sl_err *err)
{
	int rc;

	if (batch_oom(b))
		return sl_err_set(err, SL_ENOMEM, "ingest", "out of memory");
	if (b->out.len == 0)
		return 0;
	rc = lg_copy_in(l, stmt, &b->out, err);
	b->out.len = 0;
	return rc;
}

static void row_key(struct buf *o, const struct item *it)
{
	lg_buf_copy_str(o, it->p.id);
	lg_buf_ch(o, '\t');
	lg_buf_str(o, it->p.modified);
	lg_buf_ch(o, '\t');
}

/* PostgreSQL's binary COPY format: the new versions go this way (about a fifth less server work
 * than text: no timestamp, bytea or escape parsing). */
static const char BIN_HEADER[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void bin_u32(struct buf *b, uint32_t v)
{
	char c[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};

	lg_buf_put(b, c, 4);
}

static void bin_i64(struct buf *b, int64_t v)
{
	bin_u32(b, (uint32_t)((uint64_t)v >> 32));
	bin_u32(b, (uint32_t)v);
}

static void bin_field(struct buf *b, const void *p, size_t n)
{
	bin_u32(b, (uint32_t)n);
	lg_buf_put(b, p, n);
}

static void bin_text(struct buf *b, const char *s)
{
	bin_field(b, s, strlen(s));
}

/* A canonical "YYYY-MM-DDTHH:MM:SS.ffffffZ" as a binary timestamptz field: microseconds since
 * 2000-01-01T00:00:00Z. */
static void bin_ts(struct buf *b, const char *t)
{
	int y = atoi(t), m = atoi(t + 5), d = atoi(t + 8), era, yoe, doy, doe;
	int64_t days, us;

	/* days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = (int64_t)era * 146097 + doe - 719468 - 10957; /* 10957 days 1970 -> 2000 */
	us = ((days * 24 + atoi(t + 11)) * 60 + atoi(t + 14)) * 60 + atoi(t + 17);
	us = us * 1000000 + atoi(t + 20);
	bin_u32(b, 8);
	bin_i64(b, us);
}

/* Send b->out, a binary COPY of stmt begun with BIN_HEADER, with its trailer; then empty it. */
static int bin_out(struct sl_ledger *l, const char *stmt, struct batch *b, struct sl_err *err)
{
	if (b->out.len <= sizeof(BIN_HEADER)) {
		b->out.len = 0;
		return 0;
	}
	lg_buf_put(&b->out, "\377\377", 2); /* the trailer: a tuple of -1 fields */
	return copy_out(l, stmt, b, err);
}

/* Within-batch bookkeeping, so the database is asked only about distinct versions: which items
 * repeat an earlier (id, modified), and the newest modified of each id in the batch. */
static uint64_t fnv(const char *s, const char *t)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	if (t) {
		h = (h ^ 0xff) * 1099511628211ull;
		for (; *t; t++)
			h = (h ^ (unsigned char)*t) * 1099511628211ull;
	}
	return h;
}

/* Does the repeat delivery it (outcome 's') repeat its version's first delivery, kept on the
 * objects row: same peer, same origin? */
static bool repeats_first(const struct batch *b, const struct item *it, const char *peer)
{
	const struct item *f = &b->items[it->first];

	if (f->outcome != 's') /* the version is new in this batch: f is its first delivery */
		return strcmp(it->origin, f->origin) == 0;
	return f->db_peer && strcmp(f->db_peer, peer) == 0 && strcmp(f->db_origin, it->origin) == 0;
}

/* Must the repeat delivery it be upserted: its version was stored before and the outcome query
 * found a provenance row for the origin it probed, or did not probe this origin? */
static bool repeat_upserted(const struct batch *b, const struct item *it)
{
	const struct item *f = &b->items[it->first];

	return f->outcome == 's' && (f->prov_seen || strcmp(it->origin, f->origin) != 0);
}

static const char PROVENANCE_COPY[] = "COPY provenance_extra (id, modified, peer, origin_id, "
                                      "content_hash, deliveries, of_first) FROM STDIN (FORMAT "
                                      "binary)";

/* Repeated deliveries: one provenance row per (version, peer, origin), counted. A row known not to
 * exist yet (the version is new in this batch, or the outcome query found none for the origin it
 * probed) is COPYed in, counted here; the others are upserted from a staging table. */
static int store_repeats(struct sl_ledger *l, const char *peer, struct batch *b, size_t n,
                         struct sl_err *err)
{
	size_t cap = 16, i, h, *slot, *count;
	const char *pp[1] = {peer};
	bool any_upsert = false;
	int rc = 0;

	while (cap < 2 * n)
		cap *= 2;
	slot = malloc(cap * sizeof(size_t));
	count = calloc(n, sizeof(size_t));
	if (!slot || !count) {
		free(slot);
		free(count);
		return sl_err_set(err, SL_ENOMEM, "ingest", "out of memory");
	}
	memset(slot, 0xff, cap * sizeof(size_t));
	/* group the new rows by (version, origin): items of the same version share their first */
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];

		if (it->outcome != 's')
			continue;
		if (repeat_upserted(b, it)) {
			any_upsert = true;
			continue;
		}
		for (h = (fnv(it->origin, NULL) ^ (it->first * 0x9E3779B97F4A7C15ull)) & (cap - 1);
		     slot[h] != SIZE_MAX; h = (h + 1) & (cap - 1)) {
			const struct item *g = &b->items[slot[h]];

			if (g->first == it->first && strcmp(g->origin, it->origin) == 0)
				break;
		}
		if (slot[h] == SIZE_MAX)
			slot[h] = i;
		count[slot[h]]++;
	}
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];
		char of_first = repeats_first(b, it, peer);

		if (count[i] == 0)
			continue;
		if (b->out.len == 0)
			lg_buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
		lg_buf_put(&b->out, "\0\7", 2); /* 7 fields */
		bin_text(&b->out, it->p.id);
		bin_ts(&b->out, it->p.modified);
		bin_text(&b->out, peer);
		bin_text(&b->out, it->origin);
		bin_field(&b->out, it->md, sizeof(it->md));
		bin_u32(&b->out, 4);
		bin_u32(&b->out, (uint32_t)count[i]);
		bin_field(&b->out, &of_first, 1);
	}
	free(slot);
	free(count);
	if ((rc = bin_out(l, PROVENANCE_COPY, b, err)) != 0 || !any_upsert)
		return rc;
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];

		if (it->outcome != 's' || !repeat_upserted(b, it))
			continue;
		row_key(&b->out, it);
		lg_buf_copy_str(&b->out, it->origin);
		lg_buf_str(&b->out, "\t\\\\x");
		lg_buf_str(&b->out, it->hash);
		lg_buf_str(&b->out, repeats_first(b, it, peer) ? "\tt\n" : "\tf\n");
	}
	if ((rc = copy_out(l, "COPY stage_prov FROM STDIN", b, err)) != 0)
		return rc;
	return lg_run_ok(l, "ingest_provenance", 1, pp, err);
}

/* The versions the ledger did not have go straight into objects (with their first delivery: peer
 * and origin) and observables by COPY: nothing can collide with them while this transaction holds
 * the ingest lock. Repeated deliveries go through staging tables and set-based upserts. */
static const char OBJECTS_COPY[] = "COPY objects (id, modified, type, spec_version, created, "
                                   "revoked, content_hash, content, date_added, peer, origin_id, "
                                   "seq) FROM STDIN (FORMAT binary)";

/* Append item it's objects row (binary COPY, after BIN_HEADER) to b->out, when it is a version to
 * store. */
static void object_row(struct batch *b, const struct item *it, const char *peer,
                       int64_t date_added_us)
{
	char flag = it->p.revoked;

	if (it->outcome == 'r' || it->outcome == 's')
		return;
	lg_buf_put(&b->out, "\0\14", 2); /* 12 fields */
	bin_text(&b->out, it->p.id);
	bin_ts(&b->out, it->p.modified);
	bin_text(&b->out, it->p.type);
	bin_text(&b->out, it->p.spec_version);
	if (it->p.has_created)
		bin_ts(&b->out, it->p.created);
	else
		bin_u32(&b->out, UINT32_MAX); /* NULL */
	bin_field(&b->out, &flag, 1);
	bin_field(&b->out, it->md, sizeof(it->md));
	bin_u32(&b->out, (uint32_t)it->canon_len + 1);
	lg_buf_ch(&b->out, 1); /* jsonb's binary form: version 1, then the text */
	lg_buf_put(&b->out, b->canon.p + it->canon_off, it->canon_len);
	bin_u32(&b->out, 8);
	bin_i64(&b->out, date_added_us);
	bin_text(&b->out, peer);
	bin_text(&b->out, it->origin);
	bin_u32(&b->out, 8);
	bin_i64(&b->out, b->seq++);
}

/* objects_stored: the objects rows are already in (streamed while serialising). */
static int store(struct sl_ledger *l, const char *peer, struct batch *b, size_t n,
                 int64_t date_added_us, bool objects_stored, struct sl_err *err)
{
	size_t i;
	bool any_same = false, any_obs_upsert = false, any_container = false;
	int rc;

	for (i = 0; i < n && !objects_stored; i++) {
		if (b->out.len == 0)
			lg_buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
		object_row(b, &b->items[i], peer, date_added_us);
		if (b->out.len >= 8 * COPY_CHUNK && (rc = bin_out(l, OBJECTS_COPY, b, err)) != 0)
			return rc;
	}
	if ((rc = bin_out(l, OBJECTS_COPY, b, err)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		any_same |= b->items[i].outcome == 's';
	if (any_same && (rc = store_repeats(l, peer, b, n, err)) != 0)
		return rc;
	for (i = 0; i < n; i++) { /* observables of brand-new ids */
		const struct item *it = &b->items[i];

		if (it->outcome == 'w' || it->outcome == 'o')
			any_obs_upsert |= it->obs_len > 0;
		if ((it->outcome == 'n' || it->outcome == 'w') && it->container)
			any_container = true;
		if (it->outcome == 'n')
			lg_buf_put(&b->out, b->obs.p + it->obs_off, it->obs_len);
	}
	if ((rc = copy_out(l, "COPY observables (value, type, stix_id) FROM STDIN", b, err)) != 0)
		return rc;
	if (any_obs_upsert) {
		for (i = 0; i < n; i++)
			if (b->items[i].outcome == 'w' || b->items[i].outcome == 'o')
				lg_buf_put(&b->out, b->obs.p + b->items[i].obs_off,
				           b->items[i].obs_len);
		if ((rc = copy_out(l, "COPY stage_obs FROM STDIN", b, err)) != 0 ||
		    (rc = lg_run_ok(l, "ingest_observables", 0, NULL, err)) != 0)
			return rc;
	}
	if (any_container) { /* a container's newest version replaces its references */
		for (i = 0; i < n; i++) {
			const struct item *it = &b->items[i];

			if ((it->outcome == 'n' || it->outcome == 'w') && it->container) {
				lg_buf_copy_str(&b->out, it->p.id);
				lg_buf_ch(&b->out, '\n');
			}
		}
		if ((rc = copy_out(l, "COPY stage_containers FROM STDIN", b, err)) != 0)
			return rc;
		for (i = 0; i < n; i++) {
			const struct item *it = &b->items[i];

			if ((it->outcome == 'n' || it->outcome == 'w') && it->container)
				lg_buf_put(&b->out, b->refs.p + it->refs_off, it->refs_len);
		}
		if ((rc = copy_out(l, "COPY stage_refs FROM STDIN", b, err)) != 0 ||
		    (rc = lg_run_ok(l, "ingest_refs_delete", 0, NULL, err)) != 0 ||
		    (rc = lg_run_ok(l, "ingest_refs_insert", 0, NULL, err)) != 0)
			return rc;
	}
	return 0;
}

static int batch_index(struct batch *b, size_t n)
{
	size_t cap = 16, i;
	size_t *by_version, *by_id;

	while (cap < 2 * n)
		cap *= 2;
	by_version = malloc(cap * sizeof(size_t));
	by_id = malloc(cap * sizeof(size_t));
	if (!by_version || !by_id) {
		free(by_version);
		free(by_id);
		return SL_ENOMEM;
	}
	memset(by_version, 0xff, cap * sizeof(size_t));
	memset(by_id, 0xff, cap * sizeof(size_t));
	for (i = 0; i < n; i++) {
		struct item *it = &b->items[i];
		size_t h;

		it->repeat = false;
		it->first = i;
		if (it->outcome == 'r')
			continue;
		for (h = fnv(it->p.id, it->p.modified) & (cap - 1); by_version[h] != SIZE_MAX;
		     h = (h + 1) & (cap - 1)) {
			const struct item *o = &b->items[by_version[h]];

			if (strcmp(o->p.id, it->p.id) == 0 &&
			    strcmp(o->p.modified, it->p.modified) == 0)
				break;
		}
		if (by_version[h] != SIZE_MAX) {
			it->repeat = true;
			it->first = by_version[h];
		} else {
			by_version[h] = i;
		}
		for (h = fnv(it->p.id, NULL) & (cap - 1); by_id[h] != SIZE_MAX;
		     h = (h + 1) & (cap - 1))
			if (strcmp(b->items[by_id[h]].p.id, it->p.id) == 0)
				break;
		if (by_id[h] == SIZE_MAX ||
		    strcmp(b->items[by_id[h]].p.modified, it->p.modified) < 0)
			by_id[h] = i;
	}
	for (i = 0; i < n; i++) {
		struct item *it = &b->items[i];
		size_t h;

		if (it->outcome == 'r')
			continue;
		for (h = fnv(it->p.id, NULL) & (cap - 1);
		     strcmp(b->items[by_id[h]].p.id, it->p.id) != 0; h = (h + 1) & (cap - 1))
			;
		it->bmax = b->items[by_id[h]].p.modified;
	}
	free(by_version);
	free(by_id);
	return 0;
}

/* The outcome of a distinct version, given the ledger's newest modified of its id (NULL = none)
 * and whether that exact version is stored. */
static char judge(const struct item *it, const char *pm, bool exact)
{
	const char *newest;

	if (exact || (pm && strcmp(it->p.modified, pm) == 0))
		return 's';
	newest = pm && strcmp(pm, it->bmax) > 0 ? pm : it->bmax;
	if (strcmp(it->p.modified, newest) < 0)
		return 'o';
	return pm ? 'w' : 'n';
}

/* Stage the version keys of the distinct valid items (ord = item index, and the origin they came
 * from) in a fresh stage table, by binary COPY. */
static int stage_keys(struct sl_ledger *l, struct batch *b, size_t n, size_t *staged,
                      struct sl_err *err)
{
	size_t i;

	*staged = 0;
	for (i = 0; i < n; i++) {
		const struct item *it = &b->items[i];

		if (it->outcome == 'r' || it->repeat)
			continue;
		if (b->out.len == 0)
			lg_buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
		lg_buf_put(&b->out, "\0\4", 2); /* 4 fields */
		bin_u32(&b->out, 4);
		bin_u32(&b->out, (uint32_t)i);
		bin_text(&b->out, it->p.id);
		bin_ts(&b->out, it->p.modified);
		bin_text(&b->out, it->origin);
		(*staged)++;
	}
	return bin_out(l, "COPY stage (ord, id, modified, origin_id) FROM STDIN (FORMAT binary)", b,
	               err);
}

/* The result of ingest_outcomes sent with PQsendQuery, or NULL with err. */
static PGresult *outcomes_result(struct sl_ledger *l, struct sl_err *err)
{
	PGresult *r, *keep = NULL;
	int rc = 0;

	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK && !keep && rc == 0) {
			keep = r;
			continue;
		}
		if (rc == 0)
			rc = lg_db_fail(l, r, "ingest_outcomes", err);
		PQclear(r);
	}
	if (rc != 0 || !keep) {
		PQclear(keep);
		if (rc == 0)
			lg_db_fail(l, NULL, "ingest_outcomes", err);
		return NULL;
	}
	return keep;
}

/* Judge every staged item from the outcome rows (ord, the ledger's newest modified of the id,
 * whether this version is stored, and that stored version's first peer and origin; no row: the
 * ledger has no version of the id), then the items repeating a version earlier in the batch. */
static void judge_all(struct batch *b, size_t n, PGresult *r)
{
	int k, rows = PQntuples(r);
	size_t i;

	for (k = 0; k < rows; k++) {
		long ord = strtol(PQgetvalue(r, k, 0), NULL, 10);
		struct item *it;

		if (ord < 0 || (size_t)ord >= n || b->items[ord].outcome != 0)
			continue;
		it = &b->items[ord];
		it->outcome = judge(it, PQgetisnull(r, k, 1) ? NULL : PQgetvalue(r, k, 1),
		                    PQgetvalue(r, k, 2)[0] == 't');
		if (it->outcome == 's' && !PQgetisnull(r, k, 3)) {
			it->db_peer = PQgetvalue(r, k, 3);
			it->db_origin = PQgetisnull(r, k, 4) ? "" : PQgetvalue(r, k, 4);
		}
		it->prov_seen = PQgetvalue(r, k, 5)[0] == 't';
	}
	for (i = 0; i < n; i++) {
		if (b->items[i].repeat)
			b->items[i].outcome = 's';
		else if (b->items[i].outcome == 0)
			b->items[i].outcome = judge(&b->items[i], NULL, false);
	}
}

/* Returned by stream_objects when an object is refused only as it serialises after the batch
 * was judged: the transaction is rolled back and the batch ingested again without streaming. */
#define AGAIN 1

/* Send b->out into the COPY in progress and empty it. */
static int put_out(struct sl_ledger *l, struct batch *b, struct sl_err *err)
{
	int rc = 0;

	if (batch_oom(b))
		rc = sl_err_set(err, SL_ENOMEM, "ingest", "out of memory");
	else if (PQputCopyData(l->conn, b->out.p, (int)b->out.len) != 1)
		rc = lg_db_fail(l, NULL, "ingest objects", err);
	b->out.len = 0;
	return rc;
}

/* The objects COPY, sent while the objects from `from` on are serialised: the server parses and
 * indexes versions while sluice serialises and hashes the next ones. Called only when the batch
 * has versions to store. */
static int stream_objects(struct sl_ledger *l, const char *peer, const struct sl_ledger_in *in,
                          struct sl_ledger_result *results, struct batch *b, size_t n, size_t from,
                          int64_t date_added_us, struct sl_err *err)
{
	PGresult *r = PQexec(l->conn, OBJECTS_COPY);
	bool again = false;
	size_t i;
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COPY_IN) {
		rc = lg_db_fail(l, r, OBJECTS_COPY, err);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	b->out.len = 0;
	lg_buf_put(&b->out, BIN_HEADER, sizeof(BIN_HEADER));
	for (i = 0; i < n && rc == 0; i++) {
		struct item *it = &b->items[i];

		if (i >= from && it->outcome != 'r' &&
		    !serialise_one(peer, &in[i], b, it, &results[i])) {
			again = true;
			break;
		}
		object_row(b, it, peer, date_added_us);
		if (b->out.len >= COPY_CHUNK)
			rc = put_out(l, b, err);
	}
	if (rc == 0 && !again) {
		lg_buf_put(&b->out, "\377\377", 2); /* the trailer: a tuple of -1 fields */
		rc = put_out(l, b, err);
	}
	/* ending the COPY with an error message makes the server refuse it (and the transaction) */
	if (PQputCopyEnd(l->conn, rc == 0 && !again ? NULL : "ingest stopped") != 1 && rc == 0)
		rc = lg_db_fail(l, NULL, "ingest objects", err);
	while ((r = PQgetResult(l->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0 && !again)
			rc = lg_db_fail(l, r, "ingest objects", err);
		PQclear(r);
	}
	b->out.len = 0;
	return rc == 0 && again ? AGAIN : rc;
}

static int ingest(struct sl_ledger *l, const char *peer, const struct sl_ledger_in *in, size_t n,
                  const struct sl_ledger_cursor *cursor, struct sl_ledger_result *results,
                  bool streaming, struct sl_err *err)
{
	struct batch b;
	PGresult *r, *outcomes = NULL;
	size_t staged = 0, i, late = 0, done;
	char nkeys[24];
	const char *pk[1] = {nkeys};
	int64_t date_added = 0;
	bool streamed = false;
	int rc;

	if (!peer || !*peer || (n && (!in || !results)))
		return sl_err_set(err, SL_EINVAL, "ingest", "no peer, objects or results");
	if (n > SL_LEDGER_MAX_BATCH)
		return sl_err_set(err, SL_ELIMIT, peer,
		                  "a batch of %zu objects is over the limit of %u", n,
		                  SL_LEDGER_MAX_BATCH);
	if (cursor && (!cursor->peer || !cursor->stream || !cursor->position))
		return sl_err_set(err, SL_EINVAL, peer, "cursor without peer, stream or position");
	memset(&b, 0, sizeof(b));
	if (n && !(b.items = calloc(n, sizeof(*b.items))))
		return sl_err_set(err, SL_ENOMEM, peer, "out of memory");
	lg_buf_grow(&b.scratch, 64 * 1024);
	if ((b.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL)
		b.sha = EVP_MD_CTX_new();
	/* the cheap checks first: the version keys are all the outcome query needs */
	for (i = 0; i < n; i++)
		check_one(peer, &in[i], &b, &b.items[i], &results[i]);
	if (batch_index(&b, n) != 0) {
		rc = sl_err_set(err, SL_ENOMEM, peer, "out of memory");
		goto out;
	}
	if ((rc = lg_ready(l, err)) != 0)
		goto out;
	if (!l->staged) {
		if ((rc = lg_run_ok(l, "stage_create", 0, NULL, err)) != 0)
			goto out;
		l->staged = true;
	}
	/* JIT compiling the outcome query costs more than running it on a batch */
	if ((rc = lg_exec_plain(l, "BEGIN; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off",
	                        "ingest", err)) != 0 ||
	    (rc = stage_keys(l, &b, n, &staged, err)) != 0)
		goto out;
	if (staged) {
		if ((rc = lg_run_ok(l, "ingest_lock", 0, NULL, err)) != 0)
			goto out;
		snprintf(nkeys, sizeof(nkeys), "%zu", staged);
		if (!(r = lg_run(l, "ingest_date_added", 1, pk, err))) {
			rc = SL_EDB;
			goto out;
		}
		date_added = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		b.seq = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
		PQclear(r);
		/* the server probes the ledger while we serialise and hash the objects */
		if (!PQsendQueryParams(l->conn, lg_sql("ingest_outcomes"), 1, NULL, &peer, NULL,
		                       NULL, 0)) {
			rc = lg_db_fail(l, NULL, "ingest_outcomes", err);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (staged && i % 64 == 0) {
			if (!PQconsumeInput(l->conn))
				break; /* the lost connection shows in the result */
			if (streaming && i && !PQisBusy(l->conn))
				break; /* the outcomes are in: the rest is serialised as objects go
				          out */
		}
		if (b.items[i].outcome == 'r')
			continue;
		if (!serialise_one(peer, &in[i], &b, &b.items[i], &results[i]))
			late++;
	}
	done = i;
	if (staged) {
		if (!(outcomes = outcomes_result(l, err))) {
			rc = SL_EDB;
			goto out;
		}
		if (late) { /* rare: judge again without the versions rejected while serialising */
			for (; done < n; done++)
				if (b.items[done].outcome != 'r' &&
				    !serialise_one(peer, &in[done], &b, &b.items[done],
				                   &results[done]))
					late++;
			PQclear(outcomes);
			outcomes = NULL;
			if (batch_index(&b, n) != 0) {
				rc = sl_err_set(err, SL_ENOMEM, peer, "out of memory");
				goto out;
			}
			if ((rc = lg_run_ok(l, "stage_clear", 0, NULL, err)) != 0 ||
			    (rc = stage_keys(l, &b, n, &staged, err)) != 0)
				goto out;
			if (!(outcomes = lg_run(l, "ingest_outcomes", 1, &peer, err))) {
				rc = SL_EDB;
				goto out;
			}
		}
		judge_all(&b, n, outcomes);
		for (i = 0; i < n && !streamed; i++)
			streamed = done < n && strchr("nwo", b.items[i].outcome);
		if (streamed)
			rc = stream_objects(l, peer, in, results, &b, n, done, date_added, err);
		for (i = done; i < n && rc == 0 && !streamed;
		     i++) /* nothing to store but repeats */
			if (b.items[i].outcome != 'r' &&
			    !serialise_one(peer, &in[i], &b, &b.items[i], &results[i]))
				rc = AGAIN;
		if (rc != 0 || (rc = store(l, peer, &b, n, date_added, streamed, err)) != 0)
			goto out;
	}
	if (batch_oom(&b)) {
		rc = sl_err_set(err, SL_ENOMEM, peer, "out of memory");
		goto out;
	}
	if (cursor) {
		const char *pc[3] = {cursor->peer, cursor->stream, cursor->position};

		if ((rc = lg_run_ok(l, "cursor_set", 3, pc, err)) != 0)
			goto out;
	}
	if (b.quar.len &&
	    (rc = lg_copy_in(l, "COPY quarantine (peer, reason, raw, raw_bytes) FROM STDIN",
	                     &b.quar, err)) != 0)
		goto out;
	if ((rc = lg_commit(l, "ingest", err)) != 0)
		goto out;

	for (i = 0; i < n; i++)
		results[i].outcome = outcome_of(b.items[i].outcome);
out:
	if (rc != 0 && l) {
		if (PQstatus(l->conn) == CONNECTION_OK && PQisBusy(l->conn))
			while ((r = PQgetResult(l->conn)) != NULL)
				PQclear(r);
		lg_rollback(l);
	}
	if (rc < 0)
		sl_err_prefix_where(err, peer);
	PQclear(outcomes);
	batch_free(&b);
	return rc;
}

int sl_ledger_ingest(struct sl_ledger *l, const char *peer, const struct sl_ledger_in *in, size_t n,
                     const struct sl_ledger_cursor *cursor, struct sl_ledger_result *results,
                     struct sl_err *err)
{
	int rc = ingest(l, peer, in, n, cursor, results, true, err);

	return rc == AGAIN ? ingest(l, peer, in, n, cursor, results, false, err) : rc;
}

int sl_ledger_quarantine(struct sl_ledger *l, const char *peer, const char *raw, size_t raw_len,
                         const char *reason, struct sl_err *err)
{
	struct buf q = {0};
	int rc;

	if (!peer || !reason || (!raw && raw_len))
		return sl_err_set(err, SL_EINVAL, "quarantine", "no peer or reason");
	if ((rc = lg_ready(l, err)) != 0)
		return rc;
	quarantine_row(&q, peer, reason, raw ? raw : "", raw_len);
	if (q.oom)
		rc = sl_err_set(err, SL_ENOMEM, "quarantine", "out of memory");
	else
		rc = lg_copy_in(l, "COPY quarantine (peer, reason, raw, raw_bytes) FROM STDIN", &q,
		                err);
	lg_buf_free(&q);
	return rc;
}
