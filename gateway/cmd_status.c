/* cmd_status.c — `sluice status [--json] -c FILE`: what the sync daemon last did for each peer,
 * read from the ledger (cursor, last good pull and push, lag, last errors, outbox queue per
 * destination) and the ledger's totals. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd.h"
#include "config.h"
#include "ledger.h"
#include "sync.h"

static const char usage_text[] =
    "usage: sluice status [--json] -c FILE\n"
    "\n"
    "For every peer of FILE: its pull cursor, the last successful pull and push, the pull lag\n"
    "(seconds since the last successful pull), the last pull and push errors (as recorded by\n"
    "`sluice run` in the ledger) and, as a destination, its outbox queue: pending, failed (to be\n"
    "retried), parked (refused for good), blocked (by policy) and the age of the oldest pending\n"
    "row. Then the ledger's totals.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE  sluice.conf (needs ledger_dsn)\n"
    "      --json         one JSON document instead of text\n"
    "  -h, --help         this text\n";

static const char *const notes[] = {"pull-ok", "pull-error", "push-ok", "push-error"};

/* {"at": "<ISO time>", "msg": ...} from "<epoch> <msg>", or null when never recorded; *epoch
 * (may be NULL) gets the time. */
static json_t *note_json(struct sl_ledger *l, const char *peer, const char *what, time_t *epoch)
{
	char stream[64], pos[1024], at[32];
	struct sl_err err = {0};
	char *sp;
	time_t t;
	struct tm tm;

	snprintf(stream, sizeof(stream), "sync:%s", what);
	if (sl_ledger_cursor_get(l, peer, stream, pos, sizeof(pos), &err) < 0)
		return json_null();
	t = (time_t)strtoll(pos, &sp, 10);
	if (epoch)
		*epoch = t;
	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:s}", "at", at, "msg", *sp == ' ' ? sp + 1 : sp);
}

