// posthog-js: autocapture, page views, session recording, surveys, flags and remote config off;
// events to the loopback server.
import posthog from 'posthog-js';

export default {
  async init({ server, rateLimit = true }) {
    await new Promise((loaded) => posthog.init('phc_bench', {
      api_host: `${server}/ingest/posthog`, autocapture: false, capture_pageview: false, capture_pageleave: false,
      disable_session_recording: true, advanced_disable_flags: true, advanced_disable_decide: true,
      advanced_disable_feature_flags: true, disable_surveys: true, disable_product_tours: true, disable_conversations: true,
      disable_web_experiments: true, disable_external_dependency_loading: true, capture_performance: false,
      capture_heatmaps: false, capture_dead_clicks: false, capture_exceptions: false, rageclick: false,
      // Playwright sets navigator.webdriver, which PostHog takes for a bot and drops every event.
      opt_out_useragent_filter: true,
      // PostHog's client-side rate limit (10 events/s, bursts of 100) would drop most of a
      // 10,000-event run: lifted for the cost runs, default for the delivery run.
      ...(rateLimit ? { rate_limiting: { events_per_second: 1e9, events_burst_limit: 1e9 } } : {}),
      loaded: () => loaded(),
    }));
  },
  track: (type, properties, custom) => { posthog.capture(type, { ...properties, ...custom }); },
  queued: () => posthog._requestQueue?._queue?.length ?? null,
};
