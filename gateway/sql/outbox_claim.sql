-- outbox_claim: lease up to $2 due rows for destination $1 (NULL = any) for $3 seconds.
-- SKIP LOCKED: concurrent claimers never wait for each other nor get the same row; the lease (a
-- later next_attempt) keeps a claimed row from others after this statement commits.
WITH c AS MATERIALIZED (
    SELECT outbox_id FROM outbox
    WHERE state IN ('pending', 'failed') AND next_attempt <= clock_timestamp()
      AND ($1::text IS NULL OR destination = $1::text)
    ORDER BY next_attempt, outbox_id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox o
SET attempts = o.attempts + 1,
    next_attempt = clock_timestamp() + make_interval(secs => $3::integer),
    updated_at = now()
FROM c
WHERE o.outbox_id = c.outbox_id
RETURNING o.outbox_id, o.destination, o.id,
          to_char(o.modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), o.action, o.attempts
