#!/usr/bin/env bash
# cli.sh — the sluice binary's global behaviour: --help, --version, usage errors exit 2.
set -u
bin=${SLUICE_BIN:?}
fail=0
check() { # check <expected-exit> <description> <args...>
	local want=$1 what=$2; shift 2
	"$bin" "$@" >/tmp/sluice-cli.$$ 2>&1
	local got=$?
	if [ "$got" != "$want" ]; then echo "FAIL: $what: exit $got, want $want"; cat /tmp/sluice-cli.$$; fail=1; fi
}
check 0 "--help" --help
check 0 "--version" --version
check 2 "no command" 
check 2 "unknown command" frobnicate
"$bin" --version | grep -qE '^sluice [0-9]+\.[0-9]+\.[0-9]+$' || { echo "FAIL: version line"; fail=1; }
"$bin" frobnicate 2>&1 | grep -q "unknown command 'frobnicate'" || { echo "FAIL: unknown command message"; fail=1; }
for sub in $("$bin" --help | awk '/^commands:/{f=1;next} f&&/^  [a-z]/{print $1}'); do
	check 0 "$sub --help" "$sub" --help
	check 2 "$sub --bogus" "$sub" --bogus-option
done
rm -f /tmp/sluice-cli.$$
[ $fail = 0 ] && echo "cli: all passed"
exit $fail
