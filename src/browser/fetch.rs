//! [`FetchTransport`]: batches over `fetch`. The only module that touches `fetch`, through
//! `js/browser.js` (shipped in the package's `snippets/`), which makes the request; what the
//! answer means stays in Rust ([`Reply`], `delivery::outcome`).

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::delivery::{Pending, Reply, Transport};

/// A request that has not answered after this long is aborted and retried later, so that a
/// hung proxy cannot hold the cross-tab send lock.
pub const TIMEOUT_MS: u32 = 30_000;

/// Posts batches with `fetch`. Normal sends are `application/json`, gzipped with the
/// browser's own `CompressionStream` where it exists (`Content-Encoding: gzip`; no
/// compressor in the module). Page-hide sends are `text/plain` (no CORS preflight) with
/// `keepalive: true`, and stay uncompressed: `CompressionStream` is asynchronous, and a send
/// made while the page unloads must leave at once. See `js/browser.js`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FetchTransport;

impl Transport for FetchTransport {
    fn send(&self, endpoint: &str, body: String, keepalive: bool) -> Pending<Reply> {
        let endpoint = endpoint.to_owned();
        // The request starts when the future is first polled, as an async fn's would.
        Box::pin(async move {
            reply(JsFuture::from(post(&endpoint, &body, keepalive, TIMEOUT_MS)).await)
        })
    }
}

#[wasm_bindgen(module = "/js/browser.js")]
extern "C" {
    /// Resolves with an [`Answer`] or, for a network failure, its description (a string).
    pub(super) fn post(
        endpoint: &str,
        body: &str,
        keepalive: bool,
        timeout_ms: u32,
    ) -> js_sys::Promise;
    /// An HTTP answer: `{status, body, retryAfter}`.
    type Answer;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Answer) -> u16;
    #[wasm_bindgen(method, getter)]
    fn body(this: &Answer) -> String;
    #[wasm_bindgen(method, getter, js_name = retryAfter)]
    fn retry_after(this: &Answer) -> Option<String>;
}

/// What `post` resolved with, as a [`Reply`].
pub(super) fn reply(settled: Result<JsValue, JsValue>) -> Reply {
    match settled {
        Ok(v) => match v.as_string() {
            Some(description) => Reply::Network(description),
            None => {
                let answer: Answer = v.unchecked_into();
                Reply::Http {
                    status: answer.status(),
                    body: answer.body(),
                    retry_after: answer.retry_after(),
                }
            }
        },
        // `post` catches what fetch throws; this is a failure of the call itself.
        Err(_) => Reply::Network("fetch failed".into()),
    }
}
