/* replay.c — without libFuzzer: run the harness on every file under the given directories, then on
 * ITER seeded mutations of them (bit flips, byte changes, truncation, duplication, splices of
 * structural characters). Usage: fuzz_X [-n ITER] [-s SEED] DIR|FILE... Prints "<N> inputs" at the
 * end; a crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define MAX_INPUTS 4096
#define MAX_SIZE (4u * 1024u * 1024u)

static unsigned char *inputs[MAX_INPUTS];
static size_t sizes[MAX_INPUTS], ninputs;
static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void add_file(const char *path)
{
	FILE *f;
	long n;
	unsigned char *buf;

	if (ninputs >= MAX_INPUTS || !(f = fopen(path, "rb")))
		return;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || (size_t)n > MAX_SIZE ||
	    fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1))) {
		fclose(f);
		return;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return;
	}
	fclose(f);
	inputs[ninputs] = buf;
	sizes[ninputs++] = (size_t)n;
}

static void add_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (stat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char full[4096];
		if (de->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		add_path(full);
	}
	closedir(d);
}

static size_t mutate(unsigned char *buf, size_t n, size_t cap)
{
	static const char structural[] = "{}[]\":,\\'|0-.eE\n\t ";
	int k, rounds = 1 + (int)(next() % 4);

	for (k = 0; k < rounds && n; k++) {
		size_t at = next() % n;
		switch (next() % 6) {
		case 0:
			buf[at] ^= (unsigned char)(1u << (next() % 8));
			break;
		case 1:
			buf[at] = (unsigned char)next();
			break;
		case 2:
			buf[at] = (unsigned char)structural[next() % (sizeof(structural) - 1)];
			break;
		case 3:
			n = at; /* truncate */
			break;
		case 4: { /* duplicate a slice */
			size_t len = 1 + next() % 64;
			if (at + len > n)
				len = n - at;
			if (n + len <= cap) {
				memmove(buf + at + len, buf + at, n - at);
				n += len;
			}
			break;
		}
		default: /* delete a slice */
		{
			size_t len = 1 + next() % 16;
			if (at + len > n)
				len = n - at;
			memmove(buf + at, buf + at + len, n - at - len);
			n -= len;
		}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	long iter = 2000;
	size_t i, total = 0;
	unsigned char *buf;
	int a;

	rng = 0x5eed5eedULL;
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-n") == 0 && a + 1 < argc)
			iter = strtol(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "-s") == 0 && a + 1 < argc)
			rng = strtoull(argv[++a], NULL, 10) | 1;
		else
			add_path(argv[a]);
	}
	if (!ninputs) {
		fprintf(stderr, "replay: no seed inputs found\n");
		return 77;
	}
	for (i = 0; i < ninputs; i++, total++)
		LLVMFuzzerTestOneInput(inputs[i], sizes[i]);
	buf = malloc(MAX_SIZE * 2);
	if (!buf)
		return 1;
	for (long k = 0; k < iter; k++, total++) {
		size_t src = next() % ninputs, n = sizes[src];
		memcpy(buf, inputs[src], n);
		n = mutate(buf, n, MAX_SIZE * 2);
		LLVMFuzzerTestOneInput(buf, n);
	}
	free(buf);
	for (i = 0; i < ninputs; i++)
		free(inputs[i]);
	printf("%zu inputs, 0 crashes\n", total);
	return 0;
}
