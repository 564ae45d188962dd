// The conversations dashboard: reads the collector's read API with a bearer key.
// Every piece of data reaches the page through textContent (or SVG attributes), never innerHTML.

import { barChart, fillDays, lineChart, shareChart } from './charts.js';

const KEY_STORAGE = 'agent-track:dashboard-api-key';
const PAGE_SIZE = 50;
const MAX_LIMIT = 200;
const REFRESH_MS = 5000;

const $ = (id) => document.getElementById(id);

// ---------- formatting ----------

const whole = new Intl.NumberFormat();
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

const n = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);

function fmtWhole(v) {
  return whole.format(n(v));
}

/** A rate as a fraction 0..1; a value above 1 is taken as already in percent. */
function fmtRate(v) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return '–';
  const r = Number(v) > 1 ? Number(v) / 100 : Number(v);
  return percent.format(r);
}

function fmtWhen(ms) {
  const t = Number(ms);
  if (!Number.isFinite(t)) return '';
  const diff = (t - Date.now()) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return 'just now';
  if (abs < 3600) return relative.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(diff / 3600), 'hour');
  if (abs < 7 * 86400) return relative.format(Math.round(diff / 86400), 'day');
  return dateTime.format(t);
}

function fmtDate(ms) {
  const t = Number(ms);
  return Number.isFinite(t) && t > 0 ? dateTime.format(t) : '–';
}

// ---------- DOM helpers ----------

function h(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'className') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** A small "name value" pair in a message's meta line. */
const fact = (name, value) => h('span', { className: 'fact' }, [h('span', { className: 'fact-name', text: name }), ` ${value}`]);

const chip = (text, className = '') => h('span', { className: `chip ${className}`.trim(), text });

// ---------- state ----------

const state = {
  key: null,
  filters: { agentId: '', visitorId: '', since: '', until: '' },
  rows: [],
  nextCursor: null,
  openId: null,
  statsJson: '', // the stats as last rendered
  openJson: '', // the open conversation as last rendered, to re-render only when it changed
  generation: 0, // bumps when the filters change; stale answers are ignored
  timer: null,
  refreshing: false,
};

// ---------- errors ----------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

function showError(message) {
  $('error-text').textContent = message;
  $('error').hidden = false;
}
function clearError() {
  $('error').hidden = true;
}
$('error-close').addEventListener('click', clearError);

// ---------- API ----------

async function api(path, { params = {}, method = 'GET' } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== '' && v !== null && v !== undefined) url.searchParams.set(k, String(v));
  }
  const key = state.key;
  let res;
  try {
    res = await fetch(url, { method, headers: { Authorization: 'Bearer ' + key } });
  } catch (e) {
    throw new ApiError(0, `Cannot reach the collector (${e.message})`);
  }
  if (res.status === 401) {
    if (state.key === key) onUnauthorized();
    throw new ApiError(401, 'Wrong API key');
  }
  if (!res.ok) {
    let detail = '';
    try {
      const body = await res.json();
      detail = (body.error && (body.error.message || body.error)) || body.message || '';
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, `${method} ${url.pathname} failed: ${res.status} ${res.statusText}${detail ? ` (${detail})` : ''}`);
  }
  return res;
}

const conversationPath = (id) => `/api/v1/conversations/${encodeURIComponent(id)}`;

// The API pages the messages of one conversation (at most 1000 a page); the view reads up to
// this many pages.
const MAX_MESSAGE_PAGES = 50;

/** One conversation with all its messages (following nextCursor), as one object. */
async function fetchConversation(id) {
  let detail = null;
  let cursor = '';
  for (let page = 0; page < MAX_MESSAGE_PAGES; page += 1) {
    const res = await api(conversationPath(id), { params: { limit: 1000, cursor } });
    const body = await res.json();
    if (detail) detail.messages.push(...(Array.isArray(body.messages) ? body.messages : []));
    else detail = { ...body, messages: Array.isArray(body.messages) ? body.messages : [] };
    cursor = body.nextCursor || '';
    if (!cursor) break;
  }
  delete detail.nextCursor;
  return detail;
}

