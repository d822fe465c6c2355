-- sharing_groups_get: $1 group uuids: (uuid as asked, definition) for those the ledger holds.
SELECT u.id, s.definition
FROM unnest($1::text[]) AS u(id)
JOIN sharing_groups s ON s.uuid = lower(u.id)
