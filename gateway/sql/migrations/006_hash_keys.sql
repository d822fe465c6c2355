-- 006_hash_keys: every lookup of objects by id and of observables by value is an equality (a
-- version key, "the newest of this id", "who carries this value"), never a range or an order, so
-- both are found through hash indexes instead of the text btrees of their primary keys. Measured
-- on the benchmark's rows (backend CPU, binary COPY of 160,000 versions): objects with the btree
-- primary key and the paging index 2.14 s, with a hash index on id instead 1.74 s; observables
-- with the btree primary key and the hash on stix_id 1.11 s, with hash indexes on value and
-- stix_id 0.77 s. A btree entry on a ~50-byte text id costs about as much as the version's heap
-- row; a hash entry is a 4-byte hash code.
--
-- Hash indexes cannot be unique. One row per (id, modified) and per (value, type, stix_id) was
-- never left to the constraint alone: ingest decides new/newer/older/same under its advisory lock
-- (ingest_lock, also taken by erasure), which serialises every writer of these rows, and writes a
-- version only when the ledger said it has none; the observables of an id already stored are
-- inserted only when not present (ingest_observables).
ALTER TABLE objects DROP CONSTRAINT objects_pkey;
CREATE INDEX objects_id ON objects USING hash (id);
ALTER TABLE observables DROP CONSTRAINT observables_pkey;
CREATE INDEX observables_value ON observables USING hash (value);
