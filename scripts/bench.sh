#!/usr/bin/env bash
# Benchmarks: builds the package, then measures its size and the per-call cost of trackAgent
# in headless Chromium. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
node bench/track-cost.mjs
