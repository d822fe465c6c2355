-- ingest_date_added: this batch's date_added: now, but never earlier than any stored version.
SELECT greatest(clock_timestamp(), (SELECT max(date_added) FROM objects))
