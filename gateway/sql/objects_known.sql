-- objects_known: which of the ids $1 the ledger holds a version of (a probe of objects(id) each).
SELECT u.id
FROM unnest($1::text[]) AS u(id)
WHERE EXISTS (SELECT 1 FROM objects o WHERE o.id = u.id)
