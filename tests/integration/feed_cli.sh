#!/usr/bin/env bash
# feed_cli.sh — `sluice feed export` writes a feed a subscriber can read; `sluice feed check` catches a
# feed whose event files and hashes.csv disagree, naming the event and attribute.
set -u
bin=${SLUICE_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ev="$tmp/in"
mkdir -p "$ev"
cat >"$ev/a.json" <<'JSON'
{"Event": {"uuid": "5f1a1111-1111-4111-8111-111111111111", "info": "phishing wave", "date": "2026-11-01",
 "timestamp": "1793000000", "published": true, "analysis": "2", "threat_level_id": "1",
 "Orgc": {"name": "CERT-X", "uuid": "5f1a3333-3333-4333-8333-333333333333"}, "Tag": [{"name": "tlp:green"}],
 "Attribute": [{"uuid": "aaaaaaaa-0000-4000-8000-000000000001", "type": "domain", "category": "Network activity",
                "value": "login-portal.example", "to_ids": true, "timestamp": "1793000000"},
               {"uuid": "aaaaaaaa-0000-4000-8000-000000000002", "type": "ip-dst|port", "category": "Network activity",
                "value": "198.51.100.7|443", "to_ids": true, "timestamp": "1793000000"}]}}
JSON
cat >"$ev/b.json" <<'JSON'
{"response": [{"Event": {"uuid": "5f1a2222-2222-4222-8222-222222222222", "info": "second", "date": "2026-11-02",
 "timestamp": 1793000100, "Orgc": {"name": "CERT-X", "uuid": "5f1a3333-3333-4333-8333-333333333333"},
 "Attribute": [{"uuid": "aaaaaaaa-0000-4000-8000-000000000003", "type": "md5", "category": "Payload delivery",
                "value": "900150983cd24fb0d6963f7d28e17f72", "timestamp": 1793000100}]}}]}
JSON
echo '{"Event": {"info": "no uuid"}}' >"$ev/c.json"

out=$("$bin" feed export -o "$tmp/feed" "$ev" 2>"$tmp/err")
rc=$?
[ $rc = 1 ] || { echo "FAIL: export with one bad event should exit 1, got $rc"; fail=1; }
grep -q "2 events written" <<<"$out" || { echo "FAIL: export count: $out"; fail=1; }
grep -q "uuid" "$tmp/err" || { echo "FAIL: bad event not reported"; cat "$tmp/err"; fail=1; }
for f in manifest.json hashes.csv 5f1a1111-1111-4111-8111-111111111111.json 5f1a2222-2222-4222-8222-222222222222.json; do
	[ -s "$tmp/feed/$f" ] || { echo "FAIL: $f missing"; fail=1; }
done
# hashes.csv: one line per value, composite values per part, md5 as MISP computes it.
[ "$(wc -l <"$tmp/feed/hashes.csv")" = 4 ] || { echo "FAIL: hashes.csv lines"; cat "$tmp/feed/hashes.csv"; fail=1; }
want=$(printf '%s' 443 | md5sum | cut -d' ' -f1)
grep -q "^$want,5f1a1111-1111-4111-8111-111111111111$" "$tmp/feed/hashes.csv" || { echo "FAIL: port hash"; fail=1; }
"$bin" feed check "$tmp/feed" >/dev/null || { echo "FAIL: check of a fresh feed"; fail=1; }

# A subscriber must notice an event file changed behind the manifest's back.
sed -i 's/login-portal.example/other.example/' "$tmp/feed/5f1a1111-1111-4111-8111-111111111111.json"
"$bin" feed check "$tmp/feed" >/dev/null 2>"$tmp/err2"
[ $? = 1 ] || { echo "FAIL: tampered feed passed check"; fail=1; }
grep -q "event 5f1a1111-1111-4111-8111-111111111111/attribute aaaaaaaa-0000-4000-8000-000000000001" "$tmp/err2" ||
	{ echo "FAIL: tamper message"; cat "$tmp/err2"; fail=1; }

"$bin" feed >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: no subcommand should exit 2"; fail=1; }
"$bin" feed export "$ev" >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: export without -o should exit 2"; fail=1; }
[ $fail = 0 ] && echo "feed_cli: all passed"
exit $fail
