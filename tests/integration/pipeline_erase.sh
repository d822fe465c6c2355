#!/usr/bin/env bash
# pipeline_erase.sh — the pipeline over a real ledger: the demo feed decided for two partners, taken in
# exactly once (a second run records nothing more), and a right-to-erasure request that removes a
# value from stored content and from every partner's view, with audit rows that never hold it in clear.
set -u
bin=${SLUICE_BIN:?}
src=$(cd "$(dirname "$0")/../.." && pwd)
base=$(cat "${SLUICE_TEST_PGENV:?}")
export PGOPTIONS="-c client_min_messages=warning"
db=sl_erase_$$
psql "$base" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || exit 1
trap 'psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1' EXIT
dsn="$base dbname=$db"
q() { psql "$dsn" -Atc "$1"; }
fail=0
cd "$src"
"$bin" demo --db "$dsn" --no-serve >/dev/null || { echo "FAIL: demo --no-serve"; exit 1; }
audit1=$(q "select count(*) from audit")
shares1=$(q "select count(*) from shares")
versions=$(q "select count(*) from objects")
# Every stored version has exactly one decision per destination (the feed comes from no destination).
[ "$audit1" = $((versions * 2)) ] || { echo "FAIL: $audit1 decisions for $versions versions x 2 destinations"; fail=1; }
[ "$(q "select count(*) from shares s join audit a using (destination, id, modified) where a.decision = 'deny'")" = 0 ] ||
	{ echo "FAIL: a denied version is in a view"; fail=1; }

# A second run: the feed did not change, nothing is decided or shared again.
out=$("$bin" demo --db "$dsn" --no-serve)
grep -q "0 events read" <<<"$out" || { echo "FAIL: second run re-read events: $out"; fail=1; }
[ "$(q "select count(*) from audit")" = "$audit1" ] || { echo "FAIL: second run added audit rows"; fail=1; }
[ "$(q "select count(*) from shares")" = "$shares1" ] || { echo "FAIL: second run added shares"; fail=1; }

# Publish each partner's view as a MISP feed: the GREEN partner gets exactly the demo events tagged
# tlp:clear or tlp:green (counted from the fixtures, not hard-coded), with no email address in clear.
feeds=$(mktemp -d)
trap 'rm -rf "$feeds"; psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1' EXIT
want=$(grep -lE '"name": *"tlp:(clear|green)"' fixtures/events/demo-feed/*.json | wc -l)
"$bin" feed publish --destination isac-partner -o "$feeds/isac" --db "$dsn" >/dev/null || { echo "FAIL: publish"; fail=1; }
got=$(ls "$feeds/isac" | grep -c '^[0-9a-f-]*\.json$')
[ "$got" = "$want" ] || { echo "FAIL: isac feed has $got events, policy allows $want"; fail=1; }
"$bin" feed check "$feeds/isac" >/dev/null || { echo "FAIL: published feed does not check"; fail=1; }
grep -ohE '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}' "$feeds/isac"/*-*.json | grep -v '@pseudonym.invalid$' &&
	{ echo "FAIL: email in clear in the GREEN partner's feed"; fail=1; }
"$bin" feed publish --destination national-cert -o "$feeds/cert" --db "$dsn" >/dev/null || { echo "FAIL: publish cert"; fail=1; }
grep -q maria.jensen@victim-corp.example "$feeds/cert"/*-*.json || { echo "FAIL: precondition: cert feed holds the address"; fail=1; }

# Erase an email address the AMBER partner was allowed to see in clear.
email=maria.jensen@victim-corp.example
[ "$(q "select count(*) from shares where destination = 'national-cert' and strpos(content::text, '$email') > 0")" -gt 0 ] ||
	{ echo "FAIL: precondition: national-cert should see $email"; fail=1; }
out=$("$bin" gdpr erase "$email" --key-file fixtures/demo/demo-hmac.key --db "$dsn") || { echo "FAIL: erase: $out"; fail=1; }
grep -q "$email" <<<"$out" && { echo "FAIL: erase echoed the value"; fail=1; }
hash=$(awk '{print $3}' <<<"$out" | tr -d :)
[ "$(q "select count(*) from shares where strpos(lower(content::text), '$email') > 0")" = 0 ] || { echo "FAIL: still in a view"; fail=1; }
[ "$(q "select count(*) from objects where strpos(lower(content::text), '$email') > 0")" = 0 ] || { echo "FAIL: still stored"; fail=1; }
[ "$(q "select count(*) from audit where strpos(lower(coalesce(changes::text,'') || coalesce(rule,'') || coalesce(result,'')), '$email') > 0")" = 0 ] ||
	{ echo "FAIL: audit holds the value in clear"; fail=1; }
[ "$(q "select count(*) from audit where decision = 'erase' and subject_hash = '$hash' and destination = 'national-cert'")" -gt 0 ] ||
	{ echo "FAIL: no audit row for the withdrawal from national-cert's view"; fail=1; }
# Published again after the erasure, the feed no longer holds the value.
"$bin" feed publish --destination national-cert -o "$feeds/cert" --db "$dsn" >/dev/null || { echo "FAIL: republish"; fail=1; }
grep -q "$email" "$feeds/cert"/*-*.json && { echo "FAIL: erased value still in the published feed"; fail=1; }
"$bin" gdpr erase x --db "$dsn" >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: erase without key should be a usage error"; fail=1; }
[ $fail = 0 ] && echo "pipeline_erase: all passed"
exit $fail
