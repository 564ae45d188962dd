//! The lifecycle: `active` until no event has arrived for the idle time, then `ended`, with
//! `endedAt` (the last message's time), `durationSeconds` and an outcome:
//!
//! - `abandoned`: the last prompt has no `agent_response` after it;
//! - `error`: the last `agent_response` is a failure (`eventProperties.error` truthy, or a
//!   fallback answer, see [`super::fallback`]);
//! - `completed`: otherwise (also a conversation without prompts whose last answer is fine).
//!
//! A conversation its owner ended through the conversation log API (`status: ended`) is
//! ended at once, until a later message resumes it; an outcome its owner set overrides the
//! computed one and is marked as the owner's (`outcomeSource: client`).

use serde::Serialize;

use super::{fallback, AnalysisConfig, Conversation, Kind};

/// Whether a conversation still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// An event arrived within the idle time.
    Active,
    /// No event for the idle time or longer.
    Ended,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Ended => "ended",
        }
    }

    /// The status of a conversation whose last event was at `last_event_at`: ended once
    /// `now - last_event_at >= idle_ms`.
    pub fn at(last_event_at: i64, now: i64, idle_ms: i64) -> Status {
        if now.saturating_sub(last_event_at) >= idle_ms {
            Status::Ended
        } else {
            Status::Active
        }
    }
}

/// How an ended conversation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The last prompt got an acceptable answer.
    Completed,
    /// The last prompt never got an answer.
    Abandoned,
    /// The last answer is a failure.
    Error,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Completed, Outcome::Abandoned, Outcome::Error];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Abandoned => "abandoned",
            Outcome::Error => "error",
        }
    }

    /// The outcome of a wire name.
    pub fn parse(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// The lifecycle part of a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    /// At `now`.
    pub status: Status,
    /// The last message's time.
    pub ended_at: i64,
    /// Whole seconds from the start to `ended_at`.
    pub duration_seconds: i64,
    /// The outcome as the conversation stands.
    pub outcome: Outcome,
    /// Whether the outcome is the owner's ([`Conversation::client_outcome`]).
    pub client_outcome: bool,
    /// When the conversation ends without another event (`None`: it has ended).
    pub recheck_at: Option<i64>,
}

/// Judges the lifecycle of `c` at `now`.
pub fn judge(c: &Conversation, now: i64, cfg: &AnalysisConfig) -> Lifecycle {
    let status = if c.closed {
        Status::Ended
    } else {
        Status::at(c.last_event_at, now, cfg.idle_ms)
    };
    let ended_at = c
        .messages
        .iter()
        .map(|m| m.timestamp)
        .max()
        .unwrap_or(c.started_at);
    let last_prompt = c.messages.iter().rposition(|m| m.kind == Kind::Prompt);
    let last_response = c.messages.iter().rposition(|m| m.kind == Kind::Response);
    let computed = match (last_prompt, last_response) {
        (Some(p), r) if r.is_none_or(|r| r < p) => Outcome::Abandoned,
        (_, Some(r)) => {
            let m = &c.messages[r];
            if m.error || fallback::phrase(m, cfg).is_some() {
                Outcome::Error
            } else {
                Outcome::Completed
            }
        }
        _ => Outcome::Completed,
    };
    Lifecycle {
        status,
        ended_at,
        duration_seconds: ended_at.saturating_sub(c.started_at).max(0) / 1000,
        outcome: c.client_outcome.unwrap_or(computed),
        client_outcome: c.client_outcome.is_some(),
        recheck_at: (status == Status::Active).then(|| c.last_event_at.saturating_add(cfg.idle_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn outcome(c: &Conversation) -> Outcome {
        judge(c, LATER, &AnalysisConfig::default()).outcome
    }

    #[test]
    fn status_turns_ended_at_the_idle_time_inclusive() {
        assert_eq!(Status::at(0, 1_799_999, 1_800_000), Status::Active);
        assert_eq!(Status::at(0, 1_800_000, 1_800_000), Status::Ended);
    }

    #[test]
    fn outcomes() {
        let answered = conv(vec![
            msg("p1", Kind::Prompt, "hi", 0.0),
            msg("r1", Kind::Response, "hello", 1.5),
        ]);
        assert_eq!(outcome(&answered), Outcome::Completed);
        let l = judge(&answered, LATER, &AnalysisConfig::default());
        assert_eq!(
            (l.status, l.ended_at, l.duration_seconds),
            (Status::Ended, 1500, 1)
        );
        assert_eq!(l.recheck_at, None);

        let mut abandoned = answered.clone();
        abandoned
            .messages
            .push(msg("p2", Kind::Prompt, "and?", 3.0));
        assert_eq!(outcome(&abandoned), Outcome::Abandoned);

        let mut failed = answered.clone();
        failed.messages[1].error = true;
        assert_eq!(outcome(&failed), Outcome::Error);
        let fallback = conv(vec![
            msg("p1", Kind::Prompt, "hi", 0.0),
            msg("r1", Kind::Response, "Sorry, I can't help with that.", 1.0),
        ]);
        assert_eq!(outcome(&fallback), Outcome::Error);
        // An earlier failure does not count once a later answer is fine.
        let mut recovered = failed.clone();
        recovered
            .messages
            .push(msg("p2", Kind::Prompt, "again", 3.0));
        recovered
            .messages
            .push(msg("r2", Kind::Response, "done", 4.0));
        assert_eq!(outcome(&recovered), Outcome::Completed);
        assert_eq!(outcome(&conv(vec![])), Outcome::Completed);
    }

    #[test]
    fn an_owner_ends_a_conversation_and_may_set_its_outcome() {
        let mut c = conv(vec![msg("p1", Kind::Prompt, "hi", 10.0)]);
        c.closed = true;
        let l = judge(&c, 11_000, &AnalysisConfig::default());
        assert_eq!(
            (l.status, l.recheck_at, l.outcome, l.client_outcome),
            (Status::Ended, None, Outcome::Abandoned, false)
        );
        c.client_outcome = Some(Outcome::Completed);
        let l = judge(&c, 11_000, &AnalysisConfig::default());
        assert_eq!((l.outcome, l.client_outcome), (Outcome::Completed, true));
    }

    #[test]
    fn an_active_conversation_is_rechecked_when_it_goes_idle() {
        let c = conv(vec![msg("p1", Kind::Prompt, "hi", 10.0)]);
        let l = judge(&c, 11_000, &AnalysisConfig::default());
        assert_eq!(
            (l.status, l.recheck_at),
            (Status::Active, Some(10_000 + 1_800_000))
        );
    }
}
