//! The versions of the `POST /v1/events` body (pure): which contract a body follows, and its
//! events in the v1 shape, whatever the version.
//!
//! - v1 (`v` absent or `1`): `{sentAt, events}`. Every event carries its whole `context`. A
//!   top-level `context` is ignored.
//! - v2 (`v: 2`): `{v, sentAt, context?, events}`. The batch `context` (`url`, `title`,
//!   `userAgent`, `language`, `sdk`), when present and not `null`, must be an object. An event
//!   whose `context` is an object with no key other than `seq` (`{"seq": N}`) inherits the batch
//!   context with its own `seq` (replacing a `seq` of the batch context); any other event is
//!   used as is. The result is then validated as a v1 event, so an inherited context that
//!   breaks a rule (no `sdk`, say) rejects those events one by one.
//! - Any other `v`: 501 `unsupported_version`. The browser keeps the events and retries on
//!   5xx, so nothing is lost while the proxy is upgraded.
//!
//! Events are expanded one at a time while they are validated ([`Events::iter`]), so a large
//! batch context is never copied into every event of a batch at once.

use std::borrow::Cow;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The contract versions this proxy understands, as the `v` of a body.
pub const SUPPORTED_VERSIONS: [u64; 2] = [1, 2];

/// Longest excerpt of an unsupported `v` quoted back in the error message, in characters.
const MAX_QUOTED_CHARS: usize = 40;

/// The contract a body follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `v` absent or `1`: events carry their whole context.
    V1,
    /// `v: 2`: a batch context that `{"seq": N}` events inherit.
    V2,
}

/// Reads `v` of a body: absent or the number `1` is v1, the number `2` is v2. Anything else
/// (`3`, `"2"`, `-1`, `1.0`, `null`) is 501 `unsupported_version`, naming the versions this
/// proxy understands.
pub fn version(body: &Map<String, Value>) -> Result<Version, ApiError> {
    let Some(v) = body.get("v") else {
        return Ok(Version::V1);
    };
    match v.as_u64() {
        Some(1) => Ok(Version::V1),
        Some(2) => Ok(Version::V2),
        _ => {
            let mut quoted = v.to_string();
            if quoted.chars().count() > MAX_QUOTED_CHARS {
                quoted = quoted.chars().take(MAX_QUOTED_CHARS).collect::<String>() + "...";
            }
            Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported_version",
                format!(
                    "the body's v is {quoted}; this proxy understands v 1 (or no v) and v 2 \
                     of the events contract; upgrade the proxy before the pages that send this \
                     version (the events stay queued in the browser meanwhile)"
                ),
            ))
        }
    }
}

/// The events of a body, read with [`events`].
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    /// The v2 batch context; `None` in v1 or when a v2 body has none.
    context: Option<&'a Map<String, Value>>,
    /// The events as sent.
    events: &'a [Value],
}

impl<'a> Events<'a> {
    /// How many events the body holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the body holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events in the v1 shape, in body order: borrowed as sent, or (v2, `{"seq": N}`
    /// context, batch context present) a copy with the batch context plus that `seq`.
    pub fn iter(&self) -> impl Iterator<Item = Cow<'a, Value>> + 'a {
        let context = self.context;
        self.events.iter().map(move |e| expand(e, context))
    }
}

/// Reads the version (501 `unsupported_version` for one this proxy does not understand), the
/// `events` array (400 `invalid_batch` otherwise) and, in v2, the batch `context` (400
/// `invalid_batch` naming `context` when it is present, not `null` and not an object).
pub fn events(body: &Map<String, Value>) -> Result<Events<'_>, ApiError> {
    let version = version(body)?;
    let Some(events) = body.get("events").and_then(Value::as_array) else {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "events must be an array of events",
        ));
    };
    let context = match (version, body.get("context")) {
        (Version::V1, _) | (Version::V2, None | Some(Value::Null)) => None,
        (Version::V2, Some(Value::Object(map))) => Some(map),
        (Version::V2, Some(other)) => {
            return Err(ApiError::bad_request(
                "invalid_batch",
                format!(
                    "context must be an object {{url?, title?, userAgent?, language?, sdk}} in a \
                     v 2 body, got {}",
                    kind(other)
                ),
            ))
        }
    };
    Ok(Events {
        context,
        events: events.as_slice(),
    })
}

/// `event` in the v1 shape: with the batch context and its own `seq` when its `context` is an
/// object with no key other than `seq`, else as sent.
fn expand<'a>(event: &'a Value, batch: Option<&Map<String, Value>>) -> Cow<'a, Value> {
    let Some(batch) = batch else {
        return Cow::Borrowed(event);
    };
    let Some(Value::Object(own)) = event.get("context") else {
        return Cow::Borrowed(event);
    };
    if own.keys().any(|k| k != "seq") {
        return Cow::Borrowed(event);
    }
    let mut context = batch.clone();
    if let Some(seq) = own.get("seq") {
        context.insert("seq".into(), seq.clone());
    }
    let mut event = event.clone();
    event["context"] = Value::Object(context);
    Cow::Owned(event)
}

