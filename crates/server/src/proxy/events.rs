//! `POST /v1/events`: the browser-facing endpoint of contracts v1 and v2 (see [`super::batch`]).

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use agent_track_schema::json::Json as JsonValue;
use agent_track_schema::limits::{MAX_BATCH_EVENTS, MAX_EVENT_AGE_MS, MAX_EVENT_BYTES};
use agent_track_schema::{parse_event, BatchResponse, Code, Rejection, RelayedEvent};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;

use super::client::{client_ip, is_trusted};
use super::enrich::{enrich, IdSource, RequestFacts};
use super::upstream::{relay, Refused, RelayError};
use super::ProxyState;
use crate::error::{now_ms, ApiError, RequestId};

/// Handles one batch: limits, content type, decoding, per-event validation, enrichment,
/// relay; answers 200 only after upstream accepted every valid event.
pub async fn post_events(
    State(state): State<Arc<ProxyState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    rid: RequestId,
    request: Request,
) -> Response {
    let started = Instant::now();
    // The headers borrowed from the request: axum's `HeaderMap` extractor would copy them.
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = client_ip(peer.ip(), forwarded, &state.config.trusted_proxies);
    // Identity headers count only when the request came through a trusted proxy.
    let from_trusted = is_trusted(peer.ip(), &state.config.trusted_proxies);
    let result = handle(&state, &rid, client, from_trusted, headers, body).await;
    let (response, events) = match result {
        Ok((r, n)) => (r, n),
        Err(e) => (e.into_response(), 0),
    };
    let status = response.status().as_u16();
    state.metrics.count_status(status);
    tracing::info!(request_id = %rid, %client, status, events, ms = started.elapsed().as_millis() as u64, "batch");
    response
}

async fn handle(
    state: &ProxyState,
    rid: &str,
    client: std::net::IpAddr,
    from_trusted: bool,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Response, usize), ApiError> {
    if let Err(retry_after_s) = state.limiter.check(client, now_ms()) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from this client; retry in {retry_after_s} s"),
        );
        e.retry_after_s = Some(retry_after_s);
        return Err(e);
    }
    check_content_type(headers)?;
    let bytes = read_body(headers, body, state.config.max_body_bytes).await?;
    let received_at = now_ms();
    // A plain body is read in place (see `super::plain`); any other with a `Value` tree.
    let doc = super::plain::doc(&bytes);
    let value: Value;
    let parsed = match doc.as_ref().and_then(super::plain::batch) {
        Some(plain) => Parsed::Plain(plain),
        None => {
            value = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
            })?;
            let Some(obj) = value.as_object() else {
                return Err(ApiError::bad_request(
                    "invalid_batch",
                    "the body must be an object {sentAt, events}",
                ));
            };
            let events = super::batch::events(obj)?;
            let sent_at = obj.get("sentAt").and_then(Value::as_u64).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_batch",
                    "sentAt must be unix milliseconds (a whole number)",
                )
            })?;
            Parsed::Value { events, sent_at }
        }
    };
    let (count, sent_at) = match &parsed {
        Parsed::Plain(p) => (p.events.len(), p.sent_at),
        Parsed::Value { events, sent_at } => (events.len(), *sent_at),
    };
    if count > MAX_BATCH_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "the batch has {} events; at most {MAX_BATCH_EVENTS} are allowed per batch",
                count
            ),
        ));
    }
    if let Err(retry_after_s) =
        state
            .event_limiter
            .take(client, count.try_into().unwrap_or(u32::MAX), now_ms())
    {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many events from this client ({} in this batch); retry in {retry_after_s} s",
                count
            ),
        );
        e.retry_after_s = Some(retry_after_s);
        return Err(e);
    }
    let source = |header: Option<&str>| match header {
        None => IdSource::Browser,
        Some(name) => IdSource::Header(if from_trusted {
            trusted(headers, Some(name))
        } else {
            None
        }),
    };
    let facts = RequestFacts {
        received_at,
        sent_at,
        visitor_id: source(state.config.visitor_header.as_deref()),
        account_id: source(state.config.account_header.as_deref()),
        ip: state.config.forward_ip.then(|| client.to_string()),
    };
    let (valid, mut rejected) = match &parsed {
        Parsed::Plain(p) => super::plain::validate(p, &facts),
        Parsed::Value { events, .. } => validate(events.iter(), &facts),
    };
    let mut accepted = valid.len();
    if !valid.is_empty() {
        let refused = relay(state, valid).await.map_err(|e| relay_error(rid, e))?;
        if !refused.is_empty() {
            accepted -= refused.len().min(accepted);
            tracing::info!(request_id = %rid, refused = refused.len(), "upstream refused events for good");
            rejected.extend(upstream_rejections(&parsed, refused));
        }
    }
    for r in &rejected {
        state.metrics.count_rejected(&r.code);
    }
    state.metrics.count_accepted(accepted as u64);
    let n = count;
    Ok((
        Json(BatchResponse {
            request_id: rid.to_string(),
            accepted: accepted as u64,
            rejected,
        })
        .into_response(),
        n,
    ))
}

