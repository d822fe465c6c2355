-- ingest_provenance: one row per (version, peer, origin id), every staged row counted. $1 = peer.
INSERT INTO provenance AS p (id, modified, peer, origin_id, content_hash, first_seen, last_seen,
                             deliveries)
SELECT s.id, s.modified, $1::text, s.origin_id, (array_agg(s.content_hash))[1], now(), now(),
       count(*)
FROM stage s
GROUP BY s.id, s.modified, s.origin_id
ON CONFLICT (id, modified, peer, origin_id) DO UPDATE
    SET last_seen = excluded.last_seen, deliveries = p.deliveries + excluded.deliveries
