//! [`ProxyConfig`]: every option of the proxy, with its default.

use std::net::IpAddr;
use std::time::Duration;

use agent_track_schema::limits::MAX_BATCH_BYTES;

use crate::secret::Secrets;

/// Where and how the proxy relays. Each mode holds a list of URLs (at least one): batches
/// are spread over it round-robin, and an attempt that fails with a connection error, a
/// timeout or a 5xx goes on to the next URL (see [`super::upstream::with_retries`]).
#[derive(Clone, Debug)]
pub enum Upstream {
    /// Standard Webhooks: one signed POST per batch to one of `urls` (default: the collector
    /// at `http://127.0.0.1:8788/v1/ingest`).
    Webhook {
        /// The receivers' URLs, in round-robin order.
        urls: Vec<String>,
        /// Signing secrets: the first signs, each adds a signature (rotation).
        secrets: Secrets,
    },
    /// Pendo: one POST per event to one of `urls` (default
    /// `https://data.pendo.io/data/agentic`, or the host of `--pendo-region`) with
    /// `x-pendo-integration-key`.
    Pendo {
        /// The endpoint URLs, in round-robin order.
        urls: Vec<String>,
        /// The Track Event shared secret. Never logged (Debug is redacted).
        key: PendoKey,
        /// Events sent at once per batch. Default 8.
        concurrency: usize,
    },
}

impl Upstream {
    /// The URLs, in round-robin order.
    pub fn urls(&self) -> &[String] {
        match self {
            Upstream::Webhook { urls, .. } | Upstream::Pendo { urls, .. } => urls,
        }
    }
}

/// Parses a `--upstream` value: one or more comma-separated `http://` or `https://` URLs with
/// a host. Blanks around commas are ignored; an empty entry, another scheme or a URL that does
/// not parse is an error naming it (at most 200 characters of it) and saying what is allowed.
pub fn parse_upstreams(list: &str) -> Result<Vec<String>, String> {
    let mut urls = Vec::new();
    for (i, entry) in list.split(',').map(str::trim).enumerate() {
        // Named by position, never echoed: a URL may hold a credential.
        let shown = format!("entry {}", i + 1);
        if entry.is_empty() {
            return Err(format!(
                "--upstream entry {} is empty; give one or more comma-separated http:// or https:// URLs",
                i + 1
            ));
        }
        let url = reqwest::Url::parse(entry).map_err(|e| {
            format!("--upstream {shown} is not a URL ({e}); give http:// or https:// URLs")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "--upstream {shown} has the scheme {:?}; only http:// and https:// are allowed",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("--upstream {shown} has no host"));
        }
        urls.push(entry.to_string());
    }
    Ok(urls)
}

/// `url` for a metrics label and the log: its origin and a short hash, never its user
/// information, path or query ([`crate::redact::url`]).
pub fn url_label(url: &str) -> String {
    crate::redact::url(url)
}

/// Pendo's Track Event shared secret.
#[derive(Clone)]
pub struct PendoKey(pub String);

impl std::fmt::Debug for PendoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendoKey(redacted)")
    }
}

/// The proxy's options.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where batches go.
    pub upstream: Upstream,
    /// Origins allowed to post (exact `scheme://host[:port]`). Default: none, so only
    /// requests without an `Origin` header (same-origin tools, servers) are accepted; `*`
    /// allows every origin.
    pub allowed_origins: Vec<String>,
    /// Largest request body, compressed or not. Default 512 KB (the batch limit).
    pub max_body_bytes: usize,
    /// Requests per minute per client address. Default 600.
    pub rate_per_minute: u32,
    /// Burst above the steady rate. Default 60.
    pub rate_burst: u32,
    /// Events per minute per client address (every event of a batch counts). Default 6000
    /// (the command line's default: 10 x `rate_per_minute`).
    pub event_rate_per_minute: u32,
    /// Burst of events above the steady rate. Default 1200 (the command line's default: the
    /// larger of 1000 and 20 x `rate_burst`).
    pub event_rate_burst: u32,
    /// Proxies whose `X-Forwarded-For` and identity headers are believed (the app's load
    /// balancer, its auth layer). Compared canonically (`::ffff:10.0.0.5` is `10.0.0.5`).
    /// Default: none, so the socket's peer address is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Header set by the app's auth layer carrying the visitor id, believed only from a
    /// trusted proxy. When set, the browser's `visitorId` is never used: an event whose
    /// request lacks it (or did not come from a trusted proxy) is rejected with
    /// `missing_visitor_header`. Default: none.
    pub visitor_header: Option<String>,
    /// Same for the account id, except that without it the event is relayed without an
    /// account (never with the browser's). Default: none.
    pub account_header: Option<String>,
    /// Whether to forward the client IP upstream. Default false.
    pub forward_ip: bool,
    /// Total time for relaying one batch upstream, retries included. Default 10 s.
    pub upstream_deadline: Duration,
    /// Attempts per batch within the deadline. Default 3.
    pub upstream_attempts: u32,
    /// Worker threads serving the connections, each with its own upstream connections
    /// ([`crate::workers`]). Default 1; the command line's default is one per CPU.
    pub workers: usize,
}

impl ProxyConfig {
    /// Defaults around `upstream`.
    pub fn new(upstream: Upstream) -> Self {
        ProxyConfig {
            upstream,
            allowed_origins: Vec::new(),
            max_body_bytes: MAX_BATCH_BYTES,
            rate_per_minute: 600,
            rate_burst: 60,
            event_rate_per_minute: 6_000,
            event_rate_burst: 1_200,
            trusted_proxies: Vec::new(),
            visitor_header: None,
            account_header: None,
            forward_ip: false,
            upstream_deadline: Duration::from_secs(10),
            upstream_attempts: 3,
            workers: 1,
        }
    }
}
