-- audit_append: one row per array position: $1 ids, $2 modified, $3 destinations, $4 decisions,
-- $5 rules, $6 changes, $7 results.
INSERT INTO audit (id, modified, destination, decision, rule, changes, result)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                     $6::jsonb[], $7::text[])
