//! The background worker: finds ended conversations without insights, claims them in the
//! database ([`storage::claim`]), asks the model, and records the answer or the failure.
//!
//! - Looking for work is a scan of the ended conversations on a read connection (it never
//!   blocks ingestion; about 90 ms per 100,000 ended conversations, `examples/insights_bench.rs`):
//!   every [`InsightsConfig::poll_interval`] while there is work, the pause doubling up to
//!   [`InsightsConfig::idle_poll_max`] while there is none.
//! - At most [`InsightsConfig::concurrency`] requests in flight per process; at most
//!   [`InsightsConfig::per_hour`] per clock hour over every process sharing the database.
//! - 429, 408, 5xx, timeouts and connection errors are retried with exponential backoff
//!   (a `Retry-After` in seconds is honoured, both capped at [`InsightsConfig::retry_cap`]),
//!   up to [`InsightsConfig::max_attempts`] attempts; then the version is recorded as failed.
//! - Any other status (400, 401, 404, …) is a failure at once: asking again would not help.
//! - A 2xx answer that is not the promised JSON ([`answer::parse`]) is a failure at once,
//!   not retried: the request is deterministic (`temperature` 0), so the same transcript
//!   would most likely get the same answer, and each attempt costs one request of the cap.
//!   The conversation is asked again if it resumes and ends again.
//! - Redirects are not followed (the key must not travel to another host); answers larger
//!   than [`MAX_ANSWER_BYTES`] are failures.
//! - The key is sent only in the `Authorization` header. Recorded errors and log lines never
//!   hold it (any occurrence in an upstream's error body is replaced by `[redacted]`), nor
//!   the URL (which may carry credentials of its own). Log lines hold no conversation
//!   content: only the start of the error ([`log_summary`]), never an upstream's body.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::storage::{self, ClaimRules, Finish, Job};
use super::{answer, prompt, InsightsConfig};
use crate::collector::Collector;
use crate::error::now_i64;

/// Largest answer body read.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Characters of an upstream error body kept in the recorded error.
const ERROR_BODY_CHARS: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The five fields.
    Ready(answer::Insights),
    /// A failure worth another attempt, after `retry_after` when the server said.
    Retry {
        /// What went wrong.
        error: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A failure another attempt would not mend.
    Fail(String),
}

/// `text` without the key.
fn redact(text: &str, cfg: &InsightsConfig) -> String {
    match &cfg.key {
        Some(k) => text.replace(k.expose(), "[redacted]"),
        None => text.to_owned(),
    }
}

/// The part of a recorded error that goes into the log: up to its first `: `, so that an
/// upstream's error body (which may echo the transcript) or the model's wrong value stays out
/// of the log (the full text is in the API's `error`).
pub fn log_summary(error: &str) -> &str {
    error.split(": ").next().unwrap_or(error)
}

/// The HTTP client: the request timeout, no redirects.
pub fn client(cfg: &InsightsConfig) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Reads at most [`MAX_ANSWER_BYTES`] of `res`'s body.
async fn body_of(mut res: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(out)
}

fn transport_error(e: &reqwest::Error, cfg: &InsightsConfig) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s (timeout)", cfg.timeout.as_secs_f64());
    }
    let kind = if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    // Without the URL; the causes (e.g. "connection refused") are kept.
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sends one request and classifies the result.
pub async fn ask(client: &reqwest::Client, cfg: &InsightsConfig, body: Vec<u8>) -> Attempt {
    let mut req = client
        .post(&cfg.url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body);
    if let Some(k) = &cfg.key {
        req = req.bearer_auth(k.expose());
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Retry {
                error: redact(&transport_error(&e, cfg), cfg),
                retry_after: None,
            }
        }
    };
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = match body_of(res).await {
        Ok(b) => b,
        Err(e) => {
            return Attempt::Retry {
                error: redact(&transport_error(&e, cfg), cfg),
                retry_after: None,
            }
        }
    };
    if status.is_success() {
        if bytes.len() > MAX_ANSWER_BYTES {
            return Attempt::Fail(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            ));
        }
        return match answer::parse(&bytes) {
            Ok(i) => Attempt::Ready(i),
            Err(e) => Attempt::Fail(redact(
                &format!("the answer is not the promised JSON: {e}"),
                cfg,
            )),
        };
    }
    let excerpt: String = String::from_utf8_lossy(&bytes)
        .chars()
        .take(ERROR_BODY_CHARS)
        .collect();
    let error = redact(
        &format!("HTTP {}: {}", status.as_u16(), excerpt.trim()),
        cfg,
    );
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Attempt::Retry { error, retry_after }
    } else {
        Attempt::Fail(error)
    }
}

