//! [`AgentProperties`]: the properties of one event, typed, with the rules that apply to a
//! typed value and the normalization the proxy applies before relaying.

use serde::{Deserialize, Serialize};

use crate::cat;
use crate::event_type::EventType;
use crate::limits::{MAX_CONTENT_BYTES, MAX_ID_BYTES, MAX_LIST_ITEMS};
use crate::problem::{Code, Problem, Problems};
use crate::text::{num, quote, truncate};

/// The properties of an agent event, in Pendo's Agent Analytics schema. Serialized in
/// camelCase; absent optional properties are omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentProperties {
    /// Required: which agent.
    pub agent_id: String,
    /// Required: which conversation.
    pub conversation_id: String,
    /// Required: this message; for a `user_reaction`, the id of the response reacted to.
    pub message_id: String,
    /// Required: the text. For a `user_reaction`: `positive`, `negative` or `unreact`.
    /// For an `agent_trace`: the span, as a string.
    pub content: String,
    /// Whether the prompt came from a suggestion. Default `false` (filled by normalization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_prompt: Option<bool>,
    /// Tools the agent called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_used: Option<Vec<String>>,
    /// Models the agent used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_models_used: Option<Vec<String>>,
    /// Files the visitor attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_files_uploaded: Option<Vec<FileUpload>>,
    /// Comments left with a reaction (`user_reaction` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_user_reaction_comments: Option<Vec<String>>,
    /// Sub-agents the agent delegated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_subagents_used: Option<Vec<String>>,
    /// Input tokens, a whole number >= 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_input_token_count: Option<u64>,
    /// Output tokens, a whole number >= 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_output_token_count: Option<u64>,
    /// Deprecated: one model; normalization folds it into `agentModelsUsed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_used: Option<String>,
    /// Deprecated: whether a file was uploaded. Accepted and relayed as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_uploaded: Option<bool>,
}

/// One attached file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpload {
    /// The file's kind: a MIME type or an extension (`application/pdf`, `pdf`).
    #[serde(rename = "type")]
    pub file_type: String,
    /// The file's name.
    pub name: String,
}

/// The content of a `user_reaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Thumbs up.
    Positive,
    /// Thumbs down.
    Negative,
    /// Takes back an earlier reaction.
    Unreact,
}

impl Reaction {
    /// The allowed contents of a `user_reaction`.
    pub const ALLOWED: [&'static str; 3] = ["positive", "negative", "unreact"];

    /// Parses `positive`, `negative` or `unreact` (exactly; no case folding).
    pub fn parse(content: &str) -> Option<Reaction> {
        match content {
            "positive" => Some(Reaction::Positive),
            "negative" => Some(Reaction::Negative),
            "unreact" => Some(Reaction::Unreact),
            _ => None,
        }
    }
}

/// The property names the schema knows, in documentation order; the four required ones
/// first (`parse_properties` reports them missing in this order).
pub const KNOWN_PROPERTIES: [&str; 14] = [
    "agentId",
    "conversationId",
    "messageId",
    "content",
    "suggestedPrompt",
    "toolsUsed",
    "agentModelsUsed",
    "agentFilesUploaded",
    "agentUserReactionComments",
    "agentSubagentsUsed",
    "agentInputTokenCount",
    "agentOutputTokenCount",
    "modelUsed",
    "fileUploaded",
];

impl AgentProperties {
    /// A value with the four required properties and nothing else.
    pub fn new(
        agent_id: impl Into<String>,
        conversation_id: impl Into<String>,
        message_id: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        AgentProperties {
            agent_id: agent_id.into(),
            conversation_id: conversation_id.into(),
            message_id: message_id.into(),
            content: content.into(),
            ..Default::default()
        }
    }

