//! [`Record`]: a relayed event checked and flattened into the values the store writes.
//! The proxy validated the event already; the collector checks again because its rules
//! (reaction content, id and time ranges) are what keep the read API free of surprises,
//! and a signed body is authentic, not necessarily well-formed.

use agent_track_schema::{Code, EventType, Reaction, RelayedEvent};
use serde_json::Value;

use super::time::MAX_MS;

/// What an event becomes in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A prompt, agent response or agent trace (or, from the conversation log API, a
    /// system or tool message): a message row, first write wins.
    Message,
    /// A user reaction: the reaction row of (conversationId, messageId), latest wins.
    Reaction(Reaction),
}

/// One event, ready to store. Times are unix ms; lists and objects are JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Client-generated id; dedupe key.
    pub event_id: String,
    /// Message or reaction.
    pub kind: Kind,
    /// The stored message type: an event type's wire name (`prompt`, `agent_response`,
    /// `agent_trace`, `user_reaction`), or `system` / `tool` from the conversation log API.
    pub type_name: &'static str,
    /// Which agent.
    pub agent_id: String,
    /// Which conversation.
    pub conversation_id: String,
    /// Which message (for a reaction: the message reacted to).
    pub message_id: String,
    /// Who.
    pub visitor_id: Option<String>,
    /// Which account.
    pub account_id: Option<String>,
    /// The text (for a reaction: `positive`, `negative` or `unreact`).
    pub content: String,
    /// Corrected timestamp.
    pub timestamp: i64,
    /// The browser's own timestamp.
    pub client_timestamp: i64,
    /// When the proxy received it.
    pub received_at: i64,
    /// Per-page sequence number: breaks ties between reactions of the same millisecond.
    pub seq: i64,
    /// Whether the prompt came from a suggestion.
    pub suggested_prompt: bool,
    /// JSON array of strings.
    pub tools_used: String,
    /// JSON array of strings.
    pub models_used: String,
    /// JSON array of `{type, name}`.
    pub files_uploaded: String,
    /// JSON array of strings.
    pub subagents_used: String,
    /// JSON array of strings (reactions).
    pub comments: String,
    /// Input tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// JSON object of custom properties.
    pub event_properties: String,
    /// JSON object: the browser context plus `ip` when the proxy forwarded it.
    pub context: String,
}

