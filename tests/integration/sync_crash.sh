#!/usr/bin/env bash
# sync_crash.sh — exactly-once across crashes: `sluice run` moves a large set of MISP events from A
# to B and C (different policies) and is killed with SIGKILL at 20 seeded random moments, restarted
# each time, while some events are edited on A; then it is left to finish. Every destination must
# hold the newest version of every event its policy allows (asked of `sluice policy explain`, not
# written here), no version may be applied twice (the peers' own delivery counters), nothing the
# policy denies may arrive, and nothing may go back to A. Prints `<K> kills, <L> lost, <D>
# duplicated`. SLUICE_CRASH_SEED replays the kill moments and the data of an earlier run;
# SLUICE_CRASH_KEEP=1 keeps the temp dir (peers' dumps, sluice's log) for a look.
set -u
bin=${SLUICE_BIN:?}
peer=${SLUICE_BUILD_DIR:?}/tests/misp-peer
py=${SLUICE_PYTHON3:-python3}
base=$(cat "${SLUICE_TEST_PGENV:?}")
export PGOPTIONS="-c client_min_messages=warning"
export SLTEST_CRASH_MISP_KEY=sluiceTestMispKey0000000000000000000000a
key=$SLTEST_CRASH_MISP_KEY
seed=${SLUICE_CRASH_SEED:-$((($(date +%s) * 7919 + $$) % 100000))}
kills_wanted=${SLUICE_CRASH_KILLS:-20}
n=${SLUICE_CRASH_EVENTS:-150}
# MISP distribution levels the events are drawn from: your organisation only, this community,
# connected communities, all communities (B and C take 1-3 and 3 only: what each may hold is asked
# of `sluice policy explain`). Sharing groups are integration.e2e's.
dists=${SLUICE_CRASH_DISTRIBUTIONS:-0 1 2 3}
db=sl_sync_crash_$$
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ -n "${SLUICE_CRASH_KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
	psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT
echo "sync_crash: seed=$seed (SLUICE_CRASH_SEED=$seed replays it), $n events, $kills_wanted kills"
psql "$base" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
mkdir "$tmp/seed"

# n published events from the seed: TLP CLEAR/GREEN/AMBER/RED, a MISP distribution from $dists, 2 to 40
# attributes, every 50th one 400 attributes.
"$py" - "$tmp/seed" "$n" "$seed" "$dists" <<'PY'
import json, random, sys, uuid
d, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dists = [int(x) for x in sys.argv[4].split()]
r = random.Random(seed)
for i in range(n):
    u = str(uuid.UUID(int=0x5a0c8a2e6f1b4b7c9d3e000000c00000 + i))
    ts = str(1790000000 + i)
    tlp = r.choice(["tlp:clear", "tlp:green", "tlp:green", "tlp:amber", "tlp:red"])
    k = 400 if i % 50 == 49 else r.randint(2, 40)
    attrs = [{"uuid": str(uuid.UUID(int=0x5a0c8a2e6f1b4b7c9d3e000100000000 + i * 1000 + j)),
              "type": "domain", "category": "Network activity", "value": "c%d-%d.example" % (i, j),
              "to_ids": True, "timestamp": ts, "distribution": "5"} for j in range(k)]
    ev = {"Event": {"uuid": u, "info": "crash test %d" % i, "date": "2026-11-01", "timestamp": ts,
                    "published": True, "publish_timestamp": ts, "distribution": str(r.choice(dists)),
                    "threat_level_id": "2", "analysis": "2",
                    "Orgc": {"name": "OrgA", "uuid": "5a0c8a2e-6f1b-4b7c-9d3e-0000000000aa"},
                    "Tag": [{"name": tlp}], "Attribute": attrs}}
    json.dump(ev, open("%s/%04d.json" % (d, i), "w"))
PY

