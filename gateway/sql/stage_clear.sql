-- stage_clear: empty the version keys staged so far in this transaction (to stage them again).
DELETE FROM stage
