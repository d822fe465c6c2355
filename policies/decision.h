/* decision.h — what may go to a destination: for each STIX object, bundle or MISP event, a decision
 * (allow | allow-with-changes | deny), the rule chain that made it, the changes applied and the
 * object to send. */
#ifndef SL_DECISION_H
#define SL_DECISION_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "policy.h"

enum sl_policy_verdict { SL_POLICY_ALLOW, SL_POLICY_ALLOW_CHANGED, SL_POLICY_DENY };

struct sl_policy_decision; /* owned by the caller: sl_policy_decision_free */
struct sl_policy_facts; /* what the policy looks at in one object, read once for all destinations */

/* Where a STIX object's context comes from (all borrowed, all may be NULL):
 *  containers: array of report/grouping objects that reference the object; their markings, labels,
 *              created_by_ref and x_misp_distribution / x_misp_sharing_group_uuid apply to it too.
 *  markings:   JSON object, marking-definition id -> marking-definition object (custom TLP
 * definitions). misp:       {"distribution": 0..5, "sharing_group_uuid": "...", "sharing_group":
 * {MISP SharingGroup}}: MISP context for an object that does not carry x_misp_distribution itself.
 *  sharing_groups: JSON object, group uuid -> MISP SharingGroup: the definitions of the groups the
 *              object or its first container names by x_misp_sharing_group_uuid, as
 *              sl_policy_decide_bundle_rows_sg takes them (membership by org or server too).
 */
struct sl_policy_ctx {
	const json_t *containers;
	const json_t *markings;
	const json_t *misp;
	const json_t *sharing_groups;
};

/* Read the facts of obj once (obj is kept by reference until sl_policy_facts_free). NULL with err.
 */
struct sl_policy_facts *sl_policy_facts_stix(const json_t *obj, const struct sl_policy_ctx *ctx,
                                             struct sl_err *err);
void sl_policy_facts_free(struct sl_policy_facts *f);

/* Decide one object for one destination at time `now` (epoch seconds). Never NULL except on
 * allocation failure (err filled). The rule chain is written when first read; until then the
 * decision holds f and the destination's policy (both may be freed by their owners meanwhile), and
 * destinations acting alike on f share its changed object and changes (read-only). */
struct sl_policy_decision *sl_policy_decide_facts(const struct sl_policy_dest *d,
                                                  const struct sl_policy_facts *f, long long now,
                                                  struct sl_err *err);
/* The verdict alone, with no allocation and no rule chain (the same verdict sl_policy_decide_facts
 * gives): for fanning one object out to many destinations, then building full decisions only where
 * needed. */
enum sl_policy_verdict sl_policy_verdict_facts(const struct sl_policy_dest *d,
                                               const struct sl_policy_facts *f, long long now);
/* The verdicts of every destination of p (out[i] for sl_policy_dest_at(p, i); out has
 * sl_policy_dest_count(p) entries): the object's tag/type/org matches are computed once for all of
 * them, so each verdict is a handful of integer tests. No allocation. */
void sl_policy_verdicts_facts(const struct sl_policy *p, const struct sl_policy_facts *f,
                              long long now, enum sl_policy_verdict *out);
/* The same, reading the facts itself. */
struct sl_policy_decision *sl_policy_decide_stix(const struct sl_policy_dest *d, const json_t *obj,
                                                 const struct sl_policy_ctx *ctx, long long now,
                                                 struct sl_err *err);

/* A whole bundle: every object decided with its containers (reports/groupings in the bundle that
 * list it) and the bundle's marking-definitions; relationships/sightings whose ends were withheld
 * are withheld too, and containers' object_refs lose withheld ids. *out_bundle (owned) holds what
 * may go; *decisions (owned, sl_policy_decisions_free) one decision per input object, in input
 * order. */
int sl_policy_decide_bundle(const struct sl_policy_dest *d, const json_t *bundle, long long now,
                            json_t **out_bundle, struct sl_policy_decision ***decisions,
                            size_t *ndecisions, struct sl_err *err);

/* The same for every destination of p, with each object's facts read once for all of them:
 * out_bundles[i] and decisions[i] (arrays of sl_policy_dest_count(p), filled here, each owned as
 * above) for sl_policy_dest_at(p, i); *ndecisions is the number of objects. out_bundles may be
 * NULL when only the decisions are wanted (building the bundles to send costs about as much as
 * deciding). On error everything is freed and NULL.
 * Objects that agree on everything a verdict reads but their age and personal values share a
 * verdict class: its verdicts and rule chains are worked out once and kept in p for later calls
 * (at most 1024 classes; p may be shared between threads). The decisions live in memory of the
 * call, freed with the last of them: each may be freed alone or kept past the others and p, as any
 * decision; their objects and changes are shared, read-only. */
int sl_policy_decide_bundle_all(const struct sl_policy *p, const json_t *bundle, long long now,
                                json_t **out_bundles, struct sl_policy_decision ***decisions,
                                size_t *ndecisions, struct sl_err *err);

/* One destination's decision on one object of a bundle, as plain data: the same verdict, rule
 * chain, changes and object as sl_policy_decide_bundle gives, borrowed from the rows that hold it
 * (valid until sl_policy_rows_free; objects and changes are shared, read-only). */
