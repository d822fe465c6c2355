-- share_page: destination $6's view: versions after ($1 date_added in microseconds, $2 seq), $3 types
-- or NULL, $4 newest versions only, at most $5 rows, in (date_added, seq) order.
SELECT s.id, s.type, to_char(s.modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       s.spec_version, false, false, (extract(epoch FROM s.date_added) * 1000000)::bigint, s.seq,
       s.content::text
FROM shares s
WHERE s.destination = $6::text
  AND (s.date_added, s.seq) > (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2::bigint)
  AND ($3::text[] IS NULL OR s.type = ANY ($3::text[]))
  AND (NOT $4::boolean OR NOT EXISTS (SELECT 1 FROM shares n
                                      WHERE n.destination = s.destination AND n.id = s.id
                                        AND n.modified > s.modified))
ORDER BY s.date_added, s.seq
LIMIT $5
