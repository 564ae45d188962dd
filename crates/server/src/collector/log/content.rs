//! The `content` of a create request: a whole conversation in one string, either as JSON
//! `{"messages": [...]}` or as a text transcript with role labels.
//!
//! A label starts a line and ends with a colon: `User:`, `Human:`, `Customer:` (the visitor),
//! `Assistant:`, `AI:`, `Agent:`, `Bot:` (the agent), `System:`; case-insensitive. Each label
//! starts one turn, which runs to the next label, so turns of several lines keep their line
//! breaks; the text after the colon on the label's line is the turn's first line. Leading and
//! trailing blank lines of a turn are dropped.

use serde_json::{json, Value};

/// The labels and the role each stands for.
const LABELS: [(&str, &str); 8] = [
    ("user", "user"),
    ("human", "user"),
    ("customer", "user"),
    ("assistant", "assistant"),
    ("ai", "assistant"),
    ("agent", "assistant"),
    ("bot", "assistant"),
    ("system", "system"),
];

/// What `content` held.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// The value of `messages` of a JSON content (checked by the caller like `messages`).
    Json(Value),
    /// The turns of a transcript, as message objects `{role, content}`.
    Turns(Vec<Value>),
}

/// The role and the rest of `line` when it starts with a label.
fn label(line: &str) -> Option<(&'static str, &str)> {
    let (head, rest) = line.split_once(':')?;
    let head = head.trim();
    LABELS
        .iter()
        .find(|(l, _)| head.eq_ignore_ascii_case(l))
        .map(|(_, role)| (*role, rest.trim_start()))
}

/// Reads `text`; the error says what is wrong and what is allowed.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(trimmed).map_err(|e| {
            format!("looks like JSON but cannot be read ({e}); expected {{\"messages\": [...]}}")
        })?;
        return match v {
            Value::Object(mut o) if o.len() == 1 && o.contains_key("messages") => {
                Ok(Parsed::Json(o.remove("messages").unwrap_or(Value::Null)))
            }
            _ => Err("as JSON must be an object with exactly one member, messages".into()),
        };
    }
    let mut turns: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        match label(line) {
            Some((role, first)) => turns.push((role, vec![first])),
            None => match turns.last_mut() {
                Some((_, lines)) => lines.push(line),
                None if line.trim().is_empty() => {}
                None => {
                    return Err(format!(
                        "must start with a role label such as `User:` or `Assistant:` (also Human/AI, Customer/Agent, Bot, System); the first line is {:?}",
                        line.chars().take(60).collect::<String>()
                    ))
                }
            },
        }
    }
    if turns.is_empty() {
        return Err("holds no turns: start each turn with a role label such as `User:`".into());
    }
    Ok(Parsed::Turns(
        turns
            .into_iter()
            .map(|(role, lines)| {
                let body = lines.join("\n");
                let body = body.trim_matches(|c| c == '\n' || c == '\r');
                json!({"role": role, "content": body.trim_end()})
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(text: &str) -> Vec<(String, String)> {
        match parse(text).unwrap() {
            Parsed::Turns(t) => t
                .iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap().into(),
                        m["content"].as_str().unwrap().into(),
                    )
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_label_pair_and_multi_line_turns() {
        let t = turns("Human: hi\nAI: hello\n\nthere\n\nCUSTOMER:  refund?\nAgent: sure\nsystem: note\nBot: ok");
        let roles: Vec<&str> = t.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            roles,
            [
                "user",
                "assistant",
                "user",
                "assistant",
                "system",
                "assistant"
            ]
        );
        assert_eq!(t[1].1, "hello\n\nthere");
        assert_eq!(t[2].1, "refund?");
        let t = turns("\n\nUser: a\r\nAssistant: b: with a colon\n");
        assert_eq!(
            t,
            [
                ("user".into(), "a".into()),
                ("assistant".into(), "b: with a colon".into())
            ]
        );
    }

    #[test]
    fn text_before_the_first_label_and_bad_json_are_errors() {
        assert!(parse("hello\nUser: x")
            .unwrap_err()
            .starts_with("must start with a role label"));
        assert!(parse("").unwrap_err().starts_with("holds no turns"));
        assert!(parse("{\"messages\": [")
            .unwrap_err()
            .starts_with("looks like JSON"));
        assert!(parse("{\"turns\": []}")
            .unwrap_err()
            .contains("exactly one member"));
        assert_eq!(
            parse("{\"messages\": []}").unwrap(),
            Parsed::Json(json!([]))
        );
    }
}
