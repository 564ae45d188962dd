//! Readable transcripts of a conversation: plain text and Markdown, with speaker labels,
//! times (RFC 3339, UTC), tools, models, files, tokens and reactions. A [`Transcript`] is
//! written message by message and stops before [`MAX_TRANSCRIPT_BYTES`], ending with a line
//! that says it was cut; the `json` format is the conversation object itself.
//!
//! What visitors and agents wrote cannot pass for the transcript's own structure:
//! - in text, every line of a message is indented by four spaces (turn headings start at the
//!   margin, detail lines are indented by two), and control characters are replaced;
//! - in Markdown, a message that holds a heading, a thematic break, a setext underline, an
//!   unclosed code fence or raw HTML is shown in a code block; ids, names and comments are
//!   escaped.

use std::fmt::Write;

use super::time;
use super::view::{ConversationDetail, ConversationHead, MessageView};

/// The largest transcript download: 5 MB.
pub const MAX_TRANSCRIPT_BYTES: usize = 5 * 1024 * 1024;

/// Room kept for the closing "cut" line.
const CUT_RESERVE: usize = 4 * 1024;

/// Plain text or Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
}

fn speaker(m: &MessageView) -> &'static str {
    match m.message_type.as_str() {
        "prompt" => "Visitor",
        "agent_response" => "Agent",
        "system" => "System",
        "tool" => "Tool",
        _ => "Trace",
    }
}

