-- ingest_refs_insert: the references of each container's newest version.
INSERT INTO container_refs (container_id, container_type, ref_id)
SELECT DISTINCT container_id, container_type, ref_id FROM stage_refs
ON CONFLICT DO NOTHING
