#!/usr/bin/env bash
# The demo: three lab hosts created by one berth call, joined into one swarm, each answering
# the stock docker CLI over mutual TLS. Set KEEP=1 to leave them running (remove later with: berth rm -y demo1 demo2 demo3).
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTH_STORAGE_PATH=${BERTH_STORAGE_PATH:-/tmp/berth-demo}
berth() { node bin/run.js "$@"; }
names="demo1 demo2 demo3"

cleanup() { [ "${KEEP:-0}" = 1 ] || berth rm -f $names >/dev/null 2>&1 || true; }
trap cleanup EXIT
berth rm -f $names >/dev/null 2>&1 || true

echo "== berth create --swarm demo $names"
time berth create --swarm demo $names
echo
berth ls
for n in $names; do
  echo
  echo "== docker info on $n (through: eval \$(berth env $n))"
  ( eval "$(berth env "$n")"; docker info --format 'Name={{.Name}} ServerVersion={{.ServerVersion}} Labels={{.Labels}} Containers={{.Containers}}' )
done

echo
echo "== the swarm (through: eval \$(berth env --swarm demo))"
berth swarm ls
( eval "$(berth env --swarm demo)"; docker node ls )
