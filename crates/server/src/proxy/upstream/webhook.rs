//! Standard Webhooks upstream: the normalized batch `{"events":[..]}`, signed over exactly
//! the bytes sent, one `webhook-id` per batch that stays the same on every retry. A receiver
//! may refuse single events: in its 2xx answer (`rejected`, final for those events), or with
//! a 400 that names them (final for those; the rest is sent again, as a new batch, at once).

use std::collections::HashSet;
use std::ops::Range;
use std::time::Instant;

use agent_track_schema::json::write::{field_str, field_u64, write_event};
use agent_track_schema::RelayedEvent;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{classify, send_once, with_retries, Outcome, Refused, RelayError};
use crate::proxy::ProxyState;
use crate::secret::Secrets;
use crate::signature;

/// The `webhook-id` of a batch: derived from its event ids, so the same events relayed again
/// (the proxy's retry, or the browser's after a timeout) carry the same id. Each id is
/// length-prefixed, so two different lists of ids never hash the same input (ids may contain
/// any character, a separator included).
pub fn webhook_id<'a>(event_ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for id in event_ids {
        h.update((id.len() as u64).to_be_bytes());
        h.update(id.as_bytes());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    id.push_str("msg_");
    for b in &h.finalize()[..16] {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id
}

/// One relayed event as JSON: `RelayedEvent` flattens the event, then adds its own fields.
fn write_relayed(out: &mut String, e: &RelayedEvent) {
    write_event(out, &e.event);
    out.pop();
    field_u64(out, "receivedAt", e.received_at);
    field_u64(out, "clientTimestamp", e.client_timestamp);
    if let Some(ip) = &e.ip {
        field_str(out, "ip", ip);
    }
    out.push('}');
}

/// A batch ready to relay: the body `{"events":[..]}` written once (the same bytes as
/// `serde_json` writes for a `RelayBatch` of these events: a test holds the two together),
/// without building or cloning the events, with where each event's text is in it and
/// the events' ids, so that the typed events (a few dozen small allocations each) are freed
/// before the first upstream request, on the worker thread that allocated them. Freed on
/// another worker after the request, where the task may have moved, each free is a remote one,
/// which the allocator settles at a higher price (its share of the proxy's time under the
/// relay bench: 16.7 % with the two workers of a 2-core machine, 8.5 % with one).
pub struct Written {
    /// `{"events":[..]}`.
    body: Bytes,
    /// Each event's text in `body`.
    spans: Vec<Range<usize>>,
    /// The events' ids, one after the other.
    ids: String,
    /// The end of each event's id in `ids`.
    id_ends: Vec<usize>,
}

impl Written {
    /// `events`, written.
    pub fn new(events: &[RelayedEvent]) -> Self {
        let size = events
            .iter()
            .map(|e| {
                640 + e.event.properties.content.len() + e.event.event_properties.as_str().len()
            })
            .sum();
        let mut body = String::with_capacity(size);
        let mut spans = Vec::with_capacity(events.len());
        let mut ids = String::with_capacity(events.iter().map(|e| e.event.event_id.len()).sum());
        let mut id_ends = Vec::with_capacity(events.len());
        body.push_str("{\"events\":[");
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            let start = body.len();
            write_relayed(&mut body, e);
            spans.push(start..body.len());
            ids.push_str(&e.event.event_id);
            id_ends.push(ids.len());
        }
        body.push_str("]}");
        Written {
            body: Bytes::from(body.into_bytes()),
            spans,
            ids,
            id_ends,
        }
    }

    /// How many events there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The body and the `webhook-id` of a round that sends the events `which` (indices, in
    /// order).
    pub fn round(&self, which: &[usize]) -> (Bytes, String) {
        (
            self.body_of(which),
            webhook_id(which.iter().map(|&i| self.id(i))),
        )
    }

    /// The id of event `i`.
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.id_ends[i - 1] };
        &self.ids[start..self.id_ends[i]]
    }

    /// The body of the events `which` (in the order given): the whole body when that is all of
    /// them, else a new one made of their texts.
    fn body_of(&self, which: &[usize]) -> Bytes {
        if which.len() == self.spans.len() {
            return self.body.clone();
        }
        let mut body = Vec::with_capacity(self.body.len());
        body.extend_from_slice(b"{\"events\":[");
        for (n, &i) in which.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.body[self.spans[i].clone()]);
        }
        body.extend_from_slice(b"]}");
        Bytes::from(body)
    }
}

