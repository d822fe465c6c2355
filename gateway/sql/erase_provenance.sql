-- erase_provenance: before the versions in erase_set become tombstones (content_hash changes), their
-- first delivery moves from the objects row to provenance_extra, so provenance keeps the hash
-- that was delivered, as it did before schema 4.
INSERT INTO provenance_extra AS x (id, modified, peer, origin_id, content_hash, first_seen,
                                   last_seen, deliveries)
SELECT o.id, o.modified, o.peer, o.origin_id, o.content_hash, o.date_added, o.date_added, 1
FROM erase_set e JOIN objects o ON o.id = e.id AND o.modified = e.modified
WHERE o.peer IS NOT NULL
ON CONFLICT (id, modified, peer, origin_id) DO UPDATE
    SET content_hash = excluded.content_hash, first_seen = excluded.first_seen,
        deliveries = x.deliveries + 1, of_first = false
