// The local stack as a new user meets it: `agent-track-server dev`, the demo chat in a real
// Chromium, and the conversation found through the read API and on the dashboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, eventually, devStackAndChromium } from '../support/stack.mjs';

// The dev stack and Chromium, started before this file's tests and stopped after.
const env = devStackAndChromium();

test('a chat with reactions reaches the API and the dashboard', async () => {
  const { stack, browser } = env;
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${stack.base}/`);
  await page.evaluate(() => window.demo.ready);

  await page.evaluate(() => window.demo.send('Where is my order #10482?'));
  await page.evaluate(() => window.demo.react(1, 'positive'));
  await page.evaluate(() => window.demo.comment(1, 'quick and right'));
  await page.evaluate(() => window.demo.send('I want a refund for it'));
  await page.evaluate(() => window.demo.react(3, 'negative'));
  const id = await page.evaluate(() => window.demo.conversationId());
  await page.screenshot({ path: 'test-results/demo-chat.png', fullPage: true });

  const conversation = await eventually(async () => {
    const r = await api(stack.base, stack.apiKey, `/api/v1/conversations/${id}`);
    const m = r.body.messages ?? [];
    return r.status === 200 && m.length === 4 && m[1].reaction?.value === 'positive' && m[3].reaction?.value === 'negative' && m[1].reaction.comments.length ? r.body : null;
  }, 15_000, 'conversation stored with both reactions');
  const [prompt, answer, prompt2, answer2] = conversation.messages;
  assert.equal(prompt.type, 'prompt');
  assert.equal(prompt.content, 'Where is my order #10482?');
  assert.equal(answer.type, 'agent_response');
  assert.ok(answer.toolsUsed.length > 0 && answer.agentModelsUsed.length > 0, 'tools and models recorded');
  assert.ok(answer.outputTokens > 0);
  assert.deepEqual(answer.reaction.comments, ['quick and right']);
  assert.equal(prompt2.content, 'I want a refund for it');
  assert.equal(answer2.reaction.value, 'negative');
  assert.equal(conversation.visitorId.startsWith('demo-visitor-'), true);

  const list = await api(stack.base, stack.apiKey, '/api/v1/conversations');
  assert.ok(list.body.conversations.some((c) => c.id === id && c.positiveReactions === 1 && c.negativeReactions === 1));

  const dash = await browser.newPage();
  await dash.goto(`${stack.base}/dashboard.html#key=${stack.apiKey}`);
  const row = dash.locator(`[data-testid="conversation-row"][data-id="${id}"]`);
  await row.waitFor({ timeout: 10_000 });
  await row.click();
  const view = dash.locator('[data-testid="conversation-view"]');
  await view.waitFor();
  await eventually(async () => (await view.locator('[data-testid="transcript-message"]').count()) === 4, 5_000, 'four messages in the transcript');
  assert.equal(await view.locator('[data-testid="reaction"][data-value="positive"]').count(), 1);
  assert.equal(await view.locator('[data-testid="reaction"][data-value="negative"]').count(), 1);
  assert.match(await view.innerText(), /quick and right/);
  await dash.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
  assert.deepEqual(pageErrors, []);
});

test('the shared secret reaches no page, package or response', async () => {
  const { stack, browser } = env;
  const secretKey = stack.secret.slice('whsec_'.length);
  for (const path of ['/', '/dashboard.html', '/demo.js', '/dashboard.js', '/pkg/agent_track.js', '/pkg/agent_track_bg.wasm', '/metrics', '/healthz', '/api/v1/stats']) {
    const r = await fetch(`${stack.base}${path}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const text = Buffer.from(await r.arrayBuffer()).toString('latin1');
    assert.ok(!text.includes(secretKey) && !text.includes(stack.secret), `${path} leaks the secret`);
  }
  assert.ok(!stack.log.join('\n').includes(secretKey), 'the log leaks the secret');
});
