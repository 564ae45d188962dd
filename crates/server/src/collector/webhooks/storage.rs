//! Every SQL statement of the webhook outbox: the schema step, queueing events (in the
//! caller's transaction), claiming due rows with a lease, recording attempts, deletion with
//! a conversation, pruning, and the deliveries listing, over [`crate::collector::db::Conn`]
//! for SQLite and PostgreSQL: the claim is one `UPDATE ... WHERE id IN (SELECT ...)
//! RETURNING`, on PostgreSQL with `FOR UPDATE SKIP LOCKED` in its inner select.
//!
//! Table `webhook_outbox`, one row per (event, URL):
//!
//! - `webhook_id`: the `webhook-id` header, the same on every attempt.
//! - `body`: the exact bytes signed and sent on every attempt; set to `NULL` once the row
//!   is `delivered` or `failed`, so only content-free columns remain.
//! - `status`: `pending`, `delivered` or `failed` (final).
//! - `next_attempt_at`: when a pending row is due; `lease_until`/`lease_owner`: which
//!   process holds a claimed row and until when (an expired lease is free to claim again).
//! - `attempts`, `last_status_code`, `last_error`: what the attempts got.

use crate::collector::db::{self, params, Conn, Value as Sql};

use super::events::Event;
use super::Targets;

/// Schema step: the outbox.
pub const MIGRATION: &str = r#"
CREATE TABLE webhook_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       TEXT NOT NULL UNIQUE,
    url              TEXT NOT NULL,
    type             TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    body             TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    lease_until      INTEGER,
    lease_owner      TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_outbox_queue ON webhook_outbox (url, conversation_id, id) WHERE status = 'pending';
CREATE INDEX webhook_outbox_conversation ON webhook_outbox (conversation_id);
"#;

/// Schema step 5 on PostgreSQL.
pub const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE webhook_outbox (
    id               BIGSERIAL PRIMARY KEY,
    webhook_id       TEXT NOT NULL UNIQUE,
    url              TEXT NOT NULL,
    type             TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    body             TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT,
    lease_until      BIGINT,
    lease_owner      TEXT,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_outbox_queue ON webhook_outbox (url, conversation_id, id) WHERE status = 'pending';
CREATE INDEX webhook_outbox_conversation ON webhook_outbox (conversation_id);
"#;

/// A new `webhook-id`: `msg_` and 32 hex digits of OS randomness.
pub fn new_webhook_id() -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// Queues `events` for every target at `now`, in the caller's transaction. Nothing without
/// targets.
pub fn enqueue(
    conn: &mut Conn<'_, '_>,
    targets: &Targets,
    events: &[Event],
    now: i64,
) -> db::Result<()> {
    if targets.is_empty() || events.is_empty() {
        return Ok(());
    }
    for e in events {
        for url in targets.urls() {
            conn.execute(
                "INSERT INTO webhook_outbox (webhook_id, url, type, conversation_id, body, status, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
                params![
                    new_webhook_id(),
                    url,
                    e.kind.as_str(),
                    e.conversation_id,
                    e.body,
                    now
                ],
            )?;
        }
    }
    Ok(())
}

/// A row claimed for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// `webhook-id`.
    pub webhook_id: String,
    /// Where to send it.
    pub url: String,
    /// The body to send.
    pub body: String,
    /// Attempts before this one.
    pub attempts: i64,
    /// When it was queued, unix ms.
    pub created_at: i64,
}

