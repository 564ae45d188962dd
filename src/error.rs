//! [`Error`]: everything the tracker reports, thrown as an `AgentTrackError` in JS.

use agent_track_schema::cat;
use agent_track_schema::text::num;
use agent_track_schema::{Problem, Problems};

use crate::codes;

/// What went wrong. In JS each becomes an `AgentTrackError` with `code`, `field`, `message`
/// and `errors` (see the JS boundary).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The event broke schema rules; nothing was queued. Never empty.
    Validation(Problems),
    /// A `configure` option is wrong; the previous configuration stays in force.
    Config {
        /// The option, e.g. `flushAt`.
        field: String,
        /// What is allowed.
        message: String,
    },
    /// The `beforeSend` hook threw or returned something that is not an event; the event was
    /// not queued.
    BeforeSend(String),
    /// A delivery pass could not deliver (no endpoint, offline, the proxy or network failed);
    /// the events stay queued and are retried.
    Delivery {
        /// `no_endpoint`, `offline`, `busy` or `delivery_failed`.
        code: &'static str,
        /// What happened and what happens next.
        message: String,
    },
}

impl Error {
    /// `flush()` could not get the cross-tab lock.
    pub fn busy() -> Error {
        Error::Delivery {
            code: codes::BUSY,
            message: "another sender holds the lock; the events stay queued".into(),
        }
    }

    /// The stable code of the (first) problem, e.g. `unknown_property`, `invalid_config`.
    pub fn code(&self) -> &str {
        match self {
            Error::Validation(p) => p.first().map_or(codes::INVALID_EVENT, |p| p.code.as_str()),
            Error::Config { .. } => codes::INVALID_CONFIG,
            Error::BeforeSend(_) => codes::BEFORE_SEND_FAILED,
            Error::Delivery { code, .. } => code,
        }
    }

    /// The field of the (first) problem, if there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Validation(p) => p.first().map(|p| p.field.as_str()),
            Error::Config { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Every schema problem of a [`Error::Validation`]; empty for the other variants.
    pub fn problems(&self) -> Problems {
        match self {
            Error::Validation(p) => p.clone(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn one(problem: Problem) -> Self {
        Error::Validation(vec![problem])
    }
}

impl Error {
    /// What went wrong, for people: the first problem's message, and how many more there
    /// are. Built without `core::fmt` (this is what the JS API throws).
    pub fn message(&self) -> String {
        match self {
            Error::Validation(p) => match p.len() {
                0 => "invalid event".into(),
                1 => p[0].message.clone(),
                n => cat![
                    p[0].message,
                    " (and ",
                    num(n as u64 - 1),
                    if n == 2 {
                        " more problem)"
                    } else {
                        " more problems)"
                    }
                ],
            },
            Error::Config { message, .. } => message.clone(),
            Error::BeforeSend(m) | Error::Delivery { message: m, .. } => m.clone(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_track_schema::Code;

    #[test]
    fn the_message_is_the_first_problem_and_counts_the_rest() {
        let e = Error::Validation(vec![
            Problem::new(
                Code::MissingField,
                "properties.agentId",
                "properties.agentId is required",
            ),
            Problem::new(Code::EmptyString, "properties.content", "c"),
            Problem::new(Code::EmptyString, "properties.messageId", "m"),
        ]);
        assert_eq!(
            e.to_string(),
            "properties.agentId is required (and 2 more problems)"
        );
        assert_eq!(
            (e.code(), e.field()),
            ("missing_field", Some("properties.agentId"))
        );
    }
}
