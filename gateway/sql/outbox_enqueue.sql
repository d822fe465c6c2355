-- outbox_enqueue: $1 destination, $2 ids, $3 modified (NULL entries = newest), $4 action.
-- An open (pending or failed) row for the same version and action is left alone.
INSERT INTO outbox (destination, id, modified, action)
SELECT DISTINCT $1::text, r.id,
       coalesce(r.modified, (SELECT max(o.modified) FROM objects o WHERE o.id = r.id)), $4::text
FROM unnest($2::text[], $3::timestamptz[]) AS r(id, modified)
ON CONFLICT (destination, id, modified, action) WHERE state IN ('pending', 'failed') DO NOTHING
