// Acme Support, the demo's scripted agent: pure and deterministic. Given a prompt (and an
// attached file) and the conversation so far, it says what the agent answers, which tools,
// models and subagents it uses, its token counts and issue behaviours (an error, a slow answer,
// no answer). No DOM, no tracking, no model and no network.

/** How long the agent "types" before an ordinary answer. */
export const TYPING_MS = 400;
const SYSTEM_PROMPT_TOKENS = 180;
const TOOL_CALL_TOKENS = 45;

/** The "slow" demo answer is stamped this long after its prompt (slow_response: > 30 s). */
export const SLOW_MS = 31_000;

/** Deterministic token estimate: about four UTF-8 bytes per token. */
export function tokenCount(text) {
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
export function compose(text, file, history) {
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
