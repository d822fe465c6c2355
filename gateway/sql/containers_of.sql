-- containers_of: the reports and groupings (MISP events) whose newest version refers to $1, as a
-- JSON array of ids: an object edited on its own (at OpenCTI, a TAXII partner) travels to MISP
-- inside them.
SELECT coalesce(json_agg(container_id ORDER BY container_id), '[]')::text
FROM container_refs
WHERE ref_id = $1 AND container_type IN ('report', 'grouping')
