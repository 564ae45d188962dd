//! The JSON shapes of the read API. Times are unix ms; names are camelCase.

use serde::Serialize;
use serde_json::{Map, Value};

use super::analysis::{Issue, IssueType, Outcome, Status};

/// What every view of a conversation starts with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationHead {
    /// The conversationId.
    pub id: String,
    /// The agent of its first event.
    pub agent_id: String,
    /// The visitor, when known.
    pub visitor_id: Option<String>,
    /// The account, when known.
    pub account_id: Option<String>,
    /// Earliest event timestamp.
    pub started_at: i64,
    /// Latest event timestamp (messages and reactions).
    pub last_message_at: i64,
}

/// One row of `GET /api/v1/conversations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    /// id, agent, visitor, account, first and last times.
    #[serde(flatten)]
    pub head: ConversationHead,
    /// Prompts, responses and traces.
    pub message_count: i64,
    /// Prompts.
    pub prompt_count: i64,
    /// Agent responses.
    pub response_count: i64,
    /// Messages whose current reaction is `positive`.
    pub positive_reactions: i64,
    /// Messages whose current reaction is `negative`.
    pub negative_reactions: i64,
    /// Sum of `agentInputTokenCount`.
    pub input_tokens: i64,
    /// Sum of `agentOutputTokenCount`.
    pub output_tokens: i64,
    /// The first prompt, whitespace collapsed, cut to 80 characters; `null` without prompts.
    pub title: Option<String>,
    /// `active` until no event has arrived for the idle time, then `ended`.
    pub status: Status,
    /// `completed`, `abandoned` or `error` once ended; `null` while active.
    pub outcome: Option<Outcome>,
    /// The distinct types of its issues, in the order of the issue list.
    pub issue_types: Vec<IssueType>,
    /// With `q` only: the first matching message around the match (see [`snippet`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationPage {
    /// Newest first.
    pub conversations: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A message's current reaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReactionView {
    /// `positive` or `negative`.
    pub value: &'static str,
    /// `agentUserReactionComments` of the winning reaction.
    pub comments: Vec<String>,
    /// Its timestamp.
    pub at: i64,
}

/// A file the visitor attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileView {
    /// MIME type or extension.
    #[serde(rename = "type")]
    pub file_type: String,
    /// File name.
    pub name: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// The messageId.
    pub message_id: String,
    /// The eventId of the event that wrote it.
    pub event_id: String,
    /// `prompt`, `agent_response` or `agent_trace`; from the conversation log API also
    /// `system` and `tool`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The text.
    pub content: String,
    /// Corrected timestamp.
    pub timestamp: i64,
    /// Whether the prompt came from a suggestion.
    pub suggested_prompt: bool,
    /// Tools called.
    pub tools_used: Vec<String>,
    /// Models used.
    pub agent_models_used: Vec<String>,
    /// Files attached.
    pub agent_files_uploaded: Vec<FileView>,
    /// Sub-agents used.
    pub agent_subagents_used: Vec<String>,
    /// Input tokens, when reported.
    pub input_tokens: Option<i64>,
    /// Output tokens, when reported.
    pub output_tokens: Option<i64>,
    /// Custom properties.
    pub event_properties: Map<String, Value>,
    /// The current reaction to an agent response; `null` when none or taken back.
    pub reaction: Option<ReactionView>,
}

/// `GET /api/v1/conversations/{id}`: the conversation and one page of its messages (and
/// the `json` transcript).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetail {
    /// id, agent, visitor, account, first and last times.
    #[serde(flatten)]
    pub head: ConversationHead,
    /// All its messages, on every page.
    pub message_count: i64,
    /// `active` or `ended`.
    pub status: Status,
    /// Once ended: `completed`, `abandoned` or `error`; `null` while active.
    pub outcome: Option<Outcome>,
    /// Once ended: `client` when the outcome was set through the conversation log API,
    /// `analysis` when computed; `null` while active.
    pub outcome_source: Option<&'static str>,
    /// The conversation's metadata set through the conversation log API (`{}` when none).
    pub metadata: Map<String, Value>,
    /// Once ended: the last message's time; `null` while active.
    pub ended_at: Option<i64>,
    /// Once ended: whole seconds from `startedAt` to `endedAt`; `null` while active.
    pub duration_seconds: Option<i64>,
    /// Every issue, each with the messages that raised it and a one-line reason.
    pub issues: Vec<Issue>,
    /// This page, ordered by timestamp, then insertion.
    pub messages: Vec<MessageView>,
    /// Pass as `cursor` for the next page of messages; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One row of `GET /api/v1/messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedMessage {
    /// The message.
    #[serde(flatten)]
    pub message: MessageView,
    /// Its conversation.
    pub conversation_id: String,
    /// Its agent.
    pub agent_id: String,
    /// Its visitor.
    pub visitor_id: Option<String>,
}

/// `GET /api/v1/messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    /// Oldest stored first.
    pub messages: Vec<ExportedMessage>,
    /// Pass as `cursor` for the next page; `null` when no more rows exist now.
    pub next_cursor: Option<String>,
}

/// A conversation title: the first prompt with whitespace runs collapsed to one space,
/// cut to 80 characters.
pub fn title(first_prompt: &str) -> String {
    let mut out = String::new();
    for word in first_prompt.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= 80 {
            break;
        }
    }
    out.chars().take(80).collect()
}

/// Characters of context a snippet keeps before a match.
const SNIPPET_BEFORE: usize = 40;
/// Characters a snippet keeps from the match's start on.
const SNIPPET_AFTER: usize = 80;

/// A one-line excerpt of `content` around the first case-insensitive occurrence of `q`:
/// up to 40 characters before it and 80 from it on, with `…` where text was cut. The start
/// of the content when `q` does not occur (the database matched it differently).
pub fn snippet(content: &str, q: &str) -> String {
    let chars: Vec<char> = content
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let at = super::analysis::text::find_folded(&chars, q);
    let start = at.map_or(0, |a| a.saturating_sub(SNIPPET_BEFORE));
    let end = (at.unwrap_or(0) + SNIPPET_AFTER).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_surround_the_match_in_any_script() {
        let long = format!(
            "{}Die Größe passt nicht{}",
            "x".repeat(100),
            "y".repeat(100)
        );
        let s = snippet(&long, "GRÖßE");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        let s = snippet(&long, "größe");
        assert!(s.contains("Die Größe passt nicht"), "{s}");
        assert_eq!(s.chars().count(), 40 + 80 + 2);
        assert_eq!(
            snippet("パスワードを\n忘れました", "忘れ"),
            "パスワードを 忘れました"
        );
        assert_eq!(snippet("hi 🙂 there", "🙂"), "hi 🙂 there");
        assert_eq!(snippet("a\nb", "zzz"), "a b");
    }

    #[test]
    fn titles_are_one_line_of_at_most_80_characters() {
        assert_eq!(
            title("  How do I\n\nreset   my password? "),
            "How do I reset my password?"
        );
        let long = "é".repeat(200);
        assert_eq!(title(&long).chars().count(), 80);
        assert_eq!(title(""), "");
    }
}
