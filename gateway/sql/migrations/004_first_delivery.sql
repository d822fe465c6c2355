-- 004_first_delivery: the first delivery of each version is kept on its objects row (peer,
-- origin_id; its time is date_added and its hash content_hash), so ingesting a new version writes
-- one row and no provenance row: a provenance row and its 4-column key cost about as much as the
-- version's own heap row. The table of deliveries becomes provenance_extra: every later delivery,
-- and every delivery recorded before this migration (whose objects rows have no peer).
-- `provenance` is now a view with the same columns and rows as the old table, so queries written
-- against it (docs/ledger.md) keep working.
ALTER TABLE objects ADD COLUMN peer text, ADD COLUMN origin_id text;
ALTER TABLE provenance RENAME TO provenance_extra;
ALTER INDEX provenance_pkey RENAME TO provenance_extra_pkey;
-- of_first: this row counts repeats of the first delivery kept on the objects row (same version,
-- peer and origin), so the view shows the two as one row.
ALTER TABLE provenance_extra ADD COLUMN of_first boolean NOT NULL DEFAULT false;

-- One row per (version, peer, origin id): each first delivery with its repeats (from the row of
-- provenance_extra that counts them), then every other row of provenance_extra. The two branches
-- have no WHERE of their own (the filter is outside the UNION ALL), so PostgreSQL flattens them
-- and a condition on id, or a join on it, becomes an index probe into each table.
CREATE VIEW provenance AS
SELECT id, modified, peer, origin_id, content_hash, first_seen, last_seen, deliveries
FROM (
    SELECT o.id, o.modified, o.peer, o.origin_id, o.content_hash,
           o.date_added AS first_seen,
           coalesce((SELECT x.last_seen FROM provenance_extra x
                     WHERE x.id = o.id AND x.modified = o.modified AND x.peer = o.peer
                       AND x.origin_id = o.origin_id), o.date_added) AS last_seen,
           1 + coalesce((SELECT x.deliveries FROM provenance_extra x
                         WHERE x.id = o.id AND x.modified = o.modified AND x.peer = o.peer
                           AND x.origin_id = o.origin_id), 0) AS deliveries,
           o.peer IS NULL AS hidden
    FROM objects o
    UNION ALL
    SELECT x.id, x.modified, x.peer, x.origin_id, x.content_hash, x.first_seen, x.last_seen,
           x.deliveries, x.of_first
    FROM provenance_extra x
) d
WHERE NOT hidden;
