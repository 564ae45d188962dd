//! Merge rules, as plain decisions the store applies.
//!
//! - Messages (prompts, agent responses, agent traces) are keyed by (conversationId,
//!   messageId, type): the first write wins, later writes are ignored (the store's
//!   `INSERT OR IGNORE`). The type is part of the key so that an app that gives a prompt and
//!   its response the same id loses neither.
//! - Reactions are keyed by (conversationId, messageId): the one with the latest corrected
//!   timestamp wins ([`supersedes`]), whatever order they arrive in. `unreact` is stored like
//!   any reaction, as a tombstone: it hides the reaction ([`visible`]) and, being newer, keeps
//!   an older `positive` that arrives late from coming back.

use agent_track_schema::Reaction;

/// What orders two reactions of the same message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp<'a> {
    /// Corrected timestamp, unix ms.
    pub timestamp: i64,
    /// The page's sequence number: orders two clicks within one millisecond on one page.
    pub seq: i64,
    /// The event id: a last, arbitrary but fixed tie-break, so every arrival order ends in
    /// the same state.
    pub event_id: &'a str,
}

/// Whether a new reaction replaces the stored one (`None`: nothing stored yet).
pub fn supersedes(new: &Stamp<'_>, stored: Option<&Stamp<'_>>) -> bool {
    stored.is_none_or(|old| {
        (new.timestamp, new.seq, new.event_id) > (old.timestamp, old.seq, old.event_id)
    })
}

/// The reaction a stored value shows: `None` for the `unreact` tombstone.
pub fn visible(stored: &str) -> Option<&'static str> {
    match Reaction::parse(stored)? {
        Reaction::Positive => Some("positive"),
        Reaction::Negative => Some("negative"),
        Reaction::Unreact => None,
    }
}

/// The wire name of a reaction, as stored.
pub fn name(reaction: Reaction) -> &'static str {
    match reaction {
        Reaction::Positive => "positive",
        Reaction::Negative => "negative",
        Reaction::Unreact => "unreact",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(timestamp: i64, seq: i64, event_id: &str) -> Stamp<'_> {
        Stamp {
            timestamp,
            seq,
            event_id,
        }
    }

    /// Applies reactions in arrival order; returns what is shown.
    fn replay<'a>(arrivals: &[(&'a str, Stamp<'a>)]) -> Option<&'static str> {
        let mut stored: Option<(&str, Stamp<'_>)> = None;
        for (value, s) in arrivals {
            if supersedes(s, stored.as_ref().map(|(_, s)| s)) {
                stored = Some((value, *s));
            }
        }
        stored.and_then(|(v, _)| visible(v))
    }

    #[test]
    fn the_first_reaction_is_stored() {
        assert!(supersedes(&stamp(1, 1, "a"), None));
    }

    #[test]
    fn latest_timestamp_wins_in_any_arrival_order() {
        let pos = ("positive", stamp(10, 1, "e1"));
        let neg = ("negative", stamp(20, 2, "e2"));
        assert_eq!(replay(&[pos, neg]), Some("negative"));
        assert_eq!(replay(&[neg, pos]), Some("negative"));
    }

    #[test]
    fn unreact_is_a_tombstone_that_blocks_an_older_late_reaction() {
        let pos = ("positive", stamp(10, 1, "e1"));
        let unreact = ("unreact", stamp(20, 2, "e2"));
        assert_eq!(replay(&[pos, unreact]), None);
        assert_eq!(
            replay(&[unreact, pos]),
            None,
            "late positive must not resurrect"
        );
        let again = ("positive", stamp(30, 3, "e3"));
        assert_eq!(
            replay(&[pos, unreact, again]),
            Some("positive"),
            "a newer reaction does"
        );
    }

    #[test]
    fn ties_are_broken_by_page_sequence_then_event_id() {
        assert!(supersedes(&stamp(10, 2, "a"), Some(&stamp(10, 1, "z"))));
        assert!(!supersedes(&stamp(10, 1, "z"), Some(&stamp(10, 2, "a"))));
        assert!(supersedes(&stamp(10, 1, "b"), Some(&stamp(10, 1, "a"))));
        assert!(
            !supersedes(&stamp(10, 1, "a"), Some(&stamp(10, 1, "a"))),
            "a replay changes nothing"
        );
    }

    #[test]
    fn names_round_trip() {
        for r in [Reaction::Positive, Reaction::Negative, Reaction::Unreact] {
            assert_eq!(Reaction::parse(name(r)), Some(r));
        }
        assert_eq!(visible("unreact"), None);
        assert_eq!(visible("garbage"), None);
    }
}
