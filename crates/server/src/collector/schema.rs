//! The SQLite schema and its migrations. `PRAGMA user_version` holds the schema version; on
//! open every migration above it runs, in order, in one transaction each.

use rusqlite::Connection;

use super::Synchronous;

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `n` (1-based) brings version `n - 1` to `n`. Append only: a shipped migration
/// never changes.
const MIGRATIONS: [&str; 7] = [
    r#"
-- Deliveries seen, by webhook-id: a repeated delivery is answered 200 and writes nothing.
-- Only ids and counts; never content.
CREATE TABLE deliveries (
    webhook_id  TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    events      INTEGER NOT NULL
) WITHOUT ROWID;

-- Every eventId ever accepted. Kept when a conversation is deleted, so a replay of a
-- deleted event is still a duplicate; holds no content.
CREATE TABLE seen_events (
    event_id TEXT PRIMARY KEY
) WITHOUT ROWID;

-- seq is the insertion sequence: the keyset of conversation pagination. AUTOINCREMENT so
-- that a deleted conversation's seq is never reused.
CREATE TABLE conversations (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    agent_id        TEXT NOT NULL,
    visitor_id      TEXT,
    account_id      TEXT,
    started_at      INTEGER NOT NULL,
    last_message_at INTEGER NOT NULL
);
CREATE INDEX conversations_agent ON conversations (agent_id, seq);
CREATE INDEX conversations_visitor ON conversations (visitor_id, seq);

-- Prompts, agent responses and agent traces. First write wins per (conversation, message, type).
CREATE TABLE messages (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    type             TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    visitor_id       TEXT,
    account_id       TEXT,
    content          TEXT NOT NULL,
    timestamp        INTEGER NOT NULL,
    client_timestamp INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    suggested_prompt INTEGER NOT NULL,
    tools_used       TEXT NOT NULL,
    models_used      TEXT NOT NULL,
    files_uploaded   TEXT NOT NULL,
    subagents_used   TEXT NOT NULL,
    input_tokens     INTEGER,
    output_tokens    INTEGER,
    event_properties TEXT NOT NULL,
    context          TEXT NOT NULL,
    UNIQUE (conversation_id, message_id, type)
);
CREATE INDEX messages_conversation ON messages (conversation_id, timestamp);
CREATE INDEX messages_time ON messages (timestamp);

-- One reaction per (conversation, message); the latest wins; 'unreact' is a tombstone.
CREATE TABLE reactions (
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    value           TEXT NOT NULL,
    comments        TEXT NOT NULL,
    timestamp       INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    visitor_id      TEXT,
    context         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
) WITHOUT ROWID;
CREATE INDEX reactions_time ON reactions (timestamp);
"#,
    // 2: conversation verdicts, issues and the full-text index (see analysis::storage).
    super::analysis::storage::MIGRATION,
    // 3: the conversation log API (see log::storage).
    super::log::storage::MIGRATION,
    // 4: model insights and their hourly usage (see insights::storage).
    super::insights::storage::MIGRATION,
    // 5: the outbound webhook outbox (see webhooks::storage).
    super::webhooks::storage::MIGRATION,
    // 6: when each eventId was seen, for retention (see retention).
    super::retention::MIGRATION,
    // 7: the search index kept in bulk past a watermark (see search_index).
    super::search_index::MIGRATION,
];

