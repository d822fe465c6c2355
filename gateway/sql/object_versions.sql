-- object_versions: every version of $1, oldest first.
SELECT id, type, to_char(modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), spec_version,
       revoked, erased, (extract(epoch FROM date_added) * 1000000)::bigint, seq, content::text
FROM objects WHERE id = $1 ORDER BY modified
