//! Normalization before relaying (pure): `receivedAt`, clock-skew correction, deprecated
//! fields folded, defaults filled, trusted ids and the client IP.

use agent_track_schema::{Event, RelayedEvent};

/// Where the relayed visitor or account id comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IdSource {
    /// The browser's own id (no trusted header is configured).
    #[default]
    Browser,
    /// A trusted header is configured: its value, or `None` when the request had none (or
    /// did not come from a trusted proxy). The browser's id is never used then.
    Header(Option<String>),
}

impl IdSource {
    /// The id to relay, given the browser's.
    pub fn resolve(&self, browser: Option<String>) -> Option<String> {
        match self {
            IdSource::Browser => browser,
            IdSource::Header(v) => v.clone(),
        }
    }
}

/// What the proxy knows about the request, beyond the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// When the batch arrived, unix ms of the proxy's clock.
    pub received_at: u64,
    /// The batch's `sentAt`, unix ms of the browser's clock.
    pub sent_at: u64,
    /// Where the visitor id comes from.
    pub visitor_id: IdSource,
    /// Where the account id comes from.
    pub account_id: IdSource,
    /// The client's IP, when forwarding is enabled.
    pub ip: Option<String>,
}

/// How far the proxy's receipt may be from the browser's `sentAt` before the browser's clock
/// is taken to be off. The difference is the clock's offset plus the request's transit time,
/// which differs from one request to the next: correcting within this margin would stamp
/// each batch with its own transit time and could reorder one visitor's events tracked a
/// moment apart but sent in different batches (an answer and the next prompt). A clock this
/// close is trusted as is; a clock further off is corrected.
pub const SKEW_TOLERANCE_MS: u64 = 2_000;

/// The relayed form of a valid event. The browser's clock may be off: when the proxy's
/// receipt and the browser's `sentAt` differ by more than [`SKEW_TOLERANCE_MS`], the event's
/// time is moved by that difference (`timestamp + receivedAt - sentAt`). The original is
/// kept as `clientTimestamp`.
pub fn enrich(mut event: Event, facts: &RequestFacts) -> RelayedEvent {
    let client_timestamp = event.timestamp;
    let skew = facts.received_at as i128 - facts.sent_at as i128;
    if skew.unsigned_abs() > u128::from(SKEW_TOLERANCE_MS) {
        event.timestamp = (client_timestamp as i128 + skew).clamp(0, u64::MAX as i128) as u64;
    }
    // In place: an event is a few hundred bytes, each copy of it a cost per event.
    event.visitor_id = facts.visitor_id.resolve(event.visitor_id.take());
    event.account_id = facts.account_id.resolve(event.account_id.take());
    event.properties.normalize();
    RelayedEvent {
        event,
        received_at: facts.received_at,
        client_timestamp,
        ip: facts.ip.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_track_schema::{AgentProperties, Context, EventType};

    fn event() -> Event {
        let mut properties = AgentProperties::new("a", "c", "m", "x");
        properties.model_used = Some("m1".into());
        Event {
            event_id: "e".into(),
            event_type: EventType::AgentResponse,
            timestamp: 1_000,
            visitor_id: Some("browser-v".into()),
            account_id: Some("browser-a".into()),
            properties,
            event_properties: Default::default(),
            context: Context {
                seq: 1,
                sdk: "agent-track/0.1.0".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn clock_skew_is_corrected_and_the_original_kept() {
        // The browser's clock is 1 hour behind: it sent at 5_000 when the proxy saw 3_605_000.
        let facts = RequestFacts {
            received_at: 3_605_000,
            sent_at: 5_000,
            ..Default::default()
        };
        let r = enrich(event(), &facts);
        assert_eq!(
            (r.event.timestamp, r.client_timestamp, r.received_at),
            (3_601_000, 1_000, 3_605_000)
        );
        // A clock ahead moves events back, never below zero.
        let ahead = RequestFacts {
            received_at: 10,
            sent_at: 5_000_000,
            ..Default::default()
        };
        assert_eq!(enrich(event(), &ahead).event.timestamp, 0);
    }

    #[test]
    fn a_clock_within_the_tolerance_is_trusted() {
        // Transit time, not skew: two batches of one browser, sent a moment apart, one slower
        // on the way. Their events keep the browser's times and so their order.
        let at = |received_at, sent_at| {
            let facts = RequestFacts {
                received_at,
                sent_at,
                ..Default::default()
            };
            enrich(event(), &facts).event.timestamp
        };
        assert_eq!(at(5_000 + SKEW_TOLERANCE_MS, 5_000), 1_000);
        assert_eq!(at(5_000 - SKEW_TOLERANCE_MS, 5_000), 1_000);
        assert_eq!(
            at(5_001 + SKEW_TOLERANCE_MS, 5_000),
            1_000 + 1 + SKEW_TOLERANCE_MS
        );
        assert_eq!(at(4_999 - SKEW_TOLERANCE_MS, 5_000), 0);
    }

    #[test]
    fn deprecated_fields_fold_and_defaults_fill() {
        let r = enrich(event(), &RequestFacts::default());
        assert_eq!(r.event.properties.model_used, None);
        assert_eq!(
            r.event.properties.agent_models_used,
            Some(vec!["m1".into()])
        );
        assert_eq!(r.event.properties.suggested_prompt, Some(false));
    }

    #[test]
    fn trusted_ids_replace_the_browsers() {
        let facts = RequestFacts {
            visitor_id: IdSource::Header(Some("auth-v".into())),
            account_id: IdSource::Header(Some("auth-a".into())),
            ip: Some("203.0.113.9".into()),
            ..Default::default()
        };
        let r = enrich(event(), &facts);
        assert_eq!(
            (
                r.event.visitor_id.as_deref(),
                r.event.account_id.as_deref(),
                r.ip.as_deref()
            ),
            (Some("auth-v"), Some("auth-a"), Some("203.0.113.9"))
        );
        let untrusted = enrich(event(), &RequestFacts::default());
        assert_eq!(
            (untrusted.event.visitor_id.as_deref(), untrusted.ip),
            (Some("browser-v"), None)
        );
    }

    #[test]
    fn a_configured_header_that_is_missing_never_falls_back_to_the_browsers_id() {
        let facts = RequestFacts {
            visitor_id: IdSource::Header(None),
            account_id: IdSource::Header(None),
            ..Default::default()
        };
        let r = enrich(event(), &facts);
        assert_eq!((r.event.visitor_id, r.event.account_id), (None, None));
    }
}
