//! Optional model insights for ended conversations: a summary, the user's sentiment, whether
//! the task was completed and topics, asked of any OpenAI-compatible chat-completions
//! endpoint the operator configures (`--insights-url`). Nothing is ever sent anywhere
//! without that flag.
//!
//! - [`prompt`]: the fixed prompt and the transcript it sends (pure).
//! - [`answer`]: strict parsing and validation of the model's answer (pure).
//! - [`storage`]: every SQL statement (schema step, claims with a lease, the hourly cap, the
//!   results, the read view); a second database backend reimplements this module only.
//! - [`worker`]: the background loop: claim, ask, record; bounded concurrency, retries.
//! - [`api`]: `GET /api/v1/conversations/{id}/insights`.
//!
//! # How the work is shared
//!
//! The work is pulled from the database, never held in process memory: an ended
//! conversation (`conversation_analysis.status = 'ended'`) without insights for its current
//! `last_message_at` is a candidate; a worker claims it by writing a lease
//! (`lease_owner`, `lease_until`) in one write transaction that also counts the request in
//! the hour's row of `insight_usage` (the global per-hour cap). Each attempt is its own
//! claim, so several collector processes on one database never ask twice at once, a crashed
//! process's claim expires with its lease, and retries wait in the database
//! (`next_attempt_at`) for any worker.

pub mod answer;
pub mod api;
pub mod prompt;
pub mod storage;
pub mod worker;

use std::time::Duration;

/// The key sent as `Authorization: Bearer <key>` (from `AGENT_TRACK_INSIGHTS_KEY`). Its
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct InsightsKey(String);

impl InsightsKey {
    /// A key; `None` when `text` is blank.
    pub fn new(text: &str) -> Option<InsightsKey> {
        let t = text.trim();
        (!t.is_empty()).then(|| InsightsKey(t.to_owned()))
    }

    /// The key, for the request header and for redaction only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for InsightsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InsightsKey(redacted)")
    }
}

/// How model insights run. See the module documentation and README "Model insights". Its
/// `Debug` shows the URL's scheme, host and port only (a URL may carry credentials too).
#[derive(Clone)]
pub struct InsightsConfig {
    /// The full URL of a chat-completions endpoint, e.g.
    /// `http://127.0.0.1:11434/v1/chat/completions`.
    pub url: String,
    /// The `model` of the request.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub key: Option<InsightsKey>,
    /// Requests in flight at once, per collector process (default 2).
    pub concurrency: usize,
    /// Requests per clock hour (UTC), counted in the database over every collector sharing
    /// it (default 200). When reached, work waits for the next hour; nothing is dropped.
    pub per_hour: u32,
    /// Time for one request, answer included (default 60 s).
    pub timeout: Duration,
    /// Attempts per conversation version for retryable failures (429, 408, 5xx, timeouts,
    /// connection errors) before it is recorded as failed (default 5).
    pub max_attempts: u32,
    /// The first retry's delay; doubled at each further attempt (default 2 s).
    pub retry_base: Duration,
    /// The longest wait before a retry, a `Retry-After` included (default 5 minutes).
    pub retry_cap: Duration,
    /// How often a worker looks for work after finding some (default 5 s)…
    pub poll_interval: Duration,
    /// …doubling while it finds none, up to this (default 60 s): looking is a scan of the
    /// ended conversations (see `examples/insights_bench.rs`).
    pub idle_poll_max: Duration,
}

impl std::fmt::Debug for InsightsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = reqwest::Url::parse(&self.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "(not a URL)".into());
        f.debug_struct("InsightsConfig")
            .field("url", &origin)
            .field("model", &self.model)
            .field("key", &self.key)
            .field("concurrency", &self.concurrency)
            .field("per_hour", &self.per_hour)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl InsightsConfig {
    /// A configuration with the defaults.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        InsightsConfig {
            url: url.into(),
            model: model.into(),
            key: None,
            concurrency: 2,
            per_hour: 200,
            timeout: Duration::from_secs(60),
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            idle_poll_max: Duration::from_secs(60),
        }
    }

    /// How long a claim holds a conversation: the request's timeout and a margin for
    /// reading the transcript and writing the result. A process that dies mid-request loses
    /// its claim after this.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(30)
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed and
    /// may be retried: `retry_base × 2^(attempt-1)`, or the server's `Retry-After`, both
    /// capped at [`InsightsConfig::retry_cap`].
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        retry_after.unwrap_or(exp).min(self.retry_cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug() {
        let mut c = InsightsConfig::new(
            "https://user:pw@llm.example:8443/v1/chat/completions?api-key=q-secret",
            "m",
        );
        c.key = InsightsKey::new(" sk-secret-123 ");
        assert_eq!(c.key.as_ref().unwrap().expose(), "sk-secret-123");
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-secret"), "{shown}");
        assert!(shown.contains("InsightsKey(redacted)"), "{shown}");
        assert!(shown.contains("\"https://llm.example:8443\""), "{shown}");
        assert!(
            !shown.contains("pw") && !shown.contains("q-secret"),
            "{shown}"
        );
        assert!(InsightsKey::new("  ").is_none());
    }

    #[test]
    fn backoff_doubles_honours_retry_after_and_is_capped() {
        let c = InsightsConfig::new("u", "m");
        assert_eq!(c.backoff(1, None), Duration::from_secs(2));
        assert_eq!(c.backoff(3, None), Duration::from_secs(8));
        assert_eq!(c.backoff(30, None), Duration::from_secs(300));
        assert_eq!(
            c.backoff(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            c.backoff(1, Some(Duration::from_secs(86_400))),
            Duration::from_secs(300)
        );
    }
}
