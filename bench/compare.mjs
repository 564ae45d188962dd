// The browser half of the benchmark suite: agent-track beside the analytics SDKs a site would
// otherwise use, each bundled the same way (bench/build-peers.mjs) and loaded by bench/sdk.html
// in headless Chromium, every request going to a loopback server (bench/lib/server.mjs) and every
// other request aborted and reported.
//
// Per SDK, each phase in a fresh browser context (empty storage):
//   cost     10,000 calls timed in blocks of 100, network up (after 500 warm-up calls, delivered);
//            then the SDK's flush and a wait until the server has every event. Chrome's own
//            main-thread task time (CDP Performance.getMetrics) over calls + delivery, per event.
//   queued   offline (the browser's offline mode), 1,000 events tracked first, then 10,000
//            calls timed the same way: what each call costs while a backlog builds up.
//   delivery SDK defaults, 1,000 calls, then its flush API (if any) and a wait for its flush
//            interval: requests, body bytes and request bytes (line + headers + body) per event
//            as received, and the payload's bytes per event with its compression undone.
// Every SDK tracks the same sequence of distinct prompts and answers (bench/lib/payload.js).
// Writes bench/results/compare.json. Usage: node bench/compare.mjs [sdk ...]
import { writeFile, readFile, mkdir } from 'node:fs/promises';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveBench } from './lib/server.mjs';
import { launchChromium, summarize } from './lib/browser.mjs';
import { SDKS, versionOf } from './build-peers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const QUICK = process.env.BENCH_QUICK === '1';
const CALLS = QUICK ? 2_000 : 10_000, BLOCK = 100, PRELOAD = 1_000, DELIVERY = 1_000, WARMUP = 500;
// Time caps (ms): a slow SDK is cut off and its row says how many calls it made in time.
const BUDGET = { measure: 10_000, drain: 12_000, preload: 6_000, quiet: 6_000, delivery: 20_000, deliveryQuiet: 11_000 };

const only = process.argv.slice(2);
const sdks = SDKS.filter((s) => only.length === 0 || only.includes(s.name));
const log = (...a) => console.error('[compare]', ...a);

const tagOf = () => Math.random().toString(36).slice(2, 8);
const idsOf = (requests, tag) => {
  const prefix = `msg-${tag}-`;
  const all = requests.flatMap((r) => r.ids.filter((id) => id.startsWith(prefix)));
  return { distinct: new Set(all).size, total: all.length };
};

