/* cmd_ledger.c — `sluice ledger`: placeholder until its module lands; refuses to run. */
#include <stdio.h>

#include "cmd.h"

int sl_cmd_ledger(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice ledger: not built yet\n");
	return 2;
}
