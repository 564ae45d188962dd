// mixpanel-browser: autocapture, page views, recording and flags off (their defaults); events to
// the loopback server; default batching (50 events or 5 s).
import mixpanel from 'mixpanel-browser';

export default {
  async init({ server }) {
    await new Promise((loaded) => mixpanel.init('benchToken', { api_host: `${server}/ingest/mixpanel`,
      autocapture: false, track_pageview: false, record_sessions_percent: 0, flags: false, loaded: () => loaded() }));
  },
  track: (type, properties, custom) => { mixpanel.track(type, { ...properties, ...custom }); },
  queued: () => { const q = localStorage.getItem('__mpq_benchToken_ev'); return q ? JSON.parse(q).length : 0; },
};
