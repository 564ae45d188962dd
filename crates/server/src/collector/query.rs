//! Query parameters of the read API, checked into plain values. Every refusal is a 400 whose
//! message names the parameter and what it allows. Unknown names are refused (with the
//! closest known one), so a typo such as `agentID` does not silently widen a filter; empty
//! values (`?agentId=`) count as absent, as dashboards send them for unset filters.

use agent_track_schema::limits::MAX_ID_BYTES;
use agent_track_schema::suggest::closest;

use super::analysis::{IssueType, Outcome, Status};
use super::cursor::{self, Kind};
use super::time;
use crate::error::ApiError;

/// Code of a parameter with a value it does not allow.
pub const INVALID: &str = "invalid_parameter";
/// Code of a parameter the endpoint does not know.
pub const UNKNOWN: &str = "unknown_parameter";

/// The parameters of one request, names checked.
#[derive(Debug)]
pub struct Params(Vec<(String, String)>);

/// A time window: `since` inclusive, `until` exclusive, unix ms; each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Earliest time included.
    pub since: Option<i64>,
    /// First time excluded.
    pub until: Option<i64>,
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request(INVALID, message)
}

impl Params {
    /// Checks that every name is in `allowed` and none is given twice.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, ApiError> {
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                let hint = closest(name, allowed)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                let name = name.chars().take(64).collect::<String>();
                return Err(ApiError::bad_request(
                    UNKNOWN,
                    format!(
                        "unknown parameter `{name}`; {hint}allowed: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(invalid(format!(
                    "{name} is given more than once; give it at most once"
                )));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// An identifier filter: at most [`MAX_ID_BYTES`] bytes.
    pub fn id(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            Some(v) if v.len() > MAX_ID_BYTES => Err(invalid(format!(
                "{name} is {} bytes; at most {MAX_ID_BYTES} are allowed",
                v.len()
            ))),
            v => Ok(v.map(str::to_owned)),
        }
    }

    /// A time: RFC 3339 or unix ms (see [`time::parse`]).
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                time::parse(v).ok_or_else(|| invalid(format!("{name} must be {}", time::ALLOWED)))
            })
            .transpose()
    }

    /// `since` and `until`, with `since` before `until`.
    pub fn window(&self) -> Result<Window, ApiError> {
        let w = Window {
            since: self.time("since")?,
            until: self.time("until")?,
        };
        match (w.since, w.until) {
            (Some(s), Some(u)) if s >= u => Err(invalid("since must be earlier than until".into())),
            _ => Ok(w),
        }
    }

    /// `limit`: a whole number in `1..=max`, `default` when absent.
    pub fn limit(&self, default: i64, max: i64) -> Result<i64, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    invalid(format!(
                        "limit must be a whole number from 1 to {max} (default {default})"
                    ))
                }),
        }
    }

    /// `cursor`: a `nextCursor` of the same listing.
    pub fn cursor(&self, kind: Kind) -> Result<Option<i64>, ApiError> {
        self.get("cursor")
            .map(|v| {
                cursor::decode(kind, v).ok_or_else(|| {
                    invalid(
                        "cursor must be a nextCursor returned by this endpoint, passed unchanged"
                            .into(),
                    )
                })
            })
            .transpose()
    }
}

/// `GET /api/v1/conversations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationQuery {
    /// Only this agent's conversations.
    pub agent_id: Option<String>,
    /// Only this visitor's conversations.
    pub visitor_id: Option<String>,
    /// Conversations active in the window: last message at or after `since`, first before `until`.
    pub window: Window,
    /// Page size, 1..=200, default 50.
    pub limit: i64,
    /// Only conversations with a sequence below this (the cursor).
    pub before_seq: Option<i64>,
    /// Only `active` or only `ended` conversations.
    pub status: Option<Status>,
    /// Only ended conversations with this outcome.
    pub outcome: Option<Outcome>,
    /// Only conversations with an issue of this type.
    pub issue: Option<IssueType>,
    /// Only conversations with (`true`) or without (`false`) issues.
    pub has_issues: Option<bool>,
    /// Only conversations with a message containing this text (full-text search).
    pub q: Option<String>,
}

