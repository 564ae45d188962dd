// A bounded soak on loopback: clients post 20-event batches to the proxy, which relays to the
// collector, at SOAK_RATE batches/s (default 100) for SOAK_SECONDS (default 20;
// `SOAK_SECONDS=180 node --test tests/e2e/soak.test.mjs` is the longer run) while the
// collector restarts once (the "after" memory of the collector is its restarted process). Clients behave like the browser:
// an event counts as sent only when acknowledged; otherwise it is posted again after a pause.
// Afterwards every event is in the collector's SQLite file exactly once; the proxy's and the
// collector's memory before and after is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { separateStack, stored } from '../support/stack.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
const RATE = Number(process.env.SOAK_RATE ?? 100); // batches per second, all clients together
const CLIENTS = 8;
const MAX_BATCHES = Math.ceil(SECONDS * RATE); // a hard cap on the load

function rssKb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : NaN;
}

function batch(client, n) {
  const now = Date.now();
  const events = Array.from({ length: 20 }, (_, i) => ({
    eventId: `soak-${client}-${n}-${i}`,
    type: i % 2 ? 'agent_response' : 'prompt',
    timestamp: now,
    visitorId: `v-${client}`,
    properties: { agentId: 'soak-bot', conversationId: `soak-${client}-${n >> 2}`, messageId: `m-${n}-${i >> 1}`, content: `soak message ${n}/${i} `.repeat(8) },
    context: { seq: n * 20 + i + 1, sdk: 'agent-track/soak' },
  }));
  return { ids: events.map((e) => e.eventId), body: JSON.stringify({ sentAt: now, events }) };
}

test(`soak: ${SECONDS} s of load with a collector restart`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const stack = await separateStack({ deadlineMs: 2000 });
  try {
    const pids = () => ({ proxy: stack.proxy.pid(), collector: stack.collector.pid() });
    const before = { proxy: rssKb(pids().proxy), collector: rssKb(pids().collector) };
    const deadline = Date.now() + SECONDS * 1000;
    const acked = new Set();
    let posted = 0, retries = 0, batches = 0;
    const started = Date.now();
    const client = async (c) => {
      for (let n = 0; Date.now() < deadline && batches < MAX_BATCHES; n++) {
        // Pace the load: no client runs ahead of RATE batches per second overall.
        const due = started + (batches / RATE) * 1000;
        if (due > Date.now()) await new Promise((ok) => setTimeout(ok, due - Date.now()));
        batches++;
        const b = batch(c, n);
        for (;;) {
          posted++;
          const r = await fetch(`${stack.proxyBase}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b.body }).catch(() => null);
          if (r?.status === 200) {
            const body = await r.json();
            assert.equal(body.rejected.length, 0);
            b.ids.forEach((id) => acked.add(id));
            break;
          }
          retries++;
          await new Promise((ok) => setTimeout(ok, 200));
        }
      }
    };
    let collectorBeforeRestart;
    const restart = (async () => {
      await new Promise((ok) => setTimeout(ok, (SECONDS * 1000) / 2));
      collectorBeforeRestart = rssKb(pids().collector);
      await stack.collector.stop();
      await new Promise((ok) => setTimeout(ok, 1000));
      await stack.collector.start();
    })();
    await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), restart]);
    const after = { proxy: rssKb(pids().proxy), collector: rssKb(pids().collector) };
    const s = await stored(stack.db);
    const seen = new Set(s.seen);
    const missing = [...acked].filter((id) => !seen.has(id));
    const counts = {};
    for (const id of s.rows) counts[id] = (counts[id] ?? 0) + 1;
    const doubled = Object.values(counts).filter((n) => n > 1).length;
    const report = { seconds: SECONDS, clients: CLIENTS, batchesPerSecond: RATE, batches, events: acked.size, requests: posted, retries,
      eventsPerSecond: Math.round(acked.size / SECONDS), missing: missing.length, doubled,
      rssKbBefore: before, rssKbCollectorBeforeRestart: collectorBeforeRestart, rssKbAfterLoad: after };
    mkdirSync('test-results', { recursive: true });
    writeFileSync('test-results/soak.json', JSON.stringify(report, null, 2) + '\n');
    console.log(JSON.stringify(report));
    assert.ok(retries > 0, 'the collector restart made clients retry');
    assert.equal(missing.length, 0, 'every acknowledged event is stored');
    assert.equal(doubled, 0, 'no event stored twice');
    assert.equal(seen.size >= acked.size, true);
  } finally {
    await stack.stop();
  }
});
