//! Relaying accepted events upstream, with bounded retries inside the request's deadline.
//!
//! - [`webhook`]: one Standard-Webhooks-signed POST per batch.
//! - [`pendo`]: one POST per event to Pendo, with bounded concurrency.

pub mod pendo;
pub mod webhook;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use agent_track_schema::RelayedEvent;
use axum::http::StatusCode;

use super::config::Upstream;
use super::ProxyState;

/// Why a relay failed; mapped to the browser's status (the browser keeps the events and
/// retries later in every case).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// 503: upstream unreachable or rate limiting (with its `Retry-After`, seconds).
    #[error("{message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// Upstream's `Retry-After`, if any.
        retry_after_s: Option<u64>,
    },
    /// 502: upstream answered with an error.
    #[error("{0}")]
    Failed(String),
    /// 504: no answer within the deadline.
    #[error("upstream did not answer in time")]
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

/// One event upstream refused for good, named by its `eventId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Which event.
    pub event_id: String,
    /// Upstream's code (`[a-z0-9_]`, at most 64 bytes), or `upstream_rejected`.
    pub code: String,
    /// The field upstream named, if any.
    pub field: String,
    /// What upstream said (at most 1000 characters).
    pub message: String,
}

/// Delivers `events` upstream. `Ok` once upstream accepted every event except the ones it
/// refused for good (returned: final for those events only); `Err` when the batch must be
/// kept and retried. Each batch starts at the next URL of the list (round-robin).
pub async fn relay(
    state: &ProxyState,
    events: Vec<RelayedEvent>,
) -> Result<Vec<Refused>, RelayError> {
    let deadline = Instant::now() + state.config.upstream_deadline;
    let start = state.next_upstream.fetch_add(1, Ordering::Relaxed);
    match &state.config.upstream {
        Upstream::Webhook { secrets, .. } => {
            // Written, then the events freed here, before the first await (see `Written`).
            let batch = webhook::Written::new(&events);
            drop(events);
            webhook::send(state, start, secrets, batch, deadline).await
        }
        Upstream::Pendo {
            key, concurrency, ..
        } => pendo::send(state, start, key, *concurrency, &events, deadline).await,
    }
}

/// How a delivery ended when upstream answered for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored, except these events, refused for good (a 2xx with per-event rejections).
    Accepted(Vec<Refused>),
    /// Nothing stored: upstream refused these events (a 400 or 422 naming them); the
    /// others must be sent again without them.
    Refused(Vec<Refused>),
}

/// One upstream attempt's result.
pub(crate) enum Attempt {
    /// Upstream answered for good.
    Done(Outcome),
    /// Worth another try: 408, 429, 502, 503, 504, connection failure. `failover`: at the
    /// next upstream of the list (502, 503, 504, connection failure), else at the same one.
    Retry {
        message: String,
        retry_after_s: Option<u64>,
        unavailable: bool,
        failover: bool,
    },
    /// No answer in time: worth another try (at the next upstream) if time is left.
    TimedOut,
    /// Another 5xx (500, 501, 505...): with one upstream, as [`Attempt::Fail`]; with several,
    /// worth a try at the next one.
    ServerError(String),
    /// Not worth another try now; the browser keeps the batch and retries later.
    Fail(String),
}

