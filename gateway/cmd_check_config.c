/* cmd_check_config.c — `sluice check-config [--allow-missing-secrets] FILE`: load and validate a
 * sluice.conf, print "configuration OK" and a summary (secrets only as (set)/(missing)), or the
 * first error as FILE:LINE: message. Exit 0 valid, 1 invalid, 2 usage. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "log.h"

static const char *secret_state(bool configured, const char *value)
{
	if (!configured)
		return "(none)";
	return value ? "(set)" : "(missing)";
}

/* A DSN may carry password=...; print everything else. */
static void print_dsn(const char *dsn)
{
	const char *p = dsn;

	while (*p) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);

		if (strncmp(p, "password=", 9) == 0)
			fputs("password=(set)", stdout);
		else
			fwrite(p, 1, len, stdout);
		p += len;
		while (*p == ' ')
			putchar(*p++);
	}
}

/* A URL may carry user:password@; print it without. */
static void print_url(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	const char *at = strchr(host, '@'), *slash = strchr(host, '/');

	if (at && (!slash || at < slash)) {
		fwrite(url, 1, (size_t)(host - url), stdout);
		fputs("(credentials)@", stdout);
		fputs(at + 1, stdout);
	} else {
		fputs(url, stdout);
	}
}

static void print_list(const char *name, const struct sl_strlist *l)
{
	size_t i;

	if (l->n == 0)
		return;
	printf(" %s=", name);
	for (i = 0; i < l->n; i++)
		printf("%s%s", i ? "," : "", l->v[i]);
}

static void print_summary(const struct sl_config *cfg)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	const struct sl_config_limits *lim = sl_config_limits(cfg);
	const struct sl_config_taxii *t = sl_config_taxii(cfg);
	size_t i;

	printf("configuration OK: %s\n", sl_config_path(cfg));
	printf("ledger_dsn: ");
	if (sl_config_db_dsn(cfg) && strstr(sl_config_db_dsn(cfg), "://"))
		print_url(sl_config_db_dsn(cfg)); /* postgresql://user:secret@host/db */
	else if (sl_config_db_dsn(cfg))
		print_dsn(sl_config_db_dsn(cfg));
	else
		printf("(not set)");
	printf("\nlog_level: %s\n", levels[sl_config_log_level(cfg) & 3]);
	printf("policy_file: %s\n",
	       sl_config_policy_file(cfg) ? sl_config_policy_file(cfg) : "(not set)");
	printf("limits: max_body_bytes=%zu max_json_depth=%u batch_size=%u max_transfers=%u\n",
	       lim->max_body_bytes, lim->max_json_depth, lim->batch_size, lim->max_transfers);
	if (t->enabled) {
		printf("taxii_server: listen=%s:%u tls=%s client_certs=%s max_page_size=%u "
		       "partners=%zu\n",
		       t->listen_host, t->listen_port, t->tls_cert ? "on" : "off",
		       t->tls_client_ca ? "required" : "no", t->max_page_size, t->npartners);
		for (i = 0; i < t->npartners; i++) {
			const struct sl_config_partner *p = &t->partners[i];

			printf("  partner \"%s\": user=%s password=%s", p->name, p->user,
			       secret_state(true, p->password));
			print_list("collections", &p->collections);
			putchar('\n');
		}
	} else {
		printf("taxii_server: (disabled)\n");
	}
	printf("peers: %zu\n", sl_config_npeers(cfg));
	for (i = 0; i < sl_config_npeers(cfg); i++) {
		const struct sl_config_peer *p = sl_config_peer(cfg, i);

		printf("  peer \"%s\": kind=%s direction=%s url=", p->name,
		       sl_config_peer_kind_name(p->kind), sl_config_direction_name(p->direction));
		print_url(p->url);
		printf(" api_key=%s tls_verify=%s poll_interval=%us timeout=%us max_body_bytes=%zu",
		       secret_state(p->api_key_configured, p->api_key),
		       p->insecure_skip_verify ? "OFF" : "on", p->poll_interval_s, p->timeout_s,
		       p->max_body_bytes);
		print_list("collections", &p->collections);
		print_list("tags_include", &p->tags_include);
		print_list("tags_exclude", &p->tags_exclude);
		putchar('\n');
		if (p->insecure_skip_verify)
			printf("  warning: peer \"%s\" has insecure_skip_verify = true: its TLS "
			       "certificate is not checked\n",
			       p->name);
	}
}

int sl_cmd_check_config(int argc, char **argv)
{
	unsigned flags = SL_CONFIG_STRICT;
	const char *path = NULL;
	struct sl_config *cfg;
	struct sl_err err;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: sluice check-config [--allow-missing-secrets] [-c] FILE\n\n"
			       "Validate a sluice.conf and print a summary; secrets are shown only "
			       "as\n"
			       "(set) or (missing). --allow-missing-secrets reports unreadable "
			       "secret\n"
			       "files and unset environment variables as (missing) instead of "
			       "failing.\n"
			       "Exit status: 0 valid, 1 invalid, 2 usage.\n");
			return 0;
		} else if (strcmp(argv[i], "--allow-missing-secrets") == 0) {
			flags |= SL_CONFIG_ALLOW_MISSING_SECRETS;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc && !path) {
			path = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return sl_cmd_usage_error("check-config", "unknown option '%s'", argv[i]);
		} else if (!path) {
			path = argv[i];
		} else {
			return sl_cmd_usage_error("check-config", "more than one file given");
		}
	}
	if (!path)
		return sl_cmd_usage_error("check-config", "no configuration file given");
	cfg = sl_config_load(path, flags, &err);
	if (!cfg) {
		fprintf(stderr, "sluice check-config: %s: %s\n", err.where[0] ? err.where : path,
		        err.msg);
		return 1;
	}
	print_summary(cfg);
	sl_config_unref(cfg);
	return 0;
}