async function waitDelivered(server, sdk, tag, want, capMs, quietMs = BUDGET.quiet) {
  const start = Date.now();
  let last = -1, lastChange = Date.now();
  for (;;) {
    const n = idsOf(server.requests.filter((r) => r.sdk === sdk), tag).distinct;
    if (n >= want) return { delivered: n, ms: Date.now() - start };
    if (n !== last) { last = n; lastChange = Date.now(); }
    if (Date.now() - start > capMs) return { delivered: n, ms: Date.now() - start, gaveUp: 'cap' };
    if (Date.now() - lastChange > quietMs) return { delivered: n, ms: Date.now() - start, gaveUp: 'quiet' };
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function openPage(browser, server, sdk) {
  const userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${browser.version()} Safari/537.36`;
  const context = await browser.newContext({ userAgent });
  const blocked = [], errors = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).hostname === '127.0.0.1') return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/bench/sdk.html?sdk=${sdk}`);
  await page.waitForFunction(() => window.ready, null, { timeout: 15_000 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { context, page, cdp, blocked, errors };
}

async function taskSeconds(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  return { task: m.TaskDuration, script: m.ScriptDuration };
}

function stats(r) {
  const f = (xs) => (xs.length ? summarize(xs) : { median: NaN, p99: NaN, total: NaN });
  const tail = (xs, n) => (xs.length ? xs.slice(-n).reduce((a, b) => a + b, 0) / Math.min(n, xs.length) : NaN);
  const sync = f(r.sync), full = f(r.full), idle = f(r.idle);
  return {
    calls: r.calls, blocks: r.idle.length, wallMs: r.wallMs, resolutionUs: r.resolutionUs,
    sync: { median: sync.median, p99: sync.p99 },
    full: { median: full.median, p99: full.p99 },
    idle: { median: idle.median, p99: idle.p99, totalMs: (idle.total * BLOCK) / 1000 },
    first10: tail(r.idle.slice(0, 10), 10), last10: tail(r.idle, 10),
  };
}

/** Wire totals of the requests carrying events of `tag`, and of all of the SDK's requests. */
function wire(requests, tag) {
  const { distinct, total } = idsOf(requests, tag);
  const body = requests.reduce((a, q) => a + q.bodyBytes, 0), head = requests.reduce((a, q) => a + q.headBytes, 0);
  // The payload with its compression undone (Content-Encoding, gzip body, Pendo's jzb).
  const plain = requests.reduce((a, q) => a + q.plainBytes, 0);
  return {
    delivered: distinct, duplicates: total - distinct, requests: requests.length,
    eventRequests: requests.filter((q) => q.ids.length > 0).length, bodyBytes: body, headBytes: head, plainBytes: plain,
    bodyPerEvent: body / Math.max(1, distinct), wirePerEvent: (body + head) / Math.max(1, distinct),
    plainPerEvent: plain / Math.max(1, distinct),
    requestsPer1000: (requests.length / Math.max(1, distinct)) * 1000,
    kinds: [...new Set(requests.map((q) => `${q.method} ${q.path.split('?')[0]} ${q.contentType.split(';')[0]}${q.encoding ? ' ' + q.encoding : ''}${q.gzipBody ? ' (gzip body)' : ''}${q.zlibBody ? ' (zlib in JSON body)' : ''}${/[?&]jzb=/.test(q.path) ? ' (zlib in URL)' : ''}`))],
    compressed: requests.some((q) => q.gzipBody || q.zlibBody || q.encoding || /[?&]jzb=/.test(q.path)),
    versions: [...new Set(requests.map((q) => q.bodyVersion).filter((v) => v != null))], // agent-track's body v1/v2
  };
}

/** Runs `steps` in order, keeping what each returned; a failure (a crash) ends the phase but keeps the rest. */
async function steps(out, list) {
  for (const [name, fn] of list) {
    try {
      Object.assign(out, await fn());
    } catch (e) {
      out.error = `${name}: ${String(e?.message ?? e).split('\n')[0]}`;
      log(`  ${out.error}`);
      return out;
    }
  }
  return out;
}

async function phaseCost(browser, server, sdk) {
  const p = await openPage(browser, server, sdk.name);
  const out = { blocked: p.blocked, errors: p.errors };
  const tag = tagOf(), w = tagOf();
  let r, m0, m1;
  try {
    return await steps(out, [
      ['setup', () => p.page.evaluate(() => window.setup({}))],
      ['warm-up', async () => {
        await p.page.evaluate((o) => window.track(o), { tag: w, count: WARMUP, budgetMs: BUDGET.preload });
        await p.page.evaluate(() => window.flush());
        const warm = sdk.reference ? { delivered: WARMUP } : await waitDelivered(server, sdk.name, w, WARMUP, BUDGET.drain);
        server.reset();
        return { warmupDelivered: warm.delivered };
      }],
      ['measure', async () => {
        m0 = await taskSeconds(p.cdp);
        r = await p.page.evaluate((o) => window.measure(o), { tag, calls: CALLS, block: BLOCK, budgetMs: BUDGET.measure });
        m1 = await taskSeconds(p.cdp);
        return { ...stats(r), taskUsPerCall: ((m1.task - m0.task) * 1e6) / r.calls };
      }],
      ['delivery', async () => {
        if (sdk.reference) return {};
        // Each SDK delivers at its own pace (size thresholds, timers). One that goes quiet with
        // events left (Pendo sends every 2 minutes) is flushed through its API once; one still
        // busy sending when the cap comes is left alone (Amplitude's flush() after such a burst
        // crashed the tab in our runs).
        let drain = await waitDelivered(server, sdk.name, tag, r.calls, BUDGET.drain);
        let flushed = false;
        if (drain.gaveUp === 'quiet' && await p.page.evaluate(() => typeof window.sdk.flush === 'function')) {
          flushed = true;
          await p.page.evaluate(() => window.flush());
          const more = await waitDelivered(server, sdk.name, tag, r.calls, BUDGET.drain);
          drain = { ...more, ms: drain.ms + more.ms };
        }
        const m2 = await taskSeconds(p.cdp);
        const queuedAfter = await p.page.evaluate(() => window.sdk.queued?.() ?? null);
        // Everything accounted for (all delivered, or the SDK's queue is empty: what is missing
        // was dropped by the SDK): per call. Otherwise the SDK was still working through its
        // backlog when the wait ended: per delivered event, flagged partial.
        const complete = drain.delivered >= r.calls || queuedAfter === 0;
        return {
          drainMs: drain.ms, drainEnd: drain.gaveUp ?? 'all delivered', flushed, queuedAfter, deliveryComplete: complete,
          taskUsPerEventWithDelivery: ((m2.task - m0.task) * 1e6) / (complete ? r.calls : Math.max(1, drain.delivered)),
          wire: wire(server.requests.filter((q) => q.sdk === sdk.name), tag),
          delivered: drain.delivered,
          sdkStats: await p.page.evaluate(() => window.sdk.stats?.() ?? null),
        };
      }],
    ]);
  } finally {
    await p.context.close().catch(() => {});
    await new Promise((r) => setTimeout(r, 500)); // let the closed renderer go before the next phase
  }
}

async function phaseQueued(browser, server, sdk) {
  const p = await openPage(browser, server, sdk.name);
  const out = { blocked: p.blocked, errors: p.errors };
  const pre = tagOf(), tag = tagOf();
  try {
    return await steps(out, [
      ['setup', () => p.page.evaluate(() => window.setup({}))],
      ['preload', async () => {
        await p.context.setOffline(true);
        const t = Date.now();
        const preloaded = await p.page.evaluate((o) => window.track(o), { tag: pre, count: PRELOAD, budgetMs: BUDGET.preload });
        const preloadMs = Date.now() - t;
        await p.page.evaluate(() => window.sleep(500));
        return { preloaded, preloadMs, queuedBefore: await p.page.evaluate(() => window.sdk.queued?.() ?? null),
          storageBefore: await p.page.evaluate(() => window.storageChars()) };
      }],
      ['measure', async () => {
        const m0 = await taskSeconds(p.cdp);
        const r = await p.page.evaluate((o) => window.measure(o), { tag, calls: CALLS, block: BLOCK, budgetMs: BUDGET.measure });
        const m1 = await taskSeconds(p.cdp);
        return { ...stats(r), taskUsPerCall: ((m1.task - m0.task) * 1e6) / r.calls };
      }],
      ['after', async () => ({
        queuedAfter: await p.page.evaluate(() => window.sdk.queued?.() ?? null),
        storageAfter: await p.page.evaluate(() => window.storageChars()),
        sentWhileOffline: server.requests.filter((q) => q.sdk === sdk.name && q.ids.some((id) => id.startsWith(`msg-${tag}-`))).length,
      })],
    ]);
  } finally {
    await p.context.close().catch(() => {});
    await new Promise((r) => setTimeout(r, 500)); // let the closed renderer go before the next phase
  }
}

async function phaseDelivery(browser, server, sdk) {
  const p = await openPage(browser, server, sdk.name);
  const out = { blocked: p.blocked, errors: p.errors, tracked: DELIVERY };
  const tag = tagOf();
  try {
    return await steps(out, [
      ['setup', async () => {
        await p.page.evaluate(() => window.setup({ rateLimit: false }));
        await p.page.evaluate(() => window.sleep(300));
        server.reset();
      }],
      ['track', async () => {
        await p.page.evaluate((o) => window.track(o), { tag, count: DELIVERY });
        const flushApi = await p.page.evaluate(() => typeof window.sdk.flush === 'function');
        await p.page.evaluate(() => window.flush());
        const d = await waitDelivered(server, sdk.name, tag, DELIVERY, BUDGET.delivery, BUDGET.deliveryQuiet);
        await p.page.evaluate(() => window.sleep(300)); // late retries or duplicates
        if (process.env.BENCH_DEBUG) { const t0 = server.requests[0]?.at; log(server.requests.map((q) => `${q.at - t0}ms ${q.ids.length}`).join(', '), 'queued', await p.page.evaluate(() => window.sdk.queued?.())); }
        return { flushApi, waitedMs: d.ms, ...wire(server.requests.filter((q) => q.sdk === sdk.name), tag),
          sdkStats: await p.page.evaluate(() => window.sdk.stats?.() ?? null) };
      }],
    ]);
  } finally {
    await p.context.close().catch(() => {});
    await new Promise((r) => setTimeout(r, 500)); // let the closed renderer go before the next phase
  }
}

/**
 * Where agent-track's call time goes: the sampling profiler over 3,000 calls (empty queue,
 * network up), self time grouped by what runs (storage, JSON built-ins, text codecs, wasm,
 * the wasm-bindgen glue, the boundary, GC), as shares of the busy (non-idle) time.
 */
async function phaseProfile(browser, server, sdk) {
  const p = await openPage(browser, server, sdk.name);
  try {
    await p.page.evaluate(() => window.setup({}));
    await p.page.evaluate((o) => window.track(o), { tag: tagOf(), count: WARMUP });
    await p.cdp.send('Profiler.enable');
    await p.cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await p.cdp.send('Profiler.start');
    await p.page.evaluate((o) => window.measure(o), { tag: tagOf(), calls: 3_000, block: BLOCK });
    const { profile } = await p.cdp.send('Profiler.stop');
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const groups = [
      ['localStorage.setItem', (f) => f.functionName === 'setItem' && !f.url],
      ['localStorage.removeItem / getItem / key', (f) => ['removeItem', 'getItem', 'key'].includes(f.functionName) && !f.url],
      ['JSON.stringify / JSON.parse (JS built-ins)', (f) => ['stringify', 'parse'].includes(f.functionName) && !f.url],
      ['TextEncoder / TextDecoder (strings in and out of wasm)', (f) => ['decode', 'encode', 'encodeInto'].includes(f.functionName) && !f.url],
      ['wasm (validation, serde_json, queue logic)', (f) => f.url.endsWith('.wasm') || f.functionName.startsWith('wasm-function') || f.functionName.startsWith('$')],
      ['JS/wasm boundary (wasm-to-js, js-to-wasm)', (f) => /^(wasm-to-js|js-to-wasm)/.test(f.functionName)],
      ['wasm-bindgen JS glue', (f) => f.url.includes('/dist/agent-track.js')],
      ['garbage collector', (f) => f.functionName === '(garbage collector)'],
      ['benchmark harness (payload, loop, idle wait)', (f) => /sdk\.html|payload\.js/.test(f.url) || (['requestIdleCallback', 'postMessage', 'now'].includes(f.functionName) && !f.url)],
      ['browser internals not attributed to a function ((program))', (f) => f.functionName === '(program)'],
      ['fetch and timers (delivery)', (f) => ['fetch', 'setTimeout', 'clearTimeout', 'request'].includes(f.functionName) && !f.url],
    ];
    const totals = new Map(groups.map(([g]) => [g, 0]));
    let other = 0, busy = 0;
    const otherTop = new Map();
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i + 1] ?? 0;
      const f = byId.get(id).callFrame;
      if (f.functionName === '(idle)') return;
      busy += dt;
      const g = groups.find(([, test]) => test(f));
      if (g) totals.set(g[0], totals.get(g[0]) + dt);
      else { other += dt; const k = f.functionName || '(anonymous)'; otherTop.set(k, (otherTop.get(k) ?? 0) + dt); }
    });
    const share = [...totals].map(([group, t]) => ({ group, share: t / busy, usPerCall: t / 3_000 }));
    share.push({ group: 'other (' + [...otherTop].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k]) => k).join(', ') + ')', share: other / busy, usPerCall: other / 3_000 });
    return { calls: 3_000, busyUsPerCall: busy / 3_000, groups: share.sort((a, b) => b.share - a.share), blocked: p.blocked, errors: p.errors };
  } finally {
    await p.context.close().catch(() => {});
    await new Promise((r) => setTimeout(r, 500)); // let the closed renderer go before the next phase
  }
}

