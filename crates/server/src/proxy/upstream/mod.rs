//! Relaying accepted events upstream, with bounded retries inside the request's deadline.
//!
//! - [`webhook`]: one Standard-Webhooks-signed POST per batch.
//! - [`pendo`]: one POST per event to Pendo, with bounded concurrency.

pub mod pendo;
pub mod webhook;

use std::time::{Duration, Instant};

use agent_track_schema::RelayedEvent;
use axum::http::StatusCode;

use super::config::Upstream;
use super::ProxyState;

/// Why a relay failed; mapped to the browser's status (the browser keeps the events and
/// retries later in every case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    /// 503: upstream unreachable or rate limiting (with its `Retry-After`, seconds).
    Unavailable {
        /// What happened.
        message: String,
        /// Upstream's `Retry-After`, if any.
        retry_after_s: Option<u64>,
    },
    /// 502: upstream answered with an error.
    Failed(String),
    /// 504: no answer within the deadline.
    Timeout,
}

impl RelayError {
    /// The status for the browser.
    pub fn status(&self) -> StatusCode {
        match self {
            RelayError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RelayError::Failed(_) => StatusCode::BAD_GATEWAY,
            RelayError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

/// Delivers `events` upstream; `Ok` only when upstream accepted all of them.
pub async fn relay(state: &ProxyState, events: &[RelayedEvent]) -> Result<(), RelayError> {
    let deadline = Instant::now() + state.config.upstream_deadline;
    match &state.config.upstream {
        Upstream::Webhook { url, secrets } => {
            webhook::send(state, url, secrets, events, deadline).await
        }
        Upstream::Pendo {
            url,
            key,
            concurrency,
        } => pendo::send(state, url, key, *concurrency, events, deadline).await,
    }
}

/// One upstream attempt's result.
pub(crate) enum Attempt {
    Ok,
    /// Worth another try: 429, 502, 503, 504, connection failure.
    Retry {
        message: String,
        retry_after_s: Option<u64>,
        unavailable: bool,
    },
    /// No answer in time: worth another try if time is left.
    TimedOut,
    /// Not worth another try.
    Fail(String),
}

/// Runs `attempt` until it succeeds, fails for good, the attempts are used up or the
/// deadline passes. Backoff between attempts: 100 ms, 200 ms, 400 ms..., or upstream's
/// `Retry-After` when it fits before the deadline.
pub(crate) async fn with_retries<F, Fut>(
    state: &ProxyState,
    deadline: Instant,
    mut attempt: F,
) -> Result<(), RelayError>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut last = RelayError::Timeout;
    for n in 0..state.config.upstream_attempts.max(1) {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        let started = Instant::now();
        let result = tokio::time::timeout(left, attempt(left)).await;
        let took = started.elapsed();
        let (retry_after_s, outcome) = match result {
            Err(_) => {
                state.metrics.observe_upstream("timeout", took);
                return Err(RelayError::Timeout);
            }
            Ok(Attempt::Ok) => {
                state.metrics.observe_upstream("ok", took);
                return Ok(());
            }
            Ok(Attempt::TimedOut) => {
                state.metrics.observe_upstream("timeout", took);
                (None, RelayError::Timeout)
            }
            Ok(Attempt::Fail(message)) => {
                state.metrics.observe_upstream("failed", took);
                return Err(RelayError::Failed(message));
            }
            Ok(Attempt::Retry {
                message,
                retry_after_s,
                unavailable,
            }) => {
                state
                    .metrics
                    .observe_upstream(if unavailable { "connect" } else { "retryable" }, took);
                let e = if unavailable || retry_after_s.is_some() {
                    RelayError::Unavailable {
                        message,
                        retry_after_s,
                    }
                } else {
                    RelayError::Failed(message)
                };
                (retry_after_s, e)
            }
        };
        last = outcome;
        let wait =
            retry_after_s.map_or(Duration::from_millis(100 << n.min(6)), Duration::from_secs);
        if Instant::now() + wait >= deadline {
            break;
        }
        tokio::time::sleep(wait).await;
    }
    Err(last)
}

/// Classifies an upstream HTTP status.
pub(crate) fn classify(status: StatusCode, retry_after: Option<&str>, what: &str) -> Attempt {
    if status.is_success() {
        return Attempt::Ok;
    }
    let retry_after_s = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let message = format!("{what} answered HTTP {}", status.as_u16());
    match status.as_u16() {
        429 | 503 => Attempt::Retry {
            message,
            retry_after_s,
            unavailable: true,
        },
        502 | 504 => Attempt::Retry {
            message,
            retry_after_s,
            unavailable: false,
        },
        _ => Attempt::Fail(message),
    }
}

/// Sends one upstream request and classifies what came back (`what` names upstream in
/// messages).
pub(crate) async fn attempt(request: reqwest::RequestBuilder, what: &str) -> Attempt {
    match request.send().await {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            classify(status, retry_after.as_deref(), what)
        }
        Err(e) if e.is_timeout() => Attempt::TimedOut,
        Err(e) => Attempt::Retry {
            message: format!(
                "{what} is unreachable ({})",
                if e.is_connect() {
                    "connection refused"
                } else {
                    "request failed"
                }
            ),
            retry_after_s: None,
            unavailable: true,
        },
    }
}
