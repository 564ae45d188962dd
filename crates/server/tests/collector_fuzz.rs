//! Property tests of the collector's request parsing: validly signed deliveries with random
//! or mutated bodies, and random query strings on the read API, never crash it or get a 5xx,
//! and every answer is JSON. PROPTEST_CASES sets the case count (CI runs a short pass).

use std::sync::Arc;

use agent_track_server::collector::{app, Collector, CollectorConfig};
use agent_track_server::secret::Secrets;
use agent_track_server::signature;
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

const KEY: &str = "atk_fuzz_key";

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn relayed(now: u64) -> Value {
    json!({"events": [{"eventId": "e-1", "type": "agent_response", "timestamp": now, "visitorId": "v",
        "properties": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": "hi", "toolsUsed": ["t"], "agentInputTokenCount": 3},
        "context": {"seq": 1, "sdk": "s"}, "receivedAt": now, "clientTimestamp": now}]})
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let paths = prop::sample::select(vec![
        "/events",
        "/events/0",
        "/events/0/eventId",
        "/events/0/type",
        "/events/0/timestamp",
        "/events/0/properties",
        "/events/0/properties/content",
        "/events/0/properties/toolsUsed",
        "/events/0/properties/agentInputTokenCount",
        "/events/0/context",
        "/events/0/receivedAt",
        "/events/0/visitorId",
    ]);
    let values = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        ".{0,30}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!([{}])),
        Just(json!({"x": [1, 2]}))
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        (paths, values).prop_map(|(p, v)| {
            let mut b = relayed(agent_track_server::error::now_ms());
            if let Some(slot) = b.pointer_mut(p) {
                *slot = v;
            }
            b.to_string().into_bytes()
        }),
    ]
}

#[test]
fn signed_random_bodies_and_random_queries_never_crash() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secrets = Secrets::parse(&Secrets::generate()).unwrap();
    let collector = Arc::new(
        Collector::open(CollectorConfig {
            data_dir: dir.path().to_path_buf(),
            secrets: secrets.clone(),
            api_key: KEY.into(),
            ingest_keys: Vec::new(),
            synchronous: Default::default(),
            analysis: Default::default(),
            insights: None,
            webhooks: Default::default(),
            database: Default::default(),
        })
        .unwrap(),
    );
    let router = app(collector);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(300),
        ..ProptestConfig::default()
    });
    let n = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&bodies(), |body| {
            let id = format!(
                "msg_fuzz_{}",
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let ts = (agent_track_server::error::now_ms() / 1000) as i64;
            let request = Request::post("/v1/ingest")
                .header("content-type", "application/json")
                .header(signature::ID, &id)
                .header(signature::TIMESTAMP, ts.to_string())
                .header(
                    signature::SIGNATURE,
                    signature::sign(&secrets, &id, ts, &body),
                )
                .body(Body::from(body))
                .unwrap();
            let response = rt.block_on(router.clone().oneshot(request)).unwrap();
            let status = response.status().as_u16();
            prop_assert!(
                status == 200 || (400..500).contains(&status),
                "ingest status {status}"
            );
            let bytes = rt
                .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                .unwrap();
            prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
            Ok(())
        })
        .unwrap();

    let queries = prop_oneof![
        ".{0,40}".prop_map(|q| format!("/api/v1/conversations?{q}")),
        (
            prop::sample::select(vec![
                "limit",
                "cursor",
                "since",
                "until",
                "agentId",
                "visitorId",
                "conversationId",
                "format"
            ]),
            ".{0,20}"
        )
            .prop_map(|(k, v)| format!(
                "/api/v1/messages?{k}={}",
                v.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
            )),
        "[a-zA-Z0-9%._-]{0,30}"
            .prop_map(|id| format!("/api/v1/conversations/{id}/transcript?format=md")),
        (
            prop::sample::select(vec!["since", "until", "agentId"]),
            "[0-9TZ:+-]{0,25}"
        )
            .prop_map(|(k, v)| format!("/api/v1/stats?{k}={v}")),
    ];
    runner
        .run(&queries, |uri| {
            let Ok(request) = Request::get(uri.as_str())
                .header("authorization", format!("Bearer {KEY}"))
                .body(Body::empty())
            else {
                return Ok(());
            };
            let response = rt.block_on(router.clone().oneshot(request)).unwrap();
            let status = response.status().as_u16();
            prop_assert!(status < 500, "{uri}: status {status}");
            Ok(())
        })
        .unwrap();
}
