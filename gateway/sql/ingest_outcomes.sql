-- ingest_outcomes: judge each staged version against the ledger as it will be after the batch:
-- s = same (already stored, or repeated in the batch), n = new id, w = newer (now the newest),
-- o = older (stored as history). The ledger is probed by index per staged row (LATERAL), so the
-- cost follows the batch, not the size of the ledger.
SELECT s.ord,
       CASE
           WHEN s.ord <> f.first_ord OR s.modified = p.m
                OR EXISTS (SELECT 1 FROM objects x WHERE x.id = s.id AND x.modified = s.modified)
               THEN 's'
           WHEN s.modified < greatest(p.m, b.m) THEN 'o'
           WHEN p.m IS NULL THEN 'n'
           ELSE 'w'
       END
FROM stage s
JOIN (SELECT id, modified, min(ord) AS first_ord FROM stage GROUP BY id, modified) f
    ON f.id = s.id AND f.modified = s.modified
JOIN (SELECT id, max(modified) AS m FROM stage GROUP BY id) b ON b.id = s.id
LEFT JOIN LATERAL (SELECT o.modified AS m FROM objects o WHERE o.id = s.id
                   ORDER BY o.modified DESC LIMIT 1) p ON true
