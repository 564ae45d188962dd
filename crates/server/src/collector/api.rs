//! The read API under `/api/v1`, behind `Authorization: Bearer <API key>`.
//!
//! - `GET /api/v1/conversations`: newest first, keyset pagination.
//! - `GET /api/v1/conversations/{id}`: one conversation with its ordered messages.
//! - `GET /api/v1/conversations/{id}/transcript?format=txt|md|json`.
//! - `DELETE /api/v1/conversations/{id}`: 204; its messages and reactions are gone for good.
//! - `GET /api/v1/messages`: the export, in insertion order.
//! - `GET /api/v1/stats`.
//!
//! Errors are `{requestId, code, message}`: 401 `unauthorized` (with `WWW-Authenticate:
//! Bearer`), 400 `invalid_parameter` / `unknown_parameter` naming the parameter, 404
//! `not_found`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::query::{ConversationQuery, Format, MessageQuery, StatsQuery, INVALID};
use super::{read, stats, transcript, Collector};
use crate::error::{request_id, ApiError};

/// The read routes, each requiring the API key.
pub fn routes(collector: Arc<Collector>) -> Router<Arc<Collector>> {
    Router::new()
        .route("/api/v1/conversations", get(list))
        .route("/api/v1/conversations/{id}", get(one).delete(remove))
        .route("/api/v1/conversations/{id}/transcript", get(transcript_of))
        .route("/api/v1/messages", get(messages))
        .route("/api/v1/stats", get(stats_of))
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
fn bearer(value: &str) -> Option<&str> {
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
    let message = match given {
        None => "this endpoint requires the header Authorization: Bearer <API key>",
        Some(_) => "the API key is not valid",
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).respond(&request_id());
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;
type Id = Result<Path<String>, PathRejection>;

fn pairs(q: Pairs) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(p)| p).map_err(|e| {
        ApiError::bad_request(
            INVALID,
            format!("the query string cannot be read: {}", e.body_text()),
        )
    })
}

fn id(p: Id) -> Result<String, ApiError> {
    p.map(|Path(id)| id).map_err(|e| {
        ApiError::bad_request(
            INVALID,
            format!("the conversation id cannot be read: {}", e.body_text()),
        )
    })
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no conversation with this id (it may have been deleted)",
    )
}

/// Answers `result` for request `rid`.
fn finish(rid: &str, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|e| e.respond(rid))
}

async fn list(State(c): State<Arc<Collector>>, q: Pairs) -> Response {
    let rid = request_id();
    let result = async {
        let q = ConversationQuery::parse(pairs(q)?)?;
        Ok(Json(
            c.read(&rid, move |conn| read::conversations(conn, &q))
                .await?,
        )
        .into_response())
    };
    finish(&rid, result.await)
}

async fn one(State(c): State<Arc<Collector>>, p: Id, q: Pairs) -> Response {
    let rid = request_id();
    let result = async {
        let id = id(p)?;
        super::query::Params::new(pairs(q)?, &[])?;
        let detail = c
            .read(&rid, move |conn| read::conversation(conn, &id))
            .await?
            .ok_or_else(not_found)?;
        Ok(Json(detail).into_response())
    };
    finish(&rid, result.await)
}

async fn transcript_of(State(c): State<Arc<Collector>>, p: Id, q: Pairs) -> Response {
    let rid = request_id();
    let result = async {
        let id = id(p)?;
        let format = Format::parse(pairs(q)?)?;
        let detail = c
            .read(&rid, move |conn| read::conversation(conn, &id))
            .await?
            .ok_or_else(not_found)?;
        Ok(match format {
            Format::Json => Json(detail).into_response(),
            Format::Txt => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                transcript::text(&detail),
            )
                .into_response(),
            Format::Md => (
                [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                transcript::markdown(&detail),
            )
                .into_response(),
        })
    };
    finish(&rid, result.await)
}

async fn remove(State(c): State<Arc<Collector>>, p: Id, q: Pairs) -> Response {
    let rid = request_id();
    let result = async {
        let id = id(p)?;
        super::query::Params::new(pairs(q)?, &[])?;
        let found = c.delete(&rid, id).await?;
        if !found {
            return Err(not_found());
        }
        tracing::info!(request_id = %rid, "conversation deleted");
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    finish(&rid, result.await)
}

async fn messages(State(c): State<Arc<Collector>>, q: Pairs) -> Response {
    let rid = request_id();
    let result = async {
        let q = MessageQuery::parse(pairs(q)?)?;
        Ok(Json(c.read(&rid, move |conn| read::messages(conn, &q)).await?).into_response())
    };
    finish(&rid, result.await)
}

async fn stats_of(State(c): State<Arc<Collector>>, q: Pairs) -> Response {
    let rid = request_id();
    let result = async {
        let q = StatsQuery::parse(pairs(q)?)?;
        Ok(Json(c.read(&rid, move |conn| stats::stats(conn, &q)).await?).into_response())
    };
    finish(&rid, result.await)
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
