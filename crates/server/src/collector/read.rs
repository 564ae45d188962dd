//! The read path: conversation pages, one conversation, and the message export.

use super::db::{self, params, Conn, Row, Value as Sql};

use super::analysis::{storage, AnalysisConfig, IssueType, Outcome, Status};
use super::cursor::{self, Kind};
use super::merge;
use super::query::{ConversationQuery, DetailQuery, MessageQuery};
use super::view::{
    self, ConversationDetail, ConversationHead, ConversationPage, ConversationSummary,
    ExportedMessage, MessagePage, MessageView, ReactionView,
};

/// A WHERE clause built from optional filters, with its parameters in order.
#[derive(Default)]
pub(super) struct Filter {
    clauses: Vec<&'static str>,
    values: Vec<Sql>,
}

impl Filter {
    /// Adds `clause` (one `?` placeholder) when `value` is present.
    pub(super) fn add(&mut self, clause: &'static str, value: Option<impl Into<Sql>>) {
        if let Some(v) = value {
            self.clauses.push(clause);
            self.values.push(v.into());
        }
    }

    /// `WHERE a AND b` or nothing.
    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The parameters, plus `extra` at the end.
    pub(super) fn params(&self, extra: &[i64]) -> Vec<Sql> {
        self.values
            .iter()
            .cloned()
            .chain(extra.iter().map(|n| Sql::Int(*n)))
            .collect()
    }
}

fn json_list<T: serde::de::DeserializeOwned>(text: String) -> Vec<T> {
    serde_json::from_str(&text).unwrap_or_default()
}

/// Columns of a message with its reaction; `m` is messages, `r` the LEFT JOINed reactions.
const MESSAGE_COLUMNS: &str = "m.message_id, m.event_id, m.type, m.content, m.timestamp, m.suggested_prompt, m.tools_used,
    m.models_used, m.files_uploaded, m.subagents_used, m.input_tokens, m.output_tokens, m.event_properties,
    r.value, r.comments, r.timestamp, m.seq, m.conversation_id, m.agent_id, m.visitor_id";

/// Reactions attach to agent responses: a reaction's messageId names the response.
const REACTION_JOIN: &str =
    "LEFT JOIN reactions r ON r.conversation_id = m.conversation_id AND r.message_id = m.message_id AND m.type = 'agent_response'";

fn message(row: &Row<'_>) -> db::Result<MessageView> {
    let reaction_value: Option<String> = row.get(13)?;
    let reaction = match reaction_value.as_deref().and_then(merge::visible) {
        Some(value) => Some(ReactionView {
            value,
            comments: json_list(row.get(14)?),
            at: row.get(15)?,
        }),
        None => None,
    };
    Ok(MessageView {
        message_id: row.get(0)?,
        event_id: row.get(1)?,
        message_type: row.get(2)?,
        content: row.get(3)?,
        timestamp: row.get(4)?,
        suggested_prompt: row.get(5)?,
        tools_used: json_list(row.get(6)?),
        agent_models_used: json_list(row.get(7)?),
        agent_files_uploaded: json_list(row.get(8)?),
        agent_subagents_used: json_list(row.get(9)?),
        input_tokens: row.get(10)?,
        output_tokens: row.get(11)?,
        event_properties: serde_json::from_str(&row.get::<String>(12)?).unwrap_or_default(),
        reaction,
    })
}

/// The time of a read and the idle time, which decide every conversation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Unix ms.
    pub now: i64,
    /// [`AnalysisConfig::idle_ms`].
    pub idle_ms: i64,
}

impl Clock {
    /// The clock of `cfg` at `now`.
    pub fn new(now: i64, cfg: &AnalysisConfig) -> Clock {
        Clock {
            now,
            idle_ms: cfg.idle_ms,
        }
    }

    /// Conversations whose last event is at or before this have ended.
    pub fn ended_by(self) -> i64 {
        self.now.saturating_sub(self.idle_ms)
    }
}

