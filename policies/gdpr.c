/* gdpr.c — personal-data actions: keyed pseudonyms, redaction, erasure, email detection. */
#include "gdpr.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static const char *const cat_names[SL_GDPR_NCAT] = {"email", "person-name", "phone", "user-account",
                                                    "ip-address"};
static const char *const redactions[SL_GDPR_NCAT] = {"[redacted:email]", "[redacted:person-name]",
                                                     "[redacted:phone]", "[redacted:user-account]",
                                                     "[redacted:ip-address]"};

const char *sl_gdpr_cat_name(enum sl_gdpr_cat c)
{
	return (unsigned)c < SL_GDPR_NCAT ? cat_names[c] : "unknown";
}

const char *sl_gdpr_redaction(enum sl_gdpr_cat c)
{
	return (unsigned)c < SL_GDPR_NCAT ? redactions[c] : "[redacted]";
}

const char *sl_gdpr_action_name(enum sl_gdpr_action a)
{
	switch (a) {
	case SL_GDPR_KEEP:
		return "keep";
	case SL_GDPR_DROP:
		return "drop";
	case SL_GDPR_REDACT:
		return "redact";
	case SL_GDPR_PSEUDONYMISE:
		return "pseudonymise";
	}
	return "unknown";
}

int sl_gdpr_action_from_name(const char *name)
{
	if (!name)
		return -1;
	if (strcmp(name, "keep") == 0)
		return SL_GDPR_KEEP;
	if (strcmp(name, "drop") == 0)
		return SL_GDPR_DROP;
	if (strcmp(name, "redact") == 0)
		return SL_GDPR_REDACT;
	if (strcmp(name, "pseudonymise") == 0 || strcmp(name, "pseudonymize") == 0)
		return SL_GDPR_PSEUDONYMISE;
	return -1;
}

int sl_gdpr_key_load(const char *path, unsigned char **key, size_t *keylen, struct sl_err *err)
{
	unsigned char *buf;
	size_t n;
	FILE *f;

	*key = NULL;
	*keylen = 0;
	f = fopen(path, "rb");
	if (!f)
		return sl_err_set(err, SL_EIO, path, "cannot read HMAC key file: %s",
		                  strerror(errno));
	buf = malloc(SL_GDPR_KEY_MAX + 1);
	if (!buf) {
		fclose(f);
		return sl_err_set(err, SL_ENOMEM, path, "out of memory");
	}
	n = fread(buf, 1, SL_GDPR_KEY_MAX + 1, f);
	fclose(f);
	if (n < SL_GDPR_KEY_MIN || n > SL_GDPR_KEY_MAX) {
		free(buf);
		return sl_err_set(
		    err, SL_EINVAL, path, "HMAC key file must hold %d..%d bytes (has %s%zu)",
		    SL_GDPR_KEY_MIN, SL_GDPR_KEY_MAX, n > SL_GDPR_KEY_MAX ? "more than " : "",
		    n > SL_GDPR_KEY_MAX ? (size_t)SL_GDPR_KEY_MAX : n);
	}
	*key = buf;
	*keylen = n;
	return 0;
}

static int hmac_hex(const unsigned char *key, size_t keylen, const char *data, size_t len,
                    char *out, size_t nhex)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i;

	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, md, &mdlen))
		return SL_EINVAL;
	for (i = 0; i < mdlen && 2 * i + 1 < nhex; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * i] = '\0';
	return 0;
}

int sl_gdpr_keyed_hash(const unsigned char *key, size_t keylen, const char *value,
                       char out[SL_GDPR_HASH_HEX])
{
	if (!key || !value)
		return SL_EINVAL;
	return hmac_hex(key, keylen, value, strlen(value), out, SL_GDPR_HASH_HEX);
}

/* "<category>:<value>" (emails lower-cased), the input of a pseudonym's HMAC. malloc'd. */
static char *pseudonym_input(enum sl_gdpr_cat c, const char *value, size_t *len)
{
	size_t n = strlen(value), i, clen = strlen(sl_gdpr_cat_name(c));
	char *in = malloc(clen + 1 + n + 1);

	/* the category is part of the input, so the same string under two categories gets two
	 * pseudonyms */
	if (!in)
		return NULL;
	memcpy(in, sl_gdpr_cat_name(c), clen);
	in[clen] = ':';
	for (i = 0; i < n; i++)
		in[clen + 1 + i] =
		    c == SL_GDPR_EMAIL ? (char)tolower((unsigned char)value[i]) : value[i];
	in[clen + 1 + n] = '\0';
	*len = clen + 1 + n;
	return in;
}

