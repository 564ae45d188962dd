//! The write path: one delivery (in the writer's transaction: see
//! [`super::group_commit`] on SQLite), and deletion of a conversation.

use std::collections::HashSet;

use super::db::{self, params, Conn};

use super::analysis::{self, AnalysisConfig};
use super::merge::{self, Stamp};
use super::record::{Kind, Record};
use super::webhooks::{self, events::NegativeReaction, Targets};

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Events stored or merged (not seen before).
    pub accepted: usize,
    /// Events whose `eventId` was seen before, or every event of a repeated delivery.
    pub duplicates: usize,
}

/// Stores one delivery in one transaction. A `webhook_id` seen before writes nothing and
/// counts every event as a duplicate; otherwise each event whose `eventId` is new is merged
/// by the rules of [`merge`]. Every conversation the delivery changed is re-judged
/// ([`analysis::storage::refresh`]) in the same transaction, so its verdict is never behind
/// its messages. The webhook events the delivery causes are queued for `hooks` in the same
/// transaction (a negative reaction that becomes current here; the verdicts' in `refresh`).
pub fn ingest(
    conn: &mut Conn<'_, '_>,
    webhook_id: &str,
    records: &[Record],
    now_ms: i64,
    cfg: &AnalysisConfig,
    hooks: &Targets,
) -> db::Result<Outcome> {
    let fresh = conn.execute(
        "INSERT INTO deliveries (webhook_id, received_at, events) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![webhook_id, now_ms, records.len() as i64],
    )? == 1;
    if !fresh {
        // Nothing was written.
        return Ok(Outcome {
            accepted: 0,
            duplicates: records.len(),
        });
    }
    apply(conn, records, now_ms, cfg, hooks)
}

/// Merges `records` in the caller's transaction: each event whose `eventId` is new is
/// merged by the rules of [`merge`]; every conversation that changed is re-judged
/// ([`analysis::storage::refresh`]), so its verdict is never behind its messages. Shared by
/// the signed ingest, the conversation log API and the Pendo-compatible endpoint. The webhook
/// events the records cause are queued for `hooks` in the same transaction (a negative
/// reaction that becomes current here; the verdicts' in `refresh`).
pub fn apply(
    tx: &mut Conn<'_, '_>,
    records: &[Record],
    now_ms: i64,
    cfg: &AnalysisConfig,
    hooks: &Targets,
) -> db::Result<Outcome> {
    let mut outcome = Outcome {
        accepted: 0,
        duplicates: 0,
    };
    // The conversations the records changed, in the order first changed.
    let mut touched: Vec<Touch<'_>> = Vec::new();
    let mut fresh = record_seen(tx, records, now_ms)?;
    // The first of repeated eventIds within the delivery is the new one.
    let new: Vec<&Record> = records
        .iter()
        .filter(|r| fresh.remove(r.event_id.as_str()))
        .collect();
    outcome.accepted = new.len();
    outcome.duplicates = records.len() - new.len();
    // The messages in a few statements (on PostgreSQL each is a round trip), in order.
    let messages: Vec<&Record> = new
        .iter()
        .copied()
        .filter(|r| r.kind == Kind::Message)
        .collect();
    let stored = insert_messages(tx, &messages)?;
    for r in new {
        let changed = match r.kind {
            Kind::Message => stored.contains(r.event_id.as_str()),
            Kind::Reaction(reaction) => {
                let value = merge::name(reaction);
                let current = merge_reaction(tx, r, value)?;
                // Outbound webhooks: a negative reaction that became the current one.
                if current && value == "negative" && !hooks.is_empty() {
                    let event = webhooks::events::reaction_negative(&NegativeReaction {
                        conversation_id: &r.conversation_id,
                        message_id: &r.message_id,
                        agent_id: &r.agent_id,
                        visitor_id: r.visitor_id.as_deref(),
                        comments: &r.comments,
                        timestamp: r.timestamp,
                    });
                    webhooks::storage::enqueue(tx, hooks, &[event], now_ms)?;
                }
                current
            }
        };
        if changed {
            match touched
                .iter_mut()
                .find(|t| t.first.conversation_id == r.conversation_id)
            {
                Some(t) => t.add(r),
                None => touched.push(Touch::new(r)),
            }
        }
    }
    // One write per conversation, not one per event.
    for t in &touched {
        touch_conversation(tx, t)?;
    }
    let ids = touched.iter().map(|t| t.first.conversation_id.as_str());
    analysis::storage::refresh(tx, ids, now_ms, cfg, hooks)?;
    // The search index, in bulk once enough messages wait (see search_index).
    super::search_index::index_due(tx)?;
    Ok(outcome)
}

