//! `GET /api/v1/stats`: counts over the events whose timestamp is in the window. Messages,
//! tokens, tools and models come from messages; reactions are the current reaction of each
//! message (an `unreact` counts as none), by the reaction's timestamp. Days are UTC.

use std::collections::BTreeMap;

use super::db::{self, Conn};
use serde::Serialize;

use super::analysis::{storage, IssueType};
use super::query::{IssuesQuery, StatsQuery};
use super::read::{Clock, Filter};

/// Reactions by value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReactionCounts {
    /// Current `positive` reactions.
    pub positive: i64,
    /// Current `negative` reactions.
    pub negative: i64,
}

/// Token sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tokens {
    /// Sum of `agentInputTokenCount`.
    pub input: i64,
    /// Sum of `agentOutputTokenCount`.
    pub output: i64,
}

/// A tool or model with how many messages used it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameCount {
    /// The tool or model.
    pub name: String,
    /// Messages that list it.
    pub count: i64,
}

/// One UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Conversations with a message that day.
    pub conversations: i64,
    /// Messages that day.
    pub messages: i64,
    /// Positive reactions that day.
    pub positive: i64,
    /// Negative reactions that day.
    pub negative: i64,
    /// Input tokens that day.
    pub input_tokens: i64,
    /// Output tokens that day.
    pub output_tokens: i64,
    /// Conversations with an issue raised that day.
    pub conversations_with_issues: i64,
    /// `conversationsWithIssues / conversations`; 0 without conversations.
    pub issue_rate: f64,
}

/// Ended conversations by outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutcomeCounts {
    /// `completed`.
    pub completed: i64,
    /// `abandoned`.
    pub abandoned: i64,
    /// `error`.
    pub error: i64,
}

/// Each outcome's share of the ended conversations; 0 each without any.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutcomeShares {
    /// `completed / ended`.
    pub completed: f64,
    /// `abandoned / ended`.
    pub abandoned: f64,
    /// `error / ended`.
    pub error: f64,
}

/// The stats answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Conversations with a message in the window.
    pub conversations: i64,
    /// Prompts, responses and traces.
    pub messages: i64,
    /// Prompts.
    pub prompts: i64,
    /// Agent responses.
    pub responses: i64,
    /// Current reactions.
    pub reactions: ReactionCounts,
    /// Reactions per response, `(positive + negative) / responses`; 0 without responses.
    pub reaction_rate: f64,
    /// `positive / (positive + negative)`; 0 without reactions.
    pub positive_rate: f64,
    /// Token sums.
    pub tokens: Tokens,
    /// The 10 most used tools, most used first.
    pub top_tools: Vec<NameCount>,
    /// The 10 most used models, most used first.
    pub top_models: Vec<NameCount>,
    /// Ended conversations whose `endedAt` is in the window, by outcome.
    pub outcomes: OutcomeCounts,
    /// The outcomes' shares of those.
    pub outcome_shares: OutcomeShares,
    /// Every day with activity, oldest first.
    pub per_day: Vec<Day>,
}

/// `part / whole`, 0 when `whole` is 0, rounded to 4 decimals.
pub fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
}

fn filter(q: &StatsQuery, table: &str) -> Filter {
    let mut f = Filter::default();
    let (agent, since, until) = match table {
        "m" => ("m.agent_id = ?", "m.timestamp >= ?", "m.timestamp < ?"),
        _ => ("r.agent_id = ?", "r.timestamp >= ?", "r.timestamp < ?"),
    };
    f.add(agent, q.agent_id.clone());
    f.add(since, q.window.since);
    f.add(until, q.window.until);
    f
}

