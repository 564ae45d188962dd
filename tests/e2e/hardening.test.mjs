// The servers as the open internet meets them, as real processes: the pages under their
// Content-Security-Policy in Chromium with no violation, a request head that never ends cut
// at the header timeout, a shutdown bounded by its grace with a request in flight, and an
// event that breaks a limit only once normalized refused alone while its batch is stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { launchChromium } from '../support/chromium.mjs';
import { devStack, separateStack, api, eventually, stored } from '../support/stack.mjs';

/** Resolves with the ms until the server closed `socket`, or null after `ms`. */
function closedWithin(socket, ms) {
  const started = Date.now();
  return new Promise((ok) => {
    const timer = setTimeout(() => ok(null), ms);
    socket.on('close', () => { clearTimeout(timer); ok(Date.now() - started); });
    socket.on('error', () => {});
    socket.resume();
  });
}

function open(port) {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1', () => ok(s));
    s.on('error', fail);
  });
}

test('the demo and the dashboard run under their CSP without a single violation', { timeout: 90_000 }, async () => {
  const stack = await devStack();
  const browser = await launchChromium();
  try {
    for (const path of ['/', '/dashboard.html']) {
      const r = await fetch(`${stack.base}${path}`);
      assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self' 'wasm-unsafe-eval'; style-src 'self'/, path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
    }
    const violations = [];
    const watch = async (page) => {
      page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(`${page.url()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => violations.push(`${page.url()}: ${e.message}`));
      // Runs before the page's own scripts, outside its CSP.
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
          (window.__cspViolations ??= []).push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
        });
      });
    };
    const demo = await browser.newPage();
    await watch(demo);
    await demo.goto(`${stack.base}/`);
    await demo.evaluate(() => window.demo.ready);
    await demo.evaluate(() => window.demo.send('Where is my order #10482?'));
    await demo.evaluate(() => window.demo.react(1, 'positive'));
    await demo.fill('[data-testid="chat-input"]', 'a long line that makes the composer grow\n'.repeat(4));
    const id = await demo.evaluate(() => window.demo.conversationId());
    await eventually(async () => (await api(stack.base, stack.apiKey, `/api/v1/conversations/${id}`)).status === 200, 15_000, 'conversation stored');

    const dash = await browser.newPage();
    await watch(dash);
    await dash.goto(`${stack.base}/dashboard.html#key=${stack.apiKey}`);
    const row = dash.locator(`[data-testid="conversation-row"][data-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await eventually(async () => (await dash.locator('[data-testid="chart-per-day"] svg rect, [data-testid="chart-per-day"] svg circle').count()) > 0, 10_000, 'charts drawn');
    await row.click();
    await dash.locator('[data-testid="conversation-view"]').waitFor();
    await eventually(async () => (await dash.locator('[data-testid="transcript-message"]').count()) === 2, 10_000, 'transcript shown');
    // The chart styles (set through the CSSOM) took effect.
    const fill = await dash.evaluate(() => getComputedStyle(document.querySelector('[data-testid="chart-per-day"] svg .bar')).fill);
    assert.notEqual(fill, 'rgb(0, 0, 0)', 'bars are coloured');

    for (const page of [demo, dash]) {
      violations.push(...(await page.evaluate(() => window.__cspViolations ?? [])).map((v) => `${page.url()}: ${v}`));
    }
    assert.deepEqual(violations, []);
  } finally {
    await browser.close();
    await stack.stop();
  }
});

test('a request head that never ends is cut at the header timeout (dev)', { timeout: 30_000 }, async () => {
  const stack = await devStack(['--header-timeout-ms', '500']);
  try {
    const socket = await open(stack.port);
    socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\n');
    const took = await closedWithin(socket, 5_000);
    assert.ok(took !== null, 'the connection is still open after 5 s');
    assert.ok(took >= 400, `closed after ${took} ms`);
    // The server keeps serving.
    assert.equal((await fetch(`${stack.base}/healthz`)).status, 200);
  } finally {
    await stack.stop();
  }
});

test('SIGTERM with a request in flight ends within the shutdown grace', { timeout: 30_000 }, async () => {
  const stack = await devStack(['--shutdown-grace-ms', '500', '--body-timeout-ms', '60000']);
  const exited = new Promise((ok) => stack.child.on('exit', ok));
  const socket = await open(stack.port);
  socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"sentAt":');
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  stack.child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok('still running'), 10_000))]);
  const took = Date.now() - started;
  socket.destroy();
  assert.equal(code, 0, `exit: ${code} after ${took} ms`);
  assert.ok(took >= 400 && took < 5_000, `exited after ${took} ms`);
});

test('an event over a limit once normalized is refused alone; its batch is stored once', { timeout: 60_000 }, async () => {
  const stack = await separateStack();
  try {
    const now = Date.now();
    const events = [0, 1, 2].map((i) => ({
      eventId: `norm-${now}-${i}`, type: i === 1 ? 'agent_response' : 'prompt', timestamp: now, visitorId: 'v-1',
      properties: { agentId: 'bot', conversationId: `norm-${now}`, messageId: `m-${i}`, content: `hello ${i}` },
      context: { seq: i + 1, sdk: 'agent-track/e2e' },
    }));
    // 100 models (the limit) plus a deprecated modelUsed: 101 once folded together.
    events[1].properties.agentModelsUsed = Array.from({ length: 100 }, (_, i) => `model-${i}`);
    events[1].properties.modelUsed = 'model-extra';
    const r = await fetch(`${stack.proxyBase}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sentAt: now, events }) });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.accepted, 2);
    assert.equal(body.rejected.length, 1);
    assert.deepEqual([body.rejected[0].index, body.rejected[0].eventId, body.rejected[0].code, body.rejected[0].field], [1, events[1].eventId, 'too_large', 'properties.agentModelsUsed']);
    const db = await stored(stack.db);
    assert.deepEqual(db.rows.sort(), [events[0].eventId, events[2].eventId].sort());
    assert.equal(stack.chaos.state.seen, 1, 'one delivery, nothing retried');
  } finally {
    await stack.stop();
  }
});
