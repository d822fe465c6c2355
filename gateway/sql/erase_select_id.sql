-- erase_select_id: the versions to erase when the subject is STIX id $1.
INSERT INTO erase_set SELECT id, modified FROM objects WHERE id = $1::text
