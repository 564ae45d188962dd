#!/usr/bin/env bash
# Proxy throughput on loopback: wrk posts 20-event batches to the proxy, which validates,
# signs and relays each to a fast upstream. Prints events/s and latency percentiles.
# Usage: bash bench/proxy.sh [seconds] [connections]     (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-10}; CONNS=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p agent-track-server --bin agent-track-server --example fast_upstream
BIN=target/release/agent-track-server
UP_PORT=9801; PROXY_PORT=9802
target/release/examples/fast_upstream 127.0.0.1:$UP_PORT > /tmp/agent-track-bench-upstream.log 2>&1 &
UP=$!
AGENT_TRACK_SECRET=$(node -e "console.log('whsec_' + require('crypto').randomBytes(32).toString('base64'))") \
  AGENT_TRACK_LOG=warn $BIN proxy --listen 127.0.0.1:$PROXY_PORT --upstream http://127.0.0.1:$UP_PORT/v1/ingest \
  --rate-per-minute 100000000 --rate-burst 100000000 > /tmp/agent-track-bench-proxy.log 2>&1 &
PROXY=$!
trap 'kill $UP $PROXY 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PROXY_PORT/healthz >/dev/null && break; sleep 0.1; done
export BATCH=$(mktemp); node bench/proxy/batch.mjs "$BATCH"
# Check one request end to end first.
curl -sf -H 'content-type: application/json' --data-binary @"$BATCH" http://127.0.0.1:$PROXY_PORT/v1/events | grep -q '"accepted":20'
OUT=$(wrk -t2 -c"$CONNS" -d"${SECONDS_}s" --latency -s bench/proxy/post.lua http://127.0.0.1:$PROXY_PORT/v1/events)
echo "$OUT"
RPS=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
P50=$(echo "$OUT" | awk '$1=="50%" {print $2}')
P99=$(echo "$OUT" | awk '$1=="99%" {print $2}')
NON2XX=$(echo "$OUT" | awk '/Non-2xx/ {print $5}')
echo "proxy: $(awk -v r="$RPS" 'BEGIN{printf "%.0f", r*20}') events/s ($RPS batches/s of 20), p50 $P50, p99 $P99, non-2xx ${NON2XX:-0} ($CONNS connections, ${SECONDS_}s, $(nproc) cores shared by wrk, proxy and upstream)"
