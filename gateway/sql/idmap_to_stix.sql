-- idmap_to_stix: $1 peer, $2 foreign id.
SELECT stix_id FROM idmap WHERE peer = $1 AND foreign_id = $2
