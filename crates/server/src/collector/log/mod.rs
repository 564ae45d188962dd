//! The conversation log API: backends create conversations and append messages, behind
//! `Authorization: Bearer <ingest key>`.
//!
//! - `POST /api/v1/conversations`: create (`messages`, or a whole transcript in `content`),
//!   with an optional `idempotencyKey` (a repeat within 24 h returns the first conversation
//!   and creates nothing).
//! - `POST /api/v1/conversations/{id}/messages`: append, atomically; works on every
//!   conversation, browser-captured ones included; 404 for an unknown id.
//!
//! A message becomes a stored message like a browser event's: `user` -> `prompt`,
//! `assistant` -> `agent_response` (model, token usage, tools, `metadata` as
//! `eventProperties`), `system` and `tool` are kept and shown but not judged. A message's `id`
//! is its messageId and its dedupe key (its eventId is derived from conversation, messageId and
//! type), so a retried append stores nothing twice. Everything else of the collector (read API,
//! analysis, search, transcripts, delete) treats these conversations like any other.
//!
//! Keys: ingest keys may only write here and to `POST /data/agentic` ([`super::pendo`]); the
//! read key (`/api/v1` reads and deletes) cannot write, and an ingest key cannot read.

pub mod content;
pub mod request;
pub mod storage;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use super::api::key_matches;
use super::record::{Kind, Record};
use super::{store, Collector};
use crate::error::{now_i64, ApiError, RequestId};
use request::{AppendIn, CreateIn, MessageIn, StateIn, StatusIn};
use storage::Head;

/// Largest accepted body: 8 MB (500 messages of up to 100 KB each do not fit: split them).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The log API's routes, each requiring an ingest key.
pub fn routes(collector: Arc<Collector>) -> Router<Arc<Collector>> {
    Router::new()
        .route("/api/v1/conversations", post(create))
        .route("/api/v1/conversations/{id}/messages", post(append))
        .route_layer(middleware::from_fn_with_state(
            collector,
            require_ingest_key,
        ))
}

/// Whether `given` is one of the ingest keys (each compared in constant time).
pub fn is_ingest_key(keys: &[String], given: &str) -> bool {
    keys.iter()
        .fold(false, |found, k| found | key_matches(k, given))
}

