-- schema_version_add: $1 the migration just applied.
INSERT INTO schema_version (version) VALUES ($1)
