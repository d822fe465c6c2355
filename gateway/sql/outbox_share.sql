-- outbox_share: rows for recorded decisions: $1 destinations, $2 ids, $3 modified, $4 states
-- (pending | blocked), $5 payloads, $6 rules (the reason of a blocked row).
INSERT INTO outbox (destination, id, modified, action, state, payload, last_error)
SELECT r.destination, r.id, r.modified, 'deliver', r.state, r.payload, r.rule
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[], $6::text[])
    AS r(destination, id, modified, state, payload, rule)
ON CONFLICT (destination, id, modified, action) WHERE state IN ('pending', 'failed') DO NOTHING
