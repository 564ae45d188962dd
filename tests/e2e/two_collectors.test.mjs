// "Nothing lost, nothing twice" with two collector processes sharing one PostgreSQL database,
// behind one proxy (`--upstream <collector 1>,<collector 2>`: round-robin, failing over to the
// next on a connection error or a 5xx). Every scenario compares what was tracked (by the demo
// page in Chromium, or sent as signed batches) with what the database holds, read with psql
// independently of the collectors: each event stored exactly once, nothing dropped. The
// deduplication is the database's (unique webhook-id and eventId, enforced by PostgreSQL
// across processes), not either process's memory.
//
// Needs PostgreSQL: see tests/support/two_collectors.mjs (scripts/test.sh passes its cluster
// with AGENT_TRACK_TEST_POSTGRES=required: then a missing cluster fails these tests).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { launchChromium } from '../support/chromium.mjs';
import { account, eventually } from '../support/stack.mjs';
import { freshDatabase, holdTransaction, psql, signedHeaders, storedPg, testPostgres, twoCollectorStack } from '../support/two_collectors.mjs';
import { openDemo as openPage, chat, react, pageCounts } from '../support/demo.mjs';

let pg, db, stack, browser;
const table = [];

before(async () => {
  pg = await testPostgres();
  if (pg.skip) return;
  db = freshDatabase(pg.adminUrl);
  stack = await twoCollectorStack({ databaseUrl: db.url });
  browser = await launchChromium();
});

after(async () => {
  if (table.length) {
    mkdirSync('test-results', { recursive: true });
    const lines = ['| scenario | tracked | stored | dropped (reason) | duplicates |', '|---|---|---|---|---|',
      ...table.map((r) => `| ${r.name} | ${r.tracked} | ${r.stored} | ${r.dropped}${r.reasons ? ` (${r.reasons})` : ''} | ${r.duplicates} |`)];
    writeFileSync('test-results/two-collectors.md', lines.join('\n') + '\n');
    console.log(lines.join('\n'));
  }
  await browser?.close();
  await stack?.stop();
  try {
    db?.drop();
  } finally {
    await pg?.stop?.();
  }
});

/** Skips the test when no PostgreSQL could be had (never under AGENT_TRACK_TEST_POSTGRES=required). */
function needsPostgres(t) {
  if (pg?.skip) t.skip(pg.skip);
  return !pg?.skip;
}

/** A page of the demo in `context`. */
const openDemo = (context) => openPage(context, stack.pageUrl);

/**
 * Waits until every tracked event is in seen_events (or counted as dropped by the pages),
 * then checks that each is stored exactly once (one row in messages or reactions) and
 * records a table row. `counts`: the pages' stats (dropped and rejected are added up).
 */
async function settle(name, tracked, counts = [], { ms = 30_000 } = {}) {
  assert.ok(tracked.every(Boolean), 'every event has an id');
  assert.equal(new Set(tracked).size, tracked.length, 'the tracked ids are distinct');
  const { result, rowsOf, row } = await account(name, tracked, counts, () => storedPg(db.url), ms);
  table.push(row);
  assert.equal(row.duplicates, 0, 'no event stored twice');
  assert.equal(row.dropped, 0, `nothing dropped (${row.reasons})`);
  assert.equal(row.stored, tracked.length, 'every event stored');
  const rowless = tracked.filter((id) => rowsOf[id] !== 1);
  assert.deepEqual(rowless, [], 'every event has exactly one row in messages or reactions');
  return result;
}

