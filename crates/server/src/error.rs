//! [`ApiError`]: every non-2xx answer of the servers, as `{requestId, code, message}` JSON
//! ([`ErrorBody`]). Bad input is answered, not logged; internal failures are logged, not
//! echoed.
//!
//! [`layer`] gives every request its [`RequestId`] (a request extension, the `x-request-id`
//! response header) and writes the body of every [`ApiError`] answered under it, so
//! handlers return `Result<_, ApiError>` and use `?`.

use std::collections::BTreeMap;

use agent_track_schema::ErrorBody;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The response header naming the request: the `requestId` of the body and of the log lines.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `body_too_large`.
    pub code: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after_s: Option<u64>,
    /// Field path -> what is wrong with it (`validation_error`).
    pub details: Option<BTreeMap<String, String>>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
            details: None,
        }
    }

    /// 400 `validation_error` naming every bad field in `details` (field path -> reason).
    pub fn validation(details: BTreeMap<String, String>) -> Self {
        let n = details.len();
        let first = details.keys().next().cloned().unwrap_or_default();
        let message = match n {
            1 => format!("{first} is not valid: {}", details[&first]),
            _ => format!("{n} fields are not valid (first: {first}); see details"),
        };
        ApiError {
            details: Some(details),
            ..Self::bad_request("validation_error", message)
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// An internal failure: logged with its cause, answered without it.
    pub fn internal(request_id: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(request_id, %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log for this requestId",
        )
    }
}

/// The code and message of an [`ApiError`] whose body [`layer`] has yet to write.
#[derive(Debug, Clone)]
struct Unwritten {
    code: &'static str,
    message: String,
    details: Option<BTreeMap<String, String>>,
}

/// The status and headers (`Retry-After`); the JSON body is written by [`layer`], which
/// knows the request id.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response.extensions_mut().insert(Unwritten {
            code: self.code,
            message: self.message,
            details: self.details,
        });
        response
    }
}

/// A request's id, `req_` + 16 random hex digits, set once by [`layer`]. Handlers extract
/// it (a request outside the layer gets a fresh one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A new random id.
    pub fn random() -> Self {
        RequestId(format!("req_{:016x}", rand::random::<u64>()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::random))
    }
}

/// The middleware that gives each request a [`RequestId`] (a request extension), writes the
/// `{requestId, code, message}` body of an [`ApiError`] answer, and sets `x-request-id` on
/// every response.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = RequestId::random();
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Some(e) = response.extensions_mut().remove::<Unwritten>() {
        let body = ErrorBody {
            request_id: id.0.clone(),
            code: e.code.to_owned(),
            message: e.message,
            details: e.details,
        };
        // Serialising strings cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(json);
    }
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// [`now_ms`] as the `i64` the stores keep times in.
pub fn now_i64() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}
