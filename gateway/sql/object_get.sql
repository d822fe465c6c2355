-- object_get: $1 id, $2 modified or NULL for the newest.
SELECT content::text FROM objects
WHERE id = $1 AND ($2::timestamptz IS NULL OR modified = $2::timestamptz)
ORDER BY modified DESC LIMIT 1