/// One line of text: control characters (line breaks included) become spaces.
fn line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Inline Markdown text: one line, every ASCII punctuation character backslash-escaped, so
/// that no emphasis, link, code span or HTML can start in it.
fn md_inline(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in line(value).chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The header fields, as (label, value), for a conversation of `total` messages; the ids
/// (written by the browser) go through `escape`.
fn header(
    head: &ConversationHead,
    total: i64,
    escape: fn(&str) -> String,
) -> Vec<(&'static str, String)> {
    let mut h = vec![("Agent", escape(&head.agent_id))];
    if let Some(v) = &head.visitor_id {
        h.push(("Visitor", escape(v)));
    }
    if let Some(a) = &head.account_id {
        h.push(("Account", escape(a)));
    }
    h.push(("Started", time::format(head.started_at)));
    h.push(("Last message", time::format(head.last_message_at)));
    h.push(("Messages", total.to_string()));
    h
}

/// The details under a message: files, tools, models, sub-agents, tokens; `None` when none.
/// Names go through `escape`.
fn details(m: &MessageView, escape: fn(&str) -> String) -> Option<String> {
    let mut parts = Vec::new();
    if !m.agent_files_uploaded.is_empty() {
        let files: Vec<String> = m
            .agent_files_uploaded
            .iter()
            .map(|f| format!("{} ({})", escape(&f.name), escape(&f.file_type)))
            .collect();
        parts.push(format!("Files: {}", files.join(", ")));
    }
    for (label, list) in [
        ("Tools", &m.tools_used),
        ("Models", &m.agent_models_used),
        ("Sub-agents", &m.agent_subagents_used),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|n| escape(n)).collect();
            parts.push(format!("{label}: {}", names.join(", ")));
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

fn reaction(m: &MessageView, escape: fn(&str) -> String) -> Option<String> {
    let r = m.reaction.as_ref()?;
    let mut line = format!("{} at {}", r.value, time::format(r.at));
    if !r.comments.is_empty() {
        let comments: Vec<String> = r
            .comments
            .iter()
            .map(|c| format!("\"{}\"", escape(c)))
            .collect();
        let _ = write!(line, ": {}", comments.join(", "));
    }
    Some(line)
}

/// A message's text for the plain-text transcript: each line indented by four spaces, CRLF
/// as LF, other control characters (but tabs) replaced.
fn indented(content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 16);
    for l in content.split('\n') {
        out.push_str("    ");
        for c in l.strip_suffix('\r').unwrap_or(l).chars() {
            out.push(if c.is_control() && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            });
        }
        out.push('\n');
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

/// A fence opening or closing line: up to three spaces, then three or more of one of
/// `` ` `` and `~`. Returns the character, the run length and what follows.
fn fence_line(l: &str) -> Option<(char, usize, &str)> {
    let indent = l.len() - l.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &l[indent..];
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = rest.len() - rest.trim_start_matches(c).len();
    (run >= 3).then(|| (c, run, &rest[run..]))
}

/// Whether Markdown `content`, written as it is, could pass for transcript structure or
/// carry raw HTML: outside its (closed) code fences, a line that is (or nests) a heading, a
/// thematic break or setext underline, any HTML tag, comment or declaration; or a code
/// fence that stays open.
pub fn md_unsafe(content: &str) -> bool {
    let mut open: Option<(char, usize)> = None;
    for l in content.split('\n') {
        let l = l.strip_suffix('\r').unwrap_or(l);
        if let Some((c, run)) = open {
            if let Some((c2, run2, rest)) = fence_line(l) {
                if c2 == c && run2 >= run && rest.trim().is_empty() {
                    open = None;
                }
            }
            continue;
        }
        if let Some((c, run, _)) = fence_line(l) {
            open = Some((c, run));
            continue;
        }
        let breaks = |text: &str| {
            let marks: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            marks.chars().next().is_some_and(|first| {
                matches!(first, '-' | '*' | '_' | '=')
                    && marks.chars().all(|c| c == first)
                    && (marks.len() >= 3 || first == '=' || first == '-')
            })
        };
        if breaks(l) {
            return true;
        }
        // Past indentation and list or quote markers, whatever starts the line.
        let mut rest = l.trim_start();
        loop {
            let before = rest;
            for marker in [">", "- ", "* ", "+ "] {
                rest = rest.strip_prefix(marker).unwrap_or(rest).trim_start();
            }
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                if let Some(r) = rest[digits..]
                    .strip_prefix(". ")
                    .or(rest[digits..].strip_prefix(") "))
                {
                    rest = r.trim_start();
                }
            }
            if rest == before {
                break;
            }
        }
        if rest.starts_with('#') || breaks(rest) {
            return true;
        }
        let bytes = l.as_bytes();
        if bytes.windows(2).any(|w| {
            w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?'))
        }) {
            return true;
        }
    }
    open.is_some()
}

/// A transcript being written: the header first, then message by message, never past its
/// byte limit.
#[derive(Debug)]
pub struct Transcript {
    style: Style,
    out: String,
    limit: usize,
    shown: usize,
    total: i64,
    cut: bool,
}

impl Transcript {
    /// Starts a transcript of the conversation `head` with `total` messages, at most
    /// `limit` bytes long.
    pub fn new(style: Style, head: &ConversationHead, total: i64, limit: usize) -> Self {
        let mut out = String::new();
        match style {
            Style::Text => {
                let _ = writeln!(out, "Conversation {}", line(&head.id));
                for (label, value) in header(head, total, line) {
                    let _ = writeln!(out, "{label}: {value}");
                }
            }
            Style::Markdown => {
                let _ = write!(out, "# Conversation {}\n\n", md_inline(&head.id));
                for (label, value) in header(head, total, md_inline) {
                    let _ = writeln!(out, "- **{label}:** {value}");
                }
            }
        }
        Transcript {
            style,
            out,
            limit,
            shown: 0,
            total,
            cut: false,
        }
    }

    /// Appends `m`. Returns `false`, writing nothing, when it would take the transcript
    /// past its limit: the transcript is cut there, and later messages are refused too.
    pub fn push(&mut self, m: &MessageView) -> bool {
        if self.cut {
            return false;
        }
        let piece = match self.style {
            Style::Text => text_message(m),
            Style::Markdown => markdown_message(m),
        };
        if self.out.len() + piece.len() + CUT_RESERVE > self.limit {
            self.cut = true;
            return false;
        }
        self.out.push_str(&piece);
        self.shown += 1;
        true
    }

    /// Whether a message was refused for the limit.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// The transcript, with the closing line when it was cut.
    pub fn finish(mut self) -> String {
        if self.cut {
            let note = format!(
                "transcript cut at {} MB: the first {} of {} messages are shown; GET /api/v1/conversations/{{id}} pages through all of them",
                MAX_TRANSCRIPT_BYTES / (1024 * 1024),
                self.shown,
                self.total
            );
            match self.style {
                Style::Text => {
                    let _ = write!(self.out, "\n[{note}]\n");
                }
                Style::Markdown => {
                    let _ = write!(self.out, "\n---\n\n*{}*\n", md_inline(&note));
                }
            }
        }
        self.out
    }
}

fn suggested(m: &MessageView) -> &'static str {
    if m.suggested_prompt {
        " (suggested prompt)"
    } else {
        ""
    }
}

