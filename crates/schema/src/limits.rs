//! Every size limit of contract v1, in one place. A KB is 1024 bytes of UTF-8 JSON.

/// One kilobyte: 1024 bytes.
pub const KB: usize = 1024;

/// `properties.content`, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 100 * KB;

/// `eventProperties`, serialized as JSON.
pub const MAX_EVENT_PROPERTIES_BYTES: usize = 16 * KB;

/// Nesting depth of `eventProperties` (an object directly holding scalars has depth 1).
pub const MAX_EVENT_PROPERTIES_DEPTH: usize = 16;

/// One whole event, serialized as JSON (envelope, properties and context).
pub const MAX_EVENT_BYTES: usize = 128 * KB;

/// Identifiers (`agentId`, `conversationId`, `messageId`, `eventId`, visitor and account ids),
/// in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = KB;

/// Entries of one list property (`toolsUsed`, `agentModelsUsed`, ...).
pub const MAX_LIST_ITEMS: usize = 100;

/// Events in one batch.
pub const MAX_BATCH_EVENTS: usize = 500;

/// One batch body, serialized as JSON.
pub const MAX_BATCH_BYTES: usize = 512 * KB;

/// What browsers allow for all in-flight `keepalive` request bodies of a page together.
pub const KEEPALIVE_BUDGET_BYTES: usize = 64 * KB;

/// Events older than this are refused by the server-side endpoint, so the browser drops them.
pub const MAX_EVENT_AGE_MS: u64 = 7 * 24 * 60 * 60 * 1000;
