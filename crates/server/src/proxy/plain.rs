//! The fast reading of a plain batch (pure): the body read in place with the schema crate's
//! borrowed [`Doc`] instead of a `serde_json::Value` tree, for the bodies where both readings
//! agree on everything the proxy decides. Anything else goes to the `Value` reading
//! ([`super::events`]), which stays the reference: same answers, same errors.
//!
//! A body is plain when it is UTF-8 and, outside strings, has no whitespace, its numbers are
//! unsigned integers of at most 19 digits (no sign, fraction or exponent: both readings see
//! the same number, and its text is what `serde_json` writes), it nests at most 100 deep
//! (`serde_json` stops at 128), its strings have no `\u` escape of a surrogate (`serde_json`
//! refuses a lone one; [`Doc`] would read it as U+FFFD), and it is an object whose `v` is
//! absent, `1` or `2`, whose `sentAt` is a whole number, whose `events` is an array and
//! whose v2 `context` is absent, `null` or an object.
//!
//! Within a plain body the readings differ only where the `Value` tree merges or sorts:
//! repeated keys (the last wins in both, but the text keeps them) and the order of keys. So
//! an event's text here is never shorter than `serde_json`'s (the size limits can only refuse
//! sooner), and an event refused here is checked again on its `Value`, whose rejection is the
//! one reported (which unknown key is named first, exact sizes). The relayed event is built
//! from the typed [`agent_track_schema::Event`] either way; only `eventProperties` keeps the
//! app's key order (and repeated keys) here, which receivers read as the same object.

use agent_track_schema::json::{Doc, Json, Kind, Node};
use agent_track_schema::Rejection;
use agent_track_schema::RelayedEvent;
use serde_json::Value;

use super::enrich::RequestFacts;
use super::events::{compact_len, Validation};

/// The deepest nesting read here.
const MAX_DEPTH: usize = 100;

/// The body as a [`Doc`], when it is plain text (see the module's doc) that parses. Whether it
/// is plain is noted while parsing ([`Doc::parse_with_shape`]), not found by a second scan:
/// what the browser sends is plain, so its bodies are read once; any other body (pretty-printed
/// by a backend, say) is read a second time by the `Value` reading, within the same size limit.
pub fn doc(bytes: &[u8]) -> Option<Doc<'_>> {
    let (doc, shape) = Doc::parse_with_shape(std::str::from_utf8(bytes).ok()?).ok()?;
    (shape.compact && shape.digit_numbers && shape.depth <= MAX_DEPTH && !shape.surrogate_escape)
        .then_some(doc)
}

/// A plain batch: its `sentAt`, its events as sent and, in v2, its batch context.
pub struct Batch<'d, 'a> {
    /// The batch's `sentAt`.
    pub sent_at: u64,
    /// The events as sent.
    pub events: Vec<Node<'d, 'a>>,
    /// The v2 batch context, when it is an object.
    pub context: Option<Node<'d, 'a>>,
}

/// The batch of a plain body, or `None` when the `Value` reading must answer (anything the
/// batch-level checks would refuse, or would read differently).
pub fn batch<'d, 'a>(doc: &'d Doc<'a>) -> Option<Batch<'d, 'a>> {
    let root = doc.root();
    if root.kind() != Kind::Object {
        return None;
    }
    let v2 = match root.get("v").map(|v| v.raw()) {
        None | Some("1") => false,
        Some("2") => true,
        Some(_) => return None,
    };
    let events = root.get("events").filter(|e| e.kind() == Kind::Array)?;
    let sent_at = root.get("sentAt").filter(|s| s.kind() == Kind::Number)?;
    let sent_at: u64 = sent_at.raw().parse().ok()?;
    let context = match (v2, root.get("context")) {
        (false, _) => None,
        (true, None) => None,
        (true, Some(c)) if c.kind() == Kind::Null => None,
        (true, Some(c)) if c.kind() == Kind::Object => Some(c),
        (true, Some(_)) => return None,
    };
    Some(Batch {
        sent_at,
        events: events.items(),
        context,
    })
}

