/* decision.c — one destination's verdict on one object: TLP, MISP distribution and sharing groups,
 * retention, type/org/tag lists and GDPR, evaluated in that order; the rule chain records each
 * step. */
#include "decision.h"

#include <ctype.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <limits.h>
#include <time.h>

#include "gdpr.h"
#include "payload.h"
#include "policy_impl.h"
#include "tlp.h"

#define RULE_MAX 1536
#define MAX_DIST 3

struct pii {
	enum sl_gdpr_cat cat;
	const char *value; /* borrowed from the object's JSON strings: len bytes, not terminated */
	size_t len;
	const char *field;
	char *pseudonym; /* cached under the facts' pkey: destinations mostly share one key */
};

struct dist {
	int level;
	const char *sg;       /* sharing group uuid */
	const json_t *sg_obj; /* MISP SharingGroup with SharingGroupOrg / SharingGroupServer */
	const char *what;     /* "event", "object", "attribute", "report" */
};

#define INLINE_TAGS 16
#define INLINE_PII 8
#define RESULTS 4

/* A changed object and its changes, shared by every destination that applies the same actions
 * (and the same pseudonym key) to this object: most destinations redact or pseudonymise alike. */
struct result {
	unsigned char act[INLINE_PII];
	int downgrade;
	const unsigned char *key; /* compared by content; only when some action pseudonymises */
	size_t keylen;
	json_t *obj, *changes;
};

struct sl_policy_facts {
	json_t *obj;
	const char *id, *type, *modified_s;
	char modified_buf[24];
	long long modified;
	int meta;
	enum sl_tlp tlp,
	    own_tlp;   /* effective (with containers) and from the object's own markings */
	int inherited; /* markings being read now come from a container */
	char tlp_src[160];
	int tlp_conflict, tlp_malformed;
	struct dist dist[MAX_DIST];
	int ndist;
	const char **tags;
	size_t ntags, captags;
	const char *org;
	struct pii *pii;
	size_t npii, cappii;
	unsigned cats;       /* bit c set: some personal data of category c */
	unsigned char *pkey; /* the key the cached pseudonyms were made with (a copy) */
	size_t pkeylen;
	int oom;
	/* which of a policy's interned tag/type/org patterns this object matches, computed on the
	 * first fast verdict against that policy (like the pseudonyms, a cache in const facts) */
	const struct sl_policy_intern *mask_for;
	uint64_t tag_m, type_m, org_m;
	size_t refs; /* the caller's, and one per decision whose rule chain is not written yet */
	json_t *held[3]; /* the context's containers, MISP context and sharing groups, which the
	                  * facts point into */
	int nresults;
	struct result *results; /* RESULTS entries, allocated with the first changed decision */
	/* read by a fan before the bundle's markings and containers are known */
	const json_t *own_refs, *own_gran, *own_labels, *own_dist, *own_sg;
	/* a fan's changed objects of this object: which members the values replaced (pii bits
	 * touched_vals) occur in, so a second changed object with the same values looks at those
	 * members only */
	struct sl_gdpr_touched touched;
	uint64_t touched_vals;
	/* a fan's objects: modified and created as the object holds them, for the rows' caller */
	const char *modified_raw, *created_raw;
	const char *tags_inline[INLINE_TAGS];
	struct pii pii_inline[INLINE_PII];
};

struct fan;
struct cls;

struct sl_policy_decision {
	enum sl_policy_verdict v;
	/* obj and changes are references the decision holds; when clear, they are borrowed from
	 * the fan that made the decision (which lives as long as its last decision) */
	unsigned char own_obj, own_changes;
	unsigned di;      /* the destination's index in its policy (decisions of a fan) */
	const char *rule; /* inline_, rule_own, a class's chain, or NULL until written */
	char *rule_own;   /* a chain this decision wrote (malloc'd) */
	json_t *changes;  /* created when the first change is recorded */
	json_t *items;    /* MISP events: one {id, decision, rule} per attribute */
	json_t *obj;
	const char *id;
	const char *modified;
	const char *dest;
	/* the rule chain is written when first read (most decisions are never explained): until
	 * then the decision holds its facts and its destination's policy, or (decisions of
	 * sl_policy_decide_bundle_all) its verdict class, whose chain every member shares */
	struct sl_policy_facts *lazy_f;
	const struct sl_policy_dest *lazy_d;
	long long now;
	struct fan *fan; /* the decision lives in this fan's memory and holds one reference to it */
	struct cls *cls;
	char inline_[]; /* rule, id, modified, dest: one allocation per decision */
};

struct rb {
	char buf[RULE_MAX];
	size_t len;
};

static const char *cls_rule(struct cls *c, unsigned di);
static int is_ascii(const char *v, size_t n);
static void fan_release(struct fan *fan, size_t n);
static int fan_own(struct fan *fan, void *p, int js);

/* ---- facts ---- */

static void add_tag(struct sl_policy_facts *f, const char *t)
{
	if (f->ntags == f->captags) {
		size_t nc = f->captags ? 2 * f->captags : INLINE_TAGS;
		const char **n = f->tags == f->tags_inline ? malloc(nc * sizeof(*n))
		                                           : realloc(f->tags, nc * sizeof(*n));
		if (!n) {
			f->oom = 1;
			return;
		}
		if (f->tags == f->tags_inline)
			memcpy(n, f->tags_inline, f->ntags * sizeof(*n));
		f->tags = n;
		f->captags = nc;
	}
	f->tags[f->ntags++] = t;
}

static void add_pii_n(struct sl_policy_facts *f, enum sl_gdpr_cat c, const char *v, size_t len,
                      const char *field)
{
	size_t i;

	/* a value is read up to its first NUL, as a C string would be */
	len = strnlen(v, len);
	/* a single character is not a personal value, and replacing it would wreck the object */
	if (len < 2)
		return;
	/* what sluice wrote itself is not personal data: deciding twice must not pseudonymise a
	 * pseudonym */
	if ((len > 18 && memcmp(v + len - 18, "@pseudonym.invalid", 18) == 0) ||
	    (len > 10 && memcmp(v, "pseudonym:", 10) == 0) ||
	    (len > 10 && memcmp(v, "[redacted:", 10) == 0) ||
	    (len == 8 && memcmp(v, "[erased]", 8) == 0))
		return;
	for (i = 0; i < f->npii; i++)
		if (f->pii[i].cat == c && f->pii[i].len == len &&
		    memcmp(f->pii[i].value, v, len) == 0)
			return;
	if (f->npii == f->cappii) {
		size_t nc = f->cappii ? 2 * f->cappii : INLINE_PII;
		struct pii *n = f->pii == f->pii_inline ? malloc(nc * sizeof(*n))
		                                        : realloc(f->pii, nc * sizeof(*n));
		if (!n) {
			f->oom = 1;
			return;
		}
		if (f->pii == f->pii_inline)
			memcpy(n, f->pii_inline, f->npii * sizeof(*n));
		f->pii = n;
		f->cappii = nc;
	}
	f->pii[f->npii].value = v;
	f->pii[f->npii].len = len;
	f->pii[f->npii].cat = c;
	f->pii[f->npii].field = field;
	f->pii[f->npii].pseudonym = NULL;
	f->cats |= 1u << c;
	f->npii++;
}

static void add_pii(struct sl_policy_facts *f, enum sl_gdpr_cat c, const json_t *v,
                    const char *field)
{
	if (json_is_string(v))
		add_pii_n(f, c, json_string_value(v), json_string_length(v), field);
}

struct scanarg {
	struct sl_policy_facts *f;
	const char *field;
};

static int on_email(const char *s, size_t len, void *arg)
{
	struct scanarg *a = arg;

	add_pii_n(a->f, SL_GDPR_EMAIL, s, len, a->field);
	return a->f->npii > 10000;
}

static void scan_emails_rec(struct sl_policy_facts *f, const json_t *v, const char *field,
                            int depth)
{
	const char *k;
	json_t *e;
	size_t i;

	if (depth > 64)
		return;
	if (json_is_string(v)) {
		struct scanarg a = {f, field};
		if (memchr(json_string_value(v), '@', json_string_length(v)))
			sl_gdpr_scan_emails(json_string_value(v), on_email, &a);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, e)
		{
			if (json_is_string(e) || json_is_object(e) || json_is_array(e))
				scan_emails_rec(f, e, depth == 0 ? k : field, depth + 1);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) scan_emails_rec(f, e, field, depth + 1);
	}
}

/* Values compared in a STIX pattern for object paths that hold personal data. */
static const struct {
	const char *path;
	enum sl_gdpr_cat cat;
} pattern_paths[] = {
    {"email-addr:value", SL_GDPR_EMAIL},
    {"email-addr:display_name", SL_GDPR_PERSON_NAME},
    {"user-account:user_id", SL_GDPR_USER_ACCOUNT},
    {"user-account:account_login", SL_GDPR_USER_ACCOUNT},
    {"user-account:display_name", SL_GDPR_PERSON_NAME},
    {"ipv4-addr:value", SL_GDPR_IP_ADDRESS},
    {"ipv6-addr:value", SL_GDPR_IP_ADDRESS},
    {"network-traffic:src_ref.value", SL_GDPR_IP_ADDRESS},
    {"network-traffic:dst_ref.value", SL_GDPR_IP_ADDRESS},
    {"x-misp-object:phone-number", SL_GDPR_PHONE},
};

/* The object types of pattern_paths: a path can only occur where one of them ends right before
 * a ':', so one pass over the colons says which paths are worth a strstr. */
static const char *const pattern_types[] = {"email-addr", "user-account",    "ipv4-addr",
                                            "ipv6-addr",  "network-traffic", "x-misp-object"};

static unsigned pattern_type_bit(const char *path)
{
	size_t t, n;

	for (t = 0; t < sizeof(pattern_types) / sizeof(pattern_types[0]); t++) {
		n = strlen(pattern_types[t]);
		if (strncmp(path, pattern_types[t], n) == 0 && path[n] == ':')
			return 1u << t;
	}
	return 0;
}

/* The lengths of pattern_types, and the type bit and length of each of pattern_paths, worked out
 * once (scan_pattern runs for every indicator). */
static size_t pattern_type_len[sizeof(pattern_types) / sizeof(pattern_types[0])];
static struct {
	unsigned bit;
	size_t len;
} pattern_path_info[sizeof(pattern_paths) / sizeof(pattern_paths[0])];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_info_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(pattern_types) / sizeof(pattern_types[0]); i++)
		pattern_type_len[i] = strlen(pattern_types[i]);
	for (i = 0; i < sizeof(pattern_paths) / sizeof(pattern_paths[0]); i++) {
		pattern_path_info[i].bit = pattern_type_bit(pattern_paths[i].path);
		pattern_path_info[i].len = strlen(pattern_paths[i].path);
	}
}

static void scan_pattern(struct sl_policy_facts *f, const char *pat)
{
	unsigned seen = 0;
	const char *c;
	size_t i, t;

	pthread_once(&pattern_once, pattern_info_init);
	for (c = strchr(pat, ':'); c; c = strchr(c + 1, ':'))
		for (t = 0; t < sizeof(pattern_types) / sizeof(pattern_types[0]); t++) {
			size_t n = pattern_type_len[t];
			if ((size_t)(c - pat) >= n && memcmp(c - n, pattern_types[t], n) == 0)
				seen |= 1u << t;
		}
	if (!seen)
		return;
	for (i = 0; i < sizeof(pattern_paths) / sizeof(pattern_paths[0]); i++) {
		const char *p = pat, *q;
		size_t pl = pattern_path_info[i].len;
		if (!(seen & pattern_path_info[i].bit))
			continue;
		while ((p = strstr(p, pattern_paths[i].path)) != NULL) {
			int budget = 16;
			p += pl;
			while (*p && *p != '\'' && *p != ']' && budget-- > 0)
				p++;
			if (*p != '\'')
				continue;
			for (q = ++p; *q && !(*q == '\'' && q[-1] != '\\'); q++)
				;
			add_pii_n(f, pattern_paths[i].cat, p, (size_t)(q - p), "pattern");
			p = q;
		}
	}
}

/* MISP attribute types (also misp-stix's x_misp_type) that hold personal data, and where in the
 * value. */
static const struct {
	const char *type;
	enum sl_gdpr_cat cat;
	int part; /* 0 whole value, 1 before '|', 2 after '|' */
} misp_types[] = {
    {"email", SL_GDPR_EMAIL, 0},
    {"email-src", SL_GDPR_EMAIL, 0},
    {"email-dst", SL_GDPR_EMAIL, 0},
    {"email-reply-to", SL_GDPR_EMAIL, 0},
    {"target-email", SL_GDPR_EMAIL, 0},
    {"whois-registrant-email", SL_GDPR_EMAIL, 0},
    {"dns-soa-email", SL_GDPR_EMAIL, 0},
    {"first-name", SL_GDPR_PERSON_NAME, 0},
    {"middle-name", SL_GDPR_PERSON_NAME, 0},
    {"last-name", SL_GDPR_PERSON_NAME, 0},
    {"full-name", SL_GDPR_PERSON_NAME, 0},
    {"whois-registrant-name", SL_GDPR_PERSON_NAME, 0},
    {"email-src-display-name", SL_GDPR_PERSON_NAME, 0},
    {"email-dst-display-name", SL_GDPR_PERSON_NAME, 0},
    {"phone-number", SL_GDPR_PHONE, 0},
    {"whois-registrant-phone", SL_GDPR_PHONE, 0},
    {"prtn", SL_GDPR_PHONE, 0},
    {"target-user", SL_GDPR_USER_ACCOUNT, 0},
    {"github-username", SL_GDPR_USER_ACCOUNT, 0},
    {"twitter-id", SL_GDPR_USER_ACCOUNT, 0},
    {"jabber-id", SL_GDPR_USER_ACCOUNT, 0},
    {"username", SL_GDPR_USER_ACCOUNT, 0},
    {"ip-src", SL_GDPR_IP_ADDRESS, 0},
    {"ip-dst", SL_GDPR_IP_ADDRESS, 0},
    {"ip-src|port", SL_GDPR_IP_ADDRESS, 1},
    {"ip-dst|port", SL_GDPR_IP_ADDRESS, 1},
    {"domain|ip", SL_GDPR_IP_ADDRESS, 2},
};

/* MISP object relations that hold personal data whatever the attribute type says (person,
 * user-account). */
static int relation_cat(const char *objname, const char *rel)
{
	if (!objname || !rel)
		return -1;
	if (strcmp(objname, "person") == 0) {
		if (strstr(rel, "name") || strcmp(rel, "alias") == 0)
			return SL_GDPR_PERSON_NAME;
		if (strstr(rel, "phone"))
			return SL_GDPR_PHONE;
	}
	if (strcmp(objname, "user-account") == 0) {
		if (strcmp(rel, "username") == 0 || strcmp(rel, "user-id") == 0)
			return SL_GDPR_USER_ACCOUNT;
		if (strcmp(rel, "display-name") == 0)
			return SL_GDPR_PERSON_NAME;
	}
	return -1;
}

