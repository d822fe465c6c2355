/* test_policy_interop.c — the policies on misp-stix's corpus (../shared/interop): for every MISP
 * event and the bundle misp-stix made of it, deciding the MISP event and deciding the bundle's
 * report/grouping give the same event-level TLP verdict (misp-stix turns event tlp tags into the
 * report's markings, or leaves upper-case ones as labels), every object marked TLP:RED is withheld,
 * and nothing fails on real data. Skips without ../shared. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sltest.h"
#include "test_policy_util.h"
#include "tlp.h"

#define NOW 1795200000LL

static json_t *load(const char *path)
{
	struct sl_err err;
	char *buf = NULL;
	size_t len = 0;
	json_t *v;

	if (sl_json_slurp(path, SL_JSON_DEFAULT_MAX_BYTES, &buf, &len, &err) != 0)
		return NULL;
	v = sl_json_parse(buf, len, NULL, path, &err);
	free(buf);
	return v;
}

static int has_red(const json_t *o)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(o, "object_marking_refs"), i, e)
	{
		if (sl_tlp_from_marking_id(json_string_value(e)) == SL_TLP_RED)
			return 1;
	}
	return 0;
}

int main(void)
{
	const char *dir = sltest_interop_dir();
	char path[4096];
	struct sl_policy *p;
	const struct sl_policy_dest *d;
	struct dirent *de;
	DIR *dd;
	long events = 0, compared = 0, objects = 0, failures = 0, red = 0;

	if (!dir)
		return SLTEST_SKIP;
	/* TLP decides alone: every distribution taken, personal data kept, no retention */
	p = pt_policy("destination \"d\" { kind = \"taxii\" own_org = true max_tlp = \"green\" "
	              "unmarked = \"green\"\n"
	              "  distribution = {0, 1, 2, 3}\n"
	              "  gdpr { email = \"keep\" person_name = \"keep\" phone = \"keep\" "
	              "user_account = \"keep\" } }\n");
	d = sl_policy_dest_at(p, 0);
	snprintf(path, sizeof(path), "%s/misp-stix-corpus/input", dir);
	dd = opendir(path);
	if (!dd) {
		sl_policy_free(p);
		return SLTEST_SKIP;
	}
	while ((de = readdir(dd)) != NULL) {
		char stem[512];
		size_t n = strlen(de->d_name), i;
		json_t *ev, *bundle, *out = NULL;
		struct sl_policy_decision *evd, **decs = NULL;
		struct sl_err err;
		const json_t *inner;
		int level;

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0 || n - 5 >= sizeof(stem))
			continue;
		memcpy(stem, de->d_name, n - 5);
		stem[n - 5] = '\0';
		snprintf(path, sizeof(path), "%s/misp-stix-corpus/input/%s", dir, de->d_name);
		ev = load(path);
		snprintf(path, sizeof(path), "%s/misp-stix-corpus/stix21/%s.stix21.json", dir,
		         stem);
		bundle = load(path);
		if (!ev || !bundle) {
			json_decref(ev);
			json_decref(bundle);
			continue;
		}
		events++;
		evd = sl_policy_decide_misp_event(d, ev, NOW, &err);
		if (!evd) {
			fprintf(stderr, "%s: event not decided: %s\n", stem, err.msg);
			failures++;
		}
		if (sl_policy_decide_bundle(d, bundle, NOW, &out, &decs, &n, &err) != 0) {
			fprintf(stderr, "%s: bundle not decided: %s\n", stem, err.msg);
			failures++;
			n = 0;
		}
		inner = json_object_get(ev, "Event") ? json_object_get(ev, "Event") : ev;
		level = atoi(json_is_string(json_object_get(inner, "distribution"))
		                 ? json_string_value(json_object_get(inner, "distribution"))
		                 : "3");
		if (json_is_integer(json_object_get(inner, "distribution")))
			level = (int)json_integer_value(json_object_get(inner, "distribution"));
		for (i = 0; i < n; i++) {
			const json_t *o = json_array_get(json_object_get(bundle, "objects"), i);
			const char *type = json_string_value(json_object_get(o, "type"));
			objects++;
			if (has_red(o)) {
				red++;
				if (sl_policy_decision_verdict(decs[i]) != SL_POLICY_DENY) {
					fprintf(stderr, "%s: TLP:RED object sent: %s\n", stem,
					        sl_policy_decision_rule(decs[i]));
					failures++;
				}
			}
			if (evd && level <= 3 && type &&
			    (strcmp(type, "report") == 0 || strcmp(type, "grouping") == 0)) {
				compared++;
				if ((sl_policy_decision_verdict(decs[i]) == SL_POLICY_DENY) !=
				    (sl_policy_decision_verdict(evd) == SL_POLICY_DENY)) {
					fprintf(stderr,
					        "%s: event and report disagree:\n  event:  %s\n  "
					        "report: %s\n",
					        stem, sl_policy_decision_rule(evd),
					        sl_policy_decision_rule(decs[i]));
					failures++;
				}
			}
		}
		sl_policy_decisions_free(decs, n);
		sl_policy_decision_free(evd);
		json_decref(out);
		json_decref(ev);
		json_decref(bundle);
	}
	closedir(dd);
	sl_policy_free(p);
	printf("events=%ld reports_compared=%ld objects=%ld red_objects=%ld failures=%ld\n", events,
	       compared, objects, red, failures);
	return failures || events == 0 ? 1 : 0;
}
