/* fuzz_config.c — sluice.conf: parse and validate, never crash. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/sl-fuzz-conf-XXXXXX";
	struct sl_config *c;
	struct sl_err err;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size &&
	    (c = sl_config_load(path, SL_CONFIG_ALLOW_MISSING_SECRETS, &err)))
		sl_config_unref(c);
	close(fd);
	unlink(path);
	return 0;
}
