-- stage_create: per-connection staging tables for bulk ingest. Temporary (no WAL), emptied at
-- every commit. stage holds only the version keys; content goes straight into objects once the
-- ledger has said which versions are new.
CREATE TEMP TABLE IF NOT EXISTS stage (
	ord integer NOT NULL,
	id text NOT NULL,
	modified timestamptz NOT NULL,
	origin_id text NOT NULL -- where the peer had it (provenance is per version, peer and origin)
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_prov (
	id text NOT NULL,
	modified timestamptz NOT NULL,
	origin_id text NOT NULL,
	content_hash bytea NOT NULL,
	of_first boolean NOT NULL -- repeats the version's first delivery (same peer and origin)
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_obs (
	value text NOT NULL,
	type text NOT NULL,
	stix_id text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_containers (
	id text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_refs (
	container_id text NOT NULL,
	container_type text NOT NULL,
	ref_id text NOT NULL
) ON COMMIT DELETE ROWS;
