-- ingest_refs_insert: the references of each container's newest version.
INSERT INTO container_refs (container_id, container_type, ref_id)
SELECT DISTINCT c.id, c.type, r.ref_id
FROM stage_refs r
JOIN stage_containers c ON c.ord = r.ord
JOIN stage_out o ON o.ord = r.ord
WHERE o.outcome IN ('n', 'w')
ON CONFLICT DO NOTHING
