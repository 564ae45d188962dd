#!/usr/bin/env bash
# A/B of two builds of the proxy under the load of bench/relay.mjs (wrk, 32 connections, the
# 20-event batch of bench/proxy/batch.mjs, the fast upstream), run alternately so that both see
# the same machine. Prints each round's requests/s and the proxy's CPU time per request (user +
# system, read from /proc/PID/stat around the wrk run), then the medians.
#
# CPU time per request is the steadier figure on a shared machine: throughput moves with the
# other tenants' load, CPU per request much less.
#
# Usage: bash bench/proxy/ab.sh OLD_BINARY NEW_BINARY [ROUNDS=6] [SECONDS=5]
#   e.g. cp target/release/agent-track-server /tmp/proxy-before, change the code,
#        cargo build --release -p agent-track-server,
#        bash bench/proxy/ab.sh /tmp/proxy-before target/release/agent-track-server
# Needs wrk (scripts/bench.sh installs it) and
# target/release/examples/fast_upstream (cargo build --release -p agent-track-server --example fast_upstream).
set -euo pipefail
old=${1:?usage: ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS]}
new=${2:?usage: ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS]}
rounds=${3:-6}
seconds=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
upstream_bin=${FAST_UPSTREAM:-$root/target/release/examples/fast_upstream}
up_port=9821 proxy_port=9822

tmp=$(mktemp -d)
up='' px=''
cleanup() {
  [ -n "$px" ] && kill "$px" 2>/dev/null || true
  [ -n "$up" ] && kill "$up" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

node "$here/batch.mjs" "$tmp/batch.json"
"$upstream_bin" "127.0.0.1:$up_port" >/dev/null &
up=$!
tick=$(getconf CLK_TCK)
# A throwaway signing secret, only in this process's environment.
secret="whsec_$(head -c 32 /dev/urandom | base64)"

for round in $(seq "$rounds"); do
  for name in old new; do
    bin=${!name}
    AGENT_TRACK_SECRET=$secret AGENT_TRACK_LOG=warn "$bin" proxy --listen "127.0.0.1:$proxy_port" \
      --upstream "http://127.0.0.1:$up_port/v1/ingest" --rate-per-minute 100000000 --rate-burst 100000000 >/dev/null &
    px=$!
    for _ in $(seq 50); do
      curl -sf "http://127.0.0.1:$proxy_port/healthz" >/dev/null 2>&1 && break
      sleep 0.1
    done
    cpu0=$(awk '{print $14 + $15}' "/proc/$px/stat")
    out=$(BATCH="$tmp/batch.json" wrk -t2 -c32 "-d${seconds}s" -s "$here/post.lua" "http://127.0.0.1:$proxy_port/v1/events")
    cpu1=$(awk '{print $14 + $15}' "/proc/$px/stat")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(( (cpu1 - cpu0) * 1000000 / tick / requests ))
    echo "$name round $round: $rps requests/s, $us µs CPU per request"
    echo "$name $rps $us" >>"$tmp/rounds"
    kill "$px"
    wait "$px" 2>/dev/null || true
    px=''
  done
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for name in old new; do
  rps=$(awk -v n="$name" '$1 == n {print $2}' "$tmp/rounds" | median)
  us=$(awk -v n="$name" '$1 == n {print $3}' "$tmp/rounds" | median)
  echo "$name: median $rps requests/s, $us µs CPU per request"
done
