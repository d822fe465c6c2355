-- 009_objects_version_seq: versions take their seq from a sequence of their own, which only ingest
-- draws from, under its advisory lock, as one block per batch (ingest_date_added reserves as many
-- values as the batch has keys and sluice writes them into the COPY). A nextval() per row cost
-- ~0.7 us of the ~7 us the server spends on a version's heap row (800,000 rows: 5.6 s of backend
-- CPU with the default, 5.0 s with the values given). objects_seq stays for shares, whose writers
-- take another lock. (date_added, seq) still only grows in commit order: the block is taken under
-- the ingest lock, and the new sequence starts above every seq stored so far.
CREATE SEQUENCE objects_version_seq;
SELECT setval('objects_version_seq', coalesce((SELECT max(seq) FROM objects), 0) + 1, false);
ALTER TABLE objects ALTER COLUMN seq SET DEFAULT nextval('objects_version_seq');
