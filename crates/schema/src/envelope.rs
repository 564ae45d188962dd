//! The wire envelopes of contract v1, browser -> proxy (see docs/PROTOCOL.md, section 1).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event_type::EventType;
use crate::limits::MAX_ID_BYTES;
use crate::parse::{parse_event_properties, parse_properties};
use crate::problem::{describe, Code, Problem, Problems};
use crate::properties::AgentProperties;
use crate::suggest::closest;

/// Longest accepted `context` string (`url`, `title`, `userAgent`, `language`, `sdk`), in bytes.
pub const MAX_CONTEXT_STRING_BYTES: usize = 8 * 1024;

const EVENT_FIELDS: [&str; 8] = [
    "eventId",
    "type",
    "timestamp",
    "visitorId",
    "accountId",
    "properties",
    "eventProperties",
    "context",
];
const CONTEXT_FIELDS: [&str; 6] = ["url", "title", "userAgent", "language", "seq", "sdk"];

/// Parses and validates one wire event from untrusted JSON, reporting every problem. Field
/// paths are relative to the event (`properties.agentId`, `context.seq`). `visitorId` may be
/// absent here (an event queued before `configure`); the proxy requires it separately.
pub fn parse_event(value: &Value) -> Result<Event, Problems> {
    let Some(map) = value.as_object() else {
        return Err(vec![Problem::new(
            Code::NotAnObject,
            "event",
            format!("an event must be an object, got {}", describe(value)),
        )]);
    };
    let mut problems = Vec::new();
    unknown_keys(&mut problems, map, &EVENT_FIELDS, "");
    let event_id = id(&mut problems, map, "eventId", true).unwrap_or_default();
    let event_type = match map.get("type") {
        Some(Value::String(s)) => EventType::parse(s)
            .map_err(|mut p| {
                p.field = "type".into();
                p.message = p.message.replacen("eventType", "type", 1);
                problems.push(p)
            })
            .ok(),
        other => {
            problems.push(wrong(
                other,
                "type",
                "one of prompt, agent_response, user_reaction, agent_trace",
            ));
            None
        }
    };
    let timestamp = whole(&mut problems, map.get("timestamp"), "timestamp").unwrap_or_default();
    let visitor_id = id(&mut problems, map, "visitorId", false);
    let account_id = id(&mut problems, map, "accountId", false);
    let properties = match map.get("properties") {
        Some(p) => parse_properties(event_type.unwrap_or(EventType::Prompt), p)
            .map_err(|p| problems.extend(p))
            .ok(),
        None => {
            problems.push(Problem::new(
                Code::MissingField,
                "properties",
                "properties is required (an object)",
            ));
            None
        }
    };
    let event_properties = parse_event_properties(map.get("eventProperties"))
        .map_err(|p| problems.push(p))
        .ok();
    let context = parse_context(&mut problems, map.get("context"));
    match (event_type, properties, event_properties, context) {
        (Some(event_type), Some(properties), Some(event_properties), Some(context))
            if problems.is_empty() =>
        {
            Ok(Event {
                event_id,
                event_type,
                timestamp,
                visitor_id,
                account_id,
                properties,
                event_properties,
                context,
            })
        }
        _ => Err(problems),
    }
}

fn parse_context(problems: &mut Problems, value: Option<&Value>) -> Option<Context> {
    let Some(Value::Object(map)) = value else {
        problems.push(wrong(
            value,
            "context",
            "an object {url, title, userAgent, language, seq, sdk}",
        ));
        return None;
    };
    unknown_keys(problems, map, &CONTEXT_FIELDS, "context.");
    let mut text = |name: &str, required: bool| -> Option<String> {
        let field = format!("context.{name}");
        match map.get(name) {
            None | Some(Value::Null) if !required => None,
            Some(Value::String(s)) if s.len() <= MAX_CONTEXT_STRING_BYTES => Some(s.clone()),
            Some(Value::String(s)) => {
                problems.push(Problem::new(
                    Code::TooLarge,
                    &field,
                    format!(
                        "{field} is {} bytes; at most {MAX_CONTEXT_STRING_BYTES} are allowed",
                        s.len()
                    ),
                ));
                None
            }
            other => {
                problems.push(wrong(other, &field, "a string"));
                None
            }
        }
    };
    let url = text("url", false);
    let title = text("title", false);
    let user_agent = text("userAgent", false);
    let language = text("language", false);
    let sdk = text("sdk", true).unwrap_or_default();
    let seq = whole(problems, map.get("seq"), "context.seq").unwrap_or_default();
    Some(Context {
        url,
        title,
        user_agent,
        language,
        seq,
        sdk,
    })
}