/// Runs `attempt` until upstream answers for good, fails, the attempts are used up or the
/// deadline passes. `attempt` gets the index of the upstream URL to use and the time it may
/// take. The first attempt goes to upstream `start` (modulo the list's length); after a
/// connection error, a timeout or a 5xx the next attempt goes to the next upstream of the
/// list at once, until every upstream was tried; then, and between attempts at the same
/// upstream (408, 429, or a list of one), it waits: 100 ms, 200 ms, 400 ms..., or upstream's
/// `Retry-After` when it fits before the deadline. With several upstreams, an attempt may take
/// at most the time left divided by the upstreams not tried yet in this round, so that a hung
/// upstream leaves time for the next; and there are at least as many attempts as upstreams.
pub(crate) async fn with_retries<F, Fut>(
    state: &ProxyState,
    deadline: Instant,
    start: usize,
    mut attempt: F,
) -> Result<Outcome, RelayError>
where
    F: FnMut(usize, Duration) -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let upstreams = state.config.upstream.urls().len().max(1);
    let attempts = state
        .config
        .upstream_attempts
        .max(1)
        .max(upstreams.try_into().unwrap_or(u32::MAX));
    let mut index = start % upstreams;
    // Upstreams tried since the last wait.
    let mut tried = 0usize;
    let mut last = RelayError::Timeout;
    for n in 0..attempts {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        let untried = upstreams.saturating_sub(tried).min((attempts - n) as usize);
        let budget = left / untried.max(1) as u32;
        let started = Instant::now();
        let result = tokio::time::timeout(budget, attempt(index, budget))
            .await
            .unwrap_or(Attempt::TimedOut);
        let took = started.elapsed();
        state
            .metrics
            .count_upstream_attempt(index, !matches!(result, Attempt::Done(_)));
        let (failover, retry_after_s, error) = match result {
            Attempt::Done(outcome) => {
                state.metrics.observe_upstream("ok", took);
                return Ok(outcome);
            }
            Attempt::TimedOut => {
                state.metrics.observe_upstream("timeout", took);
                (true, None, RelayError::Timeout)
            }
            Attempt::Fail(message) => {
                state.metrics.observe_upstream("failed", took);
                return Err(RelayError::Failed(message));
            }
            Attempt::ServerError(message) => {
                state.metrics.observe_upstream("failed", took);
                if upstreams == 1 {
                    return Err(RelayError::Failed(message));
                }
                (true, None, RelayError::Failed(message))
            }
            Attempt::Retry {
                message,
                retry_after_s,
                unavailable,
                failover,
            } => {
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
                (failover, retry_after_s, e)
            }
        };
        last = error;
        tried += 1;
        if failover && upstreams > 1 {
            index = (index + 1) % upstreams;
            if tried < upstreams {
                continue;
            }
        }
        tried = 0;
        let wait =
            retry_after_s.map_or(Duration::from_millis(100 << n.min(6)), Duration::from_secs);
        if Instant::now() + wait >= deadline {
            break;
        }
        tokio::time::sleep(wait).await;
    }
    Err(last)
}

/// Upstream's answer to one request: status, `Retry-After`, and the start of its body.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// The most of an upstream answer's body that is read.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Classifies an upstream answer to a Standard Webhooks delivery (pure). 2xx: accepted, with
/// the per-event rejections its body lists (`{"rejected": [{eventId, code, field, message}]}`,
/// the shape of the proxy's own answer); 400 or 422 naming refused events: final for those;
/// 408, 429, 502, 503, 504: retried; anything else (401, 403, 404, 413, 500, a redirect, a
/// 400 naming no event) fails the attempt so that the batch is kept and retried later, except
/// that another 5xx (500, 501...) goes on to the next upstream when there are several.
pub(crate) fn classify(answer: &Answer, what: &str) -> Attempt {
    let status = answer.status;
    if status.is_success() {
        return Attempt::Done(Outcome::Accepted(
            named_rejections(&answer.body).unwrap_or_default(),
        ));
    }
    let retry_after_s = answer
        .retry_after
        .as_deref()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let code = status.as_u16();
    let message = match code {
        400 | 422 => match named_rejections(&answer.body) {
            Some(named) if !named.is_empty() => return Attempt::Done(Outcome::Refused(named)),
            _ => format!("{what} answered HTTP {code} without naming a refused event"),
        },
        401 | 403 => format!(
            "{what} refused the credentials (HTTP {code}): check that the proxy and the receiver share the secret"
        ),
        404 => format!("{what} answered HTTP 404: check the upstream URL"),
        300..=399 => format!(
            "{what} answered a redirect (HTTP {code}); redirects are not followed: set the upstream URL to the final address"
        ),
        _ => format!("{what} answered HTTP {code}"),
    };
    match code {
        429 | 503 => Attempt::Retry {
            message,
            retry_after_s,
            unavailable: true,
            failover: code == 503,
        },
        408 | 502 | 504 => Attempt::Retry {
            message,
            retry_after_s,
            unavailable: false,
            failover: code != 408,
        },
        500..=599 => Attempt::ServerError(message),
        _ => Attempt::Fail(message),
    }
}

