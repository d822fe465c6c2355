-- erase_quarantine: quarantined inputs that hold the subject ($1 as given, $2 canonical).
DELETE FROM quarantine
WHERE strpos(lower(raw), lower($1::text)) > 0 OR strpos(lower(raw), lower($2::text)) > 0
