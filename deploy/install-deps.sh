#!/usr/bin/env bash
# install-deps.sh — install exactly the Debian 12 packages sluice needs that are missing; idempotent.
# Usage: deploy/install-deps.sh [--bench]   (--bench adds wrk and nginx for the benchmarks)
set -euo pipefail

pkgs=(build-essential cmake pkg-config
	libevent-dev libcurl4-openssl-dev libjansson-dev libpq-dev libssl-dev libxml2-dev
	libcmocka-dev libconfuse-dev postgresql openssl python3 python3-jsonschema curl ca-certificates)
if [ "${1:-}" = "--bench" ]; then pkgs+=(wrk nginx-light); fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a cluster on install; sluice runs its own, so leave the system one alone.
