// The npm package (pkg/, built by scripts/build.sh) as users load it: unbundled from a plain
// <script type="module">, and through a Vite production build. In both, init() must find the
// .wasm by itself, and tracked events must reach an endpoint that answers like the proxy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchChromium } from '../support/chromium.mjs';
import { servePackageApp } from '../support/pkg-server.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const PKG = join(ROOT, 'pkg');
const APPS = join(ROOT, 'tests/support/pkg-apps');

let browser;
const cleanup = [];
before(async () => {
  assert.ok(existsSync(join(PKG, 'agent_track.js')), 'pkg/ is missing: run `bash scripts/build.sh` first');
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  for (const undo of cleanup.reverse()) await undo();
});

/** Opens `url` in a fresh context (its own localStorage), runs the round trip, returns its result. */
async function roundTrip(url, bundler) {
  const context = await browser.newContext();
  cleanup.push(() => context.close());
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
  const result = await page.evaluate(([b]) => window.roundTrip('/v1/events', b), [bundler]);
  return { result, pageErrors };
}

/** What both builds must show: the error, the flush, and both events at the endpoint. */
function assertDelivered({ result, pageErrors }, app, bundler) {
  assert.deepEqual(pageErrors, [], 'no page error');
  assert.deepEqual(result.invalid, { isError: true, name: 'AgentTrackError', code: 'invalid_event_type', field: 'eventType', problems: 1 });
  assert.match(result.promptId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv7');
  assert.equal(result.flushed.sent, 2);
  assert.equal(result.flushed.remaining, 0);
  assert.equal(result.stats.queued, 0);

  // At least once: count each id, then look at one copy.
  const received = app.batches.flatMap((b) => b.eventIds);
  assert.deepEqual([...new Set(received)].sort(), [result.promptId, result.responseId].sort());
  const batch = app.batches.find((b) => b.eventIds.includes(result.promptId));
  const event = (id) => batch.events.find((e) => e.eventId === id);
  const prompt = event(result.promptId);
  assert.equal(prompt.type, 'prompt');
  assert.deepEqual(
    pick(prompt.properties, ['agentId', 'conversationId', 'messageId', 'content']),
    { agentId: 'pkg-bot', conversationId: 'c-pkg', messageId: 'm-1', content: 'Where is my order?' },
  );
  assert.deepEqual(prompt.eventProperties, { bundler });
  const response = event(result.responseId);
  assert.equal(response.type, 'agent_response');
  assert.deepEqual(
    pick(response.properties, ['messageId', 'toolsUsed', 'agentModelsUsed', 'agentOutputTokenCount']),
    { messageId: 'm-2', toolsUsed: ['orders.lookup'], agentModelsUsed: ['model-a'], agentOutputTokenCount: 7 },
  );
  // The ids sit on each event (v1) or in the batch-level context (v2): search the whole body.
  const body = JSON.stringify(batch.body);
  assert.ok(body.includes('"v-pkg"') && body.includes('"acme"'), 'visitor and account ids sent');
}

const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o?.[k]]));

/** The .wasm requests the page made, each with the type it was served as. */
const wasmRequests = (app) => app.requests.filter((r) => r.startsWith('GET ') && r.endsWith('.wasm'));

test('unbundled: a plain <script type="module"> imports /pkg/agent_track.js and delivers', async () => {
  const app = await servePackageApp([['/pkg/', PKG], ['/', APPS]]);
  cleanup.push(app.close);
  const run = await roundTrip(`${app.base}/plain/`, 'none');
  assertDelivered(run, app, 'none');
  assert.deepEqual(wasmRequests(app), ['GET /pkg/agent_track_bg.wasm'], 'found next to the glue');
});

test('bundled: a Vite production build of `import ... from "agent-track"` delivers unchanged', async () => {
  const out = mkdtempSync(join(tmpdir(), 'agent-track-vite-'));
  cleanup.push(() => rmSync(out, { recursive: true, force: true }));
  const { build } = await import('vite');
  await build({
    root: join(APPS, 'vite'),
    configFile: false,
    logLevel: 'silent',
    cacheDir: join(out, 'cache'),
    // As if installed from npm: the bare name resolves to the built package (its package.json).
    resolve: { alias: { 'agent-track': PKG } },
    build: { outDir: join(out, 'dist'), emptyOutDir: true, reportCompressedSize: false },
  });
  const assets = readdirSync(join(out, 'dist/assets'));
  assert.ok(assets.some((f) => /^agent_track_bg-.+\.wasm$/.test(f)), `Vite emitted the .wasm as an asset: ${assets}`);

  const app = await servePackageApp([['/', join(out, 'dist')]]);
  cleanup.push(app.close);
  const run = await roundTrip(`${app.base}/`, 'vite');
  assertDelivered(run, app, 'vite');
  const wasm = wasmRequests(app);
  assert.equal(wasm.length, 1);
  assert.match(wasm[0], /^GET \/assets\/agent_track_bg-.+\.wasm$/, 'found through new URL(..., import.meta.url)');
});
