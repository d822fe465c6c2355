-- ingest_date_added: this batch's date_added: now, but never earlier than any stored version; as
-- text, and in microseconds since 2000-01-01 UTC (PostgreSQL's binary timestamptz, for COPY).
SELECT d, ((extract(epoch FROM d) - 946684800) * 1000000)::bigint
FROM (SELECT greatest(clock_timestamp(), (SELECT max(date_added) FROM objects)) AS d) x
