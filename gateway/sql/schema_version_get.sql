-- schema_version_get: the newest applied migration.
SELECT coalesce(max(version), 0) FROM schema_version
