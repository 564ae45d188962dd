//! Every `localStorage` key the module uses, in one place. The `v1` is the version of the
//! stored format: a module that changes what it stores under a key changes the key, and keeps
//! reading the old one until nothing is left under it.

/// One key per queued event: `agent-track:v1:q:{eventId}`, holding the event's JSON.
pub const QUEUE_PREFIX: &str = "agent-track:v1:q:";

/// The anonymous visitor id (`anon-{UUIDv7}`), used when `configure` names no visitor.
pub const ANONYMOUS_ID_KEY: &str = "agent-track:v1:anon";

/// The opt-out switch: `"1"` while the visitor has opted out on this origin.
pub const OPT_OUT_KEY: &str = "agent-track:v1:optout";

/// The cross-tab send lock: the Web Lock's name, and the lease fallback's key
/// (`{owner} {expiresAt}`).
pub const LOCK: &str = "agent-track:v1:send";