static char *pseudonym_text(enum sl_gdpr_cat c, const char *hexd)
{
	size_t n = strnlen(hexd, 40);
	char *out = malloc(64);

	/* as snprintf(out, 64, "%s@pseudonym.invalid" / "pseudonym:%s"), which costs more than the
	 * HMAC's own work */
	if (!out)
		return NULL;
	if (c == SL_GDPR_EMAIL) {
		memcpy(out, hexd, n);
		memcpy(out + n, "@pseudonym.invalid", 19);
	} else {
		memcpy(out, "pseudonym:", 10);
		memcpy(out + 10, hexd, n);
		out[10 + n] = '\0';
	}
	return out;
}

char *sl_gdpr_pseudonym(const unsigned char *key, size_t keylen, enum sl_gdpr_cat c,
                        const char *value)
{
	char hexd[33], *in;
	size_t len;

	if (!(in = pseudonym_input(c, value, &len)))
		return NULL;
	if (hmac_hex(key, keylen, in, len, hexd, sizeof(hexd)) != 0) {
		free(in);
		return NULL;
	}
	free(in);
	return pseudonym_text(c, hexd);
}

/* HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once: a pseudonym
 * then costs two copies of a state and two short hashes, instead of setting up a MAC. */
struct sl_gdpr_pseudonymiser {
	EVP_MD *md;
	EVP_MD_CTX *inner, *outer, *tmp;
};

void sl_gdpr_pseudonymiser_free(struct sl_gdpr_pseudonymiser *ps)
{
	if (!ps)
		return;
	EVP_MD_CTX_free(ps->inner);
	EVP_MD_CTX_free(ps->outer);
	EVP_MD_CTX_free(ps->tmp);
	EVP_MD_free(ps->md);
	free(ps);
}

struct sl_gdpr_pseudonymiser *sl_gdpr_pseudonymiser_new(const unsigned char *key, size_t keylen)
{
	struct sl_gdpr_pseudonymiser *ps = calloc(1, sizeof(*ps));
	unsigned char k[64], pad[64];
	unsigned int klen = 0;
	size_t i;

