-- ingest_refs_delete: a container that has a new newest version forgets its old references.
DELETE FROM container_refs
WHERE container_id IN (SELECT c.id FROM stage_containers c
                       JOIN stage_out o ON o.ord = c.ord WHERE o.outcome IN ('n', 'w'))
