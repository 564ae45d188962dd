//! Deterministic, explainable conversation analysis: the lifecycle (status, end, outcome)
//! and seven issue types, each traceable to the messages that raised it.
//!
//! Everything here is pure: [`analyze`] takes a conversation's stored messages and current
//! reactions and the time, and returns a [`Verdict`]. Times are the stored, skew-corrected
//! `timestamp`s (unix ms); every window is inclusive. [`storage`] holds all the SQL of the
//! analysis (verdict tables, the sweep, the filters and the aggregate queries), so that a
//! second database backend replaces one module.
//!
//! - [`lifecycle`] — status, `endedAt`, `durationSeconds`, outcome.
//! - [`feedback`] — `negative_feedback`.
//! - [`rage`] — `rage_prompt`.
//! - [`answers`] — `unanswered_prompt` and `slow_response`.
//! - [`fallback`] — `fallback_answer`.
//! - [`repeated`] — `repeated_answer`.
//! - [`frustration`] — `frustration`.
//! - [`text`] — the normalisation they share.

pub mod answers;
pub mod fallback;
pub mod feedback;
pub mod frustration;
pub mod lifecycle;
pub mod rage;
pub mod repeated;
pub mod storage;
pub mod text;

use std::time::Duration;

use serde::Serialize;

pub use lifecycle::{Outcome, Status};
use text::Phrases;

/// The issue types, in the order the API lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueType {
    /// A message's current reaction is `negative`.
    NegativeFeedback,
    /// Several prompts repeating one request within a short window.
    RagePrompt,
    /// A prompt no `agent_response` followed.
    UnansweredPrompt,
    /// The first answer to a prompt came late.
    SlowResponse,
    /// An answer saying the agent cannot help.
    FallbackAnswer,
    /// The same answer to different prompts.
    RepeatedAnswer,
    /// A prompt with frustration signals.
    Frustration,
}

impl IssueType {
    /// Every type.
    pub const ALL: [IssueType; 7] = [
        IssueType::NegativeFeedback,
        IssueType::RagePrompt,
        IssueType::UnansweredPrompt,
        IssueType::SlowResponse,
        IssueType::FallbackAnswer,
        IssueType::RepeatedAnswer,
        IssueType::Frustration,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::NegativeFeedback => "negative_feedback",
            IssueType::RagePrompt => "rage_prompt",
            IssueType::UnansweredPrompt => "unanswered_prompt",
            IssueType::SlowResponse => "slow_response",
            IssueType::FallbackAnswer => "fallback_answer",
            IssueType::RepeatedAnswer => "repeated_answer",
            IssueType::Frustration => "frustration",
        }
    }

    /// The type of a wire name.
    pub fn parse(name: &str) -> Option<IssueType> {
        IssueType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The kind of a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `prompt`.
    Prompt,
    /// `agent_response`.
    Response,
    /// `agent_trace` (ignored by every flag).
    Trace,
}

impl Kind {
    /// The kind of a stored `type`.
    pub fn of(type_name: &str) -> Kind {
        match type_name {
            "prompt" => Kind::Prompt,
            "agent_response" => Kind::Response,
            _ => Kind::Trace,
        }
    }
}

/// One stored message, as the analysis sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The messageId.
    pub id: String,
    /// Prompt, response or trace.
    pub kind: Kind,
    /// The text.
    pub content: String,
    /// The text normalised ([`text::normalise`]), computed once for every flag.
    pub norm: String,
    /// The stored, skew-corrected timestamp (unix ms).
    pub timestamp: i64,
    /// Whether `eventProperties.error` is truthy (not absent, `null`, `false`, `0` or `""`).
    pub error: bool,
}

/// A message's current reaction (after un-react and latest-wins), when it is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// The messageId reacted to.
    pub message_id: String,
    /// `positive` or `negative` (an un-react is no reaction and is not passed in).
    pub negative: bool,
    /// The reaction's comments.
    pub comments: Vec<String>,
    /// Its timestamp.
    pub timestamp: i64,
}

