// The demo chat's UI: the conversation on the page (messages, typing dots, 👍/👎 and comments),
// the composer, the status line and the error banner, and the actions the UI and the test
// hooks share (send, react, comment, new conversation). What the agent answers comes from
// `compose` (the scripted agent); every event goes through `tracking` (the tracking glue).

import { $, clear, el, text } from './dom.js';
import { icon } from './icons.js';
import { describeError, newConversationId, newMessageId } from './tracking.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const chip = (content, className = '') => el('span', { className: `chip ${className}`.trim(), text: content });

/** A small "name value" pair in an answer's meta line. */
const fact = (name, value) => el('span', { className: 'fact' }, el('span', { className: 'fact-name', text: name }), ` ${value}`);

function summary(m) {
  return m && { index: m.index, messageId: m.messageId, eventId: m.eventId, content: m.content };
}

/**
 * Wires the chat page to `tracking` (see tracking.js) and `compose` (see agent.js) and returns
 * its actions: send, react, comment, newConversation, conversationId, messages, showError,
 * updateStatus.
 */
export function createChat({ tracking, compose }) {
  const state = {
    conversationId: newConversationId(),
    messages: [], // { role, index, conversationId, messageId, content, eventId, el, reaction, comments, feedback }
    chain: Promise.resolve(),
    file: null, // { name, type } of the file picked for the next prompt
  };

  const messagesEl = $('messages');
  const input = $('chat-input');
  const toggle = $('tracking-toggle');

  // ---------- errors and the status line ----------

  function showError(e, prefix = 'Tracking error') {
    console.warn('[demo]', prefix, e);
    text('error-text', `${prefix}: ${describeError(e)}`);
    $('error').hidden = false;
  }

  function setStatus(stateName, content, title = '') {
    const status = $('status');
    status.dataset.state = stateName;
    status.title = title;
    text('status-text', content);
  }

  function updateStatus() {
    let s;
    try {
      s = tracking.stats();
    } catch (e) {
      setStatus('error', `stats() failed: ${describeError(e)}`);
      return;
    }
    if (!s) return;
    const status = $('status');
    for (const k of ['queued', 'sent', 'rejected', 'dropped', 'retries']) status.dataset[k] = String(s[k]);
    const parts = [`${s.queued} queued`, `${s.sent} sent`];
    if (s.rejected) parts.push(`${s.rejected} rejected`);
    if (s.dropped) parts.push(`${s.dropped} dropped`);
    if (s.retries) parts.push(`${s.retries} retries`);
    let stateName = s.queued > 0 ? 'pending' : 'ok';
    let title = '';
    if (s.lastError && s.queued > 0) {
      stateName = 'error';
      parts.push(`last error: ${s.lastError.code}`);
      title = s.lastError.message;
    }
    if (!toggle.checked) {
      stateName = 'off';
      parts.unshift('Tracking off');
    } else {
      parts.unshift('Tracking');
    }
    setStatus(stateName, parts.join(' · '), title);
  }

  // ---------- rendering ----------

  function scrollToEnd() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function renderConversationLabel() {
    const id = state.conversationId;
    const label = text('conversation-label', id.length > 18 ? `${id.slice(0, 18)}…` : id);
    label.title = id;
    label.dataset.conversationId = id;
  }

  function metaLine({ role, file, suggested, reply }) {
    const items = [];
    if (role === 'user') {
      if (file) items.push(el('span', { className: 'chip' }, icon('document'), ` ${file.name}`));
      if (suggested) items.push(chip('suggested'));
    } else if (reply) {
      if (reply.tools.length) items.push(fact(reply.tools.length > 1 ? 'tools' : 'tool', reply.tools.join(', ')));
      if (reply.subagents.length) items.push(fact('subagent', reply.subagents.join(', ')));
      items.push(fact(reply.models.length > 1 ? 'models' : 'model', reply.models.join(', ')));
      items.push(fact('tokens', `${reply.inputTokens} in, ${reply.outputTokens} out`));
    }
    return items.length ? el('div', { className: 'msg-meta' }, items) : null;
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
    m.el = el(
      'article',
      {
        className: 'msg',
        dataset: { testid: 'message', role, index: String(index), messageId: m.messageId },
        'aria-label': role === 'user' ? 'You said' : 'Acme Support said',
      },
      el('div', { className: 'bubble', dataset: { testid: 'message-text' }, text: content }),
      metaLine({ role, file, suggested, reply }),
      role === 'agent' ? buildFeedback(m) : null,
    );
    state.messages.push(m);
    messagesEl.append(m.el);
    scrollToEnd();
    return m;
  }

  function thumb(m, value, testid, label, iconName) {
    return el(
      'button',
      {
        type: 'button',
        className: 'thumb',
        dataset: { testid, value },
        'aria-label': label,
        title: label,
        'aria-pressed': 'false',
        onclick: () => react(m.index, value).catch((e) => showError(e, 'Reaction failed')),
      },
      icon(iconName),
    );
  }

  function buildFeedback(m) {
    const up = thumb(m, 'positive', 'thumb-up', 'Helpful', 'thumb-up');
    const down = thumb(m, 'negative', 'thumb-down', 'Not helpful', 'thumb-down');
    const commentInput = el('input', {
      type: 'text',
      maxlength: 500,
      dataset: { testid: 'comment-input' },
      placeholder: 'Tell us more (optional)',
      'aria-label': 'Comment on this answer',
    });
    const form = el(
      'form',
      {
        className: 'comment-form',
        hidden: true,
        onsubmit: (ev) => {
          ev.preventDefault();
          const t = commentInput.value.trim();
          if (!t) {
            commentInput.focus();
            return;
          }
          commentInput.value = '';
          comment(m.index, t).catch((e) => showError(e, 'Comment failed'));
        },
      },
      commentInput,
      el('button', { type: 'submit', className: 'btn btn-sm', dataset: { testid: 'comment-send' }, 'aria-label': 'Send comment', text: 'Send' }),
    );
    const list = el('ul', { className: 'comment-list', 'aria-label': 'Your comments' });
    m.feedback = { up, down, form, commentInput, list };
    return el(
      'div',
      { className: 'feedback-wrap' },
      el('div', { className: 'feedback', role: 'group', 'aria-label': 'Rate this answer' }, up, down, form),
      list,
    );
  }

  function renderFeedback(m) {
    const { up, down, form, list } = m.feedback;
    up.setAttribute('aria-pressed', String(m.reaction === 'positive'));
    down.setAttribute('aria-pressed', String(m.reaction === 'negative'));
    form.hidden = !m.reaction;
    m.el.dataset.reaction = m.reaction || '';
    clear(list, m.comments.map((c) => el('li', { text: c })));
  }

  let typingEl = null;
  function showTyping() {
    typingEl = el(
      'div',
      { className: 'msg typing', dataset: { role: 'agent', testid: 'typing' }, 'aria-label': 'Acme Support is typing' },
      el('div', { className: 'bubble' }, [0, 1, 2].map(() => el('span', { className: 'dot' }))),
    );
    messagesEl.append(typingEl);
    scrollToEnd();
  }
  function hideTyping() {
    typingEl?.remove();
    typingEl = null;
  }

  // ---------- actions (the UI and window.demo share these) ----------

  /**
   * Sends a prompt and waits for the agent's answer. Sends run one after another.
   * Resolves { conversationId, prompt, response } (each { index, messageId, eventId, content }).
   */
  function send(content, { suggested = false, file = null } = {}) {
    const job = state.chain.then(() => doSend(String(content ?? ''), suggested, file));
    state.chain = job.catch(() => {});
    return job;
  }

  async function doSend(rawText, suggested, file) {
    const t = rawText.trim();
    if (!t && !file) throw new Error('Nothing to send: type a message or attach a file');
    const content = t || `(attached ${file.name})`;
    const conversationId = state.conversationId;

    const prompt = addMessage({ role: 'user', content, file, suggested });
    prompt.eventId = await tracking.prompt({ conversationId, messageId: prompt.messageId, content, suggested, file });

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
    answer.eventId = await tracking.response({ conversationId, messageId: answer.messageId, reply });
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
    const eventId = await tracking.reaction({ conversationId: m.conversationId, messageId: m.messageId, content });
    return { content, eventId };
  }

  /** A comment on the current 👍/👎 of the answer at `index` (react first). */
  async function comment(index, commentText) {
    const m = agentMessageAt(index);
    const t = String(commentText ?? '').trim();
    if (!t) throw new Error('The comment is empty');
    if (!m.reaction) throw new Error('React with 👍 or 👎 before commenting');
    m.comments.push(t);
    renderFeedback(m);
    const eventId = await tracking.reaction({
      conversationId: m.conversationId,
      messageId: m.messageId,
      content: m.reaction,
      comments: m.comments,
    });
    return { content: m.reaction, comments: [...m.comments], eventId };
  }

  function newConversation() {
    state.conversationId = newConversationId();
    state.messages = [];
    hideTyping();
    for (const node of [...messagesEl.querySelectorAll('.msg')]) node.remove();
    $('empty-state').hidden = false;
    renderConversationLabel();
    return state.conversationId;
  }

  // ---------- events ----------

  function setFile(file) {
    state.file = file;
    $('attachment').hidden = !file;
    text('attachment-name', file ? file.name : '');
    if (!file) $('attach').value = '';
  }

  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight + 2, 128)}px`;
  }

  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = input.value;
    const file = state.file;
    if (!value.trim() && !file) {
      input.focus();
      return;
    }
    input.value = '';
    autosize();
    setFile(null);
    send(value, { file }).catch((e) => showError(e, 'Send failed'));
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

  toggle.checked = !tracking.optedOut();
  toggle.addEventListener('change', async () => {
    try {
      await tracking.setOptedOut(!toggle.checked);
    } catch (e) {
      showError(e);
    }
    updateStatus();
  });

  text('visitor-label', tracking.visitorId);
  renderConversationLabel();
  setInterval(updateStatus, 1000);

  tracking.ready.catch((e) => {
    showError(e, 'agent-track did not load');
    setStatus('error', 'Tracking unavailable: agent-track did not load');
  });

  return {
    send,
    react,
    comment,
    newConversation,
    conversationId: () => state.conversationId,
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
    showError,
    updateStatus,
  };
}
