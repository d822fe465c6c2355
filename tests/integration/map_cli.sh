#!/usr/bin/env bash
# map_cli.sh — `sluice map` in both directions: single event (pretty), restSearch response and
# directories (NDJSON, one line per event), stdin, -o DIR, --strict, bad input in the middle of a stream
# (named by file, element, event uuid; the other events still mapped; exit 1), usage errors (2), --help (0).
set -u
bin=${SLUICE_BIN:?}
fx=${SLUICE_FIXTURES:?}
py=${SLUICE_PYTHON3:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }
demo="$fx/events/demo-event.json"
demo_uuid=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Event"]["uuid"])' "$demo")

# single event -> one pretty bundle whose report carries the event uuid
"$bin" map --from misp --to stix21 "$demo" >"$tmp/one.json" 2>"$tmp/err"
[ $? = 0 ] || no "single event exit"
[ "$(head -c1 "$tmp/one.json")" = "{" ] && [ "$(wc -l <"$tmp/one.json")" -gt 10 ] || no "single event not pretty JSON"
"$py" - "$tmp/one.json" "$demo_uuid" <<'PY' || no "single event bundle"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["type"] == "bundle", b["type"]
assert any(o["id"] == "report--" + sys.argv[2] for o in b["objects"]), "no report for the event"
PY

# stdin, and back: the same event uuid and attribute count
"$bin" map --from misp --to stix21 <"$demo" | "$bin" map --from stix21 --to misp >"$tmp/back.json" || no "stdin round trip exit"
"$py" - "$tmp/back.json" "$demo" <<'PY' || no "stdin round trip content"
import json, sys
e = json.load(open(sys.argv[1]))["Event"]; o = json.load(open(sys.argv[2]))["Event"]
assert e["uuid"] == o["uuid"]
assert sorted(a["uuid"] for a in e["Attribute"]) == sorted(a["uuid"] for a in o["Attribute"])
assert "tlp:green" in [t["name"] for t in e["Tag"]]
PY

