// A reloaded page must resume sending at once, with or without Web Locks. Without them (plain
// http on a host that is not localhost: an intranet tool) the cross-tab lock is the
// localStorage lease, which a closing page must release (page hide) or let expire within a
// few seconds. Scenario, as a user would meet it: the endpoint is down, 10 events are tracked,
// the page is reloaded, the endpoint comes back. The reloaded page must send within 5 s, and
// the collector's SQLite file must hold each event exactly once. Run on a non-secure origin
// (http://app.test, mapped to 127.0.0.1: no `navigator.locks`) and, for comparison, on a
// secure one (http://127.0.0.1: Web Locks). The measured times are printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from '../support/chromium.mjs';
import { separateStack, stored, eventually } from '../support/stack.mjs';

const INSECURE_HOST = 'app.test';
/** `LEASE_MS` of src/browser/locks.rs; the page's pass interval is the default 5 s. */
const LEASE_MS = 4000;
const PAGE = '/lease-recovery.html';
let stack, browser;
const measured = {};

before(async () => {
  // The page is served by the site itself (a page fulfilled by Playwright would count as a
  // public address and be refused loopback requests by Private Network Access).
  stack = await separateStack({ siteHosts: ['127.0.0.1', INSECURE_HOST], siteFiles: { [PAGE]: 'tests/support/lease_page.html' } });
  browser = await launchChromium({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  const s = (ms) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`);
  const { insecure: i = {}, secure: c = {}, crashed: d = {} } = measured;
  console.log(`lease recovery: non-secure ${s(i.firstSend)}, secure ${s(c.firstSend)} (first send after the reload); `
    + `all 10 stored ${s(i.stored)} / ${s(c.stored)} after the endpoint was back; `
    + `non-secure after a page that died holding the lease: ${s(d.firstSend)}`);
});

/**
 * Endpoint down, 10 events tracked, reload, endpoint back; on `host` (the site's port).
 * `deadHolder`: before the reload, another page that died without page hide (a crash) holds
 * the lease, as it last renewed it. `within`: the bound on the first send after the reload.
 */
async function recovery(name, host, { secure, deadHolder = false, within = 5000 }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://${host}:${stack.sitePort}${PAGE}?endpoint=${encodeURIComponent(stack.endpoint)}`);
  await page.evaluate(() => window.ready);
  const where = await page.evaluate(() => ({ secure: isSecureContext, locks: typeof navigator.locks }));
  assert.deepEqual(where, { secure, locks: secure ? 'object' : 'undefined' }, `${name}: the page's context`);

  await stack.proxy.stop();
  const tracked = await page.evaluate((conv) => Array.from({ length: 10 }, (_, i) => window.at.trackAgent('prompt',
    { agentId: 'lease-bot', conversationId: conv, messageId: `m-${i}`, content: `hello ${i}` })), `lease-${name}`);
  assert.equal(tracked.filter(Boolean).length, 10, 'every trackAgent call returned an id');
  assert.equal((await page.evaluate(() => window.at.stats())).queued, 10, 'queued while the proxy is down');

  if (deadHolder) {
    await page.evaluate((ms) => localStorage.setItem('agent-track:v1:send', `dead-page ${Date.now() + ms}`), LEASE_MS);
  }
  // Page hide sends a keepalive batch into the dead endpoint and the page goes away.
  await page.reload();
  await page.evaluate(() => window.ready);
  await stack.proxy.start();
  const backAt = Date.now();

  // ms from the reloaded document's navigation start to its first request to the endpoint.
  const firstSend = await eventually(() => page.evaluate(() => window.firstSend), 45_000, `${name}: a send after the reload`);
  const all = await eventually(async () => {
    const s = await stored(stack.db);
    const seen = new Set(s.seen);
    return tracked.every((id) => seen.has(id)) ? s : null;
  }, 60_000, `${name}: all 10 events stored`);
  measured[name] = { firstSend, stored: Date.now() - backAt };

  const occurrences = {};
  for (const id of all.rows) occurrences[id] = (occurrences[id] ?? 0) + 1;
  assert.deepEqual(tracked.map((id) => occurrences[id] ?? 0), Array(10).fill(1), 'each event stored exactly once');
  assert.ok(firstSend < within, `${name}: the first send left ${firstSend.toFixed(0)} ms after the reload`);
  // Retries back off (at most 1, 2, 4 s while the endpoint was down), then deliver.
  assert.ok(measured[name].stored < 10_000, `${name}: stored ${measured[name].stored} ms after the endpoint was back`);
  await eventually(async () => (await page.evaluate(() => window.at.stats())).queued === 0, 10_000, `${name}: the queue emptied`);
  await context.close();
}

test('non-secure origin (localStorage lease): a reloaded page sends within 5 s, each event stored once', async () => {
  await recovery('insecure', INSECURE_HOST, { secure: false });
});

test('secure origin (Web Locks): the same scenario, for comparison', async () => {
  await recovery('secure', '127.0.0.1', { secure: true });
});

test('non-secure origin, a page died holding the lease: the next page sends once it expired', async () => {
  // The dead page's lease expires within LEASE_MS; the reloaded page's next pass (5 s) takes it.
  await recovery('crashed', INSECURE_HOST, { secure: false, deadHolder: true, within: LEASE_MS + 5000 + 1000 });
});
