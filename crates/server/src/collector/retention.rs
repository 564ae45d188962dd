//! Retention: what the collector deletes on its own, and why each rule keeps dedupe correct.
//!
//! - **Conversations** (only with `--retain-days N`): those whose last message is older than
//!   N days, with everything attached (messages, reactions, verdict, issues, the search index,
//!   insights, webhook outbox rows, idempotency keys), as a `DELETE` by a person would.
//! - **`seen_events`** (eventIds, no content): after [`SEEN_EVENTS_KEEP_MS`], 8 days. An event
//!   is refused by the proxy once older than 7 days (`MAX_EVENT_AGE_MS`: the browser drops it
//!   too), and its id is recorded when it is first received, which is after it was tracked;
//!   so any repeat that can still reach the collector arrives within 7 days of the record.
//!   One day of margin covers clock skew. (The message tables' own keys also refuse a repeat of
//!   a stored message; `seen_events` is what keeps a deleted conversation's replay out.)
//! - **`deliveries`** (webhook-ids): after [`DELIVERIES_KEEP_MS`], 1 day. A signature is valid
//!   for 5 minutes and a retry by the proxy within its deadline (seconds) reuses the id; a
//!   browser's later retry is a new request with a new webhook-id, caught by its eventIds.
//! - **Idempotency keys** of the conversation log API: after [`IDEMPOTENCY_KEEP_MS`], 48 hours
//!   (they promise 24 hours).
//! - **Webhook outbox rows that are delivered or failed for good** (content-free): after a week
//!   by the webhook worker, and with `--retain-days N` after N days if that is sooner (pending
//!   rows are never removed by age: they are retried for 24 hours and then become final).
//!
//! Each step deletes at most [`BATCH`] rows (or [`CONVERSATION_BATCH`] conversations) per
//! transaction and goes again, so ingestion waits at most one small transaction.

use std::time::Duration;

use super::db::{self, params, Conn};

/// How long an eventId stays in `seen_events`: the 7-day age limit plus a day.
pub const SEEN_EVENTS_KEEP_MS: i64 =
    agent_track_schema::limits::MAX_EVENT_AGE_MS as i64 + 24 * 3_600_000;
/// How long a webhook-id stays in `deliveries`.
pub const DELIVERIES_KEEP_MS: i64 = 24 * 3_600_000;
/// How long an idempotency key stays.
pub const IDEMPOTENCY_KEEP_MS: i64 = 48 * 3_600_000;
/// Rows per transaction.
pub const BATCH: i64 = 2_000;
/// Conversations per transaction.
pub const CONVERSATION_BATCH: i64 = 50;

/// Schema step: when each eventId was first seen (rows from before it count from the
/// upgrade), and the indexes the pruning reads.
pub const MIGRATION: &str = r#"
ALTER TABLE seen_events ADD COLUMN seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE seen_events SET seen_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
CREATE INDEX seen_events_time ON seen_events (seen_at);
CREATE INDEX deliveries_time ON deliveries (received_at);
"#;

/// Schema step 6 on PostgreSQL.
pub const POSTGRES_MIGRATION: &str = r#"
ALTER TABLE seen_events ADD COLUMN seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE seen_events SET seen_at = CAST(extract(epoch FROM now()) AS BIGINT) * 1000;
CREATE INDEX seen_events_time ON seen_events (seen_at);
CREATE INDEX deliveries_time ON deliveries (received_at);
"#;

/// What retention does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Delete conversations idle this many days; `None`: keep them forever.
    pub retain_days: Option<u32>,
    /// Time between runs.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            retain_days: None,
            interval: Duration::from_secs(600),
        }
    }
}

impl RetentionConfig {
    /// The cut-off of conversations and final outbox rows at `now`, if any.
    pub fn cutoff(&self, now: i64) -> Option<i64> {
        self.retain_days
            .map(|d| now.saturating_sub(i64::from(d) * 86_400_000))
    }
}

/// One step of a run: a table and how to delete up to `limit` of its rows older than `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Conversations whose last message is older.
    Conversations,
    /// eventIds.
    SeenEvents,
    /// webhook-ids.
    Deliveries,
    /// Idempotency keys.
    IdempotencyKeys,
    /// Delivered or failed webhook outbox rows.
    Outbox,
}

impl Step {
    /// Every step, in the order a run takes them.
    pub const ALL: [Step; 5] = [
        Step::Conversations,
        Step::SeenEvents,
        Step::Deliveries,
        Step::IdempotencyKeys,
        Step::Outbox,
    ];

