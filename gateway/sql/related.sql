-- related: containers sharing observables with container $1, most shared first, at most $2.
-- Every step is an index probe per row of the step before (LATERAL with OFFSET 0, which the
-- planner keeps as it is), so the cost follows the container's size, not the ledger's: hash joins
-- over whole tables were chosen for a container citing 10,000 observables, 3 s at 1M objects.
WITH mine AS MATERIALIZED (
    SELECT DISTINCT ob.type, ob.value
    FROM container_refs r
    CROSS JOIN LATERAL (SELECT o.type, o.value FROM observables o
                        WHERE o.stix_id = r.ref_id OFFSET 0) ob
    WHERE r.container_id = $1
), hits AS (
    SELECT r2.container_id, r2.container_type, count(DISTINCT (m.type, m.value)) AS shared
    FROM mine m
    CROSS JOIN LATERAL (SELECT o2.stix_id FROM observables o2
                        WHERE o2.value = m.value AND o2.type = m.type OFFSET 0) ob2
    CROSS JOIN LATERAL (SELECT c.container_id, c.container_type FROM container_refs c
                        WHERE c.ref_id = ob2.stix_id AND c.container_id <> $1 OFFSET 0) r2
    GROUP BY r2.container_id, r2.container_type
    ORDER BY shared DESC, r2.container_id
    LIMIT $2
)
SELECT coalesce(json_agg(json_build_object('id', container_id, 'type', container_type,
                                           'shared', shared)
                         ORDER BY shared DESC, container_id), '[]')::text
FROM hits
