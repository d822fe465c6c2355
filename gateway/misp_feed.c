/* misp_feed.c — MISP feeds: manifest planning, hashes.csv checks, and an atomic feed writer. */
#include "misp_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"

#define FEED_MAX_FILE (256u * 1024u * 1024u)

struct sl_feed_manifest {
	size_t n;
	char (*uuid)[37];
	long long *ts;
};

struct sl_feed_hashes {
	json_t *set; /* keys "<md5>,<uuid>" */
};

struct sl_feed_writer {
	char *dir;
	json_t *manifest; /* uuid -> manifest entry */
	json_t *hashes;   /* uuid -> [md5, ...] */
};

static int is_uuid(const char *s)
{
	static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (pat[i] == '-') {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		             (s[i] >= 'A' && s[i] <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

/* MISP sends numbers as numbers or as decimal strings. */
static int json_epoch(const json_t *v, long long *out)
{
	const char *s;
	char *end;

	if (json_is_integer(v)) {
		*out = (long long)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (!*s)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return (*end || errno) ? -1 : 0;
}

int sl_feed_manifest_parse(const char *buf, size_t len, struct sl_feed_manifest **out,
                           struct sl_err *err)
{
	struct sl_feed_manifest *m;
	json_t *doc, *entry;
	const char *key;
	char q[80];

	*out = NULL;
	doc = sl_json_parse(buf, len, NULL, "manifest.json", err);
	if (!doc)
		return err ? err->code : SL_EINVAL;
	if (!json_is_object(doc)) {
		json_decref(doc);
		return sl_err_set(err, SL_EINVAL, "manifest.json",
		                  "expected an object keyed by event uuid");
	}
	m = calloc(1, sizeof(*m));
	if (m) {
		m->uuid = calloc(json_object_size(doc) + 1, sizeof(*m->uuid));
		m->ts = calloc(json_object_size(doc) + 1, sizeof(*m->ts));
	}
	if (!m || !m->uuid || !m->ts) {
		sl_feed_manifest_free(m);
		json_decref(doc);
		return sl_err_set(err, SL_ENOMEM, "manifest.json", "out of memory");
	}
	json_object_foreach(doc, key, entry)
	{
		long long ts;
		if (!is_uuid(key)) {
			sl_err_set(err, SL_EINVAL, "manifest.json", "key '%s' is not an event uuid",
			           sl_err_quote(q, sizeof(q), key, 60));
			goto bad;
		}
		if (!json_is_object(entry) ||
		    json_epoch(json_object_get(entry, "timestamp"), &ts) < 0) {
			sl_err_set(err, SL_EINVAL, "manifest.json",
			           "event %s: missing or invalid timestamp", key);
			goto bad;
		}
		memcpy(m->uuid[m->n], key, 37);
		m->ts[m->n++] = ts;
	}
	json_decref(doc);
	*out = m;
	return SL_OK;
bad:
	json_decref(doc);
	sl_feed_manifest_free(m);
	return SL_EINVAL;
}

void sl_feed_manifest_free(struct sl_feed_manifest *m)
{
	if (!m)
		return;
	free(m->uuid);
	free(m->ts);
	free(m);
}

size_t sl_feed_manifest_count(const struct sl_feed_manifest *m)
{
	return m->n;
}

const char *sl_feed_manifest_uuid(const struct sl_feed_manifest *m, size_t i)
{
	return i < m->n ? m->uuid[i] : NULL;
}

long long sl_feed_manifest_timestamp(const struct sl_feed_manifest *m, size_t i)
{
	return i < m->n ? m->ts[i] : -1;
}

json_t *sl_feed_changed(const struct sl_feed_manifest *m, const json_t *seen)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; out && i < m->n; i++) {
		long long was;
		json_t *s = seen ? json_object_get(seen, m->uuid[i]) : NULL;
		if (s && json_epoch(s, &was) == 0 && was == m->ts[i])
			continue;
		json_array_append_new(out, json_string(m->uuid[i]));
	}
	return out;
}

void sl_feed_value_md5(const char *value, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	static const char hex[] = "0123456789abcdef";

	EVP_Digest(value, len, md, &mdlen, EVP_md5(), NULL);
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

int sl_feed_hashes_parse(const char *buf, size_t len, struct sl_feed_hashes **out,
                         struct sl_err *err)
{
	struct sl_feed_hashes *h = calloc(1, sizeof(*h));
	size_t pos = 0, lineno = 0;

	*out = NULL;
	if (!h || !(h->set = json_object())) {
		free(h);
		return sl_err_set(err, SL_ENOMEM, "hashes.csv", "out of memory");
	}
	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		char key[80], where[64];
		size_t i;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n && line[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		snprintf(where, sizeof(where), "hashes.csv:%zu", lineno);
		if (n != 32 + 1 + 36 || line[32] != ',') {
			sl_feed_hashes_free(h);
			return sl_err_set(err, SL_EINVAL, where, "expected '<md5>,<event uuid>'");
		}
		for (i = 0; i < 32; i++) {
			char c = line[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F'))) {
				sl_feed_hashes_free(h);
				return sl_err_set(err, SL_EINVAL, where, "md5 is not hexadecimal");
			}
			key[i] = (char)((c >= 'A' && c <= 'F') ? c - 'A' + 'a' : c);
		}
		key[32] = ',';
		memcpy(key + 33, line + 33, 36);
		key[69] = '\0';
		if (!is_uuid(key + 33)) {
			sl_feed_hashes_free(h);
			return sl_err_set(err, SL_EINVAL, where, "event uuid is not a uuid");
		}
		json_object_set_new(h->set, key, json_true());
	}
	*out = h;
	return SL_OK;
}

void sl_feed_hashes_free(struct sl_feed_hashes *h)
{
	if (!h)
		return;
	json_decref(h->set);
	free(h);
}

static const json_t *inner_event(const json_t *event)
{
	const json_t *e = json_object_get(event, "Event");
	return e ? e : event;
}

typedef int (*hash_fn)(const char *md5, const json_t *attr, void *ctx);

/* Call fn(md5, attribute, ctx) for every hashed value in attrs, as MISP feeds hash them: composite
 * types and malware-sample per '|'-separated part. Stops at the first non-zero return. */
static int hash_attributes(const json_t *attrs, hash_fn fn, void *ctx)
{
	json_t *a;
	size_t i;
	int rc;

	json_array_foreach(attrs, i, a)
	{
		const char *type = json_string_value(json_object_get(a, "type"));
		const json_t *vj = json_object_get(a, "value");
		const char *v, *p, *end;
		char md5[33], num[32];
		int split;

		if (json_is_string(vj)) {
			v = json_string_value(vj);
			end = v + json_string_length(vj);
		} else if (json_is_integer(vj)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(vj));
			v = num;
			end = v + strlen(num);
		} else {
			continue;
		}
		split = type && (strchr(type, '|') || strcmp(type, "malware-sample") == 0);
		for (p = v;;) {
			const char *bar = split ? memchr(p, '|', (size_t)(end - p)) : NULL;
			size_t n = bar ? (size_t)(bar - p) : (size_t)(end - p);
			sl_feed_value_md5(p, n, md5);
			if ((rc = fn(md5, a, ctx)) != 0)
				return rc;
			if (!bar)
				break;
			p = bar + 1;
		}
	}
	return 0;
}

/* Every hashed value of an event: its attributes, then its objects' attributes. */
static int foreach_value_hash(const json_t *ev, hash_fn fn, void *ctx)
{
	json_t *obj;
	size_t i;
	int rc = hash_attributes(json_object_get(ev, "Attribute"), fn, ctx);

	json_array_foreach(json_object_get(ev, "Object"), i, obj)
	{
		if (rc)
			break;
		rc = hash_attributes(json_object_get(obj, "Attribute"), fn, ctx);
	}
	return rc;
}

struct check_ctx {
	const struct sl_feed_hashes *h;
	const char *uuid;
	struct sl_err *err;
};

static int check_one(const char *md5, const json_t *attr, void *vctx)
{
	struct check_ctx *c = vctx;
	char key[80], where[128];
	const char *au;

	snprintf(key, sizeof(key), "%s,%s", md5, c->uuid);
	if (json_object_get(c->h->set, key))
		return 0;
	au = json_string_value(json_object_get(attr, "uuid"));
	snprintf(where, sizeof(where), "event %s/attribute %s", c->uuid, au ? au : "(no uuid)");
	return sl_err_set(
	    c->err, SL_EINVAL, where,
	    "value hash %s is not in the feed's hashes.csv (feed changed or tampered with)", md5);
}

int sl_feed_event_check(const struct sl_feed_hashes *h, const json_t *event, struct sl_err *err)
{
	const json_t *ev = inner_event(event);
	const char *uuid = json_string_value(json_object_get(ev, "uuid"));
	struct check_ctx c = {h, uuid, err};

	if (!uuid || !is_uuid(uuid))
		return sl_err_set(err, SL_EINVAL, "Event.uuid", "event has no valid uuid");
	return foreach_value_hash(ev, check_one, &c);
}

/* ---- writer ---- */

static int write_atomic(const char *dir, const char *name, const char *data, size_t len,
                        struct sl_err *err)
{
	char path[4096], tmp[4096];
	int fd;
	size_t off = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return sl_err_set(err, SL_EIO, tmp, "cannot create: %s", strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			unlink(tmp);
			return sl_err_set(err, SL_EIO, tmp, "write failed: %s", strerror(errno));
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		unlink(tmp);
		return sl_err_set(err, SL_EIO, tmp, "fsync/close failed: %s", strerror(errno));
	}
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return sl_err_set(err, SL_EIO, path, "rename failed: %s", strerror(errno));
	}
	return SL_OK;
}

static int load_existing(struct sl_feed_writer *w, struct sl_err *err)
{
	char path[4096], *buf = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/manifest.json", w->dir);
	if (access(path, F_OK) == 0) {
		json_t *m;
		if (sl_json_slurp(path, FEED_MAX_FILE, &buf, &len, err) < 0)
			return err ? err->code : SL_EIO;
		m = sl_json_parse(buf, len, NULL, path, err);
		free(buf);
		if (!m)
			return err ? err->code : SL_EINVAL;
		if (!json_is_object(m)) {
			json_decref(m);
			return sl_err_set(err, SL_EINVAL, path,
			                  "expected an object keyed by event uuid");
		}
		json_decref(w->manifest);
		w->manifest = m;
	}
	snprintf(path, sizeof(path), "%s/hashes.csv", w->dir);
	if (access(path, F_OK) == 0) {
		size_t pos = 0;
		if (sl_json_slurp(path, FEED_MAX_FILE, &buf, &len, err) < 0)
			return err ? err->code : SL_EIO;
		while (pos < len) {
			char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
			size_t n = nl ? (size_t)(nl - line) : len - pos;
			pos += n + (nl ? 1 : 0);
			if (n >= 69 && line[32] == ',') {
				char uuid[37], md5[33];
				json_t *arr;
				memcpy(md5, line, 32);
				md5[32] = '\0';
				memcpy(uuid, line + 33, 36);
				uuid[36] = '\0';
				arr = json_object_get(w->hashes, uuid);
				if (!arr) {
					arr = json_array();
					json_object_set_new(w->hashes, uuid, arr);
				}
				json_array_append_new(arr, json_string(md5));
			}
		}
		free(buf);
	}
	return SL_OK;
}

struct sl_feed_writer *sl_feed_writer_open(const char *dir, struct sl_err *err)
{
	struct sl_feed_writer *w;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		sl_err_set(err, SL_EIO, dir, "cannot create feed directory: %s", strerror(errno));
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->dir = strdup(dir)) || !(w->manifest = json_object()) ||
	    !(w->hashes = json_object())) {
		sl_feed_writer_free(w);
		sl_err_set(err, SL_ENOMEM, dir, "out of memory");
		return NULL;
	}
	if (load_existing(w, err) < 0) {
		sl_feed_writer_free(w);
		return NULL;
	}
	return w;
}

