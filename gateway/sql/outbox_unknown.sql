-- outbox_unknown: the first of ids $1 that has no stored version (enqueue refuses it).
SELECT r.id FROM unnest($1::text[]) AS r(id)
WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.id = r.id) LIMIT 1
