#!/usr/bin/env bash
# sync_erase.sh — GDPR erasure reaches MISP: `sluice run` moves A's event to B; `sluice gdpr erase`
# of one of its values queues a revoke for B; the next `sluice run` erases that attribute at B (a
# hard delete, once) and leaves the event's other attributes, A (which was never sent it) and the
# rest of the sync alone.
set -u
bin=${SLUICE_BIN:?}
peer=${SLUICE_BUILD_DIR:?}/tests/misp-peer
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
export SLTEST_ERASE_MISP_KEY=sluiceTestMispKey0000000000000000000000a
db=sl_sync_erase_$$
. "$(dirname "$0")/script_env.sh"
fail=0
uuid=7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01 # fixtures/peers/misp/01-phishing.json (TLP:GREEN)
value=login-secure-bank.example            # its attribute ...5b01

start_peer url_a "$peer" --seed "$src/fixtures/peers/misp"
start_peer url_b "$peer"
cat >"$tmp/sluice.conf" <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$src/fixtures/sync/sync.policy"
log_level = "info"
peer "misp-a" {
  kind = "misp"
  url = "$url_a"
  direction = "both"
  api_key_env = "SLTEST_ERASE_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
peer "misp-b" {
  kind = "misp"
  url = "$url_b"
  direction = "both"
  api_key_env = "SLTEST_ERASE_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
CONF
dump() { # peer-url python-expression over the delivery record d of the event and its Event e
	curl -s "$1/_test/dump" | "$py" -c "
import json, sys
x = json.load(sys.stdin)
d = x['deliveries'].get('$uuid', {})
e = ([v['Event'] for v in x['events'] if v['Event']['uuid'] == '$uuid'] or [{}])[0]
vals = sorted(a['value'] for a in e.get('Attribute', []))
print($2)"
}
run_until() { # python-expression over B: runs sluice until it holds
	"$bin" run -c "$tmp/sluice.conf" 2>>"$tmp/run.log" &
	local run=$!
	pids+=($run)
	for _ in $(seq 150); do
		[ "$(dump "$url_b" "$1")" = True ] && break
		sleep 0.2
	done
	sleep 6 # one more poll and claim: anything repeated would show
	kill -TERM $run
	wait $run || { echo "FAIL: sluice run did not exit 0"; fail=1; }
}

run_until "d.get('applied') == 1"
[ "$(dump "$url_b" "'$value' in vals")" = True ] || { echo "FAIL: the event did not reach B"; fail=1; }
before=$(dump "$url_b" "len(vals)")
out=$("$bin" gdpr erase "$value" --key-file "$src/fixtures/demo/demo-hmac.key" --db "$base dbname=$db") ||
	{ echo "FAIL: gdpr erase: $out"; fail=1; }
run_until "d.get('attr_erased', 0) >= 1"
[ "$(dump "$url_b" "d.get('attr_erased', 0)")" = 1 ] ||
	{ echo "FAIL: B did not have the attribute erased exactly once: $(dump "$url_b" d)"; fail=1; }
[ "$(dump "$url_b" "'$value' in vals")" = False ] || { echo "FAIL: B still holds $value"; fail=1; }
[ "$(dump "$url_b" "len(vals)")" = $((before - 1)) ] ||
	{ echo "FAIL: B lost other attributes: $(dump "$url_b" vals)"; fail=1; }
[ "$(dump "$url_a" "d.get('attr_erased', 0) + d.get('add', 0) + d.get('edit', 0)")" = 0 ] ||
	{ echo "FAIL: A, the origin, was sent something: $(dump "$url_a" d)"; fail=1; }
"$bin" status -c "$tmp/sluice.conf" --json | "$py" -c "
import json, sys
q = {p['name']: p['queue'] for p in json.load(sys.stdin)['peers']}
sys.exit(0 if q['misp-b']['pending'] == 0 and q['misp-b']['parked'] == 0 else 1)" ||
	{ echo "FAIL: B's queue is not empty after the erasure"; fail=1; }
grep -E " (error|warn) " "$tmp/run.log" | head
[ $fail = 0 ] && echo "ok: erasure reached B once, nothing else touched"
exit $fail
