//! [`FetchTransport`]: batches over `fetch`. The only module that touches `fetch`.

use gloo_timers::callback::Timeout;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, RequestInit, Response};

use crate::delivery::{Pending, Reply, Transport};

/// A request that has not answered after this long is aborted and retried later, so that a
/// hung proxy cannot hold the cross-tab send lock.
pub const TIMEOUT_MS: u32 = 30_000;

/// Posts batches with `fetch`. Normal sends are `application/json`; page-hide sends are
/// `text/plain` (no CORS preflight) with `keepalive: true`, set through `Reflect` because
/// web-sys has no setter for it.
#[derive(Debug, Default, Clone, Copy)]
pub struct FetchTransport;

impl Transport for FetchTransport {
    fn send(&self, endpoint: &str, body: String, keepalive: bool) -> Pending<Reply> {
        let endpoint = endpoint.to_string();
        Box::pin(async move {
            post(&endpoint, &body, keepalive)
                .await
                .unwrap_or_else(|e| Reply::Network(describe(&e)))
        })
    }
}

async fn post(endpoint: &str, body: &str, keepalive: bool) -> Result<Reply, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let headers = js_sys::Object::new();
    let content_type = if keepalive {
        "text/plain;charset=UTF-8"
    } else {
        "application/json"
    };
    Reflect::set(&headers, &"content-type".into(), &content_type.into())?;
    init.set_headers(&headers);
    if keepalive {
        Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE)?;
    }
    let controller = AbortController::new()?;
    init.set_signal(Some(&controller.signal()));
    // Dropping the timeout (when the response came first) cancels it.
    let _timeout = Timeout::new(TIMEOUT_MS, move || controller.abort());

    let response: Response = JsFuture::from(window.fetch_with_str_and_init(endpoint, &init))
        .await?
        .dyn_into()?;
    let status = response.status();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let body = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok(Reply::Http {
        status,
        body,
        retry_after,
    })
}

fn describe(e: &JsValue) -> String {
    let get = |k: &str| Reflect::get(e, &k.into()).ok().and_then(|v| v.as_string());
    match (get("name"), get("message")) {
        (Some(n), _) if n == "AbortError" => format!("no response within {} s", TIMEOUT_MS / 1000),
        (Some(n), Some(m)) => format!("{n}: {m}"),
        _ => "fetch failed".into(),
    }
}