// ---------- API key ----------

function keyFromFragment() {
  const fragment = location.hash.replace(/^#/, '');
  if (!fragment) return null;
  const params = new URLSearchParams(fragment);
  if (!params.has('key')) return null;
  const key = params.get('key').trim();
  params.delete('key');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return key || null;
}

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* the key lives in memory for this page */
  }
}

function showKeyForm(message = '') {
  stopRefresh();
  $('app').hidden = true;
  $('change-key').hidden = true;
  $('key-section').hidden = false;
  $('key-message').textContent = message;
  $('key-message').className = message ? 'small banner' : 'small';
  $('updated').textContent = '';
  $('key-input').focus();
}

function onUnauthorized() {
  state.key = null;
  storeKey(null);
  clearError();
  showKeyForm('Wrong API key: the collector answered 401. Enter the key again.');
}

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('key-input').value.trim();
  if (!key) return;
  $('key-input').value = '';
  useKey(key);
});

$('change-key').addEventListener('click', () => {
  state.key = null;
  storeKey(null);
  showKeyForm();
});

function useKey(key) {
  state.key = key;
  storeKey(key);
  $('key-section').hidden = true;
  $('app').hidden = false;
  $('change-key').hidden = false;
  reloadAll();
  startRefresh();
}

// ---------- filters ----------

/** A date input's value as unix ms at local midnight (`endOfDay`: the last ms of that day). */
function dateToMs(value, endOfDay) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return '';
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (!endOfDay) return start.getTime();
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1).getTime() - 1;
}

function filterParams() {
  const f = state.filters;
  return {
    agentId: f.agentId,
    visitorId: f.visitorId,
    since: dateToMs(f.since, false),
    until: dateToMs(f.until, true),
  };
}

function readFiltersFromUrl() {
  const q = new URLSearchParams(location.search);
  for (const k of Object.keys(state.filters)) state.filters[k] = q.get(k) || '';
  writeFilterInputs();
}

function writeFilterInputs() {
  $('f-agent').value = state.filters.agentId;
  $('f-visitor').value = state.filters.visitorId;
  $('f-since').value = state.filters.since;
  $('f-until').value = state.filters.until;
}

function applyFilters() {
  state.filters = {
    agentId: $('f-agent').value.trim(),
    visitorId: $('f-visitor').value.trim(),
    since: $('f-since').value,
    until: $('f-until').value,
  };
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filters)) if (v) q.set(k, v);
  const search = q.toString();
  history.replaceState(history.state, '', location.pathname + (search ? `?${search}` : '') + location.hash);
  reloadAll();
}

$('filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  applyFilters();
});
$('filter-reset').addEventListener('click', () => {
  state.filters = { agentId: '', visitorId: '', since: '', until: '' };
  writeFilterInputs();
  applyFilters();
});

// ---------- stats and charts ----------

async function loadStats(generation) {
  const p = filterParams();
  const res = await api('/api/v1/stats', { params: { since: p.since, until: p.until, agentId: p.agentId } });
  const stats = await res.json();
  if (generation !== state.generation) return;
  const json = JSON.stringify(stats);
  if (json === state.statsJson) return; // unchanged: keep the charts (and any open tooltip) as they are
  state.statsJson = json;
  renderStats(stats);
}

function setStat(id, value, raw) {
  const el = $(id);
  el.textContent = value;
  el.dataset.value = String(raw);
}

