// Shared by the benchmarks: Debian's Chromium driven by playwright-core (no browser download;
// scripts/setup.sh installs it; tests/support/chromium.mjs launches it) and the median/p99 of
// block timings. The loopback server is bench/lib/server.mjs.
import { launchChromium } from '../../tests/support/chromium.mjs';

export { launchChromium };

/** Median and p99 of numbers, and their sum. */
export function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p99: at(0.99), total: values.reduce((a, b) => a + b, 0) };
}
