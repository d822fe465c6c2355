-- related: containers sharing observables with container $1, most shared first, at most $2.
WITH mine AS (
    SELECT DISTINCT ob.type, ob.value
    FROM container_refs r JOIN observables ob ON ob.stix_id = r.ref_id
    WHERE r.container_id = $1
), hits AS (
    SELECT r2.container_id, r2.container_type, count(DISTINCT (m.type, m.value)) AS shared
    FROM mine m
    JOIN observables ob2 ON ob2.type = m.type AND ob2.value = m.value
    JOIN container_refs r2 ON r2.ref_id = ob2.stix_id
    WHERE r2.container_id <> $1
    GROUP BY r2.container_id, r2.container_type
    ORDER BY shared DESC, r2.container_id
    LIMIT $2
)
SELECT coalesce(json_agg(json_build_object('id', container_id, 'type', container_type,
                                           'shared', shared)
                         ORDER BY shared DESC, container_id), '[]')::text
FROM hits