function renderStats(s) {
  const reactions = s.reactions || {};
  const tokens = s.tokens || {};
  const pos = n(reactions.positive);
  const neg = n(reactions.negative);
  const tin = n(tokens.input);
  const tout = n(tokens.output);

  setStat('stat-conversations', fmtWhole(s.conversations), n(s.conversations));
  $('sub-conversations').textContent = state.filters.visitorId ? 'all visitors (stats have no visitor filter)' : state.filters.agentId ? `agent ${state.filters.agentId}` : 'all agents';
  setStat('stat-messages', fmtWhole(s.messages), n(s.messages));
  $('sub-messages').textContent = `${fmtWhole(s.prompts)} prompts · ${fmtWhole(s.responses)} answers`;
  setStat('stat-positive-rate', pos + neg ? fmtRate(s.positiveRate) : '–', s.positiveRate ?? '');
  $('sub-positive').textContent = `👍 ${fmtWhole(pos)} · 👎 ${fmtWhole(neg)} · ${fmtRate(s.reactionRate)} rated`;
  setStat('stat-tokens', compact.format(tin + tout), tin + tout);
  $('sub-tokens').textContent = `${compact.format(tin)} in · ${compact.format(tout)} out`;
  $('stat-tokens').title = `${fmtWhole(tin)} input + ${fmtWhole(tout)} output tokens`;

  const days = fillDays(s.perDay);
  const totalConversations = days.reduce((sum, d) => sum + n(d.conversations), 0);
  $('chart-per-day').replaceChildren(
    barChart({
      days,
      series: [{ key: 'conversations', label: 'conversations', color: 'var(--chart-1)' }],
      label: `Conversations per day: ${totalConversations} over ${days.length} day${days.length === 1 ? '' : 's'}`,
    }),
  );
  $('chart-per-day').dataset.days = String(days.length);
  $('chart-reactions').replaceChildren(
    shareChart({
      days,
      series: [
        { key: 'positive', label: '👍', color: 'var(--pos)' },
        { key: 'negative', label: '👎', color: 'var(--neg)' },
      ],
      label: `Positive versus negative reactions per day: ${pos} positive, ${neg} negative`,
    }),
  );
  $('chart-tokens').replaceChildren(
    lineChart({
      days,
      series: [
        { key: 'inputTokens', label: 'input tokens', color: 'var(--chart-1)' },
        { key: 'outputTokens', label: 'output tokens', color: 'var(--chart-2)' },
      ],
      label: `Tokens per day: ${tin} input, ${tout} output`,
    }),
  );
}

// ---------- conversation list ----------

async function loadList(generation, { more = false } = {}) {
  const params = filterParams();
  if (more) {
    params.cursor = state.nextCursor;
    params.limit = PAGE_SIZE;
  } else {
    params.limit = Math.min(MAX_LIMIT, Math.max(PAGE_SIZE, state.rows.length));
  }
  const res = await api('/api/v1/conversations', { params });
  const body = await res.json();
  if (generation !== state.generation) return;
  const page = Array.isArray(body.conversations) ? body.conversations : [];
  if (more) {
    const seen = new Set(state.rows.map((r) => r.id));
    state.rows = state.rows.concat(page.filter((r) => !seen.has(r.id)));
    state.nextCursor = body.nextCursor || null;
  } else if (body.nextCursor && page.length < state.rows.length) {
    // More rows are loaded ("Load more") than one request returned: refresh the first ones,
    // keep the rest and the cursor that follows them.
    const fresh = new Set(page.map((r) => r.id));
    state.rows = page.concat(state.rows.slice(page.length).filter((r) => !fresh.has(r.id)));
  } else {
    state.rows = page;
    state.nextCursor = body.nextCursor || null;
  }
  renderList();
}

function renderList() {
  const focusedId = document.activeElement?.closest?.('[data-testid="conversation-row"]')?.dataset.id;
  const list = $('conv-list');
  list.replaceChildren(...state.rows.map(rowElement));
  $('list-empty').hidden = state.rows.length > 0;
  $('list-foot').hidden = !state.nextCursor;
  $('list-count').textContent = `${state.rows.length}${state.nextCursor ? '+' : ''}`;
  if (focusedId) list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus();
}

