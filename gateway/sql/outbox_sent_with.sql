-- outbox_sent_with: the open deliver rows of destination $1 for the versions ($2 ids, $3 modified)
-- that went out inside another row's delivery (the attributes of a MISP event rebuilt from its
-- report): sent. Returns how many rows it settled.
WITH u AS (
    UPDATE outbox o
    SET state = 'sent', last_error = NULL, updated_at = now()
    FROM unnest($2::text[], $3::timestamptz[]) AS r(id, modified)
    WHERE o.destination = $1 AND o.id = r.id AND o.modified = r.modified
      AND o.action = 'deliver' AND o.state IN ('pending', 'failed')
    RETURNING 1
)
SELECT count(*) FROM u