/// Why the collector refuses one event: a stable code, the field, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A schema code (`empty_string`, `too_large`, `invalid_reaction`...), `out_of_range`
    /// for a time past year 9999, or `invalid_event` for an event that is not a relayed
    /// event at all.
    pub code: &'static str,
    /// The field, e.g. `timestamp` or `properties.content`; empty for the whole event.
    pub field: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl Refusal {
    /// A refusal of `field` with `code`.
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Refusal {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An eventId derived from `parts` (each followed by a NUL byte, so no two lists of parts
/// hash alike): `prefix` + the first 16 bytes of their SHA-256, hex. For events that come
/// without an eventId (the conversation log API, `/data/agentic`), so a repeat is a duplicate.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}{hex}")
}

/// The refusal of a U+0000 (NUL) character in `field`.
pub fn nul(field: &str) -> Refusal {
    Refusal::new(
        "invalid_character",
        field,
        format!("{field} must not contain the NUL character (U+0000), which cannot be stored"),
    )
}

fn time(value: u64, field: &str) -> Result<i64, Refusal> {
    i64::try_from(value)
        .ok()
        .filter(|t| *t <= MAX_MS)
        .ok_or_else(|| {
            Refusal::new(
                "out_of_range",
                field,
                format!("{field} must be unix milliseconds up to {MAX_MS} (year 9999)"),
            )
        })
}

fn count(value: Option<u64>, field: &str) -> Result<Option<i64>, Refusal> {
    value
        .map(|n| {
            i64::try_from(n).map_err(|_| {
                Refusal::new(
                    Code::InvalidTokenCount.as_str(),
                    field,
                    format!("{field} must be at most {}", i64::MAX),
                )
            })
        })
        .transpose()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Serializing plain strings, vectors and JSON maps cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

impl Record {
    /// Checks one relayed event. The refusal names the field and the rule.
    pub fn from_event(relayed: &RelayedEvent) -> Result<Record, Refusal> {
        let e = &relayed.event;
        if e.event_id.is_empty() || e.event_id.len() > agent_track_schema::limits::MAX_ID_BYTES {
            let code = if e.event_id.is_empty() {
                Code::EmptyString
            } else {
                Code::TooLarge
            };
            return Err(Refusal::new(
                code.as_str(),
                "eventId",
                "eventId must be a non-empty string of at most 1024 bytes",
            ));
        }
        let p = e.properties.clone().normalized();
        if let Err(problems) = p.validate(e.event_type) {
            return Err(Refusal::new(
                problems[0].code.as_str(),
                problems[0].field.clone(),
                problems
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        // PostgreSQL's `text` cannot hold U+0000, and neither backend should hold what the other
        // refuses: the same rule for both.
        for (field, value) in [
            ("eventId", e.event_id.as_str()),
            ("visitorId", e.visitor_id.as_deref().unwrap_or("")),
            ("accountId", e.account_id.as_deref().unwrap_or("")),
            ("properties.agentId", p.agent_id.as_str()),
            ("properties.conversationId", p.conversation_id.as_str()),
            ("properties.messageId", p.message_id.as_str()),
            ("properties.content", p.content.as_str()),
        ] {
            if value.contains('\0') {
                return Err(nul(field));
            }
        }
        let kind = match e.event_type {
            EventType::UserReaction => Kind::Reaction(p.reaction().ok_or_else(|| {
                Refusal::new(
                    Code::InvalidReaction.as_str(),
                    "properties.content",
                    "properties.content of a user_reaction must be positive, negative or unreact",
                )
            })?),
            _ => Kind::Message,
        };
        let mut context = serde_json::to_value(&e.context).unwrap_or(Value::Null);
        if let (Some(ip), Value::Object(map)) = (&relayed.ip, &mut context) {
            map.insert("ip".into(), Value::String(ip.clone()));
        }
        Ok(Record {
            event_id: e.event_id.clone(),
            kind,
            type_name: e.event_type.as_str(),
            timestamp: time(e.timestamp, "timestamp")?,
            client_timestamp: time(relayed.client_timestamp, "clientTimestamp")?,
            received_at: time(relayed.received_at, "receivedAt")?,
            seq: i64::try_from(e.context.seq).unwrap_or(i64::MAX),
            visitor_id: e.visitor_id.clone(),
            account_id: e.account_id.clone(),
            suggested_prompt: p.suggested_prompt.unwrap_or(false),
            tools_used: json(&p.tools_used.unwrap_or_default()),
            models_used: json(&p.agent_models_used.unwrap_or_default()),
            files_uploaded: json(&p.agent_files_uploaded.unwrap_or_default()),
            subagents_used: json(&p.agent_subagents_used.unwrap_or_default()),
            comments: json(&p.agent_user_reaction_comments.unwrap_or_default()),
            input_tokens: count(p.agent_input_token_count, "properties.agentInputTokenCount")?,
            output_tokens: count(
                p.agent_output_token_count,
                "properties.agentOutputTokenCount",
            )?,
            event_properties: json(&e.event_properties),
            context: json(&context),
            agent_id: p.agent_id,
            conversation_id: p.conversation_id,
            message_id: p.message_id,
            content: p.content,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn relayed(v: Value) -> RelayedEvent {
        serde_json::from_value(v).unwrap()
    }

    fn base(kind: &str, content: &str) -> Value {
        json!({"eventId": "e1", "type": kind, "timestamp": 1000, "visitorId": "v",
            "properties": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": content,
                "modelUsed": "old", "agentModelsUsed": ["new"], "toolsUsed": ["search"]},
            "eventProperties": {"k": 1},
            "context": {"seq": 3, "sdk": "agent-track/0.1.0"}, "receivedAt": 1005, "clientTimestamp": 990, "ip": "10.0.0.1"})
    }

    #[test]
    fn flattens_and_normalizes() {
        let r = Record::from_event(&relayed(base("agent_response", "hi"))).unwrap();
        assert_eq!((&r.kind, r.type_name), (&Kind::Message, "agent_response"));
        assert_eq!(
            (r.timestamp, r.client_timestamp, r.received_at, r.seq),
            (1000, 990, 1005, 3)
        );
        assert_eq!(r.models_used, r#"["old","new"]"#);
        assert_eq!(r.tools_used, r#"["search"]"#);
        assert_eq!(
            (r.files_uploaded.as_str(), r.comments.as_str()),
            ("[]", "[]")
        );
        assert_eq!(r.event_properties, r#"{"k":1}"#);
        assert!(r.context.contains(r#""ip":"10.0.0.1""#), "{}", r.context);
        assert!(!r.suggested_prompt);
    }

    #[test]
    fn reactions_must_say_which() {
        let r = Record::from_event(&relayed(base("user_reaction", "unreact"))).unwrap();
        assert_eq!(r.kind, Kind::Reaction(Reaction::Unreact));
        let err = Record::from_event(&relayed(base("user_reaction", "meh"))).unwrap_err();
        assert!(
            err.message
                .contains("must be one of positive, negative, unreact"),
            "{err}"
        );
        assert_eq!(
            (err.code, err.field.as_str()),
            ("invalid_reaction", "properties.content")
        );
    }

    #[test]
    fn nul_characters_are_refused_in_ids_and_content() {
        let mut v = base("prompt", "x");
        v["properties"]["content"] = json!("a\u{0}b");
        let err = Record::from_event(&relayed(v)).unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            ("invalid_character", "properties.content")
        );
        let mut v = base("prompt", "x");
        v["eventId"] = json!("\u{0}");
        assert_eq!(
            Record::from_event(&relayed(v)).unwrap_err().field,
            "eventId"
        );
    }

    #[test]
    fn times_past_year_9999_are_refused() {
        let mut v = base("prompt", "x");
        v["timestamp"] = json!(u64::MAX);
        assert_eq!(
            Record::from_event(&relayed(v)).unwrap_err(),
            Refusal::new(
                "out_of_range",
                "timestamp",
                format!("timestamp must be unix milliseconds up to {MAX_MS} (year 9999)")
            )
        );
    }

    #[test]
    fn empty_ids_are_refused() {
        let mut v = base("prompt", "x");
        v["properties"]["conversationId"] = json!("");
        assert!(Record::from_event(&relayed(v))
            .unwrap_err()
            .message
            .contains("properties.conversationId must be a non-empty string"));
        let mut v = base("prompt", "x");
        v["eventId"] = json!("");
        assert!(Record::from_event(&relayed(v)).is_err());
    }
}
