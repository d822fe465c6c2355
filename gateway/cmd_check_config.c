/* cmd_check_config.c — `sluice check-config`: placeholder until its module lands; refuses to run. */
#include <stdio.h>

#include "cmd.h"

int sl_cmd_check_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice check-config: not built yet\n");
	return 2;
}
