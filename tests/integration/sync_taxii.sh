#!/usr/bin/env bash
# sync_taxii.sh — `sluice run` with a MISP peer and a TAXII 2.1 partner (taxii-peer), both ways: the
# partner's TLP:GREEN report reaches MISP once and its TLP:RED one never; a new version of one of the
# report's indicators alone reaches MISP as an edit of the event, and its revocation as MISP's soft
# deletion of the attribute; MISP's events reach the partner exactly as the audit says the policy
# allowed; a sighting the partner made of MISP's indicator reaches MISP alone, once, and one made
# on MISP reaches the partner alone, with the event's TLP; a domain deleted on MISP reaches the
# partner as its revoked version; the partner's withdrawn (revoked) report deletes MISP's copy of
# its event; what sluice
# pushed to the partner and reads back from it is never pushed again, to the partner or back to
# MISP, and the sync settles.
set -u
bin=${SLUICE_BIN:?}
misp=${SLUICE_BUILD_DIR:?}/tests/misp-peer
taxii=${SLUICE_BUILD_DIR:?}/tests/taxii-peer
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
export SLTEST_STIX_MISP_KEY=sluiceTestMispKey0000000000000000000000a
export SLTEST_STIX_TAXII_CRED=partner:partnerPw0
db=sl_sync_taxii_$$
. "$(dirname "$0")/script_env.sh"
fail=0

start_peer url_a "$misp" --seed "$src/fixtures/peers/misp"
start_peer url_p "$taxii" --user partner --password partnerPw0 --data "$src/fixtures/sync/taxii-partner.json"

cat >"$tmp/sluice.conf" <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$src/fixtures/sync/taxii.policy"
log_level = "info"
peer "misp-a" {
  kind = "misp"
  url = "$url_a"
  direction = "both"
  api_key_env = "SLTEST_STIX_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
}
peer "taxii-p" {
  kind = "taxii"
  url = "${url_p%/}/taxii2/"
  direction = "both"
  api_key_env = "SLTEST_STIX_TAXII_CRED"
  allow_plain_http = true
  poll_interval = 5
}
CONF
"$bin" run -c "$tmp/sluice.conf" 2>"$tmp/run.log" &
run=$!
pids+=($run)

misp_dump() { curl -s "$url_a/_test/dump"; }
taxii_dump() { curl -s "${url_p%/}/_test/dump"; }
# The partner's GREEN report is MISP event 8e2e2d2b-...-cd3f once it arrives.
for _ in $(seq 150); do
	[ "$(misp_dump | "$py" -c "import json,sys; print(json.load(sys.stdin)['deliveries'].get('8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',{}).get('applied',0))")" = 1 ] && break
	sleep 0.2
