//! Writing events and problem lists as JSON without `serde`: the exact text `serde_json` would
//! write for the same [`Event`] or [`Problem`]s (a test holds the two together), in the field
//! order of the wire contract.
//! The browser module stores events with it; nothing here formats through `core::fmt`.

use crate::envelope::{Context, Event};
use crate::problem::Problem;
use crate::properties::AgentProperties;
use crate::text::{push_json_str, push_u64};

/// Appends `"key":` (the key needs no escaping).
pub fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// Appends `,"key":"value"` (the value escaped).
pub fn field_str(out: &mut String, key: &str, value: &str) {
    out.push(',');
    push_key(out, key);
    push_json_str(out, value);
}

fn field_opt_str(out: &mut String, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        field_str(out, key, v);
    }
}

/// Appends `,"key":value`.
pub fn field_u64(out: &mut String, key: &str, value: u64) {
    out.push(',');
    push_key(out, key);
    push_u64(out, value);
}

fn field_bool(out: &mut String, key: &str, value: Option<bool>) {
    if let Some(v) = value {
        out.push(',');
        push_key(out, key);
        out.push_str(if v { "true" } else { "false" });
    }
}

fn field_list(out: &mut String, key: &str, items: &Option<Vec<String>>) {
    if let Some(items) = items {
        out.push(',');
        push_key(out, key);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, item);
        }
        out.push(']');
    }
}

/// Appends the properties object.
pub fn write_properties(out: &mut String, p: &AgentProperties) {
    out.push('{');
    push_key(out, "agentId");
    push_json_str(out, &p.agent_id);
    field_str(out, "conversationId", &p.conversation_id);
    field_str(out, "messageId", &p.message_id);
    field_str(out, "content", &p.content);
    field_bool(out, "suggestedPrompt", p.suggested_prompt);
    field_list(out, "toolsUsed", &p.tools_used);
    field_list(out, "agentModelsUsed", &p.agent_models_used);
    if let Some(files) = &p.agent_files_uploaded {
        out.push_str(",\"agentFilesUploaded\":[");
        for (i, f) in files.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"type\":");
            push_json_str(out, &f.file_type);
            field_str(out, "name", &f.name);
            out.push('}');
        }
        out.push(']');
    }
    field_list(
        out,
        "agentUserReactionComments",
        &p.agent_user_reaction_comments,
    );
    field_list(out, "agentSubagentsUsed", &p.agent_subagents_used);
    if let Some(n) = p.agent_input_token_count {
        field_u64(out, "agentInputTokenCount", n);
    }
    if let Some(n) = p.agent_output_token_count {
        field_u64(out, "agentOutputTokenCount", n);
    }
    field_opt_str(out, "modelUsed", &p.model_used);
    field_bool(out, "fileUploaded", p.file_uploaded);
    out.push('}');
}

/// Appends the context object.
pub fn write_context(out: &mut String, c: &Context) {
    out.push('{');
    let start = out.len();
    for (key, value) in [
        ("url", &c.url),
        ("title", &c.title),
        ("userAgent", &c.user_agent),
        ("language", &c.language),
    ] {
        field_opt_str(out, key, value);
    }
    field_u64(out, "seq", c.seq);
    field_str(out, "sdk", &c.sdk);
    out.remove(start);
    out.push('}');
}

/// Appends the event as `serde_json` would write it.
pub fn write_event(out: &mut String, e: &Event) {
    out.push_str("{\"eventId\":");
    push_json_str(out, &e.event_id);
    field_str(out, "type", e.event_type.as_str());
    field_u64(out, "timestamp", e.timestamp);
    field_opt_str(out, "visitorId", &e.visitor_id);
    field_opt_str(out, "accountId", &e.account_id);
    out.push_str(",\"properties\":");
    write_properties(out, &e.properties);
    if !e.event_properties.is_empty() {
        out.push_str(",\"eventProperties\":");
        out.push_str(e.event_properties.as_str());
    }
    out.push_str(",\"context\":");
    write_context(out, &e.context);
    out.push('}');
}

/// The event as JSON text.
pub fn event_json(e: &Event) -> String {
    let mut out = String::with_capacity(512 + e.properties.content.len());
    write_event(&mut out, e);
    out
}

/// `[{"code":..,"field":..,"message":..}, ..]`: the `errors` of the JS API's `AgentTrackError`.
pub fn problems_json(problems: &[Problem]) -> String {
    let mut out = String::from("[");
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        push_key(&mut out, "code");
        push_json_str(&mut out, p.code.as_str());
        field_str(&mut out, "field", &p.field);
        field_str(&mut out, "message", &p.message);
        out.push('}');
    }
    out.push(']');
    out
}
