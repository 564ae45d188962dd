//! Every SQL statement of the analysis and of full-text search: the schema step, loading a
//! conversation for [`super::analyze`], storing verdicts, the sweep, the list filters, and
//! the aggregates of `/api/v1/issues` and `/api/v1/stats`, written once over
//! [`crate::collector::db::Conn`] for SQLite and PostgreSQL (their few differences, such as
//! day buckets, JSON and search, side by side here).
//!
//! Tables (schema step 2):
//!
//! - `conversation_analysis`: one row per conversation, its verdict as of `analyzed_at`
//!   (`status` then; the read API recomputes the status from `last_message_at`), the
//!   outcome it has if it ends as it stands, `issue_types` (JSON array) and `issue_count`,
//!   and `recheck_at`, when time alone can change the verdict (the sweep's index).
//! - `conversation_issues`: one row per issue, with its type, agent and time (`at`, whose
//!   UTC day it counts on), message ids (JSON array) and reason.
//! - `message_fts`: an FTS5 index (tokenizer `trigram`, `secure-delete` on) over
//!   `messages.content`; it stores no copy of the text (external content). Since schema step
//!   7 new messages enter it in bulk ([`crate::collector::search_index`]), not by a trigger.

use crate::collector::db::{self, params, Conn, Value as Sql};

use super::{analyze, AnalysisConfig, Conversation, Issue, IssueType, Kind, Message, Reaction};
use crate::collector::merge;
use crate::collector::webhooks::{self, events::Who, Targets};

/// Schema step 2: verdicts, issues, the search index.
pub const MIGRATION: &str = r#"
CREATE TABLE conversation_analysis (
    conversation_id  TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    ended_at         INTEGER NOT NULL,
    duration_seconds INTEGER NOT NULL,
    issue_types      TEXT NOT NULL,
    issue_count      INTEGER NOT NULL,
    analyzed_at      INTEGER NOT NULL,
    recheck_at       INTEGER
) WITHOUT ROWID;
CREATE INDEX conversation_analysis_outcome ON conversation_analysis (outcome, ended_at);
CREATE INDEX conversation_analysis_recheck ON conversation_analysis (recheck_at) WHERE recheck_at IS NOT NULL;

CREATE TABLE conversation_issues (
    conversation_id TEXT NOT NULL,
    ordinal         INTEGER NOT NULL,
    type            TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    at              INTEGER NOT NULL,
    message_ids     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, ordinal)
) WITHOUT ROWID;
CREATE INDEX conversation_issues_type ON conversation_issues (type, conversation_id);
CREATE INDEX conversation_issues_time ON conversation_issues (at);

CREATE INDEX conversations_last ON conversations (last_message_at);

