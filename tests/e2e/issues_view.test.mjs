// The dashboard's Issues view in a real Chromium: conversations made in the demo chat (its
// scripted agent produces issues on purpose), then the counts the view shows checked against
// the read API, a click on a type filtering the list, and the flagged messages with reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, eventually, devStackAndChromium } from '../support/stack.mjs';
import { pageCounts } from '../support/demo.mjs';

// The dev stack and Chromium, started before this file's tests and stopped after.
const env = devStackAndChromium();

test('the Issues view shows what the API counts, and a click filters the list', async () => {
  const { stack, browser } = env;
  const chat = await browser.newPage();
  const pageErrors = [];
  chat.on('pageerror', (e) => pageErrors.push(e.message));
  await chat.goto(`${stack.base}/`);
  await chat.evaluate(() => window.demo.ready);

  // 1: a fallback answer, rated not helpful.
  await chat.evaluate(() => window.demo.send('What is the meaning of life?'));
  await chat.evaluate(() => window.demo.react(1, 'negative'));
  const fallbackId = await chat.evaluate(() => window.demo.conversationId());
  // 2: the same answer to two different prompts, and a frustrated prompt with a failing answer.
  await chat.evaluate(() => window.demo.newConversation());
  await chat.evaluate(() => window.demo.send('Is my warranty still valid?'));
  await chat.evaluate(() => window.demo.send('Can I talk to a manager?'));
  await chat.evaluate(() => window.demo.send('Why is checkout broken???'));
  const repeatedId = await chat.evaluate(() => window.demo.conversationId());
  // 3: shouting, answered fine.
  await chat.evaluate(() => window.demo.newConversation());
  await chat.evaluate(() => window.demo.send('WHERE IS MY ORDER #10482 PLEASE'));
  const capsId = await chat.evaluate(() => window.demo.conversationId());
  // The thumbs are inline SVG, not emoji.
  assert.ok((await chat.locator('[data-testid="thumb-up"] svg[data-icon="thumb-up"]').count()) > 0);

  let last = null;
  const report = await eventually(async () => {
    const r = (last = await api(stack.base, stack.apiKey, '/api/v1/issues'));
    const count = (t) => r.body.issues?.find((i) => i.type === t)?.conversations ?? 0;
    return r.status === 200 && count('negative_feedback') === 1 && count('fallback_answer') === 1 && count('repeated_answer') === 1 && count('frustration') === 2 ? r.body : null;
  }, 15_000, 'the issues of the three conversations', async () => {
    // What the API counted, what the page's tracker says, and what the servers logged.
    const stats = await pageCounts(chat);
    const stored = await api(stack.base, stack.apiKey, '/api/v1/messages?limit=50');
    return JSON.stringify({
      issues: last.body, stats, pageErrors,
      stored: stored.body.messages?.map((m) => [m.conversationId, m.type, m.content, m.reaction]) ?? stored.body,
      log: stack.log.filter((l) => !/key=|Bearer /.test(l)).slice(-30), // no keys, even throwaway ones
    });
  });
  assert.equal(report.conversations, 3);
  assert.equal(report.conversationsWithIssues, 3);
  const byType = new Map(report.issues.map((i) => [i.type, i]));
  assert.deepEqual(byType.get('frustration').examples.sort(), [capsId, repeatedId].sort());
  assert.deepEqual(byType.get('fallback_answer').examples, [fallbackId]);

  const dash = await browser.newPage();
  dash.on('pageerror', (e) => pageErrors.push(e.message));
  await dash.goto(`${stack.base}/dashboard.html#key=${stack.apiKey}`);
  const view = dash.locator('[data-testid="issues-view"]');
  await view.locator('[data-testid="issue-type"]').first().waitFor({ timeout: 10_000 });
  // Every type, ranked as the API ranks them, with the API's counts.
  const shown = await view.locator('[data-testid="issue-type"]').evaluateAll((rows) =>
    rows.map((r) => ({ type: r.dataset.type, count: Number(r.dataset.count), text: r.querySelector('[data-testid="issue-count"]').textContent })),
  );
  assert.deepEqual(
    shown.map((s) => [s.type, s.count, s.text]),
    report.issues.map((i) => [i.type, i.conversations, String(i.conversations)]),
  );
  assert.equal(shown.length, 7);
  const summary = view.locator('[data-testid="issues-summary"]');
  assert.equal(await summary.getAttribute('data-flagged'), String(report.conversationsWithIssues));
  assert.equal(await summary.getAttribute('data-total'), String(report.conversations));
  assert.ok((await dash.locator('[data-testid="chart-issue-rate"] svg').count()) === 1, 'the daily issue-rate chart');

  // A click on a type lists its conversations only, as the API's filter does.
  await view.locator('[data-testid="issue-type"][data-type="frustration"]').click();
  const expected = (await api(stack.base, stack.apiKey, '/api/v1/conversations?issue=frustration')).body.conversations.map((c) => c.id);
  assert.equal(expected.length, 2);
  await eventually(async () => {
    const ids = await dash.locator('[data-testid="conversation-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    return JSON.stringify(ids) === JSON.stringify(expected);
  }, 10_000, 'the list filtered by the issue');
  assert.equal(await dash.locator('#f-issue').inputValue(), 'frustration');
  assert.match(dash.url(), /issue=frustration/);
  // Rows carry issue chips.
  const chips = await dash.locator(`[data-testid="conversation-row"][data-id="${repeatedId}"] [data-testid="issue-chip"]`).evaluateAll((c) => c.map((x) => x.dataset.type));
  assert.deepEqual(chips.sort(), ['frustration', 'repeated_answer']);

  // The conversation view highlights the flagged messages with their reason.
  await dash.locator(`[data-testid="conversation-row"][data-id="${repeatedId}"]`).click();
  const convo = dash.locator('[data-testid="conversation-view"]');
  await convo.locator('[data-testid="message-flag"]').first().waitFor({ timeout: 10_000 });
  const flags = await convo.locator('[data-testid="message-flag"]').evaluateAll((f) => f.map((x) => [x.dataset.type, x.textContent]));
  assert.equal(flags.filter(([t]) => t === 'repeated_answer').length, 2, 'both repeated answers are flagged');
  assert.ok(flags.some(([t, text]) => t === 'frustration' && /a run of "\?\?\?"/.test(text)), JSON.stringify(flags));
  assert.equal(await convo.locator('[data-testid="transcript-message"][data-flagged="true"]').count(), 3);

  // Search finds a conversation by any word of it, with a snippet.
  await dash.locator('[data-testid="filter-reset"]').click();
  await dash.locator('[data-testid="filter-q"]').fill('meaning of life');
  await dash.locator('[data-testid="filter-apply"]').click();
  await eventually(async () => {
    const ids = await dash.locator('[data-testid="conversation-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    return ids.length === 1 && ids[0] === fallbackId;
  }, 10_000, 'the search result');
  assert.match(await dash.locator('[data-testid="snippet"]').first().innerText(), /meaning of life/);
  await dash.screenshot({ path: 'test-results/dashboard-issues.png', fullPage: true });
  assert.deepEqual(pageErrors, []);
});
