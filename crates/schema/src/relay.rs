//! The relay envelope of contract v1, proxy -> server-side endpoint (`webhook` mode): the
//! normalized batch `{"events": [..]}` that the proxy signs and the collector verifies.

use serde::{Deserialize, Serialize};

use crate::envelope::Event;

/// One event as the proxy relays it: the browser's event, normalized (`modelUsed` folded,
/// defaults filled, `visitorId` present), with the timestamp corrected for client clock skew
/// and the server-side fields added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayedEvent {
    /// The event; `timestamp` is corrected: `clientTimestamp + (receivedAt - sentAt)`.
    #[serde(flatten)]
    pub event: Event,
    /// When the proxy received the batch, unix ms of the proxy's clock.
    pub received_at: u64,
    /// The browser's original `timestamp`.
    pub client_timestamp: u64,
    /// The client's IP address, only when the proxy is configured to forward it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// The body of a relayed batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayBatch {
    /// The events, in the order the browser sent them.
    pub events: Vec<RelayedEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_the_event_and_adds_server_fields() {
        let v = json!({"events": [{"eventId": "e", "type": "prompt", "timestamp": 10, "visitorId": "v",
            "properties": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": "x", "suggestedPrompt": false},
            "context": {"seq": 1, "sdk": "agent-track/0.1.0"}, "receivedAt": 12, "clientTimestamp": 9}]});
        let b: RelayBatch = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            (
                b.events[0].received_at,
                b.events[0].client_timestamp,
                b.events[0].event.timestamp
            ),
            (12, 9, 10)
        );
        assert_eq!(serde_json::to_value(&b).unwrap(), v);
    }
}