    /// Checks the rules that a typed value can still break: required strings non-empty,
    /// lengths, reaction content, reaction-only properties. Returns every problem found.
    pub fn validate(&self, event_type: EventType) -> Result<(), Problems> {
        let mut problems = Vec::new();
        for (name, value) in [
            ("agentId", &self.agent_id),
            ("conversationId", &self.conversation_id),
            ("messageId", &self.message_id),
        ] {
            check_item(&mut problems, (name, None, ""), value);
        }
        self.check_content(&mut problems, event_type);
        for (name, list) in [
            ("toolsUsed", &self.tools_used),
            ("agentModelsUsed", &self.agent_models_used),
            (
                "agentUserReactionComments",
                &self.agent_user_reaction_comments,
            ),
            ("agentSubagentsUsed", &self.agent_subagents_used),
        ] {
            if let Some(items) = list {
                check_list(&mut problems, name, items.iter().map(String::as_str));
            }
        }
        if let Some(files) = &self.agent_files_uploaded {
            check_list_len(&mut problems, "agentFilesUploaded", files.len());
            for (i, f) in files.iter().enumerate() {
                for (key, value) in [("type", &f.file_type), ("name", &f.name)] {
                    check_item(&mut problems, ("agentFilesUploaded", Some(i), key), value);
                }
            }
        }
        if let Some(model) = &self.model_used {
            check_item(&mut problems, ("modelUsed", None, ""), model);
        }
        if self.agent_user_reaction_comments.is_some() && event_type != EventType::UserReaction {
            problems.push(Problem::new(
                Code::NotForEventType,
                "properties.agentUserReactionComments",
                cat![
                    "properties.agentUserReactionComments is only allowed on user_reaction events, not on ",
                    event_type.as_str()
                ],
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn check_content(&self, problems: &mut Problems, event_type: EventType) {
        let field = "properties.content";
        if self.content.is_empty() {
            problems.push(empty(field));
        } else if event_type == EventType::UserReaction {
            if Reaction::parse(&self.content).is_none() {
                problems.push(Problem::new(
                    Code::InvalidReaction,
                    field,
                    cat![
                        "properties.content of a user_reaction must be one of ",
                        crate::text::list(&Reaction::ALLOWED),
                        ", got ",
                        quote(&truncate(&self.content, 40))
                    ],
                ));
            }
        } else if self.content.len() > MAX_CONTENT_BYTES {
            problems.push(too_large(field, self.content.len(), MAX_CONTENT_BYTES));
        }
    }

    /// The reaction of a `user_reaction` event, if its content is a valid one.
    pub fn reaction(&self) -> Option<Reaction> {
        Reaction::parse(&self.content)
    }

    /// What the proxy relays: `modelUsed` folded into `agentModelsUsed` (first, without
    /// duplicating an entry already listed) and removed; `suggestedPrompt` defaulted to
    /// `false`. Idempotent.
    pub fn normalized(mut self) -> Self {
        self.normalize();
        self
    }

    /// [`AgentProperties::normalized`] in place.
    pub fn normalize(&mut self) {
        if let Some(model) = self.model_used.take() {
            let models = self.agent_models_used.get_or_insert_with(Vec::new);
            if !models.contains(&model) {
                models.insert(0, model);
            }
        }
        self.suggested_prompt.get_or_insert(false);
    }
}

fn check_list<'a>(
    problems: &mut Problems,
    name: &str,
    items: impl ExactSizeIterator<Item = &'a str>,
) {
    check_list_len(problems, name, items.len());
    for (i, item) in items.enumerate() {
        check_item(problems, (name, Some(i), ""), item);
    }
}

fn check_list_len(problems: &mut Problems, name: &str, len: usize) {
    if len > MAX_LIST_ITEMS {
        problems.push(Problem::new(
            Code::TooLarge,
            cat!["properties.", name],
            cat![
                "properties.",
                name,
                " has ",
                num(len as u64),
                " entries; at most ",
                num(MAX_LIST_ITEMS as u64),
                " are allowed"
            ],
        ));
    }
}

/// An id or list item, `properties.<name>[<index>].<key>` (index and key when given):
/// non-empty, at most [`MAX_ID_BYTES`]. The path is written only for a problem (this runs for
/// every id of every event).
fn check_item(problems: &mut Problems, at: (&str, Option<usize>, &str), value: &str) {
    if !value.is_empty() && value.len() <= MAX_ID_BYTES {
        return;
    }
    let (name, index, key) = at;
    let mut field = cat!["properties.", name];
    if let Some(i) = index {
        field = cat![field, "[", num(i as u64), "]"];
    }
    if !key.is_empty() {
        field = cat![field, ".", key];
    }
    problems.push(if value.is_empty() {
        empty(&field)
    } else {
        too_large(&field, value.len(), MAX_ID_BYTES)
    });
}

fn empty(field: &str) -> Problem {
    Problem::new(
        Code::EmptyString,
        field,
        cat![field, " must be a non-empty string"],
    )
}

/// A `too_large` problem for a value of `len` bytes over `max`.
pub(crate) fn too_large(field: &str, len: usize, max: usize) -> Problem {
    Problem::new(
        Code::TooLarge,
        field,
        cat![
            field,
            " is ",
            num(len as u64),
            " bytes; at most ",
            num(max as u64),
            " bytes (",
            num((max / 1024) as u64),
            " KB) are allowed"
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> AgentProperties {
        AgentProperties::new("agent-1", "conv-1", "msg-1", "hello")
    }

    #[test]
    fn minimal_properties_are_valid_for_every_content_type() {
        for t in [
            EventType::Prompt,
            EventType::AgentResponse,
            EventType::AgentTrace,
        ] {
            assert_eq!(props().validate(t), Ok(()));
        }
    }

    #[test]
    fn empty_required_strings_are_each_reported() {
        let p = AgentProperties::new("", "", "", "");
        let problems = p.validate(EventType::Prompt).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "properties.agentId",
                "properties.conversationId",
                "properties.messageId",
                "properties.content"
            ]
        );
        assert!(problems.iter().all(|p| p.code == Code::EmptyString));
        assert_eq!(
            problems[0].message,
            "properties.agentId must be a non-empty string"
        );
    }

    #[test]
    fn reaction_content_must_be_one_of_three() {
        for ok in Reaction::ALLOWED {
            let mut p = props();
            p.content = ok.into();
            assert_eq!(p.validate(EventType::UserReaction), Ok(()), "{ok}");
        }
        let mut p = props();
        p.content = "Positive".into();
        let problems = p.validate(EventType::UserReaction).unwrap_err();
        assert_eq!(problems[0].code, Code::InvalidReaction);
        assert_eq!(
            problems[0].message,
            "properties.content of a user_reaction must be one of positive, negative, unreact, got \"Positive\""
        );
    }

    #[test]
    fn content_limit_is_100_kb_exactly() {
        let mut p = props();
        p.content = "x".repeat(MAX_CONTENT_BYTES);
        assert_eq!(p.validate(EventType::AgentResponse), Ok(()));
        p.content.push('x');
        let problems = p.validate(EventType::AgentResponse).unwrap_err();
        assert_eq!(problems[0].code, Code::TooLarge);
        assert!(
            problems[0]
                .message
                .contains("at most 102400 bytes (100 KB)"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn content_limit_counts_utf8_bytes_not_chars() {
        let mut p = props();
        p.content = "é".repeat(MAX_CONTENT_BYTES / 2 + 1); // 2 bytes each
        assert_eq!(
            p.validate(EventType::Prompt).unwrap_err()[0].code,
            Code::TooLarge
        );
    }

    #[test]
    fn ids_are_limited() {
        let mut p = props();
        p.conversation_id = "c".repeat(MAX_ID_BYTES + 1);
        let problems = p.validate(EventType::Prompt).unwrap_err();
        assert_eq!(
            (problems[0].code, problems[0].field.as_str()),
            (Code::TooLarge, "properties.conversationId")
        );
    }

    #[test]
    fn list_entries_must_be_non_empty_and_few() {
        let mut p = props();
        p.tools_used = Some(vec!["search".into(), "".into()]);
        p.agent_models_used = Some(vec!["m".into(); MAX_LIST_ITEMS + 1]);
        let problems = p.validate(EventType::AgentResponse).unwrap_err();
        assert_eq!(problems[0].field, "properties.toolsUsed[1]");
        assert_eq!(problems[1].field, "properties.agentModelsUsed");
        assert_eq!(problems[1].code, Code::TooLarge);
    }

    #[test]
    fn file_entries_need_type_and_name() {
        let mut p = props();
        p.agent_files_uploaded = Some(vec![FileUpload {
            file_type: "pdf".into(),
            name: String::new(),
        }]);
        let problems = p.validate(EventType::Prompt).unwrap_err();
        assert_eq!(problems[0].field, "properties.agentFilesUploaded[0].name");
    }

    #[test]
    fn reaction_comments_only_on_reactions() {
        let mut p = props();
        p.agent_user_reaction_comments = Some(vec!["too long".into()]);
        let problems = p.validate(EventType::AgentResponse).unwrap_err();
        assert_eq!(problems[0].code, Code::NotForEventType);
        p.content = "negative".into();
        assert_eq!(p.validate(EventType::UserReaction), Ok(()));
    }

    #[test]
    fn normalization_folds_model_used_and_fills_defaults() {
        let mut p = props();
        p.model_used = Some("gpt-x".into());
        p.agent_models_used = Some(vec!["small".into()]);
        let n = p.normalized();
        assert_eq!(n.model_used, None);
        assert_eq!(
            n.agent_models_used,
            Some(vec!["gpt-x".into(), "small".into()])
        );
        assert_eq!(n.suggested_prompt, Some(false));
        assert_eq!(n.clone().normalized(), n, "idempotent");

        let mut q = props();
        q.model_used = Some("small".into());
        q.agent_models_used = Some(vec!["small".into()]);
        assert_eq!(q.normalized().agent_models_used, Some(vec!["small".into()]));
    }

    #[test]
    fn serializes_camel_case_and_omits_absent() {
        let mut p = props();
        p.agent_input_token_count = Some(12);
        p.agent_files_uploaded = Some(vec![FileUpload {
            file_type: "pdf".into(),
            name: "a.pdf".into(),
        }]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"agentId":"agent-1","conversationId":"conv-1","messageId":"msg-1",
                "content":"hello","agentInputTokenCount":12,
                "agentFilesUploaded":[{"type":"pdf","name":"a.pdf"}]})
        );
    }

    #[test]
    fn known_properties_match_the_serialized_names() {
        let full = AgentProperties {
            suggested_prompt: Some(true),
            tools_used: Some(vec![]),
            agent_models_used: Some(vec![]),
            agent_files_uploaded: Some(vec![]),
            agent_user_reaction_comments: Some(vec![]),
            agent_subagents_used: Some(vec![]),
            agent_input_token_count: Some(0),
            agent_output_token_count: Some(0),
            model_used: Some("m".into()),
            file_uploaded: Some(false),
            ..props()
        };
        let json = serde_json::to_value(&full).unwrap();
        let mut names: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = KNOWN_PROPERTIES.to_vec();
        names.sort();
        known.sort();
        assert_eq!(names, known);
    }
}
