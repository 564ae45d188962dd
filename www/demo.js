// Acme Support: a scripted, deterministic demo agent. No model and no network besides
// agent-track: every prompt, answer and reaction on this page goes through trackAgent().

import { icon } from './icons.js';

const AGENT_ID = 'acme-support';
const ACCOUNT_ID = 'acme-demo';
const VISITOR_KEY = 'agent-track-demo:visitor';
const OPT_OUT_KEY = 'agent-track-demo:opted-out';
const TYPING_MS = 400;
const SYSTEM_PROMPT_TOKENS = 180;
const TOOL_CALL_TOKENS = 45;

const $ = (id) => document.getElementById(id);


/** The "slow" demo answer is stamped this long after its prompt (slow_response: > 30 s). */
const SLOW_MS = 31_000;

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

const newConversationId = () => `conv-${uuid()}`;
const newMessageId = () => `msg-${uuid()}`;

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

// ---------- the scripted agent ----------

/** Deterministic token estimate: about four UTF-8 bytes per token. */
function tokenCount(text) {
  return Math.max(1, Math.ceil(new TextEncoder().encode(text).length / 4));
}

function orderNumber(text) {
  const m = text.match(/#\s?(\d{3,10})\b|\b(\d{4,10})\b/);
  return m ? m[1] || m[2] : null;
}

const ORDER_STATES = [
  'is being packed at our warehouse and should ship within 24 hours',
  'has shipped with Parcelway; tracking number PW{n}US',
  'is out for delivery today between 10:00 and 14:00',
  'was delivered on Monday and signed for at the front door',
];

const INTENTS = [
  {
    intent: 'refund',
    match: /\brefunds?\b|money back|\breturns?\b|\breimburse/i,
    answer(text) {
      const n = orderNumber(text);
      const lines = [
        'Refunds are available within 30 days of delivery for unused items in their original packaging.',
        n
          ? `I've opened a refund request for order #${n}. You'll get a prepaid return label by email within one business day, and the money is back on your card 5–7 days after the item reaches us.`
          : 'If you share your order number (it looks like #10482), I can start the refund for you right away.',
      ];
      return {
        text: lines.join('\n\n'),
        tools: n ? ['refund_policy', 'order_lookup'] : ['refund_policy'],
        models: ['acme-large-2'],
        subagents: ['billing-agent'],
      };
    },
  },
  {
    intent: 'order',
    match: /\borders?\b|\btrack(ing)?\b|\bpackage\b|\bparcel\b/i,
    answer(text) {
      const n = orderNumber(text);
      if (!n) {
        return {
          text: 'Happy to check on that. What is your order number? You can find it in your confirmation email; it starts with # (for example #10482).',
          tools: [],
          models: ['acme-small-1'],
          subagents: [],
        };
      }
      const state = ORDER_STATES[Number(n) % ORDER_STATES.length].replace('{n}', n.padStart(8, '0'));
      return {
        text: `I found order #${n}: it ${state}.\n\nAnything else I can help with on this order?`,
        tools: ['order_lookup'],
        models: ['acme-small-1'],
        subagents: [],
      };
    },
  },
  {
    intent: 'shipping',
    match: /\bship(ping|ped|s)?\b|\bdeliver(y|ies)?\b|\bcourier\b/i,
    answer() {
      return {
        text: [
          'We offer three shipping options:',
          '• Standard (3–5 business days): free over $50, otherwise $4.99',
          '• Express (1–2 business days): $12.99',
          '• Next day (order before 2 pm): $24.99',
          '',
          'We ship to the US, Canada and the EU.',
        ].join('\n'),
        tools: ['shipping_rates'],
        models: ['acme-small-1'],
        subagents: [],
      };
    },
  },
  {
    intent: 'password',
    match: /\bpass(word|code)s?\b|\blog ?in\b|\bsign ?in\b|\blocked out\b/i,
    answer() {
      return {
        text: "No problem. I've sent a password reset link to the email address on your account; it is valid for 30 minutes.\n\nIf it doesn't arrive within a few minutes, check your spam folder or ask me to send it again.",
        tools: ['account_reset'],
        models: ['acme-small-1'],
        subagents: ['identity-verifier'],
      };
    },
  },
  // The intents below let a new user produce each issue type the collector detects (see the
  // dashboard's Issues view): an answer that fails (error), the same answer to different
  // prompts (repeated_answer), a slow answer (slow_response), no answer (unanswered_prompt).
  {
    intent: 'outage',
    match: /\bcheckout\b|\boutage\b|\bcrash(es|ed)?\b|\bbroken\b/i,
    answer() {
      return {
        text: 'Something went wrong on our side while checking the status page. Please try again in a few minutes.',
        tools: ['status_page'],
        models: ['acme-small-1'],
        subagents: [],
        error: 'status_page_timeout',
      };
    },
  },
  {
    intent: 'handoff',
    match: /\bwarrant(y|ies)\b|\bguarantee\b|\bmanager\b|\bhuman\b|\bcomplain(t)?\b/i,
    answer() {
      return {
        text: 'Please contact our support team at support@acme.example; they will get back to you within one business day.',
        tools: [],
        models: ['acme-small-1'],
        subagents: [],
      };
    },
  },
  {
    intent: 'invoices',
    match: /\binvoices?\b|\breceipts?\b/i,
    answer() {
      return {
        text: 'Here are your invoices for the last 12 months: 12 documents, $1,284.00 in total. (This demo answer takes 31 seconds on purpose, to show a slow response.)',
        tools: ['billing_export'],
        models: ['acme-large-2'],
        subagents: ['billing-agent'],
        delayMs: SLOW_MS,
      };
    },
  },
  {
    intent: 'cancel',
    match: /\bcancel\b|\bunsubscribe\b/i,
    answer() {
      // The agent never answers: the prompt becomes unanswered_prompt a minute later.
      return { text: '', tools: [], models: [], subagents: [], noAnswer: true };
    },
  },
  {
    intent: 'hello',
    match: /^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening))\b/i,
    answer() {
      return {
        text: "Hello! I'm Acme Support. I can help with orders, refunds, shipping and signing in. What can I do for you?",
        tools: [],
        models: ['acme-small-1'],
        subagents: [],
      };
    },
  },
];

