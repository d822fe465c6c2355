#!/usr/bin/env bash
# run_taxii.sh — `sluice run` serves its own TAXII 2.1 API: a misp-peer seeded with five events
# (TLP:CLEAR, GREEN, AMBER, RED) is pulled, and two partners of the config's taxii_server block read
# the collection they are granted. Each must be served exactly the versions `sluice policy explain`
# allows its destination (asked of sluice, never listed here): nothing more, nothing less. (Both
# take every distribution level the fixtures use, which `sluice run` carries with each object and
# explain of a mapped bundle does not: TLP tells them apart; test_e2e covers distribution.) A wrong
# password is refused, a collection not granted is not readable, and partners cannot write.
set -u
bin=${SLUICE_BIN:?}
peer=${SLUICE_BUILD_DIR:?}/tests/misp-peer
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
export SLTEST_TX_MISP_KEY=sluiceTestMispKey0000000000000000000000a
export SLTEST_TX_PW_GREEN=greenPartnerPw0
export SLTEST_TX_PW_CLEAR=clearPartnerPw0
db=sl_run_taxii_$$
coll=5a0c8a2e-6f1b-4b7c-9d3e-00000000c011
other=5a0c8a2e-6f1b-4b7c-9d3e-00000000c022
. "$(dirname "$0")/script_env.sh"
fail=0

start_peer url "$peer" --seed "$src/fixtures/e2e/misp-a"

