//! [`FetchTransport`]: batches over `fetch`. The only module that touches `fetch`.

use gloo_timers::callback::Timeout;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, ReadableStream, RequestInit, Response};

use agent_track_schema::cat;
use agent_track_schema::text::num;

use crate::delivery::{Pending, Reply, Transport};

/// A request that has not answered after this long is aborted and retried later, so that a
/// hung proxy cannot hold the cross-tab send lock.
pub const TIMEOUT_MS: u32 = 30_000;

/// Posts batches with `fetch`. Normal sends are `application/json`, gzipped with the
/// browser's own `CompressionStream` where it exists (`Content-Encoding: gzip`; no
/// compressor in the module). Page-hide sends are `text/plain` (no CORS preflight) with
/// `keepalive: true`, set through `Reflect` because web-sys has no setter for it, and stay
/// uncompressed: `CompressionStream` is asynchronous, and a send made while the page unloads
/// must leave at once.
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

#[wasm_bindgen]
extern "C" {
    /// `CompressionStream` (a transform stream); its constructor throws where it is missing.
    type CompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<CompressionStream, JsValue>;
    /// A `ReadableStream`, for its `pipeThrough` (web-sys's needs more bindings).
    type Readable;
    #[wasm_bindgen(method, js_name = pipeThrough)]
    fn pipe_through(this: &Readable, transform: &CompressionStream) -> ReadableStream;
}

/// `body` gzipped by the browser, or `None` where `CompressionStream` is missing or fails.
async fn gzip(body: &str) -> Option<JsValue> {
    let compressor = CompressionStream::new("gzip").ok()?;
    let source: Readable = Response::new_with_opt_str(Some(body))
        .ok()?
        .body()?
        .unchecked_into();
    let stream = source.pipe_through(&compressor);
    let compressed = Response::new_with_opt_readable_stream(Some(&stream)).ok()?;
    JsFuture::from(compressed.array_buffer().ok()?).await.ok()
}

async fn post(endpoint: &str, body: &str, keepalive: bool) -> Result<Reply, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let init = RequestInit::new();
    init.set_method("POST");
    let headers = js_sys::Object::new();
    let compressed = if keepalive { None } else { gzip(body).await };
    match &compressed {
        Some(bytes) => {
            init.set_body(bytes);
            Reflect::set(&headers, &"content-encoding".into(), &"gzip".into())?;
        }
        None => init.set_body(&JsValue::from_str(body)),
    }
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
        (Some(n), _) if n == "AbortError" => {
            cat![
                "no response within ",
                num(u64::from(TIMEOUT_MS / 1000)),
                " s"
            ]
        }
        (Some(n), Some(m)) => cat![n, ": ", m],
        _ => "fetch failed".into(),
    }
}
