//! [`ApiError`]: every non-2xx answer of the servers, as `{requestId, code, message}` JSON.
//! Bad input is answered, not logged; internal failures are logged, not echoed.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `body_too_large`.
    pub code: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
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

    /// The response for request `request_id`.
    pub fn respond(self, request_id: &str) -> Response {
        let body = serde_json::json!({ "requestId": request_id, "code": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(s));
        }
        response
    }
}

/// A new request id: `req_` + 16 random hex digits.
pub fn request_id() -> String {
    format!("req_{:016x}", rand::random::<u64>())
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