/// Starts the worker when insights are configured; it stops when the collector is dropped.
/// Needs a Tokio runtime; without one (or without a configuration) nothing is started and
/// nothing is ever sent.
pub fn start(collector: &Arc<Collector>) {
    let Some(cfg) = collector.insights.clone() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let client = match client(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.without_url(), "model insights are off: the HTTP client cannot be built");
            return;
        }
    };
    tracing::info!(model = %cfg.model, concurrency = cfg.concurrency, per_hour = cfg.per_hour, "model insights on");
    let weak = Arc::downgrade(collector);
    runtime.spawn(async move {
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let mut pause = cfg.poll_interval;
        loop {
            // Wait for a free slot before looking for work.
            let first = match Arc::clone(&permits).acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            };
            let Some(this) = weak.upgrade() else { return };
            let mut slots = vec![first];
            while let Ok(p) = Arc::clone(&permits).try_acquire_owned() {
                slots.push(p);
            }
            let (found, jobs) = match find_and_claim(&this, &cfg, slots.len()).await {
                Ok(j) => j,
                Err(code) => {
                    tracing::warn!(
                        code,
                        "model insights: looking for work failed; retrying at the next interval"
                    );
                    (false, Vec::new())
                }
            };
            let idle = jobs.len() < slots.len();
            // Each fruitless look (a scan of the ended conversations) doubles the pause.
            pause = if found {
                cfg.poll_interval
            } else {
                (pause * 2).min(cfg.idle_poll_max.max(cfg.poll_interval))
            };
            for job in jobs {
                let Some(slot) = slots.pop() else { break };
                tokio::spawn(run(
                    Arc::clone(&this),
                    Arc::clone(&cfg),
                    client.clone(),
                    job,
                    slot,
                ));
            }
            drop(slots);
            drop(this);
            if idle {
                tokio::time::sleep(pause).await;
            }
        }
    });
}

/// Finds candidates (a read, which never blocks ingestion) and claims up to `free` (a short
/// write). Returns whether there were candidates, and the claims.
async fn find_and_claim(
    this: &Arc<Collector>,
    cfg: &Arc<InsightsConfig>,
    free: usize,
) -> Result<(bool, Vec<Job>), &'static str> {
    let now = now_i64();
    let per_hour = cfg.per_hour;
    let candidates = this
        .read("insights", move |conn| {
            if storage::used_this_hour(conn, now)? >= per_hour {
                return Ok(Vec::new());
            }
            storage::candidates(conn, now, free * 4 + 8)
        })
        .await
        .map_err(|e| e.code)?;
    if candidates.is_empty() {
        return Ok((false, Vec::new()));
    }
    let owner = this.insights_owner.clone();
    let lease_ms = i64::try_from(cfg.lease().as_millis()).unwrap_or(i64::MAX);
    let max_attempts = cfg.max_attempts;
    let claim = this
        .write("insights", move |conn| {
            storage::claim(
                conn,
                &candidates,
                free,
                now,
                ClaimRules {
                    owner: &owner,
                    lease_ms,
                    per_hour,
                    max_attempts,
                },
            )
        })
        .await
        .map_err(|e| e.code)?;
    if claim.cap_until.is_some() {
        tracing::info!(
            per_hour,
            "model insights: the hourly cap is reached; the rest waits for the next hour"
        );
    }
    Ok((true, claim.jobs))
}