	if (!ps || !key)
		goto fail;
	memset(k, 0, sizeof(k));
	if (!(ps->md = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(ps->inner = EVP_MD_CTX_new()) ||
	    !(ps->outer = EVP_MD_CTX_new()) || !(ps->tmp = EVP_MD_CTX_new()))
		goto fail;
	/* a key longer than the block is hashed first */
	if (keylen > sizeof(k)) {
		if (!EVP_Digest(key, keylen, k, &klen, ps->md, NULL))
			goto fail;
	} else {
		memcpy(k, key, keylen);
	}
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	if (!EVP_DigestInit_ex(ps->inner, ps->md, NULL) ||
	    !EVP_DigestUpdate(ps->inner, pad, sizeof(pad)))
		goto fail;
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	if (!EVP_DigestInit_ex(ps->outer, ps->md, NULL) ||
	    !EVP_DigestUpdate(ps->outer, pad, sizeof(pad)))
		goto fail;
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	return ps;
fail:
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	sl_gdpr_pseudonymiser_free(ps);
	return NULL;
}

char *sl_gdpr_pseudonymiser_make(struct sl_gdpr_pseudonymiser *ps, enum sl_gdpr_cat c,
                                 const char *value)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ih[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0, mdlen = 0;
	char hexd[33], *in;
	size_t len, i;
	int ok;

	if (!(in = pseudonym_input(c, value, &len)))
		return NULL;
	ok = EVP_MD_CTX_copy_ex(ps->tmp, ps->inner) &&
	     EVP_DigestUpdate(ps->tmp, (const unsigned char *)in, len) &&
	     EVP_DigestFinal_ex(ps->tmp, ih, &ilen) && EVP_MD_CTX_copy_ex(ps->tmp, ps->outer) &&
	     EVP_DigestUpdate(ps->tmp, ih, ilen) && EVP_DigestFinal_ex(ps->tmp, md, &mdlen) &&
	     mdlen >= 16;
	free(in);
	if (!ok)
		return NULL;
	for (i = 0; i < 16; i++) {
		hexd[2 * i] = hex[md[i] >> 4];
		hexd[2 * i + 1] = hex[md[i] & 15];
	}
	hexd[32] = '\0';
	return pseudonym_text(c, hexd);
}

int sl_gdpr_key_is_identity(const char *k)
{
	size_t n = strlen(k);

	/* by length first: this runs for every key of every object a change is made to */
	switch (n) {
	case 2:
		return k[0] == 'i' && k[1] == 'd';
	case 4:
		return memcmp(k, "type", 4) == 0 || memcmp(k, "uuid", 4) == 0;
	case 7:
		if (memcmp(k, "created", 7) == 0)
			return 1;
		break;
	case 8:
		if (memcmp(k, "modified", 8) == 0)
			return 1;
		break;
	case 12:
		if (memcmp(k, "spec_version", 12) == 0)
			return 1;
		break;
	default:
		break;
	}
	return (n > 4 && k[n - 1] == 'f' && memcmp(k + n - 4, "_ref", 4) == 0) ||
	       (n > 5 && k[n - 1] == 's' && memcmp(k + n - 5, "_refs", 5) == 0);
}

/* A new string with every occurrence of value replaced, or NULL when there is none. */
static char *replace_all(const char *s, const char *value, size_t vlen, const char *with, int *oom)
{
	size_t count = 0, wlen, outlen;
	const char *p = s, *q;
	char *out, *o;

	if (!strstr(s, value))
		return NULL; /* the common case: nothing to replace */
	wlen = strlen(with);
	while ((q = strstr(p, value)) != NULL) {
		count++;
		p = q + vlen;
	}
	if (count == 0)
		return NULL;
	outlen = strlen(s) - count * vlen + count * wlen;
	out = malloc(outlen + 1);
	if (!out) {
		*oom = 1;
		return NULL;
	}
	o = out;
	p = s;
	while ((q = strstr(p, value)) != NULL) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, with, wlen);
		o += wlen;
		p = q + vlen;
	}
	strcpy(o, p);
	return out;
}

static int replace_rec(json_t *v, const char *value, size_t vlen, const char *with, int depth)
{
	int changed = 0, r, oom = 0;
	const char *k;
	json_t *e;
	size_t i;

	if (depth > 128)
		return SL_ELIMIT;
	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
		{
			if (json_is_string(e)) {
				char *n;
				if (sl_gdpr_key_is_identity(k))
					continue;
				n = replace_all(json_string_value(e), value, vlen, with, &oom);
				if (oom)
					return SL_ENOMEM;
				if (n) {
					r = json_string_set(e, n);
					free(n);
					if (r != 0)
						return SL_ENOMEM;
					changed++;
				}
			} else if (json_is_object(e) || (json_is_array(e) && !sl_gdpr_key_is_identity(k))) {
				if ((r = replace_rec(e, value, vlen, with, depth + 1)) < 0)
					return r;
				changed += r;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (json_is_string(e)) {
				char *n =
				    replace_all(json_string_value(e), value, vlen, with, &oom);
				if (oom)
					return SL_ENOMEM;
				if (n) {
					r = json_string_set(e, n);
					free(n);
					if (r != 0)
						return SL_ENOMEM;
					changed++;
				}
			} else if ((r = replace_rec(e, value, vlen, with, depth + 1)) < 0) {
				return r;
			} else {
				changed += r;
			}
		}
	}
	return changed;
}

int sl_gdpr_replace(json_t *v, const char *value, const char *with)
{
	if (!value || !*value || !with)
		return SL_EINVAL;
	return replace_rec(v, value, strlen(value), with, 0);
}

/* A JSON string of s: plain ASCII (nearly every replaced value) needs no UTF-8 check, which costs
 * more than the replacement. */
