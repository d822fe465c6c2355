/* cmd_policy.c — `sluice policy`: validate a sharing policy file, and explain what a policy decides
 * for each object of a STIX bundle/object or MISP event file, per destination, with the rule chain.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "decision.h"
#include "json.h"
#include "policy.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sluice policy check FILE\n"
	    "       sluice policy explain INPUT --policy FILE [--destination NAME] [--now EPOCH]\n"
	    "                             [--json] [--emit]\n\n"
	    "check    validate a policy file; prints 'policy OK: N destinations' or the errors "
	    "(file:line)\n"
	    "explain  decide every object of INPUT (a STIX bundle or object, or a MISP event, '-' "
	    "= stdin)\n"
	    "         for one destination (default: each in the policy) and print the decision and "
	    "rule chain\n\n"
	    "options:\n"
	    "  --policy FILE        the policy file\n"
	    "  --destination NAME   only this destination\n"
	    "  --now EPOCH          the clock for retention (default: now)\n"
	    "  --json               one audit row per decision (JSON lines), as the ledger stores "
	    "them\n"
	    "  --emit               also print what would be sent (the transformed bundle or "
	    "event)\n"
	    "  -h, --help           this help\n");
}

static int cmd_check(int argc, char **argv)
{
	struct sl_policy *p = NULL;
	struct sl_err err;

	if (argc != 2)
		return sl_cmd_usage_error("policy", "check takes exactly one FILE");
	if (sl_policy_load(argv[1], &p, &err) != 0) {
		fprintf(stderr, "%s: %s\n", err.where, err.msg);
		return 1;
	}
	printf("policy OK: %zu destinations\n", sl_policy_dest_count(p));
	sl_policy_free(p);
	return 0;
}

static void print_decision(const struct sl_policy_decision *dec, int as_json)
{
	const json_t *ch = sl_policy_decision_changes(dec), *c;
	size_t i;

	if (as_json) {
		json_t *row = sl_policy_decision_to_json(dec);
		char *s = row ? json_dumps(row, JSON_COMPACT) : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(row);
		return;
	}
	printf("%s  %s\n    %s\n", sl_policy_decision_object_id(dec),
	       sl_policy_verdict_name(sl_policy_decision_verdict(dec)),
	       sl_policy_decision_rule(dec));
	json_array_foreach(sl_policy_decision_items(dec), i, c)
	{
		printf("  attribute %s  %s\n      %s\n",
		       json_string_value(json_object_get(c, "id")),
		       json_string_value(json_object_get(c, "decision")),
		       json_string_value(json_object_get(c, "rule")));
	}
	json_array_foreach(ch, i, c)
	{
		const char *cat = json_string_value(json_object_get(c, "category"));
		const char *rule = json_string_value(json_object_get(c, "rule"));
		printf("    change: %s: %s%s%s%s%s\n",
		       json_string_value(json_object_get(c, "path")),
		       json_string_value(json_object_get(c, "action")), cat ? " " : "",
		       cat ? cat : "", rule ? " — " : "", rule ? rule : "");
	}
}

static void emit(const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	if (s)
		printf("%s\n", s);
	free(s);
}

static int explain_one(const struct sl_policy_dest *d, const json_t *in, long long now, int as_json,
                       int do_emit)
{
	struct sl_err err;
	const char *type = json_string_value(json_object_get(in, "type"));

	if (!as_json)
		printf("== destination %s\n", sl_policy_dest_name(d));
	if (type && strcmp(type, "bundle") == 0) {
		struct sl_policy_decision **decs = NULL;
		json_t *out = NULL;
		size_t n = 0, i;
		if (sl_policy_decide_bundle(d, in, now, &out, &decs, &n, &err) != 0) {
			fprintf(stderr, "sluice policy: %s: %s\n", err.where, err.msg);
			return 1;
		}
		for (i = 0; i < n; i++)
			print_decision(decs[i], as_json);
		if (do_emit)
			emit(out);
		sl_policy_decisions_free(decs, n);
		json_decref(out);
		return 0;
	}
	if (type) {
		struct sl_policy_decision *dec = sl_policy_decide_stix(d, in, NULL, now, &err);
		if (!dec) {
			fprintf(stderr, "sluice policy: %s: %s\n", err.where, err.msg);
			return 1;
		}
		print_decision(dec, as_json);
		if (do_emit)
			emit(sl_policy_decision_object(dec));
		sl_policy_decision_free(dec);
		return 0;
	}
	if (json_object_get(in, "Event") || json_object_get(in, "Attribute") ||
	    json_object_get(in, "info")) {
		struct sl_policy_decision *dec = sl_policy_decide_misp_event(d, in, now, &err);
		if (!dec) {
			fprintf(stderr, "sluice policy: %s: %s\n", err.where, err.msg);
			return 1;
		}
		print_decision(dec, as_json);
		if (do_emit)
			emit(sl_policy_decision_object(dec));
		sl_policy_decision_free(dec);
		return 0;
	}
	if (json_is_array(json_object_get(in, "response"))) {
		const json_t *e;
		size_t i;
		int rc = 0;
		json_array_foreach(json_object_get(in, "response"), i, e)
		{
			struct sl_policy_decision *dec =
			    sl_policy_decide_misp_event(d, e, now, &err);
			if (!dec) {
				fprintf(stderr, "sluice policy: event %zu: %s: %s\n", i, err.where,
				        err.msg);
				rc = 1;
				continue;
			}
			print_decision(dec, as_json);
			if (do_emit)
				emit(sl_policy_decision_object(dec));
			sl_policy_decision_free(dec);
		}
		return rc;
	}
	fprintf(stderr, "sluice policy: input is neither a STIX bundle/object nor a MISP event\n");
	return 1;
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"destination", required_argument, NULL, 'd'},
	    {"now", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"emit", no_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *policy = NULL, *dest = NULL, *input;
	long long now = (long long)time(NULL);
	int as_json = 0, do_emit = 0, c, rc = 0;
	struct sl_policy *p = NULL;
	struct sl_err err;
	char *buf = NULL, *end;
	size_t len = 0, i;
	json_t *in;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy = optarg;
			break;
		case 'd':
			dest = optarg;
			break;
		case 'n':
			now = strtoll(optarg, &end, 10);
			if (*end || end == optarg)
				return sl_cmd_usage_error(
				    "policy", "--now takes epoch seconds, not '%s'", optarg);
			break;
		case 'j':
			as_json = 1;
			break;
		case 'e':
			do_emit = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return sl_cmd_usage_error("policy", "unknown option");
		}
	}
	if (optind != argc - 1)
		return sl_cmd_usage_error("policy", "explain takes exactly one INPUT file");
	if (!policy)
		return sl_cmd_usage_error("policy", "explain needs --policy FILE");
	input = argv[optind];
	if (sl_policy_load(policy, &p, &err) != 0) {
		fprintf(stderr, "%s: %s\n", err.where, err.msg);
		return 1;
	}
	if (dest && !sl_policy_dest_find(p, dest)) {
		fprintf(stderr, "sluice policy: no destination '%s' in %s\n", dest, policy);
		sl_policy_free(p);
		return 1;
	}
	if (sl_json_slurp(input, SL_JSON_DEFAULT_MAX_BYTES, &buf, &len, &err) != 0 ||
	    !(in = sl_json_parse(buf, len, NULL, input, &err))) {
		fprintf(stderr, "sluice policy: %s: %s\n", err.where, err.msg);
		free(buf);
		sl_policy_free(p);
		return 1;
	}
	free(buf);
	for (i = 0; i < sl_policy_dest_count(p); i++) {
		const struct sl_policy_dest *d = sl_policy_dest_at(p, i);
		if (dest && strcmp(dest, sl_policy_dest_name(d)) != 0)
			continue;
		rc |= explain_one(d, in, now, as_json, do_emit);
	}
	json_decref(in);
	sl_policy_free(p);
	return rc;
}

int sl_cmd_policy(int argc, char **argv)
{
	if (argc < 2)
		return sl_cmd_usage_error("policy", "missing subcommand (check or explain)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	return sl_cmd_usage_error("policy", "unknown subcommand '%s'", argv[1]);
}
