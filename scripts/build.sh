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
# wasm-pack leaves wasm-opt to the steps below (--no-opt), so that the panic entry points are
# snipped first (scripts/snip-panics.mjs: a panic traps as it did, without std's panic
# machinery and message formatting) and wasm-opt then removes what only they reached.
rm -rf pkg/snippets # wasm-pack adds to it and never removes a snippet that went
# wasm-ld's link map of the module, for scripts/trim-data.mjs (build.rs passes --Map): a new
# path each build, so that cargo links again and the map is this build's.
map=$(mktemp -t agent-track-link.XXXXXX)
trap 'rm -f "$map"' EXIT
AGENT_TRACK_LINK_MAP="$map" wasm-pack build --target web --release --no-opt --out-dir pkg "$@" -- --features talc
node scripts/snip-panics.mjs pkg/agent_track_bg.wasm
# -Oz, then the control flow rebuilt (--flatten --rereloop) and -Oz again until nothing
# shrinks: 1.6 % smaller than -Oz once. --low-memory-unused: nothing lives in the first
# 1 KiB of memory (Rust's wasm32 stack comes first and grows down from 1 MiB, its data
# after), so address arithmetic can fold into load/store offsets. -ocimfs 20: a function
# with one caller is inlined into it only when small (binaryen's default: whatever its
# size): 2.8 KB more code, 1.5 KB less gzip of what ships, since what stays a function of
# its own keeps its locals numbered alike and repeats the code of its kind elsewhere.
wasm-opt --low-memory-unused -Oz --flatten --rereloop -Oz --converge -ocimfs 20 \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-reference-types --enable-multivalue --enable-mutable-globals \
  --strip-producers --strip-target-features \
  pkg/agent_track_bg.wasm -o pkg/agent_track_bg.wasm
# The constants only the snipped code read (panic messages and locations, formatting tables),
# zeroed in place: wasm-opt cannot split the data section, the link map can.
node scripts/trim-data.mjs "$map" pkg/agent_track_bg.wasm
# The hashed import and export names, shortened in the .wasm and the glue alike.
node scripts/shorten-names.mjs pkg/agent_track_bg.wasm pkg/agent_track.js
# The glue and its snippets (js/), minified: pages that import pkg/ without a bundler fetch
# them as they are.
find pkg/snippets -name '*.js' -print0 2>/dev/null | xargs -0 node scripts/minify-glue.mjs pkg/agent_track.js
# wasm-pack copies the crate's README (the repository's) into pkg/; no flag skips that, only
# `readme = false` in Cargo.toml, which would take it off crates.io too. npm users get the
# package README instead, written for them. npm packs a README whatever package.json "files"
# lists, so "files" needs no entry for it.
cp npm/README.md pkg/README.md
