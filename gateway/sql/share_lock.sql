-- share_lock: writers of shares take turns to commit, so a reader paging by (date_added, seq) never
-- skips a row committed later.
SELECT pg_advisory_xact_lock(hashtext('sluice.ledger.shares'))