CREATE VIRTUAL TABLE message_fts USING fts5(content, content='messages', content_rowid='seq', tokenize='trigram');
INSERT INTO message_fts (message_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_fts (rowid, content) VALUES (new.seq, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO message_fts (rowid, content) VALUES (new.seq, new.content);
END;
INSERT INTO message_fts (message_fts) VALUES ('rebuild');
"#;

/// Schema step 2 on PostgreSQL: the same tables; search by `ILIKE` over a `pg_trgm` GIN
/// index on `messages.content` instead of FTS5 (no triggers: the index follows the table).
pub const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE conversation_analysis (
    conversation_id  TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    ended_at         BIGINT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    issue_types      TEXT NOT NULL,
    issue_count      BIGINT NOT NULL,
    analyzed_at      BIGINT NOT NULL,
    recheck_at       BIGINT
);
CREATE INDEX conversation_analysis_outcome ON conversation_analysis (outcome, ended_at);
CREATE INDEX conversation_analysis_recheck ON conversation_analysis (recheck_at) WHERE recheck_at IS NOT NULL;

CREATE TABLE conversation_issues (
    conversation_id TEXT NOT NULL,
    ordinal         BIGINT NOT NULL,
    type            TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    at              BIGINT NOT NULL,
    message_ids     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, ordinal)
);
CREATE INDEX conversation_issues_type ON conversation_issues (type, conversation_id);
CREATE INDEX conversation_issues_time ON conversation_issues (at);

CREATE INDEX conversations_last ON conversations (last_message_at);

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_content_trgm ON messages USING gin (content gin_trgm_ops);
"#;

/// Characters of each message the analysis reads (a longer message is judged on its start).
const ANALYSED_CHARS: i64 = 20_000;

/// Whether `eventProperties.error` is truthy, from SQLite's `json_type` and `json_extract`
/// of it: not absent, `null`, `false`, `0` or `""`.
fn truthy(json_type: Option<&str>, value: &Sql) -> bool {
    match json_type {
        None | Some("null") | Some("false") => false,
        Some("integer") | Some("real") => match value {
            Sql::Int(n) => *n != 0,
            Sql::Real(f) => *f != 0.0,
            _ => true,
        },
        Some("text") => !matches!(value, Sql::Text(t) if t.is_empty()),
        _ => true,
    }
}

/// Loads conversation `id` for the analysis: `(agent_id, conversation)`, or `None`.
pub fn load(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<Option<(String, Conversation)>> {
    let head = conn.row_opt(
        "SELECT agent_id, started_at, last_message_at, CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END, client_outcome
         FROM conversations WHERE id = ?1",
        params![id],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<i64>(1)?,
                r.get::<i64>(2)?,
                r.get::<bool>(3)?,
                r.get::<Option<String>>(4)?,
            ))
        },
    )?;
    let Some((agent_id, started_at, last_event_at, closed, client_outcome)) = head else {
        return Ok(None);
    };
    let sql = match conn.dialect() {
        db::Dialect::Sqlite => {
            "SELECT message_id, type, substr(content, 1, ?2), timestamp,
                CASE WHEN json_valid(event_properties) THEN json_type(event_properties, '$.error') END,
                CASE WHEN json_valid(event_properties) THEN json_extract(event_properties, '$.error') END
             FROM messages WHERE conversation_id = ?1 ORDER BY timestamp, seq"
        }
        db::Dialect::Postgres => POSTGRES_LOAD,
    };
    let messages = conn.rows(sql, params![id, ANALYSED_CHARS], |r| {
        let error = truthy(r.get::<Option<String>>(4)?.as_deref(), &r.get::<Sql>(5)?);
        let content: String = r.get(2)?;
        Ok(Message {
            id: r.get(0)?,
            kind: Kind::of(&r.get::<String>(1)?),
            norm: super::text::normalise(&content),
            content,
            timestamp: r.get(3)?,
            error,
        })
    })?;
    let rows = conn.rows(
        "SELECT message_id, value, comments, timestamp FROM reactions WHERE conversation_id = ?1 ORDER BY timestamp, message_id",
        params![id],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<i64>(3)?,
            ))
        },
    )?;
    let reactions = rows
        .into_iter()
        .filter_map(|(message_id, value, comments, timestamp)| {
            merge::visible(&value).map(|v| Reaction {
                message_id,
                negative: v == "negative",
                comments: serde_json::from_str(&comments).unwrap_or_default(),
                timestamp,
            })
        })
        .collect();
    Ok(Some((
        agent_id,
        Conversation {
            started_at,
            last_event_at,
            messages,
            reactions,
            closed,
            client_outcome: client_outcome.as_deref().and_then(super::Outcome::parse),
        },
    )))
}

/// [`load`]'s message query on PostgreSQL: the truthiness of `eventProperties.error` is
/// decided in SQL and given as `json_type` `'true'`/`'false'` (see [`truthy`]). The column is
/// always JSON written by the collector; SQLite's `json_valid` guard has no cheap twin.
const POSTGRES_LOAD: &str = "SELECT message_id, type, substr(content, 1, ?2), timestamp,
        CASE jsonb_typeof(event_properties::jsonb -> 'error')
            WHEN 'number' THEN CASE WHEN CAST(event_properties::jsonb ->> 'error' AS DOUBLE PRECISION) <> 0
                THEN 'true' ELSE 'false' END
            WHEN 'string' THEN CASE WHEN event_properties::jsonb ->> 'error' <> '' THEN 'true' ELSE 'false' END
            WHEN 'boolean' THEN event_properties::jsonb ->> 'error'
            WHEN 'null' THEN 'false'
            WHEN 'object' THEN 'true' WHEN 'array' THEN 'true' END,
        NULL
     FROM messages WHERE conversation_id = ?1 ORDER BY timestamp, seq";