static int collect_hash(const char *md5, const json_t *attr, void *ctx)
{
	return json_array_append_new((json_t *)ctx, json_string(md5));
}

static void copy_field(json_t *dst, const json_t *ev, const char *key)
{
	json_t *v = json_object_get(ev, key);
	if (v)
		json_object_set(dst, key, v);
}

int sl_feed_writer_put(struct sl_feed_writer *w, const json_t *event, struct sl_err *err)
{
	const json_t *ev = inner_event(event);
	const char *uuid = json_string_value(json_object_get(ev, "uuid"));
	json_t *entry, *wrapped, *hashes, *tags, *tag;
	long long ts;
	char name[64], *text;
	size_t i;
	int rc;

	if (!uuid || !is_uuid(uuid))
		return sl_err_set(err, SL_EINVAL, "Event.uuid", "event has no valid uuid");
	if (json_epoch(json_object_get(ev, "timestamp"), &ts) < 0)
		return sl_err_set(err, SL_EINVAL, uuid, "event has no valid timestamp");

	wrapped = json_pack("{s:O}", "Event", ev);
	text = wrapped ? json_dumps(wrapped, JSON_COMPACT) : NULL;
	json_decref(wrapped);
	if (!text)
		return sl_err_set(err, SL_ENOMEM, uuid, "cannot serialise event");
	snprintf(name, sizeof(name), "%s.json", uuid);
	rc = write_atomic(w->dir, name, text, strlen(text), err);
	free(text);
	if (rc < 0)
		return rc;

	entry = json_object();
	copy_field(entry, ev, "info");
	copy_field(entry, ev, "date");
	copy_field(entry, ev, "analysis");
	copy_field(entry, ev, "threat_level_id");
	json_object_set_new(entry, "timestamp", json_integer(ts));
	if (json_is_object(json_object_get(ev, "Orgc"))) {
		const json_t *o = json_object_get(ev, "Orgc");
		json_t *org = json_object();
		copy_field(org, o, "name");
		copy_field(org, o, "uuid");
		json_object_set_new(entry, "Orgc", org);
	}
	tags = json_array();
	json_array_foreach(json_object_get(ev, "Tag"), i, tag)
	{
		json_t *t = json_object();
		copy_field(t, tag, "name");
		copy_field(t, tag, "colour");
		json_array_append_new(tags, t);
	}
	json_object_set_new(entry, "Tag", tags);
	json_object_set_new(w->manifest, uuid, entry);

	hashes = json_array();
	foreach_value_hash(ev, collect_hash, hashes);
	json_object_set_new(w->hashes, uuid, hashes);
	return SL_OK;
}