function rowElement(c) {
  const current = c.id === state.openId;
  const title = (c.title || '').trim() || '(no prompt yet)';
  const button = h(
    'button',
    {
      type: 'button',
      className: 'conv-row',
      dataset: { testid: 'conversation-row', id: c.id },
      'aria-current': current ? 'true' : 'false',
      onclick: () => openConversation(c.id),
    },
    [
      h('span', { className: 'conv-title', text: title, title }),
      h('span', { className: 'conv-meta' }, [
        h('span', { className: 'mono', text: c.visitorId || 'anonymous', title: `visitor ${c.visitorId || ''}` }),
        h('time', { text: fmtWhen(c.lastMessageAt), title: fmtDate(c.lastMessageAt), datetime: Number.isFinite(Number(c.lastMessageAt)) ? new Date(Number(c.lastMessageAt)).toISOString() : null }),
        h('span', { text: `${fmtWhole(c.messageCount)} msg` }),
        h('span', { className: 'reactions' }, [
          h('span', { text: `👍 ${fmtWhole(c.positiveReactions)}`, 'aria-label': `${n(c.positiveReactions)} positive reactions` }),
          h('span', { text: `👎 ${fmtWhole(c.negativeReactions)}`, 'aria-label': `${n(c.negativeReactions)} negative reactions` }),
        ]),
      ]),
    ],
  );
  return h('li', {}, [button]);
}

$('load-more').addEventListener('click', async () => {
  const btn = $('load-more');
  btn.disabled = true;
  btn.textContent = 'Loading…';
  try {
    await loadList(state.generation, { more: true });
  } catch (e) {
    report(e);
  } finally {
    btn.disabled = false;
    btn.textContent = 'Load more';
  }
});

// ---------- one conversation ----------

async function openConversation(id, { quiet = false } = {}) {
  if (!quiet) {
    state.openId = id;
    state.openJson = '';
    for (const b of document.querySelectorAll('[data-testid="conversation-row"]')) {
      b.setAttribute('aria-current', String(b.dataset.id === id));
    }
    $('split').classList.add('has-open');
    $('view').replaceChildren(h('p', { className: 'view-placeholder', text: 'Loading conversation…' }));
  }
  let detail;
  try {
    detail = await fetchConversation(id);
  } catch (e) {
    if (state.openId !== id) return;
    if (e.status === 404) {
      state.openJson = '';
      renderMissing(id);
    } else if (!quiet) {
      $('view').replaceChildren(h('p', { className: 'view-placeholder', text: e.message }));
    }
    if (e.status !== 404) report(e);
    return;
  }
  if (state.openId !== id) return;
  const json = JSON.stringify(detail);
  if (quiet && json === state.openJson) return;
  state.openJson = json;
  renderConversation(detail);
  // One column (narrow screens): the list is hidden, so bring the transcript into view.
  if (!quiet && window.matchMedia('(max-width: 860px)').matches) $('view').scrollIntoView({ block: 'start' });
}

function closeConversation() {
  const id = state.openId;
  state.openId = null;
  state.openJson = '';
  $('split').classList.remove('has-open');
  $('view').replaceChildren(h('p', { className: 'view-placeholder', id: 'view-placeholder', text: 'Select a conversation to read its transcript.' }));
  for (const b of document.querySelectorAll('[data-testid="conversation-row"]')) b.setAttribute('aria-current', 'false');
  if (id) document.querySelector(`[data-testid="conversation-row"][data-id="${CSS.escape(id)}"]`)?.focus();
}

function renderMissing(id) {
  $('view').replaceChildren(
    h('div', { className: 'view-placeholder' }, [
      h('p', { text: `Conversation ${id} no longer exists (it was deleted).` }),
      h('p', {}, [h('button', { type: 'button', className: 'btn btn-sm', text: 'Close', onclick: closeConversation })]),
    ]),
  );
}

function conversationTitle(detail) {
  const row = state.rows.find((r) => r.id === detail.id);
  if (row && row.title) return row.title;
  const first = (detail.messages || []).find((m) => m.type === 'prompt');
  if (!first) return detail.id;
  const t = String(first.content || '').trim();
  return t.length > 80 ? `${t.slice(0, 77)}…` : t || detail.id;
}

