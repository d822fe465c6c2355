/* misp_types.h — the MISP attribute-type table: how misp-stix maps each type (observable + pattern,
 * indicator only, detection rule, SDO, or not at all) and MISP's default to_ids for it. */
#ifndef SL_MISP_TYPES_H
#define SL_MISP_TYPES_H

enum sl_mtype_kind {
	SL_MT_UNMAPPED = 0, /* x-misp-attribute + a warning */
	SL_MT_OBSERVABLE,   /* observed-data + SCOs, and an indicator when to_ids */
	SL_MT_INDICATOR,    /* indicator when to_ids, else x-misp-attribute */
	SL_MT_RULE,         /* indicator whose pattern_type is the rule language */
	SL_MT_VULN,         /* vulnerability SDO */
	SL_MT_CAMPAIGN,     /* campaign SDO */
};

struct sl_mtype {
	const char *name;
	enum sl_mtype_kind kind;
	int to_ids_default;
	const char *hash_sco; /* hash types: the key in file/x509 "hashes" */
	const char *hash_pat; /* hash types: the key as written in patterns */
};

/* The entry for a MISP type, or NULL when the type is unknown (treated as SL_MT_UNMAPPED). */
const struct sl_mtype *sl_mtype_get(const char *name);
/* Hash entry for a hash algorithm name as used in MISP types ("md5", "sha3-256", ...), or NULL. */
const struct sl_mtype *sl_mtype_hash(const char *algo);

#endif
