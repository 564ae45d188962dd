// agent-track alone, against the targets of issue 10, in one run of headless Chromium:
//   size      every file of pkg/ a page fetches (glue, snippets, .wasm), gzip -9 and brotli,
//             and where the bytes are: by crate and the largest functions of the module cargo
//             builds before wasm-bindgen/wasm-opt (bench/lib/wasm-size.mjs); target ≤ 40 KB gzip;
//             beside it the size floor, the schema crate's rules alone built the same way
//             (bench/size-floor, built by `bash bench/size-floor/build.sh`; left out when not built),
//             and the shipped module by part, from its copy with names kept
//             (target/agent_track_named.wasm: `AGENT_TRACK_NAMED_WASM=... npm run build`, as
//             scripts/bench.sh does; used only when its code is the shipped module's, byte for byte)
//   per call  6 rounds of 5,000 trackAgent calls timed in blocks of 100 with the queue held
//             at 0 and at 1,000 events, alternating with the plain-JS floor (the same events,
//             JSON.stringify + one setItem) in the same page; target ≤ 2× the floor, flat from 0 to 1,000 queued
//   wire      200 events of the distinct sequence of bench/lib/payload.js delivered in batches
//             of 20 (the default flushAt) to the loopback server: bytes per event as received (compressed when
//             the module compresses) and uncompressed; target ≤ 250 bytes per event
// Writes bench/results/track-cost.json. Usage: node bench/track-cost.mjs   (after `npm run build`)
import { writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, summarize } from './lib/browser.mjs';
import { serveBench } from './lib/server.mjs';
import { shippedAreas, shippedFiles, wasmBreakdown } from './lib/wasm-size.mjs';
import { TARGETS } from './lib/targets.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CALLS = 5_000, BLOCK = 100, ROUNDS = 6, WIRE_EVENTS = 200, WIRE_BATCH = 20;

const shipped = await shippedFiles(join(root, 'pkg'));
const unopt = join(root, 'target/wasm32-unknown-unknown/release/agent_track.wasm');
const breakdown = existsSync(unopt) ? await wasmBreakdown(unopt) : null;
const shippedWasm = await wasmBreakdown(join(root, 'pkg/agent_track_bg.wasm'), { top: 0 });
const floorDir = join(root, 'bench/size-floor/pkg');
const named = join(root, 'target/agent_track_named.wasm');
const namedAreas = existsSync(named) ? await shippedAreas(named) : null;
const areas = namedAreas?.codeSection === shippedWasm.sections.find((x) => x.section === 'code')?.bytes ? namedAreas : null;
const sizeFloor = existsSync(floorDir) ? await shippedFiles(floorDir, 'agent_track_size_floor.js', 'agent_track_size_floor_bg.wasm') : null;

