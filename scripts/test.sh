#!/usr/bin/env bash
# Runs every test: host unit tests (cargo test, whole workspace), then the browser tests
# (wasm-pack test in headless Chromium). Installs what it needs first. Ends with one line
# "N passed, N failed" summing every runner's counts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run() {
  printf '\n== %s\n' "$*"
  # Keep going after a failing step so that one run reports everything.
  "$@" 2>&1 | tee -a "$log" || status=1
}

run cargo test --workspace --quiet
run wasm-pack test --headless --chrome

# Sum the runners' "test result: ok. N passed; M failed" lines.
awk '/test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
exit $status