/// A conversation to judge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation {
    /// Its first event's time.
    pub started_at: i64,
    /// Its latest event's time (messages and reactions).
    pub last_event_at: i64,
    /// Its messages ordered by timestamp, then insertion.
    pub messages: Vec<Message>,
    /// Current reactions.
    pub reactions: Vec<Reaction>,
    /// Ended by its owner (the conversation log API's `status: ended`) and not resumed
    /// since: ended whatever the idle time says.
    pub closed: bool,
    /// The outcome its owner set (the log API's `outcome`); overrides the computed one.
    pub client_outcome: Option<Outcome>,
}

/// One issue: its type, the messages that raised it and a one-line reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// The type.
    #[serde(rename = "type")]
    pub issue_type: IssueType,
    /// The messageIds that raised it, in conversation order.
    pub message_ids: Vec<String>,
    /// Why, in one line.
    pub reason: String,
    /// When it was raised: the time of the message that completed it (its UTC day is the
    /// day the issue counts on).
    #[serde(skip)]
    pub at: i64,
}

/// What the analysis concludes about one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Active or ended at the time of the analysis.
    pub status: Status,
    /// The last message's time (the conversation's start when it has none).
    pub ended_at: i64,
    /// `ended_at - started_at`, whole seconds.
    pub duration_seconds: i64,
    /// The outcome the conversation has if it ends as it stands (shown once it has ended).
    pub outcome: Outcome,
    /// Whether [`Verdict::outcome`] was set by the conversation's owner rather than computed.
    pub client_outcome: bool,
    /// Issues, in the order of [`IssueType::ALL`], then by time.
    pub issues: Vec<Issue>,
    /// The earliest time at which the verdict can change without a new event (a prompt's
    /// answer window closing, the conversation going idle); `None` when it cannot.
    pub recheck_at: Option<i64>,
}

impl Verdict {
    /// The distinct issue types, in the order of [`IssueType::ALL`].
    pub fn issue_types(&self) -> Vec<IssueType> {
        let mut types: Vec<IssueType> = self.issues.iter().map(|i| i.issue_type).collect();
        types.sort();
        types.dedup();
        types
    }
}

/// English phrases that mark an answer as the agent not being able to help.
pub const FALLBACK_PHRASES: [&str; 16] = [
    "I don't know",
    "I do not know",
    "I'm not able to",
    "I am not able to",
    "I'm unable to",
    "I am unable to",
    "I can't help with",
    "I cannot help with",
    "I can't answer",
    "I cannot answer",
    "could you rephrase",
    "can you rephrase",
    "I don't understand",
    "I do not understand",
    "I'm not sure I understand",
    "I don't have information",
];

/// English phrases of a frustrated visitor.
pub const FRUSTRATION_PHRASES: [&str; 14] = [
    "that's wrong",
    "that is wrong",
    "not what I asked",
    "useless",
    "wrong again",
    "still wrong",
    "not helpful",
    "doesn't help",
    "waste of time",
    "you're not listening",
    "you are not listening",
    "makes no sense",
    "are you kidding",
    "this is ridiculous",
];