/// One page of conversations, newest first, with the filters of `q` (status from the last
/// event's time at `clock`, the stored verdicts, full-text search).
pub fn conversations(
    conn: &mut Conn<'_, '_>,
    q: &ConversationQuery,
    clock: Clock,
) -> db::Result<ConversationPage> {
    let mut f = Filter::default();
    f.add("c.agent_id = ?", q.agent_id.clone());
    f.add("c.visitor_id = ?", q.visitor_id.clone());
    f.add("c.last_message_at >= ?", q.window.since);
    f.add("c.started_at < ?", q.window.until);
    f.add("c.seq < ?", q.before_seq);
    match q.status {
        Some(Status::Active) => f.add(storage::ACTIVE, Some(clock.ended_by())),
        Some(Status::Ended) => f.add(storage::ENDED, Some(clock.ended_by())),
        None => {}
    }
    if let Some(o) = q.outcome {
        if q.status != Some(Status::Ended) {
            f.add(storage::ENDED, Some(clock.ended_by()));
        }
        f.add(storage::OUTCOME, Some(o.as_str().to_owned()));
    }
    f.add(storage::ISSUE, q.issue.map(|t| t.as_str().to_owned()));
    match q.has_issues {
        Some(true) => f.add(storage::HAS_ISSUES, Some(0)),
        Some(false) => f.add(storage::NO_ISSUES, Some(0)),
        None => {}
    }
    if let Some(text) = &q.q {
        let (clause, value) = storage::search_filter_in(conn.dialect(), text);
        f.add(clause, Some(value));
    }
    let sql = format!(
        "SELECT c.seq, c.id, c.agent_id, c.visitor_id, c.account_id, c.started_at, c.last_message_at,
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id),
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.type = 'prompt'),
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.type = 'agent_response'),
            (SELECT count(*) FROM reactions r WHERE r.conversation_id = c.id AND r.value = 'positive'),
            (SELECT count(*) FROM reactions r WHERE r.conversation_id = c.id AND r.value = 'negative'),
            (SELECT CAST(coalesce(sum(m.input_tokens), 0) AS BIGINT) FROM messages m WHERE m.conversation_id = c.id),
            (SELECT CAST(coalesce(sum(m.output_tokens), 0) AS BIGINT) FROM messages m WHERE m.conversation_id = c.id),
            (SELECT substr(m.content, 1, 400) FROM messages m WHERE m.conversation_id = c.id AND m.type = 'prompt'
                ORDER BY m.timestamp, m.seq LIMIT 1),
            {}, CASE WHEN c.closed_at IS NOT NULL THEN 1 ELSE 0 END
         FROM conversations c {} {} ORDER BY c.seq DESC LIMIT ?",
        storage::LIST_COLUMNS,
        storage::LIST_JOIN,
        f.sql()
    );
    let mut page = Vec::new();
    let mut seqs = Vec::new();
    conn.each(&sql, &db::refs(&f.params(&[q.limit + 1])), |row| {
        seqs.push(row.get::<i64>(0)?);
        let head = head(row, 1)?;
        let closed: bool = row.get(17)?;
        let status = if closed {
            Status::Ended
        } else {
            Status::at(head.last_message_at, clock.now, clock.idle_ms)
        };
        let outcome = match status {
            Status::Ended => row
                .get::<Option<String>>(15)?
                .as_deref()
                .and_then(Outcome::parse),
            Status::Active => None,
        };
        let issue_types: Vec<String> = json_list(row.get(16)?);
        page.push(ConversationSummary {
            head,
            message_count: row.get(7)?,
            prompt_count: row.get(8)?,
            response_count: row.get(9)?,
            positive_reactions: row.get(10)?,
            negative_reactions: row.get(11)?,
            input_tokens: row.get(12)?,
            output_tokens: row.get(13)?,
            title: row.get::<Option<String>>(14)?.map(|t| view::title(&t)),
            status,
            outcome,
            issue_types: issue_types
                .iter()
                .filter_map(|t| IssueType::parse(t))
                .collect(),
            snippet: None,
        });
        Ok(())
    })?;
    let next_cursor = next(&mut page, &seqs, q.limit, Kind::Conversations);
    if let Some(text) = &q.q {
        for row in &mut page {
            row.snippet = storage::first_match(conn, &row.head.id, text)?
                .map(|content| view::snippet(&content, text));
        }
    }
    Ok(ConversationPage {
        conversations: page,
        next_cursor,
    })
}

/// Keeps `limit` rows of the `limit + 1` fetched; a cursor after the last kept one when
/// there was more.
fn next<T>(page: &mut Vec<T>, seqs: &[i64], limit: i64, kind: Kind) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if page.len() <= limit || limit == 0 {
        return None;
    }
    page.truncate(limit);
    Some(cursor::encode(kind, seqs[limit - 1]))
}