/// The text of `event` with the batch context and its own `seq`, when it needs them (v2, its
/// `context` an object with no key other than `seq`): as `super::batch` expands a `Value`.
fn expanded(event: Node<'_, '_>, batch: Option<Node<'_, '_>>) -> Option<String> {
    let batch = batch?;
    let own = event.get("context").filter(|c| c.kind() == Kind::Object)?;
    if own.members().iter().any(|(k, _)| k != "seq") {
        return None;
    }
    let seq = own.get("seq");
    let mut context = String::with_capacity(batch.raw().len() + 24);
    context.push('{');
    for (key, value) in batch.members() {
        // The event's own seq replaces the batch's.
        if seq.is_some() && key == "seq" {
            continue;
        }
        if context.len() > 1 {
            context.push(',');
        }
        agent_track_schema::text::push_json_str(&mut context, &key);
        context.push(':');
        context.push_str(value.raw());
    }
    if let Some(seq) = seq {
        if context.len() > 1 {
            context.push(',');
        }
        context.push_str("\"seq\":");
        context.push_str(seq.raw());
    }
    context.push('}');
    let mut text = String::with_capacity(event.raw().len() + context.len());
    text.push('{');
    for (i, (key, value)) in event.raw_members().into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(key);
        text.push(':');
        if key == "\"context\"" {
            text.push_str(&context);
        } else {
            text.push_str(value.raw());
        }
    }
    text.push('}');
    Some(text)
}

/// Splits a plain batch into relayable events and final rejections, as
/// [`super::events::validate`] does for the `Value` reading.
pub fn validate(
    batch: &Batch<'_, '_>,
    facts: &RequestFacts,
) -> (Vec<RelayedEvent>, Vec<Rejection>) {
    let mut v = Validation::with_capacity(batch.events.len());
    for (index, event) in batch.events.iter().enumerate() {
        let text = expanded(*event, batch.context);
        let own;
        let node = match &text {
            Some(text) => match Doc::parse(text) {
                Ok(doc) => {
                    own = doc;
                    own.root()
                }
                Err(_) => *event,
            },
            None => *event,
        };
        if !v.check(index, node, node.raw().len(), facts) {
            // The exact rejection, from the reference reading of this event.
            if let Ok(value) = serde_json::from_str::<Value>(node.raw()) {
                v.rejected.pop();
                v.check(index, &value, compact_len(&value), facts);
            }
        }
    }
    v.finish()
}

