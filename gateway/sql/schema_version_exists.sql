-- schema_version_exists: has any migration run here?
SELECT to_regclass('schema_version') IS NOT NULL
