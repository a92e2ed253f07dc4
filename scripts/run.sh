#!/usr/bin/env bash
# Runs Ledgerline on this machine: installs what is missing (idempotent), builds the
# release bundle, starts the local DynamoDB stand-in (dynalite, data in .data/dynalite)
# and serves the app at http://127.0.0.1:${PORT:-8080}/ until Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. scripts/setup.sh

echo "== build (trunk build --release)"
trunk build --release

port="${PORT:-8080}"
dynamo_port="${DYNAMO_PORT:-4567}"
mkdir -p .data/dynalite
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if (exec 3<>"/dev/tcp/127.0.0.1/$dynamo_port") 2>/dev/null; then
  echo "== something already listens on 127.0.0.1:$dynamo_port; using it as the DynamoDB stand-in"
else
  node_modules/.bin/dynalite --port "$dynamo_port" --path .data/dynalite --createTableMs 0 &
  pids+=($!)
  echo "== local DynamoDB stand-in (dynalite) at http://127.0.0.1:$dynamo_port (data in .data/dynalite)"
fi

node tests/support/server.mjs --root dist --port "$port" &
pids+=($!)
wait "${pids[@]}"