/// The events an answer body names as refused, from `{"rejected": [..]}`; `None` when the
/// body has no such list. Entries without an `eventId` are skipped; codes, fields and
/// messages are bounded, and a code that is not `[a-z0-9_]+` becomes `upstream_rejected`.
pub fn named_rejections(body: &[u8]) -> Option<Vec<Refused>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let list = value.get("rejected")?.as_array()?;
    let text =
        |v: &serde_json::Value, key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_owned);
    Some(
        list.iter()
            .filter_map(|r| {
                let event_id = text(r, "eventId").filter(|id| !id.is_empty())?;
                let code = text(r, "code")
                    .filter(|c| {
                        !c.is_empty()
                            && c.len() <= 64
                            && c.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    })
                    .unwrap_or_else(|| "upstream_rejected".into());
                let field = text(r, "field")
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                let message = text(r, "message")
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "upstream refused this event".into())
                    .chars()
                    .take(1000)
                    .collect();
                Some(Refused {
                    event_id,
                    code,
                    field,
                    message,
                })
            })
            .collect(),
    )
}

/// Sends one upstream request and reads its answer (at most [`MAX_ANSWER_BYTES`] of the
/// body); a failure to connect or send becomes the [`Attempt`] to make of it.
pub(crate) async fn send_once(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<Answer, Attempt> {
    match request.send().await {
        Ok(mut r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut body = Vec::new();
            while body.len() < MAX_ANSWER_BYTES {
                match r.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    // An answer cut short is classified by its status alone.
                    Err(_) => break,
                }
            }
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        }
        Err(e) if e.is_timeout() => Err(Attempt::TimedOut),
        Err(e) => Err(Attempt::Retry {
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
            failover: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn kind(a: Attempt) -> String {
        match a {
            Attempt::Done(Outcome::Accepted(r)) => format!("accepted {}", r.len()),
            Attempt::Done(Outcome::Refused(r)) => format!("refused {}", r.len()),
            Attempt::Retry {
                unavailable,
                failover,
                ..
            } => format!("retry {unavailable} {failover}"),
            Attempt::TimedOut => "timeout".into(),
            Attempt::ServerError(m) => format!("server error {m}"),
            Attempt::Fail(m) => format!("fail {m}"),
        }
    }

    #[test]
    fn only_named_refusals_are_final() {
        let named = r#"{"accepted":1,"rejected":[{"index":1,"eventId":"e2","code":"too_large","field":"properties.content","message":"too long"}]}"#;
        assert_eq!(
            kind(classify(&answer(200, named), "upstream")),
            "accepted 1"
        );
        assert_eq!(kind(classify(&answer(204, ""), "upstream")), "accepted 0");
        assert_eq!(kind(classify(&answer(400, named), "upstream")), "refused 1");
        assert_eq!(kind(classify(&answer(422, named), "upstream")), "refused 1");
        assert!(kind(classify(
            &answer(400, r#"{"code":"invalid_body"}"#),
            "upstream"
        ))
        .starts_with("fail"));
        assert!(kind(classify(&answer(400, r#"{"rejected":[]}"#), "upstream")).starts_with("fail"));
        for status in [401, 403, 404, 413, 307] {
            assert!(
                kind(classify(&answer(status, named), "upstream")).starts_with("fail"),
                "{status}"
            );
        }
        for status in [500, 501, 505] {
            assert!(
                kind(classify(&answer(status, named), "upstream")).starts_with("server error"),
                "{status}"
            );
        }
        // 5xx goes on to the next upstream; 408 and 429 are retried at the same one.
        for (status, unavailable, failover) in [
            (408, false, false),
            (429, true, false),
            (502, false, true),
            (503, true, true),
            (504, false, true),
        ] {
            assert_eq!(
                kind(classify(&answer(status, ""), "upstream")),
                format!("retry {unavailable} {failover}")
            );
        }
        assert!(kind(classify(&answer(401, ""), "upstream")).contains("share the secret"));
        assert!(kind(classify(&answer(307, ""), "upstream")).contains("redirects are not followed"));
    }

    #[test]
    fn named_rejections_are_bounded_and_need_an_event_id() {
        let long = "x".repeat(5000);
        let body = serde_json::json!({"rejected": [
            {"eventId": "e1", "code": "Bad Code!", "message": long},
            {"code": "no_id"},
            {"eventId": "", "code": "empty_id"},
            {"eventId": "e2"},
        ]})
        .to_string();
        let r = named_rejections(body.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].code.as_str(), r[0].message.len()),
            ("upstream_rejected", 1000)
        );
        assert_eq!(
            (r[1].event_id.as_str(), r[1].message.as_str()),
            ("e2", "upstream refused this event")
        );
        assert_eq!(named_rejections(b"not json"), None);
        assert_eq!(named_rejections(b"{}"), None);
    }
}
