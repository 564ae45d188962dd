//! The first-party proxy: the browser posts batches here; it re-validates them with the
//! schema crate, enriches them, and relays them upstream signed with the shared secret,
//! answering 200 only once upstream accepted.
//!
//! - [`config`]: [`ProxyConfig`], every option and its default.
//! - [`events`]: `POST /v1/events`.
//! - [`batch`]: the body's contract version; v2 events expanded to the v1 shape (pure).
//! - [`plain`]: the fast reading of plain bodies in place, without a `Value` tree (pure).
//! - [`enrich`]: normalization before relaying (pure).
//! - [`client`]: the client's address behind trusted proxies (pure).
//! - [`rate_limit`]: a token bucket per client.
//! - [`cors`]: the origin allowlist and CORS headers on every response.
//! - [`upstream`]: Standard Webhooks and Pendo relays with bounded retries.
//! - [`metrics`]: Prometheus counters at `/metrics`.

pub mod batch;
pub mod client;
pub mod config;
pub mod cors;
pub mod enrich;
pub mod events;
pub mod metrics;
pub mod plain;
pub mod rate_limit;
pub mod upstream;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

pub use config::{ProxyConfig, Upstream};
use metrics::Metrics;
use rate_limit::RateLimiter;

/// The proxy's shared state.
pub struct ProxyState {
    /// Options.
    pub config: ProxyConfig,
    /// The upstream HTTP clients (connection pools), one per worker (`config.workers`), so
    /// that a worker's requests go out on connections driven by that worker's own thread.
    clients: Vec<reqwest::Client>,
    /// Per-client rate limiting of requests.
    pub limiter: RateLimiter,
    /// Per-client rate limiting of events (each event of a batch is a token).
    pub event_limiter: RateLimiter,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The round-robin position in the upstream list: each batch starts at the next URL.
    pub next_upstream: AtomicUsize,
    /// The upstream URLs parsed once (`None`: not a URL; the request then fails as before).
    upstream_urls: Vec<Option<reqwest::Url>>,
}

impl ProxyState {
    /// State for `config`. The upstream client never follows redirects (the Pendo key and
    /// the webhook headers would go along to wherever a `307` points). Inside a Tokio
    /// runtime, a timer prunes the rate limiters every [`rate_limit::PRUNE_EVERY_MS`] for as
    /// long as the state lives.
    pub fn new(config: ProxyConfig) -> Arc<ProxyState> {
        let client = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .pool_max_idle_per_host(64)
                // Below the servers' idle timeout (60 s by default), so that a pooled
                // connection is dropped here before the receiver closes it under a new request.
                .pool_idle_timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client builds with static settings")
        };
        let limiter = RateLimiter::new(config.rate_per_minute, config.rate_burst);
        let event_limiter = RateLimiter::new(config.event_rate_per_minute, config.event_rate_burst);
        let state = Arc::new(ProxyState {
            clients: (0..config.workers.max(1)).map(|_| client()).collect(),
            limiter,
            event_limiter,
            metrics: Metrics::new(config.upstream.urls().iter().map(|u| config::url_label(u))),
            next_upstream: AtomicUsize::new(0),
            upstream_urls: config
                .upstream
                .urls()
                .iter()
                .map(|u| reqwest::Url::parse(u).ok())
                .collect(),
            config,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&state);
            runtime.spawn(async move {
                let every = Duration::from_millis(rate_limit::PRUNE_EVERY_MS);
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    let Some(state) = weak.upgrade() else { return };
                    let now = crate::error::now_ms();
                    state.limiter.prune(now);
                    state.event_limiter.prune(now);
                }
            });
        }
        state
    }
}

impl ProxyState {
    /// A POST to upstream number `index` of the list, its URL parsed once at start, on the
    /// calling worker's client.
    pub(crate) fn post(&self, index: usize) -> reqwest::RequestBuilder {
        let client = &self.clients[crate::workers::current() % self.clients.len()];
        match self.upstream_urls.get(index) {
            Some(Some(url)) => client.post(url.clone()),
            _ => client.post(&self.config.upstream.urls()[index]),
        }
    }
}

/// The proxy's routes: `POST /v1/events` (and its preflight), `GET /metrics`, under CORS
/// and, outside it, the request-id [`crate::error::layer`]. `/healthz` is
/// added by the runner.
pub fn app(state: Arc<ProxyState>) -> Router {
    Router::new()
        .route("/v1/events", post(events::post_events).options(|| async {}))
        .route(
            "/metrics",
            get(
                |axum::extract::State(s): axum::extract::State<Arc<ProxyState>>| async move {
                    s.metrics.render()
                },
            ),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::layer,
        ))
        .layer(axum::middleware::from_fn(crate::error::layer))
        .with_state(state)
}
