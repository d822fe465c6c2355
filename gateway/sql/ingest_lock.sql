-- ingest_lock: ingests take turns from here to commit, so date_added and seq grow in commit order.
SELECT pg_advisory_xact_lock(hashtext('sluice.ledger.objects'))
