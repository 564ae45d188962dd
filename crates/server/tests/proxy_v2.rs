//! Contract v2 of `POST /v1/events` (one page context per batch) over real loopback sockets:
//! what is relayed upstream is what the same events sent as v1 relay; v1 bodies keep working;
//! unknown versions are 501 so the browser keeps the events.

mod common;

use std::io::Write;

use common::*;
use serde_json::{json, Value};

const SDK: &str = "agent-track/0.2.0";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Posts `body` as JSON from the allowed origin, gzipped when `gzipped`.
async fn post_with(
    base: &str,
    body: &Value,
    gzipped: bool,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .header("origin", "https://app.example");
    let bytes = body.to_string().into_bytes();
    request = if gzipped {
        request
            .header("content-encoding", "gzip")
            .body(gzip(&bytes))
    } else {
        request.body(bytes)
    };
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn post(base: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    post_with(base, body, false).await
}

/// The page context a v2 module sends once per batch.
fn page_context() -> Value {
    json!({"url": "https://app.example/chat?c=1", "title": "Support chat",
           "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "language": "en-US",
           "sdk": SDK})
}

/// Event `i` with the full context a v1 module sends: the page context plus `seq`.
fn v1_event(i: usize, now: u64) -> Value {
    let mut e = event(i, now);
    let mut context = page_context();
    context["seq"] = json!(i + 1);
    e["context"] = context;
    e
}

/// The same event as a v2 module sends it: only its `seq`.
fn v2_event(i: usize, now: u64) -> Value {
    let mut e = event(i, now);
    e["context"] = json!({"seq": i + 1});
    e
}

/// The events of the one request `up` received, after checking its signature.
fn relayed(up: &FakeUpstream, request: usize) -> Vec<Value> {
    let got = up.received();
    standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .verify(&got[request].body, &got[request].headers)
        .expect("valid signature");
    let v: Value = serde_json::from_slice(&got[request].body).unwrap();
    v["events"].as_array().unwrap().clone()
}

/// A relayed event without the fields that depend on when the proxy received it.
fn without_receipt_time(mut e: Value) -> Value {
    let o = e.as_object_mut().unwrap();
    o.remove("receivedAt");
    o.remove("timestamp");
    e
}

/// `(index, code, field)` of each rejection of a 200 answer.
fn rejections(body: &Value) -> Vec<(u64, String, String)> {
    body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_string(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_v2_batch_relays_what_the_same_events_sent_as_v1_relay() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let v1 = json!({"sentAt": now, "events": (0..3).map(|i| v1_event(i, now)).collect::<Vec<_>>()});
    let v2 = json!({"v": 2, "sentAt": now, "context": page_context(),
                    "events": (0..3).map(|i| v2_event(i, now)).collect::<Vec<_>>()});
    assert!(v2.to_string().len() < v1.to_string().len());

    let (status, _, body) = post(&base, &v1).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(3)), "{body}");
    let (status, _, body) = post(&base, &v2).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(3)), "{body}");
    assert_eq!(body["rejected"], json!([]));

    let from_v1 = relayed(&up, 0);
    let from_v2 = relayed(&up, 1);
    assert_eq!(from_v2.len(), 3);
    for (a, b) in from_v1.into_iter().zip(from_v2) {
        assert_eq!(without_receipt_time(a), without_receipt_time(b));
    }
    let e = &relayed(&up, 1)[2];
    let mut full = page_context();
    full["seq"] = json!(3);
    assert_eq!(
        e["context"], full,
        "every relayed event carries its full context"
    );
    assert_eq!(e["clientTimestamp"], now);
}

#[tokio::test]
async fn a_gzipped_v2_batch_is_accepted() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let v2 = json!({"v": 2, "sentAt": now, "context": page_context(),
                    "events": (0..20).map(|i| v2_event(i, now)).collect::<Vec<_>>()});
    let (status, _, body) = post_with(&base, &v2, true).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(20)), "{body}");
    let events = relayed(&up, 0);
    assert_eq!(events.len(), 20);
    assert_eq!(events[19]["context"]["seq"], 20);
    assert_eq!(
        events[19]["context"]["userAgent"],
        page_context()["userAgent"]
    );
}

