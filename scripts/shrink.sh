#!/usr/bin/env bash
# Shrinks what wasm-bindgen wrote, in place: `bash scripts/shrink.sh DIR NAME LINK.map` for
# DIR/NAME_bg.wasm, its glue DIR/NAME.js and the modules it imports (DIR/snippets/**), where
# LINK.map is wasm-ld's link map of the cargo build the module came from. The steps after
# wasm-bindgen of the npm package build (scripts/build.sh), also used for the size floor of
# the benchmarks (bench/size-floor/build.sh), so that both are measured after the same steps.
set -euo pipefail
dir=$(realpath "$1") name=$2 map=$(realpath "$3")
module="$dir/${name}_bg.wasm" glue="$dir/$name.js"
cd "$(dirname "$0")/.."
# wasm-opt from the binaryen npm package.
export PATH="$PWD/node_modules/.bin:$PATH"
# The panic entry points snipped first (scripts/snip-panics.mjs: a panic traps as it did,
# without std's panic machinery and message formatting), so that wasm-opt then removes what
# only they reached.
node scripts/snip-panics.mjs "$module"
# -Oz, then the control flow rebuilt (--flatten --rereloop) and -Oz again until nothing
# shrinks: 1.6 % smaller than -Oz once. --low-memory-unused: nothing lives in the first
# 1 KiB of memory (Rust's wasm32 stack comes first and grows down from 1 MiB, its data
# after), so address arithmetic can fold into load/store offsets. -ocimfs 20: a function
# with one caller is inlined into it only when small (binaryen's default: whatever its
# size): 2.8 KB more code, 1.5 KB less gzip of what ships, since what stays a function of
# its own keeps its locals numbered alike and repeats the code of its kind elsewhere.
opt=(--low-memory-unused -Oz --flatten --rereloop -Oz --converge -ocimfs 20
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-reference-types --enable-multivalue --enable-mutable-globals
  --strip-producers --strip-target-features)
# AGENT_TRACK_NAMED_WASM=<file>: also the same module with its function names kept (-g), for
# the benchmarks' breakdown of what ships (bench/track-cost.mjs); the names change nothing else.
if [ -n "${AGENT_TRACK_NAMED_WASM:-}" ]; then
  wasm-opt "${opt[@]}" -g "$module" -o "$AGENT_TRACK_NAMED_WASM"
fi
wasm-opt "${opt[@]}" "$module" -o "$module"
# The constants only the snipped code read (panic messages and locations, formatting tables),
# zeroed in place: wasm-opt cannot split the data section, the link map can.
node scripts/trim-data.mjs "$map" "$module"
# The hashed import and export names, shortened in the .wasm and the glue alike.
node scripts/shorten-names.mjs "$module" "$glue"
# The glue and its snippets, minified: pages that import the package without a bundler fetch
# them as they are.
find "$dir" -path "$dir/snippets/*" -name '*.js' -print0 | xargs -0 node scripts/minify-glue.mjs "$glue"