/// Records the eventIds of `records` as seen, in one statement (not one per event: on
/// PostgreSQL each is a round trip); returns those not seen before.
fn record_seen(
    tx: &mut Conn<'_, '_>,
    records: &[Record],
    now_ms: i64,
) -> db::Result<HashSet<String>> {
    if records.is_empty() {
        return Ok(HashSet::new());
    }
    let ids = serde_json::to_string(&records.iter().map(|r| &r.event_id).collect::<Vec<_>>())
        .map_err(|e| db::DbError::Config(e.to_string()))?;
    let sql = match tx.dialect() {
        // `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.
        db::Dialect::Sqlite => {
            "INSERT INTO seen_events (event_id, seen_at) SELECT value, ?2 FROM json_each(?1) WHERE true
             ON CONFLICT DO NOTHING RETURNING event_id"
        }
        db::Dialect::Postgres => {
            "INSERT INTO seen_events (event_id, seen_at)
             SELECT value, ?2 FROM json_array_elements_text(CAST(CAST(?1 AS TEXT) AS JSON))
             ON CONFLICT DO NOTHING RETURNING event_id"
        }
    };
    let fresh = tx.rows(sql, params![ids, now_ms], |r| r.get::<String>(0))?;
    Ok(fresh.into_iter().collect())
}

/// Rows per multi-row insert of [`insert_messages`] on PostgreSQL, largest first: a
/// delivery's messages go in chunks of these sizes, so that seven statement texts serve every
/// delivery and stay prepared.
const CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// The columns of a message row, as [`insert_messages`] binds them.
const MESSAGE_COLUMNS: usize = 20;

/// `INSERT INTO messages ... VALUES (..), (..) ... ON CONFLICT DO NOTHING` for `rows` rows,
/// with `RETURNING event_id` when `returning`.
fn insert_sql(rows: usize, returning: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, visitor_id, account_id,
             content, timestamp, client_timestamp, received_at, suggested_prompt, tools_used, models_used,
             files_uploaded, subagents_used, input_tokens, output_tokens, event_properties, context)
         VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..MESSAGE_COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", row * MESSAGE_COLUMNS + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    if returning {
        sql.push_str(" RETURNING event_id");
    }
    sql
}

/// The parameters of message `r`, in the order of [`insert_sql`]'s columns.
fn message_row(r: &Record) -> [&dyn db::ToValue; MESSAGE_COLUMNS] {
    [
        &r.conversation_id,
        &r.message_id,
        &r.type_name,
        &r.event_id,
        &r.agent_id,
        &r.visitor_id,
        &r.account_id,
        &r.content,
        &r.timestamp,
        &r.client_timestamp,
        &r.received_at,
        &r.suggested_prompt,
        &r.tools_used,
        &r.models_used,
        &r.files_uploaded,
        &r.subagents_used,
        &r.input_tokens,
        &r.output_tokens,
        &r.event_properties,
        &r.context,
    ]
}

