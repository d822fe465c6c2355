-- ingest_outcomes: for each distinct staged version, the ledger's newest modified of its id (in
-- the canonical text form sluice uses) and whether that exact version is already stored; sluice
-- judges new/newer/older/same from these and the batch. Index probes per staged row (LATERAL), so
-- the cost follows the batch, not the size of the ledger.
SELECT s.ord,
       to_char(p.m AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       CASE WHEN s.modified < p.m  -- only then can it be an old version already stored
            THEN EXISTS (SELECT 1 FROM objects x WHERE x.id = s.id AND x.modified = s.modified)
            ELSE false END
FROM stage s
LEFT JOIN LATERAL (SELECT o.modified AS m FROM objects o WHERE o.id = s.id
                   ORDER BY o.modified DESC LIMIT 1) p ON true
