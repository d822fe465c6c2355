/* policy_impl.h — private to policies/: the parsed destination, shared by policy.c (which fills it)
 * and decision.c (which reads it). Callers outside policies/ use policy.h and decision.h only. */
#ifndef SL_POLICY_IMPL_H
#define SL_POLICY_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "gdpr.h"
#include "tlp.h"

enum sl_dest_kind { SL_DEST_MISP, SL_DEST_OPENCTI, SL_DEST_TAXII, SL_DEST_TAXII_COLLECTION };

struct sl_strlist {
	char **v;
	size_t n;
};

struct sl_policy_dest {
	struct sl_policy *owner;
	char *name;
	enum sl_dest_kind kind;
	int own_org;
	enum sl_tlp max_tlp;    /* CLEAR, GREEN or AMBER */
	int allow_amber_strict; /* only with own_org */
	enum sl_tlp unmarked;   /* SL_TLP_NONE = deny objects without TLP, else the level assumed */
	unsigned dist_mask;     /* bit n set: MISP distribution level n (0..3) accepted */
	struct sl_strlist sharing_groups; /* uuids of sharing groups it is a member of */
	char *org_uuid; /* the organisation it represents (MISP sharing-group orgs) */
	char *server;   /* its MISP server URL or name (MISP sharing-group servers) */
	struct sl_strlist allow_tags, deny_tags, allow_types, deny_types, allow_orgs, deny_orgs;
	enum sl_gdpr_action gdpr[SL_GDPR_NCAT];
	unsigned char *key; /* HMAC key for pseudonyms (NULL when no action pseudonymises) */
	size_t keylen;
	long retention_days; /* 0 = no limit */
	char *rule_prefix;   /* "destination NAME: max_tlp ...", the start of every rule chain */
	/* fast verdicts: the tag/type/org lists as bits of the policy's interned patterns, and the
	 * personal-data categories it drops / changes (bit per enum sl_gdpr_cat) */
	const struct sl_policy_intern *in; /* NULL: too many patterns, verdicts use the lists */
	uint64_t deny_tag_m, allow_tag_m, deny_type_m, allow_type_m, deny_org_m, allow_org_m;
	unsigned drop_cats, change_cats;
};

#define SL_INTERN_MAX 64

/* Every distinct tag, type and org pattern of all destinations, so an object's matches are
 * computed once per object (a bit each) instead of once per destination. */
struct sl_policy_intern {
	const char *tag[SL_INTERN_MAX], *type[SL_INTERN_MAX], *org[SL_INTERN_MAX];
	size_t ntag, ntype, norg;
};

struct sl_policy {
	struct sl_policy_dest *dests;
	size_t ndests;
	unsigned char *key; /* top-level hmac_key_file, for audit hashes */
	size_t keylen;
	struct sl_policy_intern in;
	size_t refs; /* 1 for the caller of sl_policy_load, 1 per sl_policy_hold */
	/* verdict classes (decision.c) kept from one sl_policy_decide_bundle_all call to the next:
	 * the same kinds of objects come bundle after bundle */
	pthread_mutex_t classes_mu;
	struct cls **classes;
	size_t classes_cap, classes_n;
	/* the last bundle's block of facts and rows (decision.c), kept for the next bundle under
	 * classes_mu: freeing a block this large made malloc consolidate its free lists, and a new
	 * one cost fresh pages, once per bundle */
	void *spare_block;
	size_t spare_size;
};

/* Drop the class cache (decision.c), when the policy is freed. */
void sl_policy_classes_clear(struct sl_policy *p);
/* Free the spare block (decision.c), when the policy is freed. */
void sl_policy_spare_free(struct sl_policy *p);

/* Keep d's policy alive until a matching sl_policy_free (a decision that builds its rule chain
 * later holds it this way). */
void sl_policy_hold(const struct sl_policy_dest *d);

/* Fill p->in and each destination's masks (decision.c); destinations keep in = NULL when the
 * patterns do not fit, and are then decided from their lists. */
void sl_policy_intern_build(struct sl_policy *p);

const char *sl_policy_kind_name(enum sl_dest_kind k);

#endif
