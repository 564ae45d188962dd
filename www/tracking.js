// The demo's tracking glue: loads the agent-track package, configures it, and sends every
// prompt, answer and reaction through trackAgent(); the opt-out switch and the ids. No DOM:
// problems and changes go to the `onError` and `onChange` callbacks.

const VISITOR_KEY = 'agent-track-demo:visitor';
const OPT_OUT_KEY = 'agent-track-demo:opted-out';

// ---------- ids ----------

function hex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A random UUID; crypto.randomUUID needs a secure context, so fall back to getRandomValues. */
function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const h = hex(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const newConversationId = () => `conv-${uuid()}`;
export const newMessageId = () => `msg-${uuid()}`;

function storageGet(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}
function storageSet(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch { /* storage blocked: the value lives for this page only */ }
}

function demoVisitorId() {
  let id = storageGet(VISITOR_KEY);
  if (!id || !/^demo-visitor-[0-9a-f]+$/.test(id)) {
    id = `demo-visitor-${hex(4)}`;
    storageSet(VISITOR_KEY, id);
  }
  return id;
}

/** An error as one line: an AgentTrackError with its code, field and count of more errors. */
export function describeError(e) {
  if (e && e.name === 'AgentTrackError') {
    const where = e.field ? ` (${e.field})` : '';
    const more = Array.isArray(e.errors) && e.errors.length > 1 ? ` (+${e.errors.length - 1} more)` : '';
    return `${e.code}${where}: ${e.message}${more}`;
  }
  return (e && e.message) || String(e);
}

// ---------- the tracker ----------

/**
 * Starts loading agent-track and returns the demo's tracker:
 * - `ready`: resolves { visitorId, accountId } once the package is loaded and configured;
 * - `prompt`, `response`, `reaction`: trackAgent() for one event; each resolves the eventId, or
 *   null when opted out or when tracking failed (the failure goes to `onError`);
 * - `optedOut()` / `setOptedOut(bool)`: the opt-out switch, remembered in localStorage;
 * - `stats()` (null until loaded) and `flush()`.
 * `onError(error, prefix)` gets delivery and tracking problems; `onChange()` is called when the
 * queue may have changed (after loading and after each event).
 */
export function createTracking({ agentId, accountId, onError = () => {}, onChange = () => {} }) {
  const visitorId = demoVisitorId();
  let tracker = null;

  const ready = (async () => {
    const mod = await import('/pkg/agent_track.js');
    await mod.default();
    // `?endpoint=` points the demo at a proxy on another origin (the proxy must allow this
    // page's origin); by default the page posts to its own origin's /v1/events.
    const endpoint = new URLSearchParams(location.search).get('endpoint') || '/v1/events';
    mod.configure({
      endpoint,
      visitorId,
      accountId,
      flushAt: 1,
      flushIntervalMs: 1000,
      onError: (e) => onError(e, 'Delivery problem'),
    });
    if (storageGet(OPT_OUT_KEY) === '1') mod.optOut();
    tracker = mod;
    onChange();
    return { visitorId, accountId };
  })();

  /** trackAgent, with any AgentTrackError sent to onError. Resolves the eventId or null. */
  async function track(eventType, properties, eventProperties) {
    try {
      await ready;
    } catch {
      return null;
    }
    try {
      const id = tracker.trackAgent(eventType, properties, eventProperties);
      onChange();
      return id ?? null; // null: opted out
    } catch (e) {
      onError(e, 'Tracking error');
      return null;
    }
  }

  return {
    visitorId,
    accountId,
    ready,

    /** A user's prompt, with the file attached to it ({ name, type }) if any. */
    prompt({ conversationId, messageId, content, suggested = false, file = null }) {
      const props = { agentId, conversationId, messageId, content };
      if (suggested) props.suggestedPrompt = true;
      if (file) props.agentFilesUploaded = [{ type: file.type || 'application/octet-stream', name: file.name }];
      return track('prompt', props, { source: 'demo-chat' });
    },

    /** The agent's answer: `reply` is the scripted agent's compose() result. */
    response({ conversationId, messageId, reply }) {
      const props = {
        agentId,
        conversationId,
        messageId,
        content: reply.text,
        agentModelsUsed: reply.models,
        agentInputTokenCount: reply.inputTokens,
        agentOutputTokenCount: reply.outputTokens,
      };
      if (reply.tools.length) props.toolsUsed = reply.tools;
      if (reply.subagents.length) props.agentSubagentsUsed = reply.subagents;
      const eventProperties = { source: 'demo-chat', intent: reply.intent, latencyMs: reply.delayMs };
      if (reply.error) eventProperties.error = reply.error;
      return track('agent_response', props, eventProperties);
    },

    /** 👍/👎 ('positive', 'negative') or 'unreact' on an answer, with the comments on it if any. */
    reaction({ conversationId, messageId, content, comments = null }) {
      const props = { agentId, conversationId, messageId, content };
      if (comments) props.agentUserReactionComments = [...comments];
      return track('user_reaction', props);
    },

    optedOut: () => storageGet(OPT_OUT_KEY) === '1',

    /** Turns tracking off (true) or on (false); remembered for the next visit. */
    async setOptedOut(off) {
      storageSet(OPT_OUT_KEY, off ? '1' : null);
      await ready;
      if (off) tracker.optOut();
      else tracker.optIn();
    },

    /** The package's queue stats, or null before it loaded. */
    stats: () => (tracker ? tracker.stats() : null),

    flush: async () => {
      await ready;
      return tracker.flush();
    },
  };
}
