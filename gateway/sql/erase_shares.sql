-- erase_shares: take erased versions out of every destination's view, with an audit row per
-- destination that could see one, carrying only the keyed hash $1 of the subject.
WITH s AS (
    DELETE FROM shares WHERE (id, modified) IN (SELECT id, modified FROM erase_set)
    RETURNING destination, id, modified
)
INSERT INTO audit (id, modified, destination, decision, rule, result, subject_hash)
SELECT id, modified, destination, 'erase', 'gdpr-erasure', 'withdrawn from the destination''s view',
       $1::text
FROM s
RETURNING destination
