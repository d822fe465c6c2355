-- schema_version_create: the table migrations record themselves in.
CREATE TABLE IF NOT EXISTS schema_version (
	version integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)
