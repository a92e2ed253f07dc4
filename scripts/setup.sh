#!/usr/bin/env bash
# Ledgerline toolchain setup. Idempotent: every step checks first and skips
# what is already installed, printing one line per step.
#
#   bash scripts/setup.sh        # from scripts/run.sh, scripts/test.sh, CI, by hand
#   . scripts/setup.sh           # also works: installs in a subshell, then puts
#                                # node_modules/.bin and ~/.cargo/bin on the caller's PATH
#
# Pinned versions (see DESIGN.md in the shared project notes, beside this repository, for why):
#   trunk 0.21.14 (0.22 needs a newer rustc), wasm-bindgen-cli = the wasm-bindgen
#   in Cargo.lock, wasm-opt from npm binaryen 132 (Debian's binaryen 108 breaks
#   current wasm), Debian chromium + chromium-driver, npm deps from package-lock.json,
#   moto[server,dynamodb] 5.2.5 from PyPI in the venv .venv-moto (python3-venv from
#   Debian when `python3 -m venv` lacks ensurepip); cfn-lint 1.58.0 in .venv-cfn.
#
# Two cores only: concurrent runs are serialised with a lock, and a `cargo install`
# of the same crate that is already running (started by hand) is waited for, never
# duplicated.

ledgerline_setup_main() {
  set -euo pipefail

  local TRUNK_VERSION="0.21.14"
  local WASM_OPT_MAJOR="132"
  local MOTO_VERSION="5.2.5"
  local CFN_LINT_VERSION="1.58.0"

  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"

  export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"

  log() { printf '%s\n' "$*"; }
  die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

  as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
  }

  # Wait (up to 60 min) for an already running `cargo install <crate>` started
  # outside this script, so that we never run two cargo builds at once.
  # The regex cannot match its own text, so pgrep never sees a false positive.
  wait_for_foreign_cargo_install() {
    local crate="$1" waited=0
    while pgrep -f "cargo install (.* )?${crate}([@ ]|\$)" >/dev/null 2>&1; do
      if [ "$waited" -eq 0 ]; then
        log "wait: a 'cargo install ${crate}' is already running; waiting for it to finish"
      fi
      sleep 15
      waited=$((waited + 15))
      [ "$waited" -lt 3600 ] || die "'cargo install ${crate}' still running after 60 min"
    done
  }

  # Serialise concurrent setup runs (run.sh and test.sh started together).
  mkdir -p "$root/target"
  exec 9>"$root/target/.ledgerline-setup.lock"
  if ! flock -n 9; then
    log "wait: another scripts/setup.sh is running; waiting for it"
    flock 9
  fi

  # ---- 1. wasm32 target ------------------------------------------------------
  command -v rustup >/dev/null 2>&1 || die "rustup not found (install Rust via rustup first)"
  if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    log "ok: rust target wasm32-unknown-unknown already installed"
  else
    log "install: rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi

  # ---- 2. trunk --------------------------------------------------------------
  trunk_installed_version() {
    command -v trunk >/dev/null 2>&1 || return 0
    trunk --version 2>/dev/null | awk '{print $2; exit}' || true
  }
  local have
  have="$(trunk_installed_version)"
  if [ "$have" != "$TRUNK_VERSION" ]; then
    wait_for_foreign_cargo_install trunk
    have="$(trunk_installed_version)"
  fi
  if [ "$have" = "$TRUNK_VERSION" ]; then
    log "ok: trunk $TRUNK_VERSION already installed"
  else
    log "install: trunk $TRUNK_VERSION (found '${have:-none}'; ~15 min on 2 cores)"
    cargo install "trunk@$TRUNK_VERSION" --locked
    have="$(trunk_installed_version)"
    [ "$have" = "$TRUNK_VERSION" ] || die "trunk --version reports '${have:-nothing}', expected $TRUNK_VERSION"
  fi

  # ---- 3. wasm-bindgen-cli (exact version from Cargo.lock) ------------------
  [ -f Cargo.lock ] || die "Cargo.lock not found in $root"
  local wb_version
  wb_version="$(awk '
    /^\[\[package\]\]/ { in_wb = 0; next }
    /^name = "wasm-bindgen"$/ { in_wb = 1; next }
    in_wb && /^version = "/ { gsub(/^version = "|"$/, ""); print; exit }
  ' Cargo.lock)"
  [ -n "$wb_version" ] || die "no wasm-bindgen package in Cargo.lock"

  wasm_bindgen_installed_version() {
    command -v wasm-bindgen >/dev/null 2>&1 || return 0
    command -v wasm-bindgen-test-runner >/dev/null 2>&1 || return 0
    wasm-bindgen --version 2>/dev/null | awk '{print $2; exit}' || true
  }
  have="$(wasm_bindgen_installed_version)"
  if [ "$have" != "$wb_version" ]; then
    wait_for_foreign_cargo_install wasm-bindgen-cli
    have="$(wasm_bindgen_installed_version)"
  fi
  if [ "$have" = "$wb_version" ]; then
    log "ok: wasm-bindgen-cli $wb_version already installed (wasm-bindgen, wasm-bindgen-test-runner)"
  else
    log "install: wasm-bindgen-cli $wb_version (found '${have:-none}'; ~3 min)"
    # No --locked: the CLI's own lock file does not build with every rustc.
    cargo install wasm-bindgen-cli --version "$wb_version"
    have="$(wasm_bindgen_installed_version)"
    [ "$have" = "$wb_version" ] || die "wasm-bindgen --version reports '${have:-nothing}', expected $wb_version"
  fi

  # ---- 4. Debian chromium + chromedriver ------------------------------------
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    log "ok: $(/usr/bin/chromium --version 2>/dev/null | head -n1 || echo chromium) and chromedriver already installed"
  else
    log "install: chromium chromium-driver (apt)"
    as_root apt-get -o DPkg::Lock::Timeout=600 update
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=600 install -y chromium chromium-driver
  fi

  # ---- 5. npm dependencies (playwright-core, binaryen, dynalite) ------------
  command -v npm >/dev/null 2>&1 || die "npm not found (need Node.js >= 20)"
  [ -f package-lock.json ] || die "package-lock.json missing: run 'npm install' once and commit it"
  if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "install: npm ci (playwright-core, binaryen, dynalite)"
    npm ci --no-audit --no-fund
  else
    log "ok: npm dependencies already installed (node_modules matches package-lock.json)"
  fi

  # ---- 6. cargo fetch --------------------------------------------------------
  # trunk's `cargo metadata` needs every crate of every platform on disk.
  # Offline first (no network needed once cached), online only if something is missing.
  if cargo fetch --offline --quiet 2>/dev/null; then
    log "ok: cargo fetch (all crates in Cargo.lock are cached)"
  else
    log "fetch: cargo fetch (downloading missing crates)"
    cargo fetch
  fi

  # ---- 7. wasm-opt from npm binaryen -----------------------------------------
  local wasm_opt wasm_opt_version
  wasm_opt="$(command -v wasm-opt || true)"
  [ "$wasm_opt" = "$root/node_modules/.bin/wasm-opt" ] \
    || die "wasm-opt on PATH is '${wasm_opt:-none}', expected $root/node_modules/.bin/wasm-opt"
  wasm_opt_version="$(wasm-opt --version)"
  case "$wasm_opt_version" in
    *"version ${WASM_OPT_MAJOR}"*) log "ok: $wasm_opt_version" ;;
    *) die "wasm-opt reports '$wasm_opt_version', expected version $WASM_OPT_MAJOR" ;;
  esac

  # ---- 8. moto server (PyPI) in .venv-moto -----------------------------------
  # A second DynamoDB stand-in: dynalite lacks TransactWriteItems, moto's server
  # mode has it. tests/support/standins.mjs startMoto() runs .venv-moto/bin/moto_server.
  local venv="$root/.venv-moto"
  moto_installed_version() {
    [ -x "$venv/bin/moto_server" ] || return 0
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true
  }
  have="$(moto_installed_version)"
  if [ "$have" = "$MOTO_VERSION" ]; then
    log "ok: moto $MOTO_VERSION already installed (.venv-moto/bin/moto_server)"
  else
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    # Debian's own python3 keeps ensurepip (needed by `python3 -m venv`) in python3-venv.
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
      log "install: python3-venv (apt; $(command -v python3) -m venv needs ensurepip)"
      as_root apt-get -o DPkg::Lock::Timeout=600 update
      as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 install -y python3-venv
      python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
        || die "$(command -v python3) -m venv still lacks ensurepip after installing python3-venv"
    fi
    log "install: moto[server,dynamodb] $MOTO_VERSION into .venv-moto (found '${have:-none}'; ~30 s)"
    # A venv whose interpreter no longer runs (python3 moved or upgraded) is made anew.
    if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server,dynamodb]==$MOTO_VERSION"
    have="$(moto_installed_version)"
    [ "$have" = "$MOTO_VERSION" ] || die "moto in .venv-moto reports '${have:-nothing}', expected $MOTO_VERSION"
  fi

  # ---- 9. cfn-lint (PyPI) in .venv-cfn ------------------------------------------
  # Validates deploy/ledgerline.template.json (scripts/test.sh); its own venv, so its
  # dependencies never meet moto's.
  local cfn="$root/.venv-cfn"
  cfn_installed_version() {
    [ -x "$cfn/bin/cfn-lint" ] || return 0
    "$cfn/bin/python" -c 'import importlib.metadata as m; print(m.version("cfn-lint"))' 2>/dev/null || true
  }
  have="$(cfn_installed_version)"
  if [ "$have" = "$CFN_LINT_VERSION" ]; then
    log "ok: cfn-lint $CFN_LINT_VERSION already installed (.venv-cfn/bin/cfn-lint)"
  else
    log "install: cfn-lint $CFN_LINT_VERSION into .venv-cfn (found '${have:-none}'; ~30 s)"
    if ! "$cfn/bin/python" -c '' >/dev/null 2>&1; then
      rm -rf "$cfn"
      python3 -m venv "$cfn"
    fi
    "$cfn/bin/python" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
    have="$(cfn_installed_version)"
    [ "$have" = "$CFN_LINT_VERSION" ] || die "cfn-lint in .venv-cfn reports '${have:-nothing}', expected $CFN_LINT_VERSION"
  fi
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced: install in a subshell (so set -e / exit / cd never touch the caller),
  # then put the tools on the caller's PATH.
  ( ledgerline_setup_main "$@" ) || return $?
  __ledgerline_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  case ":$PATH:" in
    *":$__ledgerline_root/node_modules/.bin:"*) ;;
    *) PATH="$__ledgerline_root/node_modules/.bin:$HOME/.cargo/bin:$PATH" ;;
  esac
  export PATH
  unset __ledgerline_root
  unset -f ledgerline_setup_main
else
  set -euo pipefail
  ledgerline_setup_main "$@"
fi
