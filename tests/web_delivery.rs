//! Delivery in a real browser against a real HTTP server on loopback (the recorder): batching
//! by count and time, flush(), reloads, outages, 413, 429, rejections, offline, page hide.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn configure_for(rec: &Recorder, extra: &str) {
    configure(&format!(
        "({{endpoint: '{}', visitorId: 'v1', {extra}}})",
        rec.endpoint()
    ))
    .unwrap();
}

fn track_n(n: usize) -> Vec<String> {
    (0..n).map(|i| track("'prompt'", &format!("({{agentId: 'a', conversationId: 'c', messageId: 'm{i}', content: 'hello {i}'}})")).unwrap()).collect()
}

#[wasm_bindgen_test]
async fn a_batch_leaves_when_flush_at_events_are_queued() {
    fresh();
    let rec = Recorder::new("count");
    configure_for(&rec, "flushAt: 5, flushIntervalMs: 3600000");
    let ids = track_n(4);
    sleep(300).await;
    assert!(rec.batches().await.is_empty(), "4 < flushAt");
    let ids: Vec<String> = ids.into_iter().chain(track_n(1)).collect();
    let batches = rec.wait_for(1, 3000).await;
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].events, ids);
    assert_eq!(batches[0].content_type, "application/json");
    assert_eq!(
        batches[0].content_encoding, "gzip",
        "CompressionStream gzips the batch"
    );
    let body: serde_json::Value = serde_json::from_str(&batches[0].body).unwrap();
    assert_eq!(body["v"], 2, "contract v2: the page context once per batch");
    assert!(body["context"]["userAgent"].is_string());
    assert_eq!(body["events"][0]["context"], serde_json::json!({"seq": 1}));
    sleep(100).await;
    assert_eq!((stat("sent"), stat("queued")), (5.0, 0.0));
}

#[wasm_bindgen_test]
async fn a_batch_leaves_when_the_interval_elapses() {
    fresh();
    let rec = Recorder::new("interval");
    configure_for(&rec, "flushAt: 100, flushIntervalMs: 300");
    let ids = track_n(2);
    assert!(rec.batches().await.is_empty());
    let batches = rec.wait_for(1, 3000).await;
    assert_eq!(batches[0].events, ids);
}

#[wasm_bindgen_test]
async fn flush_resolves_what_it_did() {
    fresh();
    let rec = Recorder::new("flush");
    configure_for(&rec, "flushIntervalMs: 3600000");
    track_n(3);
    let result = flush().await.unwrap();
    assert_eq!(
        (
            get(&result, "sent").as_f64(),
            get(&result, "remaining").as_f64()
        ),
        (Some(3.0), Some(0.0))
    );
    assert_eq!(rec.delivered().await.len(), 3);
}

#[wasm_bindgen_test]
async fn events_queued_before_a_reload_are_delivered_once() {
    fresh();
    let rec = Recorder::new("reload");
    let ids = track_n(3); // no endpoint yet: nothing can leave
    agent_track::browser::shutdown(); // the page goes away
    configure_for(&rec, "flushIntervalMs: 3600000"); // a fresh page configures
    flush().await.unwrap();
    flush().await.unwrap();
    assert_eq!(rec.delivered().await, ids);
    assert_eq!(
        rec.batches().await.len(),
        1,
        "the second flush had nothing to send"
    );
}

#[wasm_bindgen_test]
async fn an_outage_loses_nothing() {
    fresh();
    let rec = Recorder::new("outage");
    configure_for(&rec, "flushIntervalMs: 3600000");
    rec.script("[{status: 503}, {status: 500}, {status: 502}]")
        .await;
    let ids = track_n(4);
    for _ in 0..3 {
        let err = flush().await.unwrap_err();
        assert_eq!(get(&err, "code").as_string().unwrap(), "delivery_failed");
        assert_eq!(stat("queued"), 4.0);
    }
    assert!(get(&flush().await.unwrap(), "sent").as_f64() == Some(4.0));
    assert_eq!(rec.delivered().await, ids);
    assert_eq!(
        (stat("retries"), stat("dropped"), stat("sent")),
        (3.0, 0.0, 4.0)
    );
}

#[wasm_bindgen_test]
async fn a_closed_port_keeps_the_events() {
    fresh();
    configure("({endpoint: 'http://127.0.0.1:9/v1/events', flushIntervalMs: 3600000})").unwrap();
    track_n(2);
    let err = flush().await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "delivery_failed");
    assert!(get(&err, "message")
        .as_string()
        .unwrap()
        .contains("network error"));
    assert_eq!(stat("queued"), 2.0);
}

#[wasm_bindgen_test]
async fn a_slow_response_is_awaited() {
    fresh();
    let rec = Recorder::new("slow");
    configure_for(&rec, "flushIntervalMs: 3600000");
    rec.script("[{status: 200, delayMs: 800}]").await;
    let ids = track_n(2);
    flush().await.unwrap();
    let b = rec.batches().await;
    assert!(b[0].end.unwrap() - b[0].start >= 800.0);
    assert_eq!(rec.delivered().await, ids);
    assert_eq!(stat("queued"), 0.0);
}

#[wasm_bindgen_test]
async fn a_413_splits_the_batch() {
    fresh();
    let rec = Recorder::new("split");
    configure_for(&rec, "flushIntervalMs: 3600000");
    rec.script("[{status: 413}]").await;
    let ids = track_n(4);
    flush().await.unwrap();
    let events: Vec<Vec<String>> = rec.batches().await.into_iter().map(|b| b.events).collect();
    assert_eq!(events, [ids.clone(), ids[..2].to_vec(), ids[2..].to_vec()]);
    assert_eq!(rec.delivered().await, ids, "each half once");
}

