-- ingest_observables: observables of new versions of ids the ledger already had, those it does not
-- hold yet (an index probe per staged row: LATERAL with LIMIT, never an anti-join the planner
-- could make a hash of the whole table). Runs under the ingest lock, so nothing else adds them.
INSERT INTO observables (value, type, stix_id)
SELECT DISTINCT s.value, s.type, s.stix_id
FROM stage_obs s
LEFT JOIN LATERAL (SELECT true AS found FROM observables o
                   WHERE o.stix_id = s.stix_id AND o.value = s.value AND o.type = s.type
                   LIMIT 1) x ON true
WHERE x.found IS NULL
