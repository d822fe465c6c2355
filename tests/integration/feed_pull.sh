#!/usr/bin/env bash
# feed_pull.sh — a MISP feed taken in from a directory and from a URL (a local HTTPS server with a
# certificate made here): both give the same decisions; TLS is verified (an unknown CA is refused);
# an event changed behind the feed's hashes is refused by name while the others are taken in; a second
# pull reads nothing unchanged.
set -u
bin=${SLUICE_BIN:?}
py=${SLUICE_PYTHON3:-python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
base=$(cat "${SLUICE_TEST_PGENV:?}")
export PGOPTIONS="-c client_min_messages=warning"
command -v openssl >/dev/null || { echo "no openssl tool: skip"; exit 77; }
tmp=$(mktemp -d)
d1=sl_fpull_dir_$$ d2=sl_fpull_url_$$
cleanup() {
	[ -n "${srv:-}" ] && kill "$srv" 2>/dev/null
	rm -rf "$tmp"
	psql "$base" -qc "DROP DATABASE IF EXISTS $d1 WITH (FORCE)" -c "DROP DATABASE IF EXISTS $d2 WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT
psql "$base" -qc "CREATE DATABASE $d1" -c "CREATE DATABASE $d2" >/dev/null || exit 1
fail=0
cd "$src"
pol=fixtures/demo/demo.policy
q() { psql "$base dbname=$1" -Atc "$2"; }

"$bin" feed pull fixtures/demo/feed --peer feed --policy $pol --db "$base dbname=$d1" >/dev/null || { echo "FAIL: dir pull"; fail=1; }

# A local HTTPS server for a copy of the feed, with a CA made here.
cp -r fixtures/demo/feed "$tmp/feed"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null || { echo "FAIL: openssl"; exit 1; }
"$py" - "$tmp" >"$tmp/port" <<'PY' &
import http.server, ssl, sys, os, functools
d = sys.argv[1]
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d + "/feed")
http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
s = http.server.HTTPServer(("127.0.0.1", 0), h)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(d + "/cert.pem", d + "/key.pem")
s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
srv=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="https://127.0.0.1:$(cat "$tmp/port")/"

# Without the CA, verification fails and nothing is taken in.
"$bin" feed pull "$url" --peer feed --policy $pol --db "$base dbname=$d2" >/dev/null 2>"$tmp/err"
[ $? = 1 ] || { echo "FAIL: untrusted certificate accepted"; fail=1; }
[ "$(q $d2 "select count(*) from objects")" = 0 ] || { echo "FAIL: objects stored despite TLS failure"; fail=1; }

# Tamper with one event: it is refused by name, the rest goes in.
victim=$(ls "$tmp/feed" | grep -m1 -- '-.*\.json$')
sed -i 's/"value":"\([^"]*\)"/"value":"x\1"/' "$tmp/feed/$victim"
"$bin" feed pull "$url" --peer feed --policy $pol --db "$base dbname=$d2" --ca-file "$tmp/cert.pem" >/dev/null 2>"$tmp/err"
[ $? = 1 ] || { echo "FAIL: tampered event not reported"; fail=1; }
grep -q "event ${victim%.json} refused" "$tmp/err" || { echo "FAIL: refusal names the event"; cat "$tmp/err"; fail=1; }
n_ev=$(ls fixtures/demo/feed | grep -c -- '-.*\.json$')
[ "$(q $d2 "select count(distinct origin_id) from provenance")" = $((n_ev - 1)) ] || { echo "FAIL: the other events were not taken in"; fail=1; }

# Restore it: the next pull takes in only that event, and then both ledgers decided the same.
cp "fixtures/demo/feed/$victim" "$tmp/feed/$victim"
"$bin" feed pull "$url" --peer feed --policy $pol --db "$base dbname=$d2" --ca-file "$tmp/cert.pem" >"$tmp/out" || { echo "FAIL: url pull"; fail=1; }
grep -q "^sluice feed: 1 events read" "$tmp/out" || { echo "FAIL: second pull should read 1 event: $(cat "$tmp/out")"; fail=1; }
sig="select destination, id, modified, decision from audit order by 1, 2, 3"
[ "$(q $d1 "$sig" | md5sum)" = "$(q $d2 "$sig" | md5sum)" ] || { echo "FAIL: URL and directory pulls decided differently"; fail=1; }
"$bin" feed pull "$url" --peer feed --policy $pol --db "$base dbname=$d2" --ca-file "$tmp/cert.pem" | grep -q "^sluice feed: 0 events read" ||
	{ echo "FAIL: an unchanged feed was read again"; fail=1; }
[ $fail = 0 ] && echo "feed_pull: all passed"
exit $fail