/// The stored verdict's status and issue types of conversation `id`, if any.
fn stored_verdict(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<Option<(String, Vec<String>)>> {
    Ok(conn
        .row_opt(
            "SELECT status, issue_types FROM conversation_analysis WHERE conversation_id = ?1",
            params![id],
            |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
        )?
        .map(|(status, types)| (status, serde_json::from_str(&types).unwrap_or_default())))
}

/// Who conversation `id` belongs to (for webhook events).
fn who(conn: &mut Conn<'_, '_>, id: &str, agent_id: &str) -> db::Result<Who> {
    let (visitor_id, account_id) = conn
        .row_opt(
            "SELECT visitor_id, account_id FROM conversations WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or((None, None));
    Ok(Who {
        agent_id: agent_id.to_owned(),
        visitor_id,
        account_id,
    })
}

/// Re-judges conversations `ids` at `now` and stores their verdicts (in the caller's
/// transaction). An id without a conversation loses its verdict.
///
/// With webhook `hooks`, the new verdict is compared with the stored one first, and the
/// events it causes (see [`webhooks::events::on_verdict`]: an issue type it did not have,
/// going from not ended to ended) are queued in the same transaction.
pub fn refresh<'a>(
    conn: &mut Conn<'_, '_>,
    ids: impl IntoIterator<Item = &'a str>,
    now: i64,
    cfg: &AnalysisConfig,
    hooks: &Targets,
) -> db::Result<()> {
    for id in ids {
        if conn.dialect() == db::Dialect::Postgres {
            // Collectors sharing the database judge a conversation one at a time.
            conn.execute(
                "SELECT 1 FROM conversations WHERE id = ?1 FOR UPDATE",
                params![id],
            )?;
        }
        match load(conn, id)? {
            Some((agent_id, c)) => {
                let v = analyze(&c, now, cfg);
                // Outbound webhooks: the events of this verdict against the stored one.
                if !hooks.is_empty() {
                    let before = stored_verdict(conn, id)?;
                    if webhooks::events::may_fire(&v, before.as_ref()) {
                        let who = who(conn, id, &agent_id)?;
                        let events =
                            webhooks::events::on_verdict(id, &who, &c, &v, before.as_ref());
                        webhooks::storage::enqueue(conn, hooks, &events, now)?;
                    }
                }
                let types: Vec<&str> = v.issue_types().iter().map(|t| t.as_str()).collect();
                conn.execute(
                    "INSERT INTO conversation_analysis (conversation_id, agent_id, status, outcome, ended_at,
                        duration_seconds, issue_types, issue_count, analyzed_at, recheck_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (conversation_id) DO UPDATE SET agent_id = excluded.agent_id,
                        status = excluded.status, outcome = excluded.outcome, ended_at = excluded.ended_at,
                        duration_seconds = excluded.duration_seconds, issue_types = excluded.issue_types,
                        issue_count = excluded.issue_count, analyzed_at = excluded.analyzed_at,
                        recheck_at = excluded.recheck_at",
                    params![
                    id,
                    agent_id,
                    v.status.as_str(),
                    v.outcome.as_str(),
                    v.ended_at,
                    v.duration_seconds,
                    serde_json::to_string(&types).unwrap_or_else(|_| "[]".into()),
                    v.issues.len() as i64,
                    now,
                    v.recheck_at,
                    ],
                )?;
                conn.execute(
                    "DELETE FROM conversation_issues WHERE conversation_id = ?1",
                    params![id],
                )?;
                for (n, i) in v.issues.iter().enumerate() {
                    conn.execute(
                    "INSERT INTO conversation_issues (conversation_id, ordinal, type, agent_id, at, message_ids, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        n as i64,
                        i.issue_type.as_str(),
                        agent_id,
                        i.at,
                        serde_json::to_string(&i.message_ids).unwrap_or_else(|_| "[]".into()),
                        i.reason,
                    ],
                    )?;
                }
            }
            None => forget(conn, id)?,
        }
    }
    Ok(())
}

