/* misp_types.c — the MISP attribute-type table (bsearch over a sorted array). */
#include "misp_types.h"

#include <stdlib.h>
#include <string.h>

#define OBS SL_MT_OBSERVABLE
#define IND SL_MT_INDICATOR
#define RULE SL_MT_RULE

/* Sorted by name (strcmp order); checked once by a unit test. */
static const struct sl_mtype types[] = {
    {"AS", OBS, 0, NULL, NULL},
    {"attachment", OBS, 0, NULL, NULL},
    {"authentihash", OBS, 1, "AUTHENTIHASH", "AUTHENTIHASH"},
    {"campaign-name", SL_MT_CAMPAIGN, 0, NULL, NULL},
    {"domain", OBS, 1, NULL, NULL},
    {"domain|ip", OBS, 1, NULL, NULL},
    {"email", OBS, 1, NULL, NULL},
    {"email-attachment", OBS, 1, NULL, NULL},
    {"email-body", OBS, 0, NULL, NULL},
    {"email-dst", OBS, 1, NULL, NULL},
    {"email-header", OBS, 0, NULL, NULL},
    {"email-message-id", OBS, 0, NULL, NULL},
    {"email-reply-to", OBS, 0, NULL, NULL},
    {"email-src", OBS, 1, NULL, NULL},
    {"email-subject", OBS, 0, NULL, NULL},
    {"email-x-mailer", OBS, 0, NULL, NULL},
    {"filename", OBS, 1, NULL, NULL},
    {"filename|authentihash", OBS, 1, "AUTHENTIHASH", "AUTHENTIHASH"},
    {"filename|imphash", OBS, 1, "IMPHASH", "IMPHASH"},
    {"filename|md5", OBS, 1, "MD5", "MD5"},
    {"filename|pehash", OBS, 1, "PEHASH", "PEHASH"},
    {"filename|sha1", OBS, 1, "SHA-1", "'SHA-1'"},
    {"filename|sha224", OBS, 1, "SHA224", "'SHA-224'"},
    {"filename|sha256", OBS, 1, "SHA-256", "'SHA-256'"},
    {"filename|sha3-224", OBS, 1, "SHA3224", "'SHA3-224'"},
    {"filename|sha3-256", OBS, 1, "SHA3-256", "'SHA3-256'"},
    {"filename|sha3-384", OBS, 1, "SHA3384", "'SHA3-384'"},
    {"filename|sha3-512", OBS, 1, "SHA3-512", "'SHA3-512'"},
    {"filename|sha384", OBS, 1, "SHA384", "'SHA-384'"},
    {"filename|sha512", OBS, 1, "SHA-512", "'SHA-512'"},
    {"filename|sha512/224", OBS, 1, "SHA224", "'SHA-224'"},
    {"filename|sha512/256", OBS, 1, "SHA-256", "'SHA-256'"},
    {"filename|ssdeep", OBS, 1, "SSDEEP", "SSDEEP"},
    {"filename|tlsh", OBS, 1, "TLSH", "TLSH"},
    {"filename|vhash", OBS, 1, "VHASH", "VHASH"},
    {"github-username", OBS, 0, NULL, NULL},
    {"hostname", OBS, 1, NULL, NULL},
    {"hostname|port", OBS, 1, NULL, NULL},
    {"http-method", IND, 0, NULL, NULL},
    {"imphash", OBS, 1, "IMPHASH", "IMPHASH"},
    {"ip-dst", OBS, 1, NULL, NULL},
    {"ip-dst|port", OBS, 1, NULL, NULL},
    {"ip-src", OBS, 1, NULL, NULL},
    {"ip-src|port", OBS, 1, NULL, NULL},
    {"link", OBS, 0, NULL, NULL},
    {"mac-address", OBS, 0, NULL, NULL},
    {"malware-sample", OBS, 1, NULL, NULL},
    {"md5", OBS, 1, "MD5", "MD5"},
    {"mutex", OBS, 1, NULL, NULL},
    {"pehash", OBS, 1, "PEHASH", "PEHASH"},
    {"port", IND, 0, NULL, NULL},
    {"regkey", OBS, 1, NULL, NULL},
    {"regkey|value", OBS, 1, NULL, NULL},
    {"sha1", OBS, 1, "SHA-1", "'SHA-1'"},
    {"sha224", OBS, 1, "SHA224", "'SHA-224'"},
    {"sha256", OBS, 1, "SHA-256", "'SHA-256'"},
    {"sha3-224", OBS, 1, "SHA3224", "'SHA3-224'"},
    {"sha3-256", OBS, 1, "SHA3-256", "'SHA3-256'"},
    {"sha3-384", OBS, 1, "SHA3384", "'SHA3-384'"},
    {"sha3-512", OBS, 1, "SHA3-512", "'SHA3-512'"},
    {"sha384", OBS, 1, "SHA384", "'SHA-384'"},
    {"sha512", OBS, 1, "SHA-512", "'SHA-512'"},
    {"sha512/224", OBS, 1, "SHA224", "'SHA-224'"},
    {"sha512/256", OBS, 1, "SHA-256", "'SHA-256'"},
    {"sigma", RULE, 1, NULL, NULL},
    {"size-in-bytes", IND, 0, NULL, NULL},
    {"snort", RULE, 1, NULL, NULL},
    {"ssdeep", OBS, 1, "SSDEEP", "SSDEEP"},
    {"suricata", RULE, 1, NULL, NULL},
    {"telfhash", OBS, 1, "TELFHASH", "TELFHASH"},
    {"tlsh", OBS, 1, "TLSH", "TLSH"},
    {"uri", OBS, 1, NULL, NULL},
    {"url", OBS, 1, NULL, NULL},
    {"user-agent", IND, 0, NULL, NULL},
    {"vhash", OBS, 1, "VHASH", "VHASH"},
    {"vulnerability", SL_MT_VULN, 0, NULL, NULL},
    {"x509-fingerprint-md5", OBS, 1, "MD5", "MD5"},
    {"x509-fingerprint-sha1", OBS, 1, "SHA-1", "'SHA-1'"},
    {"x509-fingerprint-sha256", OBS, 1, "SHA-256", "'SHA-256'"},
    {"yara", RULE, 1, NULL, NULL},
};

static int cmp(const void *k, const void *e)
{
	return strcmp((const char *)k, ((const struct sl_mtype *)e)->name);
}

const struct sl_mtype *sl_mtype_get(const char *name)
{
	if (!name)
		return NULL;
	return bsearch(name, types, sizeof(types) / sizeof(types[0]), sizeof(types[0]), cmp);
}

const struct sl_mtype *sl_mtype_hash(const char *algo)
{
	const struct sl_mtype *t = sl_mtype_get(algo);

	return t && t->hash_sco ? t : NULL;
}