/// Claims up to `n` due rows for `urls` at `now`, for `owner` until `lease_until`: pending,
/// `next_attempt_at` reached, not leased (or the lease expired), and no older pending row of
/// the same (URL, conversation), which keeps each conversation's events in order per URL.
/// One statement, so two processes never claim the same row.
///
/// Cost: the due index is walked in order and stops after `n` claimable rows (the unary `+`
/// keeps SQLite from choosing the per-URL index, which would sort every pending row); rows
/// held back by an older one of their conversation are skipped one by one.
pub fn claim(
    conn: &mut Conn<'_, '_>,
    urls: &[String],
    owner: &str,
    now: i64,
    lease_until: i64,
    n: usize,
) -> db::Result<Vec<Claimed>> {
    let urls = serde_json::to_string(urls).unwrap_or_else(|_| "[]".into());
    let sql = match conn.dialect() {
        db::Dialect::Sqlite => CLAIM_SQLITE,
        db::Dialect::Postgres => CLAIM_POSTGRES,
    };
    let mut out = conn.rows(sql, params![lease_until, owner, now, urls, n as i64], |r| {
        Ok(Claimed {
            id: r.get(0)?,
            webhook_id: r.get(1)?,
            url: r.get(2)?,
            body: r.get(3)?,
            attempts: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    out.sort_by_key(|c| c.id);
    Ok(out)
}

/// [`claim`] on SQLite (one writer: the statement is the claim).
const CLAIM_SQLITE: &str = "UPDATE webhook_outbox SET lease_until = ?1, lease_owner = ?2
         WHERE id IN (
             SELECT o.id FROM webhook_outbox o
             WHERE o.status = 'pending' AND o.next_attempt_at <= ?3
               AND (o.lease_until IS NULL OR o.lease_until <= ?3)
               AND +o.url IN (SELECT value FROM json_each(?4))
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_outbox p
                   WHERE p.status = 'pending' AND p.url = o.url
                     AND p.conversation_id = o.conversation_id AND p.id < o.id)
             ORDER BY o.next_attempt_at, o.id
             LIMIT ?5)
         RETURNING id, webhook_id, url, coalesce(body, ''), attempts, created_at";

/// [`claim`] on PostgreSQL: the candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so
/// collectors sharing the database never claim the same row nor wait for each other.
const CLAIM_POSTGRES: &str = "UPDATE webhook_outbox SET lease_until = ?1, lease_owner = ?2
         WHERE id IN (
             SELECT o.id FROM webhook_outbox o
             WHERE o.status = 'pending' AND o.next_attempt_at <= ?3
               AND (o.lease_until IS NULL OR o.lease_until <= ?3)
               AND o.url IN (SELECT jsonb_array_elements_text(CAST(?4 AS TEXT)::jsonb))
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_outbox p
                   WHERE p.status = 'pending' AND p.url = o.url
                     AND p.conversation_id = o.conversation_id AND p.id < o.id)
             ORDER BY o.next_attempt_at, o.id
             LIMIT ?5
             FOR UPDATE SKIP LOCKED)
         RETURNING id, webhook_id, url, coalesce(body, ''), attempts, created_at";

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx at this time.
    Delivered {
        /// The status code.
        status: u16,
        /// When, unix ms.
        at: i64,
    },
    /// Another attempt at `next_at`.
    Retry {
        /// The status code, when an answer came.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When to try again, unix ms.
        next_at: i64,
    },
    /// No more attempts.
    Failed {
        /// The status code, when an answer came.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
}

/// Records an attempt on row `id` claimed by `owner` and releases the lease. Returns
/// whether the row was still this owner's (a row deleted meanwhile, or re-claimed after the
/// lease expired, is left alone).
pub fn record(
    conn: &mut Conn<'_, '_>,
    id: i64,
    owner: &str,
    attempt: &Attempt,
) -> db::Result<bool> {
    let n = match attempt {
        Attempt::Delivered { status, at } => conn.execute(
                "UPDATE webhook_outbox SET status = 'delivered', body = NULL, attempts = attempts + 1,
                    last_status_code = ?3, last_error = NULL, delivered_at = ?4, next_attempt_at = NULL,
                    lease_until = NULL, lease_owner = NULL
                 WHERE id = ?1 AND lease_owner = ?2",
                params![id, owner, status, at],
            )?,
        Attempt::Retry {
            status,
            error,
            next_at,
        } => conn.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_status_code = ?3, last_error = ?4,
                    next_attempt_at = ?5, lease_until = NULL, lease_owner = NULL
                 WHERE id = ?1 AND lease_owner = ?2",
                params![id, owner, status, error, next_at],
            )?,
        Attempt::Failed { status, error } => conn.execute(
                "UPDATE webhook_outbox SET status = 'failed', body = NULL, attempts = attempts + 1,
                    last_status_code = ?3, last_error = ?4, next_attempt_at = NULL,
                    lease_until = NULL, lease_owner = NULL
                 WHERE id = ?1 AND lease_owner = ?2",
                params![id, owner, status, error],
            )?,
    };
    Ok(n == 1)
}

/// The worker's one write per round, in one transaction: records the finished `attempts`
/// (row id, what came of it) of `owner`, then claims up to `n` due rows (see [`claim`]).
pub fn record_and_claim(
    conn: &mut Conn<'_, '_>,
    owner: &str,
    attempts: &[(i64, Attempt)],
    urls: &[String],
    now: i64,
    lease_until: i64,
    n: usize,
) -> db::Result<Vec<Claimed>> {
    for (id, attempt) in attempts {
        record(conn, *id, owner, attempt)?;
    }
    if n > 0 {
        claim(conn, urls, owner, now, lease_until, n)
    } else {
        Ok(Vec::new())
    }
}

/// Deletes every outbox row of conversation `id` (pending ones hold its content; the final
/// ones name it), in the caller's transaction.
pub fn forget(conn: &mut Conn<'_, '_>, id: &str) -> db::Result<()> {
    conn.execute(
        "DELETE FROM webhook_outbox WHERE conversation_id = ?1",
        params![id],
    )?;
    Ok(())
}

/// Deletes delivered and failed rows queued before `before`; returns how many.
pub fn prune(conn: &mut Conn<'_, '_>, before: i64) -> db::Result<u64> {
    conn.execute(
        "DELETE FROM webhook_outbox WHERE status <> 'pending' AND created_at < ?1",
        params![before],
    )
}

/// Filters of the deliveries listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<&'static str>,
    /// An event type's wire name.
    pub kind: Option<&'static str>,
    /// One conversation.
    pub conversation_id: Option<String>,
    /// Rows older than this id (the cursor).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// One outbox row as the deliveries listing shows it (the URL in full: the API redacts it
/// before it is shown). Serialized as the API's delivery: the row id is only the cursor; times
/// are unix ms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Row id (the cursor).
    #[serde(skip_serializing)]
    pub id: i64,
    /// The `webhook-id`, the same on every attempt.
    pub webhook_id: String,
    /// The receiver.
    pub url: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The conversation.
    pub conversation_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Status code of the last answer, when one came.
    pub last_status_code: Option<i64>,
    /// What the last failed attempt got.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: i64,
    /// When it is next attempted (pending only).
    pub next_attempt_at: Option<i64>,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
}

