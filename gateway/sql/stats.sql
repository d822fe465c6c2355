-- stats: counts for `sluice ledger stats`.
SELECT (SELECT count(DISTINCT id) FROM objects),
       (SELECT count(*) FROM objects),
       (SELECT count(*) FROM provenance),
       (SELECT count(*) FROM (SELECT DISTINCT type, value FROM observables) v),
       (SELECT count(*) FROM quarantine),
       (SELECT count(*) FROM outbox WHERE state IN ('pending', 'failed')),
       (SELECT count(*) FROM audit),
       (SELECT count(*) FROM cursors)