done
# The partner issues a new version of its indicator alone (not of the report): MISP must get the
# report's event again, edited, with the new value — an object inside an event changed on its own.
curl -s -XPOST "${url_p%/}/_test/add" -d '{"collection": "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
  "objects": [{"type": "indicator", "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd40",
    "created": "2026-11-01T10:00:00.000Z", "modified": "2026-11-02T09:00:00.000Z",
    "pattern": "[domain-name:value = '"'"'partner-evil-v2.example'"'"']", "pattern_type": "stix",
    "valid_from": "2026-11-01T10:00:00Z",
    "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}]}' >/dev/null
for _ in $(seq 150); do
	[ "$(misp_dump | "$py" -c "import json,sys; print(json.load(sys.stdin)['deliveries'].get('8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',{}).get('applied',0))")" = 2 ] && break
	sleep 0.2
done
# Then the partner revokes it: MISP soft-deletes the attribute (an edit with "deleted": true).
curl -s -XPOST "${url_p%/}/_test/add" -d '{"collection": "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
  "objects": [{"type": "indicator", "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd40", "revoked": true,
    "created": "2026-11-01T10:00:00.000Z", "modified": "2026-11-03T09:00:00.000Z",
    "pattern": "[domain-name:value = '"'"'partner-evil-v2.example'"'"']", "pattern_type": "stix",
    "valid_from": "2026-11-01T10:00:00Z",
    "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}]}' >/dev/null
for _ in $(seq 150); do
	[ "$(misp_dump | "$py" -c "import json,sys; print(json.load(sys.stdin)['deliveries'].get('8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',{}).get('applied',0))")" = 3 ] && break
	sleep 0.2
done
misp_dump >"$tmp/misp_mid.json" # MISP's copy of the partner's report, before it is withdrawn
# The partner saw one of MISP's own indicators: the sighting reaches MISP alone (the event does not
# change), as MISP's own sync sends sightings, once, and never goes back to the partner.
curl -s -XPOST "${url_p%/}/_test/add" -d '{"collection": "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
  "objects": [{"type": "sighting", "spec_version": "2.1",
    "id": "sighting--5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1e",
    "created": "2026-11-04T10:00:00.000Z", "modified": "2026-11-04T10:00:00.000Z",
    "sighting_of_ref": "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01", "count": 3,
    "description": "partner sensor",
    "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}]}' >/dev/null
for _ in $(seq 150); do
	[ "$(misp_dump | "$py" -c "import json,sys; print(len(json.load(sys.stdin)['sightings']))")" -ge 1 ] && break
	sleep 0.2
done
# MISP's own SOC sights the event's address on MISP: the sighting alone (its event does not
# change) reaches the partner as a STIX sighting of the indicator, with the event's TLP:GREEN.
sid=$(curl -s -XPOST "$url_a/sightings/add" -H "Authorization: $SLTEST_STIX_MISP_KEY" \
	-H "Accept: application/json" -H "Content-Type: application/json" \
	-d '{"uuid": "7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b02", "type": "0", "date_sighting": "1793790000", "source": "soc"}' |
	"$py" -c "import json,sys; print(json.load(sys.stdin)['Sighting']['uuid'])")
for _ in $(seq 150); do
	taxii_dump | grep -q "sighting--$sid" && break
	sleep 0.2
done
# An analyst deletes the phishing domain on MISP (a soft delete, as MISP's sync carries
# deletions): the partner gets the indicator's revoked version.
curl -s -XPOST "$url_a/attributes/delete/7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01" \
	-H "Authorization: $SLTEST_STIX_MISP_KEY" -H "Accept: application/json" >/dev/null
for _ in $(seq 150); do
	taxii_dump | "$py" -c "
import json,sys
objs = [r['object'] for c in json.load(sys.stdin)['collections'].values() for r in c['objects']]
sys.exit(0 if any(o['id'] == 'indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01' and o.get('revoked')
                  for o in objs) else 1)" && break
	sleep 0.2
done
# Last, the partner withdraws its report (a revoked version): MISP has no revoked event, so its
# copy is deleted, once.
"$py" - "$src/fixtures/sync/taxii-partner.json" <<'PY' >"$tmp/withdraw.json"
import json, sys
c = json.load(open(sys.argv[1]))["collections"][0]
r = next(x for x in c["objects"] if x["id"] == "report--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
r.update(modified="2026-11-05T09:00:00.000Z", revoked=True)
print(json.dumps({"collection": c["id"], "objects": [r]}))
PY
curl -s -XPOST "${url_p%/}/_test/add" -d "@$tmp/withdraw.json" >/dev/null
for _ in $(seq 150); do
	[ "$(misp_dump | "$py" -c "import json,sys; print(json.load(sys.stdin)['deliveries'].get('8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',{}).get('deleted',0))")" = 1 ] && break
	sleep 0.2
done
# Let both peers be polled twice more after that: anything echoing would show by then.
sleep 11
kill -TERM $run
wait $run
rc=$?
[ $rc = 0 ] || { echo "FAIL: sluice run exited $rc"; fail=1; }
misp_dump >"$tmp/misp.json"
taxii_dump >"$tmp/taxii.json"
"$bin" ledger audit --db "$base dbname=$db" --json >"$tmp/audit.json" || { echo "FAIL: ledger audit"; fail=1; }
"$bin" status -c "$tmp/sluice.conf" --json >"$tmp/status.json" || { echo "FAIL: sluice status"; fail=1; }

"$py" - "$tmp" "$sid" <<'PY' || fail=1
import json, sys
d = sys.argv[1]
misp = json.load(open(d + "/misp.json"))
tx = json.load(open(d + "/taxii.json"))
got = [r["object"] for r in tx["collections"]["91a7b528-80eb-42ed-a74d-c6fbd5a26116"]["objects"]]
audit = json.load(open(d + "/audit.json"))
rows = audit if isinstance(audit, list) else audit.get("audit", audit.get("rows", []))
bad = 0
def fail(msg):
    global bad
    bad = 1
    print("FAIL: " + msg)

dl = misp["deliveries"]
green, red = "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd50"
if dl.get(green, {}).get("applied") != 3:
    fail("the partner's TLP:GREEN report, its edited and its revoked indicator did not reach MISP "
         "exactly once each: %r" % dl.get(green))
mid = json.load(open(d + "/misp_mid.json"))
ev = [e["Event"] for e in mid["events"] if e["Event"]["uuid"] == green]
vals = sorted((a["value"], bool(a.get("deleted"))) for a in (ev[0].get("Attribute", []) if ev else []))
if vals != [("partner-evil-v2.example", True)]:
    fail("MISP's copy of the partner report holds %r, not the edited indicator, soft-deleted" % vals)
if any(e["Event"]["uuid"] == green for e in misp["events"]) or dl.get(green, {}).get("deleted") != 1:
    fail("the partner's withdrawn report was not deleted at MISP once: %r" % dl.get(green))
if red in dl:
    fail("the partner's TLP:RED report reached MISP: %r" % dl[red])
sg = [x for x in misp.get("sightings", []) if x.get("uuid") == "5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1e"]
if len(sg) != 1 or len(misp.get("sightings", [])) != 2:
    fail("MISP holds %r, not the partner's sighting and its own, once each" % misp.get("sightings"))
elif (sg[0].get("attribute_uuid") != "7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01" or
      str(sg[0].get("type")) != "0" or str(sg[0].get("date_sighting")) != "1793786400" or
      sg[0].get("source") != "partner sensor"):
    fail("the sighting reached MISP as %r" % sg[0])
if misp.get("sighting_posts") != {"7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01": {"requests": 1, "saved": 1}}:
    fail("sightings were pushed to MISP as %r, not once" % misp.get("sighting_posts"))
if sum(1 for o in got if o["id"] == "sighting--5a1d0c3e-2b7f-4c1a-9d3e-6f7a8b9c0d1e") != 1:
    fail("the partner's sighting went back to the partner")
dom = sorted((o for o in got if o["id"] == "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b01"),
             key=lambda o: o["modified"])
if not dom or not dom[-1].get("revoked") or any(o.get("revoked") for o in dom[:-1]):
    fail("the domain deleted on MISP is not revoked at the partner: %r" %
         [(o["modified"], o.get("revoked")) for o in dom])
mine = [o for o in got if o["id"] == "sighting--" + sys.argv[2]]
if len(mine) != 1:
    fail("MISP's own sighting reached the partner %d times" % len(mine))
elif (mine[0].get("sighting_of_ref") != "indicator--7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5b02" or
      mine[0].get("created") != "2026-11-04T11:00:00.000Z" or
      mine[0].get("object_marking_refs") != ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]):
    fail("MISP's own sighting reached the partner as %r" % mine[0])
# Nothing of MISP's own events may be pushed back to it (an echo shows as a rejected add/edit).
for uuid in ("7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a01", "7a1c3e10-5b2d-4f6e-9a01-1c2d3e4f5a02"):
    if dl.get(uuid, {}).get("add") or dl.get(uuid, {}).get("edit") or dl.get(uuid, {}).get("rejected"):
        fail("MISP's own event %s was pushed back to it: %r" % (uuid, dl[uuid]))

# What reached the partner is exactly what the audit says the policy allowed it.
allowed = {(r["id"], r["modified"]) for r in rows
           if r.get("destination") == "taxii-p" and r.get("decision", "").startswith("allow")}
denied = {r["id"] for r in rows if r.get("destination") == "taxii-p" and r.get("decision") == "deny"}
def norm(ts):  # the audit and TAXII may print fractions differently
    base, _, frac = ts.rstrip("Z").partition(".")
    frac = frac.rstrip("0")
    return base + ("." + frac if frac else "")
EPOCH = "1970-01-01T00:00:00Z"  # the version key of SCOs, which have no modified
pushed = [o for o in got if not o["id"].startswith(("report--8e2e2d2b", "indicator--8e2e2d2b"))]
seen = {}
for o in pushed:
    k = (o["id"], norm(o.get("modified", o.get("created", EPOCH))))
    seen[k] = seen.get(k, 0) + 1
if not allowed:
    fail("the audit allowed nothing to the partner: the test proves nothing")
for (i, m) in allowed:
    if i.startswith("marking-definition--"):
        continue
    if seen.get((i, norm(m)), 0) != 1:
        fail("allowed %s %s reached the partner %d times" % (i, m, seen.get((i, norm(m)), 0)))
for (i, m), n in seen.items():
    if i in denied:
        fail("denied %s reached the partner" % i)
    if n != 1:
        fail("%s %s reached the partner %d times" % (i, m, n))
amber = [o for o in pushed if "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
         in o.get("object_marking_refs", [])]
if amber:
    fail("TLP:AMBER objects reached a TLP:GREEN partner: %s" % [o["id"] for o in amber][:3])
# sluice status: both peers pulled through, nothing left to send, what the policy held back shown.
st = {p["name"]: p for p in json.load(open(d + "/status.json"))["peers"]}
for name in ("misp-a", "taxii-p"):
    p = st.get(name, {})
    q = p.get("queue", {})
    if not isinstance(p.get("lag_s"), int) or p["lag_s"] < 0:
        fail("status: %s has no pull lag: %r" % (name, p.get("lag_s")))
    if q.get("pending") != 0 or q.get("failed") != 0 or q.get("parked") != 0:
        fail("status: %s still owes: %r" % (name, q))
if st.get("taxii-p", {}).get("queue", {}).get("blocked") != len(
        {(r["id"], r["modified"]) for r in rows
         if r.get("destination") == "taxii-p" and r.get("decision") == "deny"}):
    fail("status: taxii-p blocked count is not the audit's denials: %r" % st.get("taxii-p"))
print("partner holds %d objects from MISP (%d allowed by the audit, %d denied); MISP applied %d" %
      (len(pushed), len(allowed), len(denied), sum(v.get("applied", 0) for v in dl.values())))
sys.exit(bad)
PY
posts=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['posts'])" "$tmp/taxii.json")
grep -E " (error|warn) " "$tmp/run.log" | head -20
[ $fail = 0 ] && echo "ok: partner <-> MISP through sluice, no echo (partner POSTs: ${posts:-?})"
exit $fail
