#!/usr/bin/env bash
# test_e2e.sh — `sluice run` end to end (issue 5, "Done when"): three MISP peers (A, B, C), an
# OpenCTI and two TAXII 2.1 partners (taxii-peer), each with its own limits in
# fixtures/e2e/e2e.policy. Events are created, edited and deleted on every side; each destination
# must end up holding exactly what the policy allows it — asked of the policy engine (`sluice
# policy explain` over what the origins themselves hold, `sluice map` for the STIX destinations),
# never listed here: every allowed event/object in its newest version, each MISP event with exactly
# the attributes the policy lets through, nothing denied, no version applied twice or sent again,
# nothing echoed to its origin, and an A -> B -> A edit cycle after which two more poll intervals
# move nothing anywhere (every peer's delivery counters unchanged).
#
# Phases: (1) the seeds settle (OpenCTI's by backfill); (2) an edit on A, an event created on C, a
# report created, one edited and two objects deleted on OpenCTI, a newer report version on the green
# partner; (3) B edits A's event, which comes back to A once and then nothing moves.
#
# A's event for the Banks-CERT sharing group (distribution 4, fixtures/e2e/misp-a-distribution/)
# lists B's organisation in its SharingGroupOrg: B (a member by org_uuid) must get it, C must not.
# SLUICE_E2E_RESENDS=0 stops failing when a MISP peer is sent an event version it already holds
#                              (refused as not newer; checked by default since sluice sends an
#                              event again for an object only when that object is newer than it).
# SLUICE_E2E_BATCH sets limits.batch_size (default 100).
# SLUICE_E2E_KEEP=1 keeps the temp dir (peers' dumps per phase, the oracle, sluice's log).
set -u
bin=${SLUICE_BIN:?}
tests=${SLUICE_BUILD_DIR:?}/tests
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
fx=$src/fixtures/e2e
base=$(cat "${SLUICE_TEST_PGENV:?}")
export PGOPTIONS="-c client_min_messages=warning"
export SLTEST_E2E_MISP_KEY=sluiceTestMispKey0000000000000000000000a
export SLTEST_E2E_OCTI_TOKEN=e2e-sluice-octi-token
export SLTEST_E2E_GREEN_CRED=sluice:e2eGreenPw0
export SLTEST_E2E_CLEAR_CRED=sluice:e2eClearPw0
octi_sluice_user=4d6a2f10-0000-4000-8000-0000000005e2 # sluice's own OpenCTI user
db=sl_e2e_$$
tmp=$(mktemp -d)
pids=()
run=
cleanup() {
	[ -n "$run" ] && kill -TERM "$run" 2>/dev/null && wait "$run" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ -n "${SLUICE_E2E_KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
	psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT
psql "$base" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
t0=$(date +%s)

start() { # var binary args...: starts a peer that prints "LISTEN <url>", sets var to the url
	local var=$1
	shift
	mkfifo "$tmp/$var.fifo"
	"$@" >"$tmp/$var.fifo" 2>"$tmp/$var.log" &
	pids+=($!)
	read -r _ url <"$tmp/$var.fifo"
	[ -n "$url" ] || { echo "FAIL: $1 did not start: $(cat "$tmp/$var.log")"; exit 1; }
	eval "$var=\${url%/}"
}
start url_a "$tests/misp-peer" --seed "$fx/misp-a" --org-name OrgA-CERT \
	--org-uuid 4d6a2f10-0000-4000-8000-00000000c0a0
start url_b "$tests/misp-peer" --seed "$fx/misp-b" --org-name OrgB-CERT \
	--org-uuid 4d6a2f10-0000-4000-8000-00000000c0b0
start url_c "$tests/misp-peer" --org-name OrgC-Community
start url_o "$tests/opencti-peer" --user "$SLTEST_E2E_OCTI_TOKEN=$octi_sluice_user" \
	--heartbeat-ms 1000 --apply-delay-ms 50
start url_g "$tests/taxii-peer" --user sluice --password e2eGreenPw0 --data "$fx/taxii-green.json"
start url_w "$tests/taxii-peer" --user sluice --password e2eClearPw0 --data "$fx/taxii-clear.json"

post() { # url json: a test-control POST that must succeed
	curl -sf -X POST -H 'Content-Type: application/json' --data-binary "$2" "$1" >/dev/null ||
		{ echo "FAIL: POST $1"; exit 1; }
}
# OpenCTI's analysts had created objects before sluice first connected (sluice backfills them).
post "$url_o/_test/stix" "@$fx/opencti.json"
# A's event for a sharing group B belongs to through its organisation (see the header).
for f in "$fx"/misp-a-distribution/*.json; do post "$url_a/_test/seed" "@$f"; done

{
	cat <<CONF
ledger_dsn = "$base dbname=$db"
policy_file = "$fx/e2e.policy"
log_level = "${SLUICE_E2E_LOG_LEVEL:-info}"
limits {
  batch_size = ${SLUICE_E2E_BATCH:-100}
}
CONF
	for p in a b c; do
		eval "u=\$url_$p"
		cat <<CONF
peer "misp-$p" {
  kind = "misp"
  url = "$u"
  direction = "both"
  api_key_env = "SLTEST_E2E_MISP_KEY"
  allow_plain_http = true
  poll_interval = 5
  retry_base_ms = 200
  retry_cap_ms = 2000
}
CONF
	done
	cat <<CONF
peer "opencti" {
  kind = "opencti"
  url = "$url_o"
  direction = "both"
  api_key_env = "SLTEST_E2E_OCTI_TOKEN"
  allow_plain_http = true
  poll_interval = 5
  retry_base_ms = 200
  retry_cap_ms = 2000
}
peer "taxii-green" {
  kind = "taxii"
  url = "$url_g/taxii2/"
  direction = "both"
  api_key_env = "SLTEST_E2E_GREEN_CRED"
  allow_plain_http = true
  poll_interval = 5
  retry_base_ms = 200
  retry_cap_ms = 2000
}
peer "taxii-clear" {
  kind = "taxii"
  url = "$url_w/taxii2/"
  direction = "both"
  api_key_env = "SLTEST_E2E_CLEAR_CRED"
  allow_plain_http = true
  poll_interval = 5
  retry_base_ms = 200
  retry_cap_ms = 2000
}
CONF
} >"$tmp/sluice.conf"
"$bin" check-config "$tmp/sluice.conf" >/dev/null || { echo "FAIL: check-config"; exit 1; }
"$bin" run -c "$tmp/sluice.conf" 2>"$tmp/run.log" &
run=$!


# --- the oracle and the check (tests/integration/test_e2e.sh's python below) -------------------
# check.py PHASE_DIR: dumps every peer, works out what each origin itself holds (provenance: the
# ids its fixture seeded, and the versions its analysts made), asks `sluice policy explain` what
# each destination may have of it, and checks every destination against that answer.
cat >"$tmp/check.py" <<'PY'
import datetime, glob, json, os, subprocess, sys, urllib.request
d = sys.argv[1]
fx, binary, url = os.environ["E2E_FX"], os.environ["E2E_BIN"], json.loads(os.environ["E2E_URLS"])
os.makedirs(d, exist_ok=True)
ALLOW = ("allow", "allow-with-changes")
MISP = {"a": "misp-a", "b": "misp-b", "c": "misp-c"}
STIX = {"o": "opencti", "g": "taxii-green", "w": "taxii-clear"}
SKIP = ("marking-definition--", "identity--")  # reference objects: travel with what uses them
bad = []

dump = {}
for p, u in url.items():
    dump[p] = json.load(urllib.request.urlopen(u + "/_test/dump", timeout=10))
    json.dump(dump[p], open("%s/%s.json" % (d, p), "w"))

def uuid_of(i): return i.split("--", 1)[1] if "--" in i else i
def epoch(v):
    if v is None: return None
    if isinstance(v, int) or str(v).isdigit(): return int(v)
    t = datetime.datetime.strptime(v.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp())
def explain(path, text=False):
    out = subprocess.run([binary, "policy", "explain", path, "--policy", fx + "/e2e.policy"] +
                         (["--emit"] if text else ["--json"]), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("FAIL: sluice policy explain %s: %s" % (path, out.stderr[:300]))
    if text:
        return out.stdout
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]

# Provenance: the uuids/ids each origin's fixture created, the versions the test's analysts made
# (an analyst's edit goes through the peer's API, so the peer counts it among its deliveries) and
# the objects they deleted.
analyst, deleted, octi_edits = set(), [], []
OCTI_EDIT = "Confirmed by an OpenCTI analyst"
for line in open(os.environ["E2E_ANALYST"]):
    w = line.split()
    if w[0] == "misp": analyst.add((w[1], w[2], int(w[3])))
    elif w[0] == "deleted": deleted.append(w[2])
    elif w[0] == "octi-edit": octi_edits.append((w[1], w[2], w[3]))  # object, its MISP event, modified
seeded, seed_of = {"a": set(), "b": set(), "c": set()}, {}
for p in "abc":
    dirs = ["misp-" + p] + (["misp-a-distribution"] if p == "a" else [])
    for f in [f for x in dirs for f in glob.glob("%s/%s/*.json" % (fx, x))]:
        e = json.load(open(f))
        seeded[p].add(e["Event"]["uuid"])
        seed_of[e["Event"]["uuid"]] = e
octi_seed = {x["id"] for f in ("opencti.json", "opencti-live.json") for x in json.load(open(fx + "/" + f))["objects"]}
taxii_seed = {}
for p, f in (("g", "taxii-green.json"), ("w", "taxii-clear.json")):
    taxii_seed[p] = {r["object"]["id"] for c in json.load(open("%s/%s" % (fx, f)))["collections"]
                     for r in c["objects"]}

# OpenCTI knows an object by its standard id and keeps the ids it was given.
octi_ids = {}
for x in dump["o"]["objects"]:
    ids = {x["id"]}
    for e in x.get("extensions", {}).values():
        if isinstance(e, dict): ids |= set(e.get("stix_ids", []))
    for i in ids: octi_ids[i] = (ids, x)

# Aliases seen so far, so an object OpenCTI has deleted can still be recognised by the id it was
# pushed under.
seen_ids = json.load(open(os.environ["E2E_OCTI_IDS"])) if os.path.exists(os.environ["E2E_OCTI_IDS"]) else {}
for i, (ids, x) in octi_ids.items():
    seen_ids[i] = sorted(set(seen_ids.get(i, [])) | ids)
json.dump(seen_ids, open(os.environ["E2E_OCTI_IDS"], "w"))

expect, forbid = {}, {}   # destination -> {key: version}, {key}
def want(dest, key, ver, ok):
    (expect.setdefault(dest, {}).__setitem__(key, ver) if ok else forbid.setdefault(dest, set()).add(key))

# MISP origins: the newest copy of every event seeded on A or B, wherever an analyst made it (the
# A -> B -> A cycle moves the newest version to B), explained as a MISP event for every
# destination; its STIX mapping explained object by object for the STIX destinations.
attr_ok = {}   # (dest, event uuid) -> attribute uuids the policy lets through
emitted = {}   # (dest, event uuid) -> the event as the policy would send it
for p in "abc":
    evs = []
    for u in sorted(seeded[p]):
        copies = []
        for q in "abc":
            for e in dump[q]["events"]:
                if e["Event"]["uuid"] == u:  # the seed, or an analyst's edit there
                    ts = int(e["Event"]["timestamp"])
                    delivered = [v for v in dump[q]["deliveries"].get(u, {}).get("versions", [])
                                 if (q, u, v) not in analyst]
                    if (q, u, ts) in analyst or (u in seeded[q] and ts not in delivered):  # made there
                        copies.append((int(e["Event"]["timestamp"]), q, e))
        if not copies and any(e[1] == u for e in octi_edits):
            # its origin now holds the version sluice made of OpenCTI's edit: the seed is what
            # the origin's analysts made (the edit is checked below on its own)
            copies.append((int(seed_of[u]["Event"]["timestamp"]), p, seed_of[u]))
        if not copies:
            if p != "c" or any(a[1] == u for a in analyst):  # C's event is created in phase 2
                bad.append("no origin holds event %s" % u)
            continue
        ts, q, e = max(copies, key=lambda c: c[0])
        evs.append((q, e))
    for q, e in evs:
        ev = e["Event"]
        path = "%s/origin_%s.json" % (d, ev["uuid"])
        json.dump(e, open(path, "w"))
        rows = explain(path)
        dec = {r["destination"]: r["decision"] in ALLOW for r in rows if r["object_id"] == ev["uuid"]}
        # each attribute's own decision ("  attribute <uuid>  <decision>" under "== destination X"),
        # then the event as it would be sent (--emit)
        for block in explain(path, text=True).split("== destination ")[1:]:
            lines = block.splitlines()
            dest = lines[0].strip()
            attr_ok[(dest, ev["uuid"])] = set()
            for i, line in enumerate(lines):
                w = line.split()
                if len(w) == 3 and w[0] == "attribute" and w[2] in ALLOW:
                    attr_ok[(dest, ev["uuid"])].add(w[1])
                elif line == "{":
                    emitted[(dest, ev["uuid"])] = json.loads("\n".join(lines[i:]))["Event"]
                    break
        for dest in MISP.values():
            if dest != MISP[q]:
                want(dest, ev["uuid"], int(ev["timestamp"]), dec.get(dest, False))
        m = subprocess.run([binary, "map", "--from", "misp", "--to", "stix21", "--compact", path],
                           capture_output=True, text=True)
        if m.returncode != 0:
            sys.exit("FAIL: sluice map %s: %s" % (path, m.stderr[:300]))
        open(path + ".stix", "w").write(m.stdout)
        for r in explain(path + ".stix"):
            dest = r["destination"]
            if dest in STIX.values() and not r["object_id"].startswith(SKIP):
                # a denied event sends nothing (docs/policies.md: the event is decided first)
                want(dest, r["object_id"], r.get("modified"), r["decision"] in ALLOW and dec.get(dest, False))

# STIX origins: OpenCTI's objects that came from its fixture (as its stream hands them over: its
# ids, its refs), and each partner's own objects, explained as bundles.
def stix_origin(p, objs, origin):
    path = "%s/origin_%s.json" % (d, p)
    json.dump({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000e2", "objects": objs},
              open(path, "w"))
    byid = {x["id"]: x for x in objs}
    for r in explain(path):
        oid, dest = r["object_id"], r["destination"]
        if dest == origin or oid.startswith(SKIP): continue
        ok, x = r["decision"] in ALLOW, byid[oid]
        if dest in MISP.values():
            if x.get("type") in ("report", "grouping"):  # MISP takes containers, as events
                want(dest, "stix:" + oid, x.get("modified"), ok)
        else:
            want(dest, oid, r.get("modified"), ok)
stix_origin("o", [x for x in dump["o"]["objects"] if octi_ids[x["id"]][0] & octi_seed], "opencti")
for p in "gw":
    objs = [r["object"] for c in dump[p]["collections"].values() for r in c["objects"]
            if r["object"]["id"] in taxii_seed[p]]
    stix_origin(p, objs, STIX[p])
json.dump({"expect": expect, "forbid": {k: sorted(v) for k, v in forbid.items()}},
          open(d + "/oracle.json", "w"), indent=1)
for dest in list(MISP.values()) + list(STIX.values()):
    for k in set(expect.get(dest, {})) & forbid.get(dest, set()):
        bad.append("oracle: %s both allowed and denied to %s" % (k, dest))

# --- MISP destinations: events by uuid (a STIX container becomes the event of its uuid, or of
# OpenCTI's standard id), the newest allowed version, nothing denied, each version applied once.
def misp_keys(key):
    if not key.startswith("stix:"): return [key]
    i = key[5:]
    return sorted({uuid_of(x) for x in octi_ids.get(i, ({i}, None))[0]})
for p, dest in MISP.items():
    m = dump[p]
    held = {e["Event"]["uuid"]: e["Event"] for e in m["events"]}
    deliv = m["deliveries"]
    for key, ver in expect.get(dest, {}).items():
        u = next((c for c in misp_keys(key) if c in held), None)
        if u is None:
            bad.append("%s lacks %s" % (dest, key)); continue
        if int(held[u]["timestamp"]) < epoch(ver):
            bad.append("%s holds %s at %s, not the newest allowed version %s" % (dest, u, held[u]["timestamp"], ver))
        if u in seeded["a"] | seeded["b"] | seeded["c"]:
            got = {a["uuid"] for a in held[u].get("Attribute", [])}
            want_attrs = attr_ok.get((dest, u), set())
            if got != want_attrs:
                bad.append("%s: event %s holds attributes the policy does not give it there %s, lacks %s" %
                           (dest, u, sorted(got - want_attrs)[:4], sorted(want_attrs - got)[:4]))
            # MISP's own sync keeps an event's distribution (2 goes out as 1) and sharing group
            if (dest, u) in emitted:
                sg = lambda e: (e.get("SharingGroup") or {}).get("uuid")
                for what, f in (("distribution", lambda e: str(e.get("distribution"))), ("sharing group", sg)):
                    if f(held[u]) != f(emitted[(dest, u)]):
                        bad.append("%s: event %s arrived with %s %s, the policy sends %s" %
                                   (dest, u, what, f(held[u]), f(emitted[(dest, u)])))
    for key in forbid.get(dest, ()):
        for u in misp_keys(key):
            if u in held or u in deliv:
                bad.append("%s received %s, which the policy denies it" % (dest, u))
    for u, x in deliv.items():
        if x["applied"] != len(x["versions"]) or len(x["versions"]) != len(set(x["versions"])):
            bad.append("%s applied a version of %s more than once: %r" % (dest, u, x))
        # A version the peer already held, sent again (an echo to its origin, a repeat) is an edit
        # MISP refuses as not newer. "rejected" also counts the add answered "already exists"
        # that precedes every edit sluice makes, so: not newer = rejected - adds after the first.
        # (Events whose container OpenCTI deleted are left out: their deletion is checked below.)
        # An event's origin never gets it back (the echo that starts a ping-pong): while no other
        # peer has made a version of it, the origin's only writes to it are its analysts' edits.
        own = u in seeded.get(p, ())
        made_elsewhere = any(a[1] == u and a[0] != p for a in analyst) or any(e[1] == u for e in octi_edits)
        mine = sum(1 for a in analyst if a[0] == p and a[1] == u)
        if own and not made_elsewhere and (x["add"] > (1 if p == "c" else 0) or x["edit"] > mine):
            bad.append("%s was sent its own event %s back (%r)" % (dest, u, x))
        # No destination is sent a version it already holds (see the header, SLUICE_E2E_RESENDS).
        gone = any(uuid_of(a) == u for i in deleted for a in seen_ids.get(i, [i]))
        not_newer = x["rejected"] - (x["add"] - (0 if own else 1))
        if not_newer > 0 and not gone and os.environ.get("SLUICE_E2E_RESENDS", "1") != "0":
            bad.append("%s was sent %d version(s) of %s it already held (%r)" % (dest, not_newer, u, x))

# --- OpenCTI: each allowed object present by one of its ids, in its allowed version or newer;
# nothing denied; a version never pushed twice ("unchanged" = the same content again).
got_o = {i: x for i, (ids, x) in octi_ids.items()}
for i, ver in expect.get("opencti", {}).items():
    x = got_o.get(i)
    if x is None: bad.append("opencti lacks %s (version %s)" % (i, ver))
    elif ver and epoch(x.get("modified")) is not None and epoch(x["modified"]) < epoch(ver):
        bad.append("opencti holds %s at %s, not %s" % (i, x.get("modified"), ver))
for i in forbid.get("opencti", ()):
    if i in got_o: bad.append("opencti received %s, which the policy denies it" % i)
for x in dump["o"]["objects"]:
    dl = dump["o"].get("deliveries", {}).get(x["id"], {})
    if dl.get("unchanged") and not x["id"].startswith(SKIP):
        bad.append("opencti was sent %s again unchanged (%r)" % (x["id"], dl))

# --- TAXII partners: every allowed version stored, nothing denied.
for p in "gw":
    dest, got = STIX[p], {}
    for c in dump[p]["collections"].values():
        for r in c["objects"]:
            o = r["object"]
            got.setdefault(o["id"], set()).add(epoch(o.get("modified") or o.get("created")))
    for i, ver in expect.get(dest, {}).items():
        if i not in got: bad.append("%s lacks %s (version %s)" % (dest, i, ver))
        elif ver and epoch(ver) not in got[i]:
            bad.append("%s lacks version %s of %s (holds %s)" % (dest, ver, i, sorted(got[i])))
    for i in forbid.get(dest, ()):
        if i in got: bad.append("%s received %s, which the policy denies it" % (dest, i))
    # An object sluice sent OpenCTI, which OpenCTI renamed (its standard id, keeping the id it was
    # given in stix_ids), travels on under sluice's id: under OpenCTI's it would be a second
    # object. (Ids OpenCTI's own seed was imported with are OpenCTI's business.)
    for i in got:
        ids, x = octi_ids.get(i, (set(), {}))
        ours = ids - {i} - octi_seed
        if x.get("id") == i and ours:
            bad.append("%s holds %s under OpenCTI's id, not sluice's %s" % (dest, i, sorted(ours)))

# --- An OpenCTI analyst's edit of an object sluice brought there from a MISP event reaches every
# destination the policy gives that object: a STIX destination holds it as the newest version under
# sluice's id, a MISP peer that holds the event (its origin too) in the attribute (description ->
# comment).
for i, u, mod in octi_edits:
    for p in "gw":
        if i not in expect.get(STIX[p], {}): continue
        vers = [r["object"] for c in dump[p]["collections"].values() for r in c["objects"] if r["object"]["id"] == i]
        newest = max(vers, key=lambda o: o.get("modified") or "", default={})
        if newest.get("description") != OCTI_EDIT:
            bad.append("%s lacks OpenCTI's edit of %s (newest version held: %s)" % (STIX[p], i, newest.get("modified")))
    for p in "abc":
        ev = next((e["Event"] for e in dump[p]["events"] if e["Event"]["uuid"] == u), None)
        a = next((a for a in (ev or {}).get("Attribute", []) if a["uuid"] == uuid_of(i)), None)
        if a is not None and a.get("comment") != OCTI_EDIT:
            bad.append("%s: event %s lacks OpenCTI's edit of attribute %s (comment %r)" % (MISP[p], u, a["uuid"], a.get("comment")))

# --- Deletions on OpenCTI: a STIX destination that received the object holds, as its newest
# version, the revoked one (or nothing); a MISP destination no longer holds the event of a deleted
# report (MISP has no revoked event: sluice deletes it there).
for i in deleted:
    aliases = set(seen_ids.get(i, [i]))
    if i.startswith(("report--", "grouping--")):
        for p in "abc":
            held = [e["Event"]["uuid"] for e in dump[p]["events"]
                    if any(uuid_of(a) == e["Event"]["uuid"] for a in aliases)]
            if held:
                bad.append("%s still holds event %s, whose report OpenCTI deleted" % (MISP[p], held[0]))
    if i in octi_seed and any(a in got_o for a in aliases):
        bad.append("opencti still holds %s after its analyst deleted it" % i)
    for p in "gw":
        vers = [r["object"] for c in dump[p]["collections"].values() for r in c["objects"]
                if r["object"]["id"] in aliases]
        if vers:
            newest = max(vers, key=lambda o: o.get("modified") or "")
            if not newest.get("revoked"):
                bad.append("%s still holds %s (deleted on OpenCTI) unrevoked, version %s" %
                           (STIX[p], newest["id"], newest.get("modified")))

# Counters for the no-ping-pong check: everything each peer was ever sent.
counters = {p: {u: [x["add"], x["edit"], x["applied"], x["rejected"]] for u, x in dump[p]["deliveries"].items()}
            for p in "abc"}
counters["o"] = dump["o"].get("deliveries", {})
counters["g"], counters["w"] = dump["g"].get("posts"), dump["w"].get("posts")
json.dump(counters, open(d + "/counters.json", "w"), sort_keys=True)
print("%d allowed (destination, item) pairs, %d denied; %d problems" %
      (sum(len(v) for v in expect.values()), sum(len(v) for v in forbid.values()), len(bad)))
for b in bad[:40]: print("  " + b)
sys.exit(1 if bad else 0)
PY
: >"$tmp/analyst.txt"
export E2E_FX=$fx E2E_BIN=$bin E2E_ANALYST=$tmp/analyst.txt E2E_OCTI_IDS=$tmp/octi_ids.json
export E2E_URLS="{\"a\":\"$url_a\",\"b\":\"$url_b\",\"c\":\"$url_c\",\"o\":\"$url_o\",\"g\":\"$url_g\",\"w\":\"$url_w\"}"

settle() { # phase: waits (90 s at most) until the check passes
	local i
	for i in $(seq 45); do
		sleep 2
		kill -0 "$run" 2>/dev/null || { echo "FAIL: sluice run died"; tail -30 "$tmp/run.log"; exit 1; }
		"$py" "$tmp/check.py" "$tmp/$1" >"$tmp/$1.verdict" 2>&1 &&
			{ echo "$1: settled after $((i * 2)) s: $(head -1 "$tmp/$1.verdict")"; return 0; }
		grep -q -e '^Traceback' -e '^FAIL' "$tmp/$1.verdict" && break # the check itself failed
	done
	echo "FAIL: $1 did not settle in 90 s:"
	cat "$tmp/$1.verdict"
	return 1
}
misp_edit() { # peer url uuid timestamp attribute-value: an analyst's edit, as MISP stamps it (now), one more attribute
	local peer=$1
	shift
	echo "misp $peer $2 $3" >>"$tmp/analyst.txt" # provenance for check.py: this version was made there
	"$py" - "$1" "$SLTEST_E2E_MISP_KEY" "$2" "$3" "$4" "$url_a" <<'PY'
import json, sys, urllib.request, uuid
url, key, u, ts, value, url_a = sys.argv[1:]
h = {"Authorization": key, "Accept": "application/json", "Content-Type": "application/json"}
get = lambda base: json.load(urllib.request.urlopen(urllib.request.Request(base + "/events/view/" + u, headers=h)))["Event"]
ev = get(url)
# The analyst works from A's content (what the event really says), on their own instance.
orig = get(url_a)
ev.update({k: orig[k] for k in ("distribution", "sharing_group_id", "Tag", "info") if k in orig})
ev["timestamp"] = ts
ev["Attribute"] = [a for a in ev["Attribute"] if a["uuid"] in {x["uuid"] for x in orig["Attribute"]}]
ev["Attribute"].append({"uuid": str(uuid.uuid4()), "type": "domain", "category": "Network activity", "to_ids": True, "value": value,
                        "timestamp": ts, "distribution": "5"})
urllib.request.urlopen(urllib.request.Request(url + "/events/edit/" + u, data=json.dumps({"Event": ev}).encode(),
                                              headers=h, method="POST"))
PY
}

fail=0
# (1) the seeds of every side
settle seeds || fail=1

# (2) an edit on A; on OpenCTI an analyst edits a report and deletes another object; the green
# partner publishes a newer version of its report.
if [ $fail = 0 ]; then
	misp_edit a "$url_a" e2e0a000-0000-4000-8000-0000000000a1 "$(date +%s)" a1-edit.example ||
		{ echo "FAIL: edit on A"; fail=1; }
	"$py" - "$fx" "$url_o" "$url_g" "$tmp/analyst.txt" <<'PY' || fail=1
import datetime, json, sys, urllib.request
fx, url_o, url_g, log = sys.argv[1:]
post = lambda u, b: urllib.request.urlopen(urllib.request.Request(
    u, data=json.dumps(b).encode(), headers={"Content-Type": "application/json"}, method="POST"))
objs = {x["id"]: x for x in json.load(open(fx + "/opencti.json"))["objects"]}
r = dict(objs["report--e2e0c000-0000-4000-8000-0000000000c1"])
r.update(modified="2026-11-21T09:00:00.000Z", description="Edited by an OpenCTI analyst")
post(url_o + "/_test/stix", {"objects": [r]})
for i in ("report--e2e0c000-0000-4000-8000-0000000000c2", "indicator--e2e0c000-0000-4000-8000-0000000001c1"):
    post(url_o + "/_test/delete", {"id": i})
    open(log, "a").write("deleted o %s\n" % i)
# An analyst edits on OpenCTI an indicator sluice brought there from A's event a6: OpenCTI knows
# it by its own standard id (sluice's id among its stix_ids) and streams the edit under that id.
ours = "indicator--e2e100a6-0000-4000-8000-000000000001"
held = json.load(urllib.request.urlopen(url_o + "/_test/dump", timeout=10))["objects"]
x = next(x for x in held if ours in [i for e in x.get("extensions", {}).values()
                                     if isinstance(e, dict) for i in e.get("stix_ids", [])])
x = {k: v for k, v in x.items() if k != "extensions"}
x.update(modified=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
         description="Confirmed by an OpenCTI analyst")  # check.py's OCTI_EDIT
post(url_o + "/_test/stix", {"objects": [x]})
open(log, "a").write("octi-edit %s e2e0a000-0000-4000-8000-0000000000a6 %s\n" % (ours, x["modified"]))
t = json.load(open(fx + "/taxii-green.json"))["collections"][0]
r = dict(next(x["object"] for x in t["objects"] if x["object"]["id"] == "report--e2e0d000-0000-4000-8000-0000000000d1"))
r.update(modified="2026-11-21T10:00:00.000Z", description="Second version from the partner")
post(url_g + "/_test/add", {"collection": t["id"], "objects": [r]})
PY
	# created while sluice runs: an event on C (MISP stamps it now), a report on OpenCTI (its live
	# stream, where the seeds came by backfill)
	"$py" - "$fx/misp-c/01-amber-live.json" "$url_c" "$SLTEST_E2E_MISP_KEY" "$tmp/analyst.txt" <<'PY' || fail=1
import json, sys, time, urllib.request
f, url, key, log = sys.argv[1:]
e = json.load(open(f))
ts = str(int(time.time()))
e["Event"].update(timestamp=ts, publish_timestamp=ts)
for a in e["Event"]["Attribute"]: a["timestamp"] = ts
urllib.request.urlopen(urllib.request.Request(url + "/events/add", data=json.dumps(e).encode(), method="POST",
    headers={"Authorization": key, "Accept": "application/json", "Content-Type": "application/json"}))
open(log, "a").write("misp c %s %s\n" % (e["Event"]["uuid"], ts))
PY
	post "$url_o/_test/stix" "@$fx/opencti-live.json"
	settle edits || fail=1
fi

# (3) the cycle: B's analyst edits A's event (which reached B through sluice); the new version
# must reach A (once) and C, and then nothing may move any more.
if [ $fail = 0 ]; then
	misp_edit b "$url_b" e2e0a000-0000-4000-8000-0000000000a1 "$(date +%s)" a1-edit-on-b.example ||
		{ echo "FAIL: edit on B"; fail=1; }
	settle cycle || fail=1
fi
if [ $fail = 0 ]; then
	sleep 12 # two more poll intervals of every peer: a ping-pong would show as new deliveries
	"$py" "$tmp/check.py" "$tmp/after" >"$tmp/after.verdict" 2>&1 ||
		{ echo "FAIL: after settling:"; cat "$tmp/after.verdict"; fail=1; }
	if ! cmp -s "$tmp/cycle/counters.json" "$tmp/after/counters.json"; then
		echo "FAIL: deliveries went on after the sync had settled (ping-pong):"
		diff <("$py" -m json.tool "$tmp/cycle/counters.json") <("$py" -m json.tool "$tmp/after/counters.json") | head -20
		fail=1
	fi
fi

kill -TERM "$run"
wait "$run"
rc=$?
run=
[ $rc = 0 ] || { echo "FAIL: sluice run exited $rc on SIGTERM"; fail=1; }
echo "e2e: $(($(date +%s) - t0)) s"
if [ $fail != 0 ]; then
	grep -E " (error|warn) " "$tmp/run.log" | head -20
	exit 1
fi
echo "e2e: ok"
