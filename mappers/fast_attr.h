/* fast_attr.h — one MISP attribute of the common kinds (IP addresses, domains, hostnames, URLs,
 * hashes, filename|hash, e-mail, mutex, registry keys, AS, vulnerabilities, custom attributes)
 * read from its JSON text and written to the streamed bundle as STIX text, with no jansson tree
 * on the way in or out. What it does not cover it declines, leaving the conversion untouched, so
 * the caller maps that attribute the ordinary way; the objects written are those misp2stix.c's
 * map_attribute builds (test_fast_attr holds it to that). */
#ifndef SL_FAST_ATTR_H
#define SL_FAST_ATTR_H

#include <stddef.h>

struct sl_map_ctx;

/* Reusable scratch for reading attributes (opaque). _new: NULL when out of memory; _free(NULL) is
 * a no-op. One per conversion (it caches the last timestamp seen). */
struct sl_fast_attr;
struct sl_fast_attr *sl_fast_attr_new(void);
void sl_fast_attr_free(struct sl_fast_attr *fa);

/* Map the attribute object at buf[0..len) (base_depth: brackets open around it in its document)
 * into c, which must be streaming (c->out, c->emit set). Returns 1 when it was mapped (*used = the
 * object's length in bytes), 0 when declined (anything unusual: not valid JSON as jansson reads
 * it, tags, galaxies, sightings, a value the tree path would warn about, a type not covered here;
 * c is then unchanged), or SL_ENOMEM. Write errors land in c->emit_error as with sl_map_emit. */
int sl_fast_attr_map(struct sl_fast_attr *fa, struct sl_map_ctx *c, const char *buf, size_t len,
                     int base_depth, size_t *used);

/* The container's object_refs: objects written here are not put in c->refs / c->rel_refs but
 * listed in fa as JSON text. _take_refs moves what other mappers appended to those arrays since
 * the last call onto the same lists (call it after each of them, so the order stays that of the
 * tree path); 0 or SL_ENOMEM. _ref_count: ids listed so far. _refs_text: the list of objects
 * (rels = 0) or relationships (rels = 1), '"id","id"' (borrowed, valid until fa next changes). */
int sl_fast_attr_take_refs(struct sl_fast_attr *fa, struct sl_map_ctx *c);
size_t sl_fast_attr_ref_count(const struct sl_fast_attr *fa);
const char *sl_fast_attr_refs_text(const struct sl_fast_attr *fa, int rels, size_t *len);

#endif
