//! The model's answer, parsed strictly (pure). The chat-completions response must carry, in
//! `choices[0].message.content`, one JSON object with exactly the five fields of
//! [`Insights`], each within its limits; the content may be wrapped in a Markdown code fence
//! (```` ```json ... ``` ````), which is removed. Anything else is a [`Malformed`] answer
//! whose reason names the field: nothing is guessed or filled in.

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest `summary`, in characters.
pub const SUMMARY_CHARS: usize = 2_000;
/// Most `topics`.
pub const MAX_TOPICS: usize = 10;
/// Longest topic, in characters.
pub const TOPIC_CHARS: usize = 80;

/// The insights of one conversation, as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    /// What the user wanted and what happened.
    pub summary: String,
    /// `positive`, `neutral` or `negative`.
    pub sentiment: String,
    /// From -1 to 1.
    pub sentiment_score: f64,
    /// Whether the user's request appears accomplished.
    pub task_completed: bool,
    /// Short topic labels.
    pub topics: Vec<String>,
}

/// Why an answer is not the promised JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn bad(reason: impl Into<String>) -> Malformed {
    Malformed(reason.into())
}

/// The insights in a chat-completions response `body`.
pub fn parse(body: &[u8]) -> Result<Insights, Malformed> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the response is not JSON: {e}")))?;
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| bad("the response has no choices[0]"))?;
    if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
        return Err(bad(
            "the answer was cut off (finish_reason \"length\"): the model ran out of tokens",
        ));
    }
    let content = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("choices[0].message.content is missing or not a string"))?;
    parse_content(content)
}

/// Removes one Markdown code fence around `text` (```` ```json ```` or ```` ``` ````).
fn unfence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let Some(inner) = rest.strip_suffix("```") else {
        return t;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.trim()
}

/// The insights in the message content `content`.
pub fn parse_content(content: &str) -> Result<Insights, Malformed> {
    let text = unfence(content);
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("the content is not a JSON object: {e}")))?;
    let Value::Object(o) = v else {
        return Err(bad("the content is JSON but not an object"));
    };
    const FIELDS: [&str; 5] = [
        "summary",
        "sentiment",
        "sentimentScore",
        "taskCompleted",
        "topics",
    ];
    if let Some(extra) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(format!(
            "unexpected field {extra:?}; allowed: summary, sentiment, sentimentScore, taskCompleted, topics"
        )));
    }
    let field = |name: &str| o.get(name).ok_or_else(|| bad(format!("{name} is missing")));
    let summary = text_field(&o, "summary", SUMMARY_CHARS)?;
    let sentiment = match field("sentiment")? {
        Value::String(s) if matches!(s.as_str(), "positive" | "neutral" | "negative") => s.clone(),
        other => {
            return Err(bad(format!(
                "sentiment is {}; allowed: \"positive\", \"neutral\", \"negative\"",
                shown(other)
            )))
        }
    };
    let sentiment_score = match field("sentimentScore")?.as_f64() {
        Some(n) if (-1.0..=1.0).contains(&n) => n,
        _ => {
            return Err(bad(format!(
                "sentimentScore is {}; allowed: a number from -1 to 1",
                shown(&o["sentimentScore"])
            )))
        }
    };
    let task_completed = field("taskCompleted")?.as_bool().ok_or_else(|| {
        bad(format!(
            "taskCompleted is {}; allowed: true or false",
            shown(&o["taskCompleted"])
        ))
    })?;
    let Value::Array(list) = field("topics")? else {
        return Err(bad(format!(
            "topics is {}; allowed: an array of strings",
            shown(&o["topics"])
        )));
    };
    if list.len() > MAX_TOPICS {
        return Err(bad(format!(
            "topics has {} entries; allowed: at most {MAX_TOPICS}",
            list.len()
        )));
    }
    let mut topics = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        match t {
            Value::String(s) if !s.trim().is_empty() && s.chars().count() <= TOPIC_CHARS => {
                topics.push(s.trim().to_owned())
            }
            other => {
                return Err(bad(format!(
                    "topics[{i}] is {}; allowed: a non-empty string of at most {TOPIC_CHARS} characters",
                    shown(other)
                )))
            }
        }
    }
    Ok(Insights {
        summary,
        sentiment,
        sentiment_score,
        task_completed,
        topics,
    })
}

fn text_field(o: &Map<String, Value>, name: &str, max: usize) -> Result<String, Malformed> {
    match o.get(name) {
        None => Err(bad(format!("{name} is missing"))),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
            Ok(s.trim().to_owned())
        }
        Some(other) => Err(bad(format!(
            "{name} is {}; allowed: a non-empty string of at most {max} characters",
            shown(other)
        ))),
    }
}

