//! Pendo upstream: one POST per event to the agentic endpoint with
//! `x-pendo-integration-key`, body `{type, visitor_id, account_id, timestamp, props, context}`.
//! The batch is acknowledged only when every event was accepted; otherwise the browser
//! retries the batch and Pendo's `messageId` dedupe absorbs the repeats.

use std::sync::Arc;
use std::time::Instant;

use agent_track_schema::RelayedEvent;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::{attempt, with_retries, RelayError};
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
/// [`super::with_retries`]. Fails with the first failure.
pub async fn send(
    state: &ProxyState,
    url: &str,
    key: &PendoKey,
    concurrency: usize,
    events: &[RelayedEvent],
    deadline: Instant,
) -> Result<(), RelayError> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let sends = events.iter().map(|e| {
        let permits = permits.clone();
        let payload = body(e);
        async move {
            let _permit = permits.acquire().await.map_err(|_| RelayError::Timeout)?;
            with_retries(state, deadline, |left| {
                let request = state
                    .client
                    .post(url)
                    .timeout(left)
                    .header("x-pendo-integration-key", &key.0)
                    .header("content-type", "application/json")
                    .body(payload.to_string());
                attempt(request, "Pendo")
            })
            .await
        }
    });
    let results = futures_util::future::join_all(sends).await;
    results.into_iter().collect()
}
