// "Nothing lost, nothing twice" on the real stack: Chromium running the demo page and the
// npm package, the proxy and the collector as separate processes (each stopped on its own),
// a chaos relay between them. Every scenario compares what the page tracked with what the
// collector's SQLite file holds: each accepted event stored exactly once, or counted as
// dropped/rejected by the page with its reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { launchChromium } from '../support/chromium.mjs';
import { separateStack, stored, eventually, account } from '../support/stack.mjs';
import { openDemo as openPage, chat as chatOnce, react, pageCounts } from '../support/demo.mjs';

let stack, browser;
const table = [];

before(async () => {
  stack = await separateStack({ deadlineMs: 1500 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  mkdirSync('test-results', { recursive: true });
  const lines = ['| scenario | tracked | stored | dropped (reason) | duplicates |', '|---|---|---|---|---|',
    ...table.map((r) => `| ${r.name} | ${r.tracked} | ${r.stored} | ${r.dropped}${r.reasons ? ` (${r.reasons})` : ''} | ${r.duplicates} |`)];
  writeFileSync('test-results/nothing-lost.md', lines.join('\n') + '\n');
  console.log(lines.join('\n'));
});

/** A page of the demo in its own browser context (its own localStorage). */
const openDemo = (context) => openPage(context, stack.pageUrl);
/** Sends `text` and returns the tracked event ids (prompt, response). */
const chat = async (page, text) => (await chatOnce(page, text)).ids;

/**
 * Waits until every tracked event is stored, then checks the accounting and records a row.
 * `counts`: the pages' stats (dropped and rejected are added up).
 */
async function settle(name, tracked, counts = [], { expectDropped = 0, ms = 30_000 } = {}) {
  assert.ok(tracked.every(Boolean), 'every trackAgent call returned an id');
  const { result, row } = await account(name, tracked, counts, () => stored(stack.db), ms);
  table.push(row);
  assert.equal(row.duplicates, 0, 'no event stored twice');
  assert.equal(row.dropped, expectDropped);
  assert.equal(row.stored + row.dropped, tracked.length, 'every event stored or counted as dropped');
  return result;
}

test('1. steady chat: conversations, reactions, un-reactions', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  const tracked = [];
  for (let c = 0; c < 3; c++) {
    if (c) await page.evaluate(() => window.demo.newConversation());
    tracked.push(...await chat(page, 'Where is my order #10482?'));
    tracked.push(await react(page, 1, 'positive'));
    tracked.push(await react(page, 1, 'positive')); // the same thumb again: unreact
    tracked.push(...await chat(page, 'I want a refund'));
    tracked.push(await react(page, 3, 'negative'));
    tracked.push((await page.evaluate(() => window.demo.comment(3, 'not what I asked'))).eventId);
  }
  await settle('1. steady chat', tracked, [await pageCounts(page)]);
  await context.close();
});

test('2a. reload while events are queued', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  await stack.proxy.stop();
  const tracked = [...await chat(page, 'hello'), ...await chat(page, 'shipping options?')];
  assert.ok((await pageCounts(page)).queued >= 4, 'queued while the proxy is down');
  const before = await pageCounts(page);
  await page.reload();
  await page.evaluate(() => window.demo.ready);
  await stack.proxy.start();
  await settle('2a. reload with events queued', tracked, [before, await pageCounts(page)]);
  await context.close();
});

test('2b. close the tab with events queued, open the page again', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  await stack.proxy.stop();
  const tracked = [...await chat(page, 'I forgot my password'), ...await chat(page, 'hello')];
  const counts = await pageCounts(page);
  await page.close();
  await stack.proxy.start();
  const again = await openDemo(context);
  await settle('2b. closed tab, page opened again', tracked, [counts, await pageCounts(again)]);
  await context.close();
});

test('3. two tabs chatting at once', async () => {
  const context = await browser.newContext();
  const [a, b] = [await openDemo(context), await openDemo(context)];
  const tracked = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = await Promise.all([chat(a, `order #1000${i}?`), chat(b, `refund ${i}`)]);
    tracked.push(...x, ...y);
  }
  await settle('3. two tabs at once', tracked, [await pageCounts(a), await pageCounts(b)]);
  await context.close();
});

test('4a. proxy stopped for a while, then restarted', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  await stack.proxy.stop();
  const tracked = [...await chat(page, 'hello'), ...await chat(page, 'order #42?')];
  await new Promise((r) => setTimeout(r, 3000));
  await stack.proxy.start();
  await settle('4a. proxy down, restarted', tracked, [await pageCounts(page)], { ms: 45_000 });
  await context.close();
});

test('4b. collector stopped while the proxy runs', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  await stack.collector.stop();
  const tracked = [...await chat(page, 'shipping options?'), ...await chat(page, 'hello')];
  await new Promise((r) => setTimeout(r, 2000));
  const counts = await pageCounts(page);
  assert.ok(counts.retries >= 1 && counts.queued >= 1, 'the page kept the events and retried');
  await stack.collector.start();
  await settle('4b. collector down, restarted', tracked, [await pageCounts(page)], { ms: 45_000 });
  await context.close();
});