/// The answer to a request without a valid ingest key.
pub fn refuse_key(c: &Collector, given: Option<&str>, header_name: &str) -> Response {
    let (status, code, message) = match given {
        _ if c.ingest_keys.is_empty() => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this collector has no ingest keys: set AGENT_TRACK_INGEST_KEYS (or --ingest-keys-file) to write through this endpoint".to_owned(),
        ),
        None => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("this endpoint requires an ingest key in {header_name}"),
        ),
        Some(k) if key_matches(&c.api_key, k) => (
            StatusCode::FORBIDDEN,
            "forbidden",
            "the read API key cannot write; use an ingest key".to_owned(),
        ),
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the ingest key is not valid".to_owned(),
        ),
    };
    let mut response = ApiError::new(status, code, message).into_response();
    if status == StatusCode::UNAUTHORIZED && header_name.starts_with("Authorization") {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

async fn require_ingest_key(State(c): State<Arc<Collector>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::api::bearer);
    if given.is_some_and(|k| is_ingest_key(&c.ingest_keys, k)) {
        return next.run(req).await;
    }
    refuse_key(&c, given, "Authorization: Bearer <ingest key>")
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`].
pub async fn json_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    let bytes = super::ingest::read_body_limited(headers, body, MAX_BODY_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("the body is not JSON: {e}")))
}

/// `_links` of an answer.
#[derive(Debug, Serialize)]
struct Links {
    #[serde(rename = "appendMessages")]
    append_messages: Link,
}

#[derive(Debug, Serialize)]
struct Link {
    href: String,
    method: &'static str,
}

/// The answer to a create or an append.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// The conversation id.
    pub id: String,
    /// Its agent.
    pub agent_id: String,
    /// `active` or `ended` after the request.
    pub status: String,
    /// When it was created (its first event), RFC 3339.
    pub created_at: String,
    /// The message ids of this request's messages, in order (given or assigned).
    pub message_ids: Vec<String>,
    /// Whether this request created the conversation (`false`: it existed, or the
    /// idempotency key had created it before).
    pub created: bool,
    #[serde(rename = "_links")]
    links: Links,
}

fn answer(
    id: String,
    head: &Head,
    status: String,
    message_ids: Vec<String>,
    created: bool,
) -> Answer {
    let href = format!("/api/v1/conversations/{}/messages", encode_path(&id));
    Answer {
        agent_id: head.agent_id.clone(),
        status,
        created_at: super::time::format(head.started_at),
        message_ids,
        created,
        links: Links {
            append_messages: Link {
                href,
                method: "POST",
            },
        },
        id,
    }
}

/// Percent-encodes a path segment.
fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A new random id with `prefix`.
fn new_id(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// The eventId of a log message: derived from where it is stored, so a retry of the same
/// message is a duplicate.
fn event_id(conversation_id: &str, message_id: &str, stored_type: &str) -> String {
    super::record::derived_id("log_", &[conversation_id, message_id, stored_type])
}

/// The stored records of `messages` for conversation `id`, and their message ids.
fn records(
    id: &str,
    head: &Head,
    messages: Vec<MessageIn>,
    now: i64,
) -> (Vec<Record>, Vec<String>) {
    let mut out = Vec::with_capacity(messages.len());
    let mut ids = Vec::with_capacity(messages.len());
    for m in messages {
        let message_id = m.id.unwrap_or_else(|| new_id("msg_"));
        let stored_type = m.role.stored_type();
        let timestamp = m.timestamp.unwrap_or(now);
        ids.push(message_id.clone());
        out.push(Record {
            event_id: event_id(id, &message_id, stored_type),
            kind: Kind::Message,
            type_name: stored_type,
            agent_id: head.agent_id.clone(),
            conversation_id: id.to_owned(),
            message_id,
            visitor_id: head.visitor_id.clone(),
            account_id: head.account_id.clone(),
            content: m.content,
            timestamp,
            client_timestamp: timestamp,
            received_at: now,
            seq: 0,
            suggested_prompt: false,
            tools_used: json(&m.tools),
            models_used: json(&m.model.into_iter().collect::<Vec<_>>()),
            files_uploaded: "[]".into(),
            subagents_used: "[]".into(),
            comments: "[]".into(),
            input_tokens: m.prompt_tokens,
            output_tokens: m.completion_tokens,
            event_properties: json(&m.metadata),
            context: r#"{"source":"log_api"}"#.into(),
        });
    }
    (out, ids)
}

/// `value` as JSON text (plain strings, lists and JSON maps always serialise).
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Stores `messages` and `state` for conversation `id` in one transaction; the status after.
#[allow(clippy::too_many_arguments)]
fn write(
    tx: &mut super::db::Conn<'_, '_>,
    id: &str,
    head: &Head,
    messages: Vec<MessageIn>,
    state: &StateIn,
    now: i64,
    cfg: &super::analysis::AnalysisConfig,
    hooks: &super::webhooks::Targets,
) -> super::db::Result<(Vec<String>, String, store::Outcome)> {
    let (records, ids) = records(id, head, messages, now);
    let outcome = store::apply(tx, &records, now, cfg, hooks)?;
    let closed = match state.status {
        Some(StatusIn::Ended(_)) => Some(true),
        Some(StatusIn::Active) => Some(false),
        None => None,
    };
    storage::set_state(tx, id, closed, state.outcome, state.metadata.as_ref(), now)?;
    // `apply` judged the conversation if its messages changed; judge it again only when this
    // request changed its state too (or it has no verdict yet).
    let state_changed = closed.is_some() || state.outcome.is_some();
    if state_changed || outcome.accepted == 0 || storage::status(tx, id)?.is_none() {
        super::analysis::storage::refresh(tx, [id], now, cfg, hooks)?;
    }
    let status = storage::status(tx, id)?.unwrap_or_else(|| "active".into());
    Ok((ids, status, outcome))
}

async fn create(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Answer>, ApiError> {
    let body = json_body(&headers, body).await?;
    let now = now_i64();
    let CreateIn {
        id,
        agent_id,
        visitor_id,
        account_id,
        messages,
        state,
        idempotency_key,
    } = request::create(&body, now)?;
    // Keys are scoped to the agent: two backends choosing the same key never meet.
    // Length-prefixed, so no pair of agent and key can spell another's.
    let idempotency_key = idempotency_key.map(|k| format!("{}:{agent_id}:{k}", agent_id.len()));
    let cfg = Arc::clone(&c.analysis);
    let hooks = c.webhook_targets().clone();
    let result = c
        .write(&rid, move |tx| {
            if let Some(key) = &idempotency_key {
                if let Some(existing) = storage::idempotent(tx, key, now)? {
                    let head = storage::head(tx, &existing)?;
                    let status = storage::status(tx, &existing)?.unwrap_or_else(|| "active".into());
                    return Ok(head.map(|h| {
                        (
                            answer(existing, &h, status, Vec::new(), false),
                            store::Outcome {
                                accepted: 0,
                                duplicates: 0,
                            },
                        )
                    }));
                }
            }
            // (Cloned: a transaction PostgreSQL aborts for a conflict runs again.)
            let id = id.clone().unwrap_or_else(|| new_id("conv_"));
            let fresh = Head {
                agent_id: agent_id.clone(),
                visitor_id: visitor_id.clone(),
                account_id: account_id.clone(),
                started_at: messages
                    .iter()
                    .filter_map(|m| m.timestamp)
                    .min()
                    .unwrap_or(now)
                    .min(now),
            };
            let created = storage::create(tx, &id, &fresh)?;
            let head = match storage::head(tx, &id)? {
                Some(h) if created || h.agent_id == fresh.agent_id => h,
                _ => return Ok(None),
            };
            if !created {
                storage::fill_ids(
                    tx,
                    &id,
                    fresh.visitor_id.as_deref(),
                    fresh.account_id.as_deref(),
                )?;
            }
            let (ids, status, outcome) =
                write(tx, &id, &head, messages.clone(), &state, now, &cfg, &hooks)?;
            if let Some(key) = &idempotency_key {
                storage::remember_key(tx, key, &id, now)?;
            }
            Ok(Some((answer(id, &head, status, ids, created), outcome)))
        })
        .await?;
    c.wake_webhooks();
    count(&c, result.as_ref().map(|r| r.1));
    result.map(|r| Json(r.0)).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a conversation with this id exists for another agentId; append to it with POST /api/v1/conversations/{id}/messages, or choose another id",
        )
    })
}

async fn append(
    State(c): State<Arc<Collector>>,
    rid: RequestId,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Answer>, ApiError> {
    let body = json_body(&headers, body).await?;
    let now = now_i64();
    let AppendIn { messages, state } = request::append(&body, now)?;
    let cfg = Arc::clone(&c.analysis);
    let hooks = c.webhook_targets().clone();
    let result = c
        .write(&rid, move |tx| {
            let Some(head) = storage::head(tx, &id)? else {
                return Ok(None);
            };
            let (ids, status, outcome) =
                write(tx, &id, &head, messages.clone(), &state, now, &cfg, &hooks)?;
            Ok(Some((
                answer(id.clone(), &head, status, ids, false),
                outcome,
            )))
        })
        .await?;
    c.wake_webhooks();
    count(&c, result.as_ref().map(|r| r.1));
    result.map(|r| Json(r.0)).ok_or_else(super::api::not_found)
}

/// Counts a request's messages in the metrics.
fn count(c: &Collector, outcome: Option<store::Outcome>) {
    if let Some(o) = outcome {
        c.metrics().count("log_api", "accepted", o.accepted as u64);
        c.metrics()
            .count("log_api", "duplicate", o.duplicates as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_per_place() {
        assert_eq!(event_id("c", "m", "prompt"), event_id("c", "m", "prompt"));
        assert_ne!(
            event_id("c", "m", "prompt"),
            event_id("c", "m", "agent_response")
        );
        assert_ne!(event_id("c", "m1", "prompt"), event_id("c", "m", "1prompt"));
        assert_eq!(event_id("c", "m", "prompt").len(), 4 + 32);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path("conv_1"), "conv_1");
        assert_eq!(encode_path("a/b c"), "a%2Fb%20c");
    }
}
