-- ingest_provenance: repeated deliveries (versions already stored, or repeated in the batch): one
-- row per (version, peer, origin id), counted. $1 = peer.
INSERT INTO provenance AS p (id, modified, peer, origin_id, content_hash, deliveries)
SELECT s.id, s.modified, $1::text, s.origin_id, (array_agg(s.content_hash))[1], count(*)
FROM stage_prov s
GROUP BY s.id, s.modified, s.origin_id
ON CONFLICT (id, modified, peer, origin_id) DO UPDATE
    SET last_seen = excluded.last_seen, deliveries = p.deliveries + excluded.deliveries
