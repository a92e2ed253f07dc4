#!/usr/bin/env bash
# Runs every Ledgerline test: formatting and lints, core unit tests (native), browser
# unit tests (wasm-bindgen-test in headless Debian Chromium), then a release build and
# the end-to-end tests (playwright-core driving Debian Chromium against that build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. scripts/setup.sh

echo "== rustfmt"
cargo fmt --all -- --check

echo "== clippy (core natively; app, worker and cloud for wasm32)"
cargo clippy -p ledgerline-core --all-targets -- -D warnings
cargo clippy -p ledgerline-app -p ledgerline-worker -p ledgerline-cloud --target wasm32-unknown-unknown --all-targets -- -D warnings

echo "== core unit tests"
cargo test -p ledgerline-core

echo "== browser unit tests (wasm-bindgen-test, headless Chromium)"
CHROMEDRIVER=/usr/bin/chromedriver cargo test -p ledgerline-app -p ledgerline-cloud --target wasm32-unknown-unknown

echo "== release build"
trunk build --release

echo "== node tests: local AWS stand-ins + fault proxy (tests/node), end-to-end (tests/e2e)"
node --test --test-concurrency=1 --test-timeout=300000 tests/node/ tests/e2e/
