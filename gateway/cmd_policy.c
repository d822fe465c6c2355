/* cmd_policy.c — `sluice policy`: placeholder until its module lands; refuses to run. */
#include <stdio.h>

#include "cmd.h"

int sl_cmd_policy(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice policy: not built yet\n");
	return 2;
}
