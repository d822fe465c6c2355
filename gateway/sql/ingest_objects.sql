-- ingest_objects: store the versions the ledger did not have. $1 = the batch's date_added.
INSERT INTO objects (id, modified, type, spec_version, created, revoked, content_hash, content,
                     date_added)
SELECT s.id, s.modified, s.type, s.spec_version, s.created, s.revoked, s.content_hash, s.content,
       $1::timestamptz
FROM stage s
JOIN stage_out so ON so.ord = s.ord
WHERE so.outcome <> 's'
