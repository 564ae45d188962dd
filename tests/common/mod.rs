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

/// Calls `trackAgent` of the JS API with values written as JS.
pub fn track(event_type: &str, properties: &str) -> Result<String, JsValue> {
    agent_track::browser::js::track_agent(js(event_type).unchecked_into(), js(properties).unchecked_into(), None)
}

/// Calls `configure` of the JS API with an options object written as JS.
pub fn configure(options: &str) -> Result<(), JsValue> {
    agent_track::browser::js::configure(js(options).unchecked_into())
}

/// `stats()[key]` as a number.
pub fn stat(key: &str) -> f64 {
    get(&agent_track::browser::js::stats().into(), key).as_f64().unwrap()
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