/// One attempt: the transcript, the request, the record.
async fn run(
    this: Arc<Collector>,
    cfg: Arc<InsightsConfig>,
    client: reqwest::Client,
    job: Job,
    _slot: OwnedSemaphorePermit,
) {
    let id = job.conversation_id.clone();
    let turns = this
        .read("insights", move |conn| storage::turns(conn, &id))
        .await;
    let attempt = match turns {
        // Reactions alone make a conversation too; there is nothing to ask about.
        Ok((0, _, _)) => Attempt::Fail("the conversation has no messages; nothing was sent".into()),
        Ok((total, head, tail)) => {
            let transcript = prompt::transcript(total, &head, &tail);
            let body =
                serde_json::to_vec(&prompt::request(&cfg.model, &transcript)).unwrap_or_default();
            ask(&client, &cfg, body).await
        }
        Err(e) => Attempt::Retry {
            error: format!("the transcript could not be read ({})", e.code),
            retry_after: None,
        },
    };
    let now = now_i64();
    let n = job.attempt;
    let outcome = match &attempt {
        Attempt::Ready(_) => "ready",
        Attempt::Retry { .. } if n < cfg.max_attempts => "retry",
        _ => "failed",
    };
    match &attempt {
        Attempt::Ready(_) => tracing::info!(attempt = n, "model insights stored"),
        Attempt::Retry { error, .. } | Attempt::Fail(error) => {
            let error = log_summary(error);
            tracing::warn!(
                attempt = n,
                outcome,
                error,
                "model insights: the request failed"
            )
        }
    }
    let model = cfg.model.clone();
    let max = cfg.max_attempts;
    let backoff = |retry_after: Option<Duration>| {
        let d = cfg.backoff(n, retry_after);
        now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    let next_at = match &attempt {
        Attempt::Retry { retry_after, .. } => backoff(*retry_after),
        _ => 0,
    };
    let owner = this.insights_owner.clone();
    let written = this
        .write("insights", move |conn| {
            let at = Finish {
                conversation_id: &job.conversation_id,
                last_message_at: job.last_message_at,
                owner: &owner,
            };
            match &attempt {
                Attempt::Ready(i) => storage::record_ready(conn, at, &model, i, now),
                Attempt::Retry { error, .. } if n < max => {
                    storage::record_retry(conn, at, error, next_at)
                }
                Attempt::Retry { error, .. } => storage::record_failed(
                    conn,
                    at,
                    &model,
                    &format!("gave up after {n} attempts; the last: {error}"),
                ),
                Attempt::Fail(error) => storage::record_failed(conn, at, &model, error),
            }
        })
        .await;
    match written {
        Ok(true) => {}
        Ok(false) => tracing::info!(
            "model insights: the conversation was deleted, resumed or taken over meanwhile; the answer is dropped"
        ),
        Err(e) => tracing::warn!(code = e.code, "model insights: the result could not be stored; the claim expires and it is asked again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_keep_only_the_kind_of_error() {
        assert_eq!(
            log_summary("HTTP 400: {\"error\": \"bad prompt: User: my card number\"}"),
            "HTTP 400"
        );
        assert_eq!(
            log_summary("the answer is not the promised JSON: sentiment is \"mixed\""),
            "the answer is not the promised JSON"
        );
        assert_eq!(
            log_summary("no answer within 60 s (timeout)"),
            "no answer within 60 s (timeout)"
        );
    }

    #[test]
    fn the_key_is_redacted_from_error_text() {
        let mut cfg = InsightsConfig::new("http://127.0.0.1:1/v1/chat/completions", "m");
        assert_eq!(redact("key sk-1", &cfg), "key sk-1");
        cfg.key = super::super::InsightsKey::new("sk-1");
        assert_eq!(
            redact("key sk-1, again sk-1", &cfg),
            "key [redacted], again [redacted]"
        );
    }
}
