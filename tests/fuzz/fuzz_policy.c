/* fuzz_policy.c — the policy file (libconfuse syntax): parse and validate, never crash. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/sl-fuzz-policy-XXXXXX";
	struct sl_policy *p = NULL;
	struct sl_err err;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size && sl_policy_load(path, &p, &err) == 0)
		sl_policy_free(p);
	close(fd);
	unlink(path);
	return 0;
}
