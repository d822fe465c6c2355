-- cursor_get: $1 peer, $2 stream.
SELECT position FROM cursors WHERE peer = $1 AND stream = $2
