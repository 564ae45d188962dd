// The payload every SDK tracks (the same as bench/track-cost.html): a realistic agent response of
// a few hundred characters with tools, models, tokens and custom properties. `tag` makes the
// message ids of one run unique, so the loopback server can count what arrived.
export const CONTENT = 'Your order #A-1234 shipped yesterday with UPS and should arrive on Tuesday. ' +
  'You can follow it from the Orders page; I have also sent the tracking link to your email. ' +
  'Is there anything else I can help you with today?';

export const properties = (tag, i) => ({
  agentId: 'support-bot', conversationId: `conv-${i >> 3}`, messageId: `msg-${tag}-${i}`,
  content: CONTENT,
  toolsUsed: ['order_lookup', 'send_email'], agentModelsUsed: ['gpt-4o-mini'],
  agentInputTokenCount: 812, agentOutputTokenCount: 64,
});

export const custom = { experiment: 'b', plan: 'pro' };
