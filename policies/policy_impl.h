/* policy_impl.h — private to policies/: the parsed destination, shared by policy.c (which fills it)
 * and decision.c (which reads it). Callers outside policies/ use policy.h and decision.h only. */
#ifndef SL_POLICY_IMPL_H
#define SL_POLICY_IMPL_H

#include <stddef.h>

#include "gdpr.h"
#include "tlp.h"

enum sl_dest_kind { SL_DEST_MISP, SL_DEST_OPENCTI, SL_DEST_TAXII, SL_DEST_TAXII_COLLECTION };

struct sl_strlist {
	char **v;
	size_t n;
};

struct sl_policy_dest {
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
};

struct sl_policy {
	struct sl_policy_dest *dests;
	size_t ndests;
	unsigned char *key; /* top-level hmac_key_file, for audit hashes */
	size_t keylen;
};

const char *sl_policy_kind_name(enum sl_dest_kind k);

#endif