const FALLBACK = {
  intent: 'fallback',
  answer(text) {
    const topic = text.length > 60 ? `${text.slice(0, 57)}…` : text;
    return {
      text: `I searched our help center for “${topic}” but couldn't find a confident answer.\n\nI'm best with orders, refunds, shipping and passwords. Could you rephrase, or tell me your order number?`,
      tools: ['kb_search'],
      models: ['acme-small-1', 'acme-large-2'],
      subagents: [],
    };
  },
};

/**
 * The agent's answer to `text` (and an optional attached file) given the conversation so
 * far: the same inputs always give the same answer, tools, models and token counts.
 */
function compose(text, file, history) {
  const rule = INTENTS.find((r) => r.match.test(text)) || FALLBACK;
  const a = rule.answer(text);
  let answer = a.text;
  const tools = [...a.tools];
  if (file) {
    answer = `Thanks, I received ${file.name} and attached it to this conversation.\n\n${answer}`;
    tools.unshift('file_reader');
  }
  const historyTokens = history.reduce((sum, m) => sum + tokenCount(m.content), 0);
  return {
    intent: rule.intent,
    text: answer,
    tools,
    models: a.models,
    subagents: a.subagents,
    inputTokens: SYSTEM_PROMPT_TOKENS + historyTokens + tools.length * TOOL_CALL_TOKENS,
    outputTokens: tokenCount(answer),
    delayMs: a.delayMs ?? TYPING_MS,
    error: a.error ?? null,
    noAnswer: Boolean(a.noAnswer),
  };
}

// ---------- tracking ----------

let tracker = null;
const visitorId = demoVisitorId();

