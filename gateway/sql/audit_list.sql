-- audit_list: rows for destination $1 (NULL = all) at or after $2 (NULL = all), oldest first, at
-- most $3.
SELECT coalesce(json_agg(json_build_object(
    'seq', seq, 'at', at, 'id', id,
    'modified', to_char(modified AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'destination', destination, 'decision', decision, 'rule', rule, 'changes', changes,
    'result', result, 'subject_hash', subject_hash) ORDER BY seq), '[]')::text
FROM (SELECT * FROM audit
      WHERE ($1::text IS NULL OR destination = $1::text)
        AND ($2::timestamptz IS NULL OR at >= $2::timestamptz)
      ORDER BY seq LIMIT $3) a
