-- ingest_provenance: repeated deliveries (versions already stored, or repeated in the batch): one
-- row per (version, peer, origin id), counted. $1 = peer. A version's first delivery is on its
-- objects row; a repeat of it (same peer and origin) is marked of_first (sluice knows which from
-- the outcome query) and the provenance view shows the two as one row.
INSERT INTO provenance_extra AS p (id, modified, peer, origin_id, content_hash, deliveries, of_first)
SELECT s.id, s.modified, $1::text, s.origin_id, (array_agg(s.content_hash))[1], count(*),
       bool_or(s.of_first)
FROM stage_prov s
GROUP BY s.id, s.modified, s.origin_id
ON CONFLICT (id, modified, peer, origin_id) DO UPDATE
    SET last_seen = excluded.last_seen, deliveries = p.deliveries + excluded.deliveries
