//! The wire envelopes of contract v1, browser -> proxy (see DESIGN.md, "Wire contract v1").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event_type::EventType;
use crate::properties::AgentProperties;

/// One tracked event as the browser stores it and sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Client-generated unique id (a UUID); receivers dedupe on it.
    pub event_id: String,
    /// What the event records.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it was tracked, in unix milliseconds of the browser's clock.
    pub timestamp: u64,
    /// Who. Absent only while queued before `configure`, which fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    /// Which account, when the app has accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The agent properties.
    pub properties: AgentProperties,
    /// Custom properties; omitted when empty.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub event_properties: Map<String, Value>,
    /// Where it was tracked.
    pub context: Context,
}

/// Where an event was tracked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// `location.href` of the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `document.title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `navigator.userAgent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `navigator.language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Per-page monotonic sequence number, starting at 1.
    pub seq: u64,
    /// SDK name and version, e.g. `agent-track/0.1.0`.
    pub sdk: String,
}

/// The body of `POST {endpoint}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// When the browser sent it, in unix milliseconds of its clock (for skew correction).
    pub sent_at: u64,
    /// The events, in queue order.
    pub events: Vec<Event>,
}

/// The proxy's 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// Identifies the request in the proxy's logs.
    pub request_id: String,
    /// How many events were delivered upstream.
    pub accepted: u64,
    /// Events refused for good (matched by `eventId`); every other event sent is acknowledged.
    #[serde(default)]
    pub rejected: Vec<Rejection>,
}

/// One event the proxy refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Position in the batch (informational).
    pub index: usize,
    /// Which event.
    pub event_id: String,
    /// A [`crate::Code`] string, or a proxy code such as `too_old`.
    pub code: String,
    /// The offending field path.
    #[serde(default)]
    pub field: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

/// The body of every non-200 answer of the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Identifies the request in the proxy's logs.
    pub request_id: String,
    /// Stable reason, e.g. `body_too_large`, `rate_limited`, `upstream_unavailable`.
    pub code: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_design_example_round_trips() {
        let body = json!({ "sentAt": 1763712000123u64,
          "events": [ { "eventId": "uuid", "type": "prompt", "timestamp": 1763712000000u64,
                        "visitorId": "v1", "accountId": "acme",
                        "properties": { "agentId": "a", "conversationId": "c", "messageId": "m", "content": "x" },
                        "context": { "url": "u", "title": "t", "userAgent": "ua", "language": "en-US", "seq": 12, "sdk": "agent-track/0.1.0" } } ] });
        let batch: Batch = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(batch.events[0].event_type, EventType::Prompt);
        assert_eq!(batch.events[0].context.seq, 12);
        assert_eq!(serde_json::to_value(&batch).unwrap(), body);
    }

    #[test]
    fn a_response_without_rejections_parses() {
        let r: BatchResponse = serde_json::from_value(json!({"requestId":"r","accepted":3})).unwrap();
        assert_eq!((r.accepted, r.rejected.len()), (3, 0));
    }
}
