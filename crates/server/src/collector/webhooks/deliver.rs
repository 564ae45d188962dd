//! The delivery worker: claims due outbox rows with a lease (see [`storage::claim`]), sends
//! each as a Standard Webhooks v1-signed POST, and records what came of it. At most
//! [`RetryPolicy::concurrency`] requests are in flight; each has
//! [`RetryPolicy::request_timeout`]; redirects are not followed.
//!
//! - 2xx: `delivered`.
//! - 4xx other than 408 and 429: final `failed`, with the status and a short excerpt of the
//!   answer.
//! - 408, 429, 3xx, 5xx, connection errors, timeouts: another attempt after an exponential
//!   backoff with jitter ([`backoff`]), or after `Retry-After` (seconds) when that is longer,
//!   up to [`RetryPolicy::max_backoff`]; once [`RetryPolicy::horizon`] has passed since the
//!   row was queued, final `failed`.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use super::storage::{self, Attempt, Claimed};
use super::{redact, RetryPolicy};
use crate::collector::Collector;
use crate::error::now_i64;
use crate::secret::Secrets;
use crate::signature;

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = concat!(
    "agent-track-collector/",
    env!("CARGO_PKG_VERSION"),
    " (webhooks)"
);

/// Characters of a receiver's answer kept in `last_error`.
const EXCERPT_CHARS: usize = 200;
/// Bytes of a receiver's answer read at most.
const EXCERPT_BYTES: usize = 1024;
/// How often final rows older than [`RetryPolicy::keep_final`] are pruned.
const PRUNE_EVERY_MS: i64 = 3_600_000;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones: `first_backoff`
/// doubled per earlier failure, capped at `max_backoff`, then a random point in its upper
/// half (jitter, so that many rows failing together do not come back together).
pub fn backoff(policy: &RetryPolicy, attempts: i64, unit: f64) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let base = policy
        .first_backoff
        .saturating_mul(2u32.saturating_pow(exp))
        .min(policy.max_backoff);
    base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// When to try a row again after a failed attempt at `now`, or `None` when its horizon has
/// passed (final). `retry_after` (from the answer) is honoured up to `max_backoff`; the
/// last attempt is made at the horizon itself.
pub fn next_attempt(
    policy: &RetryPolicy,
    row: &Claimed,
    now: i64,
    retry_after: Option<Duration>,
) -> Option<i64> {
    let deadline = row.created_at.saturating_add(ms(policy.horizon));
    if now >= deadline {
        return None;
    }
    let mut wait = backoff(policy, row.attempts, rand::thread_rng().gen());
    if let Some(r) = retry_after {
        wait = wait.max(r.min(policy.max_backoff));
    }
    Some(now.saturating_add(ms(wait)).min(deadline))
}

/// A printable, one-line excerpt of an answer: control characters dropped, at most
/// [`EXCERPT_CHARS`].
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(EXCERPT_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Reads at most [`EXCERPT_BYTES`] of an answer (the client's timeout bounds the time).
async fn head_of(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < EXCERPT_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    out.truncate(EXCERPT_BYTES);
    out
}

/// What went wrong with a request that got no answer, without the URL (reqwest's messages
/// include it, and URLs may hold tokens).
fn describe(e: &reqwest::Error, policy: &RetryPolicy) -> String {
    if e.is_timeout() {
        format!("no answer within {} ms", policy.request_timeout.as_millis())
    } else if e.is_connect() {
        "the connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read".into()
    } else {
        "the request failed".into()
    }
}

/// One attempt at `row`: sends it and says what to record.
pub async fn attempt(
    client: &reqwest::Client,
    secrets: &Secrets,
    policy: &RetryPolicy,
    row: &Claimed,
) -> Attempt {
    let ts = now_i64() / 1000;
    let sig = signature::sign(secrets, &row.webhook_id, ts, row.body.as_bytes());
    let sent = client
        .post(&row.url)
        .header(signature::ID, &row.webhook_id)
        .header(signature::TIMESTAMP, ts.to_string())
        .header(signature::SIGNATURE, sig)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(row.body.clone())
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let error = describe(&e, policy);
            return match next_attempt(policy, row, now_i64(), None) {
                Some(next_at) => Attempt::Retry {
                    status: None,
                    error,
                    next_at,
                },
                None => Attempt::Failed {
                    status: None,
                    error,
                },
            };
        }
    };
    let status = resp.status();
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Delivered {
            status: code,
            at: now_i64(),
        };
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = excerpt(&head_of(resp).await);
    let error = if text.is_empty() {
        format!("HTTP {code}")
    } else {
        format!("HTTP {code}: {text}")
    };
    let final_status = status.is_client_error() && code != 408 && code != 429;
    if final_status {
        return Attempt::Failed {
            status: Some(code),
            error,
        };
    }
    match next_attempt(policy, row, now_i64(), retry_after) {
        Some(next_at) => Attempt::Retry {
            status: Some(code),
            error,
            next_at,
        },
        None => Attempt::Failed {
            status: Some(code),
            error,
        },
    }
}

/// The HTTP client of the deliveries: no redirects, the request timeout, agent-track's
/// user agent.
pub fn client(policy: &RetryPolicy) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(policy.request_timeout)
        .connect_timeout(policy.request_timeout)
        .user_agent(USER_AGENT)
        .build()
}