/// Removes the verdict and issues of conversation `id`.
pub fn forget(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<()> {
    conn.execute(
        "DELETE FROM conversation_analysis WHERE conversation_id = ?1",
        params![id],
    )?;
    conn.execute(
        "DELETE FROM conversation_issues WHERE conversation_id = ?1",
        params![id],
    )?;
    Ok(())
}

/// What a sweep looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Conversations whose verdict time alone has changed (`recheck_at <= now`): an index
    /// range, cheap enough to run every few seconds.
    Due,
    /// Conversations without a verdict (stored before the analysis existed): a scan of all
    /// conversations, run at start until none is left.
    Missing,
}

/// Re-judges, in one transaction, up to `batch` conversations of `kind` at `now`, queueing
/// the webhook events of [`Sweep::Due`] verdicts for `hooks` (a [`Sweep::Missing`] judges
/// history, which causes none). Returns how many were judged; call again while it returns
/// `batch`.
pub fn sweep(
    conn: &mut Conn<'_, '_>,
    kind: Sweep,
    now: i64,
    cfg: &AnalysisConfig,
    batch: i64,
    hooks: &Targets,
) -> db::Result<usize> {
    let sql = match kind {
        Sweep::Due => {
            "SELECT conversation_id FROM conversation_analysis WHERE recheck_at <= ?1 LIMIT ?2"
        }
        Sweep::Missing => {
            "SELECT id FROM conversations c WHERE CAST(?1 AS BIGINT) IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM conversation_analysis a WHERE a.conversation_id = c.id)
             LIMIT ?2"
        }
    };
    // PostgreSQL: collectors sharing the database each claim their own rows, never waiting.
    let sql = match conn.dialect() {
        db::Dialect::Sqlite => sql.to_owned(),
        db::Dialect::Postgres => format!("{sql} FOR UPDATE SKIP LOCKED"),
    };
    let ids: Vec<String> = conn.rows(&sql, params![now, batch], |r| r.get(0))?;
    let none = Targets::none();
    let hooks = if kind == Sweep::Missing { &none } else { hooks };
    refresh(conn, ids.iter().map(String::as_str), now, cfg, hooks)?;
    Ok(ids.len())
}

/// The verdict of one conversation, judged afresh at `now` (the read API's detail view).
pub fn judge_now(
    conn: &mut Conn<'_, '_>,
    id: &str,
    now: i64,
    cfg: &AnalysisConfig,
) -> db::Result<Option<super::Verdict>> {
    Ok(load(conn, id)?.map(|(_, c)| analyze(&c, now, cfg)))
}

/// The join the conversation list adds for its verdict columns (`a`).
pub const LIST_JOIN: &str = "LEFT JOIN conversation_analysis a ON a.conversation_id = c.id";

/// The verdict columns of a list row: outcome, issue types (JSON array).
pub const LIST_COLUMNS: &str = "a.outcome, coalesce(a.issue_types, '[]')";

/// Filter: ended (`?` = now - idle): idle, or ended by its owner.
pub const ENDED: &str = "(c.last_message_at <= ? OR c.closed_at IS NOT NULL)";
/// Filter: active (`?` = now - idle).
pub const ACTIVE: &str = "(c.last_message_at > ? AND c.closed_at IS NULL)";
/// Filter: outcome (together with [`ENDED`]).
pub const OUTCOME: &str = "a.outcome = ?";
/// Filter: has an issue of a type.
pub const ISSUE: &str =
    "EXISTS (SELECT 1 FROM conversation_issues i WHERE i.conversation_id = c.id AND i.type = ?)";