#[wasm_bindgen_test]
async fn retry_after_is_respected() {
    fresh();
    let rec = Recorder::new("retry-after");
    rec.script("[{status: 429, retryAfter: 1}]").await;
    configure_for(&rec, "flushAt: 1, flushIntervalMs: 100");
    let ids = track_n(1);
    let b = rec.wait_for(2, 5000).await;
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(b[0].status, 429);
    assert!(
        b[1].start - b[0].end.unwrap() >= 1000.0,
        "retried {} ms after the 429",
        b[1].start - b[0].end.unwrap()
    );
    assert_eq!(b[1].events, ids);
    assert_eq!(stat("retries"), 1.0);
}

#[wasm_bindgen_test]
async fn a_rejected_event_is_dropped_counted_and_reported() {
    fresh();
    let rec = Recorder::new("rejected");
    js("window.__reports = []");
    configure(&format!(
        "({{endpoint: '{}', flushIntervalMs: 3600000, onError: (e) => window.__reports.push(e)}})",
        rec.endpoint()
    ))
    .unwrap();
    let ids = track_n(2);
    rec.script(&format!("[{{status: 200, body: {{requestId: 'r', accepted: 1, rejected: [{{index: 1, eventId: '{}', code: 'too_old', field: 'timestamp', message: 'older than 7 days'}}]}}}}]", ids[1])).await;
    let result = flush().await.unwrap();
    assert_eq!(
        (
            get(&result, "sent").as_f64(),
            get(&result, "rejected").as_f64()
        ),
        (Some(1.0), Some(1.0))
    );
    assert_eq!((stat("queued"), stat("rejected")), (0.0, 1.0));
    let report = js("window.__reports[0]");
    assert_eq!(get(&report, "code").as_string().unwrap(), "too_old");
    assert!(get(&report, "message")
        .as_string()
        .unwrap()
        .contains("older than 7 days"));
}

#[wasm_bindgen_test]
async fn nothing_is_sent_offline_and_everything_when_back_online() {
    fresh();
    let rec = Recorder::new("offline");
    js("Object.defineProperty(Navigator.prototype, 'onLine', {configurable: true, get: () => false})");
    configure_for(&rec, "flushAt: 1, flushIntervalMs: 100");
    let ids = track_n(3);
    let err = flush().await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "offline");
    sleep(400).await;
    assert!(rec.batches().await.is_empty());
    js("delete Navigator.prototype.onLine; Object.defineProperty(Navigator.prototype, 'onLine', {configurable: true, get: () => true}); window.dispatchEvent(new Event('online'))");
    rec.wait_for(1, 3000).await;
    assert_eq!(rec.delivered().await, ids);
}

#[wasm_bindgen_test]
async fn a_page_hide_sends_one_keepalive_batch() {
    fresh();
    let rec = Recorder::new("hide");
    configure_for(&rec, "flushIntervalMs: 3600000");
    let ids = track_n(3);
    js("Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'}); \
        document.dispatchEvent(new Event('visibilitychange')); window.dispatchEvent(new Event('pagehide'))");
    let b = rec.wait_for(1, 3000).await;
    sleep(300).await;
    js("delete document.visibilityState");
    let b2 = rec.batches().await;
    assert_eq!(b2.len(), 1, "one send per hide: {b2:?}");
    assert!(
        b[0].content_type.starts_with("text/plain") && b[0].content_encoding.is_empty(),
        "{}",
        b[0].content_type
    );
    assert_eq!(b[0].events, ids);
    assert_eq!(stat("queued"), 0.0, "acknowledged, so removed");
}

#[wasm_bindgen_test]
async fn opting_out_stops_capture_and_clears_the_queue() {
    fresh();
    track_n(2);
    agent_track::browser::js::opt_out();
    assert_eq!(stat("queued"), 0.0);
    assert_eq!(
        track("'prompt'", PROMPT).unwrap(),
        "",
        "trackAgent returns null"
    );
    agent_track::browser::shutdown();
    assert_eq!(
        track("'prompt'", PROMPT).unwrap(),
        "",
        "persisted across reloads"
    );
    agent_track::browser::js::opt_in();
    assert_eq!(track("'prompt'", PROMPT).unwrap().len(), 36);
}

#[wasm_bindgen_test]
async fn the_rust_api_flushes_the_page_tracker_under_the_same_lock() {
    fresh();
    let rec = Recorder::new("rust-api");
    configure_for(&rec, "flushAt: 100, flushIntervalMs: 3600000");
    let js_id = track_n(1).remove(0);
    let t = agent_track::browser::tracker();
    let rust_id = t
        .track_agent(
            agent_track::EventType::Prompt,
            agent_track::AgentProperties::new("a", "c", "m-rust", "from Rust"),
            Default::default(),
        )
        .unwrap()
        .unwrap();
    // The Rust flush and a JS flush at once: one sends, the other waits for the lock; each
    // event leaves once.
    let js_flush = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(
        wasm_bindgen::JsValue::from(agent_track::browser::js::flush()),
    ));
    let report = t.flush().await.unwrap();
    js_flush.await.unwrap();
    assert!(report.sent <= 2);
    assert_eq!(rec.delivered().await, [js_id, rust_id]);
    assert_eq!(stat("queued"), 0.0);
}