static json_t *string_new(const char *s)
{
	size_t n = strlen(s), i = 0;
	uint64_t acc = 0, w;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)s[i];
	return (acc & 0x8080808080808080ull) == 0 ? json_stringn_nocheck(s, n) : json_string(s);
}

static json_t *replaced_rec(json_t *v, const char *value, size_t vlen, const char *with, int depth,
                            int *count)
{
	json_t *copy = NULL, *e, *n;
	const char *k;
	size_t i;
	int oom = 0;

	if (depth > 128)
		return NULL;
	if (json_is_string(v)) {
		char *s = replace_all(json_string_value(v), value, vlen, with, &oom);
		if (oom)
			return NULL;
		if (!s)
			return json_incref(v);
		n = string_new(s);
		free(s);
		(*count)++;
		return n;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
		{
			if (sl_gdpr_key_is_identity(k) && (json_is_string(e) || json_is_array(e)))
				continue;
			if (!json_is_string(e) && !json_is_object(e) && !json_is_array(e))
				continue;
			if (!(n = replaced_rec(e, value, vlen, with, depth + 1, count)))
				goto fail;
			if (n == e) {
				json_decref(n);
				continue;
			}
			if (!copy && !(copy = json_copy(v))) {
				json_decref(n);
				return NULL;
			}
			if (json_object_set_new(copy, k, n) != 0)
				goto fail;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) && !json_is_object(e) && !json_is_array(e))
				continue;
			if (!(n = replaced_rec(e, value, vlen, with, depth + 1, count)))
				goto fail;
			if (n == e) {
				json_decref(n);
				continue;
			}
			if (!copy && !(copy = json_copy(v))) {
				json_decref(n);
				return NULL;
			}
			if (json_array_set_new(copy, i, n) != 0)
				goto fail;
		}
	}
	return copy ? copy : json_incref(v);
fail:
	json_decref(copy);
	return NULL;
}

/* s with every substitution applied in turn (the result of one is the input of the next), as
 * n replace_all calls would give it; NULL with *oom clear when none applies. */
char *sl_gdpr_replace_each(const char *s, const struct sl_gdpr_sub *subs, size_t n, int *oom)
{
	char *cur = NULL, *next;
	size_t k;

	for (k = 0; k < n; k++) {
		next = replace_all(cur ? cur : s, subs[k].value, subs[k].vlen, subs[k].with, oom);
		if (*oom) {
			free(cur);
			return NULL;
		}
		if (next) {
			free(cur);
			cur = next;
		}
	}
	return cur;
}

#define SUBS_INLINE 32

/* replaced_rec for n substitutions at once. An object is copied only when a member changed, and
 * then built member by member (json_copy and a second set of the changed member cost twice). */
static json_t *replaced_n_rec(json_t *v, const struct sl_gdpr_sub *subs, size_t n, int depth,
                              struct sl_gdpr_touched *touched)
{
	json_t *sv[SUBS_INLINE], **nv = sv, *copy = NULL, *e, *ne;
	size_t i, size, changed = 0;
	void *it;
	int oom = 0;