/// Inserts `messages` in their order, each unless its (conversation, messageId, type) is
/// stored already (the first write wins, within the delivery too); returns the eventIds of
/// those stored. On SQLite one prepared statement per message (in process, the cheapest:
/// measured faster than multi-row inserts with `RETURNING`); on PostgreSQL, where each
/// statement is a round trip, multi-row inserts of up to 64 ([`CHUNKS`]).
fn insert_messages<'r>(
    tx: &mut Conn<'_, '_>,
    messages: &[&'r Record],
) -> db::Result<HashSet<&'r str>> {
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let mut stored = HashSet::new();
    if tx.dialect() == db::Dialect::Sqlite {
        let one = ONE.get_or_init(|| insert_sql(1, false));
        for r in messages {
            if tx.execute(one, &message_row(r))? == 1 {
                stored.insert(r.event_id.as_str());
            }
        }
        return Ok(stored);
    }
    let sql = SQL.get_or_init(|| CHUNKS.iter().map(|&n| insert_sql(n, true)).collect());
    let mut rest = messages;
    while !rest.is_empty() {
        let (i, &n) = CHUNKS
            .iter()
            .enumerate()
            .find(|(_, &n)| n <= rest.len())
            .expect("the last chunk size is 1");
        let (chunk, after) = rest.split_at(n);
        let values: Vec<&dyn db::ToValue> = chunk.iter().flat_map(|r| message_row(r)).collect();
        let returned: HashSet<String> = tx
            .rows(&sql[i], &values, |row| row.get::<String>(0))?
            .into_iter()
            .collect();
        stored.extend(
            chunk
                .iter()
                .filter(|r| returned.contains(&r.event_id))
                .map(|r| r.event_id.as_str()),
        );
        rest = after;
    }
    Ok(stored)
}

fn merge_reaction(tx: &mut Conn<'_, '_>, r: &Record, value: &str) -> db::Result<bool> {
    let stored: Option<(i64, i64, String)> = tx.row_opt(
        "SELECT timestamp, seq, event_id FROM reactions WHERE conversation_id = ?1 AND message_id = ?2",
        params![r.conversation_id, r.message_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let new = Stamp {
        timestamp: r.timestamp,
        seq: r.seq,
        event_id: &r.event_id,
    };
    let old = stored.as_ref().map(|(timestamp, seq, event_id)| Stamp {
        timestamp: *timestamp,
        seq: *seq,
        event_id,
    });
    if !merge::supersedes(&new, old.as_ref()) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO reactions (conversation_id, message_id, value, comments, timestamp, seq, event_id, agent_id, visitor_id, context)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (conversation_id, message_id) DO UPDATE SET value = excluded.value, comments = excluded.comments,
             timestamp = excluded.timestamp, seq = excluded.seq, event_id = excluded.event_id, agent_id = excluded.agent_id,
             visitor_id = excluded.visitor_id, context = excluded.context",
        params![r.conversation_id, r.message_id, value, r.comments, r.timestamp, r.seq, r.event_id, r.agent_id, r.visitor_id, r.context],
    )?;
    Ok(true)
}

/// What one delivery's changed events make of one conversation's row: the same as applying
/// [`touch_conversation`]'s rules event by event, in one statement.
struct Touch<'a> {
    /// The first changed event: the conversation, and the agent it is created with.
    first: &'a Record,
    /// The first visitor and account ids among the events, if any.
    visitor_id: Option<&'a str>,
    account_id: Option<&'a str>,
    /// The events' earliest and latest times.
    earliest: i64,
    latest: i64,
    /// Whether one of them is a message (not a reaction).
    message: bool,
}