/// The head columns `id, agent_id, visitor_id, account_id, started_at, last_message_at`,
/// starting at column `at`.
fn head(r: &Row<'_>, at: usize) -> db::Result<ConversationHead> {
    Ok(ConversationHead {
        id: r.get(at)?,
        agent_id: r.get(at + 1)?,
        visitor_id: r.get(at + 2)?,
        account_id: r.get(at + 3)?,
        started_at: r.get(at + 4)?,
        last_message_at: r.get(at + 5)?,
    })
}

/// One conversation with a page of its messages (by timestamp, then insertion), or `None`.
/// Its verdict is judged afresh at `now`, so it is never behind the sweep.
pub fn conversation(
    conn: &mut Conn<'_, '_>,
    id: &str,
    q: &DetailQuery,
    now: i64,
    cfg: &AnalysisConfig,
) -> db::Result<Option<ConversationDetail>> {
    let head = conn.row_opt(
        "SELECT id, agent_id, visitor_id, account_id, started_at, last_message_at,
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), metadata FROM conversations c WHERE id = ?1",
        params![id],
        |r| {
            Ok(ConversationDetail {
                head: head(r, 0)?,
                message_count: r.get(6)?,
                status: Status::Active,
                outcome: None,
                outcome_source: None,
                metadata: r
                    .get::<Option<String>>(7)?
                    .and_then(|m| serde_json::from_str(&m).ok())
                    .unwrap_or_default(),
                ended_at: None,
                duration_seconds: None,
                issues: Vec::new(),
                messages: Vec::new(),
                next_cursor: None,
            })
        },
    )?;
    let Some(mut detail) = head else {
        return Ok(None);
    };
    if let Some(v) = storage::judge_now(conn, id, now, cfg)? {
        detail.status = v.status;
        if v.status == Status::Ended {
            detail.outcome = Some(v.outcome);
            detail.outcome_source = Some(if v.client_outcome {
                "client"
            } else {
                "analysis"
            });
            detail.ended_at = Some(v.ended_at);
            detail.duration_seconds = Some(v.duration_seconds);
        }
        detail.issues = v.issues;
    }
    let (after_ts, after_seq) = q.after.unwrap_or((-1, -1));
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m {REACTION_JOIN}
         WHERE m.conversation_id = ?1 AND (m.timestamp, m.seq) > (?2, ?3)
         ORDER BY m.timestamp, m.seq LIMIT ?4"
    );
    let mut keys = Vec::new();
    conn.each(&sql, params![id, after_ts, after_seq, q.limit + 1], |row| {
        keys.push((row.get::<i64>(4)?, row.get::<i64>(16)?));
        detail.messages.push(message(row)?);
        Ok(())
    })?;
    let limit = usize::try_from(q.limit).unwrap_or(0);
    if detail.messages.len() > limit && limit > 0 {
        detail.messages.truncate(limit);
        let (ts, seq) = keys[limit - 1];
        detail.next_cursor = Some(cursor::encode_at(Kind::ConversationMessages, ts, seq));
    }
    Ok(Some(detail))
}

/// One page of the message export, in insertion order.
pub fn messages(conn: &mut Conn<'_, '_>, q: &MessageQuery) -> db::Result<MessagePage> {
    let mut f = Filter::default();
    f.add("m.agent_id = ?", q.agent_id.clone());
    f.add("m.conversation_id = ?", q.conversation_id.clone());
    f.add("m.timestamp >= ?", q.window.since);
    f.add("m.timestamp < ?", q.window.until);
    f.add("m.seq > ?", q.after_seq);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m {REACTION_JOIN} {} ORDER BY m.seq LIMIT ?",
        f.sql()
    );
    let (mut page, mut seqs) = (Vec::new(), Vec::new());
    conn.each(&sql, &db::refs(&f.params(&[q.limit + 1])), |row| {
        seqs.push(row.get::<i64>(16)?);
        page.push(ExportedMessage {
            message: message(row)?,
            conversation_id: row.get(17)?,
            agent_id: row.get(18)?,
            visitor_id: row.get(19)?,
        });
        Ok(())
    })?;
    let next_cursor = next(&mut page, &seqs, q.limit, Kind::Messages);
    Ok(MessagePage {
        messages: page,
        next_cursor,
    })
}
