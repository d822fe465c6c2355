-- 002_shares: what each pull destination (a partner of sluice's TAXII server, a feed subscriber) may
-- see, as it may see it (after redaction and pseudonymisation): one row per allowed (destination,
-- version), added in decision order. Served views read only this table, so nothing a destination's
-- policy withheld can be served to it. Erasure deletes rows here (the audit keeps the record).
CREATE TABLE shares (
	destination text NOT NULL,
	id text NOT NULL,
	modified timestamptz NOT NULL,
	type text NOT NULL,
	spec_version text NOT NULL DEFAULT '2.1',
	content jsonb NOT NULL,
	date_added timestamptz NOT NULL,
	seq bigint NOT NULL DEFAULT nextval('objects_seq'),
	PRIMARY KEY (destination, id, modified)
);
CREATE UNIQUE INDEX shares_page ON shares (destination, date_added, seq);
