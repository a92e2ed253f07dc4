#!/usr/bin/env bash
# Runs Ledgerline on this machine: installs what is missing (idempotent), builds the
# release bundle, starts the local AWS stand-ins (dynalite and cognito-local, data in
# .data/) and serves the app at http://127.0.0.1:${PORT:-8080}/ until Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. scripts/setup.sh

echo "== build (trunk build --release)"
trunk build --release

port="${PORT:-8080}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

# Local AWS stand-ins: dynalite (DynamoDB, data in .data/dynalite, table created) and
# cognito-local (state in .data/cognito, preset pool, app client and demo user).
node tests/support/standins.mjs &
pids+=($!)

node tests/support/server.mjs --root dist --port "$port" &
pids+=($!)
echo "To use the stand-ins: Account → user pool id/app client id above, endpoint http://127.0.0.1:${COGNITO_PORT:-9229};"
echo "Settings → DynamoDB → endpoint http://127.0.0.1:${DYNAMO_PORT:-4567}; any AKIA/ASIA-shaped credentials work locally."
wait "${pids[@]}"
