-- erase_observables: forget the index rows of erased objects and of the canonical value $1.
DELETE FROM observables
WHERE stix_id IN (SELECT id FROM erase_set) OR value = $1::text
