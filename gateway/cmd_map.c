/* cmd_map.c — `sluice map`: placeholder until its module lands; refuses to run. */
#include <stdio.h>

#include "cmd.h"

int sl_cmd_map(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice map: not built yet\n");
	return 2;
}