/// The longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

impl ConversationQuery {
    /// Parameter names.
    pub const ALLOWED: [&'static str; 11] = [
        "agentId",
        "visitorId",
        "since",
        "until",
        "limit",
        "cursor",
        "status",
        "outcome",
        "issue",
        "hasIssues",
        "q",
    ];

    /// Checks the parameters.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &Self::ALLOWED)?;
        let status = match p.get("status") {
            None => None,
            Some("active") => Some(Status::Active),
            Some("ended") => Some(Status::Ended),
            Some(_) => return Err(invalid("status must be one of active, ended".into())),
        };
        let outcome = p
            .get("outcome")
            .map(|v| {
                Outcome::parse(v).ok_or_else(|| {
                    invalid("outcome must be one of completed, abandoned, error".into())
                })
            })
            .transpose()?;
        let issue = p
            .get("issue")
            .map(|v| {
                IssueType::parse(v).ok_or_else(|| {
                    let names: Vec<&str> = IssueType::ALL.iter().map(|t| t.as_str()).collect();
                    invalid(format!("issue must be one of {}", names.join(", ")))
                })
            })
            .transpose()?;
        let has_issues = match p.get("hasIssues") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(invalid("hasIssues must be true or false".into())),
        };
        let q = match p.get("q") {
            Some(v) if v.chars().count() > MAX_QUERY_CHARS => {
                return Err(invalid(format!(
                    "q is {} characters; at most {MAX_QUERY_CHARS} are allowed",
                    v.chars().count()
                )))
            }
            Some(v) if v.trim().is_empty() => None,
            v => v.map(str::to_owned),
        };
        Ok(ConversationQuery {
            agent_id: p.id("agentId")?,
            visitor_id: p.id("visitorId")?,
            window: p.window()?,
            limit: p.limit(50, 200)?,
            before_seq: p.cursor(Kind::Conversations)?,
            status,
            outcome,
            issue,
            has_issues,
            q,
        })
    }
}

/// `GET /api/v1/issues`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuesQuery {
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Issues raised, and messages stamped, in the window.
    pub window: Window,
}

impl IssuesQuery {
    /// Parameter names.
    pub const ALLOWED: [&'static str; 3] = ["agentId", "since", "until"];

    /// Checks the parameters.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &Self::ALLOWED)?;
        Ok(IssuesQuery {
            agent_id: p.id("agentId")?,
            window: p.window()?,
        })
    }
}

/// `GET /api/v1/messages`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// Only this agent's messages.
    pub agent_id: Option<String>,
    /// Only this conversation's messages.
    pub conversation_id: Option<String>,
    /// Messages whose timestamp is in the window.
    pub window: Window,
    /// Page size, 1..=1000, default 100.
    pub limit: i64,
    /// Only messages with a sequence above this (the cursor).
    pub after_seq: Option<i64>,
}

impl MessageQuery {
    /// Parameter names.
    pub const ALLOWED: [&'static str; 6] = [
        "agentId",
        "conversationId",
        "since",
        "until",
        "limit",
        "cursor",
    ];

    /// Checks the parameters.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &Self::ALLOWED)?;
        Ok(MessageQuery {
            agent_id: p.id("agentId")?,
            conversation_id: p.id("conversationId")?,
            window: p.window()?,
            limit: p.limit(100, 1000)?,
            after_seq: p.cursor(Kind::Messages)?,
        })
    }
}

/// `GET /api/v1/conversations/{id}`: a page of its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailQuery {
    /// Messages per page, 1..=1000, default 200.
    pub limit: i64,
    /// Only messages after this (timestamp, sequence) (the cursor).
    pub after: Option<(i64, i64)>,
}

