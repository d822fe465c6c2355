#!/usr/bin/env bash
# sync_run.sh — `sluice run` as the daemon: two misp-peers, A seeded with a TLP:GREEN event; the event
# reaches B once, SIGHUP reloads the config while running, SIGTERM stops it with exit 0, and
# `sluice status` then shows both peers' cursors.
set -u
bin=${SLUICE_BIN:?}
peer=${SLUICE_BUILD_DIR:?}/tests/misp-peer
src=$(cd "$(dirname "$0")/../.." && pwd)
export SLTEST_RUN_MISP_KEY=sluiceTestMispKey0000000000000000000000a
db=sl_sync_run_$$
. "$(dirname "$0")/script_env.sh"
fail=0

start_peer url_a "$peer" --seed "$src/fixtures/peers/misp"
start_peer url_b "$peer"
uuid=7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01 # fixtures/peers/misp/01-phishing.json (TLP:GREEN)

write_conf() { # log level
	cat >"$tmp/sluice.conf" <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$src/fixtures/sync/sync.policy"
log_level = "$1"
peer "misp-a" {
  kind = "misp"
  url = "$url_a"
  direction = "both"
  api_key_env = "SLTEST_RUN_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
peer "misp-b" {
  kind = "misp"
  url = "$url_b"
  direction = "both"
  api_key_env = "SLTEST_RUN_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
CONF
}
write_conf info
"$bin" run -c "$tmp/sluice.conf" 2>"$tmp/run.log" &
run=$!
pids+=($run)

applied() { # peer-url uuid -> how many versions the peer applied
	curl -s "$1/_test/dump" | "${SLUICE_PYTHON3:-python3}" -c \
		"import json,sys; d=json.load(sys.stdin)['deliveries'].get('$2',{}); print(d.get('applied',0))"
}
for _ in $(seq 100); do
	[ "$(applied "$url_b" $uuid)" = 1 ] && break
	sleep 0.2
done
[ "$(applied "$url_b" $uuid)" = 1 ] || { echo "FAIL: event did not reach B"; fail=1; }

write_conf debug
kill -HUP $run
for _ in $(seq 50); do grep -q "run: reloaded" "$tmp/run.log" && break; sleep 0.1; done
grep -q "run: reloaded" "$tmp/run.log" || { echo "FAIL: no reload after SIGHUP"; fail=1; }
sleep 1
kill -0 $run 2>/dev/null || { echo "FAIL: sluice run died after SIGHUP"; fail=1; }
kill -TERM $run
wait $run
rc=$?
[ $rc = 0 ] || { echo "FAIL: sluice run exited $rc after SIGTERM"; fail=1; }
[ "$(applied "$url_b" $uuid)" = 1 ] || { echo "FAIL: B applied the event more than once"; fail=1; }
[ "$(applied "$url_a" $uuid)" = 0 ] || { echo "FAIL: the event was pushed back to A"; fail=1; }

st=$("$bin" status -c "$tmp/sluice.conf") || { echo "FAIL: status exit $?"; fail=1; }
grep -A1 "^peer misp-a" <<<"$st" | grep -q "cursor      1790000000" ||
	{ echo "FAIL: status shows no cursor for A: $st"; fail=1; }
grep -q "push-ok     [0-9T:-]*Z event $uuid" <<<"$st" ||
	{ echo "FAIL: status shows no push: $st"; fail=1; }
if [ $fail != 0 ]; then
	cat "$tmp/run.log"
	exit 1
fi
echo "sync_run: ok"