static void add_typed(struct sl_policy_facts *f, const char *type, const json_t *value,
                      const char *field)
{
	const char *v, *bar;
	size_t i;

	if (!type || !json_is_string(value))
		return;
	v = json_string_value(value);
	for (i = 0; i < sizeof(misp_types) / sizeof(misp_types[0]); i++) {
		if (strcmp(type, misp_types[i].type) != 0)
			continue;
		bar = strchr(v, '|');
		if (misp_types[i].part == 0 || !bar)
			add_pii_n(f, misp_types[i].cat, v, strlen(v), field);
		else if (misp_types[i].part == 1)
			add_pii_n(f, misp_types[i].cat, v, (size_t)(bar - v), field);
		else
			add_pii_n(f, misp_types[i].cat, bar + 1, strlen(bar + 1), field);
		return;
	}
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): timegm without the time zone
 * machinery, and sscanf is too slow for a step that runs per object. */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static int digits_at(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

/* Epoch seconds of an RFC 3339 timestamp, a number, or a numeric string; 0 when unreadable. */
static long long parse_time(const json_t *v, const char **s_out)
{
	const char *t;
	int Y, M, D, h, m, sec;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (!json_is_string(v))
		return 0;
	t = json_string_value(v);
	if (s_out)
		*s_out = t;
	if (json_string_length(v) >= 19 && t[4] == '-' && t[7] == '-' &&
	    (t[10] == 'T' || t[10] == 't') && t[13] == ':' && t[16] == ':' && digits_at(t, 4, &Y) &&
	    digits_at(t + 5, 2, &M) && digits_at(t + 8, 2, &D) && digits_at(t + 11, 2, &h) &&
	    digits_at(t + 14, 2, &m) && digits_at(t + 17, 2, &sec)) {
		if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
			return 0;
		return days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 +
		       sec;
	} else {
		char *end;
		long long n = strtoll(t, &end, 10);
		return *end == '\0' && end != t ? n : 0;
	}
}

static int parse_level(const json_t *v)
{
	if (json_is_integer(v))
		return (int)json_integer_value(v);
	if (json_is_string(v) && strlen(json_string_value(v)) == 1 &&
	    isdigit((unsigned char)json_string_value(v)[0]))
		return json_string_value(v)[0] - '0';
	return v ? 99 : -1; /* present but unreadable: 99 is refused below */
}

static void note_tlp(struct sl_policy_facts *f, enum sl_tlp t, int malformed, const char *src)
{
	if (malformed)
		f->tlp_malformed = 1;
	if (t == SL_TLP_NONE)
		return;
	/* a container's marking is inherited, not a conflict; two different levels on one object
	 * are */
	if (!f->inherited) {
		if (f->own_tlp != SL_TLP_NONE && f->own_tlp != t)
			f->tlp_conflict = 1;
		if (t > f->own_tlp)
			f->own_tlp = t;
	}
	if (t > f->tlp || f->tlp == SL_TLP_NONE) {
		size_t n = strnlen(src, sizeof(f->tlp_src) - 1);
		f->tlp = t;
		memcpy(f->tlp_src, src, n);
		f->tlp_src[n] = '\0';
	}
}

/* Where marking-definitions are found by id: the caller's map (struct sl_policy_ctx.markings), or
 * the bundle a fan decides. */
struct mlook {
	const json_t *map;
	const struct fan *fan;
};

static const json_t *fan_marking(const struct fan *fan, const char *id);

static const json_t *marking_find(const struct mlook *ml, const char *id)
{
	if (!ml)
		return NULL;
	return ml->fan ? fan_marking(ml->fan, id) : ml->map ? json_object_get(ml->map, id) : NULL;
}

static void read_marking_refs(struct sl_policy_facts *f, const json_t *refs, const json_t *g,
                              const struct mlook *markings)
{
	const json_t *e;
	size_t i;

	if (refs && !json_is_array(refs)) {
		note_tlp(f, SL_TLP_RED, 1, "object_marking_refs is not a list");
		return;
	}
	json_array_foreach(refs, i, e)
	{
		const json_t *md;
		enum sl_tlp t;
		int bad = 0;
		if (!json_is_string(e)) {
			note_tlp(f, SL_TLP_RED, 1, "object_marking_refs holds a non-string");
			continue;
		}
		md = marking_find(markings, json_string_value(e));
		t = md ? sl_tlp_from_marking_object(md, &bad)
		       : sl_tlp_from_marking_id(json_string_value(e));
		note_tlp(f, t, bad, json_string_value(e));
	}
	json_array_foreach(g, i, e)
	{
		const json_t *r = json_object_get(e, "marking_ref"), *md;
		enum sl_tlp t;
		int bad = 0;
		if (!json_is_string(r))
			continue;
		md = marking_find(markings, json_string_value(r));
		t = md ? sl_tlp_from_marking_object(md, &bad)
		       : sl_tlp_from_marking_id(json_string_value(r));
		note_tlp(f, t, bad, json_string_value(r));
	}
}

static void read_labels(struct sl_policy_facts *f, const json_t *labels)
{
	const json_t *e;
	size_t i;

	json_array_foreach(labels, i, e)
	{
		int bad = 0;
		enum sl_tlp t;
		if (!json_is_string(e))
			continue;
		add_tag(f, json_string_value(e));
		t = sl_tlp_from_tag(json_string_value(e), &bad);
		note_tlp(f, t, bad, json_string_value(e));
	}
}

static void read_misp_dist(struct sl_policy_facts *f, const json_t *lv, const json_t *sg,
                           const char *what)
{
	int level = parse_level(lv);

	if (level < 0 || f->ndist >= MAX_DIST)
		return;
	f->dist[f->ndist].level = level;
	f->dist[f->ndist].sg = json_string_value(sg);
	f->dist[f->ndist].sg_obj = NULL;
	f->dist[f->ndist].what = what;
	f->ndist++;
}

static const char *org_of(const json_t *cbr)
{
	const char *c = json_string_value(cbr);

	return c && strncmp(c, "identity--", 10) == 0 ? c + 10 : c;
}

static void facts_init(struct sl_policy_facts *f, json_t *obj)
{
	/* the inline arrays need no clearing: a third of the struct, and this runs per object */
	memset(f, 0, offsetof(struct sl_policy_facts, tags_inline));
	f->obj = json_incref(obj);
	f->tlp = f->own_tlp = SL_TLP_NONE;
	f->refs = 1;
	f->tags = f->tags_inline;
	f->captags = INLINE_TAGS;
	f->pii = f->pii_inline;
	f->cappii = INLINE_PII;
}

static struct sl_policy_facts *facts_new(json_t *obj)
{
	struct sl_policy_facts *f = malloc(sizeof(*f));

	if (f)
		facts_init(f, obj);
	return f;
}

/* The members of a STIX object the policy reads, found in one pass over its keys (a
 * json_object_get per key hashes the key each time), and the members worth an email scan. */
enum {
	K_ID,
	K_TYPE,
	K_MODIFIED,
	K_CREATED,
	K_MARKING_REFS,
	K_GRANULAR,
	K_LABELS,
	K_DIST,
	K_SG,
	K_CREATED_BY,
	K_XTYPE,
	K_XVALUE,
	K_PATTERN,
	K_VALUE,
	K_DISPLAY_NAME,
	K_USER_ID,
	K_ACCOUNT_LOGIN,
	K_IDENTITY_CLASS,
	K_NAME,
	K_N
};

#define SCAN_MAX 32

struct members {
	const json_t *v[K_N];
	const char *scan_key[SCAN_MAX];
	const json_t *scan_v[SCAN_MAX];
	size_t nscan;
	int scan_all; /* more members to scan than SCAN_MAX: scan the whole object */
};

/* The member index of key k (n bytes), or -1: by length first, so most keys cost one compare,
 * and each compare of a constant length, which the compiler does inline (a libc memcmp call per
 * key of every object cost more than the rest of the lookup). */
#define KEY_IS(lit) (memcmp(k, lit, sizeof(lit) - 1) == 0)
static int key_index(const char *k, size_t n)
{
	switch (n) {
	case 2:
		return KEY_IS("id") ? K_ID : -1;
	case 4:
		return KEY_IS("type") ? K_TYPE : KEY_IS("name") ? K_NAME : -1;
	case 5:
		return KEY_IS("value") ? K_VALUE : -1;
	case 6:
		return KEY_IS("labels") ? K_LABELS : -1;
	case 7:
		return KEY_IS("created")   ? K_CREATED
		       : KEY_IS("pattern") ? K_PATTERN
		       : KEY_IS("user_id") ? K_USER_ID
		                           : -1;
	case 8:
		return KEY_IS("modified") ? K_MODIFIED : -1;
	case 11:
		return KEY_IS("x_misp_type") ? K_XTYPE : -1;
	case 12:
		return KEY_IS("x_misp_value")   ? K_XVALUE
		       : KEY_IS("display_name") ? K_DISPLAY_NAME
		                                : -1;
	case 13:
		return KEY_IS("account_login") ? K_ACCOUNT_LOGIN : -1;
	case 14:
		return KEY_IS("created_by_ref")   ? K_CREATED_BY
		       : KEY_IS("identity_class") ? K_IDENTITY_CLASS
		                                  : -1;
	case 17:
		return KEY_IS("granular_markings") ? K_GRANULAR : -1;
	case 19:
		return KEY_IS("object_marking_refs")   ? K_MARKING_REFS
		       : KEY_IS("x_misp_distribution") ? K_DIST
		                                       : -1;
	case 25:
		return KEY_IS("x_misp_sharing_group_uuid") ? K_SG : -1;
	default:
		return -1;
	}
}
#undef KEY_IS

/* Would scan_emails_rec find anything to look at in v: a string holding an '@', or a nested value
 * other than an array of strings without one (the common nested values: lists of ids, labels,
 * markings). */
static int worth_scan(const json_t *v)
{
	const json_t *e;
	size_t i;

	if (json_is_string(v))
		return memchr(json_string_value(v), '@', json_string_length(v)) != NULL;
	if (json_is_object(v))
		return 1;
	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, e)
	{
		if (json_is_string(e)
		        ? memchr(json_string_value(e), '@', json_string_length(e)) != NULL
		        : json_is_object(e) || json_is_array(e))
			return 1;
	}
	return 0;
}

static void read_members(const json_t *o, struct members *m, int scan)
{
	const char *k;
	json_t *e;
	int i;

	void *it;

	memset(m->v, 0, sizeof(m->v));
	m->nscan = 0;
	m->scan_all = 0;
	for (it = json_object_iter((json_t *)o); it; it = json_object_iter_next((json_t *)o, it)) {
		k = json_object_iter_key(it);
		e = json_object_iter_value(it);
		if ((i = key_index(k, json_object_iter_key_len(it))) >= 0 && !m->v[i])
			m->v[i] = e;
		if (!scan || m->scan_all)
			continue;
		/* what scan_emails_rec would find something in */
		if (worth_scan(e)) {
			if (m->nscan == SCAN_MAX) {
				m->scan_all = 1;
				continue;
			}
			m->scan_key[m->nscan] = k;
			m->scan_v[m->nscan++] = e;
		}
	}
}

/* What an object says of itself apart from TLP and distribution: id, type, age, creator. */
static void facts_self(struct sl_policy_facts *f, const struct members *m)
{
	const char *type;

	f->id = json_string_value(m->v[K_ID]);
	f->type = type = json_string_value(m->v[K_TYPE]);
	if (!type)
		type = f->type = "";
	f->modified = parse_time(m->v[K_MODIFIED], &f->modified_s);
	if (!f->modified)
		f->modified = parse_time(m->v[K_CREATED], &f->modified_s);
	f->meta =
	    strcmp(type, "marking-definition") == 0 || strcmp(type, "extension-definition") == 0;
	f->org = org_of(m->v[K_CREATED_BY]);
}

/* Personal data by type, then email addresses anywhere. */
static void facts_pii(struct sl_policy_facts *f, const json_t *obj, const struct members *m)
{
	const char *type = f->type;
	size_t i;

	/* most objects are none of these types: one byte tells */
	if (!strchr("eui", type[0]) || !type[0]) {
		/* none of the typed personal data below */
	} else if (strcmp(type, "email-addr") == 0) {
		add_pii(f, SL_GDPR_EMAIL, m->v[K_VALUE], "value");
		add_pii(f, SL_GDPR_PERSON_NAME, m->v[K_DISPLAY_NAME], "display_name");
	} else if (strcmp(type, "user-account") == 0) {
		add_pii(f, SL_GDPR_USER_ACCOUNT, m->v[K_USER_ID], "user_id");
		add_pii(f, SL_GDPR_USER_ACCOUNT, m->v[K_ACCOUNT_LOGIN], "account_login");
		add_pii(f, SL_GDPR_PERSON_NAME, m->v[K_DISPLAY_NAME], "display_name");
	} else if (strcmp(type, "identity") == 0) {
		const char *cls = json_string_value(m->v[K_IDENTITY_CLASS]);
		if (cls && strcmp(cls, "individual") == 0)
			add_pii(f, SL_GDPR_PERSON_NAME, m->v[K_NAME], "name");
	} else if (strcmp(type, "ipv4-addr") == 0 || strcmp(type, "ipv6-addr") == 0) {
		add_pii(f, SL_GDPR_IP_ADDRESS, m->v[K_VALUE], "value");
	} else if (strcmp(type, "indicator") == 0 && json_is_string(m->v[K_PATTERN])) {
		scan_pattern(f, json_string_value(m->v[K_PATTERN]));
	}
	/* misp-stix's custom attribute objects carry the MISP type and value */
	if (m->v[K_XTYPE])
		add_typed(f, json_string_value(m->v[K_XTYPE]), m->v[K_XVALUE], "x_misp_value");
	if (!f->meta) {
		if (m->scan_all) {
			scan_emails_rec(f, obj, NULL, 0);
		} else {
			for (i = 0; i < m->nscan; i++)
				scan_emails_rec(f, m->scan_v[i], m->scan_key[i], 1);
		}
	}
}

static void sg_lookup(struct sl_policy_facts *f, const json_t *sgs);

struct sl_policy_facts *sl_policy_facts_stix(const json_t *obj, const struct sl_policy_ctx *ctx,
                                             struct sl_err *err)
{
	const json_t *containers = ctx ? ctx->containers : NULL, *c;
	struct mlook ml = {ctx ? ctx->markings : NULL, NULL};
	struct sl_policy_facts *f;
	struct members m;
	size_t i;

	if (!json_is_object(obj)) {
		sl_err_set(err, SL_EINVAL, "object", "a STIX object must be a JSON object");
		return NULL;
	}
	if (!(f = facts_new((json_t *)obj))) {
		sl_err_set(err, SL_ENOMEM, "object", "out of memory");
		return NULL;
	}
	if (ctx) {
		f->held[0] = json_incref((json_t *)ctx->containers);
		f->held[1] = json_incref((json_t *)ctx->misp);
	}
	read_members(obj, &m, 1);
	facts_self(f, &m);
	read_marking_refs(f, m.v[K_MARKING_REFS], m.v[K_GRANULAR], &ml);
	read_labels(f, m.v[K_LABELS]);
	if (ctx && ctx->misp) {
		int level = parse_level(json_object_get(ctx->misp, "distribution"));
		if (level >= 0) {
			f->dist[0].level = level;
			f->dist[0].sg =
			    json_string_value(json_object_get(ctx->misp, "sharing_group_uuid"));
			f->dist[0].sg_obj = json_object_get(ctx->misp, "sharing_group");
			f->dist[0].what = "object (MISP context)";
			f->ndist = 1;
		}
	} else {
		read_misp_dist(f, m.v[K_DIST], m.v[K_SG], "object");
	}
	f->inherited = 1;
	json_array_foreach(containers, i, c)
	{
		struct members cm;
		read_members(c, &cm, 0);
		read_marking_refs(f, cm.v[K_MARKING_REFS], cm.v[K_GRANULAR], &ml);
		read_labels(f, cm.v[K_LABELS]);
		if (!f->org)
			f->org = org_of(cm.v[K_CREATED_BY]);
		if (i == 0)
			read_misp_dist(f, cm.v[K_DIST], cm.v[K_SG], "container");
	}
	if (ctx && json_is_object(ctx->sharing_groups)) {
		f->held[2] = json_incref((json_t *)ctx->sharing_groups);
		sg_lookup(f, ctx->sharing_groups);
	}
	facts_pii(f, obj, &m);
	if (f->oom) {
		sl_err_set(err, SL_ENOMEM, f->id ? f->id : "object", "out of memory");
		sl_policy_facts_free(f);
		return NULL;
	}
	return f;
}

/* What facts_init and reading allocated, released (not f itself). */
static void facts_clear(struct sl_policy_facts *f)
{
	size_t i;

	for (i = 0; i < (size_t)f->nresults; i++) {
		json_decref(f->results[i].obj);
		json_decref(f->results[i].changes);
	}
	free(f->results);
	json_decref(f->held[0]);
	json_decref(f->held[1]);
	json_decref(f->held[2]);
	for (i = 0; i < f->npii; i++)
		free(f->pii[i].pseudonym);
	free(f->pkey);
	if (f->pii != f->pii_inline)
		free(f->pii);
	if (f->tags != f->tags_inline)
		free(f->tags);
	json_decref(f->obj);
}

void sl_policy_facts_free(struct sl_policy_facts *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	facts_clear(f);
	free(f);
}

/* ---- evaluation ---- */

struct outcome {
	enum sl_policy_verdict v;
	int downgrade;      /* distribution 2 -> 1 on push to MISP */
	unsigned char *act; /* per pii: the action to apply (KEEP = none) */
};

static int in_list(const struct sl_strlist *l, const char *s, int nocase)
{
	size_t i, n;

	if (!s)
		return 0;
	for (i = 0; i < l->n; i++) {
		n = strlen(l->v[i]);
		if (n > 0 && l->v[i][n - 1] == '*') {
			if ((nocase ? strncasecmp(l->v[i], s, n - 1)
			            : strncmp(l->v[i], s, n - 1)) == 0)
				return 1;
		} else if ((nocase ? strcasecmp(l->v[i], s) : strcmp(l->v[i], s)) == 0) {
			return 1;
		}
	}
	return 0;
}

static int sg_member(const struct sl_policy_dest *d, const struct dist *x)
{
	const json_t *e;
	size_t i;

	if (x->sg && in_list(&d->sharing_groups, x->sg, 1))
		return 1;
	if (!x->sg_obj)
		return 0;
	if (!x->sg &&
	    in_list(&d->sharing_groups, json_string_value(json_object_get(x->sg_obj, "uuid")), 1))
		return 1;
	json_array_foreach(json_object_get(x->sg_obj, "SharingGroupOrg"), i, e)
	{
		const char *u =
		    json_string_value(json_object_get(json_object_get(e, "Organisation"), "uuid"));
		if (!u)
			u = json_string_value(json_object_get(e, "org_uuid"));
		if (d->org_uuid && u && strcasecmp(u, d->org_uuid) == 0)
			return 1;
	}
	json_array_foreach(json_object_get(x->sg_obj, "SharingGroupServer"), i, e)
	{
		const json_t *s = json_object_get(e, "Server");
		const char *url = json_string_value(json_object_get(s, "url")),
		           *name = json_string_value(json_object_get(s, "name"));
		if (d->server && ((url && strcmp(url, d->server) == 0) ||
		                  (name && strcmp(name, d->server) == 0)))
			return 1;
	}
	return 0;
}

static const char *level_name(int l)
{
	static const char *const n[] = {"your organisation only", "this community",
	                                "connected communities",  "all communities",
	                                "sharing group",          "inherit"};
	return l >= 0 && l <= 5 ? n[l] : "invalid";
}

/* Append strings (NULL-terminated list). The chain is built for every decision, so no format
 * parsing. */
static void cat(struct rb *r, ...)
{
	const char *s;
	va_list ap;

	if (!r)
		return; /* verdict only: no chain */
	va_start(ap, r);
	while ((s = va_arg(ap, const char *)) != NULL) {
		size_t n = strlen(s);
		if (n > sizeof(r->buf) - 1 - r->len)
			n = sizeof(r->buf) - 1 - r->len;
		memcpy(r->buf + r->len, s, n);
		r->len += n;
	}
	r->buf[r->len] = '\0';
	va_end(ap);
}

#define CAT(r, ...) cat((r), __VA_ARGS__, (const char *)NULL)
#define DENY(r, ...) (CAT((r), " -> deny (", __VA_ARGS__, ")"), SL_POLICY_DENY)

static const char *const digits[] = {"0", "1", "2", "3", "4", "5"};

/* One entry of a tag/type/org list against s, as in_list reads it: "prefix*" or the whole string.
 */
static int pattern_match(const char *pat, const char *s, int nocase)
{
	size_t n = strlen(pat);

	if (n > 0 && pat[n - 1] == '*')
		return (nocase ? strncasecmp(pat, s, n - 1) : strncmp(pat, s, n - 1)) == 0;
	return (nocase ? strcasecmp(pat, s) : strcmp(pat, s)) == 0;
}

static int intern_list(const char **tab, size_t *n, const struct sl_strlist *l, uint64_t *mask)
{
	size_t i, j;

	*mask = 0;
	for (i = 0; i < l->n; i++) {
		for (j = 0; j < *n; j++)
			if (strcmp(tab[j], l->v[i]) == 0)
				break;
		if (j == *n) {
			if (*n == SL_INTERN_MAX)
				return -1;
			tab[(*n)++] = l->v[i];
		}
		*mask |= (uint64_t)1 << j;
	}
	return 0;
}

void sl_policy_intern_build(struct sl_policy *p)
{
	struct sl_policy_intern *in = &p->in;
	size_t i;
	int ok = 1, c;

	memset(in, 0, sizeof(*in));
	for (i = 0; i < p->ndests && ok; i++) {
		struct sl_policy_dest *d = &p->dests[i];
		ok = intern_list(in->tag, &in->ntag, &d->deny_tags, &d->deny_tag_m) == 0 &&
		     intern_list(in->tag, &in->ntag, &d->allow_tags, &d->allow_tag_m) == 0 &&
		     intern_list(in->type, &in->ntype, &d->deny_types, &d->deny_type_m) == 0 &&
		     intern_list(in->type, &in->ntype, &d->allow_types, &d->allow_type_m) == 0 &&
		     intern_list(in->org, &in->norg, &d->deny_orgs, &d->deny_org_m) == 0 &&
		     intern_list(in->org, &in->norg, &d->allow_orgs, &d->allow_org_m) == 0;
		d->drop_cats = d->change_cats = 0;
		for (c = 0; c < SL_GDPR_NCAT; c++) {
			if (d->gdpr[c] == SL_GDPR_DROP)
				d->drop_cats |= 1u << c;
			else if (d->gdpr[c] != SL_GDPR_KEEP)
				d->change_cats |= 1u << c;
		}
	}
	for (i = 0; i < p->ndests; i++)
		p->dests[i].in = ok ? in : NULL;
}

/* Which interned patterns f matches: once per object and policy. */
static void facts_masks(const struct sl_policy_intern *in, const struct sl_policy_facts *cf)
{
	struct sl_policy_facts *f = (struct sl_policy_facts *)cf;
	size_t j, k;

	if (f->mask_for == in)
		return;
	f->tag_m = f->type_m = f->org_m = 0;
	for (j = 0; j < in->ntag; j++)
		for (k = 0; k < f->ntags; k++)
			if (pattern_match(in->tag[j], f->tags[k], 1)) {
				f->tag_m |= (uint64_t)1 << j;
				break;
			}
	for (j = 0; f->type && j < in->ntype; j++)
		if (pattern_match(in->type[j], f->type, 0))
			f->type_m |= (uint64_t)1 << j;
	for (j = 0; f->org && j < in->norg; j++)
		if (pattern_match(in->org[j], f->org, 1))
			f->org_m |= (uint64_t)1 << j;
	f->mask_for = in;
}

/* The verdict evaluate() gives, without the chain: every deny test is independent of the others,
 * so their order does not matter here, and the lists are bit tests against facts_masks. */
/* Steps 2 and 3 (TLP, distribution): 1 when they let f go to d (*changed set for MISP's
 * downgrade), 0 when they withhold it. Decided before retention, so a class of objects that
 * passes them may still be withheld per object by its age. */