fn top(conn: &mut Conn<'_, '_>, q: &StatsQuery, column: &str) -> db::Result<Vec<NameCount>> {
    let f = filter(q, "m");
    let each = match conn.dialect() {
        db::Dialect::Sqlite => format!("json_each(m.{column}) j"),
        db::Dialect::Postgres => format!("jsonb_array_elements_text(m.{column}::jsonb) j(value)"),
    };
    let sql = format!(
        "SELECT j.value, count(*) AS n FROM messages m, {each} {} GROUP BY j.value ORDER BY n DESC, j.value LIMIT 10",
        f.sql()
    );
    conn.rows(&sql, &db::refs(&f.params(&[])), |r| {
        Ok(NameCount {
            name: r.get(0)?,
            count: r.get(1)?,
        })
    })
}

/// Computes the stats; `clock` decides which conversations have ended.
pub fn stats(conn: &mut Conn<'_, '_>, q: &StatsQuery, clock: Clock) -> db::Result<Stats> {
    let mut s = Stats::default();
    let m = filter(q, "m");
    let mp = m.params(&[]);
    let mp = db::refs(&mp);
    let sql = format!(
        "SELECT count(DISTINCT m.conversation_id), count(*),
            CAST(coalesce(sum(CASE WHEN m.type = 'prompt' THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(CASE WHEN m.type = 'agent_response' THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(m.input_tokens), 0) AS BIGINT), CAST(coalesce(sum(m.output_tokens), 0) AS BIGINT)
         FROM messages m {}",
        m.sql()
    );
    conn.row(&sql, &mp, |r| {
        (s.conversations, s.messages, s.prompts, s.responses) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        s.tokens = Tokens {
            input: r.get(4)?,
            output: r.get(5)?,
        };
        Ok(())
    })?;
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let sql = format!(
        "SELECT {} AS d, count(DISTINCT m.conversation_id), count(*),
            CAST(coalesce(sum(m.input_tokens), 0) AS BIGINT), CAST(coalesce(sum(m.output_tokens), 0) AS BIGINT)
         FROM messages m {} GROUP BY d",
        storage::day(conn.dialect(), "m.timestamp"),
        m.sql()
    );
    conn.each(&sql, &mp, |r| {
        let day: String = r.get(0)?;
        let d = days.entry(day.clone()).or_insert_with(|| Day {
            day,
            ..Day::default()
        });
        (d.conversations, d.messages, d.input_tokens, d.output_tokens) =
            (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
        Ok(())
    })?;
    let f = filter(q, "r");
    let sql = format!(
        "SELECT {} AS d, CAST(coalesce(sum(CASE WHEN r.value = 'positive' THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(CASE WHEN r.value = 'negative' THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM reactions r {} GROUP BY d",
        storage::day(conn.dialect(), "r.timestamp"),
        f.sql()
    );
    conn.each(&sql, &db::refs(&f.params(&[])), |r| {
        let (day, positive, negative): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        s.reactions.positive += positive;
        s.reactions.negative += negative;
        if positive + negative > 0 {
            let d = days.entry(day.clone()).or_insert_with(|| Day {
                day,
                ..Day::default()
            });
            (d.positive, d.negative) = (positive, negative);
        }
        Ok(())
    })?;
    let agent = q.agent_id.as_deref();
    let (since, until) = (q.window.since, q.window.until);
    for (day, n) in storage::issue_counts(conn, agent, since, until)?.any_by_day {
        let d = days.entry(day.clone()).or_insert_with(|| Day {
            day,
            ..Day::default()
        });
        d.conversations_with_issues = n;
    }
    for d in days.values_mut() {
        d.issue_rate = rate(d.conversations_with_issues, d.conversations);
    }
    s.per_day = days.into_values().collect();
    let (completed, abandoned, error) =
        storage::outcome_counts(conn, agent, since, until, clock.ended_by())?;
    let ended = completed + abandoned + error;
    s.outcomes = OutcomeCounts {
        completed,
        abandoned,
        error,
    };
    s.outcome_shares = OutcomeShares {
        completed: rate(completed, ended),
        abandoned: rate(abandoned, ended),
        error: rate(error, ended),
    };
    s.reaction_rate = rate(s.reactions.positive + s.reactions.negative, s.responses);
    s.positive_rate = rate(
        s.reactions.positive,
        s.reactions.positive + s.reactions.negative,
    );
    s.top_tools = top(conn, q, "tools_used")?;
    s.top_models = top(conn, q, "models_used")?;
    Ok(s)
}

/// One issue type on one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Conversations with the issue raised that day.
    pub conversations: i64,
    /// `conversations` ÷ conversations with a message that day.
    pub rate: f64,
}

/// One issue type over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueSummary {
    /// The issue type.
    #[serde(rename = "type")]
    pub issue_type: IssueType,
    /// Conversations with the issue raised in the window.
    pub conversations: i64,
    /// `conversations` ÷ conversations with a message in the window.
    pub rate: f64,
    /// Up to 5 of those conversations, latest issue first.
    pub examples: Vec<String>,
    /// Days with the issue, oldest first.
    pub per_day: Vec<IssueDay>,
}

/// A day of `/api/v1/issues`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuesDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Conversations with a message that day.
    pub conversations: i64,
    /// Conversations with any issue raised that day.
    pub conversations_with_issues: i64,
    /// `conversationsWithIssues / conversations`.
    pub rate: f64,
}

