-- outbox_depth: per destination with rows not yet sent, the count in each state and the age in
-- whole seconds of the oldest pending row (NULL when none), for `sluice status`.
SELECT destination,
       count(*) FILTER (WHERE state = 'pending'),
       count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state = 'parked'),
       count(*) FILTER (WHERE state = 'blocked'),
       floor(extract(epoch FROM clock_timestamp()
                                - min(created_at) FILTER (WHERE state = 'pending')))::bigint
FROM outbox
WHERE state <> 'sent'
GROUP BY destination
ORDER BY destination