function renderConversation(d) {
  const view = $('view');
  const scroller = document.scrollingElement;
  const keepScroll = scroller.scrollTop;
  const oldTranscript = view.querySelector(`[data-testid="conversation-view"][data-id="${CSS.escape(String(d.id))}"] .transcript`);
  const keepTranscriptScroll = oldTranscript ? oldTranscript.scrollTop : 0;
  const messages = Array.isArray(d.messages) ? d.messages : [];
  const title = conversationTitle(d);

  const facts = [
    ['Agent', d.agentId],
    ['Visitor', d.visitorId || 'anonymous'],
    ['Account', d.accountId || '–'],
    ['Started', fmtDate(d.startedAt)],
    ['Last message', fmtDate(d.lastMessageAt)],
    ['Messages', fmtWhole(d.messageCount ?? messages.length)],
    ['Id', d.id],
  ];

  const head = h('div', { className: 'view-head' }, [
    h('div', { className: 'view-title-row' }, [
      h('h2', { text: title, id: 'view-title' }),
      h('button', { type: 'button', className: 'btn btn-sm', text: 'Close', 'aria-label': 'Close conversation', dataset: { testid: 'close-conversation' }, onclick: closeConversation }),
    ]),
    h('dl', { className: 'view-facts' }, facts.map(([k, v]) => h('div', {}, [h('dt', { text: k }), h('dd', { text: v ?? '–', className: k === 'Id' || k === 'Visitor' ? 'mono' : '' })]))),
    h('div', { className: 'view-actions' }, [
      h('button', { type: 'button', className: 'btn btn-sm', text: '⬇ Markdown', 'aria-label': 'Download transcript as Markdown', dataset: { testid: 'download-md' }, onclick: (ev) => download(d.id, 'md', ev.currentTarget) }),
      h('button', { type: 'button', className: 'btn btn-sm', text: '⬇ JSON', 'aria-label': 'Download transcript as JSON', dataset: { testid: 'download-json' }, onclick: (ev) => download(d.id, 'json', ev.currentTarget) }),
      h('button', { type: 'button', className: 'btn btn-sm btn-danger', text: 'Delete', 'aria-label': 'Delete conversation', dataset: { testid: 'delete-conversation' }, onclick: () => remove(d.id, title) }),
    ]),
  ]);

  const list = h(
    'ol',
    { className: 'transcript', 'aria-label': 'Transcript' },
    messages.length ? messages.map((m) => messageElement(m, d)) : [h('li', { className: 'muted', text: 'No messages.' })],
  );

  const root = h('div', { dataset: { testid: 'conversation-view', id: d.id }, 'aria-labelledby': 'view-title' }, [head, list]);
  view.replaceChildren(root);
  scroller.scrollTop = keepScroll;
  list.scrollTop = keepTranscriptScroll;
}