# Two destinations with different rules, and A, so that nothing may come back to it.
cat >"$tmp/crash.policy" <<'POLICY'
destination "misp-a" {
  kind = "misp"
  max_tlp = "amber"
  unmarked = "deny"
  distribution = {1, 2, 3}
}
destination "misp-b" {
  kind = "misp"
  max_tlp = "amber"
  unmarked = "deny"
  distribution = {1, 2, 3}
}
destination "misp-c" {
  kind = "misp"
  max_tlp = "green"
  unmarked = "deny"
  distribution = {3}
}
POLICY

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
start_peer c
{
	cat <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$tmp/crash.policy"
log_level = "warn"
limits {
  batch_size = ${SLUICE_CRASH_BATCH:-500}
}
CONF
	for p in a b c; do
		eval "u=\$url_$p"
		cat <<CONF
peer "misp-$p" {
  kind = "misp"
  url = "$u"
  direction = "both"
  api_key_env = "SLTEST_CRASH_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
  retry_base_ms = 200
  retry_cap_ms = 2000
}
CONF
	done
} >"$tmp/sluice.conf"

# How many events B and C hold (cheap: deliveries only).
progress() {
	local out=""
	for p in b c; do
		eval "u=\$url_$p"
		out="$out $p=$(curl -s "$u/_test/deliveries" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
	done
	echo "$out"
}

# An edit on A, as an analyst would make it: a newer timestamp and one more attribute.
edits=0
edit_some() { # round: edits 8 events picked from the seed
	"$py" - "$url_a" "$key" "$1" "$n" "$seed" <<'PY'
import json, random, sys, urllib.request
url, key, rnd, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = random.Random(seed * 100 + rnd)
h = {"Authorization": key, "Accept": "application/json", "Content-Type": "application/json"}
for k, i in enumerate(r.sample(range(n), 8)):
    u = "5a0c8a2e-6f1b-4b7c-9d3e-%012x" % (0x000000c00000 + i)
    ev = json.load(urllib.request.urlopen(urllib.request.Request(url + "/events/view/" + u, headers=h)))["Event"]
    # MISP stamps an edit with the time of the edit: later than every earlier change
    ts = str(1791000000 + rnd * 100 + k)
    ev["timestamp"] = ts
    ev["Attribute"].append({"type": "domain", "category": "Network activity", "to_ids": True,
                            "value": "edit-%d-%d.example" % (rnd, i), "timestamp": ts, "distribution": "5"})
    urllib.request.urlopen(urllib.request.Request(url + "/events/edit/" + u, data=json.dumps({"Event": ev}).encode(),
                                                  headers=h, method="POST"))
PY
	edits=$((edits + 8))
}

RANDOM=$seed
kills=0
for round in $(seq "$kills_wanted"); do
	"$bin" run -c "$tmp/sluice.conf" 2>>"$tmp/run.log" &
	run=$!
	pids+=($run)
	ms=$((150 + RANDOM % 2400))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	if ! kill -0 $run 2>/dev/null; then
		wait $run
		echo "FAIL: round $round: sluice run exited by itself (status $?) before the kill"
		tail -30 "$tmp/run.log"
		exit 1
	fi
	kill -9 $run
	wait $run 2>/dev/null
	[ $? = 137 ] && kills=$((kills + 1))
	echo "round $round: killed after ${ms} ms; holding:$(progress)"
	case $round in 5 | 10 | 15) edit_some "$round" ;; esac
done

# What each destination must hold: A's events now, decided by the policy (sluice policy explain).
expect() {
	curl -s "$url_a/_test/dump" >"$tmp/a.json"
	"$py" - "$tmp/a.json" "$tmp/a_events.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
json.dump({"response": a["events"]}, open(sys.argv[2], "w"))
PY
	for p in b c; do
		"$bin" policy explain "$tmp/a_events.json" --policy "$tmp/crash.policy" \
			--destination "misp-$p" --json >"$tmp/explain_$p.json" || return 1
	done
}
expect || { echo "FAIL: sluice policy explain failed"; exit 1; }

# How many events each destination must hold.
wants=$("$py" - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
out = []
for p in "bc":
    n = sum(1 for line in open("%s/explain_%s.json" % (tmp, p))
            if json.loads(line)["decision"] in ("allow", "allow-with-changes"))
    out.append("%s=%d" % (p, n))
print(" " + " ".join(out))
PY
)
echo "allowed by the policy:$wants"

