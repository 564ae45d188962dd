//! `POST /v1/ingest`: a relayed batch (`{"events": [..]}`) signed by the Standard Webhooks v1
//! scheme. The signature headers are checked before the body is read (presence, format,
//! timestamp window), so an unsigned or stale request costs no buffering; the body is then
//! read up to [`MAX_BODY_BYTES`] and its signature verified on the raw bytes before
//! anything is parsed.
//!
//! Answers: 200 `{requestId, accepted, duplicates, rejected}` when stored (or already
//! stored: a repeated `webhook-id` writes nothing and counts every valid event as a
//! duplicate). `rejected` lists the events refused for good, in the shape of the proxy's
//! answer to the browser (`[{index, eventId, code, field, message}]`); the batch's other
//! events are stored. 401 `invalid_signature` for a forged, stripped, empty or stale
//! signature; 400 `invalid_body` when a signed body is not a relay batch at all; 413
//! `body_too_large` over [`MAX_BODY_BYTES`]; 408 `body_timeout` for a body that does not
//! arrive in time.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::value::RawValue;

use agent_track_schema::{Rejection, RelayedEvent};

use super::record::{Record, Refusal};
use super::{store, Collector};
use crate::error::{now_i64, now_ms, ApiError, RequestId};
use crate::signature;

/// Largest accepted body: 8 MB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Bodies up to this size are parsed on the async worker; larger ones on the blocking pool.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// Longest accepted `webhook-id`, in bytes.
pub const MAX_WEBHOOK_ID_BYTES: usize = 1024;

/// The ingest route.
pub fn routes() -> Router<Arc<Collector>> {
    Router::new().route("/v1/ingest", post(ingest))
}

/// A verified body, checked event by event.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The events to store.
    pub records: Vec<Record>,
    /// The events refused for good, by index in the batch.
    pub rejected: Vec<Rejection>,
}

#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(rename = "eventId")]
    event_id: Option<String>,
}

/// Parses a verified body and checks every event. A body that is not `{"events": [..]}` is
/// refused whole (400); an event that breaks a rule is refused alone, naming its index,
/// `eventId`, code and field.
pub fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    let batch: RawBatch<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not a relay batch {{\"events\": [..]}}: {e}"),
        )
    })?;
    let mut parsed = Parsed::default();
    for (index, raw) in batch.events.iter().enumerate() {
        let checked = serde_json::from_str::<RelayedEvent>(raw.get())
            .map_err(|e| {
                Refusal::new(
                    "invalid_event",
                    "",
                    format!("events[{index}] is not a relayed event: {e}"),
                )
            })
            .and_then(|event| Record::from_event(&event));
        match checked {
            Ok(record) => parsed.records.push(record),
            Err(refusal) => parsed.rejected.push(Rejection {
                index,
                event_id: serde_json::from_str::<IdOnly>(raw.get())
                    .ok()
                    .and_then(|e| e.event_id)
                    .unwrap_or_default(),
                code: refusal.code.into(),
                field: refusal.field,
                message: refusal.message,
            }),
        }
    }
    Ok(parsed)
}

async fn ingest(
    State(collector): State<Arc<Collector>>,
    rid: RequestId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    handle(&collector, &rid, &headers, body).await
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the body is over {max} bytes ({} MB); send smaller requests",
            max / (1024 * 1024)
        ),
    )
}

/// Reads the body, at most [`MAX_BODY_BYTES`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    read_body_limited(headers, body, MAX_BODY_BYTES).await
}

/// Reads a body of at most `max` bytes: 413 `body_too_large` beyond (from `Content-Length`
/// before reading, when declared), 408 `body_timeout` when it does not arrive in time.
pub async fn read_body_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || too_large(max);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) if crate::serve::is_body_timeout(&*e) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("{e}; send the delivery again"),
        )),
        Err(_) => Err(ApiError::bad_request(
            "invalid_body",
            "the body could not be read",
        )),
    }
}

async fn handle(
    collector: &Arc<Collector>,
    rid: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let now_s = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
    let unauthorized = |e: signature::VerifyError| {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
    };
    // Everything about the headers is checked before a byte of the body is read.
    let checked = signature::check_headers(
        header(signature::ID),
        header(signature::TIMESTAMP),
        header(signature::SIGNATURE),
        now_s,
    )
    .map_err(unauthorized)?;
    if checked.id.len() > MAX_WEBHOOK_ID_BYTES {
        return Err(ApiError::bad_request(
            "invalid_header",
            format!("{} is over {MAX_WEBHOOK_ID_BYTES} bytes", signature::ID),
        ));
    }
    let body = read_body(headers, body).await?;
    signature::verify_body(&collector.secrets, &checked, &body).map_err(unauthorized)?;
    let webhook_id = checked.id.to_owned();
    // Parsing up to 8 MB takes long enough to stall other requests on this worker; a typical
    // batch parses faster than the hop to the blocking pool.
    let Parsed { records, rejected } = if body.len() <= INLINE_PARSE_BYTES {
        parse(&body)?
    } else {
        tokio::task::spawn_blocking(move || parse(&body))
            .await
            .map_err(|e| ApiError::internal(rid, e))??
    };
    if !rejected.is_empty() {
        tracing::info!(request_id = %rid, rejected = rejected.len(), "events refused for good");
    }
    let now = now_i64();
    let cfg = Arc::clone(&collector.analysis);
    let hooks = collector.webhook_targets().clone();
    let outcome = collector
        .write(rid, move |conn| {
            store::ingest(conn, &webhook_id, &records, now, &cfg, &hooks)
        })
        .await?;
    if outcome.accepted > 0 {
        collector.wake_webhooks();
    }
    let m = collector.metrics();
    m.count("ingest", "accepted", outcome.accepted as u64);
    m.count("ingest", "duplicate", outcome.duplicates as u64);
    m.count("ingest", "rejected", rejected.len() as u64);
    Ok(Json(serde_json::json!({
        "requestId": rid,
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": rejected,
    })))
}