impl<'a> Touch<'a> {
    fn new(r: &'a Record) -> Touch<'a> {
        Touch {
            first: r,
            visitor_id: r.visitor_id.as_deref(),
            account_id: r.account_id.as_deref(),
            earliest: r.timestamp,
            latest: r.timestamp,
            message: r.kind == Kind::Message,
        }
    }

    fn add(&mut self, r: &'a Record) {
        self.visitor_id = self.visitor_id.or(r.visitor_id.as_deref());
        self.account_id = self.account_id.or(r.account_id.as_deref());
        self.earliest = self.earliest.min(r.timestamp);
        self.latest = self.latest.max(r.timestamp);
        self.message |= r.kind == Kind::Message;
    }
}

/// Creates the conversation on its first event (which fixes its sequence and agent), and
/// widens its time span with later ones. Visitor and account ids fill in when first known.
/// A new message (not a reaction) resumes a conversation its owner had ended (the log API's
/// `status`), which also drops the outcome its owner set.
fn touch_conversation(tx: &mut Conn<'_, '_>, t: &Touch<'_>) -> db::Result<()> {
    let sql = match tx.dialect() {
        db::Dialect::Sqlite => TOUCH_SQLITE,
        db::Dialect::Postgres => TOUCH_POSTGRES,
    };
    tx.execute(
        sql,
        params![
            t.first.conversation_id,
            t.first.agent_id,
            t.visitor_id,
            t.account_id,
            t.earliest,
            t.latest,
            t.message
        ],
    )?;
    Ok(())
}

/// [`touch_conversation`] on SQLite (two-argument `min`/`max`).
const TOUCH_SQLITE: &str =
    "INSERT INTO conversations (id, agent_id, visitor_id, account_id, started_at, last_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET
             started_at = min(started_at, excluded.started_at),
             last_message_at = max(last_message_at, excluded.last_message_at),
             visitor_id = coalesce(visitor_id, excluded.visitor_id),
             account_id = coalesce(account_id, excluded.account_id),
             closed_at = CASE WHEN ?7 THEN NULL ELSE closed_at END,
             client_outcome = CASE WHEN ?7 THEN NULL ELSE client_outcome END";

/// [`touch_conversation`] on PostgreSQL (`least`/`greatest`).
const TOUCH_POSTGRES: &str =
    "INSERT INTO conversations (id, agent_id, visitor_id, account_id, started_at, last_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET
             started_at = least(conversations.started_at, excluded.started_at),
             last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
             visitor_id = coalesce(conversations.visitor_id, excluded.visitor_id),
             account_id = coalesce(conversations.account_id, excluded.account_id),
             closed_at = CASE WHEN ?7 THEN NULL ELSE conversations.closed_at END,
             client_outcome = CASE WHEN ?7 THEN NULL ELSE conversations.client_outcome END";

/// Deletes a conversation with its messages, reactions, verdict, issues, model insights,
/// webhook outbox rows (delivered, failed or not yet sent) and idempotency keys, and its
/// messages from the search index, in the caller's transaction (retention deletes several per
/// transaction); `false` when there was none.
/// The dedupe tables keep their ids (no content), so a replay stays a duplicate. With
/// `secure_delete` on, the freed pages are zeroed; [`truncate_wal`] then removes the older
/// copies of those pages from the WAL.
pub fn forget_conversation(tx: &mut Conn<'_, '_>, id: &str) -> db::Result<bool> {
    let found = tx.execute("DELETE FROM conversations WHERE id = ?1", params![id])? == 1;
    tx.execute(
        "DELETE FROM messages WHERE conversation_id = ?1",
        params![id],
    )?;
    tx.execute(
        "DELETE FROM reactions WHERE conversation_id = ?1",
        params![id],
    )?;
    tx.execute(
        "DELETE FROM idempotency_keys WHERE conversation_id = ?1",
        params![id],
    )?;
    analysis::storage::forget(tx, id)?;
    super::insights::storage::forget(tx, id)?;
    webhooks::storage::forget(tx, id)?;
    Ok(found)
}

/// Checkpoints the WAL into the database file and truncates it to zero bytes, without
/// waiting: returns `false` at once when an open read kept part of it (a later call finishes
/// the job). Waiting would block every writer behind the checkpoint for as long as the
/// slowest read.
pub fn truncate_wal(conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
    conn.busy_timeout(std::time::Duration::ZERO)?;
    let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    conn.busy_timeout(super::schema::BUSY_TIMEOUT)?;
    Ok(busy? == 0)
}
