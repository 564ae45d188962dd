//! Every SQL statement of the conversation log API: its schema step, idempotency keys, and
//! the conversation state a backend sets (ended by its owner, the owner's outcome, metadata).
//! Messages themselves go through the shared write path ([`crate::collector::store::apply`]).

use crate::collector::db::{self, params, Conn};
use serde_json::{Map, Value};

use crate::collector::analysis::Outcome;

/// Schema step 3: the state a backend sets, and idempotency keys.
///
/// - `conversations.closed_at`: when its owner ended it (`status: ended`); cleared by the
///   next message, which resumes it.
/// - `conversations.client_outcome`: the outcome its owner set; cleared with `closed_at`.
/// - `conversations.metadata`: a JSON object, merged key by key by each request.
/// - `idempotency_keys`: a create's key -> the conversation it created, for 24 hours.
pub const MIGRATION: &str = r#"
ALTER TABLE conversations ADD COLUMN closed_at INTEGER;
ALTER TABLE conversations ADD COLUMN client_outcome TEXT;
ALTER TABLE conversations ADD COLUMN metadata TEXT;

CREATE TABLE idempotency_keys (
    key             TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_time ON idempotency_keys (created_at);
"#;

/// Schema step 3 on PostgreSQL.
pub const POSTGRES_MIGRATION: &str = r#"
ALTER TABLE conversations ADD COLUMN closed_at BIGINT;
ALTER TABLE conversations ADD COLUMN client_outcome TEXT;
ALTER TABLE conversations ADD COLUMN metadata TEXT;

CREATE TABLE idempotency_keys (
    key             TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_time ON idempotency_keys (created_at);
"#;

/// How long an idempotency key holds.
pub const IDEMPOTENCY_MS: i64 = 24 * 60 * 60 * 1000;

/// The conversation created with `key` less than [`IDEMPOTENCY_MS`] before `now`, if it
/// still exists.
pub fn idempotent(conn: &mut Conn<'_, '_>, key: &str, now: i64) -> db::Result<Option<String>> {
    conn.row_opt(
        "SELECT k.conversation_id FROM idempotency_keys k JOIN conversations c ON c.id = k.conversation_id
         WHERE k.key = ?1 AND k.created_at > ?2",
        params![key, now - IDEMPOTENCY_MS],
        |r| r.get(0),
    )
}

/// Remembers that `key` created conversation `id` at `now` (replacing an expired use).
pub fn remember_key(tx: &mut Conn<'_, '_>, key: &str, id: &str, now: i64) -> db::Result<()> {
    tx.execute(
        "INSERT INTO idempotency_keys (key, conversation_id, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET conversation_id = excluded.conversation_id, created_at = excluded.created_at",
        params![key, id, now],
    )?;
    Ok(())
}

/// A stored conversation as the log API needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// Its agent.
    pub agent_id: String,
    /// Its visitor.
    pub visitor_id: Option<String>,
    /// Its account.
    pub account_id: Option<String>,
    /// Created (first event), unix ms.
    pub started_at: i64,
}

/// Conversation `id`, or `None`.
pub fn head(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<Option<Head>> {
    conn.row_opt(
        "SELECT agent_id, visitor_id, account_id, started_at FROM conversations WHERE id = ?1",
        params![id],
        |r| {
            Ok(Head {
                agent_id: r.get(0)?,
                visitor_id: r.get(1)?,
                account_id: r.get(2)?,
                started_at: r.get(3)?,
            })
        },
    )
}

/// Creates conversation `id` at `now` without messages (its messages, if any, widen its
/// times). `false` when it existed.
pub fn create(tx: &mut Conn<'_, '_>, id: &str, head: &Head) -> db::Result<bool> {
    Ok(tx.execute(
        "INSERT INTO conversations (id, agent_id, visitor_id, account_id, started_at, last_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
        params![id, head.agent_id, head.visitor_id, head.account_id, head.started_at],
    )? == 1)
}

/// Fills in visitor and account ids not known yet.
pub fn fill_ids(
    tx: &mut Conn<'_, '_>,
    id: &str,
    visitor_id: Option<&str>,
    account_id: Option<&str>,
) -> db::Result<()> {
    tx.execute(
        "UPDATE conversations SET visitor_id = coalesce(visitor_id, ?2), account_id = coalesce(account_id, ?3) WHERE id = ?1",
        params![id, visitor_id, account_id],
    )?;
    Ok(())
}

/// Ends conversation `id` at `now` (`Some(true)`), resumes it (`Some(false)`), sets its
/// owner's outcome, and merges `metadata` into its metadata (a `null` value removes a key).
pub fn set_state(
    tx: &mut Conn<'_, '_>,
    id: &str,
    closed: Option<bool>,
    outcome: Option<Outcome>,
    metadata: Option<&Map<String, Value>>,
    now: i64,
) -> db::Result<()> {
    match closed {
        Some(true) => {
            tx.execute(
                "UPDATE conversations SET closed_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
        }
        Some(false) => {
            tx.execute(
                "UPDATE conversations SET closed_at = NULL, client_outcome = NULL WHERE id = ?1",
                params![id],
            )?;
        }
        None => {}
    }
    if let Some(o) = outcome {
        tx.execute(
            "UPDATE conversations SET client_outcome = ?2 WHERE id = ?1",
            params![id, o.as_str()],
        )?;
    }
    if let Some(patch) = metadata {
        let stored: Option<String> = tx.one(
            "SELECT metadata FROM conversations WHERE id = ?1",
            params![id],
        )?;
        let mut merged: Map<String, Value> = stored
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        for (k, v) in patch {
            if v.is_null() {
                merged.remove(k);
            } else {
                merged.insert(k.clone(), v.clone());
            }
        }
        let text = serde_json::to_string(&merged).unwrap_or_else(|_| "{}".into());
        tx.execute(
            "UPDATE conversations SET metadata = ?2 WHERE id = ?1",
            params![id, text],
        )?;
    }
    Ok(())
}

/// The stored status of conversation `id` (`active` or `ended`), as its verdict says.
pub fn status(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<Option<String>> {
    conn.row_opt(
        "SELECT status FROM conversation_analysis WHERE conversation_id = ?1",
        params![id],
        |r| r.get(0),
    )
}
