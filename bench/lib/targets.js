// The targets of issue 10 for agent-track's browser module (printed by bench/track-cost.mjs) and
// of issue 15 for the servers, written beside the measured values in BENCHMARKS.md by
// bench/report.mjs.
export const TARGETS = {
  gzipBytes: 40 * 1024, // every file of pkg/ a page fetches, gzip -9
  wireBytesPerEvent: 250, // request line + headers + body as received, per event
  floorRatio: 2, // trackAgent median ÷ the plain-JS floor's, at 0 and at 1,000 queued
  proxyShareOfNginx: 0.3, // the proxy's events/s ÷ nginx's, same bench/relay.mjs run
  ingestEventsPerSec: 100_000, // ingest_bench 5000 4 into SQLite, analysis and search on
};