/// Filter: has issues (`?` = 0).
pub const HAS_ISSUES: &str = "coalesce(a.issue_count, 0) > ?";
/// Filter: has no issues (`?` = 0).
pub const NO_ISSUES: &str = "coalesce(a.issue_count, 0) = ?";
/// Filter: a message matches the FTS5 query `?` (see [`fts_query`]). Written as a check per
/// conversation against the (once materialised) set of matching messages, so that the
/// newest-first scan stops after a page: a common word costs about what a rare one does.
pub const MATCHES: &str = "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
    AND m.seq IN (SELECT rowid FROM message_fts WHERE message_fts MATCH ?))";
/// Filter: a message contains `?` (a LIKE pattern, see [`like_pattern`]); for queries too
/// short for trigrams. A scan, stopping after a page.
pub const CONTAINS: &str =
    "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\')";

/// Filter on PostgreSQL: a message contains `?` (a LIKE pattern, see [`like_pattern`]),
/// case-insensitively; the `pg_trgm` index serves patterns of three characters or more.
pub const ILIKE: &str =
    "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content ILIKE ? ESCAPE '\\')";

/// The search filter for `q` in `dialect`'s SQL: the clause and its value.
pub fn search_filter_in(dialect: db::Dialect, q: &str) -> (&'static str, String) {
    match dialect {
        db::Dialect::Sqlite => search_filter(q),
        db::Dialect::Postgres => (ILIKE, like_pattern(q)),
    }
}

/// Queries of at least this many characters use the trigram index.
pub const TRIGRAM_CHARS: usize = 3;

