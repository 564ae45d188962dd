// Measures the shipped size of the npm package (the .wasm plus its JS glue, gzipped) and the
// main-thread cost of one trackAgent call in headless Chromium: 10,000 calls timed in blocks
// of 100, with an empty queue and with 1,000 events already queued.
// Usage: node bench/track-cost.mjs   (after `npm run build`; `npm run bench` does both)
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic, launchChromium, summarize } from './lib/browser.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CALLS = 10_000, BLOCK = 100;

async function size() {
  const files = ['pkg/agent_track_bg.wasm', 'pkg/agent_track.js'];
  const out = {};
  for (const f of files) {
    const bytes = await readFile(join(root, f));
    out[f] = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, brotli: brotliCompressSync(bytes).length };
  }
  const sum = (k) => files.reduce((a, f) => a + out[f][k], 0);
  out.total = { raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli') };
  return out;
}

const server = await serveStatic(root);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/bench/track-cost.html`);
  await page.waitForFunction(() => window.ready);
  const version = browser.version();
  // One warm-up run so that both measured runs see a compiled, tiered-up module.
  await page.evaluate((o) => window.measure(o), { preload: 0, calls: 2_000, block: BLOCK });
  const runs = {};
  for (const preload of [0, 1_000]) {
    const r = await page.evaluate((o) => window.measure(o), { preload, calls: CALLS, block: BLOCK });
    runs[preload] = { ...summarize(r.perCallUs), queuedAtEnd: r.queuedAtEnd };
    runs[preload].total = (runs[preload].total * BLOCK) / 1000; // ms for all calls
  }
  const baseline = {};
  for (const preload of [0, 1_000]) {
    const base = await page.evaluate((o) => window.baseline(o), { preload, calls: CALLS, block: BLOCK });
    baseline[preload] = summarize(base.perCallUs);
    baseline[preload].total = (baseline[preload].total * BLOCK) / 1000;
  }
  await page.evaluate(() => window.wire());
  const events = server.posts.reduce((a, p) => a + p.events, 0);
  const bodyBytes = server.posts.reduce((a, p) => a + p.bytes, 0);
  const wire = { events, requests: server.posts.length, bodyBytes, bytesPerEvent: bodyBytes / events };
  const sizes = await size();
  const result = { date: new Date().toISOString(), chromium: version, calls: CALLS, block: BLOCK, sizes, runs, baseline, wire };
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/track-cost.json'), JSON.stringify(result, null, 2) + '\n');

  const kb = (n) => (n / 1024).toFixed(1) + ' KB';
  console.log(`agent-track size: wasm ${kb(sizes['pkg/agent_track_bg.wasm'].gzip)} + glue ${kb(sizes['pkg/agent_track.js'].gzip)} = ${kb(sizes.total.gzip)} gzip (${kb(sizes.total.brotli)} brotli, ${kb(sizes.total.raw)} raw)`);
  console.log(`trackAgent cost, Chromium ${version}, ${CALLS} calls in blocks of ${BLOCK}:`);
  console.log('| queue before | median µs/call | p99 µs/call (block mean) | total ms |');
  console.log('|---|---|---|---|');
  for (const [preload, r] of Object.entries(runs)) {
    console.log(`| ${preload} events | ${r.median.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.total.toFixed(0)} |`);
  }
  for (const [preload, b] of Object.entries(baseline)) {
    console.log(`| floor, ${preload} entries: JSON.stringify + localStorage.setItem in plain JS | ${b.median.toFixed(1)} | ${b.p99.toFixed(1)} | ${b.total.toFixed(0)} |`);
  }
  console.log(`wire: a 20-event batch (prompts, responses, a reaction) is ${wire.bodyBytes} bytes of body in ${wire.requests} request(s), ${wire.events} events: ${wire.bytesPerEvent.toFixed(0)} bytes per event, uncompressed`);
  console.log(`ratio (1,000 queued / empty, median): ${(runs[1000].median / runs[0].median).toFixed(2)}`);
} finally {
  await browser.close();
  await server.close();
}
