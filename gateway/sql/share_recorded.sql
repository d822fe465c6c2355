-- share_recorded: which of the decisions ($1 destinations, $2 ids, $3 modified, 1-based
-- positions) the audit already holds.
SELECT r.ord
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS r(destination, id, modified, ord)
WHERE EXISTS (SELECT 1 FROM audit a
              WHERE a.id = r.id AND a.modified = r.modified AND a.destination = r.destination
                AND a.decision <> 'erase')
