//! The bodies of the outbound events, built when the change that causes them is written:
//! `{"type", "timestamp" (RFC 3339 of the event), "data"}`. Pure: the callers pass what the
//! store already read. The body is stored and sent byte for byte on every attempt.

use serde_json::{json, Value};

use super::EventType;
use crate::collector::analysis::{Conversation, Issue, Kind, Verdict};
use crate::collector::time;

/// One event, ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its type.
    pub kind: EventType,
    /// The conversation it is about (ordering key, and deleted with it).
    pub conversation_id: String,
    /// The JSON body.
    pub body: String,
}

/// Who a conversation belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    /// The agent of its first event.
    pub agent_id: String,
    /// The visitor, when known.
    pub visitor_id: Option<String>,
    /// The account, when known.
    pub account_id: Option<String>,
}

fn event(kind: EventType, conversation_id: &str, at: i64, data: Value) -> Event {
    let body = json!({
        "type": kind.as_str(),
        "timestamp": time::format(at),
        "data": data,
    });
    Event {
        kind,
        conversation_id: conversation_id.to_owned(),
        body: body.to_string(),
    }
}

/// `conversation.ended`: the conversation's summary as it ended; `timestamp` is `endedAt`.
pub fn ended(conversation_id: &str, who: &Who, c: &Conversation, v: &Verdict) -> Event {
    let count = |k: Kind| c.messages.iter().filter(|m| m.kind == k).count();
    let issues: Vec<Value> = v
        .issue_types()
        .into_iter()
        .map(|t| {
            json!({
                "type": t.as_str(),
                "count": v.issues.iter().filter(|i| i.issue_type == t).count(),
            })
        })
        .collect();
    event(
        EventType::ConversationEnded,
        conversation_id,
        v.ended_at,
        json!({
            "conversationId": conversation_id,
            "agentId": who.agent_id,
            "visitorId": who.visitor_id,
            "accountId": who.account_id,
            "startedAt": time::format(c.started_at),
            "endedAt": time::format(v.ended_at),
            "durationSeconds": v.duration_seconds,
            "messageCount": c.messages.len(),
            "promptCount": count(Kind::Prompt),
            "responseCount": count(Kind::Response),
            "outcome": v.outcome.as_str(),
            "issues": issues,
        }),
    )
}

/// `conversation.flagged`: an issue of a type the conversation did not have; `timestamp`
/// is the issue's time.
pub fn flagged(conversation_id: &str, who: &Who, issue: &Issue) -> Event {
    event(
        EventType::ConversationFlagged,
        conversation_id,
        issue.at,
        json!({
            "conversationId": conversation_id,
            "agentId": who.agent_id,
            "visitorId": who.visitor_id,
            "issue": {
                "type": issue.issue_type.as_str(),
                "at": time::format(issue.at),
                "messageIds": issue.message_ids,
                "reason": issue.reason,
            },
        }),
    )
}

/// What a negative reaction carries.
#[derive(Debug, Clone, Copy)]
pub struct NegativeReaction<'a> {
    /// Its conversation.
    pub conversation_id: &'a str,
    /// The message reacted to.
    pub message_id: &'a str,
    /// The agent.
    pub agent_id: &'a str,
    /// The visitor, when known.
    pub visitor_id: Option<&'a str>,
    /// JSON array of strings, as stored.
    pub comments: &'a str,
    /// Its corrected timestamp, unix ms.
    pub timestamp: i64,
}

/// `reaction.negative`: a negative reaction became the message's current one; `timestamp`
/// is the reaction's.
pub fn reaction_negative(r: &NegativeReaction<'_>) -> Event {
    let comments: Vec<String> = serde_json::from_str(r.comments).unwrap_or_default();
    event(
        EventType::ReactionNegative,
        r.conversation_id,
        r.timestamp,
        json!({
            "conversationId": r.conversation_id,
            "messageId": r.message_id,
            "agentId": r.agent_id,
            "visitorId": r.visitor_id,
            "comments": comments,
            "timestamp": time::format(r.timestamp),
        }),
    )
}

/// The events a new verdict causes against the stored one (`None`: none stored): one
/// `conversation.flagged` per issue type it did not have (its first issue of that type),
/// then `conversation.ended` when it went from not ended to ended.
pub fn on_verdict(
    conversation_id: &str,
    who: &Who,
    c: &Conversation,
    v: &Verdict,
    before: Option<&(String, Vec<String>)>,
) -> Vec<Event> {
    let mut out = Vec::new();
    for t in v.issue_types() {
        let had = before.is_some_and(|(_, types)| types.iter().any(|s| s == t.as_str()));
        if let (false, Some(issue)) = (had, v.issues.iter().find(|i| i.issue_type == t)) {
            out.push(flagged(conversation_id, who, issue));
        }
    }
    let was_ended = before.is_some_and(|(status, _)| status == "ended");
    if v.status == crate::collector::analysis::Status::Ended && !was_ended {
        out.push(ended(conversation_id, who, c, v));
    }
    out
}

/// Whether a new verdict may cause an event at all (checked before reading who).
pub fn may_fire(v: &Verdict, before: Option<&(String, Vec<String>)>) -> bool {
    let was_ended = before.is_some_and(|(status, _)| status == "ended");
    (v.status == crate::collector::analysis::Status::Ended && !was_ended)
        || v.issue_types()
            .iter()
            .any(|t| !before.is_some_and(|(_, types)| types.iter().any(|s| s == t.as_str())))
}
