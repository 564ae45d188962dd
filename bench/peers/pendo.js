// @pendo/agent: the self-hosted npm agent, configuration given inline (no fetch of config.json),
// guides and text capture off, data and assets to the loopback server.
import { initialize } from '@pendo/agent';

let pendo;
export default {
  async init({ server }) {
    pendo = await initialize({
      apiKey: '00000000-0000-4000-8000-000000000000', env: 'io',
      config: { disableGuides: true },
      assets: { host: `${server}/ingest/pendo-assets`, path: '', localOnly: true },
      dataHost: `${server}/ingest/pendo`,
      visitor: { id: 'visitor-8f3a2c' }, account: { id: 'acme-corp' },
      disableGuides: true, guides: { disabled: true }, excludeAllText: true, disableFeedback: true,
      preventCodeInjection: true, disableDesigner: true,
    });
  },
  track: (type, properties, custom) => { pendo.trackAgent(type, { ...properties, ...custom }); },
  flush: () => pendo.flushNow(),
};
