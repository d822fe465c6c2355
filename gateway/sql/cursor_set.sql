-- cursor_set: $1 peer, $2 stream, $3 position.
INSERT INTO cursors (peer, stream, position, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (peer, stream) DO UPDATE SET position = excluded.position, updated_at = now()