/// Posts the signed batch to upstream `start` of the list, failing over along the list; see
/// [`super::with_retries`] for the retry policy. Every attempt, at whichever upstream, carries
/// the same `webhook-id` and body, so receivers sharing one database store the batch once.
/// Returns the events refused for good.
pub async fn send(
    state: &ProxyState,
    start: usize,
    secrets: &Secrets,
    batch: Written,
    deadline: Instant,
) -> Result<Vec<Refused>, RelayError> {
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    let mut refused: Vec<Refused> = Vec::new();
    // Each round removes at least one event, so this ends.
    loop {
        // One body per round; every attempt shares these bytes.
        let (body, id) = batch.round(&pending);
        let outcome = with_retries(state, deadline, start, |index, left| {
            // A fresh timestamp per attempt: the receiver refuses stale ones.
            let timestamp = (crate::error::now_ms() / 1000) as i64;
            let request = state
                .post(index)
                .timeout(left)
                .header("content-type", "application/json")
                .header(signature::ID, &id)
                .header(signature::TIMESTAMP, timestamp.to_string())
                .header(
                    signature::SIGNATURE,
                    signature::sign(secrets, &id, timestamp, &body),
                )
                .body(body.clone());
            async move {
                match send_once(request, "upstream").await {
                    Ok(answer) => classify(&answer, "upstream"),
                    Err(attempt) => attempt,
                }
            }
        })
        .await?;
        // Only the events of this batch can be refused: a receiver naming others is ignored.
        let of_batch = |named: Vec<Refused>| -> Vec<Refused> {
            if named.is_empty() {
                return named;
            }
            let ids: HashSet<&str> = pending.iter().map(|&i| batch.id(i)).collect();
            named
                .into_iter()
                .filter(|r| ids.contains(r.event_id.as_str()))
                .collect()
        };
        match outcome {
            Outcome::Accepted(named) => {
                refused.extend(of_batch(named));
                return Ok(refused);
            }
            Outcome::Refused(named) => {
                let named = of_batch(named);
                if named.is_empty() {
                    return Err(RelayError::Failed(
                        "upstream answered HTTP 400 naming no event of the batch".into(),
                    ));
                }
                let gone: HashSet<&str> = named.iter().map(|r| r.event_id.as_str()).collect();
                pending.retain(|&i| !gone.contains(batch.id(i)));
                refused.extend(named);
                if pending.is_empty() {
                    return Ok(refused);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_track_schema::{AgentProperties, Context, Event, EventType};

    fn relayed(id: &str) -> RelayedEvent {
        RelayedEvent {
            event: Event {
                event_id: id.into(),
                event_type: EventType::Prompt,
                timestamp: 1,
                visitor_id: Some("v".into()),
                account_id: None,
                properties: AgentProperties::new("a", "c", "m", "x"),
                event_properties: Default::default(),
                context: Context {
                    seq: 1,
                    sdk: "s".into(),
                    ..Default::default()
                },
            },
            received_at: 2,
            client_timestamp: 1,
            ip: None,
        }
    }

    fn id_of(events: &[RelayedEvent]) -> String {
        webhook_id(events.iter().map(|e| e.event.event_id.as_str()))
    }

    #[test]
    fn the_batch_is_written_as_serde_writes_a_relay_batch() {
        let mut a = relayed("e1");
        a.ip = Some("203.0.113.9".into());
        a.event.event_properties = agent_track_schema::parse_event_properties(Some(
            &serde_json::json!({"x": [1, "\u{e9}\""]}),
        ))
        .unwrap();
        a.event.properties.tools_used = Some(vec!["t\n1".into()]);
        a.event.context.url = Some("https://app.example/\u{2028}".into());
        let b = relayed("e2");
        let c = relayed("e\"3");
        let events = [a, b, c];
        let serde = |which: &[usize]| {
            serde_json::to_string(&agent_track_schema::RelayBatch {
                events: which.iter().map(|&i| events[i].clone()).collect(),
            })
            .unwrap()
        };
        // Written once: the whole batch, and any round's subset of it, as serde writes them.
        let written = Written::new(&events);
        for which in [&[0, 1, 2][..], &[0, 2], &[2]] {
            let (body, id) = written.round(which);
            assert_eq!(body, serde(which).as_bytes(), "{which:?}");
            let subset: Vec<RelayedEvent> = which.iter().map(|&i| events[i].clone()).collect();
            assert_eq!(id, id_of(&subset), "{which:?}");
        }
        assert_eq!(
            [written.id(0), written.id(1), written.id(2)],
            ["e1", "e2", "e\"3"]
        );
        let (body, _) = Written::new(&[]).round(&[]);
        assert_eq!(body, r#"{"events":[]}"#.as_bytes());
    }

    #[test]
    fn the_webhook_id_depends_on_the_events_only() {
        let a = id_of(&[relayed("e1"), relayed("e2")]);
        assert_eq!(a, id_of(&[relayed("e1"), relayed("e2")]));
        assert_ne!(a, id_of(&[relayed("e1")]));
        assert!(a.starts_with("msg_") && a.len() == 36);
        // The first 16 bytes of SHA-256 over the length-prefixed ids, in lower-case hex.
        let mut h = Sha256::new();
        for id in ["e1", "e2"] {
            h.update((id.len() as u64).to_be_bytes());
            h.update(id);
        }
        let hex: String = h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a, format!("msg_{hex}"));
    }

    #[test]
    fn different_batches_never_share_an_id() {
        // Joined by a separator, these were the same bytes ("a\nb\n").
        assert_ne!(
            id_of(&[relayed("a\nb")]),
            id_of(&[relayed("a"), relayed("b")])
        );
        assert_ne!(
            id_of(&[relayed("ab"), relayed("")]),
            id_of(&[relayed("a"), relayed("b")])
        );
    }
}