static int tlp_dist_ok(const struct sl_policy_dest *d, const struct sl_policy_facts *f,
                       int *changed)
{
	enum sl_tlp eff = f->tlp;
	int i;

	if (eff == SL_TLP_NONE) {
		if (d->unmarked == SL_TLP_NONE)
			return 0;
		eff = d->unmarked;
	}
	if (eff == SL_TLP_RED ||
	    (eff == SL_TLP_AMBER_STRICT && !(d->own_org && d->allow_amber_strict)) ||
	    (eff != SL_TLP_AMBER_STRICT && eff > d->max_tlp))
		return 0;
	for (i = 0; i < f->ndist; i++) {
		const struct dist *x = &f->dist[i];
		if (x->level == 5) {
			if (f->ndist == 1)
				return 0;
			continue;
		}
		if (x->level < 0 || x->level > 5)
			return 0;
		if (x->level == 4) {
			if (!sg_member(d, x))
				return 0;
			continue;
		}
		if (!(d->dist_mask & (1u << x->level)))
			return 0;
		if (x->level == 2 && d->kind == SL_DEST_MISP)
			*changed = 1;
	}
	return 1;
}

/* Retention withholds f from d at time now (NO_CLOCK: never, for verdicts shared by objects of
 * different ages). */
#define NO_CLOCK LLONG_MIN
static int too_old(const struct sl_policy_dest *d, const struct sl_policy_facts *f, long long now)
{
	return now != NO_CLOCK && d->retention_days > 0 && f->modified > 0 &&
	       f->modified < now - (long long)d->retention_days * 86400;
}

static enum sl_policy_verdict fast_verdict(const struct sl_policy_dest *d,
                                           const struct sl_policy_facts *f, long long now)
{
	int changed = 0;

	if (f->meta)
		return SL_POLICY_ALLOW;
	if (!tlp_dist_ok(d, f, &changed) || too_old(d, f, now))
		return SL_POLICY_DENY;
	facts_masks(d->in, f);
	if (!f->type || strcmp(f->type, "misp-event") != 0) {
		if ((d->deny_type_m & f->type_m) ||
		    (d->allow_types.n && !(d->allow_type_m & f->type_m)))
			return SL_POLICY_DENY;
	}
	if ((f->org && (d->deny_org_m & f->org_m)) ||
	    (d->allow_orgs.n && !(d->allow_org_m & f->org_m)))
		return SL_POLICY_DENY;
	if ((d->deny_tag_m & f->tag_m) || (d->allow_tags.n && !(d->allow_tag_m & f->tag_m)))
		return SL_POLICY_DENY;
	if (f->cats & d->drop_cats)
		return SL_POLICY_DENY;
	return changed || (f->cats & d->change_cats) ? SL_POLICY_ALLOW_CHANGED : SL_POLICY_ALLOW;
}

/* The verdict of d on f; fills r with the chain and o with what to change. o->act has f->npii
 * entries. */
static enum sl_policy_verdict evaluate(const struct sl_policy_dest *d,
                                       const struct sl_policy_facts *f, long long now, struct rb *r,
                                       struct outcome *o)
{
	enum sl_tlp eff = f->tlp;
	int i, changes = 0;
	size_t k;

	CAT(r, d->rule_prefix);
	if (f->meta) {
		CAT(r, "; ", f->type, " travels with the objects that use it -> allow");
		return SL_POLICY_ALLOW;
	}
	if (eff == SL_TLP_NONE) {
		if (d->unmarked == SL_TLP_NONE)
			return DENY(r, "no TLP marking and unmarked = deny");
		eff = d->unmarked;
		CAT(r, "; no TLP marking, assumed ", sl_tlp_name(eff), " (unmarked)");
	} else {
		CAT(r, "; object ", sl_tlp_name(eff), " (", f->tlp_src, ")");
		if (f->tlp_conflict)
			CAT(r, ", conflicting TLP markings: the most restrictive applies");
		if (f->tlp_malformed)
			CAT(r, ", malformed TLP marking read as the most restrictive");
	}
	if (eff == SL_TLP_RED)
		return DENY(r, "RED never leaves sluice");
	if (eff == SL_TLP_AMBER_STRICT && !(d->own_org && d->allow_amber_strict))
		return DENY(r, "AMBER+STRICT goes only to the own organisation");
	if (eff != SL_TLP_AMBER_STRICT && eff > d->max_tlp)
		return DENY(r, sl_tlp_name(eff), " is above max_tlp");

	for (i = 0; i < f->ndist; i++) {
		const struct dist *x = &f->dist[i];
		if (x->level == 5) {
			if (f->ndist == 1)
				return DENY(
				    r, x->what,
				    " distribution 5 (inherit) with nothing to inherit from");
			continue;
		}
		if (x->level < 0 || x->level > 5)
			return DENY(r, x->what, " distribution is not a MISP level 0..5");
		if (x->level == 4) {
			if (!sg_member(d, x))
				return DENY(r, x->what, " distribution 4, sharing group ",
				            x->sg ? x->sg : "(unnamed)",
				            ": destination is not a member");
			CAT(r, "; ", x->what, " distribution 4, member of sharing group ",
			    x->sg ? x->sg : "(embedded)");
			continue;
		}
		if (!(d->dist_mask & (1u << x->level)))
			return DENY(r, x->what, " distribution ", digits[x->level], " (",
			            level_name(x->level), ") is not one this destination takes");
		CAT(r, "; ", x->what, " distribution ", digits[x->level], " (",
		    level_name(x->level), ") accepted");
		if (x->level == 2 && d->kind == SL_DEST_MISP)
			o->downgrade = 1;
	}

	if (too_old(d, f, now)) {
		char days[24];
		snprintf(days, sizeof(days), "%ld", d->retention_days);
		return DENY(r, "modified ", f->modified_s ? f->modified_s : "(epoch)",
		            " is older than retention_days ", days);
	}

	/* a MISP event has no type of its own: type lists apply to its attributes */
	if (!f->type || strcmp(f->type, "misp-event") != 0) {
		if (in_list(&d->deny_types, f->type, 0))
			return DENY(r, "type ", f->type, " is in deny_types");
		if (d->allow_types.n && !in_list(&d->allow_types, f->type, 0))
			return DENY(r, "type ", f->type ? f->type : "(none)",
			            " is not in allow_types");
	}
	if (f->org && in_list(&d->deny_orgs, f->org, 1))
		return DENY(r, "creator organisation ", f->org, " is in deny_orgs");
	if (d->allow_orgs.n && !in_list(&d->allow_orgs, f->org, 1))
		return DENY(r, "creator organisation ", f->org ? f->org : "(unknown)",
		            " is not in allow_orgs");
	for (k = 0; k < f->ntags; k++)
		if (in_list(&d->deny_tags, f->tags[k], 1))
			return DENY(r, "tag '", f->tags[k], "' is in deny_tags");
	if (d->allow_tags.n) {
		for (k = 0; k < f->ntags && !in_list(&d->allow_tags, f->tags[k], 1); k++)
			;
		if (k == f->ntags)
			return DENY(r, "no tag in allow_tags");
	}

	for (k = 0; k < f->npii; k++) {
		enum sl_gdpr_action a = d->gdpr[f->pii[k].cat];
		const char *field = f->pii[k].field ? f->pii[k].field : "value";
		if (a == SL_GDPR_DROP)
			return DENY(r, "personal data (", sl_gdpr_cat_name(f->pii[k].cat), " in ",
			            field, ") and gdpr ", sl_gdpr_cat_name(f->pii[k].cat),
			            " = drop");
		if (o->act)
			o->act[k] = (unsigned char)a;
		if (a != SL_GDPR_KEEP) {
			CAT(r, changes ? " " : "; personal data: ", sl_gdpr_action_name(a), " ",
			    sl_gdpr_cat_name(f->pii[k].cat), " in ", field);
			changes++;
		}
	}
	if (o->downgrade) {
		CAT(r, "; distribution 2 downgraded to 1 on push to MISP");
		changes++;
	}
	CAT(r, changes ? " -> allow with changes" : " -> allow");
	return changes ? SL_POLICY_ALLOW_CHANGED : SL_POLICY_ALLOW;
}

