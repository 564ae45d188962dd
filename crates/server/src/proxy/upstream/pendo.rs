//! Pendo upstream: one POST per event to the agentic endpoint with
//! `x-pendo-integration-key`, body `{type, visitor_id, account_id, timestamp, props, context}`.
//! The batch is acknowledged only when every event was accepted or refused for good (a 400
//! or 422 to an event's own request refuses that event); otherwise the browser retries the
//! batch and Pendo's `messageId` dedupe absorbs the repeats. The proxy limits events per
//! client (`--event-rate-per-minute`), since each one is a request here.

use std::sync::Arc;
use std::time::Instant;

use agent_track_schema::RelayedEvent;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::{classify, send_once, with_retries, Attempt, Outcome, Refused, RelayError};
use crate::proxy::config::PendoKey;
use crate::proxy::ProxyState;

/// Pendo's body for one event. Custom `eventProperties` travel in `props.eventProperties`.
pub fn body(e: &RelayedEvent) -> Value {
    let mut props = serde_json::to_value(&e.event.properties).unwrap_or_else(|_| json!({}));
    if !e.event.event_properties.is_empty() {
        props["eventProperties"] = Value::Object(e.event.event_properties.to_map());
    }
    let c = &e.event.context;
    json!({
        "type": e.event.event_type.as_str(),
        "visitor_id": e.event.visitor_id,
        "account_id": e.event.account_id,
        "timestamp": e.event.timestamp,
        "props": props,
        "context": { "ip": e.ip, "userAgent": c.user_agent, "url": c.url, "title": c.title },
    })
}

/// Sends every event, at most `concurrency` at once, each with the retry policy of
/// [`super::with_retries`], starting at upstream `start` of the list and failing over along the list. Fails
/// with the first failure; otherwise returns the events Pendo refused for good.
pub async fn send(
    state: &ProxyState,
    start: usize,
    key: &PendoKey,
    concurrency: usize,
    events: &[RelayedEvent],
    deadline: Instant,
) -> Result<Vec<Refused>, RelayError> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let sends = events.iter().map(|e| {
        let permits = permits.clone();
        let payload = body(e);
        let event_id = e.event.event_id.clone();
        async move {
            let _permit = permits.acquire().await.map_err(|_| RelayError::Timeout)?;
            with_retries(state, deadline, start, |index, left| {
                let request = state
                    .post(index)
                    .timeout(left)
                    .header("x-pendo-integration-key", &key.0)
                    .header("content-type", "application/json")
                    .body(payload.to_string());
                let event_id = event_id.clone();
                async move {
                    match send_once(request, "Pendo").await {
                        Ok(answer) if matches!(answer.status.as_u16(), 400 | 422) => {
                            Attempt::Done(Outcome::Refused(vec![refusal(event_id, &answer)]))
                        }
                        Ok(answer) => classify(&answer, "Pendo"),
                        Err(attempt) => attempt,
                    }
                }
            })
            .await
        }
    });
    let results = futures_util::future::join_all(sends).await;
    let mut refused = Vec::new();
    for result in results {
        match result? {
            Outcome::Accepted(_) => {}
            Outcome::Refused(r) => refused.extend(r),
        }
    }
    Ok(refused)
}

/// Pendo's refusal of one event, with the start of its answer.
fn refusal(event_id: String, answer: &super::Answer) -> Refused {
    let said: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    Refused {
        event_id,
        code: "upstream_rejected".into(),
        field: String::new(),
        message: format!(
            "Pendo refused the event (HTTP {}): {}",
            answer.status.as_u16(),
            if said.is_empty() {
                "no reason given"
            } else {
                &said
            }
        ),
    }
}