impl DetailQuery {
    /// Parameter names.
    pub const ALLOWED: [&'static str; 2] = ["limit", "cursor"];

    /// The most messages per page.
    pub const MAX_LIMIT: i64 = 1000;

    /// Checks the parameters.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &Self::ALLOWED)?;
        Ok(DetailQuery {
            limit: p.limit(200, Self::MAX_LIMIT)?,
            after: p
                .get("cursor")
                .map(|v| {
                    cursor::decode_at(Kind::ConversationMessages, v).ok_or_else(|| {
                        invalid(
                            "cursor must be a nextCursor returned by this endpoint, passed unchanged"
                                .into(),
                        )
                    })
                })
                .transpose()?,
        })
    }
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsQuery {
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Events whose timestamp is in the window.
    pub window: Window,
}

impl StatsQuery {
    /// Parameter names.
    pub const ALLOWED: [&'static str; 3] = ["agentId", "since", "until"];

    /// Checks the parameters.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &Self::ALLOWED)?;
        Ok(StatsQuery {
            agent_id: p.id("agentId")?,
            window: p.window()?,
        })
    }
}

/// `format` of `GET /api/v1/conversations/{id}/transcript`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Plain text (the default).
    #[default]
    Txt,
    /// Markdown.
    Md,
    /// The conversation object.
    Json,
}