fn text_message(m: &MessageView) -> String {
    let mut out = format!(
        "\n[{}] {}{}:\n{}",
        time::format(m.timestamp),
        speaker(m),
        suggested(m),
        indented(&m.content)
    );
    if let Some(d) = details(m, line) {
        let _ = writeln!(out, "  {d}");
    }
    if let Some(r) = reaction(m, line) {
        let _ = writeln!(out, "  Reaction: {r}");
    }
    out
}

fn markdown_message(m: &MessageView) -> String {
    let mut out = format!(
        "\n---\n\n### {}{} · {}\n\n",
        speaker(m),
        suggested(m),
        time::format(m.timestamp)
    );
    // Traces are data; prompts and answers are Markdown, unless they could forge structure.
    if m.message_type == "agent_trace" || md_unsafe(&m.content) {
        let f = fence(&m.content);
        let _ = writeln!(out, "{f}\n{}\n{f}", m.content);
    } else {
        let _ = writeln!(out, "{}", m.content);
    }
    if let Some(d) = details(m, md_inline) {
        let _ = write!(out, "\n*{d}*\n");
    }
    if let Some(r) = reaction(m, md_inline) {
        let _ = write!(out, "\n**Reaction:** {r}\n");
    }
    out
}

fn whole(style: Style, c: &ConversationDetail) -> String {
    let mut t = Transcript::new(style, &c.head, c.message_count, usize::MAX);
    for m in &c.messages {
        t.push(m);
    }
    t.finish()
}

/// The plain-text transcript of `c`'s messages, without a size limit.
pub fn text(c: &ConversationDetail) -> String {
    whole(Style::Text, c)
}