# restSearch response with a malformed event in the middle, and trailing keys after the array
"$py" - "$fx/events" >"$tmp/rest.json" <<'PY'
import json, sys, glob
evs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/demo-feed/*.json"))[:2]]
bad = '{"Event": {"uuid": "0badbad0-1111-4222-8333-444444444444", "info": "broken", "Attribute": [ {"type": "ip-dst", oops} ]}}'
print('{"response": [' + json.dumps(evs[0]) + ",\n" + bad + ",\n" + json.dumps(evs[1]) + '], "count": 3}')
PY
"$bin" map --from misp --to stix21 "$tmp/rest.json" >"$tmp/rest.out" 2>"$tmp/rest.err"
rc=$?
[ $rc = 1 ] || no "stream with a bad event should exit 1, got $rc"
[ "$(wc -l <"$tmp/rest.out")" = 2 ] || no "the two good events should give two NDJSON lines"
grep -q "rest.json: element 1" "$tmp/rest.err" || no "error does not name file and element: $(cat "$tmp/rest.err")"
grep -q "0badbad0-1111-4222-8333-444444444444" "$tmp/rest.err" || no "error does not name the event uuid"
grep -q ":1:" "$tmp/rest.err" || no "error does not name the position"

# wrong types inside an event: the error names the event and attribute, the rest goes on
cat >"$tmp/types.json" <<'JSON'
[{"Event": {"uuid": "1e1e1e1e-1111-4222-8333-444444444444", "info": "wrong types", "timestamp": "1795500000",
  "Attribute": [{"uuid": "2f2f2f2f-1111-4222-8333-444444444444", "type": "ip-dst", "value": 12345, "to_ids": true}]}},
 {"Event": {"uuid": "3a3a3a3a-1111-4222-8333-444444444444", "info": "fine", "timestamp": "1795500000",
  "Attribute": [{"uuid": "4b4b4b4b-1111-4222-8333-444444444444", "type": "domain", "value": "ok.example", "to_ids": true,
                 "timestamp": "1795500000", "category": "Network activity"}]}}]
JSON
"$bin" map --from misp --to stix21 "$tmp/types.json" >"$tmp/types.out" 2>"$tmp/types.err"
grep -q "2f2f2f2f-1111-4222-8333-444444444444" "$tmp/types.err" || no "wrong-typed attribute not named: $(cat "$tmp/types.err")"
grep -q "3a3a3a3a-1111-4222-8333-444444444444" "$tmp/types.out" || no "the good event after the bad one is missing"

# 1,000-deep nesting and a 10 MB string: refused with a clear error, the next event still mapped
"$py" - "$fx/events/demo-feed" >"$tmp/hostile.ndjson" <<'PY'
import json, sys, glob
good = json.load(open(sorted(glob.glob(sys.argv[1] + "/*.json"))[0]))
print('{"Event": {"uuid": "5c5c5c5c-1111-4222-8333-444444444444", "info": "deep", "x": ' + "[" * 1000 + "]" * 1000 + "}}")
print(json.dumps({"Event": {"uuid": "6d6d6d6d-1111-4222-8333-444444444444", "info": "x" * (10 << 20), "timestamp": "1795500000",
                            "Attribute": []}}))
print(json.dumps(good))
PY
"$bin" map --from misp --to stix21 "$tmp/hostile.ndjson" >"$tmp/hostile.out" 2>"$tmp/hostile.err"
rc=$?
[ $rc = 1 ] || no "hostile input should exit 1, got $rc"
grep -q "hostile.ndjson: element 0: event 5c5c5c5c-1111-4222-8333-444444444444: element nested deeper than" "$tmp/hostile.err" || no "deep nesting not reported: $(head -c 400 "$tmp/hostile.err")"
grep -q "hostile.ndjson: element 1: event 6d6d6d6d-1111-4222-8333-444444444444: element holds a string longer than" "$tmp/hostile.err" || no "10 MB string not reported"
[ "$(grep -c "\"type\":\"bundle\"\|\"type\": \"bundle\"" "$tmp/hostile.out")" = 1 ] || no "only the good event should be mapped"

# directory -> NDJSON, one line per event; -o DIR -> <uuid>.json per event
"$bin" map --from misp --to stix21 "$fx/events/demo-feed" >"$tmp/dir.out" || no "directory exit"
n=$(ls "$fx"/events/demo-feed/*.json | wc -l)
[ "$(wc -l <"$tmp/dir.out")" = "$n" ] || no "directory: expected $n NDJSON lines"
"$bin" map --from misp --to stix21 -o "$tmp/outdir" "$fx/events/demo-feed" || no "-o exit"
[ "$(ls "$tmp/outdir" | wc -l)" = "$n" ] || no "-o: expected $n files"
for f in "$tmp"/outdir/*.json; do
	u=$(basename "$f" .json)
	grep -q "\"report--$u\"\\|\"grouping--$u\"" "$f" || no "-o: $f is not the bundle of event $u"
done
# and back from NDJSON of bundles, one MISP event per line
"$bin" map --from stix21 --to misp "$tmp/dir.out" >"$tmp/dir.back" || no "NDJSON bundles back exit"
[ "$(wc -l <"$tmp/dir.back")" = "$n" ] || no "NDJSON back: expected $n events"

# OpenCTI-style third-party bundle: imported with warnings, not refused; --strict fails it
cat >"$tmp/octi.json" <<'JSON'
{"type": "bundle", "id": "bundle--7e7e7e7e-1111-4222-8333-444444444444", "objects": [
 {"type": "report", "spec_version": "2.1", "id": "report--8f8f8f8f-1111-4222-8333-444444444444", "name": "third party",
  "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z", "published": "2026-11-20T10:00:00.000Z",
  "object_refs": ["indicator--9a9a9a9a-1111-4222-8333-444444444444", "note--abababab-1111-4222-8333-444444444444"],
  "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--9a9a9a9a-1111-4222-8333-444444444444",
  "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z", "pattern_type": "stix",
  "pattern": "[domain-name:value = 'evil.example']", "valid_from": "2026-11-20T10:00:00Z"},
 {"type": "note", "spec_version": "2.1", "id": "note--abababab-1111-4222-8333-444444444444", "content": "n",
  "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z", "object_refs": ["indicator--9a9a9a9a-1111-4222-8333-444444444444"]}]}
JSON
"$bin" map --from stix21 --to misp "$tmp/octi.json" >"$tmp/octi.out" 2>"$tmp/octi.err" || no "third-party bundle should map (warnings only)"
grep -q '"tlp:amber"' "$tmp/octi.out" || no "TLP 2.0 amber marking not mapped to tlp:amber"
grep -q 'evil.example' "$tmp/octi.out" || no "third-party indicator not mapped"
grep -q "note--abababab" "$tmp/octi.err" || no "unmapped note not warned about"
"$bin" map --strict --from stix21 --to misp "$tmp/octi.json" >/dev/null 2>"$tmp/strict.err"
[ $? = 1 ] || no "--strict should fail the bundle with an unmapped note"
grep -q "note" "$tmp/strict.err" || no "--strict error does not say what"

# usage
"$bin" map --help >"$tmp/help" || no "--help exit"
grep -q -- "--from" "$tmp/help" || no "--help text"
"$bin" map --from misp 2>"$tmp/u1" </dev/null; [ $? = 2 ] || no "missing --to should exit 2"
[ "$(wc -l <"$tmp/u1")" = 1 ] || no "usage error should be one line"
"$bin" map --from stix21 --to stix21 </dev/null 2>/dev/null; [ $? = 2 ] || no "stix21 -> stix21 should exit 2"
"$bin" map --from misp --to stix21 --bogus </dev/null 2>/dev/null; [ $? = 2 ] || no "unknown option should exit 2"
"$bin" map --from misp --to stix21 "$tmp/does-not-exist.json" 2>"$tmp/nf"; [ $? = 1 ] || no "missing file should exit 1"
grep -q "does-not-exist.json" "$tmp/nf" || no "missing file not named"

[ $fail = 0 ] && echo "map_cli: all checks passed"
exit $fail
