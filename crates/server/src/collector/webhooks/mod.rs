//! Outbound webhooks: Standard Webhooks v1-signed POSTs to the `--webhook-url`s when a
//! conversation ends (`conversation.ended`), gains an issue type (`conversation.flagged`) or
//! receives a negative reaction (`reaction.negative`).
//!
//! # Design: a transactional outbox
//!
//! - [`events`] builds an event's body; the write path calls it **in the transaction that
//!   causes the event** ([`crate::collector::analysis::storage::refresh`] for the verdicts,
//!   [`crate::collector::store`] for reactions), and [`storage::enqueue`] inserts one outbox
//!   row per configured URL. A rolled-back change sends nothing; a committed one is on disk
//!   before anything is sent. Without a URL nothing is written.
//! - [`deliver`] is the worker: it claims due rows **in the database** with a lease
//!   (`lease_until`), never in process memory, so several collectors can share one database
//!   and a lease held by a process that died simply expires. Each row keeps its
//!   `webhook-id` and its exact body across every retry.
//! - Ordering: a row is not attempted while an older row of the same (URL, conversation) is
//!   still pending.
//! - Finality: 2xx delivered; 4xx other than 408/429 final (`failed`, status and a body
//!   excerpt recorded); anything else retried with exponential backoff and jitter until
//!   [`RetryPolicy::horizon`] after the event, then `failed`.
//! - Content: the body (which holds reaction comments and issue reasons) is cleared when a
//!   row becomes delivered or failed; deleting a conversation deletes all of its rows.
//! - [`api`]: `GET /api/v1/webhooks/deliveries`.
//!
//! All SQL is in [`storage`] (the boundary a second backend reimplements).

pub mod api;
pub mod deliver;
pub mod events;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use crate::secret::Secrets;

/// When and how deliveries are retried. The defaults are the documented contract; tests
/// shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; doubled after each further one.
    pub first_backoff: Duration,
    /// The longest wait between two attempts (a `Retry-After` is honoured up to this).
    pub max_backoff: Duration,
    /// How long after the event attempts go on; then the row is final `failed`.
    pub horizon: Duration,
    /// Time for one request, connection to the last byte of the answer.
    pub request_timeout: Duration,
    /// How long a claimed row stays reserved to the process that claimed it; longer than
    /// [`RetryPolicy::request_timeout`]. A process that dies holds its rows this long.
    pub lease: Duration,
    /// How often the worker looks for due rows when it has nothing to do.
    pub poll_interval: Duration,
    /// Requests in flight at once (per collector process).
    pub concurrency: usize,
    /// How long delivered and failed rows (content-free) stay listed before they are pruned.
    pub keep_final: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            horizon: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            concurrency: 4,
            keep_final: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// The outbound webhook configuration of a collector.
#[derive(Clone, Default)]
pub struct WebhookConfig {
    /// Receivers; each event goes to every one. Empty: no webhooks, nothing is queued.
    pub urls: Vec<String>,
    /// The `whsec_` secrets that sign (`AGENT_TRACK_WEBHOOK_SECRET`): the first signs, and
    /// every one adds a `v1,` signature during a rotation. Required with any URL.
    pub secrets: Option<Secrets>,
    /// Retries and limits.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field(
                "urls",
                &self.urls.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("secrets", &self.secrets)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Why a webhook configuration was refused. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookConfigError {
    /// URL number `n` (1-based) is not an absolute http(s) URL.
    #[error("--webhook-url #{0} must be an absolute http:// or https:// URL with a host")]
    Url(usize),
    /// URLs without a secret.
    #[error("--webhook-url needs a signing secret: set AGENT_TRACK_WEBHOOK_SECRET (or --webhook-secret-file) to a whsec_ secret, distinct from AGENT_TRACK_SECRET")]
    NoSecret,
    /// A webhook secret is also an ingest secret: every receiver could sign deliveries to
    /// `POST /v1/ingest`.
    #[error("AGENT_TRACK_WEBHOOK_SECRET must differ from every AGENT_TRACK_SECRET: a webhook receiver holds it and could otherwise sign deliveries to the collector")]
    SameSecret,
}

impl WebhookConfig {
    /// Checks every URL (absolute `http`/`https` with a host, no whitespace) and that there
    /// is a secret when there is a URL.
    pub fn validate(&self) -> Result<(), WebhookConfigError> {
        for (i, url) in self.urls.iter().enumerate() {
            if !valid_url(url) {
                return Err(WebhookConfigError::Url(i + 1));
            }
        }
        if !self.urls.is_empty() && self.secrets.is_none() {
            return Err(WebhookConfigError::NoSecret);
        }
        Ok(())
    }

    /// The targets the write path queues events for.
    pub fn targets(&self) -> Targets {
        Targets(Arc::from(self.urls.clone()))
    }
}

/// Whether `url` is an absolute `http`/`https` URL with a host and nothing reqwest refuses.
pub fn valid_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    !host.is_empty() && !host.starts_with(':') && reqwest::Url::parse(url).is_ok()
}

/// `url` for logs and the deliveries view: its origin and a short hash, never its user
/// information, path or query, where receivers put tokens ([`crate::redact::url`]).
pub fn redact(url: &str) -> String {
    crate::redact::url(url)
}

/// The URLs events are queued for, shared cheaply with the write path. Empty: none.
#[derive(Debug, Clone, Default)]
pub struct Targets(Arc<[String]>);

impl Targets {
    /// No webhooks.
    pub fn none() -> Targets {
        Targets::default()
    }

    /// Whether events are queued at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URLs.
    pub fn urls(&self) -> &[String] {
        &self.0
    }
}

/// The event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A conversation's verdict went from not ended (or none) to ended.
    ConversationEnded,
    /// An issue type appeared on a conversation.
    ConversationFlagged,
    /// A negative reaction became a message's current reaction.
    ReactionNegative,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 3] = [
        EventType::ConversationEnded,
        EventType::ConversationFlagged,
        EventType::ReactionNegative,
    ];

    /// The wire name (`type` of the body).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConversationEnded => "conversation.ended",
            EventType::ConversationFlagged => "conversation.flagged",
            EventType::ReactionNegative => "reaction.negative",
        }
    }

    /// The type of a wire name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "https://example.com",
            "https://user:pw@example.com/x?token=1",
        ] {
            assert!(valid_url(ok), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "example.com/hook",
            "http://",
            "http:///path",
            "https://exa mple.com",
            "",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
    }

    #[test]
    fn a_url_needs_a_secret() {
        let mut c = WebhookConfig {
            urls: vec!["http://127.0.0.1:1/x".into()],
            ..WebhookConfig::default()
        };
        assert_eq!(c.validate(), Err(WebhookConfigError::NoSecret));
        c.secrets = Some(Secrets::parse(&Secrets::generate()).unwrap());
        assert_eq!(c.validate(), Ok(()));
        c.urls.push("mailto:x@example.com".into());
        assert_eq!(c.validate(), Err(WebhookConfigError::Url(2)));
    }

    #[test]
    fn redaction_drops_credentials_paths_and_queries() {
        let shown = redact("https://user:pw@example.com:8443/hooks/a?token=s3cret#f");
        assert!(shown.starts_with("https://example.com:8443/…#"), "{shown}");
        assert!(!shown.contains("pw") && !shown.contains("s3cret") && !shown.contains("hooks"));
        assert_eq!(redact("http://host"), "http://host");
    }

    #[test]
    fn event_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("conversation.started"), None);
    }
}
