/* cmd_gdpr.c — `sluice gdpr erase`: a right-to-erasure request. The value (or STIX id) leaves the
 * ledger's shareable content and every destination's view, revocations are queued to every
 * destination that was sent it, and the audit records it under a keyed hash only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "gdpr.h"
#include "ledger.h"

static const char usage_text[] =
    "usage: sluice gdpr erase VALUE|STIX-ID --key-file FILE [--db DSN] [--json]\n"
    "\n"
    "Erase a personal value (an email address, a name, an account...) or one STIX object from the\n"
    "ledger: stored versions holding it become tombstones, it leaves every partner's view, a "
    "revoke\n"
    "is queued for every destination that was sent it, and audit rows record the erasure with "
    "only\n"
    "HMAC-SHA256(key, value). Use the policy's hmac_key_file as FILE, so the hash matches the one\n"
    "`sluice policy` and the audit use for that value.\n"
    "\n"
    "options:\n"
    "  --key-file FILE  HMAC key (16..4096 bytes)\n"
    "  --db DSN         ledger database (default: $SLUICE_DB)\n"
    "  --json           machine-readable output\n";

int sl_cmd_gdpr(int argc, char **argv)
{
	const char *db = getenv("SLUICE_DB"), *key_file = NULL, *subject = NULL;
	struct sl_ledger_erase_result res;
	struct sl_ledger *l = NULL;
	unsigned char *key = NULL;
	char hash[SL_GDPR_HASH_HEX];
	size_t keylen = 0;
	struct sl_err err;
	int i, json = 0, rc = 1;

	if (argc < 2)
		return sl_cmd_usage_error("gdpr", "which command? (erase)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "erase") != 0)
		return sl_cmd_usage_error("gdpr", "unknown command '%s'", argv[1]);
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--key-file") == 0 || strcmp(argv[i], "--db") == 0) {
			if (i + 1 >= argc)
				return sl_cmd_usage_error("gdpr", "%s needs a value", argv[i]);
			if (argv[i][2] == 'k')
				key_file = argv[++i];
			else
				db = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return sl_cmd_usage_error("gdpr", "unknown option '%s'", argv[i]);
		} else if (subject) {
			return sl_cmd_usage_error("gdpr", "erase takes one value or id");
		} else {
			subject = argv[i];
		}
	}
	if (!subject || !*subject)
		return sl_cmd_usage_error("gdpr", "erase needs a value or STIX id");
	if (!key_file)
		return sl_cmd_usage_error("gdpr",
		                          "erase needs --key-file (the policy's hmac_key_file)");
	if (!db || !*db)
		return sl_cmd_usage_error("gdpr", "no database: give --db DSN or set SLUICE_DB");
	sl_err_clear(&err);
	if (sl_gdpr_key_load(key_file, &key, &keylen, &err) < 0)
		goto fail;
	if (!(l = sl_ledger_open(db, &err)))
		goto fail;
	if (sl_ledger_erase(l, subject, key, keylen, &res, &err) < 0)
		goto fail;
	if (sl_gdpr_keyed_hash(key, keylen, subject, hash) < 0)
		goto fail;
	/* Never echo the subject: the terminal and its scrollback are not where personal data goes.
	 */
	if (json)
		printf("{\"subject_hash\":\"%s\",\"versions\":%zu,\"revokes\":%zu,\"withdrawn\":%"
		       "zu}\n",
		       hash, res.versions, res.revokes, res.withdrawn);
	else
		printf("erased subject %s: %zu stored versions tombstoned, %zu revokes queued, %zu "
		       "versions withdrawn from partner views\n",
		       hash, res.versions, res.revokes, res.withdrawn);
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "sluice gdpr: %s%s%s\n", err.where, err.where[0] ? ": " : "", err.msg);
done:
	if (key) {
		memset(key, 0, keylen);
		free(key);
	}
	sl_ledger_close(l);
	return rc;
}
