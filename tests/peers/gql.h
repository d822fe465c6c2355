/* gql.h — a small GraphQL request reader for the OpenCTI test peer: parses one operation into its
 * top-level fields (arguments resolved against the variables) and projects results onto selections.
 */
#ifndef SL_GQL_H
#define SL_GQL_H

#include <jansson.h>
#include <stddef.h>

/* A parsed operation: {"type": "query"|"mutation", "fields": [field...]} where a field is
 * {"name", "alias", "args": {...}, "sel": [field...]}; fragment spreads are already expanded.
 * Returns a new reference, or NULL with "Syntax Error: ..." (or a variable error) in errbuf. */
json_t *sl_gql_parse(const char *query, const json_t *variables, const char *operation_name,
                     char *errbuf, size_t errsz);

/* The part of value that sel asks for (sel an array of fields; NULL or empty = value itself).
 * Arrays are projected element by element; a field missing from value is null. New reference. */
json_t *sl_gql_project(const json_t *value, const json_t *sel);

#endif