function describeError(e) {
  if (e && e.name === 'AgentTrackError') {
    const where = e.field ? ` (${e.field})` : '';
    const more = Array.isArray(e.errors) && e.errors.length > 1 ? ` (+${e.errors.length - 1} more)` : '';
    return `${e.code}${where}: ${e.message}${more}`;
  }
  return (e && e.message) || String(e);
}

function showError(e, prefix = 'Tracking error') {
  console.warn('[demo]', prefix, e);
  $('error-text').textContent = `${prefix}: ${describeError(e)}`;
  $('error').hidden = false;
}

const ready = (async () => {
  const mod = await import('/pkg/agent_track.js');
  await mod.default();
  // `?endpoint=` points the demo at a proxy on another origin (the proxy must allow this
  // page's origin); by default the page posts to its own origin's /v1/events.
  const endpoint = new URLSearchParams(location.search).get('endpoint') || '/v1/events';
  mod.configure({
    endpoint,
    visitorId,
    accountId: ACCOUNT_ID,
    flushAt: 1,
    flushIntervalMs: 1000,
    onError: (e) => showError(e, 'Delivery problem'),
  });
  if (storageGet(OPT_OUT_KEY) === '1') mod.optOut();
  tracker = mod;
  updateStatus();
  return { visitorId, accountId: ACCOUNT_ID };
})();
ready.catch((e) => {
  showError(e, 'agent-track did not load');
  setStatus('error', 'Tracking unavailable: agent-track did not load');
});

/** trackAgent, with any AgentTrackError shown on the page. Resolves the eventId or null. */
async function track(eventType, properties, eventProperties) {
  try {
    await ready;
  } catch {
    return null;
  }
  try {
    const id = tracker.trackAgent(eventType, properties, eventProperties);
    updateStatus();
    return id ?? null; // null: opted out
  } catch (e) {
    showError(e);
    return null;
  }
}

// ---------- status line ----------

function setStatus(state, text, title = '') {
  const el = $('status');
  el.dataset.state = state;
  el.title = title;
  $('status-text').textContent = text;
}

function updateStatus() {
  if (!tracker) return;
  let s;
  try {
    s = tracker.stats();
  } catch (e) {
    setStatus('error', `stats() failed: ${describeError(e)}`);
    return;
  }
  const el = $('status');
  for (const k of ['queued', 'sent', 'rejected', 'dropped', 'retries']) el.dataset[k] = String(s[k]);
  const parts = [`${s.queued} queued`, `${s.sent} sent`];
  if (s.rejected) parts.push(`${s.rejected} rejected`);
  if (s.dropped) parts.push(`${s.dropped} dropped`);
  if (s.retries) parts.push(`${s.retries} retries`);
  let state = s.queued > 0 ? 'pending' : 'ok';
  let title = '';
  if (s.lastError && s.queued > 0) {
    state = 'error';
    parts.push(`last error: ${s.lastError.code}`);
    title = s.lastError.message;
  }
  if (!$('tracking-toggle').checked) {
    state = 'off';
    parts.unshift('Tracking off');
  } else {
    parts.unshift('Tracking');
  }
  setStatus(state, parts.join(' · '), title);
}

setInterval(updateStatus, 1000);

// ---------- conversation state and rendering ----------

const state = {
  conversationId: newConversationId(),
  messages: [], // { role, messageId, content, eventId, el, reaction, comments, feedback }
  chain: Promise.resolve(),
  file: null, // { name, type } of the file picked for the next prompt
};

const messagesEl = $('messages');
const input = $('chat-input');

function chip(text, className = '') {
  const el = document.createElement('span');
  el.className = `chip ${className}`.trim();
  el.textContent = text;
  return el;
}

/** A small "name value" pair in an answer's meta line. */
function fact(name, value) {
  const el = document.createElement('span');
  el.className = 'fact';
  const k = document.createElement('span');
  k.className = 'fact-name';
  k.textContent = name;
  el.append(k, ` ${value}`);
  return el;
}

function scrollToEnd() {
  messagesEl.scrollTop = messagesEl.scrollHeight;
}

