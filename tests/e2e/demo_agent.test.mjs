// The demo's scripted agent (www/agent.js) is pure: it loads in Node, with no DOM and no
// agent-track, and the same prompt and history always give the same answer. Its answers
// produce each issue behaviour the demo page advertises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compose, SLOW_MS, TYPING_MS } from '../../www/agent.js';

test('the scripted agent needs no DOM and answers deterministically', () => {
  assert.equal(typeof globalThis.document, 'undefined');
  const history = [{ content: 'Hello' }, { content: "Hello! I'm Acme Support." }];
  const a = compose('Where is my order #10482?', null, history);
  assert.deepEqual(compose('Where is my order #10482?', null, history), a);
  assert.equal(a.intent, 'order');
  assert.deepEqual(a.tools, ['order_lookup']);
  assert.match(a.text, /#10482/);
  assert.equal(a.delayMs, TYPING_MS);
  assert.ok(a.inputTokens > compose('Where is my order #10482?', null, []).inputTokens, 'the history counts as input');

  const withFile = compose('refund please', { name: 'receipt.pdf', type: 'application/pdf' }, []);
  assert.equal(withFile.tools[0], 'file_reader');
  assert.match(withFile.text, /^Thanks, I received receipt\.pdf/);
});

test('the scripted agent can fail, repeat itself, be slow and stay silent', () => {
  assert.equal(compose('why is checkout broken?', null, []).error, 'status_page_timeout');
  assert.equal(compose('what about the warranty?', null, []).text, compose('can I talk to a manager', null, []).text);
  assert.equal(compose('send me my invoices', null, []).delayMs, SLOW_MS);
  assert.equal(compose('cancel my subscription', null, []).noAnswer, true);
  assert.equal(compose('what is the meaning of life?', null, []).intent, 'fallback');
});
