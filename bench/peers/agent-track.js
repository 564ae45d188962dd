// agent-track: the wasm module with its wasm-bindgen glue (pkg/), as a site loads it.
import init, { configure, trackAgent, flush, stats } from '../../pkg/agent_track.js';

export default {
  async init({ server, wasmUrl }) {
    await init({ module_or_path: wasmUrl });
    configure({ endpoint: `${server}/ingest/agent-track/v1/events`, visitorId: 'visitor-8f3a2c', accountId: 'acme-corp' });
  },
  track: (type, properties, custom) => trackAgent(type, properties, custom),
  flush: () => flush().catch(() => null),
  queued: () => stats().queued,
  stats: () => stats(),
};
