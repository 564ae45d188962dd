//! `POST /data/agentic`: the body of Pendo's server-side Conversations API, so that a backend
//! instrumented for Pendo sends to agent-track by changing the host. The key goes in
//! `x-pendo-integration-key` and must be one of the collector's ingest keys.
//!
//! ```json
//! { "type": "prompt", "visitor_id": "v1", "account_id": "acme", "timestamp": 1763712000050,
//!   "props": { "agentId": "support-bot", "conversationId": "c-1", "messageId": "m-1",
//!              "content": "Where is my order?", "eventProperties": { "experiment": "a" } },
//!   "context": { "ip": null, "userAgent": "...", "url": "...", "title": "..." } }
//! ```
//!
//! `props` are checked by the schema crate's rules (the browser's and the proxy's), every
//! problem at once (400 `validation_error` with `details`). The event is stored like a
//! relayed one, with the same merge rules; its eventId is derived from conversation, message
//! and type (and, for a reaction, its time and value), so a repeat is a duplicate: the
//! messageId dedupe of Pendo's API. 200 `{requestId, accepted, duplicates}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_track_schema::suggest::closest;
use agent_track_schema::{
    parse_event_properties, parse_properties, Context, Event, EventType, RelayedEvent,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::record::Record;
use super::{store, time, Collector};
use crate::error::{now_i64, ApiError, RequestId};

/// The header holding the key.
pub const KEY_HEADER: &str = "x-pendo-integration-key";

/// Largest accepted body: one event (128 KB) with room to spare.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The `sdk` stored in the context of these events.
pub const SDK: &str = "pendo-server-api";

const FIELDS: [&str; 6] = [
    "type",
    "visitor_id",
    "account_id",
    "timestamp",
    "props",
    "context",
];

/// The route, requiring an ingest key in [`KEY_HEADER`].
pub fn routes(collector: Arc<Collector>) -> Router<Arc<Collector>> {
    Router::new()
        .route("/data/agentic", post(track))
        .route_layer(middleware::from_fn_with_state(collector, require_key))
}

async fn require_key(State(c): State<Arc<Collector>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if given.is_some_and(|k| super::log::is_ingest_key(&c.ingest_keys, k)) {
        return next.run(req).await;
    }
    super::log::refuse_key(&c, given, KEY_HEADER)
}

/// The eventId of a Pendo event: where it is stored, and for a reaction also its time and
/// value (a later reaction to the same message is a new event; its repeat is not).
fn event_id(e: &Event) -> String {
    let p = &e.properties;
    let ts = e.timestamp.to_string();
    let mut parts = vec![
        p.conversation_id.as_str(),
        p.message_id.as_str(),
        e.event_type.as_str(),
    ];
    if e.event_type == EventType::UserReaction {
        parts.extend([ts.as_str(), p.content.as_str()]);
    }
    super::record::derived_id("pendo_", &parts)
}

fn string(
    details: &mut BTreeMap<String, String>,
    obj: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) if required => {
            details.insert(key.into(), "is required: a non-empty string".into());
            None
        }
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= agent_track_schema::limits::MAX_ID_BYTES =>
        {
            Some(s.clone())
        }
        Some(_) => {
            details.insert(
                key.into(),
                "must be a non-empty string of at most 1024 bytes".into(),
            );
            None
        }
    }
}

