#!/usr/bin/env bash
# sync_crash.sh — exactly-once across crashes: `sluice run` is killed with SIGKILL at seeded random
# moments while it moves 60 events from A to B, restarted each time, then left to finish. B must
# hold every allowed event, each version applied once, and nothing may come back to A.
set -u
bin=${SLUICE_BIN:?}
peer=${SLUICE_BUILD_DIR:?}/tests/misp-peer
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
base=$(cat "${SLUICE_TEST_PGENV:?}")
export PGOPTIONS="-c client_min_messages=warning"
export SLTEST_CRASH_MISP_KEY=sluiceTestMispKey0000000000000000000000a
db=sl_sync_crash_$$
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
	psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT
psql "$base" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
n=60
mkdir "$tmp/seed"
# 60 published events, every fifth TLP:RED (withheld by the policy), 3 attributes each
"$py" - "$tmp/seed" $n <<'PY'
import json, sys, uuid
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    u = str(uuid.UUID(int=0x5a0c8a2e6f1b4b7c9d3e000000c00000 + i))
    ts = str(1790000000 + i)
    tlp = "tlp:red" if i % 5 == 0 else "tlp:green"
    attrs = [{"uuid": str(uuid.UUID(int=0x5a0c8a2e6f1b4b7c9d3e000000d00000 + i * 8 + k)),
              "type": "domain", "category": "Network activity", "value": "c%d-%d.example" % (i, k),
              "to_ids": True, "timestamp": ts, "distribution": "5"} for k in range(3)]
    ev = {"Event": {"uuid": u, "info": "crash test %d" % i, "date": "2026-11-01", "timestamp": ts,
                    "published": True, "publish_timestamp": ts, "distribution": "3",
                    "threat_level_id": "2", "analysis": "2",
                    "Orgc": {"name": "OrgA", "uuid": "5a0c8a2e-6f1b-4b7c-9d3e-0000000000aa"},
                    "Tag": [{"name": tlp}], "Attribute": attrs}}
    json.dump(ev, open("%s/%03d.json" % (d, i), "w"))
PY

start_peer() { # name [args]: starts a misp-peer, sets url_<name>
	local name=$1
	shift
	mkfifo "$tmp/$name.fifo"
	"$peer" "$@" >"$tmp/$name.fifo" &
	pids+=($!)
	read -r _ url <"$tmp/$name.fifo"
	eval "url_$name=\$url"
}
start_peer a --seed "$tmp/seed"
start_peer b
cat >"$tmp/sluice.conf" <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$src/fixtures/sync/sync.policy"
log_level = "warn"
limits {
  batch_size = 7
}
peer "misp-a" {
  kind = "misp"
  url = "$url_a"
  direction = "both"
  api_key_env = "SLTEST_CRASH_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
peer "misp-b" {
  kind = "misp"
  url = "$url_b"
  direction = "both"
  api_key_env = "SLTEST_CRASH_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
CONF

# B's view: "<events held> <deliveries applied> <most versions applied to one event> <A applied>"
state() {
	curl -s "$url_b/_test/dump" >"$tmp/b.json"
	curl -s "$url_a/_test/dump" >"$tmp/a.json"
	"$py" - "$tmp/b.json" "$tmp/a.json" <<'PY'
import json, sys
b, a = [json.load(open(f)) for f in sys.argv[1:3]]
d = b["deliveries"].values()
print(b["count"], sum(x["applied"] for x in d), max([x["applied"] for x in d] or [0]),
      sum(x["applied"] for x in a["deliveries"].values()))
PY
}
want=$((n - n / 5))
RANDOM=42 # seeded: the same kill moments every run
for round in 1 2 3 4 5 6; do
	"$bin" run -c "$tmp/sluice.conf" 2>>"$tmp/run.log" &
	run=$!
	pids+=($run)
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 $run
	wait $run 2>/dev/null
	echo "round $round killed: $(state)"
done
"$bin" run -c "$tmp/sluice.conf" 2>>"$tmp/run.log" &
run=$!
pids+=($run)
# leases of rows claimed by killed runs last 60 s; wait for them
for _ in $(seq 400); do
	read -r held _ _ _ <<<"$(state)"
	[ "$held" = $want ] && break
	sleep 0.25
done
sleep 2
kill -TERM $run
wait $run
read -r held applied most back <<<"$(state)"
echo "final: held=$held applied=$applied most=$most back_to_a=$back (want $want each, most 1, 0 back)"
fail=0
[ "$held" = $want ] || { echo "FAIL: B holds $held events, want $want"; fail=1; }
[ "$applied" = $want ] || { echo "FAIL: B applied $applied versions, want $want (one each)"; fail=1; }
[ "$most" = 1 ] || { echo "FAIL: an event was applied $most times on B"; fail=1; }
[ "$back" = 0 ] || { echo "FAIL: $back versions pushed back to A"; fail=1; }
[ $fail = 0 ] || { tail -50 "$tmp/run.log"; exit 1; }
echo "sync_crash: ok"