function messageElement(m, d) {
  const type = m.type || 'agent_response';
  const isPrompt = type === 'prompt';
  const who = isPrompt ? 'Visitor' : type === 'agent_trace' ? `${d.agentId} · trace` : d.agentId;

  const header = h('div', { className: 't-who' }, [
    h('strong', { text: who }),
    h('time', { text: Number.isFinite(Number(m.timestamp)) ? timeOnly.format(Number(m.timestamp)) : '', title: fmtDate(m.timestamp) }),
    m.suggestedPrompt ? chip('suggested', 'chip-accent') : null,
  ]);

  let body;
  if (type === 'agent_trace') {
    body = h('details', { className: 't-trace' }, [h('summary', { text: 'Trace span' }), h('pre', { text: pretty(m.content) })]);
  } else {
    body = h('div', { className: 'bubble', text: String(m.content ?? '') });
  }

  const details = [];
  const files = arr(m.agentFilesUploaded).map((f) => `${(f && f.name) || 'file'}${f && f.type ? ` (${f.type})` : ''}`);
  const list = (name, plural, items) => items.length && details.push(fact(items.length > 1 ? plural : name, items.join(', ')));
  list('file', 'files', files);
  list('tool', 'tools', arr(m.toolsUsed).map(String));
  list('subagent', 'subagents', arr(m.agentSubagentsUsed).map(String));
  list('model', 'models', arr(m.agentModelsUsed).map(String));
  if (m.inputTokens != null || m.outputTokens != null) {
    const tin = m.inputTokens != null ? fmtWhole(m.inputTokens) : '?';
    const tout = m.outputTokens != null ? fmtWhole(m.outputTokens) : '?';
    details.push(fact('tokens', `${tin} in, ${tout} out`));
  }

  const children = [header, body];
  if (details.length) children.push(h('div', { className: 'msg-meta', 'aria-label': 'Details' }, details));

  if (m.reaction && (m.reaction.value === 'positive' || m.reaction.value === 'negative')) {
    const positive = m.reaction.value === 'positive';
    const comments = arr(m.reaction.comments);
    children.push(
      h('div', { className: 't-reaction', dataset: { testid: 'reaction', value: m.reaction.value } }, [
        h('span', {}, [
          chip(positive ? '👍 Helpful' : '👎 Not helpful', positive ? 'chip-pos' : 'chip-neg'),
          m.reaction.at ? h('span', { className: 'muted small', text: ` ${fmtDate(m.reaction.at)}` }) : null,
        ]),
        comments.length ? h('ul', { 'aria-label': 'Comments' }, comments.map((c) => h('li', { text: String(c) }))) : null,
      ]),
    );
  }

  if (m.eventProperties && typeof m.eventProperties === 'object' && Object.keys(m.eventProperties).length) {
    children.push(h('details', { className: 't-props' }, [h('summary', { text: 'Event properties' }), h('pre', { text: JSON.stringify(m.eventProperties, null, 2) })]));
  }

  return h('li', { className: 't-msg', dataset: { testid: 'transcript-message', type, messageId: m.messageId || '' } }, children);
}

/** A trace span's content, indented when it is JSON. */
function pretty(content) {
  const text = String(content ?? '');
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object') return JSON.stringify(v, null, 2);
  } catch {
    /* not JSON: shown as it is */
  }
  return text;
}

const arr = (v) => (Array.isArray(v) ? v : []);

async function download(id, format, button) {
  button.disabled = true;
  try {
    const res = await api(`${conversationPath(id)}/transcript`, { params: { format } });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${id.replace(/[^\w.-]+/g, '_')}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    report(e);
  } finally {
    button.disabled = false;
  }
}

async function remove(id, title) {
  if (!window.confirm(`Delete the conversation “${title}”?\n\nIts messages and reactions are removed from the collector. This cannot be undone.`)) return;
  try {
    await api(conversationPath(id), { method: 'DELETE' });
  } catch (e) {
    if (e.status !== 404) {
      report(e);
      return;
    }
  }
  state.rows = state.rows.filter((r) => r.id !== id);
  if (state.openId === id) closeConversation();
  renderList();
  refresh();
}

// ---------- loading and auto-refresh ----------

function report(e) {
  if (e.status === 401) return; // the key form says it
  console.warn('[dashboard]', e);
  showError(e.message);
}

function stamp() {
  $('updated').textContent = `Updated ${timeOnly.format(Date.now())}`;
}

async function reloadAll() {
  state.generation += 1;
  const generation = state.generation;
  state.rows = [];
  state.nextCursor = null;
  state.statsJson = '';
  try {
    await Promise.all([loadStats(generation), loadList(generation)]);
    clearError();
    stamp();
  } catch (e) {
    report(e);
  }
}

async function refresh() {
  if (!state.key || state.refreshing) return;
  state.refreshing = true;
  const generation = state.generation;
  try {
    await Promise.all([loadStats(generation), loadList(generation)]);
    if (state.openId) await openConversation(state.openId, { quiet: true });
    if (generation === state.generation) stamp();
    clearError();
  } catch (e) {
    report(e);
  } finally {
    state.refreshing = false;
  }
}

function startRefresh() {
  stopRefresh();
  state.timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
}

function stopRefresh() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.key) refresh();
});

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state.openId && !ev.defaultPrevented) closeConversation();
});

// ---------- start ----------

readFiltersFromUrl();
const initialKey = keyFromFragment() || storedKey();
if (initialKey) useKey(initialKey);
else showKeyForm();
