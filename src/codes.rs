//! Every error and report code the module produces itself, in one place (schema validation
//! codes live in the schema crate's `Code`; the proxy's rejection codes are passed through).
//! These strings are part of the public contract: `AgentTrackError.code` and `onError`.

/// A `configure` option is wrong.
pub const INVALID_CONFIG: &str = "invalid_config";
/// The `beforeSend` hook threw or returned something that is not an event.
pub const BEFORE_SEND_FAILED: &str = "before_send_failed";
/// A validation error without any problem listed (never produced by the schema).
pub const INVALID_EVENT: &str = "invalid_event";
/// The queue was at `maxQueueEvents` or `maxQueueBytes`; the oldest events were dropped.
pub const QUEUE_FULL: &str = "queue_full";
/// An event larger than the queue, or refused alone by the proxy with 413.
pub const TOO_LARGE: &str = "too_large";
/// A single event the proxy answered 400 for.
pub const UNREADABLE: &str = "unreadable";
/// Events older than 7 days, which the server side refuses.
pub const EXPIRED: &str = "expired";
/// Storage refused an event even in memory (never expected).
pub const STORAGE_FAILED: &str = "storage_failed";
/// `flush()` without an endpoint.
pub const NO_ENDPOINT: &str = "no_endpoint";
/// `flush()` while the browser is offline.
pub const OFFLINE: &str = "offline";
/// `flush()` while another tab holds the send lock.
pub const BUSY: &str = "busy";
/// A send failed in a way worth retrying; the events stay queued.
pub const DELIVERY_FAILED: &str = "delivery_failed";
/// A tracker without a transport was asked to send.
pub const NO_TRANSPORT: &str = "no_transport";
/// Prefix of the code for a batch dropped on an HTTP status (`http_403`).
pub const HTTP_PREFIX: &str = "http_";
