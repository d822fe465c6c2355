-- ingest_outcomes: for each distinct staged version, the ledger's newest modified of its id (in
-- the canonical text form sluice uses), whether that exact version is already stored, and if so
-- the peer and origin of its first delivery (kept on its objects row; NULL before schema 4) and
-- whether peer $1 already has a provenance row for it from the staged origin. From these sluice
-- judges new/newer/older/same with the batch, tells which repeat delivery is the first one again,
-- and which provenance rows are new. Index probes per staged row, so the cost follows the batch,
-- not the size of the ledger: LATERAL joins with LIMIT (not EXISTS, and not a plain LATERAL,
-- which the planner may turn into a hash of the whole objects table).
SELECT s.ord,
       to_char(p.m AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       coalesce(p.m = s.modified, false) OR e.found IS NOT NULL,
       CASE WHEN p.m = s.modified THEN p.peer ELSE e.peer END,
       CASE WHEN p.m = s.modified THEN p.origin_id ELSE e.origin_id END,
       v.seen IS NOT NULL
FROM stage s
LEFT JOIN LATERAL (SELECT o.modified AS m, o.peer, o.origin_id FROM objects o WHERE o.id = s.id
                   ORDER BY o.modified DESC LIMIT 1) p ON true
LEFT JOIN LATERAL (SELECT true AS found, x.peer, x.origin_id FROM objects x -- an older version
                   WHERE s.modified < p.m AND x.id = s.id AND x.modified = s.modified
                   LIMIT 1) e ON true
LEFT JOIN LATERAL (SELECT true AS seen FROM provenance_extra d -- only for stored versions
                   WHERE (p.m = s.modified OR e.found) AND d.id = s.id AND d.modified = s.modified
                     AND d.peer = $1::text AND d.origin_id = s.origin_id
                   LIMIT 1) v ON true
