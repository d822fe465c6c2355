/* misp_objects.c — MISP objects -> STIX 2.1. */
#include "misp_objects.h"

#include <stdio.h>
#include <string.h>

#include "map_ctx.h"

void sl_map_objects(struct sl_map_ctx *c, const json_t *objects)
{
	(void)c;
	(void)objects;
}