impl Format {
    /// Checks the parameters of the transcript endpoint.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let p = Params::new(pairs, &["format"])?;
        match p.get("format") {
            None | Some("txt") => Ok(Format::Txt),
            Some("md") => Ok(Format::Md),
            Some("json") => Ok(Format::Json),
            Some(_) => Err(invalid(
                "format must be one of txt, md, json (default txt)".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn message(e: ApiError) -> String {
        assert_eq!(e.status, 400);
        e.message
    }

    #[test]
    fn defaults_and_values() {
        let q = ConversationQuery::parse(vec![]).unwrap();
        assert_eq!(
            (q.limit, q.before_seq, q.window),
            (50, None, Window::default())
        );
        let c = cursor::encode(Kind::Conversations, 7);
        let q = ConversationQuery::parse(pairs(&[
            ("agentId", "a"),
            ("since", "1000"),
            ("until", "2025-11-21T10:00:00Z"),
            ("limit", "200"),
            ("cursor", &c),
        ]))
        .unwrap();
        assert_eq!(q.agent_id.as_deref(), Some("a"));
        assert_eq!(
            q.window,
            Window {
                since: Some(1000),
                until: Some(1_763_719_200_000)
            }
        );
        assert_eq!((q.limit, q.before_seq), (200, Some(7)));
        assert_eq!(MessageQuery::parse(vec![]).unwrap().limit, 100);
        assert_eq!(
            MessageQuery::parse(pairs(&[("limit", "1000")]))
                .unwrap()
                .limit,
            1000
        );
    }

    #[test]
    fn empty_values_are_absent() {
        let q = ConversationQuery::parse(pairs(&[("agentId", ""), ("limit", ""), ("cursor", "")]))
            .unwrap();
        assert_eq!(
            q,
            ConversationQuery {
                limit: 50,
                ..Default::default()
            }
        );
    }

    #[test]
    fn refusals_name_the_parameter_and_what_is_allowed() {
        let m = message(ConversationQuery::parse(pairs(&[("limit", "201")])).unwrap_err());
        assert_eq!(m, "limit must be a whole number from 1 to 200 (default 50)");
        let m = message(MessageQuery::parse(pairs(&[("limit", "0")])).unwrap_err());
        assert!(m.contains("from 1 to 1000"), "{m}");
        let m = message(StatsQuery::parse(pairs(&[("since", "yesterday")])).unwrap_err());
        assert!(m.starts_with("since must be an RFC 3339 time"), "{m}");
        let m =
            message(StatsQuery::parse(pairs(&[("since", "2000"), ("until", "1000")])).unwrap_err());
        assert_eq!(m, "since must be earlier than until");
        let m = message(
            MessageQuery::parse(pairs(&[(
                "cursor",
                &cursor::encode(Kind::Conversations, 1),
            )]))
            .unwrap_err(),
        );
        assert!(m.starts_with("cursor must be"), "{m}");
        let e = ConversationQuery::parse(pairs(&[("agentID", "a")])).unwrap_err();
        assert_eq!(e.code, UNKNOWN);
        assert!(
            e.message.contains("did you mean `agentId`?"),
            "{}",
            e.message
        );
        let m = message(
            ConversationQuery::parse(pairs(&[("agentId", "a"), ("agentId", "b")])).unwrap_err(),
        );
        assert!(m.starts_with("agentId is given more than once"), "{m}");
        let m = message(
            ConversationQuery::parse(pairs(&[("visitorId", &"v".repeat(MAX_ID_BYTES + 1))]))
                .unwrap_err(),
        );
        assert!(m.starts_with("visitorId is 1025 bytes"), "{m}");
    }

    #[test]
    fn analysis_filters() {
        let q = ConversationQuery::parse(pairs(&[
            ("status", "ended"),
            ("outcome", "error"),
            ("issue", "rage_prompt"),
            ("hasIssues", "true"),
            ("q", "Größe"),
        ]))
        .unwrap();
        assert_eq!(q.status, Some(Status::Ended));
        assert_eq!(q.outcome, Some(Outcome::Error));
        assert_eq!(q.issue, Some(IssueType::RagePrompt));
        assert_eq!(q.has_issues, Some(true));
        assert_eq!(q.q.as_deref(), Some("Größe"));
        assert_eq!(
            message(ConversationQuery::parse(pairs(&[("status", "done")])).unwrap_err()),
            "status must be one of active, ended"
        );
        assert_eq!(
            message(ConversationQuery::parse(pairs(&[("outcome", "ok")])).unwrap_err()),
            "outcome must be one of completed, abandoned, error"
        );
        assert!(
            message(ConversationQuery::parse(pairs(&[("issue", "rage")])).unwrap_err())
                .starts_with("issue must be one of negative_feedback, rage_prompt")
        );
        assert_eq!(
            message(ConversationQuery::parse(pairs(&[("hasIssues", "1")])).unwrap_err()),
            "hasIssues must be true or false"
        );
        assert!(
            message(ConversationQuery::parse(pairs(&[("q", &"x".repeat(201))])).unwrap_err())
                .starts_with("q is 201 characters")
        );
        assert_eq!(
            IssuesQuery::parse(pairs(&[("issue", "x")]))
                .unwrap_err()
                .code,
            UNKNOWN
        );
    }

    #[test]
    fn conversation_pages() {
        assert_eq!(
            DetailQuery::parse(vec![]).unwrap(),
            DetailQuery {
                limit: 200,
                after: None
            }
        );
        let c = cursor::encode_at(Kind::ConversationMessages, 5, 6);
        assert_eq!(
            DetailQuery::parse(pairs(&[("limit", "1000"), ("cursor", &c)])).unwrap(),
            DetailQuery {
                limit: 1000,
                after: Some((5, 6))
            }
        );
        let m = message(DetailQuery::parse(pairs(&[("limit", "1001")])).unwrap_err());
        assert_eq!(
            m,
            "limit must be a whole number from 1 to 1000 (default 200)"
        );
        let m = message(
            DetailQuery::parse(pairs(&[("cursor", &cursor::encode(Kind::Messages, 1))]))
                .unwrap_err(),
        );
        assert!(m.starts_with("cursor must be"), "{m}");
    }

    #[test]
    fn transcript_formats() {
        assert_eq!(Format::parse(vec![]).unwrap(), Format::Txt);
        assert_eq!(
            Format::parse(pairs(&[("format", "md")])).unwrap(),
            Format::Md
        );
        assert_eq!(
            Format::parse(pairs(&[("format", "json")])).unwrap(),
            Format::Json
        );
        assert_eq!(
            message(Format::parse(pairs(&[("format", "pdf")])).unwrap_err()),
            "format must be one of txt, md, json (default txt)"
        );
    }
}
