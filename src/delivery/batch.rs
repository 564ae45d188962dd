//! Cutting batches from the queue and writing their bodies (contract v2: the page context
//! once per batch), as pure functions over the stored JSON strings.
//!
//! Body: `{"v":2,"sentAt":..,"context":{..},"events":[..]}`. The batch `context` is the first
//! event's context without `seq`; every event whose context equals it apart from `seq` is
//! sent with `"context":{"seq":N}` and inherits the rest, any other event keeps its complete
//! context (`docs/PROTOCOL.md`). Members are copied as stored, never re-encoded.

use agent_track_schema::json::{Doc, Node};
use agent_track_schema::limits::MAX_EVENT_AGE_MS;
use agent_track_schema::text::{find, push_u64};

/// An outgoing batch: the events' ids, in queue order, and the exact body sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The events in the body, in order.
    pub ids: Vec<String>,
    /// `{"v":2,"sentAt":..,"context":{..},"events":[..]}`.
    pub body: String,
}

/// A stored event's context split into its `seq` text and the rest (`"url":..,"sdk":..`),
/// or `None` when the stored text is not an event with a context holding `seq`.
fn split_context<'d>(event: Node<'d, '_>) -> Option<(&'d str, String)> {
    let context = event
        .raw_members()
        .into_iter()
        .find(|(k, _)| *k == "\"context\"")?
        .1;
    let mut seq = None;
    let mut rest = String::new();
    for (key, value) in context.raw_members() {
        if key == "\"seq\"" {
            seq = Some(value.raw());
            continue;
        }
        if !rest.is_empty() {
            rest.push(',');
        }
        rest.push_str(key);
        rest.push(':');
        rest.push_str(value.raw());
    }
    Some((seq?, rest))
}

/// The batch context the first parsable event gives: its context without `seq`.
fn shared_context(queued: &[(String, String)]) -> Option<String> {
    queued.iter().find_map(|(_, json)| {
        let doc = Doc::parse(json).ok()?;
        split_context(doc.root()).map(|(_, rest)| rest)
    })
}

/// One stored event as it goes into a body with the batch context `shared`: the context
/// reduced to `{"seq":N}` when the rest equals `shared`, else the event unchanged.
fn compact(json: &str, shared: Option<&str>) -> String {
    let Some(shared) = shared else {
        return json.to_string();
    };
    let Ok(doc) = Doc::parse(json) else {
        return json.to_string();
    };
    let root = doc.root();
    match split_context(root) {
        Some((seq, rest)) if rest == shared => {
            let mut out = String::with_capacity(json.len());
            out.push('{');
            for (key, value) in root.raw_members() {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(key);
                out.push(':');
                if key == "\"context\"" {
                    out.push_str("{\"seq\":");
                    out.push_str(seq);
                    out.push('}');
                } else {
                    out.push_str(value.raw());
                }
            }
            out.push('}');
            out
        }
        _ => json.to_string(),
    }
}

/// The body's start, up to the opening bracket of `events`.
fn head(sent_at: u64, shared: Option<&str>) -> String {
    let mut out = String::from("{\"v\":2,\"sentAt\":");
    push_u64(&mut out, sent_at);
    if let Some(shared) = shared {
        out.push_str(",\"context\":{");
        out.push_str(shared);
        out.push('}');
    }
    out.push_str(",\"events\":[");
    out
}

/// The longest prefix of `queued` (id, stored JSON) whose body stays within `max_events` and
/// `max_bytes`. Empty when even the first event does not fit.
pub fn cut(
    queued: &[(String, String)],
    sent_at: u64,
    max_events: usize,
    max_bytes: usize,
) -> Outgoing {
    let shared = shared_context(queued);
    let mut body = head(sent_at, shared.as_deref());
    let mut ids = Vec::new();
    for (id, json) in queued.iter().take(max_events) {
        let event = compact(json, shared.as_deref());
        // This event, its comma, and the closing `]}`.
        if body.len() + event.len() + usize::from(!ids.is_empty()) + 2 > max_bytes {
            break;
        }
        if !ids.is_empty() {
            body.push(',');
        }
        body.push_str(&event);
        ids.push(id.clone());
    }
    body.push_str("]}");
    Outgoing { ids, body }
}

/// The batch of exactly these events.
pub fn body(events: &[(String, String)], sent_at: u64) -> Outgoing {
    cut(events, sent_at, usize::MAX, usize::MAX)
}

/// When an event was tracked, read from its UUIDv7 id (the first 48 bits are unix ms).
pub fn tracked_at(event_id: &str) -> Option<u64> {
    let hex: String = event_id.chars().filter(|c| *c != '-').take(12).collect();
    if hex.len() != 12 || event_id.as_bytes().get(14) != Some(&b'7') {
        return None;
    }
    u64::from_str_radix(&hex, 16).ok()
}

/// Whether an event is past the age the server-side endpoint accepts (7 days). Ids that are
/// not UUIDv7 never expire here; the proxy refuses them by timestamp if they are too old.
pub fn is_expired(event_id: &str, now_ms: u64) -> bool {
    tracked_at(event_id).is_some_and(|t| now_ms.saturating_sub(t) > MAX_EVENT_AGE_MS)
}

