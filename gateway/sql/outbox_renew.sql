-- outbox_renew: extend to $2 seconds from now the lease of claimed rows a push still has in hand
-- ($1 outbox_ids), so no claimer (this gateway's next claim, another gateway) takes them while a
-- slow push is in flight. Rows settled meanwhile are left as they are. Returns how many it renewed.
WITH u AS (
    UPDATE outbox
    SET next_attempt = clock_timestamp() + make_interval(secs => $2::integer)
    WHERE outbox_id = ANY ($1::bigint[]) AND state IN ('pending', 'failed')
    RETURNING 1
)
SELECT count(*) FROM u
