//! Property tests of the proxy's request parsing: random bytes, random JSON and mutated
//! batches never panic it, never get a 5xx (the upstream is healthy), and every answer is
//! the contract's JSON. PROPTEST_CASES sets the case count (CI runs a short pass).

mod common;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::Request;
use common::*;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A valid batch with one field replaced by something random.
fn mutated_batch() -> impl Strategy<Value = Vec<u8>> {
    let paths = prop::sample::select(vec![
        "/sentAt",
        "/events",
        "/events/0",
        "/events/0/eventId",
        "/events/0/type",
        "/events/0/timestamp",
        "/events/0/visitorId",
        "/events/0/properties",
        "/events/0/properties/content",
        "/events/0/properties/agentInputTokenCount",
        "/events/0/properties/toolsUsed",
        "/events/0/eventProperties",
        "/events/0/context",
        "/events/0/context/seq",
    ]);
    let values = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        Just(serde_json::json!([1, "a", {}])),
        Just(serde_json::json!({"nested": {"deeper": [null]}})),
    ];
    (paths, values).prop_map(|(path, value)| {
        let mut b = batch(2);
        if let Some(slot) = b.pointer_mut(path) {
            *slot = value;
        }
        b.to_string().into_bytes()
    })
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        ".{0,300}".prop_map(String::into_bytes),
        mutated_batch(),
    ]
}

#[test]
fn random_bodies_get_a_json_answer_never_a_crash() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let up = rt.block_on(FakeUpstream::start());
    let mut config = webhook_config(&up.url);
    config.rate_burst = u32::MAX;
    let state = agent_track_server::proxy::ProxyState::new(config);
    let app = agent_track_server::proxy::app(state).layer(MockConnectInfo(peer()));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(500),
        ..ProptestConfig::default()
    });
    runner
        .run(&bodies(), |body| {
            let request = Request::post("/v1/events")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let response = rt.block_on(app.clone().oneshot(request)).unwrap();
            let status = response.status().as_u16();
            prop_assert!(
                status == 200 || (400..500).contains(&status),
                "status {status}"
            );
            let bytes = rt
                .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).expect("JSON answer");
            prop_assert!(v["requestId"].as_str().is_some());
            if status == 200 {
                prop_assert!(v["accepted"].as_u64().is_some());
            } else {
                prop_assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
            }
            Ok(())
        })
        .unwrap();
}
