-- outbox_payload: what to send for outbox row $1: its payload, else the stored version.
SELECT coalesce(b.payload, o.content)::text
FROM outbox b LEFT JOIN objects o ON o.id = b.id AND o.modified = b.modified
WHERE b.outbox_id = $1::bigint