/// Up to `filter.limit + 1` rows, newest first (one more than a page tells whether there is
/// a next one).
pub fn list(conn: &mut Conn<'_, '_>, filter: &Filter) -> db::Result<Vec<Row>> {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(s) = filter.status {
        clauses.push("status = ?");
        values.push(Sql::Text(s.to_owned()));
    }
    if let Some(t) = filter.kind {
        clauses.push("type = ?");
        values.push(Sql::Text(t.to_owned()));
    }
    if let Some(c) = &filter.conversation_id {
        clauses.push("conversation_id = ?");
        values.push(Sql::Text(c.clone()));
    }
    if let Some(id) = filter.before_id {
        clauses.push("id < ?");
        values.push(Sql::Int(id));
    }
    values.push(Sql::Int(filter.limit + 1));
    let w = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT id, webhook_id, url, type, conversation_id, status, attempts, last_status_code, last_error,
                created_at, next_attempt_at, delivered_at
         FROM webhook_outbox {w} ORDER BY id DESC LIMIT ?"
    );
    conn.rows(&sql, &db::refs(&values), |r| {
        Ok(Row {
            id: r.get(0)?,
            webhook_id: r.get(1)?,
            url: r.get(2)?,
            kind: r.get(3)?,
            conversation_id: r.get(4)?,
            status: r.get(5)?,
            attempts: r.get(6)?,
            last_status_code: r.get(7)?,
            last_error: r.get(8)?,
            created_at: r.get(9)?,
            next_attempt_at: r.get(10)?,
            delivered_at: r.get(11)?,
        })
    })
}