/// `q` as one FTS5 phrase (substring match with the trigram tokenizer).
pub fn fts_query(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// `q` as a LIKE pattern matching it anywhere.
pub fn like_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The search filter for `q`: the clause and its value.
pub fn search_filter(q: &str) -> (&'static str, String) {
    if q.chars().count() >= TRIGRAM_CHARS {
        (MATCHES, fts_query(q))
    } else {
        (CONTAINS, like_pattern(q))
    }
}

/// Messages of a conversation scanned for the snippet before asking the index.
const SNIPPET_SCAN: i64 = 2000;

/// The content of the first message (by time) of conversation `id` that matches `q`. The
/// conversation's first messages are scanned first (a case-insensitive substring, as the
/// index matches); the index is asked only when that finds nothing (a longer conversation,
/// or case folding that differs), since a MATCH restricted to one conversation still reads
/// every match of `q`.
pub fn first_match(conn: &mut Conn<'_, '_>, id: &str, q: &str) -> db::Result<Option<String>> {
    let contents: Vec<String> = conn.rows(
        "SELECT content FROM messages WHERE conversation_id = ?1 ORDER BY timestamp, seq LIMIT ?2",
        params![id, SNIPPET_SCAN],
        |r| r.get(0),
    )?;
    if let Some(c) = contents
        .into_iter()
        .find(|c| super::text::contains_folded(c, q))
    {
        return Ok(Some(c));
    }
    let (clause, value) = search_filter_in(conn.dialect(), q);
    let sql = if clause == ILIKE {
        "SELECT m.content FROM messages m WHERE m.conversation_id = ?1 AND m.content ILIKE ?2 ESCAPE '\\'
         ORDER BY m.timestamp, m.seq LIMIT 1"
    } else if clause == MATCHES {
        "SELECT m.content FROM message_fts f JOIN messages m ON m.seq = f.rowid
         WHERE message_fts MATCH ?2 AND m.conversation_id = ?1 ORDER BY m.timestamp, m.seq LIMIT 1"
    } else {
        "SELECT m.content FROM messages m WHERE m.conversation_id = ?1 AND m.content LIKE ?2 ESCAPE '\\'
         ORDER BY m.timestamp, m.seq LIMIT 1"
    };
    conn.row_opt(sql, params![id, value], |r| r.get(0))
}

/// Agent and time filters of the aggregates: `(clauses, values)` on `column`s.
fn where_clause(
    agent_column: &str,
    time_column: &str,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
) -> (String, Vec<Sql>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(a) = agent {
        clauses.push(format!("{agent_column} = ?"));
        values.push(Sql::Text(a.to_owned()));
    }
    if let Some(s) = since {
        clauses.push(format!("{time_column} >= ?"));
        values.push(Sql::Int(s));
    }
    if let Some(u) = until {
        clauses.push(format!("{time_column} < ?"));
        values.push(Sql::Int(u));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, values)
}

/// The UTC day (`YYYY-MM-DD`) of the Unix-ms column `column`, in `dialect`'s SQL.
pub fn day(dialect: db::Dialect, column: &str) -> String {
    match dialect {
        db::Dialect::Sqlite => format!("date({column} / 1000, 'unixepoch')"),
        db::Dialect::Postgres => {
            format!("to_char(to_timestamp({column} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
        }
    }
}

/// Per UTC day, conversations with a message that day; and the total over the window.
pub fn active_conversations(
    conn: &mut Conn<'_, '_>,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
) -> db::Result<(i64, Vec<(String, i64)>)> {
    let (w, v) = where_clause("m.agent_id", "m.timestamp", agent, since, until);
    let v = db::refs(&v);
    let total = conn.one(
        &format!("SELECT count(DISTINCT m.conversation_id) FROM messages m {w}"),
        &v,
    )?;
    let d = day(conn.dialect(), "m.timestamp");
    let days = conn.rows(
        &format!(
            "SELECT {d} AS d, count(DISTINCT m.conversation_id) FROM messages m {w} GROUP BY d ORDER BY d"
        ),
        &v,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((total, days))
}

/// Issue counts: per type the conversations with it in the window, per type and UTC day, and
/// per day the conversations with any issue.
#[derive(Debug, Default)]
pub struct IssueCounts {
    /// `(type, conversations)`.
    pub by_type: Vec<(String, i64)>,
    /// `(type, day, conversations)`.
    pub by_type_day: Vec<(String, String, i64)>,
    /// `(day, conversations with any issue)`.
    pub any_by_day: Vec<(String, i64)>,
    /// Conversations with any issue in the window.
    pub any: i64,
}

/// Counts issues by the time they were raised (`at`).
pub fn issue_counts(
    conn: &mut Conn<'_, '_>,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
) -> db::Result<IssueCounts> {
    let (w, v) = where_clause("i.agent_id", "i.at", agent, since, until);
    let p = db::refs(&v);
    let d = day(conn.dialect(), "i.at");
    let by_type = conn.rows(
        &format!("SELECT i.type, count(DISTINCT i.conversation_id) FROM conversation_issues i {w} GROUP BY i.type"),
        &p,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let by_type_day = conn.rows(
        &format!(
            "SELECT i.type, {d} AS d, count(DISTINCT i.conversation_id) FROM conversation_issues i {w}
             GROUP BY i.type, d ORDER BY d"
        ),
        &p,
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let any_by_day = conn.rows(
        &format!(
            "SELECT {d} AS d, count(DISTINCT i.conversation_id) FROM conversation_issues i {w} GROUP BY d ORDER BY d"
        ),
        &p,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let any = conn.one(
        &format!("SELECT count(DISTINCT i.conversation_id) FROM conversation_issues i {w}"),
        &p,
    )?;
    Ok(IssueCounts {
        by_type,
        by_type_day,
        any_by_day,
        any,
    })
}

/// Up to `n` conversations with an issue of `issue_type` in the window, latest issue first.
pub fn examples(
    conn: &mut Conn<'_, '_>,
    issue_type: IssueType,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
    n: i64,
) -> db::Result<Vec<String>> {
    let (w, mut v) = where_clause("i.agent_id", "i.at", agent, since, until);
    let w = if w.is_empty() {
        "WHERE i.type = ?".to_owned()
    } else {
        format!("{w} AND i.type = ?")
    };
    v.push(Sql::Text(issue_type.as_str().to_owned()));
    v.push(Sql::Int(n));
    conn.rows(
        &format!(
            "SELECT i.conversation_id FROM conversation_issues i {w} GROUP BY i.conversation_id ORDER BY max(i.at) DESC, i.conversation_id LIMIT ?"
        ),
        &db::refs(&v),
        |r| r.get(0),
    )
}

/// Ended conversations (last event at or before `ended_by`) whose `endedAt` is in the
/// window, by outcome: `(completed, abandoned, error)`.
pub fn outcome_counts(
    conn: &mut Conn<'_, '_>,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
    ended_by: i64,
) -> db::Result<(i64, i64, i64)> {
    let (w, mut v) = where_clause("a.agent_id", "a.ended_at", agent, since, until);
    let w = if w.is_empty() {
        format!("WHERE {ENDED}")
    } else {
        format!("{w} AND {ENDED}")
    };
    v.push(Sql::Int(ended_by));
    conn.row(
        &format!(
            "SELECT CAST(coalesce(sum(CASE WHEN a.outcome = 'completed' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(coalesce(sum(CASE WHEN a.outcome = 'abandoned' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(coalesce(sum(CASE WHEN a.outcome = 'error' THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM conversation_analysis a JOIN conversations c ON c.id = a.conversation_id {w}"
        ),
        &db::refs(&v),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// The issue rows of conversations, for tests and tools: `(type, message ids, reason)`.
pub fn stored_issues(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<Vec<Issue>> {
    let rows = conn.rows(
        "SELECT type, message_ids, reason, at FROM conversation_issues WHERE conversation_id = ?1 ORDER BY ordinal",
        params![id],
        |r| {
        let t: String = r.get(0)?;
        let ids: String = r.get(1)?;
        let (reason, at): (String, i64) = (r.get(2)?, r.get(3)?);
        Ok(IssueType::parse(&t).map(|issue_type| Issue {
            issue_type,
            message_ids: serde_json::from_str(&ids).unwrap_or_default(),
            reason,
            at,
        }))
        },
    )?;
    Ok(rows.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated in-memory database holding conversation `old` (one prompt at 1 s), stored
    /// before the analysis existed: no verdict.
    fn unjudged() -> rusqlite::Connection {
        let raw = crate::collector::schema::in_memory();
        raw.execute_batch(
            "INSERT INTO conversations (id, agent_id, started_at, last_message_at) VALUES ('old', 'a', 1000, 1000);
             INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, content, timestamp, client_timestamp,
                received_at, suggested_prompt, tools_used, models_used, files_uploaded, subagents_used, event_properties, context)
             VALUES ('old', 'p1', 'prompt', 'e1', 'a', 'hello?', 1000, 1000, 1000, 0, '[]', '[]', '[]', '[]', '{}', '{}');",
        )
        .unwrap();
        raw
    }

    #[test]
    fn sweeps_judge_old_conversations_once_and_due_verdicts_when_due() {
        let raw = unjudged();
        let mut conn = Conn::Sqlite(&raw);
        let cfg = AnalysisConfig::default();
        // 30 s after the prompt: judged, the prompt not yet unanswered, a recheck at 61 s.
        assert_eq!(
            sweep(&mut conn, Sweep::Due, 31_000, &cfg, 500, &Targets::none()).unwrap(),
            0
        );
        assert_eq!(
            sweep(
                &mut conn,
                Sweep::Missing,
                31_000,
                &cfg,
                500,
                &Targets::none()
            )
            .unwrap(),
            1
        );
        assert_eq!(
            sweep(
                &mut conn,
                Sweep::Missing,
                31_000,
                &cfg,
                500,
                &Targets::none()
            )
            .unwrap(),
            0
        );
        assert!(stored_issues(&mut conn, "old").unwrap().is_empty());
        assert_eq!(
            sweep(&mut conn, Sweep::Due, 60_999, &cfg, 500, &Targets::none()).unwrap(),
            0
        );
        assert_eq!(
            sweep(&mut conn, Sweep::Due, 61_000, &cfg, 500, &Targets::none()).unwrap(),
            1
        );
        let issues = stored_issues(&mut conn, "old").unwrap();
        assert_eq!(issues[0].issue_type, IssueType::UnansweredPrompt);
        // Next due: when the conversation goes idle (30 minutes after its last event).
        let recheck: Option<i64> = raw
            .query_row("SELECT recheck_at FROM conversation_analysis", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(recheck, Some(1000 + 30 * 60_000));
        assert_eq!(
            sweep(
                &mut conn,
                Sweep::Due,
                1000 + 30 * 60_000,
                &cfg,
                500,
                &Targets::none()
            )
            .unwrap(),
            1
        );
        let (status, recheck): (String, Option<i64>) = raw
            .query_row(
                "SELECT status, recheck_at FROM conversation_analysis",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((status.as_str(), recheck), ("ended", None));
    }

    #[test]
    fn verdict_changes_queue_webhook_events_except_for_history() {
        let raw = unjudged();
        let mut conn = Conn::Sqlite(&raw);
        let cfg = AnalysisConfig::default();
        let hooks = crate::collector::webhooks::WebhookConfig {
            urls: vec!["http://127.0.0.1:1/h".into()],
            ..Default::default()
        }
        .targets();
        let queued = |conn: &rusqlite::Connection| -> Vec<String> {
            let mut stmt = conn
                .prepare("SELECT type FROM webhook_outbox ORDER BY id")
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        // Judged for the first time as history (already unanswered and ended): nothing.
        let idle = 1000 + 30 * 60_000;
        assert_eq!(
            sweep(&mut conn, Sweep::Missing, idle, &cfg, 500, &hooks).unwrap(),
            1
        );
        assert!(queued(&raw).is_empty());
        // A new verdict of the same conversation: unchanged, nothing.
        refresh(&mut conn, ["old"], idle + 1, &cfg, &hooks).unwrap();
        assert!(queued(&raw).is_empty());
        // Forgotten and judged again through the write path: a new issue type, then the end.
        forget(&mut conn, "old").unwrap();
        refresh(&mut conn, ["old"], idle + 2, &cfg, &hooks).unwrap();
        assert_eq!(queued(&raw), ["conversation.flagged", "conversation.ended"]);
        refresh(&mut conn, ["old"], idle + 3, &cfg, &hooks).unwrap();
        assert_eq!(queued(&raw).len(), 2, "once per change");
    }

    #[test]
    fn search_patterns_escape_their_syntax() {
        assert_eq!(fts_query("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(like_pattern("50%_\\"), "%50\\%\\_\\\\%");
        assert_eq!(search_filter("ab").0, CONTAINS);
        assert_eq!(search_filter("日本").0, CONTAINS);
        assert_eq!(search_filter("abc").0, MATCHES);
    }

    fn db_value(v: rusqlite::types::Value) -> Sql {
        match v {
            rusqlite::types::Value::Integer(n) => Sql::Int(n),
            rusqlite::types::Value::Real(f) => Sql::Real(f),
            rusqlite::types::Value::Text(t) => Sql::Text(t),
            _ => Sql::Null,
        }
    }

    #[test]
    fn truthy_errors() {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        let judge = |json: &str| -> bool {
            raw.query_row(
                "SELECT json_type(?1, '$.error'), json_extract(?1, '$.error')",
                [json],
                |r| {
                    Ok(truthy(
                        r.get::<_, Option<String>>(0)?.as_deref(),
                        &db_value(r.get::<_, rusqlite::types::Value>(1)?),
                    ))
                },
            )
            .unwrap()
        };
        for yes in [
            r#"{"error":true}"#,
            r#"{"error":1}"#,
            r#"{"error":"timeout"}"#,
            r#"{"error":"0"}"#,
            r#"{"error":{"code":1}}"#,
            r#"{"error":[]}"#,
        ] {
            assert!(judge(yes), "{yes}");
        }
        for no in [
            "{}",
            r#"{"error":null}"#,
            r#"{"error":false}"#,
            r#"{"error":0}"#,
            r#"{"error":0.0}"#,
            r#"{"error":""}"#,
        ] {
            assert!(!judge(no), "{no}");
        }
    }
}