/// The PostgreSQL twin of [`MIGRATIONS`], step for step (the same version numbers): `BIGINT`
/// for every integer, `BIGSERIAL` for the insertion sequences, `pg_trgm` instead of FTS5.
const POSTGRES_MIGRATIONS: [&str; 7] = [
    r#"
CREATE TABLE deliveries (
    webhook_id  TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    events      BIGINT NOT NULL
);
CREATE TABLE seen_events (
    event_id TEXT PRIMARY KEY
);
CREATE TABLE conversations (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    agent_id        TEXT NOT NULL,
    visitor_id      TEXT,
    account_id      TEXT,
    started_at      BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL
);
CREATE INDEX conversations_agent ON conversations (agent_id, seq);
CREATE INDEX conversations_visitor ON conversations (visitor_id, seq);
CREATE TABLE messages (
    seq              BIGSERIAL PRIMARY KEY,
    conversation_id  TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    type             TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    visitor_id       TEXT,
    account_id       TEXT,
    content          TEXT NOT NULL,
    timestamp        BIGINT NOT NULL,
    client_timestamp BIGINT NOT NULL,
    received_at      BIGINT NOT NULL,
    suggested_prompt BIGINT NOT NULL,
    tools_used       TEXT NOT NULL,
    models_used      TEXT NOT NULL,
    files_uploaded   TEXT NOT NULL,
    subagents_used   TEXT NOT NULL,
    input_tokens     BIGINT,
    output_tokens    BIGINT,
    event_properties TEXT NOT NULL,
    context          TEXT NOT NULL,
    UNIQUE (conversation_id, message_id, type)
);
CREATE INDEX messages_conversation ON messages (conversation_id, timestamp);
CREATE INDEX messages_time ON messages (timestamp);
CREATE TABLE reactions (
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    value           TEXT NOT NULL,
    comments        TEXT NOT NULL,
    timestamp       BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    visitor_id      TEXT,
    context         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
);
CREATE INDEX reactions_time ON reactions (timestamp);
"#,
    super::analysis::storage::POSTGRES_MIGRATION,
    super::log::storage::POSTGRES_MIGRATION,
    super::insights::storage::POSTGRES_MIGRATION,
    super::webhooks::storage::POSTGRES_MIGRATION,
    super::retention::POSTGRES_MIGRATION,
    super::search_index::POSTGRES_MIGRATION,
];

/// A key of `pg_advisory_xact_lock`: collectors starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6167_656e_745f_7472; // "agent_tr"

/// Brings a PostgreSQL database to [`VERSION`]: `schema_migrations` holds the versions
/// applied; every missing step runs in one transaction under an advisory lock, so that
/// collectors starting at once never apply a step twice.
pub fn migrate_postgres(client: &mut postgres::Client) -> Result<(), SchemaError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    let found: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    if found > VERSION {
        return Err(SchemaError::TooNew { found });
    }
    let now = i64::try_from(crate::error::now_ms()).unwrap_or(i64::MAX);
    for (i, sql) in POSTGRES_MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(i as i64 + 1), &now],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Why a database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("{}", super::db::postgres::describe(.0))]
    Postgres(#[from] postgres::Error),
    /// The file was written by a newer build.
    #[error("the database has schema version {found}; this build knows up to {VERSION}")]
    TooNew {
        /// Its `user_version`.
        found: i64,
    },
}

/// Sets the pragmas of the writer connection: WAL (readers never block the writer; the
/// mode is stored in the file), `synchronous` (`NORMAL`: durable across process crashes, but
/// a power cut may undo the last acknowledged transactions, never corrupt; `FULL`: durable
/// across power cuts too), a busy timeout, and `secure_delete` so a deleted conversation's
/// bytes are overwritten rather than left in free pages.
pub fn configure_writer(conn: &Connection, synchronous: Synchronous) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    configure(conn, synchronous)
}

/// Sets the pragmas of a reader connection: those of the writer, and `query_only`, so a bug
/// in a read path cannot write.
pub fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    configure(conn, Synchronous::Normal)?;
    conn.pragma_update(None, "query_only", "ON")
}

/// The busy timeout of every connection.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn configure(conn: &Connection, synchronous: Synchronous) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    // Filters make a handful of SQL variants per endpoint; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Brings the schema to [`VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > VERSION {
        return Err(SchemaError::TooNew { found });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A fresh in-memory SQLite database at [`VERSION`], for the storage modules' unit tests.
#[cfg(test)]
pub fn in_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("an in-memory database opens");
    migrate(&mut conn).expect("the schema applies to an empty database");
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_files() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(
            matches!(migrate(&mut conn), Err(SchemaError::TooNew { found }) if found == VERSION + 1)
        );
    }
}
