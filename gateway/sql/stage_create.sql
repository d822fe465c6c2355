-- stage_create: per-connection staging tables for bulk ingest (COPY in, then set-based upserts).
-- Temporary, unlogged by nature, emptied at every commit.
CREATE TEMP TABLE IF NOT EXISTS stage (
	ord integer NOT NULL,
	id text NOT NULL,
	modified timestamptz NOT NULL,
	type text NOT NULL,
	spec_version text NOT NULL,
	created timestamptz,
	revoked boolean NOT NULL,
	content_hash bytea NOT NULL,
	content jsonb NOT NULL,
	origin_id text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_obs (
	ord integer NOT NULL,
	stix_id text NOT NULL,
	type text NOT NULL,
	value text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_containers (
	ord integer NOT NULL,
	id text NOT NULL,
	type text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_refs (
	ord integer NOT NULL,
	ref_id text NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_out (
	ord integer NOT NULL,
	outcome "char" NOT NULL
) ON COMMIT DELETE ROWS;