	if (depth > 128)
		return NULL;
	if (json_is_string(v)) {
		char *s = sl_gdpr_replace_each(json_string_value(v), subs, n, &oom);
		if (oom)
			return NULL;
		if (!s)
			return json_incref(v);
		ne = string_new(s);
		free(s);
		return ne;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) && !json_is_object(e) && !json_is_array(e))
				continue;
			if (!(ne = replaced_n_rec(e, subs, n, depth + 1, NULL)))
				goto fail;
			if (ne == e) {
				json_decref(ne);
				continue;
			}
			if (!copy && !(copy = json_copy(v))) {
				json_decref(ne);
				return NULL;
			}
			if (json_array_set_new(copy, i, ne) != 0)
				goto fail;
		}
		return copy ? copy : json_incref(v);
	}
	if (!json_is_object(v))
		return json_incref(v);
	size = json_object_size(v);
	if (size > SUBS_INLINE && !(nv = malloc(size * sizeof(*nv))))
		return NULL;
	memset(nv, 0, size * sizeof(*nv));
	for (i = 0, it = json_object_iter(v); it && i < size;
	     i++, it = json_object_iter_next(v, it)) {
		e = json_object_iter_value(it);
		if (touched && touched->known && i < 64 && !(touched->members >> i & 1))
			continue;
		if (json_is_object(e) || ((json_is_string(e) || json_is_array(e)) &&
		                          !sl_gdpr_key_is_identity(json_object_iter_key(it)))) {
			if (!(ne = replaced_n_rec(e, subs, n, depth + 1, NULL)))
				goto fail_obj;
			if (ne == e)
				json_decref(ne);
			else
				nv[i] = ne, changed++;
			if (nv[i] && touched && !touched->known && i < 64)
				touched->members |= (uint64_t)1 << i;
		}
	}
	if (touched && !touched->known && size <= 64)
		touched->known = 1;
	if (!changed) {
		copy = json_incref(v);
		goto done_obj;
	}
	if (!(copy = json_object()))
		goto fail_obj;
	for (i = 0, it = json_object_iter(v); it && i < size;
	     i++, it = json_object_iter_next(v, it)) {
		ne = nv[i] ? nv[i] : json_incref(json_object_iter_value(it));
		nv[i] = NULL;
		if (json_object_setn_new_nocheck(copy, json_object_iter_key(it),
		                                 json_object_iter_key_len(it), ne) != 0) {
			json_decref(copy);
			copy = NULL;
			goto fail_obj;
		}
	}
	goto done_obj;
fail_obj:
	for (i = 0; i < size; i++)
		json_decref(nv[i]);
	copy = NULL;
done_obj:
	if (nv != sv)
		free(nv);
	return copy;
fail:
	json_decref(copy);
	return NULL;
}

json_t *sl_gdpr_replaced_n(json_t *v, const struct sl_gdpr_sub *subs, size_t n,
                           struct sl_gdpr_touched *touched)
{
	size_t k;

	if (!v)
		return NULL;
	for (k = 0; k < n; k++)
		if (!subs[k].value || !subs[k].value[0] || !subs[k].with ||
		    subs[k].vlen != strlen(subs[k].value))
			return NULL;
	if (touched && !json_is_object(v))
		touched = NULL;
	if (touched && !touched->known)
		touched->members = 0;
	return n ? replaced_n_rec(v, subs, n, 0, touched) : json_incref(v);
}

json_t *sl_gdpr_replaced(json_t *v, const char *value, const char *with, int *count)
{
	int c = 0;
	json_t *r;

	if (!v || !value || !*value || !with)
		return NULL;
	r = replaced_rec(v, value, strlen(value), with, 0, &c);
	if (count)
		*count = c;
	return r;
}

json_t *sl_gdpr_erase(const json_t *obj, const char *value, int *count, struct sl_err *err)
{
	json_t *copy;
	int r;

	if (count)
		*count = 0;
	if (!obj || !value || !*value) {
		sl_err_set(err, SL_EINVAL, "erase", "an object and a non-empty value are required");
		return NULL;
	}
	copy = json_deep_copy(obj);
	if (!copy) {
		sl_err_set(err, SL_ENOMEM, "erase", "out of memory");
		return NULL;
	}
	r = sl_gdpr_replace(copy, value, "[erased]");
	if (r < 0) {
		json_decref(copy);
		sl_err_set(err, r, "erase", "cannot erase: %s", sl_err_code_name(r));
		return NULL;
	}
	if (count)
		*count = r;
	return copy;
}

static int local_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int domain_char(int c)
{
	return isalnum(c) || c == '.' || c == '-';
}

void sl_gdpr_scan_emails(const char *s, int (*found)(const char *start, size_t len, void *arg),
                         void *arg)
{
	const char *at = s, *b, *e, *dot;

	while ((at = strchr(at, '@')) != NULL) {
		b = at;
		while (b > s && local_char((unsigned char)b[-1]))
			b--;
		e = at + 1;
		while (domain_char((unsigned char)*e))
			e++;
		while (e > at + 1 && (e[-1] == '.' || e[-1] == '-'))
			e--;
		dot = memchr(at + 1, '.', (size_t)(e - at - 1));
		if (b < at && dot && dot > at + 1 && dot < e - 1) {
			if (found(b, (size_t)(e - b), arg))
				return;
		}
		at = e > at ? e : at + 1;
	}
}