/// A body as read: plain, in place, or as a `Value` tree.
enum Parsed<'d, 'a, 'v> {
    Plain(super::plain::Batch<'d, 'a>),
    Value {
        events: super::batch::Events<'v>,
        sent_at: u64,
    },
}

/// Upstream's refusals as rejections of the browser's batch, at the index where the browser
/// sent each event.
fn upstream_rejections(parsed: &Parsed<'_, '_, '_>, refused: Vec<Refused>) -> Vec<Rejection> {
    refused
        .into_iter()
        .map(|r| Rejection {
            index: match parsed {
                Parsed::Plain(p) => super::plain::position(p, &r.event_id),
                Parsed::Value { events, .. } => events.iter().position(|e| {
                    e.get("eventId").and_then(Value::as_str) == Some(r.event_id.as_str())
                }),
            }
            .unwrap_or_default(),
            event_id: r.event_id,
            code: r.code,
            field: r.field,
            message: r.message,
        })
        .collect()
}

/// The code of an event refused because the trusted visitor header was missing.
pub const MISSING_VISITOR_HEADER: &str = "missing_visitor_header";

/// Splits the batch into relayable events and final rejections. Each event is checked as
/// sent, then again as it will be relayed (normalized and enriched: folding `modelUsed` into
/// `agentModelsUsed` can break a limit), so that nothing upstream would refuse is relayed.
/// Repeated `eventId`s within a batch are relayed once and acknowledged.
pub fn validate<'a>(
    events: impl IntoIterator<Item = std::borrow::Cow<'a, Value>>,
    facts: &RequestFacts,
) -> (Vec<RelayedEvent>, Vec<Rejection>) {
    let events = events.into_iter();
    let mut v = Validation::with_capacity(events.size_hint().0);
    for (index, raw) in events.enumerate() {
        let raw: &Value = &raw;
        v.check(index, raw, compact_len(raw), facts);
    }
    v.finish()
}

/// The events of a batch checked so far (see [`validate`]), for any reading of the body.
pub struct Validation {
    valid: Vec<RelayedEvent>,
    /// The rejections so far, in body order.
    pub rejected: Vec<Rejection>,
}

impl Validation {
    /// Room for `events` valid events, so that a batch's list is allocated once.
    pub fn with_capacity(events: usize) -> Self {
        Validation {
            valid: Vec::with_capacity(events),
            rejected: Vec::new(),
        }
    }

    /// Checks the event at `index`, `size` bytes as compact JSON text; `false` when it was
    /// rejected (the rejection is the last of [`Validation::rejected`]).
    pub fn check<'j, J: JsonValue<'j>>(
        &mut self,
        index: usize,
        raw: J,
        size: usize,
        facts: &RequestFacts,
    ) -> bool {
        let event_id = || {
            raw.get("eventId")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .into_owned()
        };
        let reject = |code: &str, field: &str, message: String| Rejection {
            index,
            event_id: event_id(),
            code: code.into(),
            field: field.into(),
            message,
        };
        if size > MAX_EVENT_BYTES {
            self.rejected.push(reject(
                Code::TooLarge.as_str(),
                "event",
                format!("the event is {size} bytes; at most {MAX_EVENT_BYTES} are allowed"),
            ));
            return false;
        }
        let event = match parse_event(raw) {
            Ok(e) => e,
            Err(problems) => {
                let p = &problems[0];
                self.rejected
                    .push(reject(p.code.as_str(), &p.field, p.message.clone()));
                return false;
            }
        };
        // Normalizing can break a rule only by folding `modelUsed` into `agentModelsUsed`
        // (defaulting `suggestedPrompt` breaks none); `parse_event` checked the rest.
        let folds_model = event.properties.model_used.is_some();
        let relayed = enrich(event, facts);
        if relayed.event.visitor_id.is_none() {
            self.rejected.push(match facts.visitor_id {
                IdSource::Browser => reject(
                    Code::MissingField.as_str(),
                    "visitorId",
                    "visitorId is required (a non-empty string)".into(),
                ),
                IdSource::Header(_) => reject(
                    MISSING_VISITOR_HEADER,
                    "visitorId",
                    "visitorId comes from the header that the site's auth layer sets (--visitor-header); this request did not carry it through a --trusted-proxy, and the browser's visitorId is never used instead".into(),
                ),
            });
            return false;
        }
        if let Err(problems) = match folds_model {
            true => relayed.event.properties.validate(relayed.event.event_type),
            false => Ok(()),
        } {
            let p = &problems[0];
            self.rejected.push(reject(
                p.code.as_str(),
                &p.field,
                format!("once normalized for relaying: {}", p.message),
            ));
            return false;
        }
        if facts.received_at.saturating_sub(relayed.event.timestamp) > MAX_EVENT_AGE_MS {
            self.rejected.push(reject(
                "too_old",
                "timestamp",
                "the event is older than 7 days, which the server-side endpoint refuses".into(),
            ));
            return false;
        }
        self.valid.push(relayed);
        true
    }