/// `GET /api/v1/issues`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuesReport {
    /// Conversations with a message in the window.
    pub conversations: i64,
    /// Conversations with any issue raised in the window.
    pub conversations_with_issues: i64,
    /// `conversationsWithIssues / conversations`.
    pub rate: f64,
    /// Every issue type, most conversations first (ties in the order of the type list).
    pub issues: Vec<IssueSummary>,
    /// Every day with a message or an issue, oldest first.
    pub per_day: Vec<IssuesDay>,
}

/// Examples per issue type.
const EXAMPLES: i64 = 5;

/// Computes `/api/v1/issues`: issues count on the UTC day they were raised (the time of the
/// message or reaction that completed them); the rates divide by the conversations with a
/// message that day, as in `/stats`.
pub fn issues(conn: &mut Conn<'_, '_>, q: &IssuesQuery) -> db::Result<IssuesReport> {
    let agent = q.agent_id.as_deref();
    let (since, until) = (q.window.since, q.window.until);
    let (total, active_days) = storage::active_conversations(conn, agent, since, until)?;
    let counts = storage::issue_counts(conn, agent, since, until)?;
    let active: BTreeMap<String, i64> = active_days.into_iter().collect();
    let mut summaries = Vec::new();
    for t in IssueType::ALL {
        let n = counts
            .by_type
            .iter()
            .find(|(name, _)| name == t.as_str())
            .map_or(0, |(_, n)| *n);
        let per_day = counts
            .by_type_day
            .iter()
            .filter(|(name, _, _)| name == t.as_str())
            .map(|(_, day, n)| IssueDay {
                day: day.clone(),
                conversations: *n,
                rate: rate(*n, active.get(day).copied().unwrap_or(0)),
            })
            .collect();
        summaries.push(IssueSummary {
            issue_type: t,
            conversations: n,
            rate: rate(n, total),
            examples: if n > 0 {
                storage::examples(conn, t, agent, since, until, EXAMPLES)?
            } else {
                Vec::new()
            },
            per_day,
        });
    }
    summaries.sort_by_key(|s| std::cmp::Reverse(s.conversations));
    let mut days: BTreeMap<String, (i64, i64)> =
        active.iter().map(|(d, n)| (d.clone(), (*n, 0))).collect();
    for (day, n) in counts.any_by_day {
        days.entry(day).or_default().1 = n;
    }
    Ok(IssuesReport {
        conversations: total,
        conversations_with_issues: counts.any,
        rate: rate(counts.any, total),
        issues: summaries,
        per_day: days
            .into_iter()
            .map(|(day, (conversations, with))| IssuesDay {
                day,
                conversations,
                conversations_with_issues: with,
                rate: rate(with, conversations),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_zero_when_undefined_and_rounded() {
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(3, 0), 0.0);
        assert_eq!(rate(1, 3), 0.3333);
        assert_eq!(rate(2, 2), 1.0);
    }
}