static int by_length_desc(const void *a, const void *b)
{
	size_t la = (*(const struct pii *const *)a)->len, lb = (*(const struct pii *const *)b)->len;
	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* {path, action[, category]}: action and category are sluice's own ASCII words, the path holds
 * keys and ids from the input (checked as UTF-8). No json_pack: its format parsing cost more than
 * the change. */
static json_t *change_new(const char *path, const char *action, const char *category)
{
	json_t *c = json_object();
	size_t n = strlen(path);

	/* an ASCII path (nearly all) is valid UTF-8 without the character-by-character check */
	if (!c ||
	    json_object_set_new_nocheck(c, "path",
	                                is_ascii(path, n) ? json_stringn_nocheck(path, n)
	                                                  : json_string(path)) != 0 ||
	    json_object_set_new_nocheck(c, "action", json_string_nocheck(action)) != 0 ||
	    (category &&
	     json_object_set_new_nocheck(c, "category", json_string_nocheck(category)) != 0)) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* {"path": "object_refs[<id>]", "action": "removed (withheld)"}, the path cut at 299 bytes as
 * snprintf into 300 would (snprintf cost more than the rest of the change). */
static json_t *removed_ref_change_as(const char *id, json_t *action);

static json_t *removed_ref_change(const char *id)
{
	json_t *action = json_string_nocheck("removed (withheld)"), *c;

	c = action ? removed_ref_change_as(id, action) : NULL;
	json_decref(action);
	return c;
}

/* The same with the action string given (shared by a bundle's changes: one string less to make
 * and free per withheld ref). */
static json_t *removed_ref_change_as(const char *id, json_t *action)
{
	char path[300];
	size_t n = strlen(id);
	json_t *c;

	memcpy(path, "object_refs[", 12);
	if (n > sizeof(path) - 13)
		n = sizeof(path) - 13;
	memcpy(path + 12, id, n);
	if (12 + n < sizeof(path) - 1)
		path[12 + n++] = ']';
	path[12 + n] = '\0';
	n = strlen(path);
	/* an ASCII path (nearly all) is valid UTF-8 without the character-by-character check */
	if (!(c = json_object()) ||
	    json_object_set_new_nocheck(c, "path",
	                                is_ascii(path, n) ? json_stringn_nocheck(path, n)
	                                                  : json_string(path)) != 0 ||
	    json_object_set_nocheck(c, "action", action) != 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static int add_change(json_t *changes, const char *path, const char *action, const char *category)
{
	json_t *c = change_new(path, action, category);

	return c && json_array_append_new(changes, c) == 0 ? 0 : SL_ENOMEM;
}

/* Pseudonyms already made in one sl_policy_decide_bundle_all call, by key, category and value:
 * the same address or account recurs across a bundle's objects (an observable, the indicator
 * whose pattern names it, its description). */
#define PCACHE_KEYS 4

struct pcache {
	size_t cap, n;
	/* a pseudonymiser per key (destinations mostly share one) */
	struct pkey {
		const unsigned char *key;
		size_t keylen;
		struct sl_gdpr_pseudonymiser *ps;
	} keys[PCACHE_KEYS];
	size_t nkeys;
	struct pentry {
		uint64_t h;
		const unsigned char *key;
		size_t keylen, len;
		enum sl_gdpr_cat cat;
		char *value, *ps;
	} * e;
};

static void pcache_free(struct pcache *pc)
{
	size_t i;

	for (i = 0; pc->e && i < pc->cap; i++)
		if (pc->e[i].ps) {
			free(pc->e[i].value);
			free(pc->e[i].ps);
		}
	free(pc->e);
	for (i = 0; i < pc->nkeys; i++)
		sl_gdpr_pseudonymiser_free(pc->keys[i].ps);
}

static char *pcache_make(struct pcache *pc, const struct sl_policy_dest *d, enum sl_gdpr_cat c,
                         const char *value)
{
	size_t i;

	for (i = 0; i < pc->nkeys; i++)
		if (pc->keys[i].keylen == d->keylen &&
		    (pc->keys[i].key == d->key || memcmp(pc->keys[i].key, d->key, d->keylen) == 0))
			return sl_gdpr_pseudonymiser_make(pc->keys[i].ps, c, value);
	if (pc->nkeys < PCACHE_KEYS &&
	    (pc->keys[pc->nkeys].ps = sl_gdpr_pseudonymiser_new(d->key, d->keylen)) != NULL) {
		pc->keys[pc->nkeys].key = d->key;
		pc->keys[pc->nkeys].keylen = d->keylen;
		return sl_gdpr_pseudonymiser_make(pc->keys[pc->nkeys++].ps, c, value);
	}
	return sl_gdpr_pseudonym(d->key, d->keylen, c, value);
}

/* The pseudonym of value (len bytes) under d's key: borrowed from the cache, NULL on allocation
 * failure. */
static const char *pcache_get(struct pcache *pc, const struct sl_policy_dest *d, enum sl_gdpr_cat c,
                              const char *value, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)c;
	size_t i, k;
	char *ps;

	for (k = 0; k < len; k++)
		h = (h ^ (unsigned char)value[k]) * 1099511628211ull;
	for (k = 0; k < d->keylen; k++)
		h = (h ^ d->key[k]) * 1099511628211ull;
	if (2 * (pc->n + 1) > pc->cap) {
		size_t bcap = pc->cap ? 2 * pc->cap : 64;
		struct pentry *be = calloc(bcap, sizeof(*be));
		if (!be)
			return NULL;
		for (k = 0; k < pc->cap; k++) {
			if (!pc->e[k].ps)
				continue;
			for (i = pc->e[k].h & (bcap - 1); be[i].ps; i = (i + 1) & (bcap - 1))
				;
			be[i] = pc->e[k];
		}
		free(pc->e);
		pc->e = be;
		pc->cap = bcap;
	}
	for (i = h & (pc->cap - 1); pc->e[i].ps; i = (i + 1) & (pc->cap - 1)) {
		const struct pentry *x = &pc->e[i];
		if (x->h == h && x->cat == c && x->len == len &&
		    memcmp(x->value, value, len) == 0 && x->keylen == d->keylen &&
		    (x->key == d->key || memcmp(x->key, d->key, d->keylen) == 0))
			return x->ps;
	}
	if (!(pc->e[i].value = malloc(len + 1)))
		return NULL;
	memcpy(pc->e[i].value, value, len);
	pc->e[i].value[len] = '\0';
	if (!(ps = pcache_make(pc, d, c, pc->e[i].value))) {
		free(pc->e[i].value);
		return NULL;
	}
	pc->e[i].ps = ps;
	pc->e[i].h = h;
	pc->e[i].key = d->key;
	pc->e[i].keylen = d->keylen;
	pc->e[i].len = len;
	pc->e[i].cat = c;
	pc->n++;
	return ps;
}

/* Apply the personal-data actions of o to target (a mutable copy). prefix names target in change
 * paths. */
/* Apply the personal-data actions of o. With cow, *target is replaced by copy-on-write results (it
 * is shared with the input); without, it is a private copy changed in place. */
static int apply_pii(const struct sl_policy_dest *d, const struct sl_policy_facts *f,
                     const struct outcome *o, json_t **target, int cow, const char *prefix,
                     json_t *changes, struct pcache *pc)
{
	const struct pii **order;
	char **values, *vbuf;
	size_t k, n = 0, total = 0;
	int r = 0;

	if (f->npii == 0)
		return 0;
	for (k = 0; k < f->npii; k++)
		total += f->pii[k].len + 1;
	/* the values point into the object's strings, which an in-place replace frees: copy them
	 * first (one block) */
	order = malloc(f->npii * (sizeof(*order) + sizeof(*values)) + total);
	if (!order)
		return SL_ENOMEM;
	values = (char **)(order + f->npii);
	vbuf = (char *)(values + f->npii);
	for (k = 0; k < f->npii; k++) {
		values[k] = vbuf;
		memcpy(vbuf, f->pii[k].value, f->pii[k].len);
		vbuf[f->pii[k].len] = '\0';
		vbuf += f->pii[k].len + 1;
	}
	for (k = 0; k < f->npii; k++)
		if (o->act[k] == SL_GDPR_REDACT || o->act[k] == SL_GDPR_PSEUDONYMISE)
			order[n++] = &f->pii[k];
	/* longer values first, so a name inside an email address does not break the email's
	 * pseudonym */
	qsort(order, n, sizeof(*order), by_length_desc);
	for (k = 0; k < n && r == 0; k++) {
		const struct pii *p = order[k];
		const char *value = values[p - f->pii];
		enum sl_gdpr_action a = (enum sl_gdpr_action)o->act[p - f->pii];
		char path[256], *ps = NULL;
		const char *with = sl_gdpr_redaction(p->cat);
		if (a == SL_GDPR_PSEUDONYMISE && pc) {
			if (!d->key || !(with = pcache_get(pc, d, p->cat, p->value, p->len))) {
				r = SL_ENOMEM;
				break;
			}
		} else if (a == SL_GDPR_PSEUDONYMISE) {
			/* the pseudonym cache is the only part of the facts that changes */
			struct sl_policy_facts *mf = (struct sl_policy_facts *)f;
			struct pii *mp = (struct pii *)p;
			ps = NULL;
			if (d->key && (mf->pkeylen != d->keylen ||
			               memcmp(mf->pkey, d->key, d->keylen) != 0)) {
				size_t j;
				for (j = 0; j < mf->npii; j++) {
					free(mf->pii[j].pseudonym);
					mf->pii[j].pseudonym = NULL;
				}
				free(mf->pkey);
				mf->pkeylen = 0;
				if ((mf->pkey = malloc(d->keylen)) != NULL) {
					memcpy(mf->pkey, d->key, d->keylen);
					mf->pkeylen = d->keylen;
				}
			}
			if (d->key && mp->pseudonym)
				ps = mp->pseudonym;
			else if (d->key &&
			         (ps = sl_gdpr_pseudonym(d->key, d->keylen, p->cat, value)) != NULL)
				mp->pseudonym = ps;
			if (!ps) {
				r = SL_ENOMEM;
				break;
			}
			with = ps;
		}
		if (cow) {
			json_t *nt = sl_gdpr_replaced(*target, value, with, NULL);
			if (!nt) {
				r = SL_ENOMEM;
				break;
			}
			json_decref(*target);
			*target = nt;
		} else {
			r = sl_gdpr_replace(*target, value, with);
			if (r < 0)
				break;
		}
		if (!changes)
			continue; /* a fan building another object of a class whose changes it has
			           */
		snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "",
		         prefix && p->field ? "." : "", p->field ? p->field : "");
		r = add_change(changes, path, sl_gdpr_action_name(a), sl_gdpr_cat_name(p->cat));
	}
	free(order);
	return r;
}

/* The substitutions act makes in f's values (redactions, pseudonyms from the fan's cache), longest
 * value first so a name inside an email address does not break the email's pseudonym: sub[k]
 * replaces order[k]'s value. */
struct subs {
	const struct pii *sorder[INLINE_PII], **order;
	struct sl_gdpr_sub ssub[INLINE_PII], *sub;
	char sbuf[512], *vbuf;
	size_t n;
};

static void subs_free(struct subs *S)
{
	if (S->order != S->sorder)
		free(S->order);
	if (S->sub != S->ssub)
		free(S->sub);
	if (S->vbuf != S->sbuf)
		free(S->vbuf);
}

/* 0, or SL_ENOMEM (S is then to be freed too). */
static int subs_make(struct subs *S, const struct sl_policy_dest *d,
                     const struct sl_policy_facts *f, const unsigned char *act, struct pcache *pc)
{
	size_t k, total = 0;
	char *vb;

	S->order = S->sorder;
	S->sub = S->ssub;
	S->vbuf = S->sbuf;
	S->n = 0;
	for (k = 0; k < f->npii; k++)
		total += f->pii[k].len + 1;
	if (f->npii > INLINE_PII) {
		S->order = malloc(f->npii * sizeof(*S->order));
		S->sub = malloc(f->npii * sizeof(*S->sub));
	}
	if (total > sizeof(S->sbuf))
		S->vbuf = malloc(total);
	if (!S->order || !S->sub || !S->vbuf)
		return SL_ENOMEM;
	for (k = 0; k < f->npii; k++)
		if (act[k] == SL_GDPR_REDACT || act[k] == SL_GDPR_PSEUDONYMISE)
			S->order[S->n++] = &f->pii[k];
	if (S->n > 1)
		qsort(S->order, S->n, sizeof(*S->order), by_length_desc);
	for (k = 0, vb = S->vbuf; k < S->n; k++) {
		const struct pii *p = S->order[k];
		memcpy(vb, p->value, p->len);
		vb[p->len] = '\0';
		S->sub[k].value = vb;
		S->sub[k].vlen = strlen(vb);
		vb += p->len + 1;
		if (act[p - f->pii] == SL_GDPR_PSEUDONYMISE) {
			if (!d->key ||
			    !(S->sub[k].with = pcache_get(pc, d, p->cat, p->value, p->len)))
				return SL_ENOMEM;
		} else {
			S->sub[k].with = sl_gdpr_redaction(p->cat);
		}
	}
	return 0;
}

/* The changes S makes, in its order. */
static int subs_changes(const struct subs *S, const struct sl_policy_facts *f,
                        const unsigned char *act, json_t *changes)
{
	size_t k;
	int r = 0;

	for (k = 0; k < S->n && r == 0; k++) {
		const struct pii *p = S->order[k];
		char path[256];
		snprintf(path, sizeof(path), "%s", p->field ? p->field : "");
		r = add_change(changes, path,
		               sl_gdpr_action_name((enum sl_gdpr_action)act[p - f->pii]),
		               sl_gdpr_cat_name(p->cat));
	}
	return r;
}

/* apply_pii for a fan's changed objects: every redacted or pseudonymised value of f replaced in
 * one copy-on-write pass over the object (pseudonyms from the fan's cache) instead of one pass
 * and one copy per value; the same object and the same changes (when changes is not NULL). */
static int fan_apply_pii(const struct sl_policy_dest *d, const struct sl_policy_facts *f,
                         const unsigned char *act, json_t **target, json_t *changes,
                         struct pcache *pc)
{
	struct subs S;
	size_t k;
	json_t *nt;
	int r = SL_ENOMEM;

	if (f->npii == 0)
		return 0;
	if (subs_make(&S, d, f, act, pc) != 0)
		goto done;
	{
		/* the same values as an earlier changed object of f: the same members change */
		struct sl_policy_facts *mf = (struct sl_policy_facts *)f;
		uint64_t vals = 0;
		for (k = 0; k < S.n && f->npii <= 64; k++)
			vals |= (uint64_t)1 << (S.order[k] - f->pii);
		if (f->npii > 64 || *target != f->obj) {
			nt = sl_gdpr_replaced_n(*target, S.sub, S.n, NULL);
		} else {
			if (mf->touched.known && mf->touched_vals != vals)
				mf->touched.known = 0;
			mf->touched_vals = vals;
			nt = sl_gdpr_replaced_n(*target, S.sub, S.n, &mf->touched);
		}
		if (!nt)
			goto done;
	}
	json_decref(*target);
	*target = nt;
	r = changes ? subs_changes(&S, f, act, changes) : 0;
done:
	subs_free(&S);
	return r;
}

static int set_level(json_t *o, const char *key, int level)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_object_set_new(o, key, json_sprintf("%d", level));
	return json_object_set_new(o, key, json_integer(level));
}

static struct sl_policy_decision *decision_new(const struct sl_policy_dest *d, const char *id,
                                               const char *modified, enum sl_policy_verdict v,
                                               const char *rule)
{
	const char *parts[4] = {rule ? rule : "", id ? id : "", modified ? modified : "", d->name};
	size_t len[4], total = 0, i;
	struct sl_policy_decision *dec;
	char *p;

	for (i = 0; i < 4; i++)
		total += (len[i] = strlen(parts[i])) + 1;
	dec = malloc(sizeof(*dec) + total);
	if (!dec)
		return NULL;
	memset(dec, 0, sizeof(*dec));
	dec->v = v;
	dec->own_obj = dec->own_changes = 1;
	p = dec->inline_;
	for (i = 0; i < 4; i++) {
		memcpy(p, parts[i], len[i] + 1);
		if (i == 0)
			dec->rule = p;
		else if (i == 1)
			dec->id = p;
		else if (i == 2)
			dec->modified = p;
		else
			dec->dest = p;
		p += len[i] + 1;
	}
	return dec;
}

/* The rule chain, written now if it was left for later. */
static const char *rule_of(const struct sl_policy_decision *cdec)
{
	struct sl_policy_decision *dec = (struct sl_policy_decision *)cdec;
	struct outcome o = {SL_POLICY_ALLOW, 0, NULL};
	struct rb r;

	if (dec->rule)
		return dec->rule;
	if (dec->cls)
		return dec->rule = cls_rule(dec->cls, dec->di);
	if (!dec->lazy_f)
		return "";
	r.len = 0;
	r.buf[0] = '\0';
	(void)evaluate(dec->lazy_d, dec->lazy_f, dec->now, &r, &o);
	/* on allocation failure the chain stays empty rather than failing a getter */
	dec->rule = dec->rule_own = strdup(r.buf);
	return dec->rule ? dec->rule : "";
}

/* Replace the rule chain with a malloc'd string (taken). */
static void set_rule(struct sl_policy_decision *dec, char *rule)
{
	free(dec->rule_own);
	dec->rule = dec->rule_own = rule;
}

static json_t *changes_of(struct sl_policy_decision *dec)
{
	if (!dec->changes) {
		dec->changes = json_array();
		dec->own_changes = 1;
	}
	return dec->changes;
}

/* The changes, private to dec (they may be shared with other destinations' decisions). */
static json_t *changes_mut(struct sl_policy_decision *dec)
{
	if (dec->changes && (!dec->own_changes || dec->changes->refcount > 1)) {
		json_t *c = json_copy(dec->changes);
		if (!c)
			return NULL;
		if (dec->own_changes)
			json_decref(dec->changes);
		dec->changes = c;
		dec->own_changes = 1;
	}
	return changes_of(dec);
}

/* Replace the object to send by o (taken). */
static void set_obj(struct sl_policy_decision *dec, json_t *o)
{
	if (dec->own_obj)
		json_decref(dec->obj);
	dec->obj = o;
	dec->own_obj = 1;
}

static const char *modified_str(struct sl_policy_facts *f)
{
	if (f->modified_s)
		return f->modified_s;
	if (f->modified) {
		snprintf(f->modified_buf, sizeof(f->modified_buf), "%lld", f->modified);
		return f->modified_buf;
	}
	return NULL;
}

/* The changed object and changes of an allow-with-changes verdict, into dec. */
static int build_changed(const struct sl_policy_dest *d, const struct sl_policy_facts *f,
                         const struct outcome *o, struct sl_policy_decision *dec)
{
	int rc;

	/* copy on write: unchanged parts stay shared with the input */
	dec->obj = json_incref(f->obj);
	rc = apply_pii(d, f, o, &dec->obj, 1, NULL, changes_of(dec), NULL);
	if (rc == 0 && o->downgrade &&
	    parse_level(json_object_get(dec->obj, "x_misp_distribution")) == 2) {
		if (dec->obj == f->obj) {
			json_t *c = json_copy(f->obj);
			json_decref(dec->obj);
			dec->obj = c;
			if (!c)
				return SL_ENOMEM;
		}
		rc = set_level(dec->obj, "x_misp_distribution", 1);
		if (rc == 0)
			rc = add_change(changes_of(dec), "x_misp_distribution", "downgrade 2 -> 1",
			                NULL);
	}
	return rc != 0 || !dec->changes ? SL_ENOMEM : 0;
}

/* An allow-with-changes decision from the fast verdict: the actions are the destination's per
 * category, and the result is shared with destinations that act alike. */
static int fast_changed(const struct sl_policy_dest *d, const struct sl_policy_facts *cf,
                        struct sl_policy_decision *dec)
{
	struct sl_policy_facts *f = (struct sl_policy_facts *)cf;
	unsigned char act[INLINE_PII];
	struct outcome o = {SL_POLICY_ALLOW_CHANGED, 0, act};
	struct result *res;
	int i, pseudo = 0, rc;
	size_t k;

	if (f->npii > INLINE_PII)
		return -1; /* the caller takes the slow path */
	for (k = 0; k < f->npii; k++) {
		act[k] = (unsigned char)d->gdpr[f->pii[k].cat];
		pseudo |= act[k] == SL_GDPR_PSEUDONYMISE;
	}
	for (i = 0; i < f->ndist; i++)
		if (f->dist[i].level == 2 && d->kind == SL_DEST_MISP)
			o.downgrade = 1;
	for (i = 0; i < f->nresults; i++) {
		res = &f->results[i];
		if (res->downgrade == o.downgrade && memcmp(res->act, act, f->npii) == 0 &&
		    (!pseudo || (d->key && res->key && res->keylen == d->keylen &&
		                 memcmp(res->key, d->key, d->keylen) == 0))) {
			dec->obj = json_incref(res->obj);
			dec->changes = json_incref(res->changes);
			return 0;
		}
	}
	if ((rc = build_changed(d, f, &o, dec)) != 0)
		return rc;
	if (!f->results)
		f->results = malloc(RESULTS * sizeof(*f->results));
	if (f->results && f->nresults < RESULTS) {
		res = &f->results[f->nresults++];
		memcpy(res->act, act, f->npii);
		res->downgrade = o.downgrade;
		res->key = pseudo ? d->key : NULL;
		res->keylen = pseudo ? d->keylen : 0;
		res->obj = json_incref(dec->obj);
		res->changes = json_incref(dec->changes);
	}
	return 0;
}

struct sl_policy_decision *sl_policy_decide_facts(const struct sl_policy_dest *d,
                                                  const struct sl_policy_facts *f, long long now,
                                                  struct sl_err *err)
{
	unsigned char stack_act[16], *act;
	struct outcome o = {SL_POLICY_ALLOW, 0, NULL};
	struct sl_policy_decision *dec = NULL;
	struct rb r;
	int rc = 0;

	if (d->in && d->owner) {
		/* the fast path: verdict from bit tests, rule chain written when read */
		enum sl_policy_verdict v = fast_verdict(d, f, now);
		const char *mod = modified_str((struct sl_policy_facts *)f);
		/* id, modified and destination point into the facts and the policy it holds */
		dec = malloc(sizeof(*dec));
		if (!dec)
			goto oom;
		memset(dec, 0, sizeof(*dec));
		dec->v = v;
		dec->own_obj = dec->own_changes = 1;
		dec->id = f->id ? f->id : "";
		dec->modified = mod ? mod : "";
		dec->dest = d->name;
		dec->lazy_f = (struct sl_policy_facts *)f;
		__atomic_add_fetch(&dec->lazy_f->refs, 1, __ATOMIC_RELAXED);
		dec->lazy_d = d;
		sl_policy_hold(d);
		dec->now = now;
		if (v == SL_POLICY_ALLOW)
			dec->obj = json_incref(f->obj);
		else if (v == SL_POLICY_ALLOW_CHANGED && (rc = fast_changed(d, f, dec)) != 0) {
			if (rc != -1)
				goto oom;
			sl_policy_decision_free(dec);
			dec = NULL;
		}
		if (dec)
			return dec;
	}
	act = f->npii <= 16 ? stack_act : calloc(f->npii, 1);
	o.act = act;
	if (!act)
		goto oom;
	memset(act, 0, f->npii <= 16 ? sizeof(stack_act) : f->npii);
	r.len = 0;
	r.buf[0] = '\0';
	o.v = evaluate(d, f, now, &r, &o);
	dec = decision_new(d, f->id, modified_str((struct sl_policy_facts *)f), o.v, r.buf);
	if (!dec)
		goto oom;
	if (o.v == SL_POLICY_ALLOW)
		dec->obj = json_incref(f->obj);
	else if (o.v == SL_POLICY_ALLOW_CHANGED && build_changed(d, f, &o, dec) != 0)
		goto oom;
	if (act != stack_act)
		free(act);
	return dec;
oom:
	if (o.act && o.act != stack_act)
		free(o.act);
	sl_policy_decision_free(dec);
	sl_err_set(err, SL_ENOMEM, f->id ? f->id : "object", "out of memory");
	return NULL;
}

enum sl_policy_verdict sl_policy_verdict_facts(const struct sl_policy_dest *d,
                                               const struct sl_policy_facts *f, long long now)
{
	struct outcome o = {SL_POLICY_ALLOW, 0, NULL};

	if (d->in)
		return fast_verdict(d, f, now);
	return evaluate(d, f, now, NULL, &o);
}

void sl_policy_verdicts_facts(const struct sl_policy *p, const struct sl_policy_facts *f,
                              long long now, enum sl_policy_verdict *out)
{
	size_t i;

	for (i = 0; i < p->ndests; i++)
		out[i] = sl_policy_verdict_facts(&p->dests[i], f, now);
}

struct sl_policy_decision *sl_policy_decide_stix(const struct sl_policy_dest *d, const json_t *obj,
                                                 const struct sl_policy_ctx *ctx, long long now,
                                                 struct sl_err *err)
{
	struct sl_policy_facts *f = sl_policy_facts_stix(obj, ctx, err);
	struct sl_policy_decision *dec;

	if (!f)
		return NULL;
	dec = sl_policy_decide_facts(d, f, now, err);
	sl_policy_facts_free(f);
	return dec;
}

/* ---- decisions ---- */

enum sl_policy_verdict sl_policy_decision_verdict(const struct sl_policy_decision *dec)
{
	return dec->v;
}

const char *sl_policy_verdict_name(enum sl_policy_verdict v)
{
	return v == SL_POLICY_ALLOW           ? "allow"
	       : v == SL_POLICY_ALLOW_CHANGED ? "allow-with-changes"
	                                      : "deny";
}

const char *sl_policy_decision_rule(const struct sl_policy_decision *dec)
{
	return dec->rule ? dec->rule : rule_of(dec);
}

const json_t *sl_policy_decision_changes(const struct sl_policy_decision *dec)
{
	return changes_of((struct sl_policy_decision *)dec);
}

const char *sl_policy_decision_object_id(const struct sl_policy_decision *dec)
{
	return dec->id;
}

const json_t *sl_policy_decision_object(const struct sl_policy_decision *dec)
{
	return dec->obj;
}

const json_t *sl_policy_decision_items(const struct sl_policy_decision *dec)
{
	return dec->items;
}

json_t *sl_policy_decision_take_object(struct sl_policy_decision *dec)
{
	json_t *o = dec->obj;

	if (!dec->own_obj)
		json_incref(o);
	dec->obj = NULL;
	dec->own_obj = 1;
	return o;
}

/* Keys are set without json_pack: parsing the format and re-checking the keys cost more than the
 * rest of a decision. Strings still go through json_string, which refuses invalid UTF-8 (a rule
 * chain is cut at RULE_MAX bytes, possibly inside a character). */
static int is_ascii(const char *v, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, v + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)v[i];
	return (acc & 0x8080808080808080ull) == 0;
}

static int set_str(json_t *o, const char *k, const char *v)
{
	size_t n = strlen(v);
	json_t *s;

	/* plain ASCII (nearly every chain and id) is valid UTF-8 without the character-by-character
	 * check */
	if (is_ascii(v, n))
		return json_object_set_new_nocheck(o, k, json_stringn_nocheck(v, n));
	s = json_string(v);

	if (!s) {
		/* a chain cut inside a character: keep what is valid */
		char *c = strdup(v);
		if (!c)
			n = 0;
		while (!s && n > 0) {
			c[--n] = '\0';
			s = json_string(c);
		}
		free(c);
		if (!s)
			return -1;
	}
	return json_object_set_new_nocheck(o, k, s);
}

json_t *sl_policy_decision_to_json(const struct sl_policy_decision *dec)
{
	json_t *o = json_object(), *ch = changes_of((struct sl_policy_decision *)dec);

	if (!o || !ch || set_str(o, "object_id", dec->id) != 0 ||
	    (dec->modified[0] && set_str(o, "modified", dec->modified) != 0) ||
	    set_str(o, "destination", dec->dest) != 0 ||
	    json_object_set_new_nocheck(o, "decision",
	                                json_string_nocheck(sl_policy_verdict_name(dec->v))) != 0 ||
	    set_str(o, "rule", rule_of(dec)) != 0 ||
	    json_object_set_nocheck(o, "changes", ch) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* What a decision holds, released; a decision of a fan lives in the fan's memory. */
static void decision_release(struct sl_policy_decision *dec)
{
	if (dec->lazy_f) {
		sl_policy_facts_free(dec->lazy_f);
		sl_policy_free(dec->lazy_d->owner);
	}
	if (dec->rule_own)
		free(dec->rule_own);
	if (dec->own_changes)
		json_decref(dec->changes);
	if (dec->items)
		json_decref(dec->items);
	if (dec->own_obj)
		json_decref(dec->obj);
}

void sl_policy_decision_free(struct sl_policy_decision *dec)
{
	if (!dec)
		return;
	decision_release(dec);
	if (dec->fan)
		fan_release(dec->fan, 1);
	else
		free(dec);
}

void sl_policy_decisions_free(struct sl_policy_decision **v, size_t n)
{
	struct fan *fan = NULL;
	size_t i, held = 0;

	/* a fan's decisions give their references back in one step */
	for (i = 0; v && i < n; i++) {
		if (!v[i])
			continue;
		if (!v[i]->fan) {
			sl_policy_decision_free(v[i]);
			continue;
		}
		/* most of a fan's decisions borrow everything: nothing to release */
		if (v[i]->own_obj || v[i]->own_changes || v[i]->rule_own || v[i]->items)
			decision_release(v[i]);
		if (v[i]->fan != fan) {
			if (fan)
				fan_release(fan, held);
			fan = v[i]->fan;
			held = 0;
		}
		held++;
	}
	if (fan)
		fan_release(fan, held);
	free(v);
}

/* Replace a decision by a deny naming why (used when a relationship's end or all of a container's
 * refs were withheld). */
static int redeny(struct sl_policy_decision *dec, const char *why, const char *id)
{
	const char *rule = rule_of(dec);
	char *nr;
	size_t n = strlen(rule) + strlen(why) + strlen(id) + 32;

	if (!(nr = malloc(n)))
		return SL_ENOMEM;
	/* the allow verdict at the end of the chain gives way to the reason */
	snprintf(nr, n, "%s; but %s %s -> deny", rule, why, id);
	set_rule(dec, nr);
	dec->v = SL_POLICY_DENY;
	set_obj(dec, NULL);
	/* the changes may be shared with other decisions: drop this one's reference */
	if (dec->own_changes)
		json_decref(dec->changes);
	dec->changes = NULL;
	dec->own_changes = 1;
	return 0;
}

/* Compares of constant length (with the NUL), which the compiler does inline: these run per
 * object of every bundle. */
#define TYPE_IS(t, lit) (memcmp((t), lit, sizeof(lit)) == 0)

static int is_container(const char *type)
{
	if (!type)
		return 0;
	switch (type[0]) {
	case 'r':
		return strlen(type) == 6 && TYPE_IS(type, "report");
	case 'g':
		return strlen(type) == 8 && TYPE_IS(type, "grouping");
	case 'n':
		return strlen(type) == 4 && TYPE_IS(type, "note");
	case 'o':
		return strlen(type) == 7 && TYPE_IS(type, "opinion");
	default:
		return 0;
	}
}

static void facts_free_all(struct sl_policy_facts **facts, size_t n)
{
	size_t i;

	for (i = 0; facts && i < n; i++)
		sl_policy_facts_free(facts[i]);
	free(facts);
}

/* The facts of every object of a bundle, with its containers (reports/groupings in the bundle that
 * list it) and the bundle's marking-definitions: read once for all destinations. NULL entries for
 * entries that are not objects. */
static int bundle_facts(const json_t *objs, struct sl_policy_facts ***out, struct sl_err *err)
{
	json_t *markings = json_object(), *parents = json_object();
	struct sl_policy_facts **facts = NULL;
	size_t n = json_array_size(objs), i, j;
	const json_t *o, *e;
	int r = SL_ENOMEM;

	*out = NULL;
	if (!markings || !parents || !(facts = calloc(n ? n : 1, sizeof(*facts))))
		goto oom;
	json_array_foreach(objs, i, o)
	{
		const char *type = json_string_value(json_object_get(o, "type")),
		           *id = json_string_value(json_object_get(o, "id"));
		if (type && id && strcmp(type, "marking-definition") == 0)
			json_object_set(markings, id, (json_t *)o);
		if (is_container(type)) {
			json_array_foreach(json_object_get(o, "object_refs"), j, e)
			{
				json_t *list;
				if (!json_is_string(e))
					continue;
				list = json_object_get(parents, json_string_value(e));
				if (!list) {
					list = json_array();
					if (!list || json_object_set_new(
					                 parents, json_string_value(e), list) != 0)
						goto oom;
				}
				json_array_append(list, (json_t *)o);
			}
		}
	}
	json_array_foreach(objs, i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		struct sl_policy_ctx ctx = {id ? json_object_get(parents, id) : NULL, markings,
		                            NULL, NULL};
		if (!json_is_object(o))
			continue;
		if (!(facts[i] = sl_policy_facts_stix(o, &ctx, err))) {
			r = err ? err->code : SL_EINVAL;
			if (err)
				sl_err_prefix_where(err, "bundle");
			goto done;
		}
	}
	*out = facts;
	facts = NULL;
	r = 0;
	goto done;
oom:
	r = sl_err_set(err, SL_ENOMEM, "bundle", "out of memory");
done:
	facts_free_all(facts, n);
	json_decref(markings);
	json_decref(parents);
	return r;
}

/* One destination's decisions on a bundle whose facts were read by bundle_facts. */
/* The bundle's objects by id, and which of them one destination withholds (a JSON object keyed by
 * id cost more than deciding). Objects sharing an id each have an entry: an id is withheld when any
 * of them is. */
struct idmap {
	size_t cap;
	size_t *slot;            /* object index + 1; 0 = empty */
	unsigned char *withheld; /* per object index */
	void *block;
};

static size_t id_hash(const char *s)
{
	/* ids are long (a type and a uuid): eight bytes at a time */
	size_t n = strlen(s), i = 0;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, s + i, n - i);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	}
	/* the tail's bytes reach only the high bits: mix them down to the low ones a table uses */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return (size_t)(h ^ (h >> 33));
}