/// Whether stored event JSON lacks a `visitorId` (tracked before `configure`). Relies on the
/// serialized field order of `Event` (`eventId`, `type`, `timestamp`, then `visitorId` when
/// present), so that custom properties named `visitorId` cannot fool it.
pub fn lacks_visitor(json: &str) -> bool {
    const KEY: &str = "\"timestamp\":";
    let Some(at) = find(json, KEY) else {
        return true;
    };
    let rest = &json.as_bytes()[at + KEY.len()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    !rest[digits..].starts_with(b",\"visitorId\":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::format_v7;

    fn q(jsons: &[&str]) -> Vec<(String, String)> {
        jsons
            .iter()
            .enumerate()
            .map(|(i, j)| (format!("id{i}"), j.to_string()))
            .collect()
    }

    #[test]
    fn body_is_the_contract_envelope_and_valid_json() {
        let b = body(&q(&[r#"{"a":1}"#, r#"{"b":2}"#]), 1763712000123);
        assert_eq!(
            b.body,
            r#"{"v":2,"sentAt":1763712000123,"events":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(b.ids, ["id0", "id1"]);
        let v: serde_json::Value = serde_json::from_str(&b.body).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_page_context_goes_once_per_batch() {
        let page = r#""url":"https://a.example/x","userAgent":"UA","sdk":"agent-track/0.1.0""#;
        let event = |id: &str, seq: u32, url: &str| {
            format!(
                r#"{{"eventId":"{id}","type":"prompt","context":{{"url":"{url}","userAgent":"UA","seq":{seq},"sdk":"agent-track/0.1.0"}}}}"#
            )
        };
        let events = vec![
            ("a".to_string(), event("a", 1, "https://a.example/x")),
            ("b".to_string(), event("b", 2, "https://a.example/x")),
            ("c".to_string(), event("c", 3, "https://a.example/other")),
        ];
        let b = body(&events, 5);
        let v: serde_json::Value = serde_json::from_str(&b.body).unwrap();
        assert_eq!(v["v"], 2);
        assert_eq!(
            v["context"],
            serde_json::from_str::<serde_json::Value>(&format!("{{{page}}}")).unwrap()
        );
        assert_eq!(v["events"][0]["context"], serde_json::json!({"seq": 1}));
        assert_eq!(v["events"][1]["context"], serde_json::json!({"seq": 2}));
        assert_eq!(
            v["events"][2]["context"]["url"], "https://a.example/other",
            "complete context"
        );
        assert_eq!(v["events"][2]["context"]["seq"], 3);
        assert_eq!(v["events"][0]["eventId"], "a", "other members copied");
        assert!(b.body.len() < events.iter().map(|(_, j)| j.len()).sum::<usize>());
    }

    #[test]
    fn cut_respects_the_byte_limit_exactly() {
        let events = q(&["{\"x\":\"0123456789\"}"; 5]); // 18 bytes each
        let one = body(&events[..1], 7).body.len();
        let two = body(&events[..2], 7).body.len();
        assert_eq!(two, one + 19);
        assert_eq!(cut(&events, 7, 10, two).ids.len(), 2);
        assert_eq!(cut(&events, 7, 10, two - 1).ids.len(), 1);
        assert_eq!(cut(&events, 7, 10, one - 1).ids.len(), 0);
        for n in 1..=5 {
            let b = cut(&events, 7, 10, body(&events[..n], 7).body.len());
            assert_eq!(b.ids.len(), n);
            assert_eq!(
                b.body,
                body(&events[..n], 7).body,
                "cut and body agree on size"
            );
        }
    }

    #[test]
    fn cut_respects_the_event_limit() {
        let events = q(&["{}"; 10]);
        assert_eq!(cut(&events, 1, 3, usize::MAX).ids, ["id0", "id1", "id2"]);
    }

    #[test]
    fn age_comes_from_the_uuid_v7() {
        let now = 1_763_712_000_000;
        let id = format_v7(now - MAX_EVENT_AGE_MS, 0, [0; 8]);
        assert_eq!(tracked_at(&id), Some(now - MAX_EVENT_AGE_MS));
        assert!(!is_expired(&id, now));
        assert!(is_expired(&id, now + 1));
        assert!(!is_expired("not-a-uuid", u64::MAX));
        assert_eq!(
            tracked_at("0189d3c1-2b1a-4c00-8000-000000000000"),
            None,
            "v4 layout"
        );
    }

    #[test]
    fn visitor_presence_is_read_from_the_envelope_only() {
        assert!(!lacks_visitor(
            r#"{"eventId":"e","type":"prompt","timestamp":5,"visitorId":"v","properties":{}}"#
        ));
        assert!(lacks_visitor(
            r#"{"eventId":"e","type":"prompt","timestamp":5,"properties":{},"eventProperties":{"visitorId":"x"}}"#
        ));
    }
}
