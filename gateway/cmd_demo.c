/* cmd_demo.c — `sluice demo`: the whole pipeline on the demo feed in fixtures/demo/: ingest a MISP
 * feed, decide it for two partners with different policies, and serve each its share over
 * TAXII 2.1. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "decision.h"
#include "evloop.h"
#include "feed_source.h"
#include "http_server.h"
#include "ledger.h"
#include "log.h"
#include "pipeline.h"
#include "policy.h"
#include "taxii_server.h"
#include "taxii_store_ledger.h"
#include "taxii_store_mem.h"

#define DEMO_COLLECTION "9a6b0c1e-5d2f-4c3a-8b7e-0d1f2a3b4c5d"
#define DEMO_PEER "demo-feed"

static const char usage_text[] =
    "usage: sluice demo [--db DSN] [--feed DIR] [--policy FILE] [--listen HOST:PORT] [--no-serve]\n"
    "\n"
    "Ingest the MISP feed in DIR into the ledger, decide every object for each destination of the\n"
    "policy, and serve each destination its share over TAXII 2.1 (plain HTTP on loopback) until\n"
    "Ctrl-C. Before serving, prints one line per partner: TAXII <discovery-url> <user> "
    "<password>.\n"
    "Partners may also POST objects: they are decided for the other partner like any peer's.\n"
    "\n"
    "options:\n"
    "  --db DSN          ledger database (default: $SLUICE_DB)\n"
    "  --feed DIR        MISP feed directory (default: fixtures/demo/feed)\n"
    "  --policy FILE     sharing policy (default: fixtures/demo/demo.policy)\n"
    "  --listen H:P      TAXII listen address (default: 127.0.0.1:9021; port 0 = any)\n"
    "  --no-serve        ingest, decide and print the summary, then exit\n"
    "  --help            this text\n";

static void on_event_error(void *arg, const char *uuid, const struct sl_err *err)
{
	fprintf(stderr, "demo: event %s not taken in: %s: %s\n", uuid, err->where, err->msg);
}

/* Objects a partner POSTs take the pipeline like any peer's: ledger, provenance, and a decision for
 * every other partner (never back to the one that sent them). */
static int demo_ingest(void *arg, const char *partner, const struct sl_ledger_in *in, size_t n,
                       struct sl_ledger_result *res, struct sl_err *err)
{
	return sl_pipeline_objects(arg, partner, in, n, res, (long long)time(NULL), NULL, err);
}

static void on_stop(struct sl_evloop *loop, void *arg)
{
	fprintf(stderr, "demo: stopping\n");
	sl_evloop_stop(loop);
}

static void random_password(char out[25])
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479";
	unsigned char b[24];
	size_t i;

	if (RAND_bytes(b, sizeof(b)) != 1)
		abort(); /* no entropy: never hand out a guessable password */
	for (i = 0; i < 24; i++)
		out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
	out[24] = '\0';
}

/* What a partner can and cannot see, and why: counts per decision and the commonest reasons. */
static void print_share(struct sl_ledger *l, const char *dest)
{
	struct sl_err err;
	json_t *rows = sl_ledger_audit_list(l, dest, NULL, 1000000, &err), *row,
	       *why = json_object();
	size_t i, allow = 0, changed = 0, deny = 0;
	const char *rule;
	json_t *count;

	if (!rows) {
		fprintf(stderr, "demo: audit of %s: %s\n", dest, err.msg);
		json_decref(why);
		return;
	}
	json_array_foreach(rows, i, row)
	{
		const char *d = json_string_value(json_object_get(row, "decision"));
		const char *r = json_string_value(json_object_get(row, "rule"));
		if (!d)
			continue;
		if (strcmp(d, "allow") == 0) {
			allow++;
		} else if (strcmp(d, "allow-with-changes") == 0) {
			changed++;
		} else if (strcmp(d, "deny") == 0) {
			/* The reason is the last step of the rule chain. */
			const char *arrow = r ? strrchr(r, ';') : NULL;
			const char *reason = arrow ? arrow + 2 : (r ? r : "?");
			json_t *c = json_object_get(why, reason);
			deny++;
			json_object_set_new(why, reason,
			                    json_integer(c ? json_integer_value(c) + 1 : 1));
		}
	}
	printf("  %s: %zu objects as they are, %zu with personal data redacted or pseudonymised, "
	       "%zu withheld\n",
	       dest, allow, changed, deny);
	json_object_foreach(why, rule, count)
	    printf("    withheld x%lld: %s\n", (long long)json_integer_value(count), rule);
	json_decref(why);
	json_decref(rows);
}

static int parse_listen(const char *s, char *host, size_t hostsz, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long p;

	if (!colon || colon == s || (size_t)(colon - s) >= hostsz)
		return -1;
	p = strtoul(colon + 1, &end, 10);
	if (*end || p > 65535 || end == colon + 1)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (unsigned)p;
	return 0;
}

