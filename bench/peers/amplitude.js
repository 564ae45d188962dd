// @amplitude/analytics-browser: autocapture and remote config off; events to the loopback server.
import * as amplitude from '@amplitude/analytics-browser';

export default {
  async init({ server }) {
    await amplitude.init('benchApiKey', { serverUrl: `${server}/ingest/amplitude/2/httpapi`, autocapture: false,
      fetchRemoteConfig: false, remoteConfig: { fetchRemoteConfig: false }, enableDiagnostics: false }).promise;
  },
  track: (type, properties, custom) => { amplitude.track(type, { ...properties, ...custom }); },
  flush: () => amplitude.flush().promise,
};
