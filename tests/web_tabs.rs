//! Several tabs on one origin share one queue; only one sends at a time.
#![cfg(target_arch = "wasm32")]

mod common;

use std::collections::HashMap;
use std::rc::Rc;

use agent_track::browser::LocalStorage;
use agent_track::browser::{
    new_tracker, BrowserPlatform, FetchTransport, Lease, PageLock, Scheduler, LEASE_MS, LOCK_NAME,
    RENEW_MS,
};
use agent_track::delivery::Lock;
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

/// A lease of a page of its own over the page's `localStorage`.
fn lease() -> Lease {
    Lease::new(
        Rc::new(LocalStorage::open().unwrap()),
        Rc::new(BrowserPlatform::new()),
    )
}

/// The stored lease: `(owner, expiresAt)`.
fn stored_lease() -> Option<(String, u64)> {
    let v = local_storage().get_item(LOCK_NAME).unwrap()?;
    let (owner, expires) = v.split_once(' ')?;
    Some((owner.into(), expires.parse().unwrap()))
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

#[wasm_bindgen_test]
async fn the_lease_is_short_and_renewed_while_held() {
    fresh();
    let (a, b) = (lease(), lease());
    let held = a.acquire(false).await.expect("free");
    let (owner, expires) = stored_lease().expect("written");
    let left = expires - now();
    assert!(
        left <= LEASE_MS && left + 500 > LEASE_MS,
        "expires {left} ms from now"
    );
    // Held for longer than one expiry: the renewals keep it.
    sleep((LEASE_MS as u32) + RENEW_MS).await;
    let (still, renewed) = stored_lease().expect("still written");
    assert_eq!(still, owner);
    assert!(
        renewed > expires && renewed + u64::from(RENEW_MS) + 500 > now() + LEASE_MS,
        "renewed to {} ms from now",
        renewed as i64 - now() as i64
    );
    assert!(b.acquire(false).await.is_none(), "still held by a");
    drop(held);
}

#[wasm_bindgen_test]
async fn dropping_the_last_guard_stops_renewing_and_releases() {
    fresh();
    let (a, b) = (lease(), lease());
    // A flush and a page-hide send of one page may hold the lease together.
    let first = a.acquire(false).await.expect("free");
    let second = a.acquire(false).await.expect("re-entrant within a page");
    drop(first);
    assert!(stored_lease().is_some(), "the other guard still holds it");
    assert!(b.acquire(false).await.is_none());
    drop(second);
    assert_eq!(stored_lease(), None, "removed by the last guard");
    sleep(RENEW_MS + 300).await;
    assert_eq!(stored_lease(), None, "not written again by a renewal");
    assert!(b.acquire(false).await.is_some(), "free for the next sender");
}

#[wasm_bindgen_test]
async fn a_stale_lease_of_a_closed_page_is_taken_within_the_short_expiry() {
    fresh();
    // What a page that died while sending leaves: its last renewal.
    let written = now();
    local_storage()
        .set_item(LOCK_NAME, &format!("closed-page {}", written + LEASE_MS))
        .unwrap();
    let next = lease();
    assert!(next.acquire(false).await.is_none(), "not expired yet");
    let guard = next.acquire(true).await.expect("taken once expired");
    let waited = now() - written;
    assert!(
        (LEASE_MS..LEASE_MS + 500).contains(&waited),
        "taken {waited} ms after the closed page's last renewal"
    );
    assert_ne!(stored_lease().unwrap().0, "closed-page");
    drop(guard);
}

#[wasm_bindgen_test]
async fn release_on_hide_frees_the_lease_under_a_live_guard() {
    fresh();
    let (hidden, next) = (lease(), lease());
    let in_flight = hidden.acquire(false).await.expect("free");
    hidden.release_on_hide();
    assert_eq!(stored_lease(), None, "released while the guard lives");
    let taken = next
        .acquire(false)
        .await
        .expect("the next page takes it at once");
    let owner = stored_lease().unwrap().0;
    sleep(RENEW_MS + 300).await;
    assert_eq!(
        stored_lease().unwrap().0,
        owner,
        "the hidden page's renewal leaves another's lease alone"
    );
    drop(in_flight);
    assert_eq!(
        stored_lease().unwrap().0,
        owner,
        "nor does its guard's drop remove it"
    );
    drop(taken);
    assert_eq!(stored_lease(), None);
}

#[wasm_bindgen_test]
async fn page_hide_releases_the_lease_while_its_keepalive_send_is_in_flight() {
    fresh();
    let rec = Recorder::new("hide-lease");
    rec.script("[{status: 200, delayMs: 1500}]").await;
    let platform = Rc::new(BrowserPlatform::new());
    let t = Tracker::new(
        Some(Box::new(LocalStorage::open().unwrap())),
        platform.clone(),
    );
    t.set_transport(Rc::new(FetchTransport));
    let held = Lease::new(Rc::new(LocalStorage::open().unwrap()), platform);
    t.set_lock(Rc::new(held.clone()));
    t.configure(
        Config {
            endpoint: Some(rec.endpoint()),
            visitor_id: Some("v".into()),
            flush_interval_ms: 60_000,
            ..Config::default()
        },
        Hooks::default(),
    );
    let scheduler = Scheduler::start(&t, 60_000, PageLock::Lease(held));
    let ids: Vec<String> = (0..3).map(|i| track(&t, i)).collect();
    js("window.dispatchEvent(new Event('pagehide'))");
    let sent = rec.wait_for(1, 1000).await;
    assert_eq!(sent.len(), 1, "the keepalive request left");
    assert!(sent[0].content_type.starts_with("text/plain") && sent[0].end.is_none());
    assert_eq!(
        stored_lease(),
        None,
        "released while the request is in flight"
    );
    let next = lease().acquire(false).await;
    assert!(next.is_some(), "the next page takes the lease at once");
    drop(next);
    // The answer, arriving later, still acknowledges the events.
    for _ in 0..40 {
        if t.stats().queued == 0 {
            break;
        }
        sleep(100).await;
    }
    assert_eq!(t.stats().queued, 0);
    assert_eq!(rec.delivered().await, ids);
    drop(scheduler);
}
