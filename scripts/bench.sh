#!/usr/bin/env bash
# The benchmark suite: agent-track beside the analytics SDKs a site would otherwise use (size,
# main-thread cost per call, delivery) in headless Chromium, and its proxy beside nginx and its
# collector's ingest rate. Installs what it needs (bench npm dependencies with
# `npm ci --prefix bench`, wrk and nginx with apt-get, the toolchain through scripts/build.sh),
# builds, measures, writes BENCHMARKS.md and bench/chart.svg and prints the summary.
# Not part of the CI test command. Everything listens on 127.0.0.1 and every load is bounded
# in time. Takes about 5 minutes when everything is built, 7 from a fresh checkout, and some
# 3.5 more on a fresh machine (the wasm-bindgen-cli and wasm-pack installs of scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
log() { printf '[bench] %s\n' "$*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"

# System tools: wrk (load generator) and nginx (the plain relay the proxy is compared with).
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # RUNLEVEL=1: the package must not start Debian's own nginx service; the bench runs its own.
  $SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The wasm package (scripts/setup.sh installs the toolchain, Chromium and the root npm
# dependencies first, idempotently).
log "building the npm package into pkg/ (and a copy of its module with names kept, for the breakdown)"
AGENT_TRACK_NAMED_WASM="$PWD/target/agent_track_named.wasm" bash scripts/build.sh
log "building the size floor (the schema crate's rules alone) into bench/size-floor/pkg/"
bash bench/size-floor/build.sh

# The peers, installed as the bench's own dev dependencies from bench/package-lock.json;
# again only when the lockfile changed since the last install.
stamp=bench/node_modules/.agent-track-bench-lock
want=$(sha256sum bench/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing the bench's npm dependencies (npm ci --prefix bench)"
  npm ci --prefix bench --no-audit --no-fund
  echo "$want" > "$stamp"
fi

log "building the proxy, the collector's ingest benchmark and the fast upstream (release)"
cargo build --release -q -p agent-track-server --bin agent-track-server --example fast_upstream --example ingest_bench --example query_bench

log "bundling every SDK with esbuild"
node bench/build-peers.mjs >/dev/null

log "agent-track alone: size breakdown, per-call cost beside the floor, wire bytes per event"
node bench/track-cost.mjs >/dev/null

log "agent-track and the peers in headless Chromium (about 4 minutes)"
node bench/compare.mjs

# The collector's ingest is measured on SQLite and, beside it, on PostgreSQL: a throwaway
# cluster (scripts/postgres.sh: Debian's postgresql-15, installed if missing, in a temporary
# folder, on a free loopback port), stopped at exit. Without it the PostgreSQL row says why.
pg_dir=$(mktemp -d -t agent-track-bench-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true' EXIT
if bash scripts/postgres.sh install && pg_url=$(bash scripts/postgres.sh start "$pg_dir"); then
  export AGENT_TRACK_BENCH_DATABASE_URL="$pg_url"
else
  log "PostgreSQL could not be started: its ingest row is left out"
fi

log "proxy vs nginx, collector ingest (SQLite, PostgreSQL)"
node bench/relay.mjs

node bench/report.mjs $(( $(date +%s) - started ))
log "done in $(( $(date +%s) - started )) s: BENCHMARKS.md, bench/chart.svg, raw results in bench/results/"
