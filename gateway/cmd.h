/* cmd.h — sluice's subcommands. Each takes the arguments after its name (argv[0] is the subcommand)
 * and returns the process exit code: 0 ok, 1 the work failed (bad input, unreachable peer), 2 usage. */
#ifndef SL_CMD_H
#define SL_CMD_H

struct sl_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int sl_cmd_map(int argc, char **argv);
int sl_cmd_ledger(int argc, char **argv);
int sl_cmd_policy(int argc, char **argv);
int sl_cmd_check_config(int argc, char **argv);
int sl_cmd_feed(int argc, char **argv);
int sl_cmd_demo(int argc, char **argv);
int sl_cmd_gdpr(int argc, char **argv);
int sl_cmd_run(int argc, char **argv);
int sl_cmd_status(int argc, char **argv);

/* Print "sluice <cmd>: <msg>" to stderr and return 2, for usage errors. */
int sl_cmd_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

#endif