static int idmap_build(struct idmap *m, struct sl_policy_facts *const *facts, size_t n)
{
	size_t i, h;

	for (m->cap = 8; m->cap < 2 * n; m->cap *= 2)
		;
	m->block = calloc(1, m->cap * sizeof(*m->slot) + (n ? n : 1));
	if (!m->block)
		return SL_ENOMEM;
	m->slot = m->block;
	m->withheld = (unsigned char *)(m->slot + m->cap);
	for (i = 0; i < n; i++) {
		if (!facts[i] || !facts[i]->id)
			continue;
		for (h = id_hash(facts[i]->id) & (m->cap - 1); m->slot[h];
		     h = (h + 1) & (m->cap - 1))
			;
		m->slot[h] = i + 1;
	}
	return 0;
}

/* Only ids of objects that are in the bundle can be withheld. */
static int idmap_withheld(const struct idmap *m, struct sl_policy_facts *const *facts,
                          const char *id)
{
	size_t h;

	for (h = id_hash(id) & (m->cap - 1); m->slot[h]; h = (h + 1) & (m->cap - 1)) {
		size_t k = m->slot[h] - 1;
		if (m->withheld[k] && strcmp(facts[k]->id, id) == 0)
			return 1;
	}
	return 0;
}

static void idmap_free(struct idmap *m)
{
	free(m->block);
}

static int bundle_decide(const struct sl_policy_dest *d, const json_t *bundle,
                         struct sl_policy_facts *const *facts, long long now, json_t **out_bundle,
                         struct sl_policy_decision ***decisions, size_t *ndecisions,
                         struct sl_err *err)
{
	const json_t *objs = json_object_get(bundle, "objects"), *o, *e;
	json_t *out = NULL, *outobjs;
	struct idmap ids = {0, NULL, NULL, NULL};
	struct sl_policy_decision **decs = NULL;
	size_t n = json_array_size(objs), i, j;
	int r = SL_ENOMEM;

	*out_bundle = NULL;
	*decisions = NULL;
	*ndecisions = 0;
	if (!(decs = calloc(n ? n : 1, sizeof(*decs))) || idmap_build(&ids, facts, n) != 0)
		goto oom;
	json_array_foreach(objs, i, o)
	{
		/* the facts hold id and type: no lookups per object and destination */
		const char *id = facts[i] ? facts[i]->id : NULL;
		if (!facts[i]) {
			/* one malformed entry is withheld; the rest of the bundle is still decided
			 */
			char rule[300];
			snprintf(rule, sizeof(rule),
			         "%s -> deny (objects[%zu] is not a JSON object)", d->rule_prefix,
			         i);
			decs[i] = decision_new(d, NULL, NULL, SL_POLICY_DENY, rule);
			if (!decs[i])
				goto oom;
			continue;
		}
		decs[i] = sl_policy_decide_facts(d, facts[i], now, err);
		if (!decs[i]) {
			r = err ? err->code : SL_EINVAL;
			if (err)
				sl_err_prefix_where(err, "bundle");
			goto done;
		}
		if (decs[i]->v == SL_POLICY_DENY && id)
			ids.withheld[i] = 1;
	}
	/* relationships and sightings whose ends were withheld would leak their existence */
	json_array_foreach(objs, i, o)
	{
		static const char *const refkeys[] = {"source_ref", "target_ref",
		                                      "sighting_of_ref"};
		const char *type = facts[i] ? facts[i]->type : NULL;
		if (decs[i]->v == SL_POLICY_DENY || !type ||
		    (strcmp(type, "relationship") != 0 && strcmp(type, "sighting") != 0))
			continue;
		for (j = 0; j < 3; j++) {
			const char *ref = json_string_value(json_object_get(o, refkeys[j]));
			if (ref && idmap_withheld(&ids, facts, ref)) {
				if (redeny(decs[i], "it refers to withheld", ref) != 0)
					goto oom;
				ids.withheld[i] = 1;
				break;
			}
		}
	}
	/* containers lose the refs to withheld objects */
	json_array_foreach(objs, i, o)
	{
		const json_t *refs;
		json_t *copy, *kept;
		size_t removed = 0;
		if (decs[i]->v == SL_POLICY_DENY || !is_container(facts[i] ? facts[i]->type : NULL))
			continue;
		refs = json_object_get(decs[i]->obj, "object_refs");
		json_array_foreach(refs, j, e) removed +=
		    json_is_string(e) && idmap_withheld(&ids, facts, json_string_value(e));
		if (!removed)
			continue;
		if (removed == json_array_size(refs)) {
			if (redeny(decs[i],
			           "every object it refers to is withheld:", "object_refs") != 0)
				goto oom;
			continue;
		}
		/* neither the input object (allowed as is) nor a changed object other destinations
		 * share is modified: copy its top level */
		copy = decs[i]->obj == o || !decs[i]->own_obj || decs[i]->obj->refcount > 1
		           ? json_copy(decs[i]->obj)
		           : json_incref(decs[i]->obj);
		kept = json_array();
		if (!copy || !kept) {
			json_decref(copy);
			json_decref(kept);
			goto oom;
		}
		json_array_foreach(refs, j, e)
		{
			if (json_is_string(e) &&
			    idmap_withheld(&ids, facts, json_string_value(e))) {
				char path[300];
				snprintf(path, sizeof(path), "object_refs[%s]",
				         json_string_value(e));
				if (!changes_mut(decs[i]))
					goto oom;
				add_change(decs[i]->changes, path, "removed (withheld)", NULL);
			} else {
				json_array_append(kept, (json_t *)e);
			}
		}
		json_object_set_new(copy, "object_refs", kept);
		set_obj(decs[i], copy);
		if (decs[i]->v == SL_POLICY_ALLOW) {
			const char *rule = rule_of(decs[i]);
			char *nr = malloc(strlen(rule) + 64);
			if (!nr)
				goto oom;
			sprintf(nr, "%s; %zu withheld refs removed", rule, removed);
			set_rule(decs[i], nr);
		}
		decs[i]->v = SL_POLICY_ALLOW_CHANGED;
	}
	out = json_copy((json_t *)bundle);
	outobjs = json_array();
	if (!out || !outobjs)
		goto oom;
	for (i = 0; i < n; i++)
		if (decs[i]->obj)
			json_array_append(outobjs, decs[i]->obj);
	json_object_set_new(out, "objects", outobjs);
	*out_bundle = out;
	out = NULL;
	*decisions = decs;
	*ndecisions = n;
	decs = NULL;
	r = 0;
	goto done;
oom:
	r = sl_err_set(err, SL_ENOMEM, "bundle", "out of memory");
done:
	if (decs)
		sl_policy_decisions_free(decs, n);
	json_decref(out);
	idmap_free(&ids);
	return r;
}

int sl_policy_decide_bundle(const struct sl_policy_dest *d, const json_t *bundle, long long now,
                            json_t **out_bundle, struct sl_policy_decision ***decisions,
                            size_t *ndecisions, struct sl_err *err)
{
	const json_t *objs = json_object_get(bundle, "objects");
	struct sl_policy_facts **facts;
	int r;

	*out_bundle = NULL;
	*decisions = NULL;
	*ndecisions = 0;
	if (!json_is_array(objs))
		return sl_err_set(err, SL_EINVAL, "bundle", "a bundle needs an objects array");
	if ((r = bundle_facts(objs, &facts, err)) != 0)
		return r;
	r = bundle_decide(d, bundle, facts, now, out_bundle, decisions, ndecisions, err);
	facts_free_all(facts, json_array_size(objs));
	return r;
}

/* ---- every destination at once ---- */

/* Objects whose facts agree on everything a verdict and its rule chain read (TLP and where it
 * comes from, distribution, type, creator, tags, the categories, fields and length order of their
 * personal data) share a class: each destination's verdict and rule chain are worked out once per
 * class. Only the age is left out of it (retention is checked per object), and the personal values
 * themselves (the changed object is built per object). */
struct cls {
	size_t refs; /* the policy's class cache, and each fan that uses it */
	uint64_t hash;
	size_t keylen, nd;
	unsigned char *v;      /* per destination: the verdict, age aside */
	unsigned char *pre_ok; /* per destination: TLP and distribution let it go */
	unsigned *slot; /* per destination allowing with changes: which changed object it gets */
	unsigned *slot_dest; /* per slot: its first destination */
	json_t **changes; /* per slot: the changes, built with the first object that needs them */
	char **rules;     /* per destination: the chain (NULL when out of memory) */
	size_t nslots;
	unsigned char key[];
};

#define NO_IDX SIZE_MAX

struct edge {
	size_t c, next;
};

struct rel {
	size_t i;
	const char *ref[3];
	size_t head[3];
};

struct cont {
	size_t i, off, nrefs;
};

/* One sl_policy_decide_bundle_all call: the facts of every object, their classes, the changed
 * objects and the decisions themselves, in a few blocks that live until the last decision is
 * freed. */
struct fan {
	size_t refs; /* decisions still out, and 1 while it is built */
	struct sl_policy *p;
	size_t n, nd;
	struct sl_policy_facts *facts; /* n; obj NULL for entries that are not objects */
	struct cls **cls_of;           /* n */
	struct cls **used;             /* the distinct classes of cls_of, one reference each */
	size_t nused;
	json_t **robj; /* n * rslots: the changed object per object and slot of its class */
	size_t rslots; /* the most slots a class of the bundle has */
	size_t nrobj;  /* how many were made */
	/* rows as text (SL_POLICY_ROWS_TEXT): the changed object's JSON text per object and slot
	 * instead of robj, written into chunks the fan owns */
	const char **rtext;
	struct sl_payload_buf tbuf;
	struct sl_payload_memo memo; /* of the last object written: its other texts copy from it */
	char *tchunk;
	size_t tused, tcap;
	json_t *empty; /* the changes of every decision that has none */
	struct sl_policy_facts **cinfo; /* n: what a container passes to the objects it lists */
	struct sl_policy_decision *blk; /* nd * n */
	/* objects by id, those sharing one chained in bundle order */
	size_t cap, *slot, *next, *tail;
	struct pcache pc;
	/* sl_policy_decide_bundle_rows: nd * n rows (destination-major), and what they point to
	 * that the fan made for them alone (chains, container copies, their changes) */
	struct sl_policy_row *rows;
	/* facts, cls_of, used, robj, cinfo and rows in one allocation (each large block freed is a
	 * consolidation of malloc's free lists, which cost more than the fan's own work) */
	void *block;
	size_t block_cap;
	void **own;
	unsigned char *own_json; /* per entry of own: a json_t, else a malloc'd string */
	size_t nown, capown;
};

static void cls_unref(struct cls *c)
{
	size_t k;

	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (k = 0; k < c->nd; k++)
		free(c->rules[k]);
	for (k = 0; k < c->nslots; k++)
		json_decref(c->changes[k]);
	free(c);
}

void sl_policy_classes_clear(struct sl_policy *p)
{
	size_t i;

	for (i = 0; i < p->classes_cap; i++)
		cls_unref(p->classes[i]);
	free(p->classes);
	p->classes = NULL;
	p->classes_cap = p->classes_n = 0;
}

void sl_policy_spare_free(struct sl_policy *p)
{
	free(p->spare_block);
	p->spare_block = NULL;
	p->spare_size = 0;
}

/* A block of at least size bytes: the policy's spare when it is large enough. */
static void *block_get(struct sl_policy *p, size_t size, size_t *cap)
{
	void *b = NULL;

	pthread_mutex_lock(&p->classes_mu);
	if (p->spare_block && p->spare_size >= size) {
		b = p->spare_block;
		*cap = p->spare_size;
		p->spare_block = NULL;
		p->spare_size = 0;
	}
	pthread_mutex_unlock(&p->classes_mu);
	if (!b && (b = malloc(size)) != NULL)
		*cap = size;
	return b;
}

/* The largest block kept as a spare: an ordinary bundle's (hundreds of KB) is kept; a
 * 10,000-attribute event's (20 MB) is not held for the rest of the run (bench.sync's peak RSS:
 * 181 MB with it kept, 159 MB without). */
#define SPARE_MAX (4u << 20)

/* Give a block back: it becomes the policy's spare (the larger of the two is kept). */
static void block_put(struct sl_policy *p, void *b, size_t cap)
{
	if (cap > SPARE_MAX) {
		free(b);
		return;
	}
	pthread_mutex_lock(&p->classes_mu);
	if (!p->spare_block || p->spare_size < cap) {
		void *old = p->spare_block;
		p->spare_block = b;
		p->spare_size = cap;
		b = old;
	}
	pthread_mutex_unlock(&p->classes_mu);
	free(b);
}

static void fan_free(struct fan *fan)
{
	size_t i, k;

	for (i = 0; i < fan->nused; i++)
		cls_unref(fan->used[i]);
	if (!fan->block)
		free(fan->used);
	for (i = 0, k = 0; fan->robj && k < fan->nrobj && i < fan->n * fan->rslots; i++)
		if (fan->robj[i]) {
			json_decref(fan->robj[i]);
			k++;
		}
	for (i = 0; fan->cinfo && i < fan->n; i++)
		sl_policy_facts_free(fan->cinfo[i]);
	for (i = 0; fan->facts && i < fan->n; i++)
		if (fan->facts[i].obj)
			facts_clear(&fan->facts[i]);
	free(fan->robj);
	free(fan->rtext);
	free(fan->tbuf.p);
	if (fan->block) {
		block_put(fan->p, fan->block, fan->block_cap);
	} else {
		free(fan->facts);
		free(fan->cls_of);
		free(fan->cinfo);
	}
	free(fan->blk);
	for (i = 0; i < fan->nown; i++) {
		if (fan->own_json[i])
			json_decref(fan->own[i]);
		else
			free(fan->own[i]);
	}
	free(fan->own);
	free(fan->own_json);
	free(fan->slot);
	pcache_free(&fan->pc);
	json_decref(fan->empty);
	sl_policy_free(fan->p);
	free(fan);
}

static void fan_release(struct fan *fan, size_t n)
{
	if (__atomic_sub_fetch(&fan->refs, n, __ATOMIC_ACQ_REL) == 0)
		fan_free(fan);
}

static size_t fan_find(const struct fan *fan, const char *id)
{
	size_t h;

	for (h = id_hash(id) & (fan->cap - 1); fan->slot[h]; h = (h + 1) & (fan->cap - 1))
		if (strcmp(fan->facts[fan->slot[h] - 1].id, id) == 0)
			return fan->slot[h] - 1;
	return NO_IDX;
}

static int fan_index(struct fan *fan)
{
	size_t i, h, n = fan->n;

	for (fan->cap = 16; fan->cap < 2 * n; fan->cap *= 2)
		;
	if (!(fan->slot = calloc(fan->cap + 2 * (n ? n : 1), sizeof(size_t))))
		return SL_ENOMEM;
	fan->next = fan->slot + fan->cap;
	fan->tail = fan->next + n;
	for (i = 0; i < n; i++) {
		const char *id = fan->facts[i].obj ? fan->facts[i].id : NULL;
		fan->next[i] = NO_IDX;
		if (!id)
			continue;
		for (h = id_hash(id) & (fan->cap - 1); fan->slot[h]; h = (h + 1) & (fan->cap - 1))
			if (strcmp(fan->facts[fan->slot[h] - 1].id, id) == 0)
				break;
		if (fan->slot[h]) {
			size_t head = fan->slot[h] - 1;
			fan->next[fan->tail[head]] = i;
			fan->tail[head] = i;
		} else {
			fan->slot[h] = i + 1;
			fan->tail[i] = i;
		}
	}
	return 0;
}

/* The bundle's marking-definition with this id (the last one, as a JSON object keyed by id would
 * keep). */
static const json_t *fan_marking(const struct fan *fan, const char *id)
{
	const json_t *md = NULL;
	size_t k;

	for (k = id ? fan_find(fan, id) : NO_IDX; k != NO_IDX; k = fan->next[k])
		if (strcmp(fan->facts[k].type, "marking-definition") == 0)
			md = fan->facts[k].obj;
	return md;
}

/* Is any object with this id (the chain from head) withheld? */
static int chain_withheld(const struct fan *fan, const unsigned char *wh, size_t head)
{
	size_t k;

	for (k = head; k != NO_IDX; k = fan->next[k])
		if (wh[k])
			return 1;
	return 0;
}

struct kb {
	unsigned char *b;
	size_t len, cap;
	int over;
};

