#!/usr/bin/env bash
# The main job: builds what is missing (toolchain, npm package, server) and starts the local
# stack — proxy + collector (SQLite) + demo page + dashboard — on one port.
# Environment: AGENT_TRACK_LISTEN (default 127.0.0.1:8080), AGENT_TRACK_DATA_DIR (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cargo build --release -p agent-track-server --bin agent-track-server
exec target/release/agent-track-server dev \
  --listen "${AGENT_TRACK_LISTEN:-127.0.0.1:8080}" \
  --data-dir "${AGENT_TRACK_DATA_DIR:-data}" \
  --www www --pkg pkg
