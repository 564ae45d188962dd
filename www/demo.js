// The demo chat's entry: Acme Support, a scripted, deterministic demo agent. No model and no
// network besides agent-track: every prompt, answer and reaction on this page goes through
// trackAgent(). The pieces: agent.js (what the agent answers), tracking.js (agent-track),
// chat.js (the page); this file wires them and publishes the test hooks.

import { compose } from './agent.js';
import { createChat } from './chat.js';
import { createTracking } from './tracking.js';

let chat = null;
const tracking = createTracking({
  agentId: 'acme-support',
  accountId: 'acme-demo',
  onError: (e, prefix) => chat?.showError(e, prefix),
  onChange: () => chat?.updateStatus(),
});
chat = createChat({ tracking, compose });

// ---------- test hooks ----------

window.demo = {
  /** Resolves { visitorId, accountId } once agent-track is loaded and configured. */
  ready: tracking.ready,
  send: (text, options) => chat.send(text, options),
  react: (messageIndex, value) => chat.react(messageIndex, value),
  comment: (messageIndex, text) => chat.comment(messageIndex, text),
  conversationId: () => chat.conversationId(),
  newConversation: () => chat.newConversation(),
  visitorId: () => tracking.visitorId,
  messages: () => chat.messages(),
  flush: () => tracking.flush(),
  stats: () => tracking.stats(),
};
