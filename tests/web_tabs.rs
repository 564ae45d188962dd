//! Several tabs on one origin share one queue; only one sends at a time.
#![cfg(target_arch = "wasm32")]

mod common;

use std::collections::HashMap;
use std::rc::Rc;

use agent_track::browser::{new_tracker, BrowserPlatform, Lease};
use agent_track::delivery::Lock;
use agent_track::storage::LocalStorage;
use agent_track::{AgentProperties, Config, EventType, Hooks, Tracker};
use common::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn tab(rec: &Recorder) -> Tracker {
    let t = new_tracker();
    t.configure(
        Config {
            endpoint: Some(rec.endpoint()),
            visitor_id: Some("v".into()),
            ..Config::default()
        },
        Hooks::default(),
    );
    t
}

fn track(t: &Tracker, i: usize) -> String {
    t.track_agent(
        EventType::Prompt,
        AgentProperties::new("a", "c", format!("m{i}"), "x"),
        Default::default(),
    )
    .unwrap()
    .unwrap()
}

#[wasm_bindgen_test]
async fn two_tabs_never_send_the_same_events_concurrently() {
    fresh();
    let rec = Recorder::new("tabs");
    rec.script("[{status: 200, delayMs: 400}, {status: 200, delayMs: 400}]")
        .await;
    let (a, b) = (tab(&rec), tab(&rec));
    let mut ids: Vec<String> = (0..10)
        .map(|i| track(if i % 2 == 0 { &a } else { &b }, i))
        .collect();
    // Both tabs flush at once; Web Locks make the second wait for the first.
    let (fa, fb) = (a.clone(), b.clone());
    let pa = wasm_bindgen_futures::future_to_promise(async move {
        fa.flush()
            .await
            .map(|r| (r.sent as f64).into())
            .map_err(|e| e.to_string().into())
    });
    let pb = wasm_bindgen_futures::future_to_promise(async move {
        fb.flush()
            .await
            .map(|r| (r.sent as f64).into())
            .map_err(|e| e.to_string().into())
    });
    let sa = wasm_bindgen_futures::JsFuture::from(pa)
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    let sb = wasm_bindgen_futures::JsFuture::from(pb)
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert_eq!(sa + sb, 10.0, "every event sent by exactly one tab");
    let batches = rec.batches().await;
    let mut delivered: Vec<String> = batches.iter().flat_map(|b| b.events.clone()).collect();
    let mut counts = HashMap::new();
    for id in &delivered {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|c| *c == 1),
        "an event was sent twice: {counts:?}"
    );
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids);
    for pair in batches.windows(2) {
        assert!(
            pair[1].start >= pair[0].end.unwrap(),
            "requests overlapped: {batches:?}"
        );
    }
}

#[wasm_bindgen_test]
async fn a_closed_tab_leaves_its_events_to_the_next() {
    fresh();
    let rec = Recorder::new("closed-tab");
    let closed = tab(&rec);
    let ids: Vec<String> = (0..3).map(|i| track(&closed, i)).collect();
    drop(closed);
    let next = tab(&rec);
    let report = next.flush().await.unwrap();
    assert_eq!(report.sent, 3, "{report:?} {:?}", next.stats());
    assert_eq!(rec.delivered().await, ids);
}

#[wasm_bindgen_test]
async fn the_lease_fallback_excludes_a_second_sender() {
    fresh();
    let storage = || -> Rc<dyn agent_track::Storage> { Rc::new(LocalStorage::open().unwrap()) };
    let (a, b) = (
        Lease::new(storage(), Rc::new(BrowserPlatform::new())),
        Lease::new(storage(), Rc::new(BrowserPlatform::new())),
    );
    let held = a.acquire(false).await.expect("free");
    assert!(b.acquire(false).await.is_none(), "held by a");
    drop(held);
    assert!(b.acquire(false).await.is_some(), "released");
}