int sl_cmd_demo(int argc, char **argv)
{
	const char *db = getenv("SLUICE_DB"), *feed = "fixtures/demo/feed";
	const char *policy_file = "fixtures/demo/demo.policy", *listen = "127.0.0.1:9021";
	struct sl_pipeline_stats st = {0};
	struct sl_policy *policy = NULL;
	struct sl_ledger *ledger = NULL;
	struct sl_pipeline *pipe = NULL;
	struct sl_evloop *loop = NULL;
	struct sl_http_server *http = NULL;
	struct sl_taxii_store_mem *dir = NULL;
	struct sl_taxii_store_ledger *store = NULL;
	struct sl_taxii_server *taxii = NULL;
	char host[256];
	unsigned port;
	int serve = 1, rc = 1, i;
	size_t d;
	struct sl_err err;

	sl_err_clear(&err);
	for (i = 1; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(argv[i], "--no-serve") == 0) {
			serve = 0;
			continue;
		} else if (strcmp(argv[i], "--db") == 0) {
			slot = &db;
		} else if (strcmp(argv[i], "--feed") == 0) {
			slot = &feed;
		} else if (strcmp(argv[i], "--policy") == 0) {
			slot = &policy_file;
		} else if (strcmp(argv[i], "--listen") == 0) {
			slot = &listen;
		} else {
			return sl_cmd_usage_error("demo", "unknown option '%s'", argv[i]);
		}
		if (++i >= argc)
			return sl_cmd_usage_error("demo", "%s needs a value", argv[i - 1]);
		*slot = argv[i];
	}
	if (!db || !*db)
		return sl_cmd_usage_error("demo", "no database: give --db DSN or set SLUICE_DB");
	if (parse_listen(listen, host, sizeof(host), &port) < 0)
		return sl_cmd_usage_error("demo", "--listen wants HOST:PORT, got '%s'", listen);

	if (sl_policy_load(policy_file, &policy, &err) < 0)
		goto fail;
	if (!(ledger = sl_ledger_open(db, &err)) || sl_ledger_migrate(ledger, NULL, NULL, &err) < 0)
		goto fail;
	if (!(pipe = sl_pipeline_new(ledger, policy, &err)))
		goto fail;
	for (d = 0; d < sl_policy_dest_count(policy); d++)
		if (sl_pipeline_set_pull(pipe, sl_policy_dest_name(sl_policy_dest_at(policy, d)),
		                         &err) < 0)
			goto fail;

	if (sl_feed_source_sync_dir(pipe, ledger, DEMO_PEER, feed, (long long)time(NULL), &st,
	                            on_event_error, NULL, &err) < 0)
		goto fail;
	printf("sluice demo: feed %s: %zu events read (%zu refused), %zu STIX objects, %zu new "
	       "versions, %zu mapping warnings\n",
	       feed, st.events, st.failed, st.objects, st.stored, st.warnings);
	printf("sluice demo: what each partner can see, and why:\n");
	for (d = 0; d < sl_policy_dest_count(policy); d++)
		print_share(ledger, sl_policy_dest_name(sl_policy_dest_at(policy, d)));
	fflush(stdout);
	if (!serve) {
		rc = 0;
		goto done;
	}

	if (!(loop = sl_evloop_new(&err)) ||
	    sl_evloop_handle_signals(loop, on_stop, NULL, NULL, &err) < 0)
		goto fail;
	{
		struct sl_http_server_config hc = {0};
		struct sl_taxii_server_config tc = {0};
		hc.host = host;
		hc.port = (uint16_t)port;
		hc.max_body_size = 16u * 1024u * 1024u;
		if (!(http = sl_http_server_new(sl_evloop_base(loop), &hc, &err)))
			goto fail;
		dir = sl_taxii_store_mem_new();
		if (!dir || sl_taxii_store_mem_add_collection(
		                dir, DEMO_COLLECTION, "Demo feed",
		                "The demo MISP feed, as your policy allows", "demo", &err) < 0)
			goto fail;
		for (d = 0; d < sl_policy_dest_count(policy); d++) {
			const char *name = sl_policy_dest_name(sl_policy_dest_at(policy, d));
			char pw[25];
			random_password(pw);
			if (sl_taxii_store_mem_add_partner(dir, name, name, pw, NULL, &err) < 0 ||
			    sl_taxii_store_mem_grant(dir, name, DEMO_COLLECTION, true, true, &err) <
			        0)
				goto fail;
			printf("TAXII http://%s:%u/taxii2/ %s %s\n", host,
			       sl_http_server_port(http), name, pw);
		}
		if (!(store =
		          sl_taxii_store_ledger_new(ledger, sl_taxii_store_mem_ops(), dir, &err)))
			goto fail;
		sl_taxii_store_ledger_set_partner_views(store, true);
		sl_taxii_store_ledger_set_ingest(store, demo_ingest, pipe);
		if (sl_taxii_store_ledger_attach(store, sl_evloop_base(loop), &err) < 0)
			goto fail;
		tc.api_root = "api";
		tc.title = "sluice demo";
		tc.description = "Each partner sees only what its sharing policy allows";
		tc.max_content_length = 8u * 1024u * 1024u;
		if (!(taxii =
		          sl_taxii_server_new(http, &tc, sl_taxii_store_ledger_ops(), store, &err)))
			goto fail;
	}
	if (sl_policy_dest_count(policy) > 0) {
		const char *name = sl_policy_dest_name(sl_policy_dest_at(policy, 0));
		printf(
		    "try: curl -s -u %s:<password> -H 'Accept: application/taxii+json;version=2.1' "
		    "http://%s:%u/api/collections/%s/objects/\n",
		    name, host, sl_http_server_port(http), DEMO_COLLECTION);
	}
	printf("serving; Ctrl-C stops\n");
	fflush(stdout);
	rc = sl_evloop_run(loop) < 0 ? 1 : 0;
	goto done;
fail:
	fprintf(stderr, "sluice demo: %s%s%s\n", err.where, err.where[0] ? ": " : "", err.msg);
	rc = 1;
done:
	sl_taxii_server_free(taxii);
	sl_http_server_free(http);
	sl_taxii_store_ledger_free(store);
	sl_taxii_store_mem_free(dir);
	sl_evloop_free(loop);
	sl_pipeline_free(pipe);
	sl_ledger_close(ledger);
	sl_policy_free(policy);
	return rc;
}
