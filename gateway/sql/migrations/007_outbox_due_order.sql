-- 007_outbox_due_order: a claim takes one destination's due rows in (next_attempt, outbox_id)
-- order. The index on next_attempt alone made every claim read and sort all of that destination's
-- open rows (34,000 for one 10,000-attribute MISP event, once per batch of 500); keyed by
-- destination first, the index hands a claim its rows in order and it reads only what it takes.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (destination, next_attempt, outbox_id)
	WHERE state IN ('pending', 'failed');