const server = await serveBench(root, { markerRe: /msg-[a-z0-9]+-\d+/g });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/bench/track-cost.html`);
  await page.waitForFunction(() => window.ready);
  const version = browser.version();
  // One warm-up run of each so that the measured runs see compiled, tiered-up code.
  await page.evaluate((o) => window.measure(o), { preload: 0, calls: 2_000, block: BLOCK });
  await page.evaluate((o) => window.baseline(o), { preload: 0, calls: 2_000, block: BLOCK });
  const runs = {}, baseline = {};
  // ms for all calls of one run (the mean over the rounds)
  const ms = (r) => ({ ...r, total: (r.total * BLOCK) / 1000 / ROUNDS });
  // agent-track and the floor alternate, ROUNDS times each, and the block means of the rounds
  // are pooled: the machine is shared, and a load change then hits both sides alike.
  for (const preload of [0, 1_000]) {
    const ours = [], floor = [];
    let queuedAtEnd;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await page.evaluate((o) => window.measure(o), { preload, calls: CALLS, block: BLOCK });
      ours.push(...r.perCallUs);
      queuedAtEnd = r.queuedAtEnd;
      floor.push(...(await page.evaluate((o) => window.baseline(o), { preload, calls: CALLS, block: BLOCK })).perCallUs);
    }
    runs[preload] = { ...ms(summarize(ours)), queuedAtEnd };
    baseline[preload] = ms(summarize(floor));
  }
  const ratio = Object.fromEntries(Object.keys(runs).map((k) => [k, runs[k].median / baseline[k].median]));

  server.reset();
  const st = await page.evaluate((o) => window.wire(o), { endpoint: '/ingest/agent-track/v1/events', count: WIRE_EVENTS, batch: WIRE_BATCH });
  for (let i = 0; i < 50 && server.requests.reduce((a, q) => a + q.events, 0) < WIRE_EVENTS; i++) await new Promise((r) => setTimeout(r, 100));
  const posts = server.requests.filter((q) => q.method === 'POST');
  const sum = (f) => posts.reduce((a, q) => a + f(q), 0);
  const events = sum((q) => q.events);
  const wire = {
    events, tracked: WIRE_EVENTS, batch: WIRE_BATCH, requests: posts.length, versions: [...new Set(posts.map((q) => q.bodyVersion))],
    encodings: [...new Set(posts.map((q) => q.encoding || 'none'))], contentTypes: [...new Set(posts.map((q) => q.contentType))],
    bodyBytes: sum((q) => q.bodyBytes), headBytes: sum((q) => q.headBytes), plainBytes: sum((q) => q.plainBytes),
    sdkStats: st,
  };
  wire.bodyPerEvent = wire.bodyBytes / events;
  wire.wirePerEvent = (wire.bodyBytes + wire.headBytes) / events;
  wire.plainPerEvent = wire.plainBytes / events;

  const result = { date: new Date().toISOString(), chromium: version, calls: CALLS, block: BLOCK, rounds: ROUNDS, targets: TARGETS,
    shipped, shippedWasm: { sections: shippedWasm.sections, dataBytes: shippedWasm.dataBytes }, areas, sizeFloor,
    breakdown, runs, baseline, ratio, wire };
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/track-cost.json'), JSON.stringify(result, null, 2) + '\n');

  const kb = (n) => (n / 1024).toFixed(1) + ' KB';
  const ok = (yes) => (yes ? 'met' : 'NOT met');
  console.log(`size: ${shipped.files.map((f) => `${f.file} ${kb(f.gzip)}`).join(' + ')} = ${kb(shipped.total.gzip)} gzip (${kb(shipped.total.brotli)} brotli, ${kb(shipped.total.raw)} raw); target ≤ ${kb(TARGETS.gzipBytes)}: ${ok(shipped.total.gzip <= TARGETS.gzipBytes)}`);
  if (sizeFloor) console.log(`  size floor (bench/size-floor: the schema crate's rules alone, built the same way): ${kb(sizeFloor.total.gzip)} gzip, ${(100 * sizeFloor.total.gzip / shipped.total.gzip).toFixed(0)} % of the package`);
  if (areas) console.log(`  shipped code by part: ${areas.areas.map((a) => `${a.area.replace(/[:(].*/, '')} ${(a.share * 100).toFixed(0)} %`).join(', ')}`);
  if (breakdown) {
    console.log(`  unoptimised module: ${kb(breakdown.codeBytes)} code, ${kb(breakdown.dataBytes)} data; by crate: ${breakdown.crates.slice(0, 8).map((c) => `${c.crate} ${(c.share * 100).toFixed(0)} %`).join(', ')}`);
  }
  console.log(`trackAgent cost, Chromium ${version}, ${ROUNDS} alternating rounds of ${CALLS} calls in blocks of ${BLOCK} (sync µs per call, block means pooled):`);
  console.log('| queue before | agent-track median | p99 | floor median | p99 | agent-track / floor |');
  console.log('|---|---|---|---|---|---|');
  for (const k of Object.keys(runs)) {
    console.log(`| ${k} events | ${runs[k].median.toFixed(1)} | ${runs[k].p99.toFixed(1)} | ${baseline[k].median.toFixed(1)} | ${baseline[k].p99.toFixed(1)} | ${ratio[k].toFixed(2)}× |`);
  }
  console.log(`per call: target ≤ ${TARGETS.floorRatio}× the floor at 0 and 1,000 queued: ${ok(Object.values(ratio).every((x) => x <= TARGETS.floorRatio))}; flat: 1,000 queued / empty = ${(runs[1000].median / runs[0].median).toFixed(2)} (floor ${(baseline[1000].median / baseline[0].median).toFixed(2)})`);
  console.log(`wire: ${events} of ${WIRE_EVENTS} distinct events in ${wire.requests} request(s) of up to ${WIRE_BATCH} (body v${wire.versions.join('/v')}, ${wire.contentTypes.join(', ')}, Content-Encoding ${wire.encodings.join('/')}): ` +
    `${wire.wirePerEvent.toFixed(0)} bytes per event on the wire as sent (body ${wire.bodyPerEvent.toFixed(0)} + headers), ${wire.plainPerEvent.toFixed(0)} uncompressed body bytes per event; target ≤ ${TARGETS.wireBytesPerEvent}: ${ok(wire.wirePerEvent <= TARGETS.wireBytesPerEvent)}`);
} finally {
  await browser.close();
  await server.close();
}
