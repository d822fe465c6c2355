#!/bin/sh
# test_config_cli.sh — `sluice check-config`: "configuration OK" + summary with secrets as (set)/(missing)
# and exit 0; errors as FILE:LINE: message naming the key and exit 1; usage errors exit 2.
set -u
bin=${SLUICE_BIN:?SLUICE_BIN not set}
fix=${SLUICE_FIXTURES:?SLUICE_FIXTURES not set}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name, condition...
	name=$1; shift
	if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fails=$((fails + 1)); fi
}

export SLUICE_TEST_MISP_KEY=misp-secret-key SLUICE_TEST_OPENCTI_KEY=opencti-secret-key
export SLUICE_TEST_PARTNER_PW=partner-pw
"$bin" check-config "$fix/config/full.conf" >"$tmp/out" 2>"$tmp/err"
check "valid file exits 0" test $? -eq 0
check "says configuration OK" grep -q '^configuration OK' "$tmp/out"
check "peer api key shown as (set)" grep -q 'peer "misp-main":.*api_key=(set)' "$tmp/out"
check "partner password shown as (set)" grep -q 'partner "cert-eu":.*password=(set)' "$tmp/out"
check "feed without key shown as (none)" grep -q 'peer "circl-feed":.*api_key=(none)' "$tmp/out"
check "dsn password masked" grep -q 'password=(set)' "$tmp/out"
for s in misp-secret-key opencti-secret-key partner-pw hunter2; do
	check "secret $s never printed" sh -c "! grep -q '$s' '$tmp/out' '$tmp/err'"
done

unset SLUICE_TEST_OPENCTI_KEY
"$bin" check-config "$fix/config/full.conf" >"$tmp/out" 2>"$tmp/err"
check "unset secret env exits 1" test $? -eq 1
check "error names file:line and key" grep -q "full.conf:[0-9]*: .*api_key_env.*SLUICE_TEST_OPENCTI_KEY" "$tmp/err"
"$bin" check-config --allow-missing-secrets "$fix/config/full.conf" >"$tmp/out" 2>"$tmp/err"
check "--allow-missing-secrets exits 0" test $? -eq 0
check "missing secret shown as (missing)" grep -q 'peer "opencti":.*api_key=(missing)' "$tmp/out"

printf 'peer "a" {\n kind = "misp-feed"\n url = "https://x"\n poll_interval = 1\n}\n' >"$tmp/bad.conf"
"$bin" check-config "$tmp/bad.conf" >"$tmp/out" 2>"$tmp/err"
check "out of range exits 1" test $? -eq 1
check "out of range names file:line:key" grep -q "bad.conf:4: peer \"a\": poll_interval = 1 is out of range" "$tmp/err"
check "nothing on stdout for a bad file" test ! -s "$tmp/out"

printf 'ledger_dsn = "postgresql://sluice:uri-pw-123@db.example/sluice"\npeer "a" {\n kind = "misp-feed"\n url = "https://u:url-pw-456@feed.example/"\n}\n' >"$tmp/uri.conf"
"$bin" check-config "$tmp/uri.conf" >"$tmp/out" 2>&1
check "URI dsn and URL credentials are masked" sh -c "! grep -q -e uri-pw-123 -e url-pw-456 '$tmp/out' && grep -q '(credentials)@db.example' '$tmp/out'"

"$bin" check-config >/dev/null 2>&1
check "no file is a usage error (2)" test $? -eq 2
"$bin" check-config "$tmp/nonexistent.conf" >/dev/null 2>"$tmp/err"
check "missing file exits 1" test $? -eq 1
check "missing file is named" grep -q "nonexistent.conf" "$tmp/err"

# The shipped example must stay valid and mention every key in the reference.
src=${0%/tests/unit/test_config_cli.sh}
if [ -f "$src/deploy/sluice.conf.example" ]; then
	sed "s|/etc/sluice/|$tmp/etc/|g" "$src/deploy/sluice.conf.example" >"$tmp/example.conf"
	for f in $(grep -o "$tmp/etc/[^\"]*" "$tmp/example.conf"); do
		mkdir -p "$(dirname "$f")" && echo "placeholder" >"$f"
	done
	SLUICE_OPENCTI_TOKEN=x "$bin" check-config "$tmp/example.conf" >"$tmp/out" 2>"$tmp/err"
	check "deploy/sluice.conf.example is valid" test $? -eq 0
	cat "$tmp/err"
	missing=""
	for k in $(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' "$src/docs/config.md"); do
		grep -q "\b$k\b" "$src/deploy/sluice.conf.example" || missing="$missing $k"
	done
	check "example mentions every key in docs/config.md:$missing" test -z "$missing"
fi

test "$fails" -eq 0
