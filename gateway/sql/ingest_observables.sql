-- ingest_observables: index the canonical observable values of newly stored versions.
INSERT INTO observables (type, value, stix_id)
SELECT DISTINCT so.type, so.value, so.stix_id
FROM stage_obs so
JOIN stage_out o ON o.ord = so.ord
WHERE o.outcome <> 's'
ON CONFLICT DO NOTHING
