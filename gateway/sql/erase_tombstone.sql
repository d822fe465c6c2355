-- erase_tombstone: replace the content of every version in erase_set by a tombstone that keeps
-- what history needs (type, id, spec_version, created, modified) and nothing else.
UPDATE objects o
SET content = t.tomb, content_hash = sha256(convert_to(t.tomb::text, 'UTF8')), erased = true,
    peer = NULL, origin_id = NULL  -- moved to provenance_extra by erase_provenance
FROM (SELECT e.id, e.modified,
             jsonb_strip_nulls(jsonb_build_object(
                 'type', x.type, 'id', x.id, 'spec_version', x.content -> 'spec_version',
                 'created', x.content -> 'created', 'modified', x.content -> 'modified',
                 'x_sluice_erased', true)) AS tomb
      FROM erase_set e JOIN objects x ON x.id = e.id AND x.modified = e.modified) t
WHERE o.id = t.id AND o.modified = t.modified
