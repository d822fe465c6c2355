-- outbox_newest: the newest stored version of each of the ids $1 (absent ids give no row), for
-- the objects an outbound MISP event refers to that are not in the claimed batch.
SELECT DISTINCT ON (id) id, content::text FROM objects
WHERE id = ANY ($1::text[])
ORDER BY id, modified DESC
