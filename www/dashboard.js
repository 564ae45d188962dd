// The conversations dashboard: reads the collector's read API with a bearer key.
// Every piece of data reaches the page through textContent (or SVG attributes), never innerHTML.

import { barChart, fillDays, lineChart, shareChart } from './charts.js';
import { $, clear, el, text } from './dom.js';
import { icon } from './icons.js';

const KEY_STORAGE = 'agent-track:dashboard-api-key';
const PAGE_SIZE = 50;
const MAX_LIMIT = 200;
const REFRESH_MS = 5000;


const EMPTY_FILTERS = { q: '', status: '', outcome: '', issue: '', agentId: '', visitorId: '', since: '', until: '' };

/** Issue types as the API names them, with a short human name. */
const ISSUE_NAMES = {
  negative_feedback: 'negative feedback',
  rage_prompt: 'rage prompt',
  unanswered_prompt: 'unanswered prompt',
  slow_response: 'slow response',
  fallback_answer: 'fallback answer',
  repeated_answer: 'repeated answer',
  frustration: 'frustration',
};
const issueName = (t) => ISSUE_NAMES[t] || String(t);

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

/** A small "name value" pair in a message's meta line. */
const fact = (name, value) => el('span', { className: 'fact' }, [el('span', { className: 'fact-name', text: name }), ` ${value}`]);

const chip = (text, className = '') => el('span', { className: `chip ${className}`.trim(), text });

// ---------- state ----------

