//! Cutting batches from the queue and writing their bodies, as pure functions over the stored
//! JSON strings (events are not parsed again to be sent).

use agent_track_schema::limits::MAX_EVENT_AGE_MS;

/// An outgoing batch: the events' ids, in queue order, and the exact body sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The events in the body, in order.
    pub ids: Vec<String>,
    /// `{"sentAt":..,"events":[..]}`.
    pub body: String,
}

/// How many bytes the body of `events` takes besides the events themselves.
fn overhead(sent_at: u64, events: usize) -> usize {
    r#"{"sentAt":,"events":[]}"#.len() + sent_at.to_string().len() + events.saturating_sub(1)
}

/// The longest prefix of `queued` (id, stored JSON) whose body stays within `max_events` and
/// `max_bytes`. Empty when even the first event does not fit.
pub fn cut(
    queued: &[(String, String)],
    sent_at: u64,
    max_events: usize,
    max_bytes: usize,
) -> Outgoing {
    let mut size = overhead(sent_at, 1);
    let mut n = 0;
    for (i, (_, json)) in queued.iter().enumerate().take(max_events) {
        let add = json.len() + usize::from(i > 0);
        if size + add > max_bytes {
            break;
        }
        size += add;
        n = i + 1;
    }
    body(&queued[..n], sent_at)
}

/// The batch of exactly these events.
pub fn body(events: &[(String, String)], sent_at: u64) -> Outgoing {
    let len: usize =
        events.iter().map(|(_, j)| j.len()).sum::<usize>() + overhead(sent_at, events.len());
    let mut body = String::with_capacity(len);
    body.push_str("{\"sentAt\":");
    body.push_str(&sent_at.to_string());
    body.push_str(",\"events\":[");
    for (i, (_, json)) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(json);
    }
    body.push_str("]}");
    Outgoing {
        ids: events.iter().map(|(id, _)| id.clone()).collect(),
        body,
    }
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
    let Some((_, rest)) = json.split_once("\"timestamp\":") else {
        return true;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    !rest.starts_with(",\"visitorId\":")
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
            r#"{"sentAt":1763712000123,"events":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(b.ids, ["id0", "id1"]);
        let v: serde_json::Value = serde_json::from_str(&b.body).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 2);
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
