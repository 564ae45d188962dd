//! Every SQL statement of the model insights: the schema step, the candidate search, claims
//! with a lease and the hourly cap, the results, the transcript read and the API's view.
//! Written over [`crate::collector::db::Conn`] for SQLite and PostgreSQL (there a claim locks
//! the conversation row and the hour's usage row, so the cap holds across collectors).
//!
//! Tables:
//!
//! - `conversation_insights`: one row per conversation, for the version it was asked about
//!   (`last_message_at`): `status` `pending` (claimed, or waiting for a retry at
//!   `next_attempt_at`), `ready` (the five fields, `model`, `generated_at`) or `failed`
//!   (`error`); `attempts` of that version; the claim's `lease_owner` and `lease_until`.
//!   A conversation whose `last_message_at` moved on is a candidate again.
//! - `insight_usage`: requests sent per clock hour (`hour` = unix ms / 3,600,000), over
//!   every collector sharing the database: the per-hour cap. Rows older than a day are
//!   pruned at each claim.

use crate::collector::db::{self, params, Conn};

use super::answer::Insights;
use super::prompt::{Turn, HEAD_ROWS, MESSAGE_CHARS, TAIL_ROWS};

/// The schema step of the insights.
pub const MIGRATION: &str = r#"
CREATE TABLE conversation_insights (
    conversation_id TEXT PRIMARY KEY,
    last_message_at INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    model           TEXT,
    summary         TEXT,
    sentiment       TEXT,
    sentiment_score REAL,
    task_completed  INTEGER,
    topics          TEXT,
    generated_at    INTEGER,
    error           TEXT
) WITHOUT ROWID;
CREATE TABLE insight_usage (
    hour     INTEGER PRIMARY KEY,
    requests INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX conversation_analysis_status ON conversation_analysis (status);
"#;

/// Schema step 4 on PostgreSQL (`task_completed` stays an integer 0/1, as on SQLite).
pub const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE conversation_insights (
    conversation_id TEXT PRIMARY KEY,
    last_message_at BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    model           TEXT,
    summary         TEXT,
    sentiment       TEXT,
    sentiment_score DOUBLE PRECISION,
    task_completed  BIGINT,
    topics          TEXT,
    generated_at    BIGINT,
    error           TEXT
);
CREATE TABLE insight_usage (
    hour     BIGINT PRIMARY KEY,
    requests BIGINT NOT NULL
);
CREATE INDEX conversation_analysis_status ON conversation_analysis (status);
"#;

/// One hour in ms: the unit of the cap.
pub const HOUR_MS: i64 = 3_600_000;

/// Rows kept in `insight_usage` (hours).
const USAGE_KEPT_HOURS: i64 = 24;

/// The candidate condition: ended, and no insights row for the current version, or one
/// waiting for a retry that is due and not leased.
const CANDIDATES: &str = "SELECT c.id, c.last_message_at FROM conversation_analysis a
    JOIN conversations c ON c.id = a.conversation_id
    LEFT JOIN conversation_insights i ON i.conversation_id = a.conversation_id
    WHERE a.status = 'ended'
      AND (i.conversation_id IS NULL OR i.last_message_at <> c.last_message_at
           OR (i.status = 'pending' AND i.next_attempt_at <= ?1 AND coalesce(i.lease_until, 0) <= ?1))
    LIMIT ?2";

/// Up to `n` conversations to ask about at `now`: `(id, last_message_at)`. On a read
/// connection: [`claim`] checks each again.
pub fn candidates(conn: &mut Conn<'_, '_>, now: i64, n: usize) -> db::Result<Vec<(String, i64)>> {
    conn.rows(CANDIDATES, params![now, n as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// Requests counted in the hour of `now`.
pub fn used_this_hour(conn: &mut Conn<'_, '_>, now: i64) -> db::Result<u32> {
    let n: Option<i64> = conn.row_opt(
        "SELECT requests FROM insight_usage WHERE hour = ?1",
        params![now.div_euclid(HOUR_MS)],
        |r| r.get(0),
    )?;
    Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX))
}

/// One claimed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The conversation.
    pub conversation_id: String,
    /// Its version asked about.
    pub last_message_at: i64,
    /// This attempt's number for that version, from 1.
    pub attempt: u32,
}

/// What [`claim`] got.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Attempts claimed; each is counted in the hour's usage.
    pub jobs: Vec<Job>,
    /// The hour's cap is reached: nothing more until this time (unix ms).
    pub cap_until: Option<i64>,
}

