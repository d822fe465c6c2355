-- ingest_outcomes: judge each staged row against the ledger after the batch.
-- s = same (already stored, or repeated in the batch), n = new id, w = newer (now the newest),
-- o = older (stored as history).
INSERT INTO stage_out (ord, outcome)
SELECT s.ord,
       CASE
           WHEN s.ord <> f.first_ord OR o.id IS NOT NULL THEN 's'
           WHEN s.modified < greatest(p.m, b.m) THEN 'o'
           WHEN p.m IS NULL THEN 'n'
           ELSE 'w'
       END
FROM stage s
JOIN (SELECT id, modified, min(ord) AS first_ord FROM stage GROUP BY id, modified) f
    ON f.id = s.id AND f.modified = s.modified
JOIN (SELECT id, max(modified) AS m FROM stage GROUP BY id) b ON b.id = s.id
LEFT JOIN (SELECT id, max(modified) AS m FROM objects
           WHERE id IN (SELECT id FROM stage) GROUP BY id) p ON p.id = s.id
LEFT JOIN objects o ON o.id = s.id AND o.modified = s.modified
