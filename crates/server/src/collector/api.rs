//! The read API under `/api/v1`, behind `Authorization: Bearer <API key>`.
//!
//! - `GET /api/v1/conversations`: newest first, keyset pagination.
//! - `GET /api/v1/conversations/{id}?limit=&cursor=`: one conversation with a page of its
//!   ordered messages (200 by default, at most 1000) and `nextCursor`.
//! - `GET /api/v1/conversations/{id}/transcript?format=txt|md|json`: at most
//!   [`transcript::MAX_TRANSCRIPT_BYTES`], ending with a line that says so when cut.
//! - `DELETE /api/v1/conversations/{id}`: 204; its messages and reactions are gone for good.
//! - `GET /api/v1/messages`: the export, in insertion order.
//! - `GET /api/v1/stats`.
//! - `GET /api/v1/issues?since=&until=&agentId=`: conversations per issue type, rates per
//!   UTC day, examples.
//! - `GET /api/v1/conversations/{id}/insights`: model insights next to the verdict (see
//!   [`super::insights::api`]).
//! - `GET /api/v1/webhooks/deliveries`: the outbound webhook outbox (see
//!   [`super::webhooks::api`]).
//!
//! Errors are `{requestId, code, message}`: 401 `unauthorized` (with `WWW-Authenticate:
//! Bearer`), 400 `invalid_parameter` / `unknown_parameter` naming the parameter, 404
//! `not_found`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::analysis::AnalysisConfig;
use super::cursor::{self, Kind};
use super::query::{
    ConversationQuery, DetailQuery, Format, IssuesQuery, MessageQuery, StatsQuery, INVALID,
};
use super::read::Clock;
use super::transcript::{Style, Transcript, MAX_TRANSCRIPT_BYTES};
use super::view::ConversationDetail;
use super::{read, stats, Collector};
use crate::error::{now_i64, ApiError, RequestId};

/// The read routes, each requiring the API key.
pub fn routes(collector: Arc<Collector>) -> Router<Arc<Collector>> {
    Router::new()
        .route("/api/v1/conversations", get(list))
        .route("/api/v1/conversations/{id}", get(one).delete(remove))
        .route("/api/v1/conversations/{id}/transcript", get(transcript_of))
        .route("/api/v1/messages", get(messages))
        .route("/api/v1/stats", get(stats_of))
        .route("/api/v1/issues", get(issues_of))
        // Model insights (see collector::insights::api).
        .route(
            "/api/v1/conversations/{id}/insights",
            get(super::insights::api::insights_of),
        )
        // Outbound webhooks: GET /api/v1/webhooks/deliveries.
        .merge(super::webhooks::api::routes())
        .route_layer(middleware::from_fn_with_state(collector, require_key))
}

/// Whether `given` is the API key. Both are hashed first, so the constant-time comparison
/// does not reveal the key's length either.
pub fn key_matches(expected: &str, given: &str) -> bool {
    Sha256::digest(expected.as_bytes())
        .ct_eq(&Sha256::digest(given.as_bytes()))
        .into()
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn require_key(State(c): State<Arc<Collector>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if given.is_some_and(|k| key_matches(&c.api_key, k)) {
        return next.run(req).await;
    }
    if given.is_some_and(|k| super::log::is_ingest_key(&c.ingest_keys, k)) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "an ingest key can only write (create, append, /data/agentic); reads and deletes need the read API key",
        )
        .into_response();
    }
    let message = match given {
        None => "this endpoint requires the header Authorization: Bearer <API key>",
        Some(_) => "the API key is not valid",
    };
    (
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
    )
        .into_response()
}

/// The query string as name-value pairs; an unreadable one is 400 `invalid_parameter`.
pub(crate) struct Pairs(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Pairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::from_request_parts(parts, state).await.map_err(|e| {
            ApiError::bad_request(
                INVALID,
                format!("the query string cannot be read: {}", e.body_text()),
            )
        })?;
        Ok(Pairs(pairs))
    }
}

/// The conversation id of the path; an unreadable one is 400 `invalid_parameter`.
pub(crate) struct Id(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::from_request_parts(parts, state).await.map_err(|e| {
            ApiError::bad_request(
                INVALID,
                format!("the conversation id cannot be read: {}", e.body_text()),
            )
        })?;
        Ok(Id(id))
    }
}

/// 404 `not_found` for an unknown conversation.
pub(crate) fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no conversation with this id (it may have been deleted)",
    )
}

async fn list(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Pairs(q): Pairs,
) -> Result<Json<impl Serialize>, ApiError> {
    let q = ConversationQuery::parse(q)?;
    let clock = Clock::new(now_i64(), &c.analysis);
    if q.q.is_some() {
        // Every stored message is searchable: the index catches up first (see search_index).
        c.index_for_search(&rid).await?;
    }
    let page = c
        .read(&rid, move |conn| read::conversations(conn, &q, clock))
        .await?;
    Ok(Json(page))
}