test('5. upstream answering 500, 503, 429 with Retry-After, then recovering', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  const tracked = [];
  stack.chaos.fail(500);
  tracked.push(...await chat(page, 'hello'));
  await new Promise((r) => setTimeout(r, 1500));
  stack.chaos.fail(503);
  tracked.push(...await chat(page, 'order #7?'));
  await new Promise((r) => setTimeout(r, 1500));
  stack.chaos.fail(429, 1);
  tracked.push(...await chat(page, 'refund'));
  await new Promise((r) => setTimeout(r, 1500));
  const failures = stack.chaos.state.seen;
  stack.chaos.pass();
  await settle('5. upstream 500/503/429, recovering', tracked, [await pageCounts(page)], { ms: 45_000 });
  assert.ok(failures >= 3, `the relay refused ${failures} deliveries`);
  await context.close();
});

test('6. offline, then online', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  await context.setOffline(true);
  const tracked = [...await chat(page, 'hello'), ...await chat(page, 'order #5?')];
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok((await pageCounts(page)).queued >= 4, 'nothing sent offline');
  await context.setOffline(false);
  await settle('6. offline, then online', tracked, [await pageCounts(page)]);
  await context.close();
});

test('7a. localStorage almost full', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  const left = await page.evaluate(() => {
    const chunk = 'f'.repeat(64 * 1024);
    let i = 0;
    try { for (; i < 400; i++) localStorage.setItem(`filler:${i}`, chunk); } catch { /* full */ }
    let small = 0;
    try { for (; small < 10000; small++) localStorage.setItem(`small:${small}`, 'x'.repeat(512)); } catch { /* full */ }
    return small;
  });
  const tracked = [];
  for (let i = 0; i < 3; i++) tracked.push(...await chat(page, `order #${i}?`));
  await settle('7a. localStorage almost full', tracked, [await pageCounts(page)]);
  await page.evaluate(() => localStorage.clear());
  assert.ok(left >= 0);
  await context.close();
});

test('7b. localStorage throwing', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Storage.prototype.setItem = function () { throw new DOMException('blocked by policy', 'SecurityError'); };
  });
  const page = await openDemo(context);
  const tracked = [];
  for (let i = 0; i < 3; i++) tracked.push(...await chat(page, `hello ${i}`));
  await settle('7b. localStorage throwing', tracked, [await pageCounts(page)]);
  await context.close();
});

test('8. the proxy times out after the collector stored the batch', async () => {
  const context = await browser.newContext();
  const page = await openDemo(context);
  const forwardedBefore = stack.chaos.state.forwarded;
  stack.chaos.slow(2500); // the proxy's deadline is 1.5 s
  const tracked = [...await chat(page, 'order #8?')];
  await eventually(async () => stack.chaos.state.forwarded - forwardedBefore >= 2, 30_000, 'a retried delivery reached the collector');
  stack.chaos.pass();
  await settle('8. proxy timeout after store, retried', tracked, [await pageCounts(page)], { ms: 45_000 });
  await context.close();
});

test('9. clock skew: the page clock 3 hours behind', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const offset = -3 * 3600 * 1000;
    const now = Date.now;
    Date.now = () => now() + offset;
  });
  const page = await openDemo(context);
  const tracked = [...await chat(page, 'hello'), ...await chat(page, 'refund')];
  const s = await settle('9. clock skew -3 h', tracked, [await pageCounts(page)]);
  const [timestamp, clientTimestamp] = s.times[tracked[0]];
  assert.ok(Math.abs(timestamp - Date.now()) < 60_000, `corrected timestamp is ${(Date.now() - timestamp) / 1000} s off`);
  assert.ok(Math.abs(Date.now() - 3 * 3600 * 1000 - clientTimestamp) < 60_000, 'the client timestamp is kept');
  await context.close();
});

test('security: the secret appears in no page, package, response or log', async () => {
  const key = stack.secret.slice('whsec_'.length);
  const urls = [stack.pageUrl, stack.pageUrl.replace(/\/\?.*/, '/pkg/agent_track.js'), stack.pageUrl.replace(/\/\?.*/, '/pkg/agent_track_bg.wasm'),
    `${stack.proxyBase}/metrics`, `${stack.proxyBase}/healthz`, `${stack.collectorBase}/api/v1/stats`];
  for (const u of urls) {
    const r = await fetch(u, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    assert.ok(!Buffer.from(await r.arrayBuffer()).toString('latin1').includes(key), `${u} leaks the secret`);
  }
  const bad = await fetch(`${stack.proxyBase}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sentAt":1,"events":[{}]}' });
  assert.ok(!(await bad.text()).includes(key));
  for (const line of [...stack.proxy.logs, ...stack.collector.logs]) assert.ok(!line.includes(key), 'a log line leaks the secret');
  // A disallowed origin is refused by the proxy.
  const evil = await fetch(`${stack.proxyBase}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{}' });
  assert.equal(evil.status, 403);
});