    /// The relayable events, each `eventId` once (its first occurrence), and the rejections.
    pub fn finish(self) -> (Vec<RelayedEvent>, Vec<Rejection>) {
        // Repeats found by sorting positions by id: no copy of an id, no hashing.
        let id = |i: usize| self.valid[i].event.event_id.as_str();
        let mut order: Vec<usize> = (0..self.valid.len()).collect();
        order.sort_unstable_by(|&a, &b| id(a).cmp(id(b)).then(a.cmp(&b)));
        let mut repeat = vec![false; self.valid.len()];
        for pair in order.windows(2) {
            if id(pair[0]) == id(pair[1]) {
                repeat[pair[1]] = true;
            }
        }
        // No repeat (the usual batch): the events stay where they are.
        if !repeat.contains(&true) {
            return (self.valid, self.rejected);
        }
        let valid = self
            .valid
            .into_iter()
            .zip(repeat)
            .filter_map(|(event, repeat)| (!repeat).then_some(event))
            .collect();
        (valid, self.rejected)
    }
}

/// The length of `value` as compact JSON text, counted without writing it anywhere.
pub fn compact_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

fn trusted(headers: &HeaderMap, name: Option<&str>) -> Option<String> {
    let v = headers.get(name?)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn relay_error(rid: &str, e: RelayError) -> ApiError {
    tracing::warn!(request_id = %rid, error = ?e, "upstream relay failed");
    let status = e.status();
    let (code, message, retry_after_s) = match e {
        RelayError::Unavailable {
            message,
            retry_after_s,
        } => (
            "upstream_unavailable",
            format!("{message}; keep the events and retry later"),
            retry_after_s,
        ),
        RelayError::Failed(message) => (
            "upstream_failed",
            format!("{message}; keep the events and retry later"),
            None,
        ),
        RelayError::Timeout => (
            "upstream_timeout",
            "upstream did not answer in time; keep the events and retry later".into(),
            None,
        ),
    };
    ApiError {
        status,
        code,
        message,
        retry_after_s,
        details: None,
    }
}

/// The media type must be JSON or plain text (beacons and keepalive sends use
/// `text/plain;charset=UTF-8` to skip the CORS preflight); parameters are ignored.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media == "text/plain" {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "content-type {:?} is not accepted; send application/json or text/plain",
            value
        ),
    ))
}

/// Reads at most `max` bytes (413 beyond, before buffering more), gunzipping
/// `content-encoding: gzip` bodies with the same limit on the decompressed size.
async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {max} bytes; split the batch"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > max {
            return Err(too_large());
        }
    }
    let limited = http_body_util::Limited::new(body, max);
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large())
        }
        Err(e) if crate::serve::is_body_timeout(&*e) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("{e}; send the batch again"),
            ))
        }
        Err(_) => {
            return Err(ApiError::bad_request(
                "unreadable_body",
                "the body could not be read",
            ))
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "identity" | "" => Ok(bytes),
        "gzip" => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(&bytes[..]).take(max as u64 + 1);
            decoder
                .read_to_end(&mut out)
                .map_err(|_| ApiError::bad_request("invalid_gzip", "the body is not valid gzip"))?;
            if out.len() > max {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("content-encoding {other:?} is not accepted; send gzip or none"),
        )),
    }
}
