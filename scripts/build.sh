#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, --target web: the `init()` loader).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# wasm-opt from the binaryen npm package; without one on PATH wasm-pack tries a download.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
wasm-pack build --target web --release --out-dir pkg "$@"
