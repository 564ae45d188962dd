#!/usr/bin/env bash
# Runs every check and test: formatting and lints (rustfmt, clippy on the host and for
# wasm32), host unit tests (cargo test, whole workspace), the browser tests (wasm-pack test in
# headless Chromium), the end-to-end tests, then the API contract test (Schemathesis against
# docs/openapi.yaml). Installs what it needs first. Ends with one line "N passed, N failed"
# summing every runner's counts, followed by the steps that failed, if any (a failing fmt or
# clippy step has no test counts of its own). Exits non-zero when any step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# A fresh run builds about GB_NEEDED GB under target/ (host debug builds, wasm32, the Python
# tools); a full disk shows up as a rustc error far from its cause, so say it first.
GB_NEEDED=12
mkdir -p target
free_gb=$(df -Pk target | awk 'NR == 2 { print int($4 / 1048576) }')
if [ "$free_gb" -lt "$GB_NEEDED" ]; then
  printf 'warning: %s GB free where target/ is; a first run needs about %s GB (less when target/ is already built). Builds that run out fail with "No space left on device".\n' "$free_gb" "$GB_NEEDED" >&2
fi
# On CI (CI=true): no incremental compilation, which only pays off when a build is repeated,
# not on a fresh clone, where its caches would take disk and time; and a step that hangs is
# ended after STEP_LIMIT (exit 124: a failed step) instead of holding up every step after it.
# The longest step takes a few minutes on a fresh 2-core machine. Not at a terminal: timeout
# runs the step in a process group of its own, which Ctrl-C would not reach.
limit=()
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
  limit=(timeout --kill-after=30s "${STEP_LIMIT:-30m}")
fi

log=$(mktemp)
recorder=""
pg_dir=""
# chromedriver gives each browser test run a Chromium profile in TMPDIR (about 16 MB) and leaves
# it there; the browser steps get this folder as their TMPDIR instead, removed at exit.
browser_tmp=$(mktemp -d -t agent-track-browser.XXXXXX)
# shellcheck disable=SC2317 # (called by the trap)
# At exit: stop the recorder and the throwaway PostgreSQL (which removes its folder), if started;
# remove the browsers' profiles.
cleanup() {
  if [ -n "$recorder" ]; then kill "$recorder" 2>/dev/null || true; fi
  if [ -n "$pg_dir" ]; then bash scripts/postgres.sh stop "$pg_dir" || true; fi
  rm -rf "$browser_tmp"
  rm -f "$log"
}
trap cleanup EXIT
status=0
run() {
  printf '\n== %s\n' "$*"
  # Keep going after a failing step so that one run reports everything. The "== FAILED" line
  # goes to the log too: the summary below lists it.
  if ! "${limit[@]}" "$@" 2>&1 | tee -a "$log"; then
    status=1
    printf '== FAILED: %s\n' "$*" | tee -a "$log"
  fi
}

# Formatting and lints. Host clippy never compiles src/browser/ (wasm32 only), hence the
# second clippy for the browser crate on its real target. clippy.toml makes clippy's
# incompatible_msrv lint check test code too, against the rust-version in Cargo.toml.
run cargo fmt --all --check
run cargo clippy --workspace --all-targets --quiet -- -D warnings
run cargo clippy -p agent-track --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings

# The workspace's tests, the collector's on SQLite (its default).
# The tests named on_postgres_ have no SQLite form (TLS to PostgreSQL): only the second pass.
run env -u AGENT_TRACK_TEST_DATABASE_URL -u AGENT_TRACK_TEST_POSTGRES cargo test --workspace --quiet -- --skip on_postgres_

# The collector's tests a second time on PostgreSQL: a throwaway cluster (scripts/postgres.sh),
# installed from Debian's packages if missing, in a temporary folder as an unprivileged user on a
# free loopback port, stopped at exit; each test makes its own database through the URL
# (tests/collector_support). AGENT_TRACK_TEST_POSTGRES=required makes them fail, never skip,
# when PostgreSQL could not be started: a failed install or start is a failed step too.
run bash scripts/postgres.sh install
pg_dir=$(mktemp -d -t agent-track-pg.XXXXXX)
pg_url=""
printf '\n== %s\n' "bash scripts/postgres.sh start $pg_dir"
if pg_url=$(bash scripts/postgres.sh start "$pg_dir"); then
  printf '%s\n' "$pg_url"
else
  status=1
  printf '== FAILED: %s\n' "bash scripts/postgres.sh start $pg_dir" | tee -a "$log"
fi
collector_tests=()
for file in crates/server/tests/collector_*.rs; do
  collector_tests+=(--test "$(basename "$file" .rs)")
done
# The cluster offers TLS with a CA of its own (DIR/tls/ca.pem): collector_postgres_tls checks
# sslmode and sslrootcert against it.
run env AGENT_TRACK_TEST_POSTGRES=required AGENT_TRACK_TEST_DATABASE_URL="$pg_url" \
  AGENT_TRACK_TEST_DATABASE_CA="$pg_dir/tls/ca.pem" \
  cargo test -p agent-track-server --quiet "${collector_tests[@]}"

# The browser tests post batches to a real HTTP server on loopback (tests/support/recorder.mjs).
export RECORDER_PORT="${RECORDER_PORT:-47311}"
export AGENT_TRACK_RECORDER="http://127.0.0.1:$RECORDER_PORT"
node tests/support/recorder.mjs "$RECORDER_PORT" > /tmp/agent-track-recorder.log 2>&1 &
recorder=$!
for _ in $(seq 50); do grep -q listening /tmp/agent-track-recorder.log 2>/dev/null && break; sleep 0.1; done
# One run per file, so that a failing file does not hide the others' results.
for file in tests/web_*.rs; do
  run env TMPDIR="$browser_tmp" wasm-pack test --headless --chrome --test "$(basename "$file" .rs)"
done

# End to end: the real servers as processes, the demo page and dashboard in Chromium. The
# two-collector scenario (tests/e2e/two_collectors.test.mjs) makes its database in the same
# throwaway PostgreSQL, still running here (stopped by the trap); required, so a cluster that
# did not start fails it instead of skipping it.
run bash scripts/build.sh
run cargo build --quiet -p agent-track-server --bin agent-track-server
run env AGENT_TRACK_TEST_POSTGRES=required AGENT_TRACK_TEST_DATABASE_URL="$pg_url" \
  node --test --test-concurrency=1 tests/e2e/

# The API contract: docs/openapi.yaml is valid, and Schemathesis finds every answer of the
# running proxy and collector documented (tests/api; its Python tools go to target/api-venv).
run node --test tests/api/

# Sum the runners' counts: cargo's "test result: ok. N passed; M failed" lines and node's
# "# pass N" / "# fail N"; then list the failed steps.
awk '/test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^# pass / { p += $3 } /^# fail / { f += $3 }
     /^== FAILED: / { failed = failed "\nfailed step: " substr($0, 12) }
     END { printf "\n%d passed, %d failed%s\n", p, f, failed }' "$log"
exit $status
