-- ingest_observables: observables of new versions of ids the ledger already had.
INSERT INTO observables (value, type, stix_id)
SELECT DISTINCT value, type, stix_id FROM stage_obs
ON CONFLICT DO NOTHING
