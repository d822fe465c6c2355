-- idmap_to_foreign: $1 peer, $2 STIX id (the most recently mapped foreign id).
SELECT foreign_id FROM idmap WHERE peer = $1 AND stix_id = $2 ORDER BY updated_at DESC LIMIT 1
