#!/usr/bin/env bash
# Installs every tool agent-track needs, idempotently, at the versions pinned below.
# Safe to run again: each step checks the installed version first.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.129
WASM_PACK_VERSION=0.15.1

log() { printf '[setup] %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# rustfmt and clippy: scripts/test.sh checks formatting and lints before it tests.
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    log "adding the $component component"
    rustup component add "$component"
  fi
done

installed_version() { "$1" --version 2>/dev/null | awk '{print $2}' || true; }

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  cargo install --locked --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [ "$(installed_version wasm-pack)" != "$WASM_PACK_VERSION" ]; then
  log "installing wasm-pack $WASM_PACK_VERSION (about 1.5 minutes)"
  cargo install --locked --force wasm-pack --version "$WASM_PACK_VERSION"
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "installing Debian's chromium and chromium-driver"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The API contract test (tests/api) makes a virtualenv with `python3 -m venv`, which Debian
# ships apart from python3 (ensurepip). The tools themselves go into that virtualenv.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  log "installing Debian's python3-venv"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi

# npm dev dependencies (binaryen's wasm-opt, playwright-core). Reinstall when the lockfile
# changed since the last install.
if [ -f package.json ]; then
  stamp=node_modules/.agent-track-lock
  want=$(sha256sum package-lock.json 2>/dev/null | cut -d' ' -f1 || echo none)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing npm dev dependencies"
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    echo "$want" > "$stamp"
  fi
fi
log "toolchain ready"
