/* cmd_run.c — `sluice run -c FILE`: the daemon. Loads the config and the policy, opens and migrates
 * the ledger, runs the sync loop; SIGTERM/SIGINT stop it, SIGHUP reloads the config and policy. */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "evloop.h"
#include "ledger.h"
#include "log.h"
#include "serve.h"
#include "policy.h"
#include "sync.h"

static const char usage_text[] =
    "usage: sluice run -c FILE\n"
    "\n"
    "Run the sync daemon: pull every peer into the ledger, decide what each destination of the\n"
    "policy may receive, push it, and (with a taxii_server block) serve each TAXII partner what\n"
    "its policy destination of the same name allows. SIGTERM/SIGINT stop; SIGHUP reloads FILE\n"
    "and its policy (a bad new file is logged and the running one kept).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE  sluice.conf (needs ledger_dsn and policy_file)\n"
    "  -h, --help         this text\n";

struct run {
	const char *path;
	struct sl_evloop *loop;
	struct sl_ledger *ledger;
	struct sl_config *cfg;
	struct sl_policy *policy;
	struct sl_sync *sync;
	struct sl_serve *serve; /* sluice's own TAXII server, when the config has one */
};

/* Load config and policy from path; on success they replace nothing yet (the caller swaps). */
static int load(const char *path, struct sl_config **cfg, struct sl_policy **pol,
                struct sl_err *err)
{
	*pol = NULL;
	*cfg = sl_config_load(path, SL_CONFIG_STRICT, err);
	if (!*cfg)
		return err->code ? err->code : SL_EINVAL;
	if (!sl_config_db_dsn(*cfg) || !sl_config_policy_file(*cfg)) {
		sl_config_unref(*cfg);
		*cfg = NULL;
		return sl_err_set(err, SL_EINVAL, path, "ledger_dsn and policy_file are required");
	}
	if (sl_policy_load(sl_config_policy_file(*cfg), pol, err) < 0) {
		sl_config_unref(*cfg);
		*cfg = NULL;
		return err->code ? err->code : SL_EINVAL;
	}
	return 0;
}

/* Start the TAXII server of cfg (if any); a partner without a policy destination of its name
 * would see nothing, which is said. */
static int serve(struct run *r, const struct sl_config *cfg, const struct sl_policy *pol,
                 struct sl_err *err)
{
	const struct sl_config_taxii *t = sl_config_taxii(cfg);
	size_t i;

	if (sl_serve_start(sl_evloop_base(r->loop), cfg, r->ledger, &r->serve, err) < 0)
		return -1;
	if (!r->serve)
		return 0;
	for (i = 0; i < t->npartners; i++)
		if (!sl_policy_dest_find(pol, t->partners[i].name))
			sl_warn(
			    "run: TAXII partner %s has no destination of that name in the policy: "
			    "it is served nothing",
			    t->partners[i].name);
	sl_info("run: TAXII 2.1 server on %s:%u, %zu partners", t->listen_host,
	        sl_serve_port(r->serve), t->npartners);
	return 0;
}

static void on_stop(struct sl_evloop *loop, void *arg)
{
	(void)arg;
	sl_info("run: stopping");
	sl_evloop_stop(loop);
}

static void on_reload(struct sl_evloop *loop, void *arg)
{
	struct run *r = arg;
	struct sl_config *cfg;
	struct sl_policy *pol;
	struct sl_sync *sync;
	struct sl_err err = {0};

	(void)loop;
	sl_info("run: SIGHUP: reloading %s", r->path);
	if (load(r->path, &cfg, &pol, &err) < 0) {
		sl_log_err(SL_LOG_ERROR, "run: reload refused, keeping the running config", &err);
		return;
	}
	if (strcmp(sl_config_db_dsn(cfg), sl_config_db_dsn(r->cfg)) != 0)
		sl_warn("run: ledger_dsn changed: it takes effect at the next start");
	/* In-flight transfers are cancelled; their leased outbox rows come back by themselves. */
	sl_sync_free(r->sync);
	r->sync = NULL;
	sl_serve_free(r->serve); /* partners and collections may have changed too */
	r->serve = NULL;
	sync = sl_sync_new(r->loop, cfg, r->ledger, pol, NULL, &err);
	if (!sync || serve(r, cfg, pol, &err) < 0) {
		sl_sync_free(sync);
		sl_log_err(SL_LOG_ERROR, "run: reload failed, stopping", &err);
		sl_config_unref(cfg);
		sl_policy_free(pol);
		sl_evloop_stop(r->loop);
		return;
	}
	sl_config_unref(r->cfg);
	sl_policy_free(r->policy);
	r->cfg = cfg;
	r->policy = pol;
	r->sync = sync;
	sl_log_setup(stderr, (enum sl_log_level)sl_config_log_level(cfg));
	sl_info("run: reloaded");
}

int sl_cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
	struct run r = {0};
	struct sl_err err = {0};
	int c, rc = 1, from, to;

#ifdef __GLIBC__
	/* One malloc arena for the whole daemon: the ledger workers take turns with big items (a
	 * 10,000-attribute event is 100s of MB of trees while it is mapped, decided, rebuilt for
	 * MISP), and with an arena each, memory one worker freed is not reused by the next, so the
	 * peak resident set is the sum of their peaks (bench.sync: 259 MB, 162 MB with one arena).
	 * MALLOC_ARENA_MAX in the environment overrides this. */
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 1);
#endif
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c == 'c')
			r.path = optarg;
		else if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		} else
			return sl_cmd_usage_error("run", "unknown option");
	}
	if (!r.path || optind != argc)
		return sl_cmd_usage_error("run", "-c FILE is required and nothing else");
	if (load(r.path, &r.cfg, &r.policy, &err) < 0) {
		fprintf(stderr, "sluice run: %s: %s\n", err.where, err.msg);
		return 1;
	}
	sl_log_setup(stderr, (enum sl_log_level)sl_config_log_level(r.cfg));
	r.ledger = sl_ledger_open(sl_config_db_dsn(r.cfg), &err);
	if (!r.ledger || sl_ledger_migrate(r.ledger, &from, &to, &err) < 0) {
		fprintf(stderr, "sluice run: ledger: %s: %s\n", err.where, err.msg);
		goto done;
	}
	r.loop = sl_evloop_new(&err);
	if (!r.loop || sl_evloop_handle_signals(r.loop, on_stop, on_reload, &r, &err) < 0) {
		fprintf(stderr, "sluice run: %s: %s\n", err.where, err.msg);
		goto done;
	}
	r.sync = sl_sync_new(r.loop, r.cfg, r.ledger, r.policy, NULL, &err);
	if (!r.sync) {
		fprintf(stderr, "sluice run: %s: %s\n", err.where, err.msg);
		goto done;
	}
	if (serve(&r, r.cfg, r.policy, &err) < 0) {
		fprintf(stderr, "sluice run: %s: %s\n", err.where, err.msg);
		goto done;
	}
	sl_info("run: started with %zu peers, ledger schema %d", sl_config_npeers(r.cfg), to);
	rc = sl_evloop_run(r.loop) == 0 ? 0 : 1;
	sl_info("run: stopped");
done:
	sl_serve_free(r.serve);
	sl_sync_free(r.sync);
	sl_evloop_free(r.loop);
	sl_ledger_close(r.ledger);
	sl_policy_free(r.policy);
	sl_config_unref(r.cfg);
	return rc;
}
