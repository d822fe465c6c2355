-- share_versions: every version of $2 in destination $1's view, oldest first.
SELECT id, type, to_char(modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), spec_version,
       false, false, (extract(epoch FROM date_added) * 1000000)::bigint, seq, content::text
FROM shares WHERE destination = $1::text AND id = $2::text ORDER BY modified