#[tokio::test]
async fn inherited_and_complete_contexts_mix_in_one_batch() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    // Queued by an earlier page (another URL, an older module): complete, used as is.
    let mut older = event(1, now);
    older["context"] =
        json!({"url": "https://app.example/old", "seq": 40, "sdk": "agent-track/0.1.0"});
    let b = json!({"v": 2, "sentAt": now, "context": page_context(),
                   "events": [v2_event(0, now), older, v2_event(2, now)]});
    let (status, _, body) = post(&base, &b).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(3)), "{body}");
    let events = relayed(&up, 0);
    let contexts: Vec<_> = events.iter().map(|e| e["context"].clone()).collect();
    let with_seq = |seq: u64| {
        let mut c = page_context();
        c["seq"] = json!(seq);
        c
    };
    assert_eq!(
        contexts,
        [
            with_seq(1),
            json!({"url": "https://app.example/old", "seq": 40, "sdk": "agent-track/0.1.0"}),
            with_seq(3)
        ]
    );
}

#[tokio::test]
async fn a_batch_context_without_sdk_rejects_the_events_that_inherit_it() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let mut context = page_context();
    context.as_object_mut().unwrap().remove("sdk");
    let b = json!({"v": 2, "sentAt": now, "context": context,
                   "events": [v2_event(0, now), v1_event(1, now), v2_event(2, now)]});
    let (status, _, body) = post(&base, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "the complete event is relayed");
    assert_eq!(
        rejections(&body),
        [
            (0, "missing_field".into(), "context.sdk".into()),
            (2, "missing_field".into(), "context.sdk".into())
        ]
    );
    assert_eq!(body["rejected"][0]["eventId"], event(0, now)["eventId"]);
    let events = relayed(&up, 0);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["eventId"], event(1, now)["eventId"]);

    // A batch context with a wrong type is reported the same way, per event.
    let mut context = page_context();
    context["url"] = json!(42);
    let b = json!({"v": 2, "sentAt": now, "context": context, "events": [v2_event(3, now)]});
    let (status, _, body) = post(&base, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rejections(&body),
        [(0, "wrong_type".into(), "context.url".into())]
    );
}

#[tokio::test]
async fn v2_without_a_batch_context_needs_complete_contexts() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let b = json!({"v": 2, "sentAt": now, "events": [v1_event(0, now), v2_event(1, now)]});
    let (status, _, body) = post(&base, &b).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{body}");
    assert_eq!(
        rejections(&body),
        [(1, "missing_field".into(), "context.sdk".into())]
    );
}

#[tokio::test]
async fn a_batch_context_that_is_not_an_object_is_400() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    for context in [
        json!("https://app.example"),
        json!([page_context()]),
        json!(7),
    ] {
        let b = json!({"v": 2, "sentAt": now, "context": context, "events": [v2_event(0, now)]});
        let (status, headers, body) = post(&base, &b).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_batch")),
            "{body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("context must be an object"),
            "{message}"
        );
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example"
        );
    }
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn an_unknown_version_is_501_unsupported_version_and_nothing_is_relayed() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    for v in [json!(3), json!("2"), json!(-1), json!(null)] {
        // Whatever else the body holds: a later version may change its shape.
        let b = json!({"v": v, "sentAt": now, "context": page_context(),
                       "events": [v2_event(0, now)]});
        let (status, headers, body) = post(&base, &b).await;
        assert_eq!(status, 501, "{v}: {body}");
        assert_eq!(body["code"], "unsupported_version");
        assert!(body["requestId"].as_str().unwrap().starts_with("req_"));
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("v is {v};"))
                && message.contains("v 1 (or no v) and v 2")
                && message.contains("upgrade the proxy"),
            "{message}"
        );
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example"
        );
    }
    let (status, _, body) = post(&base, &json!({"v": 3})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (501, Some("unsupported_version"))
    );
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn v1_bodies_are_still_accepted_and_a_top_level_context_is_ignored() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let events = [v1_event(0, now), v1_event(1, now)];
    for b in [
        json!({"sentAt": now, "events": events}),
        json!({"v": 1, "sentAt": now, "events": events}),
    ] {
        let (status, _, body) = post(&base, &b).await;
        assert_eq!((status, &body["accepted"]), (200, &json!(2)), "{body}");
    }
    // In v1, `{"seq": N}` is an incomplete context: the top-level context is not applied.
    let b = json!({"v": 1, "sentAt": now, "context": page_context(),
                   "events": [v1_event(0, now), v2_event(1, now)]});
    let (status, _, body) = post(&base, &b).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{body}");
    assert_eq!(
        rejections(&body),
        [(1, "missing_field".into(), "context.sdk".into())]
    );
    assert_eq!(up.received().len(), 3);
    assert_eq!(relayed(&up, 2)[0]["context"]["url"], page_context()["url"]);
}

#[tokio::test]
async fn preflights_allow_content_encoding() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let r = client()
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/events"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,content-encoding",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let allowed: Vec<String> = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    assert!(
        allowed.iter().any(|h| h == "content-type")
            && allowed.iter().any(|h| h == "content-encoding"),
        "{allowed:?}"
    );
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
