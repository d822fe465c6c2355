/* test_policy_util.h — shared by the policies/ unit tests: load a policy from text, parse JSON
 * literals. */
#ifndef SL_TEST_POLICY_UTIL_H
#define SL_TEST_POLICY_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decision.h"
#include "policy.h"

/* A policy from text (the test fails on a load error). Key file: pt_key_path() writes one. */
static inline struct sl_policy *pt_policy(const char *text)
{
	char path[] = "/tmp/sl_pt_XXXXXX";
	struct sl_policy *p = NULL;
	struct sl_err err;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		fprintf(stderr, "cannot write %s\n", path);
		abort();
	}
	close(fd);
	if (sl_policy_load(path, &p, &err) != 0) {
		fprintf(stderr, "policy did not load: %s: %s\n%s\n", err.where, err.msg, text);
		abort();
	}
	unlink(path);
	return p;
}

static inline const char *pt_key_path(const char *bytes)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/sl_ptkey_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, bytes, strlen(bytes)) != (ssize_t)strlen(bytes))
		abort();
	close(fd);
	return path;
}

static inline json_t *pt_json(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (!v) {
		fprintf(stderr, "bad JSON in test: %s: %s\n", e.text, text);
		abort();
	}
	return v;
}

/* Does the JSON text of v contain needle anywhere? */
static inline int pt_contains(const json_t *v, const char *needle)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int r = s && strstr(s, needle) != NULL;

	free(s);
	return r;
}

#define PT_GREEN "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
#define PT_RED "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
#define PT_AMBER "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
#define PT_WHITE "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
#define PT_CLEAR2 "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
#define PT_AS_MISP "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
#define PT_AS_OCTI "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
#define PT_GREEN2 "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
#define PT_AMBER2 "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
#define PT_RED2 "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"

#endif
