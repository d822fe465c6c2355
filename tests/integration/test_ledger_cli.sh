#!/usr/bin/env bash
# test_ledger_cli.sh — `sluice ledger` as an operator uses it, on a fresh database of the test
# PostgreSQL: migrate (twice), ingest a bundle and NDJSON with bad objects and a bad line, stats
# (table and --json), show, related, sources, audit, and usage errors (exit 2, one line).
set -u
bin=${SLUICE_BIN:?}
envfile=${SLUICE_TEST_PGENV:?}
[ -s "$envfile" ] || { echo "no test PostgreSQL"; exit 1; }
base=$(cat "$envfile")
db=sl_ledger_cli
psql "$base" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null || exit 1
export SLUICE_DB="${base/dbname=postgres/dbname=$db}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

"$bin" ledger migrate >"$tmp/out" 2>&1 || no "migrate"
grep -q "migrated from version 0 to" "$tmp/out" || no "migrate message: $(cat "$tmp/out")"
"$bin" ledger migrate >"$tmp/out" 2>&1 || no "migrate again"
grep -q "nothing to do" "$tmp/out" || no "second migrate is a no-op: $(cat "$tmp/out")"

cat >"$tmp/event1.json" <<'JSON'
{"type":"bundle","id":"bundle--aaaaaaaa-1111-4111-8111-111111111111","objects":[
 {"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--11111111-1111-4111-8111-111111111111","value":"198.51.100.7"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--22222222-2222-4222-8222-222222222222","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","pattern":"[domain-name:value = 'c2.example.net']","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"report","spec_version":"2.1","id":"report--33333333-3333-4333-8333-333333333333","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"event 1","published":"2024-01-01T00:00:00Z","object_refs":["ipv4-addr--11111111-1111-4111-8111-111111111111","indicator--22222222-2222-4222-8222-222222222222"]},
 {"type":"indicator","id":"indicator--bad","modified":"2024-01-01T00:00:00Z"}
]}
JSON
# NDJSON from a second source: the same IP spelled differently in another event, and a broken line
cat >"$tmp/feed.ndjson" <<'JSON'
{"type":"bundle","id":"bundle--bbbbbbbb-1111-4111-8111-111111111111","objects":[{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--44444444-4444-4444-8444-444444444444","value":"198.051.100.007"},{"type":"report","spec_version":"2.1","id":"report--55555555-5555-4555-8555-555555555555","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"event 2","published":"2024-01-01T00:00:00Z","object_refs":["ipv4-addr--44444444-4444-4444-8444-444444444444"]}]}
{"type":"bundle","objects":[ this is not json
{"type":"bundle","id":"bundle--cccccccc-1111-4111-8111-111111111111","objects":[{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--11111111-1111-4111-8111-111111111111","value":"198.51.100.7"}]}
JSON

"$bin" ledger ingest --source misp-a "$tmp/event1.json" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] || no "ingest with a rejected object exits 1"
grep -q "objects\[3\] indicator--bad: rejected: 'id' 'indicator--bad' does not end in a UUID" "$tmp/err" \
	|| no "rejection names the object and the reason: $(cat "$tmp/err")"
grep -qE "^new +3$" "$tmp/out" || no "three new objects: $(cat "$tmp/out")"
"$bin" ledger ingest --source feed-b --json "$tmp/feed.ndjson" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] || no "NDJSON with a bad line exits 1"
grep -q "feed.ndjson:2" "$tmp/err" || no "bad line named by file:line: $(cat "$tmp/err")"
"${SLUICE_PYTHON3:-python3}" - "$tmp/out" <<'PY' || no "ingest --json counts: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["new"] == 2 and d["same"] == 1 and d["rejected"] == 1, d
PY

"$bin" ledger stats --json >"$tmp/out" || no "stats --json"
"${SLUICE_PYTHON3:-python3}" - "$tmp/out" <<'PY' || no "stats --json values: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["versions"] == 5, d
assert d["provenance"] == 6, d      # 3 + 2 + the IP again from feed-b
assert d["observables"] == 2, d     # 198.51.100.7 (twice spelled) and c2.example.net
assert d["quarantined"] == 2, d     # the bad object and the bad line
PY
"$bin" ledger stats | grep -qE "^versions +5$" || no "stats table"

"$bin" ledger show indicator--22222222-2222-4222-8222-222222222222 >"$tmp/out" || no "show"
grep -q "c2.example.net" "$tmp/out" || no "show prints the newest JSON"
"$bin" ledger show indicator--99999999-2222-4222-8222-222222222222 >/dev/null 2>"$tmp/err"
[ $? = 1 ] || no "show of an unknown id exits 1"

"$bin" ledger related report--33333333-3333-4333-8333-333333333333 >"$tmp/out" || no "related"
grep -qE "^1 +report +report--55555555-5555-4555-8555-555555555555$" "$tmp/out" \
	|| no "related finds event 2 through the IP: $(cat "$tmp/out")"
"$bin" ledger sources 198.51.100.007 --json >"$tmp/out" || no "sources"
"${SLUICE_PYTHON3:-python3}" - "$tmp/out" <<'PY' || no "sources --json: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["value"] == "198.51.100.7", d
assert {s["peer"] for s in d["sources"]} == {"misp-a", "feed-b"}, d
assert len(d["containers"]) == 2, d
PY
"$bin" ledger audit --destination partner >"$tmp/out" || no "audit (empty)"
"$bin" ledger audit --json --since 2020-01-01T00:00:00Z | grep -q "^\[" || no "audit --json"

# usage errors: exit 2 with one line
for args in "ledger" "ledger frob" "ledger ingest $tmp/event1.json" "ledger stats --bogus" \
	"ledger related" "ledger show a b" "ledger related x --limit 0"; do
	# shellcheck disable=SC2086
	"$bin" $args >/dev/null 2>"$tmp/err"
	rc=$?
	[ $rc = 2 ] || no "'$args' exits 2 (got $rc)"
	[ "$(wc -l <"$tmp/err")" = 1 ] || no "'$args' prints one line: $(cat "$tmp/err")"
done
"$bin" ledger ingest --help | grep -q "usage: sluice ledger" || no "--help"
SLUICE_DB= "$bin" ledger stats >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "no database" "$tmp/err" || no "no DSN is a clear error"

# Without --db and SLUICE_DB, ledger_dsn from the config file named by SLUICE_CONFIG.
printf 'ledger_dsn = "%s"\n' "$SLUICE_DB" >"$tmp/sluice.conf"
SLUICE_DB= SLUICE_CONFIG="$tmp/sluice.conf" "$bin" ledger stats | grep -qE "^versions +5$" ||
	no "DSN from the config file"

psql "$base" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
[ $fail = 0 ] && echo "ledger cli: all passed"
exit $fail