function renderConversationLabel() {
  const label = $('conversation-label');
  label.textContent = state.conversationId.length > 18 ? `${state.conversationId.slice(0, 18)}…` : state.conversationId;
  label.title = state.conversationId;
  label.dataset.conversationId = state.conversationId;
}

function addMessage({ role, content, file = null, suggested = false, reply = null }) {
  $('empty-state').hidden = true;
  const index = state.messages.length;
  const m = {
    role,
    index,
    conversationId: state.conversationId,
    messageId: newMessageId(),
    content,
    eventId: null,
    reaction: null,
    comments: [],
  };
  const el = document.createElement('article');
  el.className = 'msg';
  el.dataset.testid = 'message';
  el.dataset.role = role;
  el.dataset.index = String(index);
  el.dataset.messageId = m.messageId;
  el.setAttribute('aria-label', role === 'user' ? 'You said' : 'Acme Support said');

  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  bubble.dataset.testid = 'message-text';
  bubble.textContent = content;
  el.append(bubble);

  const meta = document.createElement('div');
  meta.className = 'msg-meta';
  if (role === 'user') {
    if (file) {
      const c = chip(` ${file.name}`);
      c.prepend(icon('document'));
      meta.append(c);
    }
    if (suggested) meta.append(chip('suggested'));
  } else if (reply) {
    if (reply.tools.length) meta.append(fact(reply.tools.length > 1 ? 'tools' : 'tool', reply.tools.join(', ')));
    if (reply.subagents.length) meta.append(fact('subagent', reply.subagents.join(', ')));
    meta.append(fact(reply.models.length > 1 ? 'models' : 'model', reply.models.join(', ')));
    meta.append(fact('tokens', `${reply.inputTokens} in, ${reply.outputTokens} out`));
  }
  if (meta.childElementCount) el.append(meta);

  if (role === 'agent') el.append(buildFeedback(m));

  m.el = el;
  state.messages.push(m);
  messagesEl.append(el);
  scrollToEnd();
  return m;
}

function buildFeedback(m) {
  const up = document.createElement('button');
  up.type = 'button';
  up.className = 'thumb';
  up.dataset.testid = 'thumb-up';
  up.dataset.value = 'positive';
  up.setAttribute('aria-label', 'Helpful');
  up.title = 'Helpful';
  up.replaceChildren(icon('thumb-up'));

  const down = up.cloneNode();
  down.dataset.testid = 'thumb-down';
  down.dataset.value = 'negative';
  down.setAttribute('aria-label', 'Not helpful');
  down.title = 'Not helpful';
  down.replaceChildren(icon('thumb-down'));

  for (const b of [up, down]) {
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', () => react(m.index, b.dataset.value).catch((e) => showError(e, 'Reaction failed')));
  }

  const form = document.createElement('form');
  form.className = 'comment-form';
  form.hidden = true;
  const commentInput = document.createElement('input');
  commentInput.type = 'text';
  commentInput.maxLength = 500;
  commentInput.dataset.testid = 'comment-input';
  commentInput.placeholder = 'Tell us more (optional)';
  commentInput.setAttribute('aria-label', 'Comment on this answer');
  const commentSend = document.createElement('button');
  commentSend.type = 'submit';
  commentSend.className = 'btn btn-sm';
  commentSend.dataset.testid = 'comment-send';
  commentSend.textContent = 'Send';
  commentSend.setAttribute('aria-label', 'Send comment');
  form.append(commentInput, commentSend);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = commentInput.value.trim();
    if (!text) {
      commentInput.focus();
      return;
    }
    commentInput.value = '';
    comment(m.index, text).catch((e) => showError(e, 'Comment failed'));
  });

  const list = document.createElement('ul');
  list.className = 'comment-list';
  list.setAttribute('aria-label', 'Your comments');

  const row = document.createElement('div');
  row.className = 'feedback';
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', 'Rate this answer');
  row.append(up, down, form);
  m.feedback = { up, down, form, commentInput, list };
  const wrap = document.createElement('div');
  wrap.className = 'feedback-wrap';
  wrap.append(row, list);
  return wrap;
}

