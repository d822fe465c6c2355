#!/usr/bin/env bash
# pgtmp.sh — a throwaway PostgreSQL for the tests and the demo: `pgtmp.sh start ENVFILE` runs initdb into a fresh temp dir
# and starts a server listening only on a unix socket there, then writes its libpq DSN to ENVFILE;
# `pgtmp.sh stop ENVFILE` stops it and removes everything. initdb refuses root, so as root we run it as
# the postgres user.
set -euo pipefail

cmd=${1:?usage: pgtmp.sh start|stop ENVFILE}
envfile=${2:?usage: pgtmp.sh start|stop ENVFILE}

find_pg_bin() {
	local d
	for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
		if [ -n "$d" ] && [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
	done
	command -v "$1" || { echo "pgtmp.sh: cannot find $1 (install postgresql)" >&2; exit 1; }
}

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
	[ -f "$envfile.dir" ] || return 0
	local dir
	dir=$(cat "$envfile.dir")
	if [ -d "$dir/data" ]; then
		as_pg "$(find_pg_bin pg_ctl)" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	case "$dir" in /tmp/sluice-pg.*) rm -rf "$dir" ;; esac
	rm -f "$envfile" "$envfile.dir"
}

case "$cmd" in
start)
	stop # a server left behind by an interrupted run
	dir=$(mktemp -d /tmp/sluice-pg.XXXXXX)
	echo "$dir" >"$envfile.dir"
	if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
	if ! as_pg "$(find_pg_bin initdb)" -D "$dir/data" -U sluice -A trust -E UTF8 --no-locale \
		>"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		stop
		exit 1
	fi
	if ! as_pg "$(find_pg_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-k $dir -c listen_addresses='' -p 5432 -c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB" \
		start >/dev/null; then
		cat "$dir/server.log" >&2 || true
		stop
		exit 1
	fi
	echo "host=$dir port=5432 user=sluice dbname=postgres" >"$envfile"
	echo "pgtmp.sh: PostgreSQL up at $dir"
	;;
stop)
	stop
	echo "pgtmp.sh: stopped"
	;;
*)
	echo "usage: pgtmp.sh start|stop ENVFILE" >&2
	exit 2
	;;
esac
