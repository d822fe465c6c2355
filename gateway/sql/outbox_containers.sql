-- outbox_containers: for each of the ids $1, the reports and groupings (MISP events) whose newest
-- version refers to it: (ref, container) rows, for rows that travel to MISP inside their events.
SELECT ref_id, container_id
FROM container_refs
WHERE ref_id = ANY ($1::text[]) AND container_type IN ('report', 'grouping')
ORDER BY ref_id, container_id