/// Starts the worker of `collector` when it has webhook URLs, until the collector is
/// dropped (requests in flight then finish and are recorded). Needs a Tokio runtime;
/// without one nothing is started. `wake` is notified by the write path after it queued
/// events, so they go out without waiting for the next poll.
pub fn start(collector: &Arc<Collector>, wake: Arc<Notify>) {
    let config = collector.webhook_config();
    let (Some(secrets), false) = (config.secrets.clone(), config.urls.is_empty()) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let policy = Arc::new(config.retry.clone());
    let client = match client(&policy) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the webhook client could not be built; no webhooks are sent");
            return;
        }
    };
    let urls = Arc::new(config.urls.clone());
    let secrets = Arc::new(secrets);
    let owner: Arc<str> = Arc::from(format!("w_{:032x}", rand::random::<u128>()));
    let slots = Arc::new(Semaphore::new(policy.concurrency.max(1)));
    let weak = Arc::downgrade(collector);
    // Finished attempts come back to the loop, which records them together with the next
    // claim in one transaction. Each carries its slot (so at most `concurrency` rows are
    // claimed and unrecorded) and the collector (kept open until its result is written).
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    runtime.spawn(async move {
        let mut pruned_at = 0i64;
        let mut done: Vec<Done> = Vec::new();
        loop {
            while let Ok(d) = done_rx.try_recv() {
                done.push(d);
            }
            let this = match done.first() {
                Some(d) => Arc::clone(&d.collector),
                None => match weak.upgrade() {
                    Some(this) => this,
                    None => return,
                },
            };
            let free = slots.available_permits() + done.len();
            let results: Vec<(i64, Attempt)> =
                done.iter().map(|d| (d.id, d.attempt.clone())).collect();
            let (urls, owner2) = (Arc::clone(&urls), Arc::clone(&owner));
            let now = now_i64();
            let lease_until = now.saturating_add(ms(policy.lease));
            let claimed = this
                .write("webhooks", move |conn| {
                    storage::record_and_claim(
                        conn,
                        &owner2,
                        &results,
                        &urls,
                        now,
                        lease_until,
                        free,
                    )
                })
                .await;
            // Recorded (or, on a failure, left leased until the lease expires): the slots
            // are free again.
            done.clear();
            let mut more = false;
            match claimed {
                Ok(rows) => {
                    more = free > 0 && rows.len() == free;
                    for row in rows {
                        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                            break;
                        };
                        let (collector, client, secrets, policy, done_tx) = (
                            Arc::clone(&this),
                            client.clone(),
                            Arc::clone(&secrets),
                            Arc::clone(&policy),
                            done_tx.clone(),
                        );
                        tokio::spawn(async move {
                            let attempt = attempt(&client, &secrets, &policy, &row).await;
                            log(&row, &attempt);
                            let _ = done_tx.send(Done {
                                id: row.id,
                                attempt,
                                _slot: slot,
                                collector,
                            });
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, "recording or claiming webhook deliveries failed; the rows are tried again when their leases expire");
                }
            }
            if now.saturating_sub(pruned_at) >= PRUNE_EVERY_MS {
                let before = now.saturating_sub(ms(policy.keep_final));
                match this
                    .write("webhooks", move |conn| storage::prune(conn, before))
                    .await
                {
                    Ok(_) => pruned_at = now,
                    Err(e) => tracing::warn!(code = %e.code, "pruning old webhook deliveries failed"),
                }
            }
            drop(this);
            if more && slots.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                Some(d) = done_rx.recv() => done.push(d),
                _ = wake.notified() => {}
                _ = tokio::time::sleep(policy.poll_interval) => {}
            }
        }
    });
}

/// A finished attempt on its way to be recorded.
struct Done {
    id: i64,
    attempt: Attempt,
    _slot: OwnedSemaphorePermit,
    collector: Arc<Collector>,
}

fn log(row: &Claimed, result: &Attempt) {
    let url = redact(&row.url);
    match result {
        Attempt::Delivered { status, .. } => {
            tracing::debug!(webhook_id = %row.webhook_id, url = %url, status, "webhook delivered");
        }
        Attempt::Retry { status, error, .. } => {
            tracing::info!(webhook_id = %row.webhook_id, url = %url, status = ?status, error = %error, attempts = row.attempts + 1, "webhook attempt failed; retrying");
        }
        Attempt::Failed { status, error } => {
            tracing::warn!(webhook_id = %row.webhook_id, url = %url, status = ?status, error = %error, attempts = row.attempts + 1, "webhook failed for good");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attempts: i64) -> Claimed {
        Claimed {
            id: 1,
            webhook_id: "msg_x".into(),
            url: "http://x/".into(),
            body: "{}".into(),
            attempts,
            created_at: 0,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(backoff(&p, 0, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(&p, 0, 0.0), Duration::from_millis(2500));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_secs(40));
        assert_eq!(backoff(&p, 20, 1.0), Duration::from_secs(3600));
        assert_eq!(backoff(&p, i64::MAX, 1.0), Duration::from_secs(3600));
    }

    #[test]
    fn retries_stop_at_the_horizon_and_retry_after_is_capped() {
        let p = RetryPolicy::default();
        let day = 24 * 3_600_000;
        assert_eq!(next_attempt(&p, &row(0), day, None), None);
        // The last attempt is at the horizon.
        assert_eq!(next_attempt(&p, &row(30), day - 1000, None), Some(day));
        let next = next_attempt(&p, &row(0), 0, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(next, 60_000);
        let capped = next_attempt(&p, &row(0), 0, Some(Duration::from_secs(99_999))).unwrap();
        assert_eq!(capped, 3_600_000);
    }

    #[test]
    fn excerpts_are_short_and_printable() {
        assert_eq!(excerpt(b"bad\r\nrequest"), "bad  request");
        assert_eq!(excerpt(&[b'a'; 500]).len(), EXCERPT_CHARS);
    }
}
