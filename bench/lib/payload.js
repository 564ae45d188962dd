// The events every SDK tracks, in the same order (bench/sdk.html for the comparison,
// bench/track-cost.html for agent-track alone): conversations of prompts and agent answers
// rotated from bench/lib/conversations.js, so that no two neighbouring events repeat their
// text and compression is measured on distinct content. Event `i` is a prompt when `i` is even
// and the agent's answer to it when odd; conversation ids, tools, models and token counts
// follow the turn. `tag` makes the message ids of one run unique (`msg-<tag>-<i>`), so the
// loopback server can count what arrived.
import { AGENTS, TURNS } from './conversations.js';

// Conversation lengths in turns, cycled; a conversation also ends where the agent changes.
const LENGTHS = [3, 1, 4, 2, 5, 2, 3, 1, 6];
const PLANS = ['free', 'pro', 'business', 'pro'];

// Per turn of one rotation: its conversation (index within the rotation) and position in it.
const SHAPE = [];
{
  let conv = 0, pos = 0, cut = 0;
  TURNS.forEach(([agent], k) => {
    if (k > 0 && (agent !== TURNS[k - 1][0] || pos === LENGTHS[cut % LENGTHS.length])) { conv++; pos = 0; cut++; }
    SHAPE.push({ conv, pos });
    pos++;
  });
}
const CONVS_PER_ROTATION = SHAPE[SHAPE.length - 1].conv + 1;

// A conversation id as an app would mint it: 8 hex digits, scattered by a multiplicative hash.
const conversationId = (c) => 'conv-' + (Math.imul(c + 1, 2654435761) >>> 0).toString(16).padStart(8, '0');

/** Event `i` of the sequence: `{ type, properties, custom }` (fresh objects on every call). */
export function event(tag, i) {
  const t = i >> 1, k = t % TURNS.length;
  const [agentId, toolIdx, prompt, answer] = TURNS[k];
  const { conv, pos } = SHAPE[k];
  const c = Math.floor(t / TURNS.length) * CONVS_PER_ROTATION + conv;
  const properties = { agentId, conversationId: conversationId(c), messageId: `msg-${tag}-${i}`, content: prompt };
  const custom = { experiment: c % 2 ? 'b' : 'a', plan: PLANS[c % PLANS.length] };
  if ((i & 1) === 0) return { type: 'prompt', properties, custom };
  const agent = AGENTS[agentId];
  properties.content = answer;
  if (toolIdx.length) properties.toolsUsed = toolIdx.map((x) => agent.tools[x]);
  properties.agentModelsUsed = agent.models;
  // Input: system prompt, the conversation so far, the prompt and any tool results.
  properties.agentInputTokenCount = 420 + 260 * pos + Math.ceil(prompt.length / 4) + 350 * toolIdx.length;
  properties.agentOutputTokenCount = Math.ceil(answer.length / 3.7);
  return { type: 'agent_response', properties, custom };
}

/** What the sequence is made of, for the report: distinct texts and their lengths. */
export function describe() {
  const len = (xs) => ({ min: Math.min(...xs), max: Math.max(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length });
  const utf8 = (s) => new TextEncoder().encode(s).length;
  return {
    turns: TURNS.length, conversationsPerRotation: CONVS_PER_ROTATION,
    prompts: new Set(TURNS.map((x) => x[2])).size, answers: new Set(TURNS.map((x) => x[3])).size,
    promptChars: len(TURNS.map((x) => x[2].length)), answerChars: len(TURNS.map((x) => x[3].length)),
    nonAscii: TURNS.filter((x) => utf8(x[2] + x[3]) !== (x[2] + x[3]).length).length,
  };
}
