//! [`Report`]: what the `onError` hook receives when events leave the queue without being
//! delivered (dropped or rejected), or delivery fails.

/// One problem, with the events it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Stable code: `queue_full`, `too_large`, `expired`, `storage_failed`, `http_403`, or
    /// for an event the proxy rejected, the proxy's code (`invalid_reaction`, `too_old`, ...).
    pub code: String,
    /// What happened, and the option that governs it.
    pub message: String,
    /// The events concerned.
    pub event_ids: Vec<String>,
}
