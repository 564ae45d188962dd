//! Readable transcripts of a conversation: plain text and Markdown, with speaker labels,
//! times (RFC 3339, UTC), tools, models, files, tokens and reactions. Pure functions of
//! [`ConversationDetail`]; the `json` format is the conversation object itself.

use std::fmt::Write;

use super::time;
use super::view::{ConversationDetail, MessageView};

fn speaker(m: &MessageView) -> &'static str {
    match m.message_type.as_str() {
        "prompt" => "Visitor",
        "agent_response" => "Agent",
        _ => "Trace",
    }
}

/// The header fields, as (label, value).
fn header(c: &ConversationDetail) -> Vec<(&'static str, String)> {
    let mut h = vec![("Agent", c.head.agent_id.clone())];
    if let Some(v) = &c.head.visitor_id {
        h.push(("Visitor", v.clone()));
    }
    if let Some(a) = &c.head.account_id {
        h.push(("Account", a.clone()));
    }
    h.push(("Started", time::format(c.head.started_at)));
    h.push(("Last message", time::format(c.head.last_message_at)));
    h.push(("Messages", c.messages.len().to_string()));
    h
}

/// The details under a message: files, tools, models, sub-agents, tokens; `None` when none.
fn details(m: &MessageView) -> Option<String> {
    let mut parts = Vec::new();
    if !m.agent_files_uploaded.is_empty() {
        let files: Vec<String> = m
            .agent_files_uploaded
            .iter()
            .map(|f| format!("{} ({})", f.name, f.file_type))
            .collect();
        parts.push(format!("Files: {}", files.join(", ")));
    }
    for (label, list) in [
        ("Tools", &m.tools_used),
        ("Models", &m.agent_models_used),
        ("Sub-agents", &m.agent_subagents_used),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}: {}", list.join(", ")));
        }
    }
    match (m.input_tokens, m.output_tokens) {
        (None, None) => {}
        (i, o) => {
            let n = |v: Option<i64>| v.map_or("?".to_string(), |v| v.to_string());
            parts.push(format!("Tokens: {} in, {} out", n(i), n(o)));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn reaction(m: &MessageView) -> Option<String> {
    let r = m.reaction.as_ref()?;
    let mut line = format!("{} at {}", r.value, time::format(r.at));
    if !r.comments.is_empty() {
        let comments: Vec<String> = r.comments.iter().map(|c| format!("\"{c}\"")).collect();
        let _ = write!(line, ": {}", comments.join(", "));
    }
    Some(line)
}

/// The plain-text transcript.
pub fn text(c: &ConversationDetail) -> String {
    let mut out = format!("Conversation {}\n", c.head.id);
    for (label, value) in header(c) {
        let _ = writeln!(out, "{label}: {value}");
    }
    for m in &c.messages {
        let suggested = if m.suggested_prompt {
            " (suggested prompt)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "\n[{}] {}{suggested}:\n{}\n",
            time::format(m.timestamp),
            speaker(m),
            m.content
        );
        if let Some(d) = details(m) {
            let _ = writeln!(out, "  {d}");
        }
        if let Some(r) = reaction(m) {
            let _ = writeln!(out, "  Reaction: {r}");
        }
    }
    out
}

/// A code fence longer than any run of backticks in `content`.
fn fence(content: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in content.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat(longest.max(2) + 1)
}

/// The Markdown transcript. Prompts and responses are written as they are (agents answer in
/// Markdown); traces go in a code block.
pub fn markdown(c: &ConversationDetail) -> String {
    let mut out = format!("# Conversation {}\n\n", c.head.id);
    for (label, value) in header(c) {
        let _ = writeln!(out, "- **{label}:** {value}");
    }
    for m in &c.messages {
        let suggested = if m.suggested_prompt {
            " (suggested prompt)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "\n---\n\n### {}{suggested} · {}\n\n",
            speaker(m),
            time::format(m.timestamp)
        );
        if m.message_type == "agent_trace" {
            let f = fence(&m.content);
            let _ = writeln!(out, "{f}\n{}\n{f}", m.content);
        } else {
            let _ = writeln!(out, "{}", m.content);
        }
        if let Some(d) = details(m) {
            let _ = write!(out, "\n*{d}*\n");
        }
        if let Some(r) = reaction(m) {
            let _ = write!(out, "\n**Reaction:** {r}\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::view::{ConversationHead, FileView, ReactionView};
    use super::*;

    fn msg(message_type: &str, content: &str, timestamp: i64) -> MessageView {
        MessageView {
            message_id: format!("m{timestamp}"),
            event_id: format!("e{timestamp}"),
            message_type: message_type.into(),
            content: content.into(),
            timestamp,
            suggested_prompt: false,
            tools_used: vec![],
            agent_models_used: vec![],
            agent_files_uploaded: vec![],
            agent_subagents_used: vec![],
            input_tokens: None,
            output_tokens: None,
            event_properties: Default::default(),
            reaction: None,
        }
    }

    fn sample() -> ConversationDetail {
        let mut prompt = msg("prompt", "How do I reset my password?", 0);
        prompt.suggested_prompt = true;
        prompt.agent_files_uploaded = vec![FileView {
            file_type: "pdf".into(),
            name: "a.pdf".into(),
        }];
        let mut answer = msg("agent_response", "Open **Settings**.", 1500);
        answer.tools_used = vec!["search".into(), "kb".into()];
        answer.agent_models_used = vec!["gpt-x".into()];
        answer.input_tokens = Some(12);
        answer.output_tokens = Some(40);
        answer.reaction = Some(ReactionView {
            value: "negative",
            comments: vec!["too short".into()],
            at: 3000,
        });
        let trace = msg("agent_trace", "span ``` x", 2000);
        ConversationDetail {
            head: ConversationHead {
                id: "c1".into(),
                agent_id: "a1".into(),
                visitor_id: Some("v1".into()),
                account_id: None,
                started_at: 0,
                last_message_at: 3000,
            },
            messages: vec![prompt, answer, trace],
        }
    }

    #[test]
    fn text_has_speakers_details_and_reactions() {
        let t = text(&sample());
        assert_eq!(
            t,
            "Conversation c1\nAgent: a1\nVisitor: v1\nStarted: 1970-01-01T00:00:00.000Z\nLast message: 1970-01-01T00:00:03.000Z\nMessages: 3\n\
             \n[1970-01-01T00:00:00.000Z] Visitor (suggested prompt):\nHow do I reset my password?\n  Files: a.pdf (pdf)\n\
             \n[1970-01-01T00:00:01.500Z] Agent:\nOpen **Settings**.\n  Tools: search, kb · Models: gpt-x · Tokens: 12 in, 40 out\n  Reaction: negative at 1970-01-01T00:00:03.000Z: \"too short\"\n\
             \n[1970-01-01T00:00:02.000Z] Trace:\nspan ``` x\n"
        );
    }

    #[test]
    fn markdown_fences_traces_safely() {
        let md = markdown(&sample());
        assert!(
            md.starts_with("# Conversation c1\n\n- **Agent:** a1\n"),
            "{md}"
        );
        assert!(md.contains("### Visitor (suggested prompt) · 1970-01-01T00:00:00.000Z\n\nHow do I reset my password?\n"), "{md}");
        assert!(
            md.contains("*Tools: search, kb · Models: gpt-x · Tokens: 12 in, 40 out*"),
            "{md}"
        );
        assert!(
            md.contains("**Reaction:** negative at 1970-01-01T00:00:03.000Z: \"too short\""),
            "{md}"
        );
        assert!(md.contains("````\nspan ``` x\n````"), "{md}");
    }

    #[test]
    fn partial_token_counts_show_what_is_known() {
        let mut m = msg("agent_response", "x", 0);
        m.output_tokens = Some(5);
        assert_eq!(details(&m).as_deref(), Some("Tokens: ? in, 5 out"));
    }
}
