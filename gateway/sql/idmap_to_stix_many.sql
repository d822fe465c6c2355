-- idmap_to_stix_many: $1 peer, $2 foreign ids: (foreign id, our STIX id) for those the map holds.
SELECT m.foreign_id, m.stix_id
FROM unnest($2::text[]) AS u(id)
JOIN idmap m ON m.peer = $1 AND m.foreign_id = u.id
