//! Helpers shared by the browser tests: a clean page state and JS values written as JS.
#![allow(dead_code)]

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Starts a test from an empty `localStorage` and no default tracker.
pub fn fresh() {
    agent_track::browser::shutdown();
    local_storage().clear().unwrap();
}

/// The page's `localStorage`.
pub fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// Evaluates a JS expression, e.g. `js("({agentId: 'a'})")`.
pub fn js(expr: &str) -> JsValue {
    js_sys::eval(expr).unwrap_or_else(|e| panic!("eval {expr}: {e:?}"))
}

/// A JS property read.
pub fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap()
}

/// Calls `trackAgent` of the JS API with values written as JS; `""` when it returned null.
pub fn track(event_type: &str, properties: &str) -> Result<String, JsValue> {
    agent_track::browser::js::track_agent(
        js(event_type).unchecked_into(),
        js(properties).unchecked_into(),
        None,
    )
    .map(Option::unwrap_or_default)
}

/// Where the recorder (tests/support/recorder.mjs, started by scripts/test.sh) listens.
pub const RECORDER: &str = match option_env!("AGENT_TRACK_RECORDER") {
    Some(url) => url,
    None => "http://127.0.0.1:47311",
};

/// Awaits a JS promise written as JS.
pub async fn await_js(expr: &str) -> Result<JsValue, JsValue> {
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(js(expr))).await
}

/// Sleeps `ms` milliseconds.
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// One recorded request.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    pub start: f64,
    pub end: Option<f64>,
    pub content_type: String,
    /// `gzip` when the browser compressed the body (the recorder decompresses it).
    #[serde(default)]
    pub content_encoding: String,
    pub status: u16,
    pub events: Vec<String>,
    pub body: String,
}

/// A recorder of its own on the test server.
pub struct Recorder {
    base: String,
}

impl Recorder {
    /// A fresh recorder named after the test (names must be unique per run).
    pub fn new(test: &str) -> Recorder {
        let run = js_sys::Date::now() as u64;
        Recorder {
            base: format!("{RECORDER}/t/{test}-{run}"),
        }
    }

    /// The endpoint to configure.
    pub fn endpoint(&self) -> String {
        format!("{}/v1/events", self.base)
    }

    /// Scripts the next replies, e.g. `[{status: 503}, {status: 429, retryAfter: 1}]`.
    pub async fn script(&self, replies: &str) {
        await_js(&format!(
            "fetch('{}/script', {{method: 'POST', body: JSON.stringify({replies})}})",
            self.base
        ))
        .await
        .unwrap();
    }

    /// Every request received so far.
    pub async fn batches(&self) -> Vec<Recorded> {
        let text = await_js(&format!(
            "fetch('{}/batches').then(r => r.text())",
            self.base
        ))
        .await
        .unwrap();
        serde_json::from_str(&text.as_string().unwrap()).unwrap()
    }

    /// Waits (up to `ms`) until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, ms: u32) -> Vec<Recorded> {
        let mut waited = 0;
        loop {
            let b = self.batches().await;
            if b.len() >= n || waited >= ms {
                return b;
            }
            sleep(50).await;
            waited += 50;
        }
    }

    /// Every event id delivered with a 200, in order.
    pub async fn delivered(&self) -> Vec<String> {
        self.batches()
            .await
            .into_iter()
            .filter(|b| b.status == 200)
            .flat_map(|b| b.events)
            .collect()
    }
}

/// Awaits `flush()` of the JS API: the resolved object, or the rejection.
pub async fn flush() -> Result<JsValue, JsValue> {
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(JsValue::from(
        agent_track::browser::js::flush(),
    )))
    .await
}

/// Calls `configure` of the JS API with an options object written as JS.
pub fn configure(options: &str) -> Result<(), JsValue> {
    agent_track::browser::js::configure(js(options).unchecked_into())
}

/// `stats()[key]` as a number.
pub fn stat(key: &str) -> f64 {
    get(&agent_track::browser::js::stats().into(), key)
        .as_f64()
        .unwrap()
}

/// The keys of queued events in `localStorage`.
pub fn queued_keys() -> Vec<String> {
    let s = local_storage();
    (0..s.length().unwrap())
        .filter_map(|i| s.key(i).unwrap())
        .filter(|k| k.starts_with(agent_track::queue::QUEUE_PREFIX))
        .collect()
}

/// A valid prompt's properties, as JS source.
pub const PROMPT: &str = "({agentId: 'agent-1', conversationId: 'conv-1', messageId: 'msg-1', content: 'Where is my order?'})";
