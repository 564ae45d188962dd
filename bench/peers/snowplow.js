// @snowplow/browser-tracker: structured events, the agent payload as a context entity (how
// Snowplow attaches structured data); default emitter (POST, one event per request, queue in
// localStorage); events to the loopback server.
import { newTracker, trackStructEvent, flushBuffer } from '@snowplow/browser-tracker';

export default {
  async init({ server }) {
    newTracker('sp', server, { appId: 'bench', postPath: '/ingest/snowplow/tp2', anonymousTracking: false,
      contexts: { webPage: true } });
  },
  track: (type, properties, custom) => trackStructEvent({
    category: 'agent', action: type, label: properties.messageId,
    context: [{ schema: 'iglu:com.example/agent_event/jsonschema/1-0-0', data: { ...properties, ...custom } }],
  }),
  flush: () => flushBuffer(),
  queued: () => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('snowplowOutQueue_'));
    return key ? JSON.parse(localStorage.getItem(key)).length : 0;
  },
};
