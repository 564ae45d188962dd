#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, --target web: the `init()` loader), with the
# package README of npm/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# wasm-opt from the binaryen npm package; without one on PATH wasm-pack tries a download.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# The release profile is tuned for the servers; the browser module is tuned for size.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# wasm-pack leaves wasm-opt to scripts/shrink.sh (--no-opt), which snips the panic entry
# points first, then runs wasm-opt, zeroes the constants only the removed code read (found
# with wasm-ld's link map of the module, which build.rs asks for: a new path each build, so
# that cargo links again and the map is this build's), shortens the hashed import and export
# names and minifies the glue.
rm -rf pkg/snippets # wasm-pack adds to it and never removes a snippet that went
map=$(mktemp -t agent-track-link.XXXXXX)
trap 'rm -f "$map"' EXIT
AGENT_TRACK_LINK_MAP="$map" wasm-pack build --target web --release --no-opt --out-dir pkg "$@" -- --features talc
bash scripts/shrink.sh pkg agent_track "$map"
# wasm-pack copies the crate's README (the repository's) into pkg/; no flag skips that, only
# `readme = false` in Cargo.toml, which would take it off crates.io too. npm users get the
# package README instead, written for them. npm packs a README whatever package.json "files"
# lists, so "files" needs no entry for it.
cp npm/README.md pkg/README.md