function renderFeedback(m) {
  const { up, down, form, list } = m.feedback;
  up.setAttribute('aria-pressed', String(m.reaction === 'positive'));
  down.setAttribute('aria-pressed', String(m.reaction === 'negative'));
  form.hidden = !m.reaction;
  m.el.dataset.reaction = m.reaction || '';
  list.replaceChildren(
    ...m.comments.map((c) => {
      const li = document.createElement('li');
      li.textContent = c;
      return li;
    }),
  );
}

let typingEl = null;
function showTyping() {
  typingEl = document.createElement('div');
  typingEl.className = 'msg typing';
  typingEl.dataset.role = 'agent';
  typingEl.dataset.testid = 'typing';
  typingEl.setAttribute('aria-label', 'Acme Support is typing');
  const b = document.createElement('div');
  b.className = 'bubble';
  for (let i = 0; i < 3; i++) {
    const d = document.createElement('span');
    d.className = 'dot';
    b.append(d);
  }
  typingEl.append(b);
  messagesEl.append(typingEl);
  scrollToEnd();
}
function hideTyping() {
  typingEl?.remove();
  typingEl = null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function summary(m) {
  return m && { index: m.index, messageId: m.messageId, eventId: m.eventId, content: m.content };
}

// ---------- actions (the UI and window.demo share these) ----------

/**
 * Sends a prompt and waits for the agent's answer. Sends run one after another.
 * Resolves { conversationId, prompt, response } (each { index, messageId, eventId, content }).
 */
function send(text, { suggested = false, file = null } = {}) {
  const job = state.chain.then(() => doSend(String(text ?? ''), suggested, file));
  state.chain = job.catch(() => {});
  return job;
}

async function doSend(rawText, suggested, file) {
  const text = rawText.trim();
  if (!text && !file) throw new Error('Nothing to send: type a message or attach a file');
  const content = text || `(attached ${file.name})`;
  const conversationId = state.conversationId;

  const prompt = addMessage({ role: 'user', content, file, suggested });
  const props = { agentId: AGENT_ID, conversationId, messageId: prompt.messageId, content };
  if (suggested) props.suggestedPrompt = true;
  if (file) props.agentFilesUploaded = [{ type: file.type || 'application/octet-stream', name: file.name }];
  prompt.eventId = await track('prompt', props, { source: 'demo-chat' });

  const reply = compose(content, file, state.messages);
  showTyping();
  await sleep(reply.delayMs);
  hideTyping();
  if (reply.noAnswer) {
    // The scripted agent stays silent (an unanswered prompt, for the Issues view).
    return { conversationId, prompt: summary(prompt), response: null };
  }
  if (state.conversationId !== conversationId) {
    // "New conversation" was pressed while the agent was typing: the answer is dropped.
    return { conversationId, prompt: summary(prompt), response: null };
  }

  const answer = addMessage({ role: 'agent', content: reply.text, reply });
  const rprops = {
    agentId: AGENT_ID,
    conversationId,
    messageId: answer.messageId,
    content: reply.text,
    agentModelsUsed: reply.models,
    agentInputTokenCount: reply.inputTokens,
    agentOutputTokenCount: reply.outputTokens,
  };
  if (reply.tools.length) rprops.toolsUsed = reply.tools;
  if (reply.subagents.length) rprops.agentSubagentsUsed = reply.subagents;
  const eventProperties = { source: 'demo-chat', intent: reply.intent, latencyMs: reply.delayMs };
  if (reply.error) eventProperties.error = reply.error;
  answer.eventId = await track('agent_response', rprops, eventProperties);
  return { conversationId, prompt: summary(prompt), response: summary(answer) };
}

function agentMessageAt(index) {
  const m = state.messages[index];
  if (!m) throw new RangeError(`No message at index ${index}; this conversation has ${state.messages.length}`);
  if (m.role !== 'agent') throw new Error(`Message ${index} is a prompt; reactions apply to the agent's answers`);
  return m;
}

/** 👍/👎 on the agent answer at `index`; the same value again un-reacts. */
async function react(index, value) {
  if (value !== 'positive' && value !== 'negative') throw new TypeError("value must be 'positive' or 'negative'");
  const m = agentMessageAt(index);
  m.reaction = m.reaction === value ? null : value;
  m.comments = []; // comments belong to one opinion
  renderFeedback(m);
  const content = m.reaction || 'unreact';
  const eventId = await track('user_reaction', {
    agentId: AGENT_ID,
    conversationId: m.conversationId,
    messageId: m.messageId,
    content,
  });
  return { content, eventId };
}

/** A comment on the current 👍/👎 of the answer at `index` (react first). */
async function comment(index, text) {
  const m = agentMessageAt(index);
  const t = String(text ?? '').trim();
  if (!t) throw new Error('The comment is empty');
  if (!m.reaction) throw new Error('React with 👍 or 👎 before commenting');
  m.comments.push(t);
  renderFeedback(m);
  const eventId = await track('user_reaction', {
    agentId: AGENT_ID,
    conversationId: m.conversationId,
    messageId: m.messageId,
    content: m.reaction,
    agentUserReactionComments: [...m.comments],
  });
  return { content: m.reaction, comments: [...m.comments], eventId };
}

function newConversation() {
  state.conversationId = newConversationId();
  state.messages = [];
  hideTyping();
  for (const el of [...messagesEl.querySelectorAll('.msg')]) el.remove();
  $('empty-state').hidden = false;
  renderConversationLabel();
  return state.conversationId;
}

// ---------- UI wiring ----------

function setFile(file) {
  state.file = file;
  $('attachment').hidden = !file;
  $('attachment-name').textContent = file ? file.name : '';
  if (!file) $('attach').value = '';
}

function autosize() {
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, 128)}px`;
}

$('composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = input.value;
  const file = state.file;
  if (!text.trim() && !file) {
    input.focus();
    return;
  }
  input.value = '';
  autosize();
  setFile(null);
  send(text, { file }).catch((e) => showError(e, 'Send failed'));
  input.focus();
});

input.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $('composer').requestSubmit();
  }
});
input.addEventListener('input', autosize);

for (const b of document.querySelectorAll('[data-testid="suggested"]')) {
  b.addEventListener('click', () => {
    const file = state.file;
    setFile(null);
    send(b.textContent, { suggested: true, file }).catch((e) => showError(e, 'Send failed'));
  });
}

$('attach').addEventListener('change', (ev) => {
  const f = ev.target.files && ev.target.files[0];
  setFile(f ? { name: f.name, type: f.type } : null);
});
$('attachment-remove').addEventListener('click', () => {
  setFile(null);
  input.focus();
});

$('new-conversation').addEventListener('click', () => {
  newConversation();
  input.focus();
});

$('error-close').addEventListener('click', () => {
  $('error').hidden = true;
});

const toggle = $('tracking-toggle');
toggle.checked = storageGet(OPT_OUT_KEY) !== '1';
toggle.addEventListener('change', async () => {
  storageSet(OPT_OUT_KEY, toggle.checked ? null : '1');
  try {
    await ready;
    if (toggle.checked) tracker.optIn();
    else tracker.optOut();
  } catch (e) {
    showError(e);
  }
  updateStatus();
});

$('visitor-label').textContent = visitorId;
renderConversationLabel();

// ---------- test hooks ----------

window.demo = {
  /** Resolves { visitorId, accountId } once agent-track is loaded and configured. */
  ready,
  send: (text, options) => send(text, options),
  react: (messageIndex, value) => react(messageIndex, value),
  comment: (messageIndex, text) => comment(messageIndex, text),
  conversationId: () => state.conversationId,
  newConversation,
  visitorId: () => visitorId,
  messages: () =>
    state.messages.map((m) => ({
      index: m.index,
      role: m.role,
      messageId: m.messageId,
      eventId: m.eventId,
      content: m.content,
      reaction: m.reaction,
      comments: [...m.comments],
    })),
  flush: async () => {
    await ready;
    return tracker.flush();
  },
  stats: () => (tracker ? tracker.stats() : null),
};
