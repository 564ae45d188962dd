//! The SQLite search index (`message_fts`, FTS5 trigram) kept in bulk rather than row by row.
//!
//! An FTS5 insert per message, in each delivery's small transaction, writes a new index
//! segment per transaction: measured here, indexing 40,000 messages of 200 characters in
//! 2,000 transactions of 20 took 5× as long as indexing the same messages in 10 statements, and
//! was most of the writer's time. So new messages are indexed in bulk, past a watermark
//! (`fts_progress.indexed_seq`; `messages.seq` is `AUTOINCREMENT`, so a new message always
//! lies past it):
//!
//! - by the write path itself once [`BATCH`] messages are waiting ([`index_due`]);
//! - by every search before it reads ([`index_pending`], in a write transaction), so a search
//!   finds exactly what it found with a trigger per row — nothing stored is ever missing from
//!   its results;
//! - by the analysis sweep's timer, so an idle collector catches up without a search.
//!
//! Deleting or changing an indexed message still updates the index at once (triggers, only for
//! rows at or below the watermark: the others are not in it yet). PostgreSQL needs none of
//! this: its `pg_trgm` index follows the table.

use super::db::{self, params, Conn, Dialect};

/// Schema step 7 on SQLite: the watermark, and the per-row insert trigger replaced.
pub const MIGRATION: &str = r#"
CREATE TABLE fts_progress (indexed_seq INTEGER NOT NULL);
INSERT INTO fts_progress (indexed_seq) SELECT coalesce(max(seq), 0) FROM messages;
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.seq <= (SELECT indexed_seq FROM fts_progress) BEGIN
    INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.seq <= (SELECT indexed_seq FROM fts_progress) BEGIN
    INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO message_fts (rowid, content) VALUES (new.seq, new.content);
END;
"#;

/// Schema step 7 on PostgreSQL: nothing (the `pg_trgm` index follows the table).
pub const POSTGRES_MIGRATION: &str = "SELECT 1;";

/// Messages waiting before the write path indexes them itself.
pub const BATCH: i64 = 1_000;

/// Indexes every message past the watermark, in the caller's write transaction. Returns how
/// many. Nothing on PostgreSQL (see `Collector::index_for_search`).
pub fn index_pending(conn: &mut Conn<'_, '_>) -> db::Result<i64> {
    if conn.dialect() != Dialect::Sqlite {
        return Ok(0);
    }
    let (from, to) = bounds(conn)?;
    index_between(conn, from, to)
}

/// [`index_pending`] when at least [`BATCH`] messages wait (the write path's check: two
/// lookups when nothing is due).
pub fn index_due(conn: &mut Conn<'_, '_>) -> db::Result<i64> {
    if conn.dialect() != Dialect::Sqlite {
        return Ok(0);
    }
    let (from, to) = bounds(conn)?;
    if to - from < BATCH {
        return Ok(0);
    }
    index_between(conn, from, to)
}

/// Indexes the messages with `from < seq <= to` and moves the watermark to `to`.
fn index_between(conn: &mut Conn<'_, '_>, from: i64, to: i64) -> db::Result<i64> {
    if to <= from {
        return Ok(0);
    }
    let n = conn.execute(
        "INSERT INTO message_fts (rowid, content)
         SELECT seq, content FROM messages WHERE seq > ?1 AND seq <= ?2",
        params![from, to],
    )?;
    conn.execute("UPDATE fts_progress SET indexed_seq = ?1", params![to])?;
    Ok(n as i64)
}

/// The watermark and the newest message's `seq`.
fn bounds(conn: &mut Conn<'_, '_>) -> db::Result<(i64, i64)> {
    conn.row(
        "SELECT (SELECT indexed_seq FROM fts_progress), coalesce((SELECT max(seq) FROM messages), 0)",
        params![],
        |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(raw: &rusqlite::Connection, conversation: &str, n: usize, content: &str) {
        raw.execute(
            "INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, content, timestamp,
                client_timestamp, received_at, suggested_prompt, tools_used, models_used, files_uploaded,
                subagents_used, event_properties, context)
             VALUES (?1, ?2, 'prompt', ?2, 'a', ?3, 1000, 1000, 1000, 0, '[]', '[]', '[]', '[]', '{}', '{}')",
            rusqlite::params![conversation, format!("{conversation}-{n}"), content],
        )
        .unwrap();
    }

    /// The conversations whose messages the index matches for `q`.
    fn found(raw: &rusqlite::Connection, q: &str) -> Vec<String> {
        let mut s = raw
            .prepare(
                "SELECT DISTINCT m.conversation_id FROM message_fts f JOIN messages m ON m.seq = f.rowid
                 WHERE message_fts MATCH ?1 ORDER BY 1",
            )
            .unwrap();
        let rows = s.query_map([format!("\"{q}\"")], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn intact(raw: &rusqlite::Connection) {
        raw.execute_batch("INSERT INTO message_fts (message_fts) VALUES ('integrity-check')")
            .expect("the index matches the messages it holds");
    }

    #[test]
    fn new_messages_are_indexed_in_bulk_and_deletes_stay_consistent() {
        let raw = crate::collector::schema::in_memory();
        message(&raw, "c1", 1, "where is my invoice");
        message(&raw, "c2", 1, "invoice export to csv");
        assert!(found(&raw, "invoice").is_empty(), "not indexed row by row");
        let mut conn = Conn::Sqlite(&raw);
        assert_eq!(index_due(&mut conn).unwrap(), 0, "fewer than a batch wait");
        assert_eq!(index_pending(&mut conn).unwrap(), 2);
        assert_eq!(index_pending(&mut conn).unwrap(), 0, "nothing left");
        assert_eq!(found(&raw, "invoice"), ["c1", "c2"]);
        intact(&raw);
        // An indexed message deleted leaves the index; one not yet indexed never enters it.
        message(&raw, "c3", 1, "invoice for march");
        raw.execute_batch("DELETE FROM messages WHERE conversation_id IN ('c1', 'c3')")
            .unwrap();
        intact(&raw);
        let mut conn = Conn::Sqlite(&raw);
        assert_eq!(
            index_pending(&mut conn).unwrap(),
            0,
            "c3 went before it was indexed"
        );
        assert_eq!(found(&raw, "invoice"), ["c2"]);
        // A changed indexed message is found by its new text only.
        raw.execute_batch(
            "UPDATE messages SET content = 'a refund please' WHERE conversation_id = 'c2'",
        )
        .unwrap();
        assert!(found(&raw, "invoice").is_empty());
        assert_eq!(found(&raw, "refund"), ["c2"]);
        intact(&raw);
    }

    #[test]
    fn the_write_path_indexes_once_a_batch_waits() {
        let raw = crate::collector::schema::in_memory();
        for n in 0..BATCH as usize {
            message(&raw, "c", n, "shipping question");
        }
        let mut conn = Conn::Sqlite(&raw);
        assert_eq!(index_due(&mut conn).unwrap(), BATCH);
        assert_eq!(found(&raw, "shipping"), ["c"]);
        intact(&raw);
    }
}