/// The thresholds of the analysis. Every one is a collector flag (see `collector --help`).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisConfig {
    /// A conversation without an event for this long has ended. Default 30 minutes.
    pub idle_ms: i64,
    /// How often the sweep re-judges conversations whose verdict can change with time alone.
    pub sweep_interval: Duration,
    /// `rage_prompt`: this many prompts or more… (default 3)
    pub rage_count: usize,
    /// …within this window (inclusive, default 120 s)…
    pub rage_window_ms: i64,
    /// …each equal to the first after normalising, or with a word-set Jaccard similarity to
    /// it of at least this (default 0.6).
    pub rage_similarity: f64,
    /// `unanswered_prompt` is judged once this long has passed since the prompt (default 60 s).
    pub unanswered_after_ms: i64,
    /// `slow_response`: the first answer is stamped more than this after its prompt
    /// (default 30 s).
    pub slow_response_ms: i64,
    /// `fallback_answer` phrases (English defaults plus the `--fallback-phrases` file).
    pub fallback_phrases: Phrases,
    /// `frustration` phrases (English defaults plus the `--frustration-phrases` file).
    pub frustration_phrases: Phrases,
    /// `frustration`: upper-case letters ÷ cased letters at least this (default 0.7)…
    pub caps_ratio: f64,
    /// …over at least this many cased letters (default 10).
    pub caps_min_letters: usize,
    /// `frustration`: a run of this many `!`/`?` or more (default 3).
    pub mark_run: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            idle_ms: 30 * 60_000,
            sweep_interval: Duration::from_secs(15),
            rage_count: 3,
            rage_window_ms: 120_000,
            rage_similarity: 0.6,
            unanswered_after_ms: 60_000,
            slow_response_ms: 30_000,
            fallback_phrases: Phrases::new(FALLBACK_PHRASES),
            frustration_phrases: Phrases::new(FRUSTRATION_PHRASES),
            caps_ratio: 0.7,
            caps_min_letters: 10,
            mark_run: 3,
        }
    }
}

/// Judges `c` at time `now` (unix ms).
pub fn analyze(c: &Conversation, now: i64, cfg: &AnalysisConfig) -> Verdict {
    let mut issues = Vec::new();
    issues.extend(feedback::negative_feedback(c));
    issues.extend(rage::rage_prompts(c, cfg));
    let answers = answers::judge(c, now, cfg);
    issues.extend(answers.issues);
    issues.extend(fallback::fallback_answers(c, cfg));
    issues.extend(repeated::repeated_answers(c));
    issues.extend(frustration::frustrated_prompts(c, cfg));
    issues.sort_by_key(|i| (i.issue_type, i.at));
    let life = lifecycle::judge(c, now, cfg);
    let recheck_at = match (answers.recheck_at, life.recheck_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Verdict {
        status: life.status,
        ended_at: life.ended_at,
        duration_seconds: life.duration_seconds,
        outcome: life.outcome,
        client_outcome: life.client_outcome,
        issues,
        recheck_at,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A message at `s` seconds.
    pub fn msg(id: &str, kind: Kind, content: &str, s: f64) -> Message {
        Message {
            id: id.into(),
            kind,
            content: content.into(),
            norm: text::normalise(content),
            timestamp: (s * 1000.0) as i64,
            error: false,
        }
    }

    /// A conversation of these messages.
    pub fn conv(messages: Vec<Message>) -> Conversation {
        Conversation {
            started_at: messages.first().map_or(0, |m| m.timestamp),
            last_event_at: messages.last().map_or(0, |m| m.timestamp),
            messages,
            ..Conversation::default()
        }
    }

    /// Long after everything.
    pub const LATER: i64 = 10_000_000;
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn types_round_trip() {
        for t in IssueType::ALL {
            assert_eq!(IssueType::parse(t.as_str()), Some(t));
        }
        assert_eq!(IssueType::parse("rage"), None);
    }

    #[test]
    fn a_verdict_lists_issues_by_type_and_keeps_the_earliest_recheck() {
        let c = conv(vec![
            msg("p1", Kind::Prompt, "THIS IS NOT WORKING AT ALL", 0.0),
            msg("r1", Kind::Response, "I don't know", 40.0),
            msg("p2", Kind::Prompt, "hello", 50.0),
        ]);
        let v = analyze(&c, 60_000, &AnalysisConfig::default());
        let types: Vec<_> = v.issue_types();
        assert_eq!(
            types,
            [
                IssueType::SlowResponse,
                IssueType::FallbackAnswer,
                IssueType::Frustration
            ]
        );
        assert_eq!(v.recheck_at, Some(110_000), "p2 is judged at 50 s + 60 s");
        assert_eq!(v.status, Status::Active);
    }
}