int sl_feed_writer_remove(struct sl_feed_writer *w, const char *uuid, struct sl_err *err)
{
	char path[4096];

	if (!is_uuid(uuid))
		return sl_err_set(err, SL_EINVAL, "uuid", "not a uuid");
	snprintf(path, sizeof(path), "%s/%s.json", w->dir, uuid);
	if (unlink(path) < 0 && errno != ENOENT)
		return sl_err_set(err, SL_EIO, path, "cannot remove: %s", strerror(errno));
	json_object_del(w->manifest, uuid);
	json_object_del(w->hashes, uuid);
	return SL_OK;
}

int sl_feed_writer_commit(struct sl_feed_writer *w, struct sl_err *err)
{
	char *text = json_dumps(w->manifest, JSON_COMPACT);
	const char *uuid;
	json_t *arr, *h;
	size_t i, cap = 4096, len = 0;
	char *csv;
	int rc;

	if (!text)
		return sl_err_set(err, SL_ENOMEM, w->dir, "cannot serialise manifest");
	rc = write_atomic(w->dir, "manifest.json", text, strlen(text), err);
	free(text);
	if (rc < 0)
		return rc;
	csv = malloc(cap);
	if (!csv)
		return sl_err_set(err, SL_ENOMEM, w->dir, "out of memory");
	json_object_foreach(w->hashes, uuid, arr)
	{
		json_array_foreach(arr, i, h)
		{
			if (len + 72 > cap) {
				char *n = realloc(csv, cap * 2);
				if (!n) {
					free(csv);
					return sl_err_set(err, SL_ENOMEM, w->dir, "out of memory");
				}
				csv = n;
				cap *= 2;
			}
			len += (size_t)snprintf(csv + len, cap - len, "%s,%s\n",
			                        json_string_value(h), uuid);
		}
	}
	rc = write_atomic(w->dir, "hashes.csv", csv, len, err);
	free(csv);
	return rc;
}

void sl_feed_writer_free(struct sl_feed_writer *w)
{
	if (!w)
		return;
	free(w->dir);
	json_decref(w->manifest);
	json_decref(w->hashes);
	free(w);
}
