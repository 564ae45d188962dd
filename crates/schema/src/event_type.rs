//! The event types of Pendo's Agent Analytics model.

use serde::{Deserialize, Serialize};

use crate::problem::{Code, Problem};
use crate::suggest::closest;
use crate::text::quote;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A visitor's message to the agent.
    Prompt,
    /// The agent's answer.
    AgentResponse,
    /// A visitor's reaction (`positive`, `negative`, `unreact`) to an answer.
    UserReaction,
    /// A trace span from an agent SDK; `content` carries the span as a string.
    AgentTrace,
}

impl EventType {
    /// Every type, in documentation order.
    pub const ALL: [EventType; 4] = [
        EventType::Prompt,
        EventType::AgentResponse,
        EventType::UserReaction,
        EventType::AgentTrace,
    ];

    /// The wire name (`"prompt"`, `"agent_response"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Prompt => "prompt",
            EventType::AgentResponse => "agent_response",
            EventType::UserReaction => "user_reaction",
            EventType::AgentTrace => "agent_trace",
        }
    }

    /// Parses a wire name. The error, with code `invalid_event_type` and field `eventType`,
    /// lists the allowed names and suggests the closest one.
    pub fn parse(name: &str) -> Result<EventType, Problem> {
        Self::parse_field(name, "eventType")
    }

    /// [`EventType::parse`] for a value found at `field` (the wire event's `type`).
    pub fn parse_field(name: &str, field: &str) -> Result<EventType, Problem> {
        if let Some(t) = EventType::ALL.into_iter().find(|t| t.as_str() == name) {
            return Ok(t);
        }
        let names = EventType::ALL.map(EventType::as_str);
        let hint = match closest(name, &names) {
            Some(s) => crate::cat![" (did you mean \"", s, "\"?)"],
            None => String::new(),
        };
        Err(Problem::new(
            Code::InvalidEventType,
            field,
            crate::cat![
                field,
                " ",
                quote(name),
                " is not supported",
                hint,
                "; use one of ",
                crate::text::list(&names)
            ],
        ))
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_wire_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn unknown_type_names_the_closest_and_the_allowed() {
        let p = EventType::parse("promt").unwrap_err();
        assert_eq!(p.code, Code::InvalidEventType);
        assert_eq!(p.field, "eventType");
        assert!(
            p.message.contains("did you mean \"prompt\"?"),
            "{}",
            p.message
        );
        assert!(p
            .message
            .contains("agent_response, user_reaction, agent_trace"));
    }

    #[test]
    fn pendo_camel_case_names_are_not_silently_accepted() {
        let p = EventType::parse("agentResponse").unwrap_err();
        assert!(p.message.contains("\"agent_response\""), "{}", p.message);
    }
}