    /// The table's name, for metrics and logs.
    pub fn table(self) -> &'static str {
        match self {
            Step::Conversations => "conversations",
            Step::SeenEvents => "seen_events",
            Step::Deliveries => "deliveries",
            Step::IdempotencyKeys => "idempotency_keys",
            Step::Outbox => "webhook_outbox",
        }
    }

    /// Rows older than this go, at `now`; `None`: the step does not run.
    pub fn before(self, now: i64, cfg: &RetentionConfig) -> Option<i64> {
        match self {
            Step::Conversations | Step::Outbox => cfg.cutoff(now),
            Step::SeenEvents => Some(now - SEEN_EVENTS_KEEP_MS),
            Step::Deliveries => Some(now - DELIVERIES_KEEP_MS),
            Step::IdempotencyKeys => Some(now - IDEMPOTENCY_KEEP_MS),
        }
    }

    /// Deletes one batch older than `before` (in the caller's write transaction, so a conversation that just
    /// received a message is not chosen); how many went.
    /// A run repeats it while it returns a full batch.
    pub fn run(self, conn: &mut Conn<'_, '_>, before: i64) -> db::Result<u64> {
        let simple = |conn: &mut Conn<'_, '_>, sql: &str| -> db::Result<u64> {
            conn.execute(sql, params![before, BATCH])
        };
        match self {
            Step::Conversations => {
                // PostgreSQL: collectors sharing the database take different conversations.
                let sql = match conn.dialect() {
                    db::Dialect::Sqlite => {
                        "SELECT id FROM conversations WHERE last_message_at < ?1 LIMIT ?2"
                    }
                    db::Dialect::Postgres => {
                        "SELECT id FROM conversations WHERE last_message_at < ?1 LIMIT ?2 FOR UPDATE SKIP LOCKED"
                    }
                };
                let ids: Vec<String> =
                    conn.rows(sql, params![before, CONVERSATION_BATCH], |r| r.get(0))?;
                for id in &ids {
                    super::store::forget_conversation(conn, id)?;
                }
                Ok(ids.len() as u64)
            }
            Step::SeenEvents => simple(
                conn,
                "DELETE FROM seen_events WHERE event_id IN
                    (SELECT event_id FROM seen_events WHERE seen_at < ?1 LIMIT ?2)",
            ),
            Step::Deliveries => simple(
                conn,
                "DELETE FROM deliveries WHERE webhook_id IN
                    (SELECT webhook_id FROM deliveries WHERE received_at < ?1 LIMIT ?2)",
            ),
            Step::IdempotencyKeys => simple(
                conn,
                "DELETE FROM idempotency_keys WHERE key IN
                    (SELECT key FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)",
            ),
            // The webhook worker also prunes them after a week; with --retain-days, sooner.
            Step::Outbox => Ok(super::webhooks::storage::prune(conn, before)? as u64),
        }
    }

    /// The batch size of this step (the outbox step runs once per run).
    pub fn batch(self) -> u64 {
        match self {
            Step::Conversations => CONVERSATION_BATCH as u64,
            Step::Outbox => u64::MAX,
            _ => BATCH as u64,
        }
    }
}

/// What one run removed, by table (tables with nothing removed left out).
pub type Removed = Vec<(&'static str, u64)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_outlives_the_retry_window_and_content_waits_for_the_flag() {
        let cfg = RetentionConfig::default();
        let now = 100 * 86_400_000;
        assert_eq!(
            Step::Conversations.before(now, &cfg),
            None,
            "kept forever by default"
        );
        assert_eq!(Step::Outbox.before(now, &cfg), None);
        assert_eq!(
            Step::SeenEvents.before(now, &cfg),
            Some(now - 8 * 86_400_000)
        );
        assert!(SEEN_EVENTS_KEEP_MS > agent_track_schema::limits::MAX_EVENT_AGE_MS as i64);
        assert_eq!(Step::Deliveries.before(now, &cfg), Some(now - 86_400_000));
        assert_eq!(
            Step::IdempotencyKeys.before(now, &cfg),
            Some(now - 2 * 86_400_000)
        );
        let cfg = RetentionConfig {
            retain_days: Some(30),
            ..cfg
        };
        assert_eq!(
            Step::Conversations.before(now, &cfg),
            Some(now - 30 * 86_400_000)
        );
    }
}