async fn one(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Id(id): Id,
    Pairs(q): Pairs,
) -> Result<Json<ConversationDetail>, ApiError> {
    let q = DetailQuery::parse(q)?;
    let cfg = Arc::clone(&c.analysis);
    let detail = c
        .read(&rid, move |conn| {
            read::conversation(conn, &id, &q, now_i64(), &cfg)
        })
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(detail))
}

/// The `json` transcript: the conversation with as many messages as fit in
/// [`MAX_TRANSCRIPT_BYTES`]; `truncated` says whether some were left out.
#[derive(serde::Serialize)]
struct JsonTranscript {
    #[serde(flatten)]
    detail: ConversationDetail,
    truncated: bool,
}

/// A rendered transcript.
enum Rendered {
    Text(String, &'static str),
    Json(Box<JsonTranscript>),
}

/// Writes the transcript of conversation `id` page by page, stopping at the size limit, so
/// that a conversation of any length costs at most about 5 MB.
fn render(
    conn: &mut super::db::Conn<'_, '_>,
    id: &str,
    format: Format,
    cfg: &AnalysisConfig,
) -> super::db::Result<Option<Rendered>> {
    let mut q = DetailQuery {
        limit: DetailQuery::MAX_LIMIT,
        after: None,
    };
    let now = now_i64();
    let Some(mut page) = read::conversation(conn, id, &q, now, cfg)? else {
        return Ok(None);
    };
    let style = match format {
        Format::Txt => Some(Style::Text),
        Format::Md => Some(Style::Markdown),
        Format::Json => None,
    };
    let mut writer =
        style.map(|s| Transcript::new(s, &page.head, page.message_count, MAX_TRANSCRIPT_BYTES));
    let mut kept = Vec::new();
    let mut size = serde_json::to_string(&page.head).map_or(0, |h| h.len()) + 1024;
    let mut truncated = false;
    'pages: loop {
        for m in std::mem::take(&mut page.messages) {
            match &mut writer {
                Some(w) => {
                    if !w.push(&m) {
                        break 'pages;
                    }
                }
                None => {
                    size += serde_json::to_string(&m).map_or(0, |t| t.len()) + 1;
                    if size > MAX_TRANSCRIPT_BYTES {
                        truncated = true;
                        break 'pages;
                    }
                    kept.push(m);
                }
            }
        }
        match page.next_cursor.take() {
            Some(next) => {
                q.after = cursor::decode_at(Kind::ConversationMessages, &next);
                match read::conversation(conn, id, &q, now, cfg)? {
                    Some(p) => page = p,
                    None => break,
                }
            }
            None => break,
        }
    }
    Ok(Some(match (writer, style) {
        (Some(w), Some(Style::Markdown)) => {
            Rendered::Text(w.finish(), "text/markdown; charset=utf-8")
        }
        (Some(w), _) => Rendered::Text(w.finish(), "text/plain; charset=utf-8"),
        (None, _) => {
            page.messages = kept;
            page.next_cursor = None;
            Rendered::Json(Box::new(JsonTranscript {
                detail: page,
                truncated,
            }))
        }
    }))
}

async fn transcript_of(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Id(id): Id,
    Pairs(q): Pairs,
) -> Result<Response, ApiError> {
    let format = Format::parse(q)?;
    let cfg = Arc::clone(&c.analysis);
    let rendered = c
        .read(&rid, move |conn| render(conn, &id, format, &cfg))
        .await?
        .ok_or_else(not_found)?;
    Ok(match rendered {
        Rendered::Json(t) => Json(*t).into_response(),
        Rendered::Text(text, content_type) => {
            ([(header::CONTENT_TYPE, content_type)], text).into_response()
        }
    })
}

async fn remove(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Id(id): Id,
    Pairs(q): Pairs,
) -> Result<StatusCode, ApiError> {
    super::query::Params::new(q, &[])?;
    if !c.delete(&rid, id).await? {
        return Err(not_found());
    }
    tracing::info!(request_id = %rid, "conversation deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn messages(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Pairs(q): Pairs,
) -> Result<Json<impl Serialize>, ApiError> {
    let q = MessageQuery::parse(q)?;
    Ok(Json(
        c.read(&rid, move |conn| read::messages(conn, &q)).await?,
    ))
}

async fn stats_of(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Pairs(q): Pairs,
) -> Result<Json<impl Serialize>, ApiError> {
    let q = StatsQuery::parse(q)?;
    let clock = Clock::new(now_i64(), &c.analysis);
    Ok(Json(
        c.read(&rid, move |conn| stats::stats(conn, &q, clock))
            .await?,
    ))
}

async fn issues_of(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Pairs(q): Pairs,
) -> Result<Json<impl Serialize>, ApiError> {
    let q = IssuesQuery::parse(q)?;
    Ok(Json(
        c.read(&rid, move |conn| stats::issues(conn, &q)).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn keys_match_exactly() {
        assert!(key_matches("k_123", "k_123"));
        assert!(!key_matches("k_123", "k_12"));
        assert!(!key_matches("k_123", "k_1234"));
        assert!(!key_matches("k_123", ""));
    }
}
