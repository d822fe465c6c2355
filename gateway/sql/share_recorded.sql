-- share_recorded: which of the decisions ($1 destinations, $2 ids, $3 modified, 1-based
-- positions) need no recording: the audit already holds them, or the destination is a peer that
-- delivered this very version to sluice (it has it: never send a version back to a peer that has
-- it, whichever peer sluice read it from first).
SELECT r.ord
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS r(destination, id, modified, ord)
WHERE EXISTS (SELECT 1 FROM audit a
              WHERE a.id = r.id AND a.modified = r.modified AND a.destination = r.destination
                AND a.decision <> 'erase')
   OR EXISTS (SELECT 1 FROM objects o  -- its first delivery
              WHERE o.id = r.id AND o.modified = r.modified AND o.peer = r.destination)
   OR EXISTS (SELECT 1 FROM provenance_extra p  -- the others
              WHERE p.id = r.id AND p.modified = r.modified AND p.peer = r.destination)
