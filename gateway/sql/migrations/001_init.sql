-- 001_init: the ledger's first schema. Each migration runs in one transaction and records itself in
-- schema_version; sluice refuses a database whose newest version it does not know.

-- Every stored (STIX id, modified) version. content is the canonical JSON as delivered (or its
-- tombstone after erasure); content_hash is SHA-256 of the canonical text sluice computed.
-- date_added is server time, assigned per ingest under an advisory lock, so (date_added, seq) only
-- ever grows in commit order: a TAXII page cursor never skips a version committed later.
CREATE SEQUENCE objects_seq;
CREATE TABLE objects (
	id text NOT NULL,
	modified timestamptz NOT NULL,
	type text NOT NULL,
	spec_version text NOT NULL,
	created timestamptz,
	revoked boolean NOT NULL DEFAULT false,
	erased boolean NOT NULL DEFAULT false,
	content_hash bytea NOT NULL,
	content jsonb NOT NULL,
	date_added timestamptz NOT NULL,
	seq bigint NOT NULL DEFAULT nextval('objects_seq'),
	PRIMARY KEY (id, modified)
);
CREATE UNIQUE INDEX objects_date_added ON objects (date_added, seq);

-- Who delivered which version, under which id there. One row per (version, peer, origin id);
-- repeated deliveries bump last_seen and deliveries.
CREATE TABLE provenance (
	id text NOT NULL,
	modified timestamptz NOT NULL,
	peer text NOT NULL,
	origin_id text NOT NULL DEFAULT '',
	content_hash bytea NOT NULL,
	first_seen timestamptz NOT NULL DEFAULT now(),
	last_seen timestamptz NOT NULL DEFAULT now(),
	deliveries integer NOT NULL DEFAULT 1,
	PRIMARY KEY (id, modified, peer, origin_id)
);

-- Canonical observable values (one per SCO value, and the values of simple indicator patterns),
-- and which STIX objects carry them: the same IoC from two sources is one (type, value).
CREATE TABLE observables (
	type text NOT NULL,
	value text NOT NULL,
	stix_id text NOT NULL,
	PRIMARY KEY (value, type, stix_id)
);
CREATE INDEX observables_stix_id ON observables (stix_id);

-- What the newest version of each container (report, grouping, observed-data, note, opinion,
-- sighting) points at. Correlation joins these to observables.
CREATE TABLE container_refs (
	container_id text NOT NULL,
	container_type text NOT NULL,
	ref_id text NOT NULL,
	PRIMARY KEY (container_id, ref_id)
);
CREATE INDEX container_refs_ref ON container_refs (ref_id);

-- Where to resume each stream of each peer. Moved only in the transaction of the data it covers.
CREATE TABLE cursors (
	peer text NOT NULL,
	stream text NOT NULL,
	position text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (peer, stream)
);

-- Peers that rename objects (OpenCTI standard ids): their id <-> ours.
CREATE TABLE idmap (
	peer text NOT NULL,
	foreign_id text NOT NULL,
	stix_id text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (peer, foreign_id)
);
CREATE INDEX idmap_stix ON idmap (peer, stix_id);

-- What each destination still owes or was sent, per object version and action.
CREATE TABLE outbox (
	outbox_id bigserial PRIMARY KEY,
	destination text NOT NULL,
	id text NOT NULL,
	modified timestamptz NOT NULL,
	action text NOT NULL CHECK (action IN ('deliver', 'revoke')),
	state text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'sent', 'failed', 'blocked', 'parked')),
	attempts integer NOT NULL DEFAULT 0,
	next_attempt timestamptz NOT NULL DEFAULT now(),
	last_error text,
	payload jsonb, -- the object after policy changes; NULL = the stored version as is
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
-- At most one open (not yet sent) row per destination, version and action.
CREATE UNIQUE INDEX outbox_open ON outbox (destination, id, modified, action)
	WHERE state IN ('pending', 'failed');
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE state IN ('pending', 'failed');
CREATE INDEX outbox_version ON outbox (id, modified);

-- Every outbound decision, append-only: the trigger below refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit (
	seq bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	id text NOT NULL,
	modified timestamptz,
	destination text,
	decision text NOT NULL CHECK (decision IN ('allow', 'allow-with-changes', 'deny', 'erase')),
	rule text,
	changes jsonb,
	result text,
	subject_hash text
);
CREATE INDEX audit_destination ON audit (destination, at);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_object ON audit (id, modified);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Rejected input: the raw text (bounded; raw_bytes is the original length), who sent it, why.
CREATE TABLE quarantine (
	qid bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	peer text NOT NULL,
	reason text NOT NULL,
	raw text NOT NULL,
	raw_bytes integer NOT NULL
);
CREATE INDEX quarantine_at ON quarantine (at);
