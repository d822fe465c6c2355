-- ingest_outcomes: for each distinct staged version, the ledger's newest modified of its id (in
-- the canonical text form sluice uses), whether that exact version is already stored, and if so
-- the peer and origin of its first delivery (kept on its objects row; NULL before schema 4) and
-- whether peer $1 already has a provenance row for it from the staged origin. From these sluice
-- judges new/newer/older/same with the batch, tells which repeat delivery is the first one again,
-- and which provenance rows are new. Index probes per staged row, so the cost follows the batch,
-- not the size of the ledger: one aggregate over the id's versions (one hash-index probe, no sort;
-- an id has few versions, and at most one is this one, so min() of it is its value), then a
-- LATERAL with LIMIT into provenance_extra only for stored versions (not EXISTS, which the planner
-- may turn into a hash of the whole table). Only ids the ledger has come back: a key without a row
-- has no stored version (most keys of a bulk load: not formatting and sending them is a third of
-- the query's cost).
SELECT s.ord,
       to_char(p.m AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       coalesce(p.found, false),
       p.peer,
       p.origin_id,
       v.seen IS NOT NULL
FROM stage s
CROSS JOIN LATERAL (SELECT max(o.modified) AS m, bool_or(o.modified = s.modified) AS found,
                           min(o.peer) FILTER (WHERE o.modified = s.modified) AS peer,
                           min(o.origin_id) FILTER (WHERE o.modified = s.modified) AS origin_id
                    FROM objects o WHERE o.id = s.id) p
LEFT JOIN LATERAL (SELECT true AS seen FROM provenance_extra d -- only for stored versions
                   WHERE p.found AND d.id = s.id AND d.modified = s.modified
                     AND d.peer = $1::text AND d.origin_id = s.origin_id
                   LIMIT 1) v ON true
WHERE p.m IS NOT NULL