# "<lost> <duplicated> <leaked> <back> <detail>" over B and C (and A for back/duplicated).
verdict() {
	for p in a b c; do
		eval "u=\$url_$p"
		curl -s "$u/_test/dump" >"$tmp/$p.json"
	done
	"$py" - "$tmp" "$edits" <<'PY'
import json, sys
tmp, edits = sys.argv[1], int(sys.argv[2])
a_ev = {e["Event"]["uuid"]: int(e["Event"]["timestamp"]) for e in json.load(open(tmp + "/a.json"))["events"]}
lost = dup = leaked = 0
notes = []
for p in "bc":
    allowed = set()
    for line in open("%s/explain_%s.json" % (tmp, p)):
        row = json.loads(line)
        if row["object_id"] in a_ev and row["decision"] in ("allow", "allow-with-changes"):
            allowed.add(row["object_id"])
    d = json.load(open("%s/%s.json" % (tmp, p)))
    held = {e["Event"]["uuid"]: int(e["Event"]["timestamp"]) for e in d["events"]}
    for u in sorted(allowed):
        if held.get(u) != a_ev[u]:
            lost += 1
            if len(notes) < 5:
                notes.append("misp-%s lacks %s@%d (holds %s)" % (p, u, a_ev[u], held.get(u)))
    for u in held:
        if u not in allowed:
            leaked += 1
            notes.append("misp-%s holds %s, which its policy denies" % (p, u))
    for u, x in d["deliveries"].items():
        extra = x["applied"] - len(set(x["versions"]))
        if extra > 0:
            dup += extra
            notes.append("misp-%s applied a version of %s %d times too many" % (p, u, extra))
    print("misp-%s: %d allowed of %d, holds %d" % (p, len(allowed), len(a_ev), len(held)), file=sys.stderr)
back = sum(x["applied"] for x in json.load(open(tmp + "/a.json"))["deliveries"].values()) - edits
print(lost, dup, leaked, back, "; ".join(notes[:8]) or "-")
PY
}

# The last run is left to finish: rows leased by killed runs come back after 60 s.
"$bin" run -c "$tmp/sluice.conf" 2>>"$tmp/run.log" &
run=$!
pids+=($run)
# Wait until both hold what they must — every allowed event, each in its newest allowed version
# (holding all events is not enough: an edit may still be leased by a killed run) — or nothing new
# arrived for 90 s once the leases are over (a slow machine is slow, not lossy), or 10 minutes.
last=""
quiet=0
for sec in $(seq 600); do
	sleep 1
	now=$(progress)
	[ "$now" = "$wants" ] && [ "$(verdict | cut -d' ' -f1)" = 0 ] && break
	if [ "$now" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; last=$now; fi
	[ "$sec" -gt 70 ] && [ "$quiet" -ge 90 ] && break
done
sleep 3 # let anything still in flight land, so a late duplicate is counted
kill -TERM $run
wait $run
stopped=$?
read -r lost dup leaked back notes <<<"$(verdict)"
echo "$kills kills, $lost lost, $dup duplicated"
fail=0
[ "$kills" = "$kills_wanted" ] || { echo "FAIL: $kills kills, want $kills_wanted"; fail=1; }
[ "$lost" = 0 ] || { echo "FAIL: $lost allowed versions missing"; fail=1; }
[ "$dup" = 0 ] || { echo "FAIL: $dup versions applied more than once"; fail=1; }
[ "$leaked" = 0 ] || { echo "FAIL: $leaked events reached a destination whose policy denies them"; fail=1; }
[ "$back" = 0 ] || { echo "FAIL: $back versions pushed back to A"; fail=1; }
[ "$stopped" = 0 ] || { echo "FAIL: the last run exited $stopped on SIGTERM"; fail=1; }
[ "$notes" = - ] || echo "notes: $notes"
[ $fail = 0 ] || { tail -40 "$tmp/run.log"; exit 1; }
echo "sync_crash: ok"