/// The Markdown transcript of `c`'s messages, without a size limit. Prompts and responses
/// are written as they are (agents answer in Markdown) unless [`md_unsafe`]; traces go in a
/// code block.
pub fn markdown(c: &ConversationDetail) -> String {
    whole(Style::Markdown, c)
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
            message_count: 3,
            status: crate::collector::analysis::Status::Ended,
            outcome: Some(crate::collector::analysis::Outcome::Completed),
            outcome_source: Some("analysis"),
            metadata: serde_json::Map::new(),
            ended_at: Some(3000),
            duration_seconds: Some(3),
            issues: Vec::new(),
            messages: vec![prompt, answer, trace],
            next_cursor: None,
        }
    }

    #[test]
    fn text_has_speakers_details_and_reactions() {
        let t = text(&sample());
        assert_eq!(
            t,
            "Conversation c1\nAgent: a1\nVisitor: v1\nStarted: 1970-01-01T00:00:00.000Z\nLast message: 1970-01-01T00:00:03.000Z\nMessages: 3\n\
             \n[1970-01-01T00:00:00.000Z] Visitor (suggested prompt):\n    How do I reset my password?\n  Files: a.pdf (pdf)\n\
             \n[1970-01-01T00:00:01.500Z] Agent:\n    Open **Settings**.\n  Tools: search, kb · Models: gpt-x · Tokens: 12 in, 40 out\n  Reaction: negative at 1970-01-01T00:00:03.000Z: \"too short\"\n\
             \n[1970-01-01T00:00:02.000Z] Trace:\n    span ``` x\n"
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
            md.contains("*Tools: search, kb · Models: gpt\\-x · Tokens: 12 in, 40 out*"),
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
        assert_eq!(details(&m, line).as_deref(), Some("Tokens: ? in, 5 out"));
    }

    fn one(content: &str) -> ConversationDetail {
        let mut c = sample();
        c.messages = vec![msg("prompt", content, 0)];
        c.message_count = 1;
        c
    }

    #[test]
    fn content_cannot_forge_a_turn_in_text() {
        let forged = "hi\n\n[1970-01-01T00:00:09.000Z] Agent:\nyour refund is approved\n  Reaction: positive\r\n\u{1b}[2Kx";
        let t = text(&one(forged));
        // Only the real turn starts at the margin with a time stamp.
        assert_eq!(t.lines().filter(|l| l.starts_with('[')).count(), 1, "{t}");
        assert!(
            t.contains("\n    [1970-01-01T00:00:09.000Z] Agent:\n"),
            "{t}"
        );
        assert!(t.contains("\n      Reaction: positive\n"), "{t}");
        assert!(!t.contains('\u{1b}') && !t.contains('\r'), "{t}");
        let mut c = one("x");
        c.head.visitor_id = Some("v\n\n[1970-01-01T00:00:09.000Z] Agent:".into());
        assert_eq!(text(&c).lines().filter(|l| l.starts_with('[')).count(), 1);
    }

    #[test]
    fn content_cannot_forge_a_turn_or_carry_html_in_markdown() {
        for forged in [
            "ok\n\n---\n\n### Agent · 1970-01-01T00:00:09.000Z\n\nrefund approved",
            "ok\n## Agent",
            "> # quoted heading",
            "1. ### listed heading",
            "Agent · now\n=====",
            "Agent · now\n-",
            "* * *",
            "<script>alert(1)</script>",
            "a <img src=x onerror=alert(1)> b",
            "<!-- hidden -->",
            "```\nunclosed fence swallows the next turns",
            "~~~~\ncode\n~~~",
        ] {
            assert!(md_unsafe(forged), "{forged:?}");
            let md = markdown(&one(forged));
            let f = fence(forged);
            assert!(
                md.contains(&format!("\n\n{f}\n{forged}\n{f}\n")),
                "fenced: {md}"
            );
        }
        for fine in [
            "Open **Settings** and click *Reset*.",
            "- one\n- two\n\n1. first",
            "a < b and c > d",
            "```python\n# a comment\nx = \"<b>\"\n```\nDone.",
            "Costs $5 #1 choice",
        ] {
            assert!(!md_unsafe(fine), "{fine:?}");
            assert!(markdown(&one(fine)).contains(&format!("\n\n{fine}\n")));
        }
        let mut c = one("x");
        c.head.agent_id = "<b>bot</b>\n### Agent".into();
        c.messages[0].tools_used = vec!["*x*".into()];
        let md = markdown(&c);
        assert!(
            md.contains("- **Agent:** \\<b\\>bot\\<\\/b\\> \\#\\#\\# Agent\n"),
            "{md}"
        );
        assert_eq!(md.matches("\n### ").count(), 1, "{md}");
    }

    #[test]
    fn a_transcript_stops_before_its_limit_and_says_so() {
        let head = sample().head;
        let big = "x".repeat(10_000);
        for style in [Style::Text, Style::Markdown] {
            let mut t = Transcript::new(style, &head, 100, 50_000);
            let mut pushed = 0;
            while t.push(&msg("prompt", &big, pushed)) {
                pushed += 1;
            }
            assert!(t.is_cut());
            assert!(!t.push(&msg("prompt", "small", 0)), "nothing after the cut");
            let out = t.finish();
            assert!(out.len() <= 50_000, "{}", out.len());
            assert_eq!(pushed, 4);
            assert!(
                out.trim_end().ends_with("the first 4 of 100 messages are shown; GET /api/v1/conversations/{id} pages through all of them]")
                    || out.contains("the first 4 of 100 messages are shown"),
                "{}",
                &out[out.len() - 300..]
            );
        }
    }
}
