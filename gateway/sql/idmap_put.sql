-- idmap_put: $1 peer, $2 foreign id, $3 our STIX id.
INSERT INTO idmap (peer, foreign_id, stix_id) VALUES ($1, $2, $3)
ON CONFLICT (peer, foreign_id) DO UPDATE SET stix_id = excluded.stix_id, updated_at = now()
    WHERE idmap.stix_id <> excluded.stix_id
