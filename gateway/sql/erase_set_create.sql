-- erase_set_create: the versions one erasure touches, for the statements that follow.
CREATE TEMP TABLE erase_set (id text NOT NULL, modified timestamptz NOT NULL) ON COMMIT DROP
