//! CORS with an explicit origin allowlist, on every response of the proxy (errors included),
//! and the preflight answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::ProxyState;
use crate::error::ApiError;

/// What the `Origin` header says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginCheck {
    /// No `Origin`: not a cross-origin browser request (curl, servers, some same-origin GETs).
    None,
    /// An allowed origin; CORS headers name it.
    Allowed(String),
    /// An origin not on the list.
    Denied(String),
}

/// Checks `origin` against `allowlist` (exact match; `*` allows any).
pub fn check(origin: Option<&str>, allowlist: &[String]) -> OriginCheck {
    match origin {
        None => OriginCheck::None,
        Some(o)
            if allowlist
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(o)) =>
        {
            OriginCheck::Allowed(o.to_string())
        }
        Some(o) => OriginCheck::Denied(o.to_string()),
    }
}

/// Refuses denied origins with 403, answers preflights, and adds the CORS headers to every
/// response for an allowed origin.
pub async fn layer(State(state): State<Arc<ProxyState>>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = match check(origin.as_deref(), &state.config.allowed_origins) {
        OriginCheck::Denied(o) => {
            state.metrics.count_status(403);
            let message = format!(
                "origin {o} is not allowed to post events; add it to the proxy's allowed origins"
            );
            return ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", message)
                .into_response();
        }
        OriginCheck::Allowed(o) => Some(o),
        OriginCheck::None => None,
    };
    let mut response = if request.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, content-encoding"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    if let Some(o) = allowed.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After, x-request-id"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_origins_or_star() {
        let list = vec!["https://app.example".to_string()];
        assert_eq!(
            check(Some("https://app.example"), &list),
            OriginCheck::Allowed("https://app.example".into())
        );
        assert_eq!(
            check(Some("https://app.example.evil"), &list),
            OriginCheck::Denied("https://app.example.evil".into())
        );
        assert_eq!(
            check(Some("http://app.example"), &list),
            OriginCheck::Denied("http://app.example".into())
        );
        assert_eq!(check(None, &list), OriginCheck::None);
        assert!(matches!(
            check(Some("https://x"), &["*".to_string()]),
            OriginCheck::Allowed(_)
        ));
    }
}
