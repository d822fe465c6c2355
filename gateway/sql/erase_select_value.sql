-- erase_select_value: the versions to erase when the subject is a value: objects indexed under its
-- canonical form $2, and every version whose content holds $1 or $2 (case-insensitive). A full scan:
-- erasure is rare and must not miss a description or a note.
INSERT INTO erase_set
SELECT id, modified FROM objects
WHERE id IN (SELECT stix_id FROM observables WHERE value = $2::text)
   OR strpos(lower(content::text), lower($1::text)) > 0
   OR strpos(lower(content::text), lower($2::text)) > 0
