-- outbox_settle_many: settle claimed rows at once: $1 outbox_ids, $2 new states, $3 errors or
-- rules, $4 retry after (seconds). Returns how many rows it found.
WITH r AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::integer[])
        AS r(outbox_id, state, msg, retry_s)
), u AS (
    UPDATE outbox o
    SET state = r.state, last_error = r.msg, updated_at = now(),
        next_attempt = clock_timestamp() + make_interval(secs => r.retry_s)
    FROM r
    WHERE o.outbox_id = r.outbox_id
    RETURNING 1
)
SELECT count(*) FROM u
