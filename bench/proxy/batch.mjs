// Writes a realistic 20-event batch (prompts, responses, a reaction), timestamped now, to
// the path given. Usage: node bench/proxy/batch.mjs /tmp/batch.json
import { writeFileSync } from 'node:fs';
const now = Date.now();
const events = Array.from({ length: 20 }, (_, i) => ({
  eventId: `0190a000-0000-7000-8000-${String(i).padStart(12, '0')}`,
  type: i % 10 === 9 ? 'user_reaction' : i % 2 === 0 ? 'prompt' : 'agent_response',
  timestamp: now,
  visitorId: 'visitor-8f3a2c', accountId: 'acme-corp',
  properties: i % 10 === 9
    ? { agentId: 'support-bot', conversationId: `conv-${i >> 3}`, messageId: `msg-${i - 1}`, content: 'positive' }
    : { agentId: 'support-bot', conversationId: `conv-${i >> 3}`, messageId: `msg-${i}`,
        content: i % 2 === 0 ? 'Where is my order #A-1234? It was supposed to arrive yesterday.'
          : 'Your order #A-1234 shipped yesterday with UPS and should arrive on Tuesday. You can follow it from the Orders page.',
        ...(i % 2 ? { toolsUsed: ['order_lookup'], agentModelsUsed: ['gpt-4o-mini'], agentInputTokenCount: 812, agentOutputTokenCount: 64 } : {}) },
  eventProperties: { experiment: 'b' },
  context: { url: 'https://app.example/support', title: 'Support', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0', language: 'en-US', seq: i + 1, sdk: 'agent-track/0.1.0' },
}));
writeFileSync(process.argv[2], JSON.stringify({ sentAt: now, events }));
