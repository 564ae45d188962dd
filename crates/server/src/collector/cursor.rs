//! Keyset cursors: an opaque string that names the last row of a page by its insertion
//! sequence (the messages of one conversation: by its timestamp and insertion sequence). The
//! next page starts strictly after it, so rows inserted meanwhile neither shift nor repeat
//! what the client already saw (an offset would).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Which listing a cursor belongs to; a cursor of one is refused by the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET /api/v1/conversations`: newest first.
    Conversations,
    /// `GET /api/v1/messages`: oldest first.
    Messages,
    /// `GET /api/v1/conversations/{id}`: its messages by timestamp, then insertion.
    ConversationMessages,
    /// `GET /api/v1/webhooks/deliveries`: newest first.
    WebhookDeliveries,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Conversations => "c1",
            Kind::Messages => "m1",
            Kind::ConversationMessages => "d1",
            Kind::WebhookDeliveries => "w1",
        }
    }
}

/// The cursor after the row at (`timestamp`, `seq`).
pub fn encode_at(kind: Kind, timestamp: i64, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{timestamp}:{seq}", kind.tag()))
}

/// The (timestamp, sequence) a cursor of `kind` names, or `None` for anything this API did
/// not hand out.
pub fn decode_at(kind: Kind, text: &str) -> Option<(i64, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let rest = raw.strip_prefix(kind.tag())?.strip_prefix(':')?;
    let (timestamp, seq) = rest.split_once(':')?;
    Some((number(timestamp)?, number(seq)?))
}

fn number(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The cursor after the row with sequence `seq`.
pub fn encode(kind: Kind, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{seq}", kind.tag()))
}

/// The sequence a cursor of `kind` names, or `None` for anything this API did not hand out.
pub fn decode(kind: Kind, text: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    number(raw.strip_prefix(kind.tag())?.strip_prefix(':')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_url_safe() {
        for seq in [0, 1, 42, i64::MAX] {
            let c = encode(Kind::Conversations, seq);
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{c}"
            );
            assert_eq!(decode(Kind::Conversations, &c), Some(seq));
            assert_eq!(
                decode(Kind::Messages, &encode(Kind::Messages, seq)),
                Some(seq)
            );
        }
    }

    #[test]
    fn pairs_round_trip_and_refuse_single_cursors() {
        let c = encode_at(Kind::ConversationMessages, 1_763_719_200_000, 42);
        assert_eq!(
            decode_at(Kind::ConversationMessages, &c),
            Some((1_763_719_200_000, 42))
        );
        assert_eq!(
            decode_at(
                Kind::ConversationMessages,
                &encode(Kind::ConversationMessages, 5)
            ),
            None
        );
        assert_eq!(decode_at(Kind::Messages, &c), None);
        assert_eq!(decode(Kind::ConversationMessages, &c), None);
        assert_eq!(
            decode_at(
                Kind::ConversationMessages,
                &URL_SAFE_NO_PAD.encode("d1:1:-2")
            ),
            None
        );
    }

    #[test]
    fn refuses_foreign_or_forged_cursors() {
        assert_eq!(
            decode(Kind::Messages, &encode(Kind::Conversations, 5)),
            None
        );
        for bad in [
            "",
            "abc",
            "!!",
            &URL_SAFE_NO_PAD.encode("c1:-1"),
            &URL_SAFE_NO_PAD.encode("c1:"),
            &URL_SAFE_NO_PAD.encode("c1:99999999999999999999"),
        ] {
            assert_eq!(decode(Kind::Conversations, bad), None, "{bad}");
        }
    }
}
