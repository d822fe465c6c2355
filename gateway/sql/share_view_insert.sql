-- share_view_insert: the allowed decisions of pull destinations, as each may see the object:
-- $1 destinations, $2 ids, $3 modified, $4 types, $5 contents. date_added is now, never earlier than
-- any row already in that destination's view (callers hold share_lock), so each view's
-- (date_added, seq) grows in commit order. The latest date_added is asked per destination, of the
-- index shares_page (a probe), not of the whole table (a scan of every view per statement).
INSERT INTO shares (destination, id, modified, type, spec_version, content, date_added)
SELECT r.destination, r.id, r.modified, r.type, coalesce(r.content ->> 'spec_version', '2.1'),
       r.content,
       greatest(clock_timestamp(),
                (SELECT max(s.date_added) FROM shares s WHERE s.destination = r.destination))
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[])
    AS r(destination, id, modified, type, content)
ON CONFLICT (destination, id, modified) DO NOTHING