int sl_cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
	                                         {"json", no_argument, NULL, 'j'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {0}};
	const char *path = NULL;
	struct sl_config *cfg;
	struct sl_ledger *l = NULL;
	struct sl_ledger_stats st;
	struct sl_ledger_depth *depth = NULL;
	size_t ndepth = 0;
	struct sl_err err = {0};
	json_t *out = NULL, *peers;
	int c, as_json = 0, rc = 1;
	size_t i, k;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'j')
			as_json = 1;
		else if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		} else
			return sl_cmd_usage_error("status", "unknown option");
	}
	if (!path || optind != argc)
		return sl_cmd_usage_error("status", "-c FILE is required and nothing else");
	cfg = sl_config_load(path, SL_CONFIG_ALLOW_MISSING_SECRETS, &err);
	if (!cfg) {
		fprintf(stderr, "sluice status: %s: %s\n", err.where, err.msg);
		return 1;
	}
	if (!sl_config_db_dsn(cfg)) {
		fprintf(stderr, "sluice status: %s: ledger_dsn is not set\n", path);
		goto done;
	}
	l = sl_ledger_open(sl_config_db_dsn(cfg), &err);
	if (!l || sl_ledger_stats(l, &st, &err) < 0 ||
	    sl_ledger_outbox_depth(l, &depth, &ndepth, &err) < 0) {
		fprintf(stderr, "sluice status: ledger: %s: %s\n", err.where, err.msg);
		goto done;
	}
	peers = json_array();
	for (i = 0; i < sl_config_npeers(cfg); i++) {
		const struct sl_config_peer *p = sl_config_peer(cfg, i);
		char cur[SL_SYNC_CURSOR_MAX];
		json_t *row = json_pack("{s:s,s:s,s:s}", "name", p->name, "kind",
		                        sl_config_peer_kind_name(p->kind), "direction",
		                        sl_config_direction_name(p->direction));
		memset(&err, 0, sizeof(err));
		json_object_set_new(
		    row, "cursor",
		    sl_ledger_cursor_get(l, p->name, SL_SYNC_STREAM, cur, sizeof(cur), &err) == 0
		        ? json_string(cur)
		        : json_null());
		time_t ok = 0;
		const struct sl_ledger_depth *dp = NULL;
		for (k = 0; k < sizeof(notes) / sizeof(notes[0]); k++)
			json_object_set_new(row, notes[k],
			                    note_json(l, p->name, notes[k], k == 0 ? &ok : NULL));
		/* lag: how long since this peer was last read through */
		json_object_set_new(row, "lag_s",
		                    ok ? json_integer((json_int_t)(time(NULL) - ok)) : json_null());
		for (k = 0; k < ndepth; k++)
			if (strcmp(depth[k].destination, p->name) == 0)
				dp = &depth[k];
		json_object_set_new(row, "queue",
		                    json_pack("{s:I,s:I,s:I,s:I,s:o}", "pending",
		                              (json_int_t)(dp ? dp->pending : 0), "failed",
		                              (json_int_t)(dp ? dp->failed : 0), "parked",
		                              (json_int_t)(dp ? dp->parked : 0), "blocked",
		                              (json_int_t)(dp ? dp->blocked : 0),
		                              "oldest_pending_s",
		                              dp && dp->oldest_pending_s >= 0
		                                  ? json_integer((json_int_t)dp->oldest_pending_s)
		                                  : json_null()));
		json_array_append_new(peers, row);
	}
	out = json_pack("{s:o,s:{s:I,s:I,s:I,s:i}}", "peers", peers, "ledger", "outbox_pending",
	                (json_int_t)st.outbox_pending, "quarantined", (json_int_t)st.quarantined,
	                "versions", (json_int_t)st.versions, "schema_version", st.schema_version);
	if (as_json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		json_t *row;
		json_array_foreach(peers, i, row)
		{
			printf("peer %s (%s, %s)\n",
			       json_string_value(json_object_get(row, "name")),
			       json_string_value(json_object_get(row, "kind")),
			       json_string_value(json_object_get(row, "direction")));
			printf("  cursor      %s\n",
			       json_is_string(json_object_get(row, "cursor"))
			           ? json_string_value(json_object_get(row, "cursor"))
			           : "-");
			{
				const json_t *q = json_object_get(row, "queue");
				const json_t *lag = json_object_get(row, "lag_s");
				const json_t *old = json_object_get(q, "oldest_pending_s");
				if (json_is_integer(lag))
					printf("  lag         %" JSON_INTEGER_FORMAT " s\n",
					       json_integer_value(lag));
				else
					printf("  lag         - (never pulled through)\n");
				printf("  queue       %" JSON_INTEGER_FORMAT
				       " pending, %" JSON_INTEGER_FORMAT
				       " failed, %" JSON_INTEGER_FORMAT
				       " parked, %" JSON_INTEGER_FORMAT " blocked",
				       json_integer_value(json_object_get(q, "pending")),
				       json_integer_value(json_object_get(q, "failed")),
				       json_integer_value(json_object_get(q, "parked")),
				       json_integer_value(json_object_get(q, "blocked")));
				if (json_is_integer(old))
					printf("; oldest pending %" JSON_INTEGER_FORMAT " s\n",
					       json_integer_value(old));
				else
					printf("\n");
			}
			for (k = 0; k < sizeof(notes) / sizeof(notes[0]); k++) {
				const json_t *n = json_object_get(row, notes[k]);
				if (json_is_object(n))
					printf("  %-11s %s %s\n", notes[k],
					       json_string_value(json_object_get(n, "at")),
					       json_string_value(json_object_get(n, "msg")));
				else
					printf("  %-11s -\n", notes[k]);
			}
		}
		printf(
		    "ledger: %lld outbox rows queued (pending or failed, all destinations), %lld "
		    "quarantined, %lld versions\n",
		    (long long)st.outbox_pending, (long long)st.quarantined,
		    (long long)st.versions);
	}
	rc = 0;
done:
	json_decref(out);
	sl_ledger_outbox_depth_free(depth);
	sl_ledger_close(l);
	sl_config_unref(cfg);
	return rc;
}