static void kb_put(struct kb *k, const void *p, size_t n)
{
	if (n > k->cap - k->len) {
		k->over = 1;
		return;
	}
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

static void kb_str(struct kb *k, const char *s)
{
	size_t n = s ? strlen(s) : SIZE_MAX;

	kb_put(k, &n, sizeof(n));
	if (s)
		kb_put(k, s, n);
}

#define KEY_MAX 2048
#define KEY_PII_MAX 32

/* The class key of f: 0 when it does not fit (the object then has a class of its own). */
static size_t class_key(const struct sl_policy_facts *f, unsigned char *buf)
{
	struct kb k = {buf, 0, KEY_MAX, 0};
	unsigned char b[5] = {(unsigned char)f->meta, (unsigned char)(f->tlp + 1),
	                      (unsigned char)f->tlp_conflict, (unsigned char)f->tlp_malformed,
	                      (unsigned char)f->ndist};
	size_t i, j;

	kb_put(&k, b, sizeof(b));
	for (i = 0; i < (size_t)f->ndist; i++) {
		kb_put(&k, &f->dist[i].level, sizeof(f->dist[i].level));
		kb_put(&k, &f->dist[i].what, sizeof(f->dist[i].what));
		kb_put(&k, &f->dist[i].sg_obj, sizeof(f->dist[i].sg_obj));
		kb_str(&k, f->dist[i].sg);
	}
	kb_str(&k, f->type);
	kb_str(&k, f->org);
	kb_put(&k, &f->ntags, sizeof(f->ntags));
	for (i = 0; i < f->ntags; i++)
		kb_str(&k, f->tags[i]);
	kb_str(&k, f->tlp == SL_TLP_NONE ? NULL : f->tlp_src);
	kb_put(&k, &f->npii, sizeof(f->npii));
	if (f->npii > KEY_PII_MAX)
		return 0;
	for (i = 0; i < f->npii; i++) {
		unsigned char c = (unsigned char)f->pii[i].cat;
		kb_put(&k, &c, 1);
		kb_str(&k, f->pii[i].field);
	}
	/* the changes list the values longest first: which is longer than which decides its order
	 */
	for (i = 0; f->npii > 1 && i < f->npii; i++) {
		unsigned char longer = 0;
		for (j = 0; j < f->npii; j++)
			longer += f->pii[j].len > f->pii[i].len;
		kb_put(&k, &longer, 1);
	}
	return k.over ? 0 : k.len;
}

static uint64_t key_hash(const unsigned char *b, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, b + i, n - i);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

/* Do destinations a and b make the same changed object of f (same actions on its personal data,
 * same downgrade, same pseudonym key)? */
static int same_result(const struct sl_policy_dest *a, const struct sl_policy_dest *b,
                       const struct sl_policy_facts *f)
{
	int pseudo = 0, da = 0, db = 0, i;
	size_t k;

	for (k = 0; k < f->npii; k++) {
		if (a->gdpr[f->pii[k].cat] != b->gdpr[f->pii[k].cat])
			return 0;
		pseudo |= a->gdpr[f->pii[k].cat] == SL_GDPR_PSEUDONYMISE;
	}
	for (i = 0; i < f->ndist; i++)
		if (f->dist[i].level == 2) {
			da |= a->kind == SL_DEST_MISP;
			db |= b->kind == SL_DEST_MISP;
		}
	if (da != db)
		return 0;
	return !pseudo || (a->key && b->key && a->keylen == b->keylen &&
	                   memcmp(a->key, b->key, a->keylen) == 0);
}

/* A new class with f as its first object: every destination's verdict and rule chain. */
static struct cls *cls_new(const struct sl_policy *p, struct sl_policy_facts *f,
                           const unsigned char *key, size_t keylen, uint64_t h)
{
	size_t nd = p->ndests, d, s, off = (sizeof(struct cls) + keylen + 7) & ~(size_t)7;
	struct cls *c = calloc(1, off + nd * (2 * sizeof(void *) + 2 * sizeof(unsigned) + 2));

	if (!c)
		return NULL;
	c->refs = 1;
	c->hash = h;
	c->keylen = keylen;
	c->nd = nd;
	memcpy(c->key, key, keylen);
	c->rules = (char **)((char *)c + off);
	c->changes = (json_t **)(c->rules + nd);
	c->slot = (unsigned *)(c->changes + nd);
	c->slot_dest = c->slot + nd;
	c->v = (unsigned char *)(c->slot_dest + nd);
	c->pre_ok = c->v + nd;
	for (d = 0; d < nd; d++) {
		const struct sl_policy_dest *dd = &p->dests[d];
		struct outcome o = {SL_POLICY_ALLOW, 0, NULL};
		struct rb r;
		int changed = 0;
		c->v[d] = (unsigned char)(dd->in ? fast_verdict(dd, f, NO_CLOCK)
		                                 : evaluate(dd, f, NO_CLOCK, NULL, &o));
		c->pre_ok[d] = (unsigned char)tlp_dist_ok(dd, f, &changed);
		/* the chain now: the class outlives f, and the pipeline reads every chain */
		r.len = 0;
		r.buf[0] = '\0';
		(void)evaluate(dd, f, NO_CLOCK, &r, &o);
		/* on allocation failure the chain stays empty rather than failing a getter */
		c->rules[d] = strdup(r.buf);
		if (c->v[d] != SL_POLICY_ALLOW_CHANGED)
			continue;
		for (s = 0; s < c->nslots; s++)
			if (same_result(dd, &p->dests[c->slot_dest[s]], f))
				break;
		if (s == c->nslots)
			c->slot_dest[c->nslots++] = (unsigned)d;
		c->slot[d] = (unsigned)s;
	}
	return c;
}

static const char *cls_rule(struct cls *c, unsigned di)
{
	return c->rules[di] ? c->rules[di] : "";
}

#define CLASSES_MAX 1024 /* kept per policy; beyond, the cache starts again */

/* The class of key from the policy's cache, or a new one put there; a reference for the caller.
 * Callers in several threads may share a policy. */
static struct cls *cls_cached(const struct sl_policy *cp, struct sl_policy_facts *f,
                              const unsigned char *key, size_t keylen, uint64_t h)
{
	struct sl_policy *p = (struct sl_policy *)cp;
	struct cls *c = NULL;
	size_t i;

	pthread_mutex_lock(&p->classes_mu);
	for (i = h & (p->classes_cap - 1); p->classes_cap && p->classes[i];
	     i = (i + 1) & (p->classes_cap - 1))
		if (p->classes[i]->hash == h && p->classes[i]->keylen == keylen &&
		    memcmp(p->classes[i]->key, key, keylen) == 0) {
			c = p->classes[i];
			__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
			break;
		}
	if (!c && (c = cls_new(p, f, key, keylen, h)) != NULL) {
		if (p->classes_n + 1 > CLASSES_MAX)
			sl_policy_classes_clear(p);
		if (!p->classes && (p->classes = calloc(2 * CLASSES_MAX, sizeof(*p->classes))))
			p->classes_cap = 2 * CLASSES_MAX;
		if (p->classes) {
			for (i = h & (p->classes_cap - 1); p->classes[i];
			     i = (i + 1) & (p->classes_cap - 1))
				;
			p->classes[i] = c;
			p->classes_n++;
			__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&p->classes_mu);
	return c;
}

/* What destination d does with f's personal data (act[k], the GDPR action for f->pii[k]), and
 * whether f goes to it downgraded (MISP "connected communities" becomes "this community"): what
 * fan_changed and fan_changed_text both apply. */
static int fan_actions(const struct sl_policy_dest *d, const struct sl_policy_facts *f,
                       unsigned char *act)
{
	size_t k;
	int i;

	for (k = 0; k < f->npii; k++)
		act[k] = (unsigned char)d->gdpr[f->pii[k].cat];
	for (i = 0; i < f->ndist; i++)
		if (f->dist[i].level == 2 && d->kind == SL_DEST_MISP)
			return 1;
	return 0;
}

/* The changed object of f for slot s of its class (and the class's changes, with the first). */
static json_t *fan_changed(struct fan *fan, struct cls *c, unsigned s, struct sl_policy_facts *f)
{
	const struct sl_policy_dest *d = &fan->p->dests[c->slot_dest[s]];
	unsigned char sact[KEY_PII_MAX], *act = f->npii <= KEY_PII_MAX ? sact : malloc(f->npii);
	struct outcome o = {SL_POLICY_ALLOW_CHANGED, 0, act};
	json_t *obj = NULL, *changes = NULL;
	int r = SL_ENOMEM;

	if (!act ||
	    (!__atomic_load_n(&c->changes[s], __ATOMIC_ACQUIRE) && !(changes = json_array())))
		goto done;
	o.downgrade = fan_actions(d, f, act);
	/* copy on write: unchanged parts stay shared with the input */
	obj = json_incref(f->obj);
	r = fan_apply_pii(d, f, act, &obj, changes, &fan->pc);
	if (r == 0 && o.downgrade &&
	    parse_level(json_object_get(obj, "x_misp_distribution")) == 2) {
		if (obj == f->obj) {
			json_t *cp = json_copy(f->obj);
			json_decref(obj);
			obj = cp;
		}
		r = obj ? set_level(obj, "x_misp_distribution", 1) : SL_ENOMEM;
		if (r == 0 && changes)
			r = add_change(changes, "x_misp_distribution", "downgrade 2 -> 1", NULL);
	}
	if (r == 0 && changes) {
		/* another thread deciding with this class may have been first */
		json_t *none = NULL;
		if (__atomic_compare_exchange_n(&c->changes[s], &none, changes, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			changes = NULL;
	}
done:
	if (act != sact)
		free(act);
	json_decref(changes);
	if (r != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

#define TEXT_CHUNK 65536

/* Keep text[0..len) (and a NUL) in the fan's chunks: a copy valid until the fan goes. */
static const char *fan_keep_text(struct fan *fan, const char *text, size_t len)
{
	char *t;

	if (!fan->tchunk || fan->tcap - fan->tused < len + 1) {
		size_t cap = len + 1 > TEXT_CHUNK ? len + 1 : TEXT_CHUNK;
		char *c = malloc(cap);
		if (fan_own(fan, c, 0) != 0)
			return NULL;
		fan->tchunk = c;
		fan->tcap = cap;
		fan->tused = 0;
	}
	t = fan->tchunk + fan->tused;
	memcpy(t, text, len + 1);
	fan->tused += len + 1;
	return t;
}

/* fan_changed as text: what json_dumps(fan_changed(...), JSON_COMPACT | JSON_SORT_KEYS) gives,
 * written from f's object with the substitutions applied as it goes (no changed tree built and
 * freed), and the class's changes with the first, as fan_changed makes them. Borrowed from the
 * fan; NULL on failure. */
static const char *fan_changed_text(struct fan *fan, struct cls *c, unsigned s,
                                    struct sl_policy_facts *f)
{
	const struct sl_policy_dest *d = &fan->p->dests[c->slot_dest[s]];
	unsigned char sact[KEY_PII_MAX], *act = f->npii <= KEY_PII_MAX ? sact : malloc(f->npii);
	struct subs S = {0};
	json_t *changes = NULL;
	const char *text = NULL;
	size_t k;
	int downgrade = 0, downgraded = 0, r = SL_ENOMEM;

	S.order = S.sorder;
	S.sub = S.ssub;
	S.vbuf = S.sbuf;
	if (!act ||
	    (!__atomic_load_n(&c->changes[s], __ATOMIC_ACQUIRE) && !(changes = json_array())))
		goto done;
	downgrade = fan_actions(d, f, act);
	if (f->npii && subs_make(&S, d, f, act, &fan->pc) != 0)
		goto done;
	{
		/* the object's texts for other destinations have the same values (replaced
		 * otherwise): members none of them occurs in are copied from the first text */
		unsigned long long vals = 0;
		for (k = 0; k < S.n && f->npii <= 64; k++)
			vals |= 1ull << (S.order[k] - f->pii);
		if (sl_payload_text_memo(&fan->tbuf, f->obj, S.sub, S.n, downgrade, &downgraded,
		                         f->npii <= 64 ? &fan->memo : NULL, vals) != 0)
			goto done;
	}
	r = changes ? subs_changes(&S, f, act, changes) : 0;
	if (r == 0 && downgraded && changes)
		r = add_change(changes, "x_misp_distribution", "downgrade 2 -> 1", NULL);
	if (r == 0 && changes) {
		/* another thread deciding with this class may have been first */
		json_t *none = NULL;
		if (__atomic_compare_exchange_n(&c->changes[s], &none, changes, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			changes = NULL;
	}
	if (r == 0)
		text = fan_keep_text(fan, fan->tbuf.p, fan->tbuf.len);
	if (text && fan->memo.obj == f->obj && !fan->memo.text)
		fan->memo.text = text;
done:
	subs_free(&S);
	if (act != sact)
		free(act);
	json_decref(changes);
	return text;
}

/* Pass 1: what each object says of itself (TLP, tags and containers come once the bundle's
 * markings and containers are known). */
static int fan_read(struct fan *fan, const json_t *objs)
{
	size_t i;

	for (i = 0; i < fan->n; i++) {
		struct sl_policy_facts *f = &fan->facts[i];
		json_t *o = json_array_get(objs, i);
		struct members m;
		if (!json_is_object(o)) {
			f->obj = NULL;
			continue;
		}
		facts_init(f, o);
		read_members(o, &m, 1);
		facts_self(f, &m);
		read_misp_dist(f, m.v[K_DIST], m.v[K_SG], "object");
		facts_pii(f, o, &m);
		f->own_refs = m.v[K_MARKING_REFS];
		f->own_gran = m.v[K_GRANULAR];
		f->own_labels = m.v[K_LABELS];
		f->own_dist = m.v[K_DIST];
		f->own_sg = m.v[K_SG];
		f->modified_raw = json_string_value(m.v[K_MODIFIED]);
		f->created_raw = json_string_value(m.v[K_CREATED]);
		if (f->oom)
			return SL_ENOMEM;
	}
	return 0;
}

/* What each container passes on (its markings and labels, read once), which objects it lists
 * (edges, in bundle order as the objects' containers), and its refs resolved for the step that
 * removes withheld ones. */
static int fan_containers(struct fan *fan, const json_t *objs, const struct mlook *ml,
                          struct edge **edges, size_t *phead, struct cont **conts, size_t *nconts,
                          size_t **cref)
{
	size_t i, j, ne = 0, cape = 0, nref = 0, capr = 0, *ptail = phead + fan->n;
	const json_t *e;

	for (i = 0; i < fan->n; i++)
		phead[i] = ptail[i] = NO_IDX;
	for (i = 0; i < fan->n; i++) {
		struct sl_policy_facts *f = &fan->facts[i], *ci;
		const json_t *refs;
		if (!f->obj || !is_container(f->type))
			continue;
		if (!(ci = fan->cinfo[i] = facts_new(f->obj)))
			return SL_ENOMEM;
		ci->inherited = 1;
		read_marking_refs(ci, f->own_refs, f->own_gran, ml);
		read_labels(ci, f->own_labels);
		ci->org = f->org;
		ci->own_dist = f->own_dist;
		ci->own_sg = f->own_sg;
		if (ci->oom)
			return SL_ENOMEM;
		refs = json_object_get(json_array_get(objs, i), "object_refs");
		if (*nconts % 16 == 0) {
			struct cont *nc = realloc(*conts, (*nconts + 16) * sizeof(*nc));
			if (!nc)
				return SL_ENOMEM;
			*conts = nc;
		}
		(*conts)[*nconts].i = i;
		(*conts)[*nconts].off = nref;
		(*conts)[*nconts].nrefs = json_array_size(refs);
		(*nconts)++;
		json_array_foreach(refs, j, e)
		{
			size_t head =
			           json_is_string(e) ? fan_find(fan, json_string_value(e)) : NO_IDX,
			       k;
			if (nref == capr) {
				size_t *nr =
				    realloc(*cref, (capr = capr ? 2 * capr : 256) * sizeof(*nr));
				if (!nr)
					return SL_ENOMEM;
				*cref = nr;
			}
			(*cref)[nref++] = head;
			for (k = head; k != NO_IDX; k = fan->next[k]) {
				if (ne == cape) {
					struct edge *nx = realloc(
					    *edges, (cape = cape ? 2 * cape : 256) * sizeof(*nx));
					if (!nx)
						return SL_ENOMEM;
					*edges = nx;
				}
				(*edges)[ne].c = i;
				(*edges)[ne].next = NO_IDX;
				if (ptail[k] == NO_IDX)
					phead[k] = ne;
				else
					(*edges)[ptail[k]].next = ne;
				ptail[k] = ne++;
			}
		}
	}
	return 0;
}

/* The definitions of f's sharing groups, from a directory (group uuid -> MISP SharingGroup): with
 * one, sg_member also finds the destination by its organisation or server. Uuids are looked up
 * as given, then in lower case (MISP writes them lower case; a STIX copy may not). */
static void sg_lookup(struct sl_policy_facts *f, const json_t *sgs)
{
	char low[64];
	int k;
	size_t j;

	for (k = 0; k < f->ndist; k++) {
		const char *u = f->dist[k].sg;
		const json_t *d;
		if (!u || f->dist[k].sg_obj || f->dist[k].level != 4)
			continue;
		d = json_object_get(sgs, u);
		if (!d && strlen(u) < sizeof(low)) {
			for (j = 0; u[j]; j++)
				low[j] = (char)tolower((unsigned char)u[j]);
			low[j] = '\0';
			d = json_object_get(sgs, low);
		}
		if (json_is_object(d))
			f->dist[k].sg_obj = d;
	}
}

/* Pass 2: own TLP and tags, then what the containers pass on, in the order sl_policy_facts_stix
 * reads them. */
static void fan_inherit(struct fan *fan, struct sl_policy_facts *f, const struct mlook *ml,
                        const struct edge *edges, size_t e)
{
	int first = 1;
	size_t k;

	read_marking_refs(f, f->own_refs, f->own_gran, ml);
	read_labels(f, f->own_labels);
	f->inherited = 1;
	for (; e != NO_IDX; e = edges[e].next) {
		const struct sl_policy_facts *ci = fan->cinfo[edges[e].c];
		if (ci->tlp_malformed)
			f->tlp_malformed = 1;
		if (ci->tlp != SL_TLP_NONE && (ci->tlp > f->tlp || f->tlp == SL_TLP_NONE)) {
			f->tlp = ci->tlp;
			memcpy(f->tlp_src, ci->tlp_src, sizeof(f->tlp_src));
		}
		for (k = 0; k < ci->ntags; k++)
			add_tag(f, ci->tags[k]);
		if (!f->org)
			f->org = ci->org;
		if (first)
			read_misp_dist(f, ci->own_dist, ci->own_sg, "container");
		first = 0;
	}
}

/* Relationships and containers for destination d, as bundle_decide does them. */
static int fan_refs(struct fan *fan, struct sl_policy_decision **decs, unsigned char *wh,
                    const struct rel *rels, size_t nrels, const struct cont *conts, size_t nconts,
                    const size_t *cref, json_t **cchg, const json_t *objs)
{
	size_t i, j, r;

	for (i = 0; i < fan->n; i++)
		wh[i] = decs[i]->v == SL_POLICY_DENY && fan->facts[i].obj && fan->facts[i].id;
	for (r = 0; r < nrels; r++) {
		struct sl_policy_decision *dec = decs[rels[r].i];
		if (dec->v == SL_POLICY_DENY)
			continue;
		for (j = 0; j < 3; j++)
			if (rels[r].head[j] != NO_IDX && chain_withheld(fan, wh, rels[r].head[j])) {
				if (redeny(dec, "it refers to withheld", rels[r].ref[j]) != 0)
					return SL_ENOMEM;
				wh[rels[r].i] = 1;
				break;
			}
	}
	for (r = 0; r < nconts; r++) {
		struct sl_policy_decision *dec = decs[conts[r].i];
		const size_t *cr = cref + conts[r].off;
		const json_t *refs, *e;
		json_t *copy, *kept;
		size_t removed = 0;
		if (dec->v == SL_POLICY_DENY)
			continue;
		for (j = 0; j < conts[r].nrefs; j++)
			removed += cr[j] != NO_IDX && chain_withheld(fan, wh, cr[j]);
		if (!removed)
			continue;
		if (removed == conts[r].nrefs) {
			if (redeny(dec, "every object it refers to is withheld:", "object_refs") !=
			    0)
				return SL_ENOMEM;
			continue;
		}
		refs = json_object_get(json_array_get(objs, conts[r].i), "object_refs");
		/* neither the input object nor a changed object other destinations share is
		 * modified: copy its top level */
		copy = json_copy(dec->obj);
		kept = json_array();
		if (!copy || !kept || !changes_mut(dec)) {
			json_decref(copy);
			json_decref(kept);
			return SL_ENOMEM;
		}
		json_array_foreach(refs, j, e)
		{
			if (cr[j] != NO_IDX && chain_withheld(fan, wh, cr[j])) {
				/* every destination that withholds it records the same change */
				json_t **ch = &cchg[conts[r].off + j];
				if (!*ch)
					*ch = removed_ref_change(json_string_value(e));
				if (!*ch || json_array_append(dec->changes, *ch) != 0) {
					json_decref(copy);
					json_decref(kept);
					return SL_ENOMEM;
				}
			} else if (json_array_append(kept, (json_t *)e) != 0) {
				json_decref(copy);
				json_decref(kept);
				return SL_ENOMEM;
			}
		}
		json_object_set_new(copy, "object_refs", kept);
		set_obj(dec, copy);
		if (dec->v == SL_POLICY_ALLOW) {
			const char *rule = rule_of(dec);
			char *nr = malloc(strlen(rule) + 64);
			if (!nr)
				return SL_ENOMEM;
			sprintf(nr, "%s; %zu withheld refs removed", rule, removed);
			set_rule(dec, nr);
		}
		dec->v = SL_POLICY_ALLOW_CHANGED;
	}
	return 0;
}

/* Every decision of object i (facts f, class c) for every destination. */
static int fan_decide(struct fan *fan, size_t i, long long now,
                      struct sl_policy_decision ***decisions)
{
	struct sl_policy_facts *f = &fan->facts[i];
	struct cls *c = fan->cls_of[i];
	const char *mod = modified_str(f);
	size_t d, nd = fan->nd;

	for (d = 0; d < nd; d++) {
		const struct sl_policy_dest *dd = &fan->p->dests[d];
		enum sl_policy_verdict v = (enum sl_policy_verdict)c->v[d];
		struct sl_policy_decision *dec;
		if (dd->retention_days > 0 && !f->meta && too_old(dd, f, now) &&
		    (v != SL_POLICY_DENY || c->pre_ok[d])) {
			/* withheld for its age: a chain of its own, written now */
			struct outcome o = {SL_POLICY_ALLOW, 0, NULL};
			struct rb r;
			r.len = 0;
			r.buf[0] = '\0';
			if (evaluate(dd, f, now, &r, &o) == SL_POLICY_DENY) {
				if (!(decisions[d][i] =
				          decision_new(dd, f->id, mod, SL_POLICY_DENY, r.buf)))
					return SL_ENOMEM;
				continue;
			}
		}
		dec = &fan->blk[d * fan->n + i];
		dec->v = v;
		dec->own_obj = dec->own_changes = 0;
		dec->di = (unsigned)d;
		dec->rule = cls_rule(c, (unsigned)d);
		dec->rule_own = NULL;
		dec->changes = fan->empty;
		dec->items = NULL;
		dec->obj = NULL;
		dec->id = f->id ? f->id : "";
		dec->modified = mod ? mod : "";
		dec->dest = dd->name;
		dec->lazy_f = NULL;
		dec->lazy_d = NULL;
		dec->now = now;
		dec->fan = fan;
		dec->cls = c;
		if (v == SL_POLICY_ALLOW) {
			dec->obj = f->obj;
		} else if (v == SL_POLICY_ALLOW_CHANGED) {
			unsigned s = c->slot[d];
			json_t **ro = &fan->robj[i * fan->rslots + s];
			if (!*ro) {
				if (!(*ro = fan_changed(fan, c, s, f)))
					return SL_ENOMEM;
				fan->nrobj++;
			}
			dec->obj = *ro;
			dec->changes = __atomic_load_n(&c->changes[s], __ATOMIC_ACQUIRE);
		}
		fan->refs++;
		decisions[d][i] = dec;
	}
	return 0;
}

/* What sl_policy_decide_bundle_all and sl_policy_decide_bundle_rows share: the facts of every
 * object read, containers and relationships resolved, every object's verdict class found. The
 * temporaries live here; the fan outlives them. */
struct prep {
	struct fan *fan;
	struct mlook ml;
	struct edge *edges;
	struct cont *conts;
	struct rel *rels;
	size_t *phead, *cref, nrels, nconts, ncchg, ccap;
	json_t **cchg;
	/* sl_policy_decide_bundle_rows: per container, the copy the last destination that removed
	 * refs from it made (destinations withholding the same refs share it), per ref whether
	 * that destination removed it and whether the current one does; the action string of
	 * every removed-ref change */
	struct cshare {
		const json_t *in_obj, *in_changes;
		json_t *copy, *chg;
	} * cshare;
	unsigned char *crm, *crm_cur;
	json_t *removed_action;
	struct cls **tab;
	unsigned char *wh, *key;
};

static void prep_free(struct prep *x)
{
	size_t i;

	free(x->edges);
	free(x->conts);
	free(x->rels);
	free(x->phead);
	free(x->cref);
	for (i = 0; i < x->ncchg; i++)
		json_decref(x->cchg[i]);
	free(x->cchg);
	free(x->cshare);
	free(x->crm);
	json_decref(x->removed_action);
	free(x->tab);
	free(x->wh);
	free(x->key);
}

/* Fills x (x->fan, one reference for the caller, even on failure when it was made). */
static int prep_run(const struct sl_policy *p, const json_t *objs, const json_t *sgs,
                    struct prep *x, int want_rows)
{
	size_t n = json_array_size(objs), nd = p->ndests, i;
	struct fan *fan;

	memset(x, 0, sizeof(*x));
	if (!(fan = x->fan = calloc(1, sizeof(*fan))))
		return SL_ENOMEM;
	fan->refs = 1;
	fan->p = (struct sl_policy *)p;
	__atomic_add_fetch(&fan->p->refs, 1, __ATOMIC_RELAXED);
	fan->n = n;
	fan->nd = nd;
	x->ml.fan = fan;
	for (x->ccap = 16; x->ccap < 2 * n; x->ccap *= 2)
		;
	{
		size_t n1 = n ? n : 1, nptr = 3 * n1;
		size_t nrows = want_rows ? n1 * (nd ? nd : 1) : 0;
		char *b = block_get(fan->p,
		                    n1 * sizeof(*fan->facts) + nptr * sizeof(void *) +
		                        nrows * sizeof(*fan->rows),
		                    &fan->block_cap);
		if (!(fan->block = b))
			return SL_ENOMEM;
		fan->facts = (struct sl_policy_facts *)b;
		for (i = 0; i < n1; i++)
			fan->facts[i].obj = NULL; /* fan_free reads it, also after a failure */
		b += n1 * sizeof(*fan->facts);
		/* the pointer arrays start cleared; the rows are all written */
		memset(b, 0, nptr * sizeof(void *));
		fan->cls_of = (struct cls **)b;
		fan->used = fan->cls_of + n1;
		fan->cinfo = (struct sl_policy_facts **)(fan->used + n1);
		fan->rows = want_rows ? (struct sl_policy_row *)(fan->cinfo + n1) : NULL;
	}
	if (!(fan->empty = json_array()) ||
	    !(x->phead = malloc(2 * (n ? n : 1) * sizeof(size_t))) ||
	    !(x->tab = calloc(x->ccap, sizeof(*x->tab))) || !(x->wh = malloc(n ? n : 1)) ||
	    !(x->key = malloc(KEY_MAX)))
		return SL_ENOMEM;
	for (i = 0; i < n; i++)
		fan->facts[i].obj = NULL;
	/* the facts borrow definitions from the directory: it lives as long as the fan */
	if (!json_is_object(sgs) || json_object_size(sgs) == 0)
		sgs = NULL;
	else if (fan_own(fan, json_incref((json_t *)sgs), 1) != 0)
		return SL_ENOMEM;
	if (fan_read(fan, objs) != 0 || fan_index(fan) != 0 ||
	    fan_containers(fan, objs, &x->ml, &x->edges, x->phead, &x->conts, &x->nconts,
	                   &x->cref) != 0)
		return SL_ENOMEM;
	if (x->nconts) {
		size_t nref = x->conts[x->nconts - 1].off + x->conts[x->nconts - 1].nrefs;
		if (!(x->cchg = calloc(nref ? nref : 1, sizeof(*x->cchg))))
			return SL_ENOMEM;
		x->ncchg = nref;
	}
	for (i = 0; i < n; i++) {
		struct sl_policy_facts *f = &fan->facts[i];
		struct cls *c = NULL;
		size_t klen, h;
		uint64_t kh;
		if (!f->obj)
			continue;
		fan_inherit(fan, f, &x->ml, x->edges, x->phead[i]);
		if (f->oom)
			return SL_ENOMEM;
		if (sgs)
			sg_lookup(f, sgs);
		if ((f->type[0] == 'r' && strlen(f->type) == 12 &&
		     TYPE_IS(f->type, "relationship")) ||
		    (f->type[0] == 's' && strlen(f->type) == 8 && TYPE_IS(f->type, "sighting"))) {
			static const char *const refkeys[] = {"source_ref", "target_ref",
			                                      "sighting_of_ref"};
			struct rel *r;
			size_t j;
			if (x->nrels % 64 == 0) {
				struct rel *nr = realloc(x->rels, (x->nrels + 64) * sizeof(*nr));
				if (!nr)
					return SL_ENOMEM;
				x->rels = nr;
			}
			r = &x->rels[x->nrels++];
			r->i = i;
			for (j = 0; j < 3; j++) {
				r->ref[j] = json_string_value(json_object_get(f->obj, refkeys[j]));
				r->head[j] = r->ref[j] ? fan_find(fan, r->ref[j]) : NO_IDX;
			}
		}
		/* the object's verdict class: found, or new */
		klen = class_key(f, x->key);
		kh = klen ? key_hash(x->key, klen) : 0;
		for (h = kh & (x->ccap - 1); klen && x->tab[h]; h = (h + 1) & (x->ccap - 1))
			if (x->tab[h]->hash == kh && x->tab[h]->keylen == klen &&
			    memcmp(x->tab[h]->key, x->key, klen) == 0) {
				c = x->tab[h];
				break;
			}
		if (!c) {
			/* an embedded sharing group is known by its address: not across calls */
			int local = !klen, k;
			for (k = 0; k < f->ndist; k++)
				local |= f->dist[k].sg_obj != NULL;
			c = local ? cls_new(p, f, x->key, klen, kh)
			          : cls_cached(p, f, x->key, klen, kh);
			if (!c)
				return SL_ENOMEM;
			fan->used[fan->nused++] = c;
			if (klen)
				x->tab[h] = c;
			if (c->nslots > fan->rslots)
				fan->rslots = c->nslots;
		}
		fan->cls_of[i] = c;
	}
	/* a changed object per object and slot: as many slots as the bundle's classes have (most
	 * have one or two), not one per destination */
	if (fan->rslots && !(fan->robj = calloc(n * fan->rslots, sizeof(*fan->robj))))
		return SL_ENOMEM;
	if (want_rows == 2 && fan->rslots &&
	    !(fan->rtext = calloc(n * fan->rslots, sizeof(*fan->rtext))))
		return SL_ENOMEM;
	return 0;
}

int sl_policy_decide_bundle_all(const struct sl_policy *p, const json_t *bundle, long long now,
                                json_t **out_bundles, struct sl_policy_decision ***decisions,
                                size_t *ndecisions, struct sl_err *err)
{
	const json_t *objs = json_object_get(bundle, "objects");
	size_t n = json_array_size(objs), nd = p->ndests, i, d;
	struct prep x;
	struct fan *fan;
	int r = SL_ENOMEM;

	*ndecisions = 0;
	for (d = 0; d < nd; d++) {
		if (out_bundles)
			out_bundles[d] = NULL;
		decisions[d] = NULL;
	}
	if (!json_is_array(objs))
		return sl_err_set(err, SL_EINVAL, "bundle", "a bundle needs an objects array");
	if (nd == 0)
		return 0;
	if (prep_run(p, objs, NULL, &x, 0) != 0)
		goto oom;
	fan = x.fan;
	if (!(fan->blk = malloc((n ? n : 1) * nd * sizeof(*fan->blk))))
		goto oom;
	for (d = 0; d < nd; d++)
		if (!(decisions[d] = calloc(n ? n : 1, sizeof(**decisions))))
			goto oom;
	for (i = 0; i < n; i++) {
		if (fan->facts[i].obj) {
			if (fan_decide(fan, i, now, decisions) != 0)
				goto oom;
			continue;
		}
		/* one malformed entry is withheld; the rest of the bundle is still decided */
		for (d = 0; d < nd; d++) {
			char rule[300];
			snprintf(rule, sizeof(rule),
			         "%s -> deny (objects[%zu] is not a JSON object)",
			         p->dests[d].rule_prefix, i);
			if (!(decisions[d][i] =
			          decision_new(&p->dests[d], NULL, NULL, SL_POLICY_DENY, rule)))
				goto oom;
		}
	}
	for (d = 0; d < nd; d++) {
		if (fan_refs(fan, decisions[d], x.wh, x.rels, x.nrels, x.conts, x.nconts, x.cref,
		             x.cchg, objs) != 0)
			goto oom;
		if (out_bundles) {
			json_t *out = json_copy((json_t *)bundle), *outobjs = json_array();
			if (!out || !outobjs || json_object_set_new(out, "objects", outobjs) != 0) {
				json_decref(out);
				goto oom;
			}
			out_bundles[d] = out;
			for (i = 0; i < n; i++)
				if (decisions[d][i]->obj &&
				    json_array_append(outobjs, decisions[d][i]->obj) != 0)
					goto oom;
		}
	}
	*ndecisions = n;
	r = 0;
	goto done;
oom:
	r = sl_err_set(err, SL_ENOMEM, "bundle", "out of memory");
	for (d = 0; d < nd; d++) {
		if (out_bundles) {
			json_decref(out_bundles[d]);
			out_bundles[d] = NULL;
		}
		sl_policy_decisions_free(decisions[d], n);
		decisions[d] = NULL;
	}
done:
	if (x.fan)
		fan_release(x.fan, 1);
	prep_free(&x);
	return r;
}

/* ---- every destination at once, as rows ---- */

struct sl_policy_rows {
	struct fan *fan;
};

/* Keep p (a json_t when js, else a malloc'd string) until the fan goes; on failure p is released
 * and SL_ENOMEM returned. */
static int fan_own(struct fan *fan, void *p, int js)
{
	if (!p)
		return SL_ENOMEM;
	if (fan->nown == fan->capown) {
		size_t nc = fan->capown ? 2 * fan->capown : 64;
		void **no = realloc(fan->own, nc * sizeof(*no));
		unsigned char *nj = no ? realloc(fan->own_json, nc) : NULL;
		if (no)
			fan->own = no;
		if (!nj) {
			if (js)
				json_decref(p);
			else
				free(p);
			return SL_ENOMEM;
		}
		fan->own_json = nj;
		fan->capown = nc;
	}
	fan->own[fan->nown] = p;
	fan->own_json[fan->nown++] = (unsigned char)js;
	return 0;
}

/* Every destination's row on object i (facts f, class c), as fan_decide makes decisions. */
static int rows_decide(struct fan *fan, size_t i, long long now)
{
	struct sl_policy_facts *f = &fan->facts[i];
	struct cls *c = fan->cls_of[i];
	size_t d, nd = fan->nd, n = fan->n;

	for (d = 0; d < nd; d++) {
		const struct sl_policy_dest *dd = &fan->p->dests[d];
		enum sl_policy_verdict v = (enum sl_policy_verdict)c->v[d];
		struct sl_policy_row *row = &fan->rows[d * n + i];
		if (dd->retention_days > 0 && !f->meta && too_old(dd, f, now) &&
		    (v != SL_POLICY_DENY || c->pre_ok[d])) {
			/* withheld for its age: a chain of its own, written now */
			struct outcome o = {SL_POLICY_ALLOW, 0, NULL};
			struct rb r;
			r.len = 0;
			r.buf[0] = '\0';
			if (evaluate(dd, f, now, &r, &o) == SL_POLICY_DENY) {
				char *rule = strdup(r.buf);
				if (fan_own(fan, rule, 0) != 0)
					return SL_ENOMEM;
				row->verdict = SL_POLICY_DENY;
				row->rule = rule;
				row->changes = fan->empty;
				row->obj = NULL;
				row->text = NULL;
				continue;
			}
		}
		row->verdict = v;
		row->rule = cls_rule(c, (unsigned)d);
		row->changes = fan->empty;
		row->obj = v == SL_POLICY_ALLOW ? f->obj : NULL;
		row->text = NULL;
		if (v == SL_POLICY_ALLOW_CHANGED && fan->rtext) {
			unsigned s = c->slot[d];
			const char **rt = &fan->rtext[i * fan->rslots + s];
			if (!*rt && !(*rt = fan_changed_text(fan, c, s, f)))
				return SL_ENOMEM;
			row->text = *rt;
			row->changes = __atomic_load_n(&c->changes[s], __ATOMIC_ACQUIRE);
		} else if (v == SL_POLICY_ALLOW_CHANGED) {
			unsigned s = c->slot[d];
			json_t **ro = &fan->robj[i * fan->rslots + s];
			if (!*ro) {
				if (!(*ro = fan_changed(fan, c, s, f)))
					return SL_ENOMEM;
				fan->nrobj++;
			}
			row->obj = *ro;
			row->changes = __atomic_load_n(&c->changes[s], __ATOMIC_ACQUIRE);
		}
	}
	return 0;
}

/* A row becomes a deny naming why, as redeny does to a decision. */
static int row_redeny(struct fan *fan, struct sl_policy_row *row, const char *why, const char *id)
{
	size_t lr = strlen(row->rule), lw = strlen(why), li = strlen(id);
	char *nr = malloc(lr + lw + li + 32), *o = nr;

	if (!nr)
		return SL_ENOMEM;
	/* "%s; but %s %s -> deny" without snprintf, which cost more than the rest of the row */
	memcpy(o, row->rule, lr);
	o += lr;
	memcpy(o, "; but ", 6);
	o += 6;
	memcpy(o, why, lw);
	o += lw;
	*o++ = ' ';
	memcpy(o, id, li);
	o += li;
	memcpy(o, " -> deny", 9);
	if (fan_own(fan, nr, 0) != 0)
		return SL_ENOMEM;
	row->rule = nr;
	row->verdict = SL_POLICY_DENY;
	row->obj = NULL;
	row->text = NULL;
	row->changes = fan->empty;
	return 0;
}

/* Relationships and containers in one destination's rows, as fan_refs does them. */
static int rows_refs(struct fan *fan, size_t d, struct prep *x, const json_t *objs)
{
	struct sl_policy_row *rows = fan->rows + d * fan->n;
	size_t i, j, r, nwh = 0;
	unsigned char *wh = x->wh;

	if (x->nconts && !x->cshare) {
		if (!(x->cshare = calloc(x->nconts, sizeof(*x->cshare))) ||
		    !(x->crm = malloc(2 * (x->ncchg ? x->ncchg : 1))) ||
		    !(x->removed_action = json_string_nocheck("removed (withheld)")))
			return SL_ENOMEM;
		x->crm_cur = x->crm + x->ncchg;
	}
	for (i = 0; i < fan->n; i++)
		nwh += wh[i] =
		    rows[i].verdict == SL_POLICY_DENY && fan->facts[i].obj && fan->facts[i].id;
	if (!nwh)
		return 0; /* nothing withheld: no relationship or container to change */
	for (r = 0; r < x->nrels; r++) {
		struct sl_policy_row *row = &rows[x->rels[r].i];
		if (row->verdict == SL_POLICY_DENY)
			continue;
		for (j = 0; j < 3; j++)
			if (x->rels[r].head[j] != NO_IDX &&
			    chain_withheld(fan, wh, x->rels[r].head[j])) {
				if (row_redeny(fan, row, "it refers to withheld",
				               x->rels[r].ref[j]) != 0)
					return SL_ENOMEM;
				wh[x->rels[r].i] = 1;
				break;
			}
	}
	for (r = 0; r < x->nconts; r++) {
		struct sl_policy_row *row = &rows[x->conts[r].i];
		const size_t *cr = x->cref + x->conts[r].off;
		unsigned char *rm = x->crm_cur + x->conts[r].off, *prev = x->crm + x->conts[r].off;
		struct cshare *cs = &x->cshare[r];
		const json_t *refs, *e;
		json_t *copy, *kept, *chg;
		size_t removed = 0, nrefs = x->conts[r].nrefs;
		if (row->verdict == SL_POLICY_DENY)
			continue;
		for (j = 0; j < nrefs; j++)
			removed += rm[j] = cr[j] != NO_IDX && chain_withheld(fan, wh, cr[j]);
		if (!removed)
			continue;
		if (row->text) {
			/* a container changed for its personal data loses refs too: its refs are
			 * removed from the changed object, built as a tree for it (rare) */
			size_t ci = x->conts[r].i;
			struct cls *c = fan->cls_of[ci];
			unsigned s = c->slot[d];
			json_t **ro = &fan->robj[ci * fan->rslots + s];
			if (!*ro) {
				if (!(*ro = fan_changed(fan, c, s, &fan->facts[ci])))
					return SL_ENOMEM;
				fan->nrobj++;
			}
			row->obj = *ro;
			row->text = NULL;
		}
		if (removed == nrefs) {
			if (row_redeny(fan, row, "every object it refers to is withheld:",
			               "object_refs") != 0)
				return SL_ENOMEM;
			continue;
		}
		if (cs->copy && cs->in_obj == row->obj && cs->in_changes == row->changes &&
		    memcmp(rm, prev, nrefs) == 0) {
			/* the same refs withheld from the same object as for an earlier
			 * destination: the same copy and changes */
			copy = cs->copy;
			chg = cs->chg;
			goto changed;
		}
		refs = json_object_get(json_array_get(objs, x->conts[r].i), "object_refs");
		/* neither the input object nor a changed object other destinations share is
		 * modified: copy its top level, and the changes list (its entries are shared) */
		copy = json_copy((json_t *)row->obj);
		kept = json_array();
		chg = json_copy((json_t *)row->changes);
		if (!copy || !kept || !chg || json_object_set_new(copy, "object_refs", kept) != 0) {
			json_decref(copy);
			json_decref(kept);
			json_decref(chg);
			return SL_ENOMEM;
		}
		if (fan_own(fan, copy, 1) != 0 || fan_own(fan, chg, 1) != 0)
			return SL_ENOMEM;
		json_array_foreach(refs, j, e)
		{
			if (j < nrefs && rm[j]) {
				/* every destination that withholds it records the same change */
				json_t **ch = &x->cchg[x->conts[r].off + j];
				if (!*ch)
					*ch = removed_ref_change_as(json_string_value(e),
					                            x->removed_action);
				if (!*ch || json_array_append(chg, *ch) != 0)
					return SL_ENOMEM;
			} else if (json_array_append(kept, (json_t *)e) != 0) {
				return SL_ENOMEM;
			}
		}
		cs->in_obj = row->obj;
		cs->in_changes = row->changes;
		cs->copy = copy;
		cs->chg = chg;
		memcpy(prev, rm, nrefs);
	changed:
		if (row->verdict == SL_POLICY_ALLOW) {
			char *nr = malloc(strlen(row->rule) + 64);
			if (!nr)
				return SL_ENOMEM;
			sprintf(nr, "%s; %zu withheld refs removed", row->rule, removed);
			if (fan_own(fan, nr, 0) != 0)
				return SL_ENOMEM;
			row->rule = nr;
		}
		row->verdict = SL_POLICY_ALLOW_CHANGED;
		row->obj = copy;
		row->changes = chg;
	}
	return 0;
}

int sl_policy_decide_bundle_rows(const struct sl_policy *p, const json_t *bundle, long long now,
                                 unsigned flags, struct sl_policy_rows **out, struct sl_err *err)
{
	return sl_policy_decide_bundle_rows_sg(p, bundle, NULL, now, flags, out, err);
}

int sl_policy_decide_bundle_rows_sg(const struct sl_policy *p, const json_t *bundle,
                                    const json_t *sharing_groups, long long now, unsigned flags,
                                    struct sl_policy_rows **out, struct sl_err *err)
{
	const json_t *objs = json_object_get(bundle, "objects");
	size_t n = json_array_size(objs), nd = p->ndests, i, d;
	struct sl_policy_rows *rs = NULL;
	struct prep x;
	struct fan *fan;

	*out = NULL;
	if (!json_is_array(objs))
		return sl_err_set(err, SL_EINVAL, "bundle", "a bundle needs an objects array");
	if (prep_run(p, objs, sharing_groups, &x, flags & SL_POLICY_ROWS_TEXT ? 2 : 1) != 0)
		goto oom;
	fan = x.fan;
	if (!(rs = malloc(sizeof(*rs))))
		goto oom;
	rs->fan = fan;
	for (i = 0; i < n; i++) {
		if (fan->facts[i].obj) {
			if (rows_decide(fan, i, now) != 0)
				goto oom;
			continue;
		}
		/* one malformed entry is withheld; the rest of the bundle is still decided */
		for (d = 0; d < nd; d++) {
			struct sl_policy_row *row = &fan->rows[d * n + i];
			char *rule = malloc(strlen(p->dests[d].rule_prefix) + 64);
			if (!rule)
				goto oom;
			sprintf(rule, "%s -> deny (objects[%zu] is not a JSON object)",
			        p->dests[d].rule_prefix, i);
			if (fan_own(fan, rule, 0) != 0)
				goto oom;
			row->verdict = SL_POLICY_DENY;
			row->rule = rule;
			row->changes = fan->empty;
			row->obj = NULL;
			row->text = NULL;
		}
	}
	for (d = 0; d < nd; d++)
		if (rows_refs(fan, d, &x, objs) != 0)
			goto oom;
	prep_free(&x);
	*out = rs;
	return 0;
oom:
	free(rs);
	if (x.fan)
		fan_release(x.fan, 1);
	prep_free(&x);
	return sl_err_set(err, SL_ENOMEM, "bundle", "out of memory");
}

size_t sl_policy_rows_count(const struct sl_policy_rows *r)
{
	return r->fan->n;
}

void sl_policy_rows_object(const struct sl_policy_rows *r, size_t i, const char **id,
                           const char **modified, const char **created)
{
	const struct sl_policy_facts *f = &r->fan->facts[i];

	*id = f->obj ? f->id : NULL;
	*modified = f->obj ? f->modified_raw : NULL;
	*created = f->obj ? f->created_raw : NULL;
}

const struct sl_policy_row *sl_policy_rows_dest(const struct sl_policy_rows *r, size_t i)
{
	return r->fan->rows + i * r->fan->n;
}

void sl_policy_rows_free(struct sl_policy_rows *r)
{
	if (!r)
		return;
	fan_release(r->fan, 1);
	free(r);
}

/* ---- MISP events ---- */

static void misp_tags(struct sl_policy_facts *f, const json_t *o)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(o, "Tag"), i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));
		enum sl_tlp t;
		int bad = 0;
		if (!name)
			continue;
		add_tag(f, name);
		t = sl_tlp_from_tag(name, &bad);
		note_tlp(f, t, bad, name);
	}
}

static void misp_dist(struct sl_policy_facts *f, const json_t *o, const json_t *ev,
                      const char *what)
{
	const json_t *sg = json_object_get(o, "SharingGroup");
	struct dist *x;

	if (f->ndist >= MAX_DIST || !json_object_get(o, "distribution"))
		return;
	x = &f->dist[f->ndist++];
	x->level = parse_level(json_object_get(o, "distribution"));
	x->what = what;
	if (!sg && ev && o != ev) {
		/* an attribute's sharing group is usually the event's, named only by its local id
		 */
		const json_t *a = json_object_get(o, "sharing_group_id"),
		             *b = json_object_get(ev, "sharing_group_id");
		if (a && b && json_equal((json_t *)a, (json_t *)b))
			sg = json_object_get(ev, "SharingGroup");
	}
	x->sg_obj = json_is_object(sg) ? sg : NULL;
	x->sg = json_string_value(json_object_get(sg, "uuid"));
}

static const char *misp_org(const json_t *ev)
{
	const char *u = json_string_value(json_object_get(json_object_get(ev, "Orgc"), "uuid"));

	return u ? u : json_string_value(json_object_get(ev, "orgc_uuid"));
}

static struct sl_policy_facts *misp_event_facts(json_t *ev)
{
	struct sl_policy_facts *f = facts_new(ev);

	if (!f)
		return NULL;
	f->id = json_string_value(json_object_get(ev, "uuid"));
	f->type = "misp-event";
	f->modified = parse_time(json_object_get(ev, "timestamp"), NULL);
	f->org = misp_org(ev);
	misp_tags(f, ev);
	misp_dist(f, ev, NULL, "event");
	scan_emails_rec(f, json_object_get(ev, "info"), "info", 1);
	return f;
}

static struct sl_policy_facts *misp_attr_facts(const struct sl_policy_facts *ef, const json_t *ev,
                                               const json_t *obj, json_t *attr)
{
	struct sl_policy_facts *f = facts_new(attr);
	const char *type, *objname = obj ? json_string_value(json_object_get(obj, "name")) : NULL;
	size_t k;
	int c;

	if (!f)
		return NULL;
	f->id = json_string_value(json_object_get(attr, "uuid"));
	f->type = type = json_string_value(json_object_get(attr, "type"));
	f->modified = parse_time(json_object_get(attr, "timestamp"), NULL);
	f->org = ef->org;
	f->tlp = ef->tlp; /* the event's TLP is inherited: own_tlp stays NONE */
	f->tlp_conflict = ef->tlp_conflict;
	f->tlp_malformed = ef->tlp_malformed;
	memcpy(f->tlp_src, ef->tlp_src, sizeof(f->tlp_src));
	for (k = 0; k < ef->ntags; k++)
		add_tag(f, ef->tags[k]);
	misp_tags(f, attr);
	if (ef->ndist)
		f->dist[f->ndist++] = ef->dist[0];
	if (obj)
		misp_dist(f, obj, ev, "object");
	misp_dist(f, attr, ev, "attribute");
	add_typed(f, type, json_object_get(attr, "value"), "value");
	c = relation_cat(objname, json_string_value(json_object_get(attr, "object_relation")));
	if (c >= 0)
		add_pii(f, (enum sl_gdpr_cat)c, json_object_get(attr, "value"), "value");
	scan_emails_rec(f, json_object_get(attr, "value"), "value", 1);
	scan_emails_rec(f, json_object_get(attr, "comment"), "comment", 1);
	if (f->oom) {
		sl_policy_facts_free(f);
		return NULL;
	}
	return f;
}

struct misp_walk {
	const struct sl_policy_dest *d;
	long long now;
	const struct sl_policy_facts *ef;
	const json_t *ev;
	json_t *changes, *removed, *items;
	int downgrade;
	size_t nremoved, nchanged, nseen;
};

/* Decide the attributes of `arr` (an Attribute array inside the output copy), removing the
 * withheld. */
static int misp_attrs(struct misp_walk *w, const json_t *obj, json_t *arr, const char *where)
{
	size_t i = 0;
	int r = 0;

	while (r == 0 && i < json_array_size(arr)) {
		json_t *attr = json_array_get(arr, i);
		struct sl_policy_facts *f = misp_attr_facts(w->ef, w->ev, obj, attr);
		unsigned char *act = f ? calloc(f->npii ? f->npii : 1, 1) : NULL;
		struct outcome o = {SL_POLICY_ALLOW, 0, act};
		char path[300];
		const char *uuid;
		struct rb rb;

		if (!f || !act) {
			sl_policy_facts_free(f);
			free(act);
			return SL_ENOMEM;
		}
		uuid = f->id ? f->id : "?";
		rb.len = 0;
		rb.buf[0] = '\0';
		w->nseen++;
		snprintf(path, sizeof(path), "%sAttribute[%s]", where, uuid);
		o.v = evaluate(w->d, f, w->now, &rb, &o);
		if (w->items)
			json_array_append_new(
			    w->items, json_pack("{s:s, s:s, s:s}", "id", uuid, "decision",
			                        sl_policy_verdict_name(o.v), "rule", rb.buf));
		if (o.v == SL_POLICY_DENY) {
			json_t *c = json_pack("{s:s, s:s, s:s}", "path", path, "action", "removed",
			                      "rule", rb.buf);
			if (!c || json_array_append_new(w->changes, c) != 0)
				r = SL_ENOMEM;
			if (f->id)
				json_object_set_new(w->removed, f->id, json_true());
			w->nremoved++;
			sl_policy_facts_free(
			    f); /* f holds a reference to attr: free it before removal */
			free(act);
			json_array_remove(arr, i);
			continue;
		}
		if (o.v == SL_POLICY_ALLOW_CHANGED) {
			size_t before = json_array_size(w->changes);
			r = apply_pii(w->d, f, &o, &attr, 0, path, w->changes, NULL);
			if (r == 0 && w->d->kind == SL_DEST_MISP &&
			    parse_level(json_object_get(attr, "distribution")) == 2) {
				char p2[330];
				snprintf(p2, sizeof(p2), "%s.distribution", path);
				r = set_level(attr, "distribution", 1);
				if (r == 0)
					r = add_change(w->changes, p2, "downgrade 2 -> 1", NULL);
			}
			w->nchanged += json_array_size(w->changes) > before;
		}
		sl_policy_facts_free(f);
		free(act);
		i++;
	}
	return r;
}

struct sl_policy_decision *sl_policy_decide_misp_event(const struct sl_policy_dest *d,
                                                       const json_t *event, long long now,
                                                       struct sl_err *err)
{
	const json_t *inner =
	    json_object_get(event, "Event") ? json_object_get(event, "Event") : event;
	struct sl_policy_facts *ef = NULL;
	struct sl_policy_decision *dec = NULL;
	unsigned char *act = NULL;
	struct outcome o = {SL_POLICY_ALLOW, 0, NULL};
	struct misp_walk w;
	json_t *out = NULL, *oev, *objs, *ob;
	struct rb rb;
	size_t i, j;
	int r = 0;

	memset(&w, 0, sizeof(w));
	if (!json_is_object(inner)) {
		sl_err_set(err, SL_EINVAL, "event", "a MISP event must be a JSON object");
		return NULL;
	}
	if (!(ef = misp_event_facts((json_t *)inner)) ||
	    !(act = calloc(ef->npii ? ef->npii : 1, 1)))
		goto oom;
	o.act = act;
	rb.len = 0;
	rb.buf[0] = '\0';
	o.v = evaluate(d, ef, now, &rb, &o);
	if (o.v == SL_POLICY_DENY) {
		dec = decision_new(d, ef->id, modified_str(ef), o.v, rb.buf);
		if (!dec)
			goto oom;
		goto done;
	}
	if (!(out = json_deep_copy(event)))
		goto oom;
	oev = json_object_get(out, "Event") ? json_object_get(out, "Event") : out;
	if (!(dec = decision_new(d, ef->id, modified_str(ef), o.v, "")))
		goto oom;
	w.d = d;
	w.now = now;
	w.ef = ef;
	w.ev = inner;
	w.changes = changes_of(dec);
	w.items = dec->items = json_array();
	if (!(w.removed = json_object()))
		goto oom;
	if (o.downgrade && parse_level(json_object_get(oev, "distribution")) == 2) {
		r = set_level(oev, "distribution", 1);
		if (r == 0)
			r = add_change(changes_of(dec), "Event.distribution", "downgrade 2 -> 1",
			               NULL);
	}
	if (r == 0)
		r = misp_attrs(&w, NULL, json_object_get(oev, "Attribute"), "");
	objs = json_object_get(oev, "Object");
	for (i = 0; r == 0 && i < json_array_size(objs);) {
		json_t *attrs;
		size_t had;
		char where[300];
		const char *ouuid;
		ob = json_array_get(objs, i);
		ouuid = json_string_value(json_object_get(ob, "uuid"));
		attrs = json_object_get(ob, "Attribute");
		had = json_array_size(attrs);
		snprintf(where, sizeof(where), "Object[%s].", ouuid ? ouuid : "?");
		/* the object's own distribution applies to its attributes (it is downgraded only
		 * after this) */
		r = misp_attrs(&w, ob, attrs, where);
		if (r == 0 && had > 0 && json_array_size(attrs) == 0) {
			char path[300];
			snprintf(path, sizeof(path), "Object[%s]", ouuid ? ouuid : "?");
			if (ouuid)
				json_object_set_new(w.removed, ouuid, json_true());
			r = add_change(changes_of(dec), path,
			               "removed (all its attributes withheld)", NULL);
			json_array_remove(objs, i);
			continue;
		}
		if (r == 0 && d->kind == SL_DEST_MISP &&
		    parse_level(json_object_get(ob, "distribution")) == 2) {
			char path[330];
			snprintf(path, sizeof(path), "Object[%s].distribution",
			         ouuid ? ouuid : "?");
			r = set_level(ob, "distribution", 1);
			if (r == 0)
				r = add_change(changes_of(dec), path, "downgrade 2 -> 1", NULL);
		}
		i++;
	}
	/* the event's own personal data (in info) last, so attributes were read as they came */
	if (r == 0)
		r = apply_pii(d, ef, &o, &oev, 0, "Event", changes_of(dec), NULL);
	/* references to what was withheld go too */
	json_array_foreach(objs, i, ob)
	{
		json_t *refs = json_object_get(ob, "ObjectReference");
		for (j = 0; r == 0 && j < json_array_size(refs);) {
			const char *ru = json_string_value(
			    json_object_get(json_array_get(refs, j), "referenced_uuid"));
			if (ru && json_object_get(w.removed, ru)) {
				char path[300];
				snprintf(path, sizeof(path), "Object[%s].ObjectReference[%s]",
				         json_string_value(json_object_get(ob, "uuid")), ru);
				r = add_change(changes_of(dec), path,
				               "removed (refers to withheld)", NULL);
				json_array_remove(refs, j);
			} else {
				j++;
			}
		}
	}
	if (r != 0)
		goto oom;
	if (rb.len > 0 && rb.buf[rb.len - 1] != ')') {
		/* drop the event's own " -> allow..." so the summary ends the chain */
		char *arrow = strstr(rb.buf, " -> allow");
		if (arrow)
			*arrow = '\0';
	}
	{
		size_t n = strlen(rb.buf) + 200;
		char *nr = malloc(n);
		if (!nr)
			goto oom;
		set_rule(dec, nr);
		snprintf(nr, n, "%s; %zu of %zu attributes withheld, %zu changed -> %s", rb.buf,
		         w.nremoved, w.nseen, w.nchanged,
		         json_array_size(dec->changes) ? "allow with changes" : "allow");
	}
	dec->v = json_array_size(dec->changes) ? SL_POLICY_ALLOW_CHANGED : SL_POLICY_ALLOW;
	dec->obj = out;
	out = NULL;
	goto done;
oom:
	sl_policy_decision_free(dec);
	dec = NULL;
	sl_err_set(err, SL_ENOMEM, ef && ef->id ? ef->id : "event", "out of memory");
done:
	json_decref(w.removed);
	json_decref(out);
	free(act);
	sl_policy_facts_free(ef);
	return dec;
}
