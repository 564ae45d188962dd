//! Standard Webhooks upstream: the normalized batch `{"events":[..]}`, signed over exactly
//! the bytes sent, one `webhook-id` per batch that stays the same on every retry.

use std::time::Instant;

use agent_track_schema::{RelayBatch, RelayedEvent};
use sha2::{Digest, Sha256};

use super::{attempt, with_retries, RelayError};
use crate::proxy::ProxyState;
use crate::secret::Secrets;
use crate::signature;

/// The `webhook-id` of a batch: derived from its event ids, so the same events relayed again
/// (the proxy's retry, or the browser's after a timeout) carry the same id.
pub fn webhook_id(events: &[RelayedEvent]) -> String {
    let mut h = Sha256::new();
    for e in events {
        h.update(e.event.event_id.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    format!(
        "msg_{}",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Posts the signed batch; see [`super::with_retries`] for the retry policy.
pub async fn send(
    state: &ProxyState,
    url: &str,
    secrets: &Secrets,
    events: &[RelayedEvent],
    deadline: Instant,
) -> Result<(), RelayError> {
    let body = serde_json::to_vec(&RelayBatch {
        events: events.to_vec(),
    })
    .map_err(|e| RelayError::Failed(e.to_string()))?;
    let id = webhook_id(events);
    with_retries(state, deadline, |left| {
        // A fresh timestamp per attempt: the receiver refuses stale ones.
        let timestamp = (crate::error::now_ms() / 1000) as i64;
        let request = state
            .client
            .post(url)
            .timeout(left)
            .header("content-type", "application/json")
            .header(signature::ID, &id)
            .header(signature::TIMESTAMP, timestamp.to_string())
            .header(
                signature::SIGNATURE,
                signature::sign(secrets, &id, timestamp, &body),
            )
            .body(body.clone());
        attempt(request, "upstream")
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_track_schema::{AgentProperties, Context, Event, EventType};

    fn relayed(id: &str) -> RelayedEvent {
        RelayedEvent {
            event: Event {
                event_id: id.into(),
                event_type: EventType::Prompt,
                timestamp: 1,
                visitor_id: Some("v".into()),
                account_id: None,
                properties: AgentProperties::new("a", "c", "m", "x"),
                event_properties: Default::default(),
                context: Context {
                    seq: 1,
                    sdk: "s".into(),
                    ..Default::default()
                },
            },
            received_at: 2,
            client_timestamp: 1,
            ip: None,
        }
    }

    #[test]
    fn the_webhook_id_depends_on_the_events_only() {
        let a = webhook_id(&[relayed("e1"), relayed("e2")]);
        assert_eq!(a, webhook_id(&[relayed("e1"), relayed("e2")]));
        assert_ne!(a, webhook_id(&[relayed("e1")]));
        assert!(a.starts_with("msg_") && a.len() == 36);
    }
}
