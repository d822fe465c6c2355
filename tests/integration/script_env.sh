# script_env.sh — sourced by the script tests of `sluice run` (with $db set): the test
# PostgreSQL's base DSN in $base and a fresh database $db in it, a temp dir $tmp, and
# start_peer for the test peers; on exit the peers are stopped, $tmp removed and $db dropped. A
# test that fails shows the last lines of every log in $tmp first (peers', sluice's), which would
# otherwise go with it.
base=$(cat "${SLUICE_TEST_PGENV:?}")
export PGOPTIONS="-c client_min_messages=warning"
tmp=$(mktemp -d)
pids=()
cleanup() {
	local rc=$? f
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for f in "$tmp"/*.log; do
			[ -s "$f" ] || continue
			echo "--- last lines of ${f##*/} ---" >&2
			tail -n 40 "$f" >&2
		done
	fi
	rm -rf "$tmp"
	psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT
psql "$base" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1

# start_peer VAR BINARY [ARGS...]: start a test peer (it prints "LISTEN <url>" first, its stderr
# goes to $tmp/VAR.log) and set VAR to its url.
start_peer() {
	local sp_var=$1 sp_url # (names no caller's VAR will have)
	shift
	mkfifo "$tmp/$sp_var.fifo"
	"$@" >"$tmp/$sp_var.fifo" 2>"$tmp/$sp_var.log" &
	pids+=($!)
	read -r _ sp_url <"$tmp/$sp_var.fifo"
	printf -v "$sp_var" '%s' "$sp_url"
}
