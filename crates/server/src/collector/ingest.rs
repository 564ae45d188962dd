//! `POST /v1/ingest`: a relayed batch (`{"events": [..]}`) signed by the Standard Webhooks v1
//! scheme. The signature is verified on the raw bytes before anything is parsed.
//!
//! Answers: 200 `{requestId, accepted, duplicates}` when stored (or already stored: a
//! repeated `webhook-id` writes nothing and counts every event as a duplicate); 401
//! `invalid_signature` for a forged, stripped, empty or stale signature; 400 `invalid_body`
//! when a signed body is not a relay batch, `invalid_event` when an event breaks a rule
//! (nothing of the batch is stored); 413 `body_too_large` over [`MAX_BODY_BYTES`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use agent_track_schema::RelayBatch;

use super::record::Record;
use super::{store, Collector};
use crate::error::{now_ms, request_id, ApiError};
use crate::signature;

/// Largest accepted body: 8 MB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Bodies up to this size are parsed on the async worker; larger ones on the blocking pool.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// Longest accepted `webhook-id`, in bytes.
pub const MAX_WEBHOOK_ID_BYTES: usize = 1024;

/// The ingest route.
pub fn routes() -> Router<Arc<Collector>> {
    Router::new().route(
        "/v1/ingest",
        post(ingest).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

/// Parses a verified body and checks every event; the error names the first bad event by
/// index.
pub fn parse(body: &[u8]) -> Result<Vec<Record>, ApiError> {
    let batch: RelayBatch = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not a relay batch {{\"events\": [..]}}: {e}"),
        )
    })?;
    batch
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Record::from_event(e).map_err(|why| {
                ApiError::bad_request("invalid_event", format!("events[{i}]: {why}"))
            })
        })
        .collect()
}

async fn ingest(
    State(collector): State<Arc<Collector>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rid = request_id();
    match handle(&collector, &rid, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.respond(&rid),
    }
}

async fn handle(
    collector: &Arc<Collector>,
    rid: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {MAX_BODY_BYTES} bytes (8 MB); send smaller batches"),
        ),
        _ => ApiError::bad_request("invalid_body", "the body could not be read"),
    })?;
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let now_s = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
    signature::verify(
        &collector.secrets,
        header(signature::ID),
        header(signature::TIMESTAMP),
        header(signature::SIGNATURE),
        &body,
        now_s,
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string()))?;
    // Verified, so present and non-empty.
    let webhook_id = header(signature::ID).unwrap_or_default().to_owned();
    if webhook_id.len() > MAX_WEBHOOK_ID_BYTES {
        return Err(ApiError::bad_request(
            "invalid_header",
            format!("{} is over {MAX_WEBHOOK_ID_BYTES} bytes", signature::ID),
        ));
    }
    // Parsing up to 8 MB takes long enough to stall other requests on this worker; a typical
    // batch parses faster than the hop to the blocking pool.
    let records = if body.len() <= INLINE_PARSE_BYTES {
        parse(&body)?
    } else {
        tokio::task::spawn_blocking(move || parse(&body))
            .await
            .map_err(|e| ApiError::internal(rid, e))??
    };
    let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    let outcome = collector
        .write(rid, move |conn| {
            store::ingest(conn, &webhook_id, &records, now)
        })
        .await?;
    let body = serde_json::json!({ "requestId": rid, "accepted": outcome.accepted, "duplicates": outcome.duplicates });
    Ok((StatusCode::OK, Json(body)).into_response())
}
