-- outbox_settle: $1 outbox_id, $2 new state, $3 error or rule, $4 retry after (seconds).
UPDATE outbox
SET state = $2::text, last_error = $3::text, updated_at = now(),
    next_attempt = clock_timestamp() + make_interval(secs => $4::integer)
WHERE outbox_id = $1::bigint
