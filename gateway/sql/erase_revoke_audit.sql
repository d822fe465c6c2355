-- erase_revoke_audit: a revoke for every destination that was sent an erased version, and audit
-- rows (one per erased version, one per revoke) carrying only the keyed hash $1 of the subject.
-- Returns one row per audit row: destination NULL for a version, else the revoked destination.
WITH r AS (
    INSERT INTO outbox (destination, id, modified, action)
    SELECT DISTINCT destination, id, modified, 'revoke' FROM outbox
    WHERE state = 'sent' AND action = 'deliver'
      AND (id, modified) IN (SELECT id, modified FROM erase_set)
    ON CONFLICT (destination, id, modified, action) WHERE state IN ('pending', 'failed') DO NOTHING
    RETURNING destination, id, modified
)
INSERT INTO audit (id, modified, destination, decision, rule, result, subject_hash)
SELECT id, modified, NULL, 'erase', 'gdpr-erasure', 'content replaced by a tombstone', $1::text
FROM erase_set
UNION ALL
SELECT id, modified, destination, 'erase', 'gdpr-erasure', 'revoke enqueued', $1::text FROM r
RETURNING destination
