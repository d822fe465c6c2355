-- object_page: versions after ($1 date_added in microseconds, $2 seq), $3 types or NULL,
-- $4 newest versions only, at most $5 rows, in (date_added, seq) order.
SELECT id, type, to_char(modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), spec_version,
       revoked, erased, (extract(epoch FROM date_added) * 1000000)::bigint, seq, content::text
FROM objects o
WHERE (date_added, seq) > (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2::bigint)
  AND ($3::text[] IS NULL OR type = ANY ($3::text[]))
  AND (NOT $4::boolean OR NOT EXISTS (SELECT 1 FROM objects n
                                      WHERE n.id = o.id AND n.modified > o.modified))
ORDER BY date_added, seq
LIMIT $5