/// Outbox rows by status, for tests and tools: `(pending, delivered, failed)`.
pub fn counts(conn: &mut Conn<'_, '_>) -> db::Result<(i64, i64, i64)> {
    conn.row(
        "SELECT CAST(coalesce(sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM webhook_outbox",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::webhooks::EventType;

    use crate::collector::schema::in_memory as db;

    fn event(conversation: &str) -> Event {
        Event {
            kind: EventType::ReactionNegative,
            conversation_id: conversation.into(),
            body: format!("{{\"c\":\"{conversation}\"}}"),
        }
    }

    #[test]
    fn claims_are_leased_ordered_per_conversation_and_exclusive() {
        let raw = db();
        let mut conn = Conn::Sqlite(&raw);
        let targets = Targets(vec!["http://a/".to_string(), "http://b/".to_string()].into());
        enqueue(
            &mut conn,
            &targets,
            &[event("c1"), event("c1"), event("c2")],
            1000,
        )
        .unwrap();
        let urls = targets.urls().to_vec();
        // Per URL: c1's first and c2's only row; c1's second waits for its first.
        let first = claim(&mut conn, &urls, "p1", 1000, 61_000, 10).unwrap();
        assert_eq!(first.len(), 4);
        // Leased: another process gets nothing.
        assert!(claim(&mut conn, &urls, "p2", 2000, 62_000, 10)
            .unwrap()
            .is_empty());
        // An expired lease is free again (p1 died).
        let again = claim(&mut conn, &urls, "p2", 61_000, 121_000, 10).unwrap();
        assert_eq!(again.len(), 4);
        assert!(!record(
            &mut conn,
            again[0].id,
            "p1",
            &Attempt::Delivered { status: 200, at: 1 }
        )
        .unwrap());
        for c in &again {
            assert!(record(
                &mut conn,
                c.id,
                "p2",
                &Attempt::Delivered {
                    status: 204,
                    at: 61_001
                }
            )
            .unwrap());
        }
        // Now c1's second row per URL.
        let next = claim(&mut conn, &urls, "p2", 61_002, 121_000, 10).unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(counts(&mut conn).unwrap(), (2, 4, 0));
        // Delivered rows keep no body.
        let bodies: i64 = raw
            .query_row(
                "SELECT count(*) FROM webhook_outbox WHERE body IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(bodies, 2);
        // Only the configured URLs are claimed.
        forget(&mut conn, "c1").unwrap();
        assert_eq!(counts(&mut conn).unwrap(), (0, 2, 0));
        assert_eq!(prune(&mut conn, 1001).unwrap(), 2);
    }

    #[test]
    fn only_configured_urls_are_claimed_and_nothing_queues_without_targets() {
        let raw = db();
        let mut conn = Conn::Sqlite(&raw);
        enqueue(&mut conn, &Targets::none(), &[event("c")], 1).unwrap();
        assert_eq!(counts(&mut conn).unwrap(), (0, 0, 0));
        let targets = Targets(vec!["http://old/".to_string()].into());
        enqueue(&mut conn, &targets, &[event("c")], 1).unwrap();
        assert!(claim(&mut conn, &["http://new/".into()], "p", 5, 10, 4)
            .unwrap()
            .is_empty());
        assert_eq!(
            claim(&mut conn, &["http://old/".into()], "p", 5, 10, 4)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn one_transaction_records_attempts_and_claims_the_next_rows() {
        let raw = db();
        let mut conn = Conn::Sqlite(&raw);
        let targets = Targets(vec!["http://a/".to_string()].into());
        enqueue(
            &mut conn,
            &targets,
            &[event("c1"), event("c1"), event("c2")],
            1000,
        )
        .unwrap();
        let urls = targets.urls().to_vec();
        let first = record_and_claim(&mut conn, "p", &[], &urls, 1000, 5000, 4).unwrap();
        assert_eq!(first.len(), 2, "c1's first row and c2's");
        let results = vec![
            (
                first[0].id,
                Attempt::Delivered {
                    status: 200,
                    at: 1001,
                },
            ),
            (
                first[1].id,
                Attempt::Retry {
                    status: Some(503),
                    error: "HTTP 503".into(),
                    next_at: 9000,
                },
            ),
        ];
        let next = record_and_claim(&mut conn, "p", &results, &urls, 1002, 5000, 4).unwrap();
        assert_eq!(next.len(), 1, "c1's second row; c2's waits until 9000");
        assert_eq!(next[0].attempts, 0);
        assert_eq!(counts(&mut conn).unwrap(), (2, 1, 0));
        // At 9000: c2's retry is due, and c1's second row, whose lease (to 5000) expired
        // without a result (a process that died), is claimable again.
        let again = record_and_claim(&mut conn, "p2", &[], &urls, 9000, 20_000, 4).unwrap();
        let got: Vec<(i64, i64)> = again.iter().map(|c| (c.id, c.attempts)).collect();
        assert_eq!(got, [(next[0].id, 0), (first[1].id, 1)]);
    }

    #[test]
    fn webhook_ids_are_fresh() {
        let a = new_webhook_id();
        assert!(a.starts_with("msg_") && a.len() == 36);
        assert_ne!(a, new_webhook_id());
    }
}
