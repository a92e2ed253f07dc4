#!/usr/bin/env bash
# Prints Ledgerline's size and speed figures (not a test: nothing here can fail on a
# busy machine). Builds the release bundle first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. scripts/setup.sh
trunk build --release >/dev/null
mkdir -p target/bench
cargo run -q --release -p ledgerline-core --example gen_bundle -- 2000 > target/bench/bundle-2000.json
node tests/bench/bench.mjs target/bench/bundle-2000.json
# replay of 1,000 queued writes behind 20 ms of added latency, against a sequential
# PutItem baseline, on moto (transactions) and dynalite (single conditional writes)
node tests/bench/replay.mjs 1000 20
# two devices of one user, 200 offline edits each: time and round trips to converge,
# beside sequential PutItem of the same number of invoices
node tests/bench/devices.mjs 200
# one connection check with 2,000 invoices: the change-marker read beside a versions Query
node tests/bench/check-cost.mjs 2000
# background sync: service worker start -> fetch answer beside a shell-only worker; network
# back -> 1,000 queued writes with no page open, beside sequential PutItem; the export of
# 2,000 invoices and its size
node tests/bench/background.mjs target/bench/bundle-2000.json 1000
