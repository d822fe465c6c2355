/* map_ctx.h — the state of one MISP event -> STIX 2.1 conversion, shared by the attribute, object
 * and galaxy mappers: the bundle being built, id dedup, markings, labels, timestamps and warnings.
 */
#ifndef SL_MAP_CTX_H
#define SL_MAP_CTX_H

#include <jansson.h>
#include <stdio.h>

#include "err.h"
#include "misp2stix.h"
#include "stix_id.h"
#include "stix_emit.h"
#include "stix_pattern.h"

#define SL_TS_MAX 40

/* streamed text is written in blocks of about this size: small enough that the buffer stays
 * under malloc's mmap threshold (at 64 KiB it grew to 128 KiB and was mapped and unmapped for
 * every event of a batch) */
#define SL_MAP_EMIT_BLOCK (16u * 1024u)

/* A set of STIX ids (strings, copied in): the bundle's dedup, cheaper than a jansson object used as
 * one (no allocation per id, nothing to free per id). */
struct sl_map_ids;
struct sl_map_ids *sl_map_ids_new(void);
void sl_map_ids_free(struct sl_map_ids *s);
/* 1 when id (NULL: never) is in s. */
int sl_map_ids_has(const struct sl_map_ids *s, const char *id);
/* Adds id: 1 when added, 0 when already there, SL_ENOMEM. */
int sl_map_ids_add(struct sl_map_ids *s, const char *id);
size_t sl_map_ids_count(const struct sl_map_ids *s);

/* Internal to the mappers: misp2stix.c creates it, the attribute/object/galaxy mappers fill it. The
 * struct is visible because those three files are one conversion split by MISP concept. */
struct sl_map_ctx {
	const struct sl_map_opts *opts;
	const json_t *event;     /* the inner Event object (borrowed) */
	json_t *objects;         /* SDOs and SCOs in MISP order (owned) */
	json_t *rels;            /* relationships and sightings, appended after objects (owned) */
	json_t *refs;            /* container object_refs for objects (owned) */
	json_t *rel_refs;        /* container object_refs for relationships (owned) */
	struct sl_map_ids *seen; /* ids of what is in the bundle (owned) */
	json_t *markings;        /* marking-definitions used (owned) */
	json_t *galaxy_tags;     /* tag names of clusters at the current level (borrowed use) */
	json_t *warnings;        /* caller's array (borrowed, may be NULL) */
	struct sl_pattern *pat;  /* reused pattern builder */
	char event_uuid[SL_UUID_STRLEN + 1];
	char identity_id[SL_STIX_ID_MAX];
	char container_id[SL_STIX_ID_MAX];
	char event_ts[SL_TS_MAX]; /* event timestamp, SDO form */
	char now_ts[SL_TS_MAX];
	FILE *out; /* streaming: objects are written here as they are built */
	/* streaming: serialised objects not yet written to out (owned) */
	struct sl_stix_emit *emit;
	size_t nout;    /* objects written so far */
	int emit_error; /* serialising or writing failed: emit_err says why */
	struct sl_err emit_err;
	int strict_error; /* a warning happened under opts->strict */
	struct sl_err strict_err;
};

/* Event-level steps of misp2stix.c that its fast path (fast_misp2stix.c) takes too. */
/* The start of a conversion: c set up for event ev (uuid eu), the bundle's head written when out is
 * set, the creator identity (*ident, a new reference the caller adds), the container's id and, when
 * the event is published, its published time in pub (else ""). *no_org = 1 when the event names
 * no creator (warned). 0, or SL_ENOMEM with err filled; c is to be cleaned up by the caller. */
int sl_map_begin(struct sl_map_ctx *c, const json_t *ev, const char *eu,
                 const struct sl_map_opts *opts, json_t *warnings, FILE *out, json_t **ident,
                 char cont_id[SL_STIX_ID_MAX], char pub[SL_TS_MAX], int *no_org,
                 struct sl_err *err);
/* The identity of a MISP organisation ({"uuid", "name"}) into the bundle once; its id in out
 * ("" when the org has no valid uuid). */
void sl_map_org_identity(struct sl_map_ctx *c, const json_t *org, char out[SL_STIX_ID_MAX]);
/* The sightings of attribute a as sighting / opinion objects. */
void sl_map_sightings(struct sl_map_ctx *c, const json_t *a);
/* MISP event reports as notes. */
void sl_map_event_reports(struct sl_map_ctx *c, const json_t *reports);
/* The inner Event of {"Event": ...}, or ev itself. */
const json_t *sl_map_inner_event(const json_t *ev);
/* 1 when ev's member key is a list; 0 when absent, null or not a list (warned then). */
int sl_map_check_list(struct sl_map_ctx *c, const json_t *ev, const char *key);

/* Epoch seconds (a JSON string or integer) -> "YYYY-MM-DDTHH:MM:SS.000Z" (sdo=1) or "...Z" (sdo=0).
 * Returns 0, or -1 when v is not a timestamp (out is then the conversion time). */
