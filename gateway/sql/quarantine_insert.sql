-- quarantine_insert: $1 peer, $2 reason, $3 raw text (already bounded), $4 original length.
INSERT INTO quarantine (peer, reason, raw, raw_bytes) VALUES ($1, $2, $3, $4)
