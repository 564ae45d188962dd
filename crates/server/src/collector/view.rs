//! The JSON shapes of the read API. Times are unix ms; names are camelCase.

use serde::Serialize;
use serde_json::{Map, Value};

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
    /// `prompt`, `agent_response` or `agent_trace`.
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

#[cfg(test)]
mod tests {
    use super::*;

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
