-- 005_hash_stix_id: observables are found by STIX id only by equality (the "related events" join
-- from container_refs, erasure), never by range or in order, so their index on stix_id becomes a
-- hash index: a quarter of the bytes of the btree on the ~50-byte text id, and about half its
-- insert cost, paid for every observable of every new object. Lookups by value keep the primary
-- key (value, type, stix_id).
DROP INDEX observables_stix_id;
CREATE INDEX observables_stix_id ON observables USING hash (stix_id);
