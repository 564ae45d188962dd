//! The wire envelopes of contract v1, browser -> proxy (see docs/PROTOCOL.md, section 1).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cat;
use crate::event_type::EventType;
use crate::json::{describe, slots, Json, Kind};
use crate::limits::MAX_ID_BYTES;
use crate::parse::{parse_event_properties, parse_properties};
use crate::problem::{Code, Problem, Problems};
use crate::properties::AgentProperties;
use crate::suggest::closest;
use crate::text::num;

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
pub fn parse_event<'a, J: Json<'a>>(value: J) -> Result<Event, Problems> {
    if value.kind() != Kind::Object {
        return Err(vec![Problem::new(
            Code::NotAnObject,
            "event",
            cat!["an event must be an object, got ", describe(value)],
        )]);
    }
    let mut problems = Vec::new();
    let [event_id, event_type, timestamp, visitor_id, account_id, properties, custom, context] =
        slots(value, &EVENT_FIELDS, &mut |key| {
            problems.push(unknown_key(key, &EVENT_FIELDS, ""))
        });
    let event_id = id(&mut problems, event_id, "eventId", true).unwrap_or_default();
    let event_type = match event_type.map(|t| (t, t.as_str())) {
        Some((_, Some(s))) => EventType::parse_field(&s, "type")
            .map_err(|p| problems.push(p))
            .ok(),
        other => {
            problems.push(wrong(
                other.map(|(t, _)| t),
                "type",
                "one of prompt, agent_response, user_reaction, agent_trace",
            ));
            None
        }
    };
    let timestamp = whole(&mut problems, timestamp, "timestamp").unwrap_or_default();
    let visitor_id = id(&mut problems, visitor_id, "visitorId", false);
    let account_id = id(&mut problems, account_id, "accountId", false);
    let properties = match properties {
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
    let event_properties = parse_event_properties(custom)
        .map_err(|p| problems.push(p))
        .ok();
    let context = parse_context(&mut problems, context);
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

fn parse_context<'a, J: Json<'a>>(problems: &mut Problems, value: Option<J>) -> Option<Context> {
    let map = match value {
        Some(v) if v.kind() == Kind::Object => v,
        other => {
            problems.push(wrong(
                other,
                "context",
                "an object {url, title, userAgent, language, seq, sdk}",
            ));
            return None;
        }
    };
    let [url, title, user_agent, language, seq, sdk] = slots(map, &CONTEXT_FIELDS, &mut |key| {
        problems.push(unknown_key(key, &CONTEXT_FIELDS, "context."))
    });
    let mut text = |value: Option<J>, field: &str, required: bool| -> Option<String> {
        match value.map(|v| (v, v.as_str())) {
            None => None,
            Some((v, _)) if v.is_null() && !required => None,
            Some((_, Some(s))) if s.len() <= MAX_CONTEXT_STRING_BYTES => Some(s.into_owned()),
            Some((_, Some(s))) => {
                problems.push(Problem::new(
                    Code::TooLarge,
                    field,
                    cat![
                        field,
                        " is ",
                        num(s.len() as u64),
                        " bytes; at most ",
                        num(MAX_CONTEXT_STRING_BYTES as u64),
                        " are allowed"
                    ],
                ));
                None
            }
            Some((v, None)) => {
                problems.push(wrong(Some(v), field, "a string"));
                None
            }
        }
        .or_else(|| {
            if required && value.is_none() {
                problems.push(wrong(value, field, "a string"));
            }
            None
        })
    };
    let url = text(url, "context.url", false);
    let title = text(title, "context.title", false);
    let user_agent = text(user_agent, "context.userAgent", false);
    let language = text(language, "context.language", false);
    let sdk = text(sdk, "context.sdk", true).unwrap_or_default();
    let seq = whole(problems, seq, "context.seq").unwrap_or_default();
    Some(Context {
        url,
        title,
        user_agent,
        language,
        seq,
        sdk,
    })
}

/// The problem of a name that is not part of an event (`prefix` is the path of its object).
fn unknown_key(key: &str, known: &[&str], prefix: &str) -> Problem {
    let hint = closest(key, known)
        .map(|s| cat!["did you mean `", s, "`? "])
        .unwrap_or_default();
    Problem::new(
        Code::UnknownProperty,
        cat![prefix, key],
        cat![
            prefix,
            key,
            " is not part of an event; ",
            hint,
            "allowed: ",
            crate::text::list(known)
        ],
    )
}

fn wrong<'a, J: Json<'a>>(value: Option<J>, field: &str, wanted: &str) -> Problem {
    match value {
        Some(v) if !v.is_null() => Problem::new(
            Code::WrongType,
            field,
            cat![field, " must be ", wanted, ", got ", describe(v)],
        ),
        _ => Problem::new(
            Code::MissingField,
            field,
            cat![field, " is required (", wanted, ")"],
        ),
    }
}

fn id<'a, J: Json<'a>>(
    problems: &mut Problems,
    value: Option<J>,
    name: &str,
    required: bool,
) -> Option<String> {
    match value.map(|v| (v, v.as_str())) {
        None if !required => None,
        Some((v, _)) if v.is_null() && !required => None,
        Some((_, Some(s))) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Some(s.into_owned()),
        Some((_, Some(s))) if s.is_empty() => {
            problems.push(Problem::new(
                Code::EmptyString,
                name,
                cat![name, " must be a non-empty string"],
            ));
            None
        }
        Some((_, Some(s))) => {
            problems.push(Problem::new(
                Code::TooLarge,
                name,
                cat![
                    name,
                    " is ",
                    num(s.len() as u64),
                    " bytes; at most ",
                    num(MAX_ID_BYTES as u64),
                    " are allowed"
                ],
            ));
            None
        }
        _ => {
            problems.push(wrong(value, name, "a non-empty string"));
            None
        }
    }
}

fn whole<'a, J: Json<'a>>(problems: &mut Problems, value: Option<J>, field: &str) -> Option<u64> {
    let n = value.and_then(|v| v.as_whole());
    if n.is_none() {
        problems.push(wrong(value, field, "a whole number >= 0"));
    }
    n
}

/// Custom properties of an event: the compact JSON text of an object, checked by
/// [`parse_event_properties`]; empty when the event has none. Kept as text so the browser
/// module stores and sends it without a JSON value tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventProperties(String);

impl EventProperties {
    /// Text already checked to be a JSON object (`{}` means none).
    pub(crate) fn from_checked(text: String) -> Self {
        if text == "{}" {
            EventProperties::default()
        } else {
            EventProperties(text)
        }
    }

    /// From a map (the Rust API).
    pub fn from_map(map: &Map<String, Value>) -> Self {
        Self::from_checked(serde_json::to_string(map).unwrap_or_default())
    }

    /// The JSON text of the object; empty when there are none.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As a map (empty when none).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl Serialize for EventProperties {
    /// As a JSON object (`{}` when none).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventProperties {
    /// From a JSON object.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(EventProperties::from_map(&Map::deserialize(d)?))
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
    #[serde(default, skip_serializing_if = "EventProperties::is_empty")]
    pub event_properties: EventProperties,
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

/// The proxy's 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// Identifies the request in the server's logs; also its `x-request-id` header.
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

/// The body of every error answer (4xx, 5xx) of the proxy and the collector, written by the
/// server's `error::layer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Identifies the request in the proxy's logs.
    pub request_id: String,
    /// Stable reason, e.g. `body_too_large`, `rate_limited`, `upstream_unavailable`.
    pub code: String,
    /// What was wrong and what is allowed.
    pub message: String,
    /// With `validation_error` only: every bad field (a JSON path such as
    /// `messages[2].content`) and what is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<std::collections::BTreeMap<String, String>>,
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
        let event: Event = serde_json::from_value(body["events"][0].clone()).unwrap();
        assert_eq!(event.event_type, EventType::Prompt);
        assert_eq!(event.context.seq, 12);
        assert_eq!(serde_json::to_value(&event).unwrap(), body["events"][0]);
        assert_eq!(parse_event(&body["events"][0]).unwrap(), event);
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