fn unknown_keys(problems: &mut Problems, map: &Map<String, Value>, known: &[&str], prefix: &str) {
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        let hint = closest(key, known)
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        problems.push(Problem::new(
            Code::UnknownProperty,
            format!("{prefix}{key}"),
            format!(
                "{prefix}{key} is not part of an event; {hint}allowed: {}",
                known.join(", ")
            ),
        ));
    }
}

fn wrong(value: Option<&Value>, field: &str, wanted: &str) -> Problem {
    match value {
        None | Some(Value::Null) => Problem::new(
            Code::MissingField,
            field,
            format!("{field} is required ({wanted})"),
        ),
        Some(v) => Problem::new(
            Code::WrongType,
            field,
            format!("{field} must be {wanted}, got {}", describe(v)),
        ),
    }
}

fn id(
    problems: &mut Problems,
    map: &Map<String, Value>,
    name: &str,
    required: bool,
) -> Option<String> {
    match map.get(name) {
        None | Some(Value::Null) if !required => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Some(s.clone()),
        Some(Value::String(s)) if s.is_empty() => {
            problems.push(Problem::new(
                Code::EmptyString,
                name,
                format!("{name} must be a non-empty string"),
            ));
            None
        }
        Some(Value::String(s)) => {
            problems.push(Problem::new(
                Code::TooLarge,
                name,
                format!(
                    "{name} is {} bytes; at most {MAX_ID_BYTES} are allowed",
                    s.len()
                ),
            ));
            None
        }
        other => {
            problems.push(wrong(other, name, "a non-empty string"));
            None
        }
    }
}

fn whole(problems: &mut Problems, value: Option<&Value>, field: &str) -> Option<u64> {
    match value.and_then(Value::as_u64) {
        Some(n) => Some(n),
        None => {
            problems.push(wrong(value, field, "a whole number >= 0"));
            None
        }
    }
}

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

    fn valid() -> Value {
        json!({ "eventId": "e1", "type": "user_reaction", "timestamp": 5, "visitorId": "v",
                "properties": { "agentId": "a", "conversationId": "c", "messageId": "m", "content": "positive" },
                "eventProperties": {"k": 1},
                "context": { "seq": 1, "sdk": "agent-track/0.1.0" } })
    }

    #[test]
    fn parse_event_accepts_what_serde_reads() {
        let e = parse_event(&valid()).unwrap();
        assert_eq!(e, serde_json::from_value::<Event>(valid()).unwrap());
        assert_eq!(serde_json::to_value(&e).unwrap(), valid());
    }

    #[test]
    fn parse_event_reports_every_envelope_problem() {
        let mut v = valid();
        let o = v.as_object_mut().unwrap();
        o.insert("eventId".into(), json!(""));
        o.insert("type".into(), json!("reaction"));
        o.insert("timestamp".into(), json!(-1));
        o.insert("visitorID".into(), json!("v"));
        o.insert("context".into(), json!({"seq": "1", "sdk": 3, "page": "x"}));
        let p = parse_event(&v).unwrap_err();
        let fields: Vec<_> = p.iter().map(|p| (p.code, p.field.as_str())).collect();
        assert_eq!(
            fields,
            [
                (Code::UnknownProperty, "visitorID"),
                (Code::EmptyString, "eventId"),
                (Code::InvalidEventType, "type"),
                (Code::WrongType, "timestamp"),
                (Code::UnknownProperty, "context.page"),
                (Code::WrongType, "context.sdk"),
                (Code::WrongType, "context.seq"),
            ]
        );
        assert!(
            p[0].message.contains("did you mean `visitorId`?"),
            "{}",
            p[0].message
        );
        assert!(
            p[2].message
                .starts_with("type \"reaction\" is not supported"),
            "{}",
            p[2].message
        );
    }

    #[test]
    fn parse_event_checks_properties_by_the_event_type() {
        let mut v = valid();
        v["properties"]["content"] = json!("liked");
        let p = parse_event(&v).unwrap_err();
        assert_eq!(
            (p[0].code, p[0].field.as_str()),
            (Code::InvalidReaction, "properties.content")
        );
        assert_eq!(
            parse_event(&json!([])).unwrap_err()[0].code,
            Code::NotAnObject
        );
        let p = parse_event(&json!({})).unwrap_err();
        assert!(p
            .iter()
            .any(|p| p.field == "properties" && p.code == Code::MissingField));
        assert!(p
            .iter()
            .any(|p| p.field == "context" && p.code == Code::MissingField));
    }

    #[test]
    fn a_response_without_rejections_parses() {
        let r: BatchResponse =
            serde_json::from_value(json!({"requestId":"r","accepted":3})).unwrap();
        assert_eq!((r.accepted, r.rejected.len()), (3, 0));
    }
}