/// A short description of a wrong value (its type, and a short value), never the whole of a
/// long text.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.trim().is_empty() => "an empty string".into(),
        Value::String(s) if s.chars().count() > 40 => {
            format!("a string of {} characters", s.chars().count())
        }
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(content: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }]
        }))
        .unwrap()
    }

    fn good() -> Value {
        json!({"summary": "The user asked where the order is; the assistant said it ships tomorrow.",
               "sentiment": "positive", "sentimentScore": 0.6, "taskCompleted": true, "topics": ["orders", "shipping"]})
    }

    fn reason(v: Value) -> String {
        parse(&body(&v.to_string())).unwrap_err().0
    }

    #[test]
    fn a_good_answer_fenced_or_not() {
        let i = parse(&body(&good().to_string())).unwrap();
        assert_eq!(i.sentiment, "positive");
        assert_eq!(i.sentiment_score, 0.6);
        assert!(i.task_completed);
        assert_eq!(i.topics, ["orders", "shipping"]);
        let fenced = format!("```json\n{}\n```", good());
        assert_eq!(parse(&body(&fenced)).unwrap(), i);
        let bare = format!("```\n{}\n```", good());
        assert_eq!(parse(&body(&bare)).unwrap(), i);
        let mut edge = good();
        edge["sentimentScore"] = json!(-1);
        edge["topics"] = json!([]);
        edge["summary"] = json!("s".repeat(SUMMARY_CHARS));
        assert_eq!(
            parse(&body(&edge.to_string())).unwrap().sentiment_score,
            -1.0
        );
    }

    #[test]
    fn every_defect_is_named() {
        let with = |k: &str, v: Value| {
            let mut g = good();
            g[k] = v;
            g
        };
        let without = |k: &str| {
            let mut g = good();
            g.as_object_mut().unwrap().remove(k);
            g
        };
        for (answer, expected) in [
            (without("summary"), "summary is missing"),
            (without("topics"), "topics is missing"),
            (without("taskCompleted"), "taskCompleted is missing"),
            (with("summary", json!("  ")), "summary is an empty string"),
            (
                with("summary", json!("s".repeat(SUMMARY_CHARS + 1))),
                "summary is a string of 2001 characters",
            ),
            (with("sentiment", json!("mixed")), "sentiment is \"mixed\""),
            (with("sentimentScore", json!(1.5)), "sentimentScore is 1.5"),
            (
                with("sentimentScore", json!("0.5")),
                "sentimentScore is \"0.5\"",
            ),
            (
                with("taskCompleted", json!("yes")),
                "taskCompleted is \"yes\"",
            ),
            (with("topics", json!("a, b")), "topics is \"a, b\""),
            (
                with("topics", json!(["a", ""])),
                "topics[1] is an empty string",
            ),
            (with("topics", json!(["a", 3])), "topics[1] is 3"),
            (
                with("topics", json!(vec!["t"; 11])),
                "topics has 11 entries",
            ),
            (
                with("topics", json!(["t".repeat(81)])),
                "topics[0] is a string of 81 characters",
            ),
            (
                with("confidence", json!(0.9)),
                "unexpected field \"confidence\"",
            ),
        ] {
            let r = reason(answer);
            assert!(r.starts_with(expected), "{r} vs {expected}");
        }
    }

    #[test]
    fn responses_that_are_not_the_promised_json() {
        assert!(parse(b"<html>")
            .unwrap_err()
            .0
            .starts_with("the response is not JSON"));
        assert_eq!(
            parse(b"{\"choices\":[]}").unwrap_err().0,
            "the response has no choices[0]"
        );
        assert!(parse(&body("Sure! Here is the JSON: {\"summary\": \"x\"}"))
            .unwrap_err()
            .0
            .starts_with("the content is not a JSON object"));
        assert_eq!(
            parse(&body("[1,2]")).unwrap_err().0,
            "the content is JSON but not an object"
        );
        let cut =
            json!({"choices": [{"message": {"content": "{\"summ"}, "finish_reason": "length"}]});
        assert!(parse(cut.to_string().as_bytes())
            .unwrap_err()
            .0
            .contains("cut off"));
        let no_content = json!({"choices": [{"message": {"role": "assistant", "content": null}}]});
        assert_eq!(
            parse(no_content.to_string().as_bytes()).unwrap_err().0,
            "choices[0].message.content is missing or not a string"
        );
    }
}
