-- outbox_claim: lease up to $2 due rows for destination $1 (NULL = any) for $3 seconds, with what
-- to send for each: its payload, else the stored version (NULL for a revocation's gone object).
-- SKIP LOCKED: concurrent claimers never wait for each other nor get the same row; the lease (a
-- later next_attempt) keeps a claimed row from others after this statement commits.
WITH c AS MATERIALIZED (
    SELECT outbox_id FROM outbox
    WHERE state IN ('pending', 'failed') AND next_attempt <= clock_timestamp()
      AND ($1::text IS NULL OR destination = $1::text)
    ORDER BY next_attempt, outbox_id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), u AS (
    UPDATE outbox o
    SET attempts = o.attempts + 1,
        next_attempt = clock_timestamp() + make_interval(secs => $3::integer),
        updated_at = now()
    FROM c
    WHERE o.outbox_id = c.outbox_id
    RETURNING o.outbox_id, o.destination, o.id, o.modified, o.action, o.attempts, o.payload
)
SELECT u.outbox_id, u.destination, u.id,
       to_char(u.modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), u.action,
       u.attempts, CASE WHEN u.action = 'deliver' THEN coalesce(u.payload, ob.content)::text END
FROM u LEFT JOIN objects ob ON u.action = 'deliver' AND ob.id = u.id AND ob.modified = u.modified
ORDER BY u.outbox_id