test('a. chatting while collector 1 is killed (SIGKILL) and restarted later', async (t) => {
  if (!needsPostgres(t)) return;
  const context = await browser.newContext();
  const tabs = [await openDemo(context), await openDemo(context)];
  const tracked = [];
  const prompts = ['Where is my order #10482?', 'I want a refund', 'shipping options?', 'hello'];
  const turns = 12;
  let turn = 0;
  // Two tabs chat (and react to each answer) without pause while the collectors go down and
  // up: the kill and the restart land while deliveries are in flight.
  const chatting = (async () => {
    for (; turn < turns; turn++) {
      const done = await Promise.all(tabs.map((page, i) => chat(page, `${prompts[(turn + i) % prompts.length]} (${turn})`)));
      for (const [i, r] of done.entries()) {
        tracked.push(...r.ids);
        const value = (turn + i) % 2 ? 'negative' : 'positive';
        tracked.push(await react(tabs[i], r.answer, value));
      }
    }
  })();
  const atTurn = (n) => eventually(() => turn >= n, 60_000, `turn ${n}`);

  await atTurn(3);
  const beforeKill = await stack.upstreamCounts(0);
  assert.ok(beforeKill.attempts - beforeKill.failures > 0, 'collector 1 stored part of the chat before the kill');
  await stack.collectors[0].kill();
  const killedAt = tracked.length;

  await atTurn(7);
  const down = [await stack.upstreamCounts(0), await stack.upstreamCounts(1)];
  await stack.collectors[0].start();
  const restartedAt = tracked.length;

  await chatting;
  const end = [await stack.upstreamCounts(0), await stack.upstreamCounts(1)];
  await settle('a. collector 1 killed (SIGKILL) mid-chat, restarted', tracked,
    await Promise.all(tabs.map(pageCounts)), { ms: 45_000 });
  // The proxy noticed the dead collector and failed over to the other one; after the restart,
  // collector 1 took deliveries again.
  assert.ok(down[0].failures > beforeKill.failures, `the proxy failed at the killed collector (${JSON.stringify(down[0])})`);
  assert.ok(end[1].attempts - end[1].failures > 0, 'collector 2 stored deliveries');
  assert.ok((end[0].attempts - end[0].failures) > (down[0].attempts - down[0].failures),
    `collector 1 stored deliveries after its restart (${JSON.stringify({ down: down[0], end: end[0] })})`);
  t.diagnostic(`events tracked before the kill ${killedAt}, before the restart ${restartedAt}, in all ${tracked.length}; ` +
    `proxy attempts/failures: collector 1 ${end[0].attempts}/${end[0].failures}, collector 2 ${end[1].attempts}/${end[1].failures}`);
  await context.close();
});

/** Connections of collector `i` in pg_stat_activity, and how many of them wait for a lock. */
function backends(i) {
  const name = stack.applicationNames[i];
  const [all, waiting] = psql(db.url, `SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
    FROM pg_stat_activity WHERE application_name = '${name}'`).trim().split('|').map(Number);
  return { all, waiting };
}

test('a2. collector 1 killed (SIGKILL) inside a delivery\'s open transaction', async (t) => {
  if (!needsPostgres(t)) return;
  const context = await browser.newContext();
  const page = await openDemo(context);
  // Deliveries cannot be recorded while the test holds this lock: each collector's transaction
  // waits inside its first INSERT, with the request in flight.
  const lock = await holdTransaction(db.url, 'LOCK TABLE deliveries IN EXCLUSIVE MODE;');
  const tracked = [];
  let waiting;
  try {
    for (const text of ['Where is my order #77?', 'I want a refund']) {
      const r = await chat(page, text);
      tracked.push(...r.ids);
    }
    // Round-robin, or failing over after the other one timed out: collector 1 gets a delivery.
    waiting = await eventually(() => { const b = backends(0); return b.waiting >= 1 && b; }, 20_000, 'collector 1 waiting inside a delivery');
    await stack.collectors[0].kill();
  } finally {
    await lock.release();
  }
  // The killed collector's transaction ends (rolled back: PostgreSQL finds its client gone),
  // and its connections with it.
  await eventually(() => backends(0).all === 0, 20_000, 'the killed collector\'s connections closed');
  tracked.push(...(await chat(page, 'shipping options?')).ids);
  await stack.collectors[0].start();
  tracked.push(...(await chat(page, 'hello')).ids);
  const stats = await pageCounts(page);
  await settle('a2. collector 1 killed inside an open transaction', tracked, [stats], { ms: 45_000 });
  t.diagnostic(`collector 1 had ${waiting.waiting} of ${waiting.all} connections waiting inside a delivery when killed; the page retried ${stats.retries} times`);
  await context.close();
});

/** `conversations` conversations of prompt, answer and a reaction to it, as the proxy relays them. */
function relayedEvents(tag, conversations) {
  const now = Date.now();
  const event = (id, type, conversation, message, content, at) => ({
    eventId: `${tag}-${id}`, type, timestamp: at, visitorId: `visitor-${tag}`, accountId: 'acme',
    properties: { agentId: 'agent-two', conversationId: conversation, messageId: message, content, suggestedPrompt: false },
    context: { url: 'https://app.example/chat', seq: 1, sdk: 'agent-track/0.1.0' },
    receivedAt: at + 5, clientTimestamp: at - 3,
  });
  const events = [];
  for (let c = 0; c < conversations; c++) {
    const conversation = `conv-${tag}-${c}`;
    events.push(
      event(`${c}-p`, 'prompt', conversation, `${conversation}-m1`, 'Where is my order?', now + c * 10),
      event(`${c}-a`, 'agent_response', conversation, `${conversation}-m2`, 'It ships today.', now + c * 10 + 1),
      event(`${c}-r`, 'user_reaction', conversation, `${conversation}-m2`, c % 2 ? 'negative' : 'positive', now + c * 10 + 2),
    );
  }
  return events;
}