async function sizes(sdk) {
  const files = [join(here, 'dist', `${sdk.name}.js`)];
  if (sdk.name === 'agent-track') files.push(join(here, 'dist', 'agent_track_bg.wasm'));
  const out = { raw: 0, gzip: 0, brotli: 0, files: files.map((f) => f.slice(root.length + 1)) };
  for (const f of files) {
    const b = await readFile(f);
    out.raw += b.length;
    out.gzip += gzipSync(b, { level: 9 }).length;
    out.brotli += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }).length;
  }
  return out;
}

const server = await serveBench(root, { markerRe: /msg-[a-z0-9]+-\d+/g });
const browser = await launchChromium();
const started = Date.now();
const results = [];
try {
  for (const sdk of sdks) {
    const t = Date.now();
    const row = { name: sdk.name, label: sdk.label, pkg: sdk.pkg, api: sdk.api, reference: !!sdk.reference,
      version: sdk.reference ? null : await versionOf(sdk.pkg) };
    if (!sdk.reference) row.size = await sizes(sdk);
    const phases = [['cost', phaseCost], ['queued', phaseQueued], ...(sdk.reference ? [] : [['delivery', phaseDelivery]]),
      ...(sdk.name === 'agent-track' ? [['profile', phaseProfile]] : [])]
      .filter(([name]) => !process.env.BENCH_PHASES || process.env.BENCH_PHASES.split(',').includes(name));
    for (const [phase, fn] of phases) {
      const p0 = Date.now();
      try {
        row[phase] = await fn(browser, server, sdk);
        if (row[phase].blocked?.length) log(`  ${sdk.name} ${phase}: blocked ${row[phase].blocked.length} non-loopback requests: ${row[phase].blocked.slice(0, 3).join(' ')}`);
      } catch (e) {
        row[phase] = { error: String(e?.message ?? e).split('\n')[0] };
      }
      row[phase].phaseMs = Date.now() - p0;
    }
    row.ms = Date.now() - t;
    const c = row.cost ?? {};
    log(`${sdk.name}: cost median ${c.idle?.median?.toFixed?.(1)} µs/call (${c.calls} calls, delivered ${c.delivered}${c.error ? ', ' + c.error : ''}), queued median ${row.queued?.idle?.median?.toFixed?.(1)} (${row.queued?.calls} calls${row.queued?.error ? ', ' + row.queued.error : ''}), delivery ${row.delivery?.wirePerEvent?.toFixed?.(0)} B/event (${row.delivery?.delivered}/${DELIVERY}); ${(row.ms / 1000).toFixed(1)} s`);
    results.push(row);
  }
} finally {
  const chromium = browser.version();
  await browser.close();
  await server.close();
  const out = { date: new Date().toISOString(), chromium, node: process.version, quick: QUICK, calls: CALLS, block: BLOCK, preload: PRELOAD, delivery: DELIVERY, budget: BUDGET, seconds: (Date.now() - started) / 1000, results };
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(join(here, 'results', 'compare.json'), JSON.stringify(out, null, 2) + '\n');
  log(`done in ${out.seconds.toFixed(0)} s -> bench/results/compare.json`);
}