const state = {
  key: null,
  filters: { ...EMPTY_FILTERS },
  issuesJson: '', // the issues report as last rendered
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
  text('error-text', message);
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
      // Every error answer is {requestId, code, message} (docs/PROTOCOL.md 1.7).
      detail = [body.message, body.requestId].filter(Boolean).join('; ');
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
  text('key-message', message);
  $('key-message').className = message ? 'small banner' : 'small';
  text('updated', '');
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

/** The parameters of the conversation list. */
function filterParams() {
  const f = state.filters;
  return {
    agentId: f.agentId,
    visitorId: f.visitorId,
    since: dateToMs(f.since, false),
    until: dateToMs(f.until, true),
    q: f.q,
    status: f.status,
    outcome: f.outcome,
    issue: f.issue,
  };
}

/** The parameters of the aggregates (stats, issues): agent and window only. */
function aggregateParams() {
  const p = filterParams();
  return { agentId: p.agentId, since: p.since, until: p.until };
}

function readFiltersFromUrl() {
  const q = new URLSearchParams(location.search);
  for (const k of Object.keys(state.filters)) state.filters[k] = q.get(k) || '';
  writeFilterInputs();
}

function writeFilterInputs() {
  $('f-q').value = state.filters.q;
  $('f-status').value = state.filters.status;
  $('f-outcome').value = state.filters.outcome;
  $('f-issue').value = state.filters.issue;
  $('f-agent').value = state.filters.agentId;
  $('f-visitor').value = state.filters.visitorId;
  $('f-since').value = state.filters.since;
  $('f-until').value = state.filters.until;
}

function applyFilters() {
  state.filters = {
    q: $('f-q').value.trim(),
    status: $('f-status').value,
    outcome: $('f-outcome').value,
    issue: $('f-issue').value,
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
for (const id of ['f-status', 'f-outcome', 'f-issue']) $(id).addEventListener('change', applyFilters);

/** Lists the conversations with issue `type` (from the Issues view). */
function filterByIssue(type) {
  $('f-issue').value = state.filters.issue === type ? '' : type;
  applyFilters();
  $('conv-list').scrollIntoView({ block: 'nearest' });
}

$('filter-reset').addEventListener('click', () => {
  state.filters = { ...EMPTY_FILTERS };
  writeFilterInputs();
  applyFilters();
});

// ---------- stats and charts ----------

async function loadStats(generation) {
  const res = await api('/api/v1/stats', { params: aggregateParams() });
  const stats = await res.json();
  if (generation !== state.generation) return;
  const json = JSON.stringify(stats);
  if (json === state.statsJson) return; // unchanged: keep the charts (and any open tooltip) as they are
  state.statsJson = json;
  renderStats(stats);
}

function setStat(id, value, raw) {
  const node = text(id, value);
  node.dataset.value = String(raw);
}

function renderStats(s) {
  const reactions = s.reactions || {};
  const tokens = s.tokens || {};
  const pos = n(reactions.positive);
  const neg = n(reactions.negative);
  const tin = n(tokens.input);
  const tout = n(tokens.output);

  setStat('stat-conversations', fmtWhole(s.conversations), n(s.conversations));
  text('sub-conversations', state.filters.visitorId ? 'all visitors (stats have no visitor filter)' : state.filters.agentId ? `agent ${state.filters.agentId}` : 'all agents');
  setStat('stat-messages', fmtWhole(s.messages), n(s.messages));
  text('sub-messages', `${fmtWhole(s.prompts)} prompts · ${fmtWhole(s.responses)} answers`);
  setStat('stat-positive-rate', pos + neg ? fmtRate(s.positiveRate) : '–', s.positiveRate ?? '');
  clear('sub-positive', 
    icon('thumb-up', { label: 'positive' }),
    ` ${fmtWhole(pos)} · `,
    icon('thumb-down', { label: 'negative' }),
    ` ${fmtWhole(neg)} · ${fmtRate(s.reactionRate)} rated`,
  );
  setStat('stat-tokens', compact.format(tin + tout), tin + tout);
  text('sub-tokens', `${compact.format(tin)} in · ${compact.format(tout)} out`);
  $('stat-tokens').title = `${fmtWhole(tin)} input + ${fmtWhole(tout)} output tokens`;

  const days = fillDays(s.perDay);
  const totalConversations = days.reduce((sum, d) => sum + n(d.conversations), 0);
  clear('chart-per-day', 
    barChart({
      days,
      series: [{ key: 'conversations', label: 'conversations', color: 'var(--chart-1)' }],
      label: `Conversations per day: ${totalConversations} over ${days.length} day${days.length === 1 ? '' : 's'}`,
    }),
  );
  $('chart-per-day').dataset.days = String(days.length);
  clear('chart-reactions', 
    shareChart({
      days,
      series: [
        { key: 'positive', label: 'positive', color: 'var(--pos)' },
        { key: 'negative', label: 'negative', color: 'var(--neg)' },
      ],
      label: `Positive versus negative reactions per day: ${pos} positive, ${neg} negative`,
    }),
  );
  clear('chart-tokens', 
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

// ---------- issues ----------

async function loadIssues(generation) {
  const res = await api('/api/v1/issues', { params: aggregateParams() });
  const report = await res.json();
  if (generation !== state.generation) return;
  const json = JSON.stringify(report);
  if (json === state.issuesJson) return;
  state.issuesJson = json;
  renderIssues(report);
}

function renderIssues(r) {
  const total = n(r.conversations);
  const flagged = n(r.conversationsWithIssues);
  text('issues-summary', `${fmtWhole(flagged)} of ${fmtWhole(total)} conversations (${fmtRate(r.rate)}) have an issue`);
  $('issues-summary').dataset.flagged = String(flagged);
  $('issues-summary').dataset.total = String(total);
  const days = fillDays(r.perDay).map((d) => ({ ...d, percent: Math.round(n(d.rate) * 1000) / 10 }));
  clear('chart-issue-rate', 
    barChart({
      days,
      series: [{ key: 'percent', label: '% of conversations with an issue', color: 'var(--neg)' }],
      label: `Issue rate per day over ${days.length} day${days.length === 1 ? '' : 's'}`,
      format: (v) => `${v}%`,
    }),
  );
  const types = Array.isArray(r.issues) ? r.issues : [];
  const max = Math.max(1, ...types.map((t) => n(t.conversations)));
  clear('issue-types', 
    ...types.map((t) => {
      const count = n(t.conversations);
      const active = state.filters.issue === t.type;
      const bar = el('span', { className: 'issue-bar' }, [el('span', { className: `issue-bar-fill w${Math.round((count / max) * 10) * 10}` })]);
      return el('li', {}, [
        el(
          'button',
          {
            type: 'button',
            className: `issue-type${active ? ' is-active' : ''}${count ? '' : ' is-zero'}`,
            dataset: { testid: 'issue-type', type: t.type, count: String(count) },
            'aria-pressed': active ? 'true' : 'false',
            title: count ? `List the ${count} conversation${count === 1 ? '' : 's'} with ${issueName(t.type)}` : `No ${issueName(t.type)}`,
            onclick: () => filterByIssue(t.type),
          },
          [
            el('span', { className: 'issue-name', text: issueName(t.type) }),
            bar,
            el('span', { className: 'issue-count', dataset: { testid: 'issue-count' }, text: fmtWhole(count) }),
            el('span', { className: 'issue-rate muted', text: fmtRate(t.rate) }),
          ],
        ),
      ]);
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
  clear(list, state.rows.map(rowElement));
  $('list-empty').hidden = state.rows.length > 0;
  $('list-foot').hidden = !state.nextCursor;
  text('list-count', `${state.rows.length}${state.nextCursor ? '+' : ''}`);
  if (focusedId) list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus();
}

function rowElement(c) {
  const current = c.id === state.openId;
  const title = (c.title || '').trim() || '(no prompt yet)';
  const button = el(
    'button',
    {
      type: 'button',
      className: 'conv-row',
      dataset: { testid: 'conversation-row', id: c.id },
      'aria-current': current ? 'true' : 'false',
      onclick: () => openConversation(c.id),
    },
    [
      el('span', { className: 'conv-title', text: title, title }),
      el('span', { className: 'conv-meta' }, [
        el('span', { className: 'mono', text: c.visitorId || 'anonymous', title: `visitor ${c.visitorId || ''}` }),
        el('time', { text: fmtWhen(c.lastMessageAt), title: fmtDate(c.lastMessageAt), datetime: Number.isFinite(Number(c.lastMessageAt)) ? new Date(Number(c.lastMessageAt)).toISOString() : null }),
        el('span', { text: `${fmtWhole(c.messageCount)} msg` }),
        el('span', { className: 'reactions' }, [
          el('span', { 'aria-label': `${n(c.positiveReactions)} positive reactions` }, [icon('thumb-up'), ` ${fmtWhole(c.positiveReactions)}`]),
          el('span', { 'aria-label': `${n(c.negativeReactions)} negative reactions` }, [icon('thumb-down'), ` ${fmtWhole(c.negativeReactions)}`]),
        ]),
      ]),
      badges(c),
      c.snippet ? el('span', { className: 'conv-snippet small', dataset: { testid: 'snippet' }, text: c.snippet }) : null,
    ],
  );
  return el('li', {}, [button]);
}

/** The outcome badge and issue chips of a conversation (list row or detail). */
function badges(c) {
  const items = [];
  if (c.status === 'active') items.push(chip('active', 'chip-accent'));
  if (c.outcome) items.push(el('span', { className: `chip outcome outcome-${c.outcome}`, dataset: { testid: 'outcome', value: c.outcome }, text: c.outcome }));
  for (const t of arr(c.issueTypes)) items.push(el('span', { className: 'chip chip-issue', dataset: { testid: 'issue-chip', type: t } }, [icon('flag'), ` ${issueName(t)}`]));
  return items.length ? el('span', { className: 'conv-badges' }, items) : null;
}

$('load-more').addEventListener('click', async () => {
  const btn = $('load-more');
  btn.disabled = true;
  text(btn, 'Loading…');
  try {
    await loadList(state.generation, { more: true });
  } catch (e) {
    report(e);
  } finally {
    btn.disabled = false;
    text(btn, 'Load more');
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
    clear('view', el('p', { className: 'view-placeholder', text: 'Loading conversation…' }));
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
      clear('view', el('p', { className: 'view-placeholder', text: e.message }));
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
  clear('view', el('p', { className: 'view-placeholder', id: 'view-placeholder', text: 'Select a conversation to read its transcript.' }));
  for (const b of document.querySelectorAll('[data-testid="conversation-row"]')) b.setAttribute('aria-current', 'false');
  if (id) document.querySelector(`[data-testid="conversation-row"][data-id="${CSS.escape(id)}"]`)?.focus();
}

function renderMissing(id) {
  clear('view', 
    el('div', { className: 'view-placeholder' }, [
      el('p', { text: `Conversation ${id} no longer exists (it was deleted).` }),
      el('p', {}, [el('button', { type: 'button', className: 'btn btn-sm', text: 'Close', onclick: closeConversation })]),
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
    ['Status', d.status === 'ended' ? `ended · ${d.outcome || '–'}` : d.status || '–'],
    ['Duration', d.durationSeconds != null ? fmtDuration(d.durationSeconds) : '–'],
    ['Id', d.id],
  ];

  const head = el('div', { className: 'view-head' }, [
    el('div', { className: 'view-title-row' }, [
      el('h2', { text: title, id: 'view-title' }),
      el('button', { type: 'button', className: 'btn btn-sm', text: 'Close', 'aria-label': 'Close conversation', dataset: { testid: 'close-conversation' }, onclick: closeConversation }),
    ]),
    el('dl', { className: 'view-facts' }, facts.map(([k, v]) => el('div', {}, [el('dt', { text: k }), el('dd', { text: v ?? '–', className: k === 'Id' || k === 'Visitor' ? 'mono' : '' })]))),
    el('div', { className: 'view-actions' }, [
      el('button', { type: 'button', className: 'btn btn-sm', 'aria-label': 'Download transcript as Markdown', dataset: { testid: 'download-md' }, onclick: (ev) => download(d.id, 'md', ev.currentTarget) }, [icon('download'), ' Markdown']),
      el('button', { type: 'button', className: 'btn btn-sm', 'aria-label': 'Download transcript as JSON', dataset: { testid: 'download-json' }, onclick: (ev) => download(d.id, 'json', ev.currentTarget) }, [icon('download'), ' JSON']),
      el('button', { type: 'button', className: 'btn btn-sm btn-danger', text: 'Delete', 'aria-label': 'Delete conversation', dataset: { testid: 'delete-conversation' }, onclick: () => remove(d.id, title) }),
    ]),
  ]);

  // Issues by message id: a message is highlighted with the reasons of every issue naming it.
  const issues = arr(d.issues);
  const flags = new Map();
  for (const i of issues) {
    for (const id of arr(i.messageIds)) {
      if (!flags.has(id)) flags.set(id, []);
      flags.get(id).push(i);
    }
  }
  const issueList = issues.length
    ? el('div', { className: 'view-issues', dataset: { testid: 'view-issues' } }, [
        el('h3', { className: 'small', text: `${issues.length} issue${issues.length === 1 ? '' : 's'}` }),
        el('ul', {}, issues.map((i) => el('li', { dataset: { testid: 'view-issue', type: i.type } }, [el('span', { className: 'chip chip-issue' }, [icon('flag'), ` ${issueName(i.type)}`]), ` ${i.reason}`]))),
      ])
    : null;

  const list = el(
    'ol',
    { className: 'transcript', 'aria-label': 'Transcript' },
    messages.length ? messages.map((m) => messageElement(m, d, flags)) : [el('li', { className: 'muted', text: 'No messages.' })],
  );

  const root = el('div', { dataset: { testid: 'conversation-view', id: d.id }, 'aria-labelledby': 'view-title' }, [head, issueList, list]);
  clear(view, root);
  scroller.scrollTop = keepScroll;
  list.scrollTop = keepTranscriptScroll;
}

function fmtDuration(seconds) {
  const s = n(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function messageElement(m, d, flags = new Map()) {
  const type = m.type || 'agent_response';
  const isPrompt = type === 'prompt';
  const who = isPrompt ? 'Visitor' : type === 'agent_trace' ? `${d.agentId} · trace` : d.agentId;

  const header = el('div', { className: 't-who' }, [
    el('strong', { text: who }),
    el('time', { text: Number.isFinite(Number(m.timestamp)) ? timeOnly.format(Number(m.timestamp)) : '', title: fmtDate(m.timestamp) }),
    m.suggestedPrompt ? chip('suggested', 'chip-accent') : null,
  ]);

  let body;
  if (type === 'agent_trace') {
    body = el('details', { className: 't-trace' }, [el('summary', { text: 'Trace span' }), el('pre', { text: pretty(m.content) })]);
  } else {
    body = el('div', { className: 'bubble', text: String(m.content ?? '') });
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
  if (details.length) children.push(el('div', { className: 'msg-meta', 'aria-label': 'Details' }, details));

  if (m.reaction && (m.reaction.value === 'positive' || m.reaction.value === 'negative')) {
    const positive = m.reaction.value === 'positive';
    const comments = arr(m.reaction.comments);
    children.push(
      el('div', { className: 't-reaction', dataset: { testid: 'reaction', value: m.reaction.value } }, [
        el('span', {}, [
          el('span', { className: `chip ${positive ? 'chip-pos' : 'chip-neg'}` }, [icon(positive ? 'thumb-up' : 'thumb-down'), positive ? ' Helpful' : ' Not helpful']),
          m.reaction.at ? el('span', { className: 'muted small', text: ` ${fmtDate(m.reaction.at)}` }) : null,
        ]),
        comments.length ? el('ul', { 'aria-label': 'Comments' }, comments.map((c) => el('li', { text: String(c) }))) : null,
      ]),
    );
  }

  if (m.eventProperties && typeof m.eventProperties === 'object' && Object.keys(m.eventProperties).length) {
    children.push(el('details', { className: 't-props' }, [el('summary', { text: 'Event properties' }), el('pre', { text: JSON.stringify(m.eventProperties, null, 2) })]));
  }

  // Issues are keyed by message id; a prompt and its answer may share one, so an issue is
  // shown on the messages of the kinds it is about.
  const own = arr(flags.get(m.messageId)).filter((i) => flagKinds(i.type).includes(type));
  if (own.length) {
    children.push(
      el(
        'ul',
        { className: 't-flags', 'aria-label': 'Issues' },
        own.map((i) => el('li', { dataset: { testid: 'message-flag', type: i.type } }, [icon('flag'), ` ${issueName(i.type)}: ${i.reason}`])),
      ),
    );
  }
  const className = `t-msg${own.length ? ' t-flagged' : ''}`;
  const dataset = { testid: 'transcript-message', type, messageId: m.messageId || '' };
  if (own.length) dataset.flagged = 'true';
  return el('li', { className, dataset }, children);
}

/** The message types an issue type points at. */
function flagKinds(type) {
  switch (type) {
    case 'rage_prompt':
    case 'unanswered_prompt':
    case 'frustration':
      return ['prompt'];
    case 'slow_response':
      return ['prompt', 'agent_response'];
    default:
      return ['agent_response'];
  }
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
    const a = el('a', { href: url, download: `${id.replace(/[^\w.-]+/g, '_')}.${format}` });
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
  text('updated', `Updated ${timeOnly.format(Date.now())}`);
}

async function reloadAll() {
  state.generation += 1;
  const generation = state.generation;
  state.rows = [];
  state.nextCursor = null;
  state.statsJson = '';
  state.issuesJson = '';
  try {
    await Promise.all([loadStats(generation), loadIssues(generation), loadList(generation)]);
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
    await Promise.all([loadStats(generation), loadIssues(generation), loadList(generation)]);
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
