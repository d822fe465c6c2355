-- sources: what the ledger knows of canonical value $2 (of type $1, or any type when NULL):
-- the objects carrying it, who delivered them, and the containers (events, sightings) citing them.
WITH ids AS (
    SELECT DISTINCT type, stix_id FROM observables
    WHERE value = $2 AND ($1::text IS NULL OR type = $1)
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM ids) THEN NULL ELSE json_build_object(
    'type', (SELECT min(type) FROM ids),
    'value', $2::text,
    'objects', (SELECT coalesce(json_agg(json_build_object('id', x.stix_id, 'type',
                                split_part(x.stix_id, '--', 1)) ORDER BY x.stix_id), '[]')
                FROM (SELECT DISTINCT stix_id FROM ids) x),
    'sources', (SELECT coalesce(json_agg(json_build_object(
                    'id', p.id,
                    'modified', to_char(p.modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                    'peer', p.peer, 'origin_id', p.origin_id,
                    'first_seen', p.first_seen, 'last_seen', p.last_seen,
                    'count', p.deliveries) ORDER BY p.first_seen, p.peer, p.id), '[]')
                FROM (SELECT DISTINCT stix_id FROM ids) i
                CROSS JOIN LATERAL (SELECT * FROM provenance v WHERE v.id = i.stix_id) p),
    'containers', (SELECT coalesce(json_agg(json_build_object('id', c.container_id, 'type',
                                            c.container_type) ORDER BY c.container_id), '[]')
                   FROM (SELECT DISTINCT container_id, container_type FROM container_refs
                         WHERE ref_id IN (SELECT stix_id FROM ids)) c)
)::text END
