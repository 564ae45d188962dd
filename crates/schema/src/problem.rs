//! [`Problem`]: one broken rule, with a stable code, the field path and a message that says
//! what is allowed.

use serde::{Deserialize, Serialize};

/// Stable, machine-readable reason of a [`Problem`]. Serialized in snake_case; these strings
/// are part of the public contract (JS `AgentTrackError.code`, proxy `rejected[].code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// `eventType` is not one of the supported types.
    InvalidEventType,
    /// `properties`, `eventProperties` or a file entry is not an object.
    NotAnObject,
    /// A required property is absent (or `null`/`undefined`).
    MissingField,
    /// A value has the wrong JSON type (a number where a string is required, ...).
    WrongType,
    /// A string that must say something is empty.
    EmptyString,
    /// A property name that the schema does not know; custom data goes in `eventProperties`.
    UnknownProperty,
    /// `content` of a `user_reaction` is not `positive`, `negative` or `unreact`.
    InvalidReaction,
    /// A property that only one event type may carry appears on another.
    NotForEventType,
    /// A token count that is not a whole number >= 0.
    InvalidTokenCount,
    /// A value or the whole event is over a limit of [`crate::limits`].
    TooLarge,
    /// `eventProperties` nests deeper than [`crate::limits::MAX_EVENT_PROPERTIES_DEPTH`].
    TooDeep,
}

impl Code {
    /// The wire string, e.g. `"unknown_property"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidEventType => "invalid_event_type",
            Code::NotAnObject => "not_an_object",
            Code::MissingField => "missing_field",
            Code::WrongType => "wrong_type",
            Code::EmptyString => "empty_string",
            Code::UnknownProperty => "unknown_property",
            Code::InvalidReaction => "invalid_reaction",
            Code::NotForEventType => "not_for_event_type",
            Code::InvalidTokenCount => "invalid_token_count",
            Code::TooLarge => "too_large",
            Code::TooDeep => "too_deep",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Why, as a stable code.
    pub code: Code,
    /// Where: a path such as `properties.toolsUsed[2]` or `eventProperties`.
    pub field: String,
    /// For people: names the field, the rule, and what is allowed.
    pub message: String,
}

impl Problem {
    /// A problem at `field`.
    pub fn new(code: Code, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// Every problem found in one input, in the order the fields were checked. Never empty when
/// returned as an error.
pub type Problems = Vec<Problem>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_strings() {
        for code in [
            Code::InvalidEventType,
            Code::UnknownProperty,
            Code::InvalidTokenCount,
            Code::TooDeep,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn describe_is_short_and_typed() {
        use crate::json::describe;
        assert_eq!(describe(&serde_json::json!(12)), "the number 12");
        assert_eq!(describe(&serde_json::json!("12")), "the string \"12\"");
        assert!(describe(&serde_json::json!("x".repeat(500))).ends_with("..."));
    }
}