struct sl_policy_row {
	enum sl_policy_verdict verdict;
	const char *rule;      /* the rule chain */
	const json_t *changes; /* [{path, action, ...}]: an empty array when there are none */
	const json_t *obj;     /* what the destination may receive; NULL when denied, and NULL
	                        * when text holds it */
	/* rows asked for as text (SL_POLICY_ROWS_TEXT): an object allowed with changes for its
	 * personal data or distribution comes as its JSON text, exactly what
	 * json_dumps(changed object, JSON_COMPACT | JSON_SORT_KEYS) gives, written from the input
	 * object with the changes applied (no changed tree is built); NULL otherwise */
	const char *text;
};

struct sl_policy_rows; /* owned by the caller: sl_policy_rows_free */

/* A whole bundle for every destination of p at once, as sl_policy_decide_bundle_all decides it
 * (each object's facts read once, verdict classes kept in p), but the decisions are rows in one
 * block instead of a decision object per object and destination: what the gateway's pipeline
 * records. With SL_POLICY_ROWS_TEXT in flags, objects changed for their personal data or
 * distribution come as text (the row's text) instead of a changed tree (a container that also
 * lost withheld refs still comes as a tree). *out is NULL on error. */
#define SL_POLICY_ROWS_TEXT 1u
int sl_policy_decide_bundle_rows(const struct sl_policy *p, const json_t *bundle, long long now,
                                 unsigned flags, struct sl_policy_rows **out, struct sl_err *err);
/* The same, with the definitions of the MISP sharing groups the bundle's objects name:
 * sharing_groups (borrowed, may be NULL) is a JSON object, group uuid -> MISP SharingGroup object
 * ({"uuid", "SharingGroupOrg": [{"Organisation": {"uuid"}} or {"org_uuid"}], "SharingGroupServer":
 * [{"Server": {"url", "name"}}]}). An object with distribution 4 whose own (or first container's)
 * x_misp_sharing_group_uuid has a definition there goes to a destination that is a member by its
 * sharing_groups list, its org_uuid or its server; without one, only by its sharing_groups list.
 * Objects decided with a definition get verdict classes of this call only (a group's members may
 * change between calls). */
int sl_policy_decide_bundle_rows_sg(const struct sl_policy *p, const json_t *bundle,
                                    const json_t *sharing_groups, long long now, unsigned flags,
                                    struct sl_policy_rows **out, struct sl_err *err);
/* The number of objects in the bundle (rows per destination). */
size_t sl_policy_rows_count(const struct sl_policy_rows *r);
/* Object i's "id", "modified" and "created" string members (NULL when absent, not strings, or the
 * entry is not an object), read once with its facts, so the caller need not look them up again.
 * Borrowed from the bundle: valid while it is. */
void sl_policy_rows_object(const struct sl_policy_rows *r, size_t i, const char **id,
                           const char **modified, const char **created);
/* Destination i's rows (sl_policy_dest_at(p, i)), one per object in bundle order. Borrowed. */
const struct sl_policy_row *sl_policy_rows_dest(const struct sl_policy_rows *r, size_t i);
/* NULL is a no-op. */
void sl_policy_rows_free(struct sl_policy_rows *r);

/* A MISP event ({"Event": {...}} or the inner object): the event as a whole, then each attribute
 * and object (strictest of event and own distribution, event TLP inherited). Withheld
 * attributes/objects are removed with the ObjectReferences that point at them; distribution 2
 * becomes 1 when pushed to a MISP destination. */
struct sl_policy_decision *sl_policy_decide_misp_event(const struct sl_policy_dest *d,
                                                       const json_t *event, long long now,
                                                       struct sl_err *err);

enum sl_policy_verdict sl_policy_decision_verdict(const struct sl_policy_decision *dec);
const char *
sl_policy_verdict_name(enum sl_policy_verdict v); /* "allow", "allow-with-changes", "deny" */
/* Borrowed, valid until the decision is freed. */
const char *sl_policy_decision_rule(const struct sl_policy_decision *dec);
const json_t *
sl_policy_decision_changes(const struct sl_policy_decision *dec); /* [{path, action, ...}] */
const char *sl_policy_decision_object_id(const struct sl_policy_decision *dec);
const json_t *
sl_policy_decision_object(const struct sl_policy_decision *dec); /* NULL when denied */
/* MISP events: [{"id": attribute uuid, "decision", "rule"}] for every attribute looked at
 * (borrowed); NULL for STIX decisions. */
const json_t *sl_policy_decision_items(const struct sl_policy_decision *dec);
/* The object to send, owned by the caller (NULL when denied). An allowed, unchanged object is a new
 * reference to the input, and a changed STIX object shares its unchanged parts with the input:
 * treat it as read-only. */
json_t *sl_policy_decision_take_object(struct sl_policy_decision *dec);
/* {"object_id","modified","destination","decision","rule","changes"} for the ledger's audit table.
 * Changes never hold personal data in clear. New reference. */
json_t *sl_policy_decision_to_json(const struct sl_policy_decision *dec);
void sl_policy_decision_free(struct sl_policy_decision *dec);
void sl_policy_decisions_free(struct sl_policy_decision **v, size_t n);

#endif