/// The index of the first event whose `eventId` is `id`.
pub fn position(batch: &Batch<'_, '_>, id: &str) -> Option<usize> {
    batch.events.iter().position(|e| {
        e.get("eventId")
            .and_then(|v| v.as_str())
            .is_some_and(|s| s == id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_text_is_read_here() {
        let deepest = format!("{}{}", "[".repeat(100), "]".repeat(100));
        for plain in [
            r#"{"sentAt":1,"events":[]}"#,
            r#"{"a":"x y\n\"\u00e9\/","b":[true,false,null,1234567890123456789]}"#,
            r#"{"a":"\\ud800 is text after an escaped backslash","b":{},"c":[],"d":[{}],"e":""}"#,
            "7",
            &deepest,
        ] {
            assert!(doc(plain.as_bytes()).is_some(), "{plain}");
        }
        for other in [
            r#"{"sentAt": 1}"#,
            "{\"a\":1}\n",
            r#"{"a":-1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e5}"#,
            r#"{"a":12345678901234567890}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\uDBFF\uDC00"}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":[1 ,2]}"#,
            r#"{"a":{} }"#,
            r#"[ ]"#,
            " {}",
            r#"{"a":"x\uD83D\uDE00"}"#,
        ] {
            assert!(doc(other.as_bytes()).is_none(), "{other}");
        }
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert!(doc(deep.as_bytes()).is_none());
        assert!(doc(b"{\"a\":1").is_none());
        assert!(doc(b"{\"a\":\"\xff\"}").is_none());
    }

    #[test]
    fn batch_level_oddities_go_to_the_value_reading() {
        for body in [
            r#"[]"#,
            r#"{"v":3,"sentAt":1,"events":[]}"#,
            r#"{"v":"2","sentAt":1,"events":[]}"#,
            r#"{"sentAt":"1","events":[]}"#,
            r#"{"events":[]}"#,
            r#"{"sentAt":1,"events":{}}"#,
            r#"{"v":2,"sentAt":1,"context":"x","events":[]}"#,
        ] {
            let doc = doc(body.as_bytes()).unwrap();
            assert!(batch(&doc).is_none(), "{body}");
        }
        let doc = doc(br#"{"v":1,"sentAt":5,"context":"ignored in v1","events":[{},{}]}"#).unwrap();
        let b = batch(&doc).unwrap();
        assert_eq!(
            (b.sent_at, b.events.len(), b.context.is_none()),
            (5, 2, true)
        );
    }

    /// Both readings of `body`: relayed events (as JSON values, so that key order does not
    /// count) and rejections.
    fn both(body: &str, facts: &RequestFacts) -> [(Vec<Value>, Vec<Rejection>); 2] {
        let relayed = |(valid, rejected): (Vec<RelayedEvent>, Vec<Rejection>)| {
            let valid = valid
                .iter()
                .map(|e| serde_json::to_value(e).unwrap())
                .collect();
            (valid, rejected)
        };
        let doc = doc(body.as_bytes()).expect("a plain body");
        let plain = relayed(validate(&batch(&doc).expect("a plain batch"), facts));
        let value: Value = serde_json::from_str(body).unwrap();
        let events = super::super::batch::events(value.as_object().unwrap()).unwrap();
        let reference = relayed(super::super::events::validate(events.iter(), facts));
        [plain, reference]
    }

    #[test]
    fn both_readings_relay_and_reject_the_same() {
        let now = 1_763_712_000_000u64;
        let facts = RequestFacts {
            received_at: now,
            sent_at: now,
            ..Default::default()
        };
        let ok = |id: &str| {
            format!(
                r#"{{"eventId":"{id}","type":"agent_response","timestamp":{now},"visitorId":"v","accountId":"a","properties":{{"agentId":"bot","conversationId":"c","messageId":"m-{id}","content":"hi \"there\"\n","toolsUsed":["t"],"modelUsed":"m1","agentInputTokenCount":12}},"eventProperties":{{"z":1,"a":[1,{{"b":null}}],"a":2}},"context":{{"url":"https://app.example/","seq":1,"sdk":"agent-track/0.1.0"}}}}"#
            )
        };
        let long = "x".repeat(200_000);
        let big_props = format!(r#"{{"k":"{}"}}"#, "y".repeat(17_000));
        let events = [
            ok("e1"),
            ok("e1"),
            ok("e2").replace(r#""eventId":"e2","#, r#""eventId":"e2","zzz":1,"aaa":2,"#),
            ok("e3").replace(
                r#""agentId":"bot","#,
                r#""agentId":"bot","zeta":1,"alpha":2,"#,
            ),
            ok("e4").replace(r#""visitorId":"v","#, ""),
            ok("e5").replace(&format!(r#""timestamp":{now}"#), r#""timestamp":1"#),
            ok("e6").replace("agent_response", "nope"),
            ok("e7").replace("hi ", &long),
            ok("e8").replace(r#"{"z":1,"a":[1,{"b":null}],"a":2}"#, &big_props),
            ok("e9").replace(r#""seq":1"#, r#""seq":1,"seq":2"#),
            r#""not an event""#.to_string(),
            "7".to_string(),
        ];
        let body = format!(r#"{{"sentAt":{now},"events":[{}]}}"#, events.join(","));
        let [plain, reference] = both(&body, &facts);
        assert_eq!(plain.1, reference.1);
        assert_eq!(plain.0, reference.0);
        assert_eq!(
            (plain.0.len(), plain.1.len()),
            (2, 9),
            "{:?}",
            plain.1.iter().map(|r| &r.code).collect::<Vec<_>>()
        );

        let v2 = format!(
            r#"{{"v":2,"sentAt":{now},"context":{{"url":"u","seq":9,"sdk":"s/1"}},"events":[{},{},{}]}}"#,
            ok("a").replace(
                r#"{"url":"https://app.example/","seq":1,"sdk":"agent-track/0.1.0"}"#,
                r#"{"seq":3}"#
            ),
            ok("b").replace(
                r#"{"url":"https://app.example/","seq":1,"sdk":"agent-track/0.1.0"}"#,
                "{}"
            ),
            ok("c"),
        );
        let [plain, reference] = both(&v2, &facts);
        assert_eq!(plain, reference);
        let no_sdk = v2.replace(r#","sdk":"s/1""#, "");
        let [plain, reference] = both(&no_sdk, &facts);
        assert_eq!(plain, reference);
        assert_eq!(plain.1.len(), 2);
    }

    #[test]
    fn v2_expansion_matches_the_value_reading() {
        let body = r#"{"v":2,"sentAt":1,"context":{"url":"u","seq":9,"sdk":"s"},"events":[{"eventId":"a","context":{"seq":7}},{"eventId":"b","context":{}},{"eventId":"c","context":{"seq":1,"url":"own"}},{"eventId":"d"}]}"#;
        let doc = doc(body.as_bytes()).unwrap();
        let b = batch(&doc).unwrap();
        let value: Value = serde_json::from_str(body).unwrap();
        let reference = super::super::batch::events(value.as_object().unwrap()).unwrap();
        for (node, expected) in b.events.iter().zip(reference.iter()) {
            let text = expanded(*node, b.context).unwrap_or_else(|| node.raw().to_string());
            let got: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(&got, expected.as_ref());
        }
    }
}
