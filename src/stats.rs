//! [`Stats`]: the per-page counters that `stats()` returns.

use serde::Serialize;

/// Counters of this page. They do not overlap: an accepted event is, at any moment, in the
/// shared queue (`queued`), or was counted once in `sent`, `rejected` or `dropped`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Events the shared queue holds now (all tabs of the origin).
    pub queued: usize,
    /// Events this page delivered and the proxy acknowledged.
    pub sent: u64,
    /// Events the proxy refused for good.
    pub rejected: u64,
    /// Events removed locally without sending: queue cap, too old, too large, storage failure.
    pub dropped: u64,
    /// Delivery attempts repeated after a failure.
    pub retries: u64,
    /// The most recent problem, if any.
    pub last_error: Option<LastError>,
}

/// The most recent problem reported to `onError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    /// Stable code, e.g. `queue_full`.
    pub code: String,
    /// What happened.
    pub message: String,
    /// When, in unix milliseconds.
    pub at: u64,
}

/// What one pass did (the resolved value of `flush()`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// Events acknowledged by the proxy.
    pub sent: u64,
    /// Events the proxy refused for good.
    pub rejected: u64,
    /// Events dropped (expired, too large, refused with a status that cannot succeed later).
    pub dropped: u64,
    /// Events still queued after the pass.
    pub remaining: usize,
}
