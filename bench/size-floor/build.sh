#!/usr/bin/env bash
# Builds the size floor (src/lib.rs: the schema crate's rules alone) into bench/size-floor/pkg/
# as scripts/build.sh builds the npm package: opt-level z, LTO, one codegen unit, talc,
# wasm-bindgen --target web, then scripts/shrink.sh. Run by scripts/bench.sh after the
# package build (which installed the toolchain); its own lockfile, target/size-floor.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
target="$root/target/size-floor"
map="$target/link.map"
mkdir -p "$target"
# wasm-ld's link map for scripts/trim-data.mjs; -C link-arg reaches only this cdylib's link.
cargo rustc --locked --release --lib --target wasm32-unknown-unknown --target-dir "$target" \
  -q -- -C link-arg=--Map="$map"
rm -rf pkg
wasm-bindgen --target web --no-typescript --out-dir pkg \
  "$target/wasm32-unknown-unknown/release/agent_track_size_floor.wasm"
bash "$root/scripts/shrink.sh" pkg agent_track_size_floor "$map" >/dev/null