/// The JSON type of `value`, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn expanded(body: Value) -> Vec<Value> {
        let body = obj(body);
        let events = events(&body).unwrap();
        events.iter().map(Cow::into_owned).collect()
    }

    const CTX: &str = r#"{"url": "https://app.example/chat", "title": "Chat", "userAgent": "UA",
                          "language": "en-US", "sdk": "agent-track/0.2.0"}"#;

    fn ctx() -> Value {
        serde_json::from_str(CTX).unwrap()
    }

    #[test]
    fn versions_absent_one_and_two_are_understood() {
        assert_eq!(version(&obj(json!({"events": []}))), Ok(Version::V1));
        assert_eq!(version(&obj(json!({"v": 1}))), Ok(Version::V1));
        assert_eq!(version(&obj(json!({"v": 2}))), Ok(Version::V2));
    }

    #[test]
    fn other_versions_are_501_naming_what_is_understood() {
        for v in [
            json!(3),
            json!("2"),
            json!(-1),
            json!(1.0),
            json!(2.5),
            json!(null),
            json!([2]),
            json!({"major": 2}),
            json!(u64::MAX),
        ] {
            let e = version(&obj(json!({ "v": v }))).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::NOT_IMPLEMENTED, "unsupported_version"),
                "{v}"
            );
            assert!(
                e.message.contains(&format!("the body's v is {v};")),
                "{}",
                e.message
            );
            assert!(
                e.message.contains("v 1 (or no v) and v 2") && e.message.contains("upgrade"),
                "{}",
                e.message
            );
        }
        let long = version(&obj(json!({"v": "x".repeat(10_000)}))).unwrap_err();
        assert!(long.message.len() < 400, "{}", long.message);
    }

    #[test]
    fn v1_events_are_used_as_sent_and_a_top_level_context_ignored() {
        let events = vec![json!({"eventId": "a", "context": {"seq": 1}})];
        for body in [
            json!({"sentAt": 1, "context": ctx(), "events": events}),
            json!({"v": 1, "sentAt": 1, "context": ctx(), "events": events}),
            json!({"v": 1, "sentAt": 1, "context": "not an object", "events": events}),
        ] {
            assert_eq!(expanded(body), events);
        }
    }

    #[test]
    fn v2_seq_only_contexts_inherit_the_batch_context() {
        let body = json!({"v": 2, "sentAt": 1, "context": ctx(), "events": [
            {"eventId": "a", "context": {"seq": 7}},
            {"eventId": "b", "context": {"seq": 8, "sdk": "own/1"}},
            {"eventId": "c", "context": {"url": "https://other.example"}},
            {"eventId": "d", "context": {}},
            {"eventId": "e"},
            {"eventId": "f", "context": "x"},
            "not an event",
        ]});
        let got = expanded(body.clone());
        let mut a = ctx();
        a["seq"] = json!(7);
        assert_eq!(got[0], json!({"eventId": "a", "context": a}));
        // Any other key makes the context complete: used as is.
        assert_eq!(got[1], body["events"][1]);
        assert_eq!(got[2], body["events"][2]);
        // No key at all: the batch context without a seq (validation then names context.seq).
        assert_eq!(got[3], json!({"eventId": "d", "context": ctx()}));
        // No context, or not an object: as sent, for validation to report.
        assert_eq!(got[4..], body["events"].as_array().unwrap()[4..]);
    }

    #[test]
    fn the_events_own_seq_replaces_one_in_the_batch_context() {
        let mut batch = ctx();
        batch["seq"] = json!(1);
        let got = expanded(json!({"v": 2, "sentAt": 1, "context": batch,
                                  "events": [{"context": {"seq": 5}}]}));
        assert_eq!(got[0]["context"]["seq"], 5);
        assert_eq!(got[0]["context"]["sdk"], "agent-track/0.2.0");
    }

    #[test]
    fn v2_without_a_batch_context_uses_events_as_sent() {
        let events = json!([{"eventId": "a", "context": {"seq": 1}}]);
        for body in [
            json!({"v": 2, "sentAt": 1, "events": events}),
            json!({"v": 2, "sentAt": 1, "context": null, "events": events}),
        ] {
            assert_eq!(Value::from(expanded(body)), events);
        }
    }

    #[test]
    fn an_inherited_context_is_not_checked_here() {
        // Validation (parse_event) reports the missing sdk per event; expansion only copies.
        let got = expanded(json!({"v": 2, "sentAt": 1, "context": {"url": "u"},
                                  "events": [{"context": {"seq": 1}}]}));
        assert_eq!(got[0]["context"], json!({"url": "u", "seq": 1}));
    }

    #[test]
    fn a_v2_batch_context_that_is_not_an_object_is_400() {
        for context in [json!("ctx"), json!([ctx()]), json!(1), json!(true)] {
            let body = obj(json!({"v": 2, "sentAt": 1, "context": context, "events": []}));
            let e = events(&body).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "invalid_batch"),
                "{context}"
            );
            assert!(
                e.message.starts_with("context must be an object"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn events_must_be_an_array_and_the_version_is_read_first() {
        for body in [json!({"v": 2, "sentAt": 1}), json!({"events": {}})] {
            let e = events(&obj(body)).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "invalid_batch")
            );
        }
        // A future version may change the shape: 501 before anything else is checked.
        let e = events(&obj(json!({"v": 3, "batches": []}))).unwrap_err();
        assert_eq!(e.code, "unsupported_version");
    }

    #[test]
    fn length_counts_events_as_sent() {
        let body = obj(json!({"v": 2, "context": ctx(), "events": [{}, {}, {}]}));
        let events = events(&body).unwrap();
        assert_eq!((events.len(), events.is_empty()), (3, false));
        assert_eq!(events.iter().count(), 3);
    }
}