cat >"$tmp/run.policy" <<'POLICY'
destination "misp-a" {
  kind = "misp"
  max_tlp = "amber"
  unmarked = "deny"
}
destination "partner-green" {
  kind = "taxii-collection"
  max_tlp = "green"
  unmarked = "deny"
  distribution = {1, 2, 3}
}
destination "partner-clear" {
  kind = "taxii-collection"
  max_tlp = "clear"
  unmarked = "deny"
  distribution = {1, 2, 3}
}
POLICY
cat >"$tmp/sluice.conf" <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$tmp/run.policy"
log_level = "info"
taxii_server {
  listen = "127.0.0.1:0"
  partner "partner-green" {
    user = "green"
    password_env = "SLTEST_TX_PW_GREEN"
    collections = {"$coll"}
  }
  partner "partner-clear" {
    user = "clear"
    password_env = "SLTEST_TX_PW_CLEAR"
    collections = {"$coll", "$other"}
  }
}
peer "misp-a" {
  kind = "misp"
  url = "$url"
  direction = "pull"
  api_key_env = "SLTEST_TX_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
CONF
"$bin" run -c "$tmp/sluice.conf" 2>"$tmp/run.log" &
run=$!
pids+=($run)
for _ in $(seq 100); do grep -q "TAXII 2.1 server on" "$tmp/run.log" && break; sleep 0.1; done
port=$(sed -n 's/.*TAXII 2.1 server on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/run.log" | head -1)
[ -n "$port" ] || { echo "FAIL: no TAXII server in sluice run's log"; cat "$tmp/run.log"; exit 1; }
taxii=http://127.0.0.1:$port

# What each partner must be served: every version of the mapped events its destination is allowed.
n=0
for f in "$src"/fixtures/e2e/misp-a/*.json; do
	n=$((n + 1))
	"$bin" map --from misp --to stix21 "$f" >"$tmp/ev$n.stix.json" 2>/dev/null ||
		{ echo "FAIL: cannot map $f"; exit 1; }
done
"$py" -c '
import json, sys
objs = []
for f in sys.argv[1:]:
    objs += json.load(open(f))["objects"]
print(json.dumps({"type": "bundle", "id": "bundle--5a0c8a2e-6f1b-4b7c-9d3e-0000000000b1", "objects": objs}))
' "$tmp"/ev*.stix.json >"$tmp/all.stix.json" || { echo "FAIL: cannot join the mapped fixtures"; exit 1; }
expect() { # destination -> sorted "id modified" lines it is allowed
	"$bin" policy explain "$tmp/all.stix.json" --policy "$tmp/run.policy" --destination "$1" --json |
		"$py" -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if r["decision"].startswith("allow"):
        print(r["object_id"], r.get("modified") or "-")' | sort -u
}
served() { # user password -> sorted "id modified" lines of the collection, every page
	"$py" - "$taxii/api/collections/$coll/objects/" "$1" "$2" <<'PY' | sort -u
import base64, json, sys, urllib.request
url, user, pw = sys.argv[1:4]
auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
nxt = None
for _ in range(1000):
    u = url + "?limit=50" + (f"&next={nxt}" if nxt else "")
    req = urllib.request.Request(u, headers={"Authorization": auth,
                                             "Accept": "application/taxii+json;version=2.1"})
    with urllib.request.urlopen(req) as r:
        page = json.load(r)
    for o in page.get("objects", []):
        print(o["id"], o.get("modified") or o.get("created") or "-")  # SCOs have no version
    if not page.get("more"):
        break
    nxt = page["next"]
PY
}
# the ledger keeps STIX timestamps to the microsecond and explain prints them as given: compare ids
# and versions as instants ("-": an SCO, which has none)
norm() { "$py" -c '
import sys, datetime
for l in sys.stdin:
    i, m = l.split()
    if m == "-":
        print(i, m)
        continue
    if m.isdigit():
        t = datetime.datetime.fromtimestamp(int(m), datetime.timezone.utc)
    else:
        t = datetime.datetime.fromisoformat(m.replace("Z", "+00:00"))
    print(i, t.isoformat())' | sort -u; }

for who in green clear; do
	expect "partner-$who" | norm >"$tmp/want.$who"
	[ -s "$tmp/want.$who" ] || { echo "FAIL: the policy allows partner-$who nothing (fixtures?)"; fail=1; }
done
cmp -s "$tmp/want.green" "$tmp/want.clear" &&
	{ echo "FAIL: both partners are allowed the same: the test would not tell them apart"; fail=1; }
pw_green=$SLTEST_TX_PW_GREEN
pw_clear=$SLTEST_TX_PW_CLEAR
for who in green clear; do
	pw=pw_$who
	for _ in $(seq 150); do
		served "$who" "${!pw}" 2>/dev/null | norm >"$tmp/got.$who"
		cmp -s "$tmp/want.$who" "$tmp/got.$who" && break
		sleep 0.2
	done
	if ! cmp -s "$tmp/want.$who" "$tmp/got.$who"; then
		echo "FAIL: partner-$who is not served exactly what its policy allows"
		echo "  allowed but not served:"
		comm -23 "$tmp/want.$who" "$tmp/got.$who" | sed 's/^/    /'
		echo "  served but not allowed:"
		comm -13 "$tmp/want.$who" "$tmp/got.$who" | sed 's/^/    /'
		fail=1
	fi
done
echo "partner-green served $(wc -l <"$tmp/got.green") versions, partner-clear $(wc -l <"$tmp/got.clear")"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
h=(-H 'Accept: application/taxii+json;version=2.1')
[ "$(code "${h[@]}" -u green:wrong "$taxii/api/collections/$coll/objects/")" = 401 ] ||
	{ echo "FAIL: a wrong password was not refused with 401"; fail=1; }
c=$(code "${h[@]}" -u "green:$pw_green" "$taxii/api/collections/$other/objects/")
[ "$c" = 403 ] || [ "$c" = 404 ] ||
	{ echo "FAIL: partner-green read a collection it is not granted ($c)"; fail=1; }
c=$(code "${h[@]}" -u "clear:$pw_clear" -X POST -H 'Content-Type: application/taxii+json;version=2.1' \
	--data '{"objects": []}' "$taxii/api/collections/$coll/objects/")
[ "$c" = 403 ] || { echo "FAIL: a partner could write to the collection ($c)"; fail=1; }
grep -q "$pw_green\|$pw_clear" "$tmp/run.log" && { echo "FAIL: a partner password is in the log"; fail=1; }

kill -TERM $run
wait $run
rc=$?
[ $rc = 0 ] || { echo "FAIL: sluice run exited $rc on SIGTERM"; fail=1; }
[ $fail = 0 ] && echo "run_taxii: OK" || { echo "--- run.log"; cat "$tmp/run.log"; }
exit $fail
