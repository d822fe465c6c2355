-- ingest_refs_delete: a container that has a new newest version forgets its old references.
DELETE FROM container_refs WHERE container_id IN (SELECT id FROM stage_containers)