int sl_map_ts(struct sl_map_ctx *c, const json_t *v, int sdo, char out[SL_TS_MAX]);
/* ISO-8601 datetime with offset (MISP first_seen) -> "...Z" in UTC. Returns 0 or -1. */
int sl_map_iso_ts(const char *s, char out[SL_TS_MAX]);
/* A STIX timestamp ("2023-11-15T01:13:20.000Z") -> MISP's epoch seconds as text ("1700010800"),
 * the fraction dropped. Returns 0, or -1 when it does not parse. */
int sl_map_iso_epoch(const char *s, char out[24]);

/* An object of string members from kv (key, value, key, value, ..., NULL), in that order: what
 * json_pack("{s:s, ...}") builds, without parsing a format. NULL when a value is not valid UTF-8 or
 * memory runs out (as json_pack). */
json_t *sl_map_strobj(const char *const *kv);

/* A string member of o, or NULL when absent / not a string. */
const char *sl_map_str(const json_t *o, const char *key);
/* A boolean-ish member ("1", 1, true): 1, 0, or dflt when absent. */
int sl_map_bool(const json_t *o, const char *key, int dflt);

/* Record a warning ({"where","message"}) naming the event and `where`. Under opts->strict it also
 * marks the conversion failed with SL_EUNSUPPORTED (or code). */
void sl_map_warn(struct sl_map_ctx *c, int code, const char *where, const char *fmt, ...)
    SL_PRINTF(4, 5);

/* A new SDO {type, spec_version, id "<type>--<uuid>", created_by_ref, created, modified}. */
json_t *sl_map_sdo(struct sl_map_ctx *c, const char *type, const char *uuid, const char *ts);
/* A new SCO {type, spec_version, id}. */
json_t *sl_map_sco(const char *type, const char *uuid);
/* Append obj (reference stolen) to the bundle and the container refs, unless its id is already
 * there (then obj is dropped). Returns 1 if added, 0 if it was a duplicate, <0 on error. */
int sl_map_add(struct sl_map_ctx *c, json_t *obj);
/* Put a finished object (reference stolen) into the bundle: appended to arr, or, when streaming,
 * serialised (stix_emit) and freed at once, the text reaching c->out in blocks. A failure sets
 * c->emit_error / c->emit_err. */
void sl_map_emit(struct sl_map_ctx *c, json_t *arr, json_t *obj);
/* Add a relationship source -> target; ts is its created/modified (SDO form). */
int sl_map_rel(struct sl_map_ctx *c, const char *src, const char *type, const char *tgt,
               const char *ts);

/* Apply a MISP Tag list to obj: labels (except TLP markings and galaxy cluster tags), markings
 * (object_marking_refs) and misp:confidence-level -> confidence. */
void sl_map_tags(struct sl_map_ctx *c, json_t *obj, const json_t *tags);
/* The marking-definition id for a MISP tlp tag, adding the definition to the bundle; NULL if the
 * tag is not a TLP marking (matched case-sensitively, as misp-stix does). */
const char *sl_map_tlp(struct sl_map_ctx *c, const char *tag);

/* 4 or 6 for a valid IPv4 / IPv6 address, else 0. (misp2stix.c) */
int sl_misp_ip_kind(const char *s);
/* Why a MISP value of that type is invalid (as MISP/PyMISP validation judges it), or NULL if valid.
 */
const char *sl_misp_value_problem(const char *type, const char *value);
/* The value as PyMISP normalises it (lower-cased hashes, hostnames, MAC addresses): a malloc'd
 * copy, or NULL when the type is not normalised. */
char *sl_misp_normalise(const char *type, const char *value);
/* key[0..n) with an abbreviated registry hive expanded (HKLM -> HKEY_LOCAL_MACHINE); malloc'd. */
char *sl_misp_regkey_full(const char *key, size_t n);

/* Where the event's Attribute list comes from when it is not in the event tree (fast_misp2stix
 * parses the elements one at a time): next() returns the next attribute (a new reference), or
 * NULL at the end, or NULL with err->code set when it could not be read. */
struct sl_map_attr_src {
	json_t *(*next)(void *arg, struct sl_err *err);
	void *arg;
};

/* sl_misp_to_stix_write with the event's attributes taken from src instead of its "Attribute"
 * member (which is not read). (misp2stix.c) */
int sl_misp_to_stix_write_src(const json_t *event, const struct sl_map_attr_src *src,
                              const struct sl_map_opts *opts, json_t *warnings, FILE *out,
                              struct sl_err *err) SL_MUSTCHECK;

/* a, b and c concatenated into out (cap bytes, truncated and NUL-terminated as snprintf would):
 * ids and labels are built often enough that snprintf's parsing showed in profiles. Returns the
 * length written. */
size_t sl_map_cat(char *out, size_t cap, const char *a, const char *b, const char *c);

/* Append s to the array member key of obj, creating it. */
void sl_map_push_str(json_t *obj, const char *key, const char *s);

#endif