/** POSTs `body` to collector `i`'s /v1/ingest with `headers`: { status, body }. */
async function ingest(i, headers, body) {
  const r = await fetch(`${stack.collectorBases[i]}/v1/ingest`, { method: 'POST', headers, body });
  return { status: r.status, body: await r.json() };
}

const ROUNDS = 10;
const CONVERSATIONS = 8;

/**
 * `ROUNDS` times, a fresh batch of `CONVERSATIONS` conversations delivered to both collectors
 * at once with the webhook-ids `ids(round)` (one per collector), each signed for its own id.
 * Checks that both answer 200 and that, together, they accepted each event once and
 * answered the other delivery's copy as a duplicate.
 */
async function deliverToBoth(name, tag, ids) {
  const tracked = [];
  const webhookIds = [];
  const splits = [];
  for (let round = 0; round < ROUNDS; round++) {
    const events = relayedEvents(`${tag}${round}`, CONVERSATIONS);
    const body = JSON.stringify({ events });
    const [id1, id2] = ids(round);
    webhookIds.push(id1, id2);
    tracked.push(...events.map((e) => e.eventId));
    const answers = await Promise.all([ingest(0, signedHeaders(stack.secret, id1, body), body), ingest(1, signedHeaders(stack.secret, id2, body), body)]);
    for (const a of answers) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.deepEqual(a.body.rejected, []);
      assert.equal(a.body.accepted + a.body.duplicates, events.length, JSON.stringify(a.body));
    }
    assert.equal(answers[0].body.accepted + answers[1].body.accepted, events.length, 'each event accepted by one collector');
    assert.equal(answers[0].body.duplicates + answers[1].body.duplicates, events.length, 'the other copy answered as duplicates');
    splits.push(answers.map((a) => a.body.accepted).join('/'));
  }
  const result = await settle(name, tracked);
  return { result, webhookIds: [...new Set(webhookIds)], splits };
}

test('b1. the same signed batch (same webhook-id) delivered to both collectors at once', async (t) => {
  if (!needsPostgres(t)) return;
  const { webhookIds, splits } = await deliverToBoth('b1. same batch to both at once (same webhook-id)', 'same',
    (round) => [`msg_two_same_${round}`, `msg_two_same_${round}`]);
  // A repeated webhook-id writes nothing: one collector took the whole batch, the other
  // answered every event as a duplicate.
  for (const s of splits) assert.ok(s === `${CONVERSATIONS * 3}/0` || s === `0/${CONVERSATIONS * 3}`, `accepted split ${s}`);
  const { deliveries } = storedPg(db.url, webhookIds);
  assert.equal(Object.keys(deliveries).length, ROUNDS);
  for (const [id, n] of Object.entries(deliveries)) assert.equal(n, 1, `${id} recorded once`);
  t.diagnostic(`accepted by collector 1/2, per round: ${splits.join(' ')}`);
});

test('b2. the same events re-signed with another webhook-id (a retry), delivered to both at once', async (t) => {
  if (!needsPostgres(t)) return;
  const { webhookIds, splits } = await deliverToBoth('b2. same events to both at once (another webhook-id)', 'resigned',
    (round) => [`msg_two_first_${round}`, `msg_two_retry_${round}`]);
  // Both deliveries are recorded (their ids differ); the events, by eventId, once.
  const { deliveries } = storedPg(db.url, webhookIds);
  assert.equal(Object.keys(deliveries).length, 2 * ROUNDS);
  t.diagnostic(`accepted by collector 1/2, per round: ${splits.join(' ')}`);
});

test('security: the secret appears in no log line of the proxy or either collector', async (t) => {
  if (!needsPostgres(t)) return;
  const key = stack.secret.slice('whsec_'.length);
  const lines = [...stack.proxy.logs, ...stack.collectors.flatMap((c) => c.logs)];
  assert.ok(lines.length > 0, 'the processes logged');
  for (const line of lines) assert.ok(!line.includes(key), 'a log line leaks the secret');
});
