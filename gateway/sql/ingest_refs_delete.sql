-- ingest_refs_delete: a container that has a new newest version forgets its old references.
-- The staged ids as an array: with `IN (SELECT ...)` over the unanalyzed staging table PostgreSQL
-- hash-joined it with a whole scan of container_refs, once per ingest (30 ms at 130,000 refs, and
-- growing with the ledger); `= ANY (array)` is a probe of the primary key per container.
DELETE FROM container_refs WHERE container_id = ANY (ARRAY(SELECT id FROM stage_containers))
