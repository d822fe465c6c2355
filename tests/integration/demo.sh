#!/usr/bin/env bash
# demo.sh — the README's first command, run non-interactively: `sluice demo` ingests the demo feed,
# prints one TAXII line per partner, and serves each partner exactly its share. Checked against the
# demo policy's rules (not against stored answers): nothing above a partner's TLP, no personal data in
# clear where its policy says otherwise, every allowed object reachable by paging; Ctrl-C stops cleanly.
set -u
bin=${SLUICE_BIN:?}
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
base=$(cat "${SLUICE_TEST_PGENV:?}")
db=sl_demo_$$
export PGOPTIONS="-c client_min_messages=warning"
psql "$base" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
out=$(mktemp)
trap 'kill %1 2>/dev/null; rm -f "$out"; psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1' EXIT
cd "$src"
"$bin" demo --db "$base dbname=$db" --listen 127.0.0.1:0 >"$out" 2>&1 &
for _ in $(seq 100); do grep -q '^serving' "$out" && break; sleep 0.1; done
grep -q '^serving' "$out" || { echo "FAIL: demo did not start"; cat "$out"; exit 1; }

"$py" - "$out" <<'PY'
import base64, json, re, sys, urllib.request
lines = open(sys.argv[1]).read().splitlines()
taxii = [l.split() for l in lines if l.startswith("TAXII ")]
assert len(taxii) == 2, lines
fail = []
RED, STRICT = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d[\d ]{7,}")
def get(url, user, pw, accept="application/taxii+json;version=2.1"):
    req = urllib.request.Request(url, headers={"Accept": accept,
          "Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}"), r.headers
seen = {}
for _, disc, user, pw in taxii:
    d, _ = get(disc, user, pw)
    root = disc.rsplit("/taxii2/", 1)[0] + d["api_roots"][0]
    cols, _ = get(root + "collections/", user, pw)
    cid = cols["collections"][0]["id"]
    objs, nxt = [], None
    while True:
        url = root + f"collections/{cid}/objects/?limit=3" + (f"&next={nxt}" if nxt else "")
        page, hdr = get(url, user, pw)
        objs += page.get("objects", [])
        if not page.get("more"):
            break
        nxt = page["next"]
    ids = [(o["id"], o.get("modified")) for o in objs]
    if len(ids) != len(set(ids)):
        fail.append(f"{user}: paging returned duplicates")
    seen[user] = objs
    text = json.dumps(objs)
    for o in objs:
        refs = set(o.get("object_marking_refs", []))
        if RED in refs or STRICT in refs:
            fail.append(f"{user} got {o['id']} marked RED or AMBER+STRICT")
        if user == "isac-partner" and AMBER in refs:
            fail.append(f"{user} (max GREEN) got AMBER {o['id']}")
    if user == "isac-partner":
        clear = [e for e in EMAIL.findall(text) if not e.endswith("@pseudonym.invalid")]
        if clear:
            fail.append(f"isac-partner got email addresses in clear: {clear[:3]}")
        if "@pseudonym.invalid" not in text:
            fail.append("isac-partner got no pseudonymised address (correlation lost)")
    if PHONE.search(text):
        fail.append(f"{user} got a phone number: {PHONE.search(text).group(0)}")
    if not objs:
        fail.append(f"{user} sees nothing")
    # A wrong password is refused, with a challenge.
    try:
        get(disc, user, pw + "x")
        fail.append(f"{user}: wrong password accepted")
    except urllib.error.HTTPError as e:
        if e.code != 401 or "WWW-Authenticate" not in e.headers:
            fail.append(f"{user}: wrong password gave {e.code}")
# A partner's POST takes the pipeline: isac-partner posts a GREEN and a RED indicator; national-cert
# (max AMBER) gets the GREEN one only, and nothing goes back to isac-partner itself.
GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
def indicator(uuid, marking):
    return {"type": "indicator", "spec_version": "2.1", "id": "indicator--" + uuid,
            "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
            "pattern": "[domain-name:value = 'posted-%s.example']" % uuid[:8], "pattern_type": "stix",
            "valid_from": "2026-11-20T10:00:00Z", "object_marking_refs": [marking]}
g, r = "0d0e0f10-1112-4314-8516-171819202122", "0d0e0f10-1112-4314-8516-171819202133"
env = {"objects": [indicator(g, GREEN), indicator(r, RED)]}
(_, disc_i, user_i, pw_i), (_, disc_n, user_n, pw_n) = sorted(taxii, key=lambda t: t[2] != "isac-partner")
root = disc_i.rsplit("/taxii2/", 1)[0] + "/api/"
cid = get(root + "collections/", user_i, pw_i)[0]["collections"][0]["id"]
req = urllib.request.Request(root + f"collections/{cid}/objects/", data=json.dumps(env).encode(), method="POST",
      headers={"Accept": "application/taxii+json;version=2.1", "Content-Type": "application/taxii+json;version=2.1",
               "Authorization": "Basic " + base64.b64encode(f"{user_i}:{pw_i}".encode()).decode()})
with urllib.request.urlopen(req, timeout=10) as resp:
    status = json.loads(resp.read())
if status.get("success_count") != 2:
    fail.append(f"POST status: {status}")
def ids_of(user, pw):
    page, _ = get(root + f"collections/{cid}/objects/?match[type]=indicator", user, pw)
    return {o["id"] for o in page.get("objects", [])}
import time
for _ in range(50):  # the view is refreshed by notification, a few ms later
    n_ids = ids_of(user_n, pw_n)
    if "indicator--" + g in n_ids:
        break
    time.sleep(0.1)
if "indicator--" + g not in n_ids:
    fail.append("national-cert did not get the GREEN indicator isac-partner posted")
if "indicator--" + r in n_ids:
    fail.append("national-cert got the RED indicator")
i_ids = ids_of(user_i, pw_i)
if "indicator--" + g in i_ids or "indicator--" + r in i_ids:
    fail.append("isac-partner's own objects came back to it")
if len(seen.get("isac-partner", [])) >= len(seen.get("national-cert", [])):
    fail.append("the GREEN partner should see less than the AMBER partner")
for f in fail:
    print("FAIL:", f)
print(f"demo: isac-partner {len(seen.get('isac-partner', []))} objects, national-cert {len(seen.get('national-cert', []))} objects")
sys.exit(1 if fail else 0)
PY
rc=$?
kill -INT %1
wait %1
src_rc=$?
[ $src_rc = 0 ] || { echo "FAIL: demo exited $src_rc after SIGINT"; rc=1; }
grep -q "stopping" "$out" || { echo "FAIL: no clean stop"; rc=1; }
[ $rc = 0 ] && echo "demo: all passed"
exit $rc
