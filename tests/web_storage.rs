//! The durable queue in a real browser: reloads, caps, and a localStorage that is full or
//! throws.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::Rc;

use agent_track::browser::BrowserPlatform;
use agent_track::browser::LocalStorage;
use agent_track::{AgentProperties, EventType, Tracker};
use common::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn tab() -> Tracker {
    Tracker::new(
        Some(Box::new(LocalStorage::open().unwrap())),
        Rc::new(BrowserPlatform::new()),
    )
}

#[wasm_bindgen_test]
fn events_survive_a_reload() {
    fresh();
    let ids: Vec<String> = (0..3).map(|_| track("'prompt'", PROMPT).unwrap()).collect();
    // A reload: this module state goes away, a fresh one reads the same localStorage.
    agent_track::browser::shutdown();
    assert_eq!(stat("queued"), 3.0);
    let fresh_page = tab();
    let queued: Vec<String> = fresh_page
        .queued_events()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(queued, ids, "same events, same order");
}

#[wasm_bindgen_test]
fn two_tabs_write_their_own_keys() {
    fresh();
    let (a, b) = (tab(), tab());
    for i in 0..10 {
        let t = if i % 2 == 0 { &a } else { &b };
        t.track_agent(
            EventType::Prompt,
            AgentProperties::new("a", "c", format!("m{i}"), "x"),
            Default::default(),
        )
        .unwrap();
    }
    assert_eq!(queued_keys().len(), 10);
    assert_eq!(a.stats().queued, 10);
    assert_eq!(b.queued_events().len(), 10);
}

#[wasm_bindgen_test]
fn the_cap_drops_the_oldest_and_calls_on_error() {
    fresh();
    js("window.__reports = []");
    configure(
        "({endpoint: '/v1/events', maxQueueEvents: 3, onError: (e) => window.__reports.push(e)})",
    )
    .unwrap();
    let ids: Vec<String> = (0..5).map(|_| track("'prompt'", PROMPT).unwrap()).collect();
    assert_eq!((stat("queued"), stat("dropped")), (3.0, 2.0));
    let reports: js_sys::Array = js("window.__reports").unchecked_into();
    assert_eq!(reports.length(), 2);
    let first = reports.get(0);
    assert_eq!(get(&first, "name").as_string().unwrap(), "AgentTrackError");
    assert_eq!(get(&first, "code").as_string().unwrap(), "queue_full");
    assert!(get(&first, "message")
        .as_string()
        .unwrap()
        .contains("maxQueueEvents"));
    let dropped: js_sys::Array = get(&first, "eventIds").unchecked_into();
    assert_eq!(dropped.get(0).as_string().unwrap(), ids[0]);
    let last_error = get(&agent_track::browser::js::stats().into(), "lastError");
    assert_eq!(get(&last_error, "code").as_string().unwrap(), "queue_full");
    let mut remaining = queued_keys();
    remaining.sort();
    assert_eq!(
        remaining,
        ids[2..]
            .iter()
            .map(|id| format!("agent-track:v1:q:{id}"))
            .collect::<Vec<_>>()
    );
}

#[wasm_bindgen_test]
fn the_byte_cap_counts_stored_bytes() {
    fresh();
    configure("({maxQueueBytes: 4096})").unwrap();
    let big = format!(
        "({{agentId: 'a', conversationId: 'c', messageId: 'm', content: '{}'}})",
        "x".repeat(1500)
    );
    for _ in 0..4 {
        track("'prompt'", &big).unwrap();
    }
    assert_eq!((stat("queued"), stat("dropped")), (2.0, 2.0));
}

/// Captures console.warn calls into window.__warnings.
fn capture_warnings() {
    js("window.__warnings = []; window.__warn = console.warn; console.warn = (...a) => window.__warnings.push(a.join(' '))");
}

fn warnings() -> Vec<String> {
    let w: js_sys::Array = js("console.warn = window.__warn; window.__warnings").unchecked_into();
    w.iter().map(|s| s.as_string().unwrap()).collect()
}

#[wasm_bindgen_test]
fn a_full_local_storage_keeps_events_in_memory_with_one_warning() {
    fresh();
    // Fill localStorage until the browser refuses (its real quota).
    let filled = js("(() => { const chunk = 'f'.repeat(256 * 1024); let i = 0; \
        try { for (; i < 1000; i++) localStorage.setItem('filler:' + i, chunk); } catch (e) { return e.name; } return 'never full'; })()");
    assert_eq!(filled.as_string().unwrap(), "QuotaExceededError");
    capture_warnings();
    for _ in 0..5 {
        track(
            "'prompt'",
            &format!(
                "({{agentId: 'a', conversationId: 'c', messageId: 'm', content: '{}'}})",
                "y".repeat(300 * 1024 / 4)
            ),
        )
        .unwrap_or_else(|e| panic!("threw: {:?}", get(&e, "message")));
    }
    let w = warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("QuotaExceededError") && w[0].contains("memory"),
        "{}",
        w[0]
    );
    assert_eq!((stat("queued"), stat("dropped")), (5.0, 0.0));
    local_storage().clear().unwrap();
}

#[wasm_bindgen_test]
fn a_throwing_local_storage_never_reaches_the_caller() {
    fresh();
    js("window.__setItem = Storage.prototype.setItem; \
        Storage.prototype.setItem = function () { throw new DOMException('blocked by policy', 'SecurityError'); }");
    capture_warnings();
    let result = (0..3)
        .map(|_| track("'prompt'", PROMPT))
        .collect::<Result<Vec<_>, _>>();
    js("Storage.prototype.setItem = window.__setItem");
    result.unwrap();
    let w = warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("SecurityError"), "{}", w[0]);
    assert_eq!(stat("queued"), 3.0);
    assert!(queued_keys().is_empty(), "nothing reached localStorage");
    // Once storage works again, new events are durable again.
    track("'prompt'", PROMPT).unwrap();
    assert_eq!(queued_keys().len(), 1);
    assert_eq!(stat("queued"), 4.0);
}
