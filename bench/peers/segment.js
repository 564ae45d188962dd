// @segment/analytics-next: settings given inline (no fetch of cdn.segment.com), events to the
// loopback server; default delivery (one request per event).
import { AnalyticsBrowser } from '@segment/analytics-next';

let analytics;
export default {
  async init({ server }) {
    const host = server.replace(/^https?:\/\//, '');
    const [instance] = await AnalyticsBrowser.load(
      { writeKey: 'benchWriteKey', cdnURL: `${server}/ingest/segment-cdn`,
        cdnSettings: { integrations: { 'Segment.io': { apiKey: 'benchWriteKey', apiHost: `${host}/ingest/segment/v1`, protocol: 'http' } },
          plan: {}, edgeFunction: {}, analyticsNextEnabled: true, middlewareSettings: {}, enabledMiddleware: {}, metrics: { sampleRate: 0 }, legacyVideoPluginsEnabled: false, remotePlugins: [] } },
      { initialPageview: false, integrations: { 'Segment.io': { apiHost: `${host}/ingest/segment/v1`, protocol: 'http' } } },
    );
    analytics = instance;
  },
  track: (type, properties, custom) => { analytics.track(type, { ...properties, ...custom }); },
  // Unknown: offline, the Segment.io destination buffers events in a queue of its own that
  // is not exposed (analytics.queue only holds events waiting for the plugin pipeline).
  queued: () => null,
};
