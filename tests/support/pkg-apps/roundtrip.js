// The scenario both package tests run in the page, written once and handed the package's
// exports: the plain page passes what it imported from /pkg/agent_track.js, the Vite app what
// it imported from 'agent-track'. Only the public JS API is used.
export function exposeRoundTrip({ init, configure, trackAgent, flush, stats }) {
  window.roundTrip = async (endpoint, bundler) => {
    await init();
    // An hour between timed sends: only the explicit flush() below sends, in one batch.
    configure({ endpoint, visitorId: 'v-pkg', accountId: 'acme', flushIntervalMs: 3_600_000 });

    // A typo must come back as an AgentTrackError across the wasm boundary.
    let invalid = null;
    try {
      trackAgent('promt', { agentId: 'pkg-bot', conversationId: 'c-pkg', messageId: 'm-0', content: 'x' });
    } catch (e) {
      invalid = { isError: e instanceof Error, name: e.name, code: e.code, field: e.field, problems: e.errors.length };
    }

    const promptId = trackAgent('prompt', {
      agentId: 'pkg-bot', conversationId: 'c-pkg', messageId: 'm-1', content: 'Where is my order?',
    }, { bundler });
    const responseId = trackAgent('agent_response', {
      agentId: 'pkg-bot', conversationId: 'c-pkg', messageId: 'm-2', content: 'It ships today.',
      toolsUsed: ['orders.lookup'], agentModelsUsed: ['model-a'], agentOutputTokenCount: 7,
    });
    const flushed = await flush();
    return { promptId, responseId, invalid, flushed, stats: stats() };
  };
}
