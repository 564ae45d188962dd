//! Every SQL statement of the analysis and of full-text search: the schema step, loading a
//! conversation for [`super::analyze`], storing verdicts, the sweep, the list filters, and
//! the aggregates of `/api/v1/issues` and `/api/v1/stats`. This is the storage boundary: a
//! second backend (PostgreSQL, not built yet) would reimplement this module and nothing else of the analysis.
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
//!   `messages.content`, kept by triggers; it stores no copy of the text (external content).

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

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

/// Characters of each message the analysis reads (a longer message is judged on its start).
const ANALYSED_CHARS: i64 = 20_000;

/// Whether `eventProperties.error` is truthy, from SQLite's `json_type` and `json_extract`
/// of it: not absent, `null`, `false`, `0` or `""`.
fn truthy(json_type: Option<&str>, value: &Sql) -> bool {
    match json_type {
        None | Some("null") | Some("false") => false,
        Some("integer") | Some("real") => match value {
            Sql::Integer(n) => *n != 0,
            Sql::Real(f) => *f != 0.0,
            _ => true,
        },
        Some("text") => !matches!(value, Sql::Text(t) if t.is_empty()),
        _ => true,
    }
}

/// Loads conversation `id` for the analysis: `(agent_id, conversation)`, or `None`.
pub fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<(String, Conversation)>> {
    let head = conn
        .prepare_cached(
            "SELECT agent_id, started_at, last_message_at, closed_at IS NOT NULL, client_outcome
             FROM conversations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?;
    let Some((agent_id, started_at, last_event_at, closed, client_outcome)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT message_id, type, substr(content, 1, ?2), timestamp,
                CASE WHEN json_valid(event_properties) THEN json_type(event_properties, '$.error') END,
                CASE WHEN json_valid(event_properties) THEN json_extract(event_properties, '$.error') END
         FROM messages WHERE conversation_id = ?1 ORDER BY timestamp, seq",
    )?;
    let messages = stmt
        .query_map(params![id, ANALYSED_CHARS], |r| {
            let error = truthy(
                r.get::<_, Option<String>>(4)?.as_deref(),
                &r.get::<_, Sql>(5)?,
            );
            let content: String = r.get(2)?;
            Ok(Message {
                id: r.get(0)?,
                kind: Kind::of(&r.get::<_, String>(1)?),
                norm: super::text::normalise(&content),
                content,
                timestamp: r.get(3)?,
                error,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT message_id, value, comments, timestamp FROM reactions WHERE conversation_id = ?1 ORDER BY timestamp, message_id",
    )?;
    let reactions = stmt
        .query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .filter_map(|row| match row {
            Ok((message_id, value, comments, timestamp)) => merge::visible(&value).map(|v| {
                Ok(Reaction {
                    message_id,
                    negative: v == "negative",
                    comments: serde_json::from_str(&comments).unwrap_or_default(),
                    timestamp,
                })
            }),
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
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

/// The stored verdict's status and issue types of conversation `id`, if any.
fn stored_verdict(conn: &Connection, id: &str) -> rusqlite::Result<Option<(String, Vec<String>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT status, issue_types FROM conversation_analysis WHERE conversation_id = ?1",
        )?
        .query_row([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
        .map(|(status, types)| (status, serde_json::from_str(&types).unwrap_or_default())))
}

/// Who conversation `id` belongs to (for webhook events).
fn who(conn: &Connection, id: &str, agent_id: &str) -> rusqlite::Result<Who> {
    let (visitor_id, account_id) = conn
        .prepare_cached("SELECT visitor_id, account_id FROM conversations WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
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
    conn: &Connection,
    ids: impl IntoIterator<Item = &'a str>,
    now: i64,
    cfg: &AnalysisConfig,
    hooks: &Targets,
) -> rusqlite::Result<()> {
    for id in ids {
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
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO conversation_analysis (conversation_id, agent_id, status, outcome, ended_at,
                        duration_seconds, issue_types, issue_count, analyzed_at, recheck_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
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
                ])?;
                conn.prepare_cached("DELETE FROM conversation_issues WHERE conversation_id = ?1")?
                    .execute([id])?;
                let mut insert = conn.prepare_cached(
                    "INSERT INTO conversation_issues (conversation_id, ordinal, type, agent_id, at, message_ids, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (n, i) in v.issues.iter().enumerate() {
                    insert.execute(params![
                        id,
                        n as i64,
                        i.issue_type.as_str(),
                        agent_id,
                        i.at,
                        serde_json::to_string(&i.message_ids).unwrap_or_else(|_| "[]".into()),
                        i.reason,
                    ])?;
                }
            }
            None => forget(conn, id)?,
        }
    }
    Ok(())
}

/// Removes the verdict and issues of conversation `id`.
pub fn forget(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM conversation_analysis WHERE conversation_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM conversation_issues WHERE conversation_id = ?1")?
        .execute([id])?;
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
    conn: &mut Connection,
    kind: Sweep,
    now: i64,
    cfg: &AnalysisConfig,
    batch: i64,
    hooks: &Targets,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let ids: Vec<String> = {
        let mut stmt = match kind {
            Sweep::Due => tx.prepare_cached(
                "SELECT conversation_id FROM conversation_analysis WHERE recheck_at <= ?1 LIMIT ?2",
            )?,
            Sweep::Missing => tx.prepare_cached(
                "SELECT id FROM conversations c WHERE ?1 IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM conversation_analysis a WHERE a.conversation_id = c.id)
                 LIMIT ?2",
            )?,
        };
        let rows = stmt.query_map(params![now, batch], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let none = Targets::none();
    let hooks = if kind == Sweep::Missing { &none } else { hooks };
    refresh(&tx, ids.iter().map(String::as_str), now, cfg, hooks)?;
    tx.commit()?;
    Ok(ids.len())
}

/// The verdict of one conversation, judged afresh at `now` (the read API's detail view).
pub fn judge_now(
    conn: &Connection,
    id: &str,
    now: i64,
    cfg: &AnalysisConfig,
) -> rusqlite::Result<Option<super::Verdict>> {
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
pub fn first_match(conn: &Connection, id: &str, q: &str) -> rusqlite::Result<Option<String>> {
    {
        let mut stmt = conn.prepare_cached(
            "SELECT content FROM messages WHERE conversation_id = ?1 ORDER BY timestamp, seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![id, SNIPPET_SCAN])?;
        while let Some(row) = rows.next()? {
            let content: String = row.get(0)?;
            if super::text::contains_folded(&content, q) {
                return Ok(Some(content));
            }
        }
    }
    let (clause, value) = search_filter(q);
    let sql = if clause == MATCHES {
        "SELECT m.content FROM message_fts f JOIN messages m ON m.seq = f.rowid
         WHERE message_fts MATCH ?2 AND m.conversation_id = ?1 ORDER BY m.timestamp, m.seq LIMIT 1"
    } else {
        "SELECT m.content FROM messages m WHERE m.conversation_id = ?1 AND m.content LIKE ?2 ESCAPE '\\'
         ORDER BY m.timestamp, m.seq LIMIT 1"
    };
    conn.prepare_cached(sql)?
        .query_row(params![id, value], |r| r.get(0))
        .optional()
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
        values.push(Sql::Integer(s));
    }
    if let Some(u) = until {
        clauses.push(format!("{time_column} < ?"));
        values.push(Sql::Integer(u));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, values)
}

/// Per UTC day, conversations with a message that day; and the total over the window.
pub fn active_conversations(
    conn: &Connection,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
) -> rusqlite::Result<(i64, Vec<(String, i64)>)> {
    let (w, v) = where_clause("m.agent_id", "m.timestamp", agent, since, until);
    let total = conn
        .prepare_cached(&format!(
            "SELECT count(DISTINCT m.conversation_id) FROM messages m {w}"
        ))?
        .query_row(params_from_iter(v.iter()), |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT date(m.timestamp / 1000, 'unixepoch') AS d, count(DISTINCT m.conversation_id) FROM messages m {w} GROUP BY d ORDER BY d"
    ))?;
    let days = stmt
        .query_map(params_from_iter(v.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
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
    conn: &Connection,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
) -> rusqlite::Result<IssueCounts> {
    let (w, v) = where_clause("i.agent_id", "i.at", agent, since, until);
    let p = || params_from_iter(v.iter());
    let mut out = IssueCounts::default();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT i.type, count(DISTINCT i.conversation_id) FROM conversation_issues i {w} GROUP BY i.type"
    ))?;
    out.by_type = stmt
        .query_map(p(), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT i.type, date(i.at / 1000, 'unixepoch') AS d, count(DISTINCT i.conversation_id) FROM conversation_issues i {w}
         GROUP BY i.type, d ORDER BY d"
    ))?;
    out.by_type_day = stmt
        .query_map(p(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT date(i.at / 1000, 'unixepoch') AS d, count(DISTINCT i.conversation_id) FROM conversation_issues i {w} GROUP BY d ORDER BY d"
    ))?;
    out.any_by_day = stmt
        .query_map(p(), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    out.any = conn
        .prepare_cached(&format!(
            "SELECT count(DISTINCT i.conversation_id) FROM conversation_issues i {w}"
        ))?
        .query_row(p(), |r| r.get(0))?;
    Ok(out)
}

/// Up to `n` conversations with an issue of `issue_type` in the window, latest issue first.
pub fn examples(
    conn: &Connection,
    issue_type: IssueType,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
    n: i64,
) -> rusqlite::Result<Vec<String>> {
    let (w, mut v) = where_clause("i.agent_id", "i.at", agent, since, until);
    let w = if w.is_empty() {
        "WHERE i.type = ?".to_owned()
    } else {
        format!("{w} AND i.type = ?")
    };
    v.push(Sql::Text(issue_type.as_str().to_owned()));
    v.push(Sql::Integer(n));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT i.conversation_id FROM conversation_issues i {w} GROUP BY i.conversation_id ORDER BY max(i.at) DESC, i.conversation_id LIMIT ?"
    ))?;
    let rows = stmt.query_map(params_from_iter(v.iter()), |r| r.get(0))?;
    rows.collect()
}

/// Ended conversations (last event at or before `ended_by`) whose `endedAt` is in the
/// window, by outcome: `(completed, abandoned, error)`.
pub fn outcome_counts(
    conn: &Connection,
    agent: Option<&str>,
    since: Option<i64>,
    until: Option<i64>,
    ended_by: i64,
) -> rusqlite::Result<(i64, i64, i64)> {
    let (w, mut v) = where_clause("a.agent_id", "a.ended_at", agent, since, until);
    let w = if w.is_empty() {
        format!("WHERE {ENDED}")
    } else {
        format!("{w} AND {ENDED}")
    };
    v.push(Sql::Integer(ended_by));
    conn.prepare_cached(&format!(
        "SELECT coalesce(sum(a.outcome = 'completed'), 0), coalesce(sum(a.outcome = 'abandoned'), 0), coalesce(sum(a.outcome = 'error'), 0)
         FROM conversation_analysis a JOIN conversations c ON c.id = a.conversation_id {w}"
    ))?
    .query_row(params_from_iter(v.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

/// The issue rows of conversations, for tests and tools: `(type, message ids, reason)`.
pub fn stored_issues(conn: &Connection, id: &str) -> rusqlite::Result<Vec<Issue>> {
    let mut stmt = conn.prepare_cached(
        "SELECT type, message_ids, reason, at FROM conversation_issues WHERE conversation_id = ?1 ORDER BY ordinal",
    )?;
    let rows = stmt.query_map([id], |r| {
        let t: String = r.get(0)?;
        let ids: String = r.get(1)?;
        let (reason, at): (String, i64) = (r.get(2)?, r.get(3)?);
        Ok(IssueType::parse(&t).map(|issue_type| Issue {
            issue_type,
            message_ids: serde_json::from_str(&ids).unwrap_or_default(),
            reason,
            at,
        }))
    })?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_judge_old_conversations_once_and_due_verdicts_when_due() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::collector::schema::migrate(&mut conn).unwrap();
        // A conversation stored before the analysis existed: no verdict.
        conn.execute_batch(
            "INSERT INTO conversations (id, agent_id, started_at, last_message_at) VALUES ('old', 'a', 1000, 1000);
             INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, content, timestamp, client_timestamp,
                received_at, suggested_prompt, tools_used, models_used, files_uploaded, subagents_used, event_properties, context)
             VALUES ('old', 'p1', 'prompt', 'e1', 'a', 'hello?', 1000, 1000, 1000, 0, '[]', '[]', '[]', '[]', '{}', '{}');",
        )
        .unwrap();
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
        assert!(stored_issues(&conn, "old").unwrap().is_empty());
        assert_eq!(
            sweep(&mut conn, Sweep::Due, 60_999, &cfg, 500, &Targets::none()).unwrap(),
            0
        );
        assert_eq!(
            sweep(&mut conn, Sweep::Due, 61_000, &cfg, 500, &Targets::none()).unwrap(),
            1
        );
        let issues = stored_issues(&conn, "old").unwrap();
        assert_eq!(issues[0].issue_type, IssueType::UnansweredPrompt);
        // Next due: when the conversation goes idle (30 minutes after its last event).
        let recheck: Option<i64> = conn
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
        let (status, recheck): (String, Option<i64>) = conn
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
        let mut conn = Connection::open_in_memory().unwrap();
        crate::collector::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, agent_id, started_at, last_message_at) VALUES ('old', 'a', 1000, 1000);
             INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, content, timestamp, client_timestamp,
                received_at, suggested_prompt, tools_used, models_used, files_uploaded, subagents_used, event_properties, context)
             VALUES ('old', 'p1', 'prompt', 'e1', 'a', 'hello?', 1000, 1000, 1000, 0, '[]', '[]', '[]', '[]', '{}', '{}');",
        )
        .unwrap();
        let cfg = AnalysisConfig::default();
        let hooks = crate::collector::webhooks::WebhookConfig {
            urls: vec!["http://127.0.0.1:1/h".into()],
            ..Default::default()
        }
        .targets();
        let queued = |conn: &Connection| -> Vec<String> {
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
        assert!(queued(&conn).is_empty());
        // A new verdict of the same conversation: unchanged, nothing.
        refresh(&conn, ["old"], idle + 1, &cfg, &hooks).unwrap();
        assert!(queued(&conn).is_empty());
        // Forgotten and judged again through the write path: a new issue type, then the end.
        forget(&conn, "old").unwrap();
        refresh(&conn, ["old"], idle + 2, &cfg, &hooks).unwrap();
        assert_eq!(
            queued(&conn),
            ["conversation.flagged", "conversation.ended"]
        );
        refresh(&conn, ["old"], idle + 3, &cfg, &hooks).unwrap();
        assert_eq!(queued(&conn).len(), 2, "once per change");
    }

    #[test]
    fn search_patterns_escape_their_syntax() {
        assert_eq!(fts_query("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(like_pattern("50%_\\"), "%50\\%\\_\\\\%");
        assert_eq!(search_filter("ab").0, CONTAINS);
        assert_eq!(search_filter("日本").0, CONTAINS);
        assert_eq!(search_filter("abc").0, MATCHES);
    }

    #[test]
    fn truthy_errors() {
        let conn = Connection::open_in_memory().unwrap();
        let judge = |json: &str| -> bool {
            conn.query_row(
                "SELECT json_type(?1, '$.error'), json_extract(?1, '$.error')",
                [json],
                |r| {
                    Ok(truthy(
                        r.get::<_, Option<String>>(0)?.as_deref(),
                        &r.get::<_, Sql>(1)?,
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
