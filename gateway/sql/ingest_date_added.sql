-- ingest_date_added: this batch's date_added: now, but never earlier than any stored version; as
-- text, and in microseconds since 2000-01-01 UTC (PostgreSQL's binary timestamptz, for COPY); and
-- the first of $1 consecutive seq values reserved for the batch's versions (taken under the ingest
-- lock, so they too grow in commit order).
SELECT d, ((extract(epoch FROM d) - 946684800) * 1000000)::bigint,
       setval('objects_version_seq', nextval('objects_version_seq') + $1::bigint - 1) - $1::bigint + 1
FROM (SELECT greatest(clock_timestamp(), (SELECT max(date_added) FROM objects)) AS d) x