/// Checks a body into the event it records, received at `now`.
pub fn parse(body: &Value, now: i64) -> Result<RelayedEvent, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid_body", "the body must be a JSON object"))?;
    let mut details = BTreeMap::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            let hint = closest(key, &FIELDS)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_else(|| format!("; known: {}", FIELDS.join(", ")));
            details.insert(key.clone(), format!("is not a known field{hint}"));
        }
    }
    let event_type = match obj.get("type") {
        Some(Value::String(t)) => EventType::parse_field(t, "type")
            .map_err(|p| details.insert("type".into(), p.message))
            .ok(),
        _ => {
            details.insert(
                "type".into(),
                "is required: one of prompt, agent_response, user_reaction, agent_trace".into(),
            );
            None
        }
    };
    let visitor_id = string(&mut details, obj, "visitor_id", true);
    let account_id = string(&mut details, obj, "account_id", false);
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => Some(now),
        Some(v) => match v.as_i64().filter(|t| {
            (0..=time::MAX_MS).contains(t)
                && *t <= now.saturating_add(super::log::request::MAX_FUTURE_MS)
        }) {
            Some(t) => Some(t),
            None => {
                details.insert(
                    "timestamp".into(),
                    "must be unix milliseconds, not more than 5 minutes ahead of the collector's clock".to_owned(),
                );
                None
            }
        },
    };
    let mut props = match obj.get("props") {
        Some(Value::Object(p)) => Some(p.clone()),
        _ => {
            details.insert(
                "props".into(),
                "is required: an object with agentId, conversationId, messageId and content".into(),
            );
            None
        }
    };
    let event_properties = props
        .as_mut()
        .and_then(|p| p.remove("eventProperties"))
        .map(|v| parse_event_properties(Some(&v)));
    let event_properties = match event_properties {
        Some(Ok(e)) => e,
        Some(Err(p)) => {
            details.insert(format!("props.{}", p.field), p.message);
            Default::default()
        }
        None => Default::default(),
    };
    let properties = match (event_type, props) {
        (Some(t), Some(p)) => match parse_properties(t, &Value::Object(p)) {
            Ok(props) => Some(props.normalized()),
            Err(problems) => {
                for p in problems {
                    let field = p.field.replacen("properties", "props", 1);
                    details
                        .entry(field)
                        .or_insert(p.message.replacen("properties", "props", 1));
                }
                None
            }
        },
        _ => None,
    };
    let context = match obj.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => {
            details.insert("context".into(), "must be an object".into());
            Map::new()
        }
    };
    let text = |key: &str| {
        context
            .get(key)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(2048).collect::<String>())
    };
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let (Some(event_type), Some(properties), Some(timestamp)) = (event_type, properties, timestamp)
    else {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the body is not an event",
        ));
    };
    let mut event = Event {
        event_id: String::new(),
        event_type,
        timestamp: u64::try_from(timestamp).unwrap_or(0),
        visitor_id,
        account_id,
        properties,
        event_properties,
        context: Context {
            url: text("url"),
            title: text("title"),
            user_agent: text("userAgent"),
            language: None,
            seq: 0,
            sdk: SDK.into(),
        },
    };
    event.event_id = event_id(&event);
    Ok(RelayedEvent {
        client_timestamp: event.timestamp,
        event,
        received_at: u64::try_from(now).unwrap_or(0),
        ip: text("ip"),
    })
}

async fn track(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = super::ingest::read_body_limited(&headers, body, MAX_BODY_BYTES).await?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("the body is not JSON: {e}")))?;
    let now = now_i64();
    let relayed = parse(&body, now)?;
    let record = Record::from_event(&relayed).map_err(|r| {
        ApiError::validation(BTreeMap::from([(
            r.field.replacen("properties", "props", 1),
            r.message,
        )]))
    })?;
    let cfg = Arc::clone(&c.analysis);
    let hooks = c.webhook_targets().clone();
    let outcome = c
        .write(&rid, move |tx| {
            store::apply(tx, std::slice::from_ref(&record), now, &cfg, &hooks)
        })
        .await?;
    c.wake_webhooks();
    c.metrics()
        .count("pendo", "accepted", outcome.accepted as u64);
    c.metrics()
        .count("pendo", "duplicate", outcome.duplicates as u64);
    Ok(Json(serde_json::json!({
        "requestId": rid.as_str(),
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"type": "user_reaction", "visitor_id": "v1", "account_id": "acme", "timestamp": 1000,
            "props": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": "negative",
                      "agentUserReactionComments": ["wrong"], "eventProperties": {"k": 1}},
            "context": {"ip": "10.0.0.1", "userAgent": "curl", "url": "https://x", "title": "T"}})
    }

    #[test]
    fn a_pendo_body_becomes_a_relayed_event() {
        let r = parse(&body(), 5000).unwrap();
        assert_eq!(r.event.event_type, EventType::UserReaction);
        assert_eq!(
            (r.event.timestamp, r.received_at, r.client_timestamp),
            (1000, 5000, 1000)
        );
        assert_eq!(r.ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(r.event.event_properties.as_str(), r#"{"k":1}"#);
        assert_eq!(r.event.context.sdk, SDK);
        // A repeat has the same id; a later reaction to the same message has another.
        assert_eq!(parse(&body(), 9).unwrap().event.event_id, r.event.event_id);
        let mut later = body();
        later["timestamp"] = json!(2000);
        assert_ne!(parse(&later, 9).unwrap().event.event_id, r.event.event_id);
    }

    #[test]
    fn every_problem_is_named_with_pendo_field_names() {
        let e = parse(
            &json!({"type": "prmpt", "visitorId": "v", "timestamp": -1,
                    "props": {"agentId": "", "conversationID": "c", "messageId": "m", "content": "x"}}),
            0,
        )
        .unwrap_err();
        let d = e.details.unwrap();
        assert!(
            d["visitorId"].contains("did you mean `visitor_id`"),
            "{d:?}"
        );
        assert!(d.contains_key("visitor_id"), "{d:?}");
        assert!(d.contains_key("type"), "{d:?}");
        assert!(d.contains_key("timestamp"), "{d:?}");
        let d = parse(
            &json!({"type": "prompt", "visitor_id": "v",
                    "props": {"agentId": "", "conversationID": "c", "messageId": "m", "content": "x"}}),
            0,
        )
        .unwrap_err()
        .details
        .unwrap();
        assert!(d.contains_key("props.agentId"), "{d:?}");
        assert!(
            d["props.conversationID"].contains("conversationId"),
            "{d:?}"
        );
    }
}
