-- sharing_group_put: $1 group uuid, $2 definition (JSON), $3 its modified time (NULL: unknown),
-- $4 peer. Replaces the stored definition unless that one is newer: a definition without a time
-- replaces only one without a time either.
INSERT INTO sharing_groups AS s (uuid, definition, modified, peer)
VALUES (lower($1), $2::jsonb, $3::timestamptz, $4)
ON CONFLICT (uuid) DO UPDATE
SET definition = excluded.definition, modified = excluded.modified, peer = excluded.peer,
    updated_at = now()
WHERE (excluded.modified IS NOT NULL AND (s.modified IS NULL OR excluded.modified >= s.modified))
   OR (excluded.modified IS NULL AND s.modified IS NULL)