/// The limits of a claim.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    /// The claimer (one id per collector process).
    pub owner: &'a str,
    /// How long the claim holds (ms).
    pub lease_ms: i64,
    /// Requests per clock hour over every collector.
    pub per_hour: u32,
    /// Attempts per version.
    pub max_attempts: u32,
}

/// Claims, in one write transaction, up to `want` of `candidates` at `now`: each is checked
/// again (still ended at the same `last_message_at`; not claimed by another worker, not
/// waiting for a retry), leased to `rules.owner`, and counted in the hour's usage; never more
/// than the hour's cap leaves. A row whose last attempt's lease expired after the last
/// allowed attempt is recorded as failed instead.
pub fn claim(
    conn: &mut Conn<'_, '_>,
    candidates: &[(String, i64)],
    want: usize,
    now: i64,
    rules: ClaimRules<'_>,
) -> db::Result<Claim> {
    let tx = conn;
    let hour = now.div_euclid(HOUR_MS);
    if tx.dialect() == db::Dialect::Postgres {
        // Collectors sharing the database count the hour's requests one claim at a time
        // (the hour's row locked until this transaction ends), so the cap holds over all.
        tx.execute(
            "INSERT INTO insight_usage (hour, requests) VALUES (?1, 0) ON CONFLICT DO NOTHING",
            params![hour],
        )?;
        tx.execute(
            "SELECT requests FROM insight_usage WHERE hour = ?1 FOR UPDATE",
            params![hour],
        )?;
    }
    let used = used_this_hour(tx, now)?;
    let room = rules.per_hour.saturating_sub(used) as usize;
    let mut out = Claim::default();
    for (id, version) in candidates {
        if out.jobs.len() >= want {
            break;
        }
        if out.jobs.len() >= room {
            out.cap_until = Some((hour + 1) * HOUR_MS);
            break;
        }
        if tx.dialect() == db::Dialect::Postgres {
            // Collectors sharing the database claim a conversation one at a time: the second
            // waits here, then reads the first one's claim below.
            tx.execute(
                "SELECT 1 FROM conversations WHERE id = ?1 FOR UPDATE",
                params![id],
            )?;
        }
        let current: Option<i64> = tx
            .row_opt("SELECT c.last_message_at FROM conversations c JOIN conversation_analysis a ON a.conversation_id = c.id
                 WHERE c.id = ?1 AND a.status = 'ended'", params![id], |r| r.get(0))?;
        if current != Some(*version) {
            continue;
        }
        let row: Option<(i64, String, u32, i64, Option<i64>)> = tx.row_opt(
            "SELECT last_message_at, status, attempts, next_attempt_at, lease_until
                 FROM conversation_insights WHERE conversation_id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let lease_until = now.saturating_add(rules.lease_ms);
        let attempt = match row {
            Some((v, status, attempts, next_at, lease)) if v == *version => {
                if status != "pending" || next_at > now || lease.is_some_and(|l| l > now) {
                    continue;
                }
                if attempts >= rules.max_attempts {
                    tx.execute("UPDATE conversation_insights SET status = 'failed', lease_owner = NULL, lease_until = NULL,
                            error = 'gave up after ' || attempts || ' attempts; the last one was never finished (its collector stopped)'
                         WHERE conversation_id = ?1", params![id])?;
                    continue;
                }
                tx.execute("UPDATE conversation_insights SET attempts = attempts + 1, lease_owner = ?2, lease_until = ?3
                     WHERE conversation_id = ?1", params![id, rules.owner, lease_until])?;
                attempts + 1
            }
            _ => {
                tx.execute("INSERT INTO conversation_insights (conversation_id, last_message_at, status, attempts,
                        next_attempt_at, lease_owner, lease_until)
                     VALUES (?1, ?2, 'pending', 1, 0, ?3, ?4)
                     ON CONFLICT (conversation_id) DO UPDATE SET last_message_at = excluded.last_message_at,
                        status = 'pending', attempts = 1, next_attempt_at = 0, lease_owner = excluded.lease_owner,
                        lease_until = excluded.lease_until, model = NULL, summary = NULL, sentiment = NULL,
                        sentiment_score = NULL, task_completed = NULL, topics = NULL, generated_at = NULL, error = NULL", params![id, version, rules.owner, lease_until])?;
                1
            }
        };
        tx.execute(
            "INSERT INTO insight_usage (hour, requests) VALUES (?1, 1)
             ON CONFLICT (hour) DO UPDATE SET requests = insight_usage.requests + 1",
            params![hour],
        )?;
        out.jobs.push(Job {
            conversation_id: id.clone(),
            last_message_at: *version,
            attempt,
        });
    }
    tx.execute(
        "DELETE FROM insight_usage WHERE hour < ?1",
        params![hour - USAGE_KEPT_HOURS],
    )?;
    Ok(out)
}

/// The messages of conversation `id` for the transcript: `(total, head, tail)`, the first
/// [`HEAD_ROWS`] and the last [`TAIL_ROWS`] in time order, each text cut to one character
/// more than [`MESSAGE_CHARS`] (so the cut shows).
pub fn turns(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<(usize, Vec<Turn>, Vec<Turn>)> {
    let total: i64 = conn.row(
        "SELECT count(*) FROM messages WHERE conversation_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    let mut read = |order: &str, n: usize| -> db::Result<Vec<Turn>> {
        conn.rows(
            &format!(
                "SELECT type, substr(content, 1, ?2) FROM messages WHERE conversation_id = ?1
                 ORDER BY timestamp {order}, seq {order} LIMIT ?3"
            ),
            params![id, (MESSAGE_CHARS + 1) as i64, n as i64],
            |r| {
                Ok(Turn {
                    kind: r.get(0)?,
                    content: r.get(1)?,
                })
            },
        )
    };
    let head = read("ASC", HEAD_ROWS)?;
    let mut tail = read("DESC", TAIL_ROWS)?;
    tail.reverse();
    Ok((usize::try_from(total).unwrap_or(0), head, tail))
}

/// Where a finished attempt writes: only while `owner` still holds the claim on that
/// version (a deleted or resumed conversation, or a lease taken over, writes nothing).
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The conversation.
    pub conversation_id: &'a str,
    /// The version asked about.
    pub last_message_at: i64,
    /// The claimer.
    pub owner: &'a str,
}

const HELD: &str = "conversation_id = ?1 AND last_message_at = ?2 AND lease_owner = ?3";

/// Stores the insights; `false` when the claim was lost.
pub fn record_ready(
    conn: &mut Conn<'_, '_>,
    at: Finish<'_>,
    model: &str,
    insights: &Insights,
    now: i64,
) -> db::Result<bool> {
    let topics = serde_json::to_string(&insights.topics).unwrap_or_else(|_| "[]".into());
    let n = conn
        .execute(&format!(
            "UPDATE conversation_insights SET status = 'ready', lease_owner = NULL, lease_until = NULL, error = NULL,
                model = ?4, summary = ?5, sentiment = ?6, sentiment_score = ?7, task_completed = ?8, topics = ?9,
                generated_at = ?10
             WHERE {HELD}"
        ), params![
            at.conversation_id,
            at.last_message_at,
            at.owner,
            model,
            insights.summary,
            insights.sentiment,
            insights.sentiment_score,
            insights.task_completed,
            topics,
            now
        ])?;
    Ok(n == 1)
}

/// Releases the claim with `error`, to be tried again at `next_attempt_at`.
pub fn record_retry(
    conn: &mut Conn<'_, '_>,
    at: Finish<'_>,
    error: &str,
    next_attempt_at: i64,
) -> db::Result<bool> {
    let n = conn
        .execute(&format!(
            "UPDATE conversation_insights SET lease_owner = NULL, lease_until = NULL, error = ?4, next_attempt_at = ?5
             WHERE {HELD}"
        ), params![at.conversation_id, at.last_message_at, at.owner, error, next_attempt_at])?;
    Ok(n == 1)
}

/// Records the version as failed with `error` (asked again only when the conversation
/// resumes and ends again).
pub fn record_failed(
    conn: &mut Conn<'_, '_>,
    at: Finish<'_>,
    model: &str,
    error: &str,
) -> db::Result<bool> {
    let n = conn
        .execute(&format!(
            "UPDATE conversation_insights SET status = 'failed', lease_owner = NULL, lease_until = NULL, error = ?4, model = ?5
             WHERE {HELD}"
        ), params![at.conversation_id, at.last_message_at, at.owner, error, model])?;
    Ok(n == 1)
}

/// Removes the insights of conversation `id` (in the caller's transaction).
pub fn forget(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<()> {
    conn.execute(
        "DELETE FROM conversation_insights WHERE conversation_id = ?1",
        params![id],
    )?;
    Ok(())
}

/// The stored verdict of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `active` or `ended`.
    pub status: String,
    /// Its outcome (meaningful once ended).
    pub outcome: String,
    /// Its issue types.
    pub issues: Vec<String>,
}

/// The insights row of a conversation's current version.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// `pending`, `ready` or `failed`.
    pub status: String,
    /// The five fields when ready.
    pub insights: Option<Insights>,
    /// The model asked.
    pub model: Option<String>,
    /// When the insights were stored (unix ms).
    pub generated_at: Option<i64>,
    /// Attempts of this version.
    pub attempts: u32,
    /// The last failure.
    pub error: Option<String>,
}

/// What the API shows for conversation `id`: `None` when there is none; else its verdict
/// (if judged) and the insights row when it is for the current version.
pub fn view(
    conn: &mut Conn<'_, '_>,
    id: &str,
) -> db::Result<Option<(Option<Verdict>, Option<Stored>)>> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u32>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<f64>,
        Option<bool>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let row: Option<Row> = conn
        .row_opt("SELECT a.status, a.outcome, a.issue_types, i.status, i.attempts, i.model, i.summary, i.sentiment,
                    i.sentiment_score, i.task_completed, i.topics, i.generated_at, i.error
             FROM conversations c
             LEFT JOIN conversation_analysis a ON a.conversation_id = c.id
             LEFT JOIN conversation_insights i ON i.conversation_id = c.id AND i.last_message_at = c.last_message_at
             WHERE c.id = ?1", params![id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
            ))
        })?;
    let Some((
        a_status,
        outcome,
        issues,
        status,
        attempts,
        model,
        summary,
        sentiment,
        score,
        done,
        topics,
        generated_at,
        error,
    )) = row
    else {
        return Ok(None);
    };
    let verdict = match (a_status, outcome) {
        (Some(status), Some(outcome)) => Some(Verdict {
            status,
            outcome,
            issues: issues
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        }),
        _ => None,
    };
    let stored = status.map(|status| {
        let insights = match (summary, sentiment, score, done) {
            (Some(summary), Some(sentiment), Some(sentiment_score), Some(task_completed))
                if status == "ready" =>
            {
                Some(Insights {
                    summary,
                    sentiment,
                    sentiment_score,
                    task_completed,
                    topics: topics
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or_default(),
                })
            }
            _ => None,
        };
        Stored {
            status,
            insights,
            model,
            generated_at,
            attempts: attempts.unwrap_or(0),
            error,
        }
    });
    Ok(Some((verdict, stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::collector::schema::in_memory as db;

    fn ended(conn: &mut Conn<'_, '_>, id: &str, last: i64) {
        conn.execute(
            "INSERT OR REPLACE INTO conversations (id, agent_id, started_at, last_message_at) VALUES (?1, 'a', ?2, ?2)",
            params![id, last],
        )
        .unwrap();
        conn.execute(
            "INSERT OR REPLACE INTO conversation_analysis (conversation_id, agent_id, status, outcome, ended_at, duration_seconds,
                issue_types, issue_count, analyzed_at) VALUES (?1, 'a', 'ended', 'completed', ?2, 0, '[]', 0, ?2)",
            params![id, last],
        )
        .unwrap();
    }

    const RULES: ClaimRules<'static> = ClaimRules {
        owner: "w1",
        lease_ms: 2 * HOUR_MS,
        per_hour: 3,
        max_attempts: 2,
    };

    fn claim_all(conn: &mut Conn<'_, '_>, now: i64, rules: ClaimRules<'_>) -> Claim {
        let c = candidates(conn, now, 100).unwrap();
        claim(conn, &c, 100, now, rules).unwrap()
    }

    #[test]
    fn claims_lease_count_and_respect_the_hourly_cap() {
        let raw = db();
        let mut conn = Conn::Sqlite(&raw);
        for id in ["a", "b", "c", "d"] {
            ended(&mut conn, id, 1);
        }
        let now = 10 * HOUR_MS + 5;
        let first = claim_all(&mut conn, now, RULES);
        assert_eq!(first.jobs.len(), 3);
        assert_eq!(first.cap_until, Some(11 * HOUR_MS));
        assert_eq!(used_this_hour(&mut conn, now).unwrap(), 3);
        // Leased: another worker gets nothing, even in the next hour.
        let other = ClaimRules {
            owner: "w2",
            ..RULES
        };
        let next_hour = 11 * HOUR_MS;
        let second = claim_all(&mut conn, next_hour, other);
        assert_eq!(second.jobs.len(), 1, "{second:?}");
        assert_eq!(second.jobs[0].conversation_id, "d");
        // A lost claim (the lease expired) is taken over, as attempt 2.
        let later = 12 * HOUR_MS + 10;
        let third = claim_all(&mut conn, later, other);
        assert_eq!(third.jobs.len(), 3, "{third:?}");
        assert!(third.jobs.iter().all(|j| j.attempt == 2));
        // The first worker's late result is not written.
        let j = &first.jobs[0];
        let stale = Finish {
            conversation_id: &j.conversation_id,
            last_message_at: 1,
            owner: "w1",
        };
        assert!(!record_retry(&mut conn, stale, "x", 0).unwrap());
    }

    #[test]
    fn retries_wait_failures_stay_and_a_new_version_is_asked_again() {
        let raw = db();
        let mut conn = Conn::Sqlite(&raw);
        ended(&mut conn, "a", 1);
        let rules = ClaimRules {
            per_hour: 100,
            ..RULES
        };
        let job = claim_all(&mut conn, 100, rules).jobs.remove(0);
        let at = Finish {
            conversation_id: "a",
            last_message_at: 1,
            owner: "w1",
        };
        assert!(record_retry(&mut conn, at, "HTTP 503", 500).unwrap());
        assert_eq!(job.attempt, 1);
        assert!(claim_all(&mut conn, 499, rules).jobs.is_empty());
        let job = claim_all(&mut conn, 500, rules).jobs.remove(0);
        assert_eq!(job.attempt, 2);
        assert!(record_failed(&mut conn, at, "m", "HTTP 503").unwrap());
        assert!(claim_all(&mut conn, 10_000, rules).jobs.is_empty());
        let (_, stored) = view(&mut conn, "a").unwrap().unwrap();
        let stored = stored.unwrap();
        assert_eq!((stored.status.as_str(), stored.attempts), ("failed", 2));
        // Resumed and ended again: a new version, asked from attempt 1.
        ended(&mut conn, "a", 2);
        assert_eq!(view(&mut conn, "a").unwrap().unwrap().1, None);
        let job = claim_all(&mut conn, 10_000, rules).jobs.remove(0);
        assert_eq!((job.last_message_at, job.attempt), (2, 1));
        // Deleted: forgotten.
        forget(&mut conn, "a").unwrap();
        let n: i64 = raw
            .query_row("SELECT count(*) FROM conversation_insights", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn an_expired_last_attempt_is_recorded_as_failed() {
        let raw = db();
        let mut conn = Conn::Sqlite(&raw);
        ended(&mut conn, "a", 1);
        let rules = ClaimRules {
            per_hour: 100,
            max_attempts: 1,
            lease_ms: 1000,
            ..RULES
        };
        assert_eq!(claim_all(&mut conn, 0, rules).jobs.len(), 1);
        assert!(claim_all(&mut conn, 5000, rules).jobs.is_empty());
        let stored = view(&mut conn, "a").unwrap().unwrap().1.unwrap();
        assert_eq!(stored.status, "failed");
        assert!(stored
            .error
            .unwrap()
            .starts_with("gave up after 1 attempts"));
    }
}
