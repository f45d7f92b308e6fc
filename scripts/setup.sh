#!/usr/bin/env bash
# Everything berth's demo and tests need on a fresh Debian/Ubuntu machine, as root.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "setup: run as root (lab hosts need network and mount namespaces)" >&2; exit 1; fi

PKGS="openssh-server docker.io docker-registry busybox-static iproute2 iptables util-linux mount perl ca-certificates curl openssl qemu-system-x86 qemu-utils debootstrap e2fsprogs chromium docker-compose apt-cacher-ng wireguard-go wireguard-tools iperf3"
missing=""
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  # No init system here to start services with: keep the package scripts from trying.
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 $missing >/dev/null
fi

# Lab hosts share this box's one neighbour (ARP) table, and each swarm node's overlay network adds an
# entry per peer: a 50-host swarm needs ~2,500, past the default limit of 1,024 ("neighbor table
# overflow" in dmesg: packets dropped, SSH and swarm ports silent from about the 35th host on).
for k in 3:16384 2:8192 1:4096; do
  f=/proc/sys/net/ipv4/neigh/default/gc_thresh${k%%:*}
  [ "$(cat "$f")" -ge "${k#*:}" ] || echo "${k#*:}" > "$f"
done

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("setup: berth needs Node >= 20.19 (this is "+process.version+")"); process.exit(1) }'
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
echo "setup: ready ($(node bin/run.js version))"
