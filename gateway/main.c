/* main.c — the sluice binary: global options and the subcommand table.
 * Everything real lives in the subcommands and the modules they call. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct sl_cmd commands[] = {
    {"map", "convert MISP events <-> STIX 2.1 bundles", sl_cmd_map},
    {"ledger", "manage and query the PostgreSQL ledger", sl_cmd_ledger},
    {"policy", "check sharing policy files and explain decisions", sl_cmd_policy},
    {"check-config", "validate a sluice.conf and exit", sl_cmd_check_config},
    {"feed", "MISP feeds: pull, publish, export, check", sl_cmd_feed},
    {"gdpr", "right-to-erasure: remove personal data and revoke it everywhere", sl_cmd_gdpr},
    {"run", "the sync daemon: pull MISP peers, apply the policy, push", sl_cmd_run},
    {"status", "what the sync daemon last did for each peer", sl_cmd_status},
    {"demo", "run the pipeline on the demo feed and serve it to demo TAXII partners", sl_cmd_demo},
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: sluice [--help] [--version] <command> [<args>]\n\n"
	             "sluice is a threat-intelligence sync and federation gateway.\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'sluice <command> --help' for a command's options.\n");
}

int sl_cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sluice %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'sluice %s --help')\n", cmd);
	return 2;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("sluice %s\n", SLUICE_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "sluice: unknown command '%s' (see 'sluice --help')\n", argv[1]);
	return 2;
}
