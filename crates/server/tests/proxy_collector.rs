//! The proxy relaying to a real collector (both on loopback sockets, a real SQLite file):
//! they agree on which events are valid, and an event only one of them refuses is reported
//! to the browser as rejected while the rest of its batch is stored, with no retry.

mod common;
#[path = "collector_support/mod.rs"]
mod support;

use agent_track_server::proxy::{ProxyConfig, Upstream};
use serde_json::{json, Value};

async fn stack() -> (support::Server, String) {
    let collector = support::Server::start().await;
    let mut config = ProxyConfig::new(Upstream::Webhook {
        urls: vec![format!("{}/v1/ingest", collector.base)],
        secrets: collector.secrets.clone(),
    });
    config.upstream_deadline = std::time::Duration::from_secs(3);
    let (proxy, _) = common::start_proxy(config).await;
    (collector, proxy)
}

async fn post(proxy: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{proxy}/v1/events"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_event_over_a_limit_once_normalized_is_rejected_and_its_batch_stored() {
    let (collector, proxy) = stack().await;
    let mut b = common::batch(4);
    // Valid as sent: 100 models (the limit) and a deprecated modelUsed; folded together they
    // are 101.
    let models: Vec<String> = (0..100).map(|i| format!("model-{i}")).collect();
    b["events"][1]["type"] = json!("agent_response");
    b["events"][1]["properties"]["agentModelsUsed"] = json!(models);
    b["events"][1]["properties"]["modelUsed"] = json!("model-extra");
    let bad_id = b["events"][1]["eventId"].as_str().unwrap().to_string();
    let (status, body) = post(&proxy, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(
        (
            rejected[0]["index"].as_u64(),
            rejected[0]["eventId"].as_str(),
            rejected[0]["code"].as_str(),
            rejected[0]["field"].as_str()
        ),
        (
            Some(1),
            Some(bad_id.as_str()),
            Some("too_large"),
            Some("properties.agentModelsUsed")
        )
    );
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap()
            .contains("once normalized"),
        "{body}"
    );
    // Stored once, in one delivery: nothing was retried.
    assert_eq!(
        (collector.count("messages"), collector.count("deliveries")),
        (3, 1)
    );
}

#[tokio::test]
async fn an_event_only_the_collector_refuses_is_rejected_to_the_browser_and_the_rest_stored() {
    let (collector, proxy) = stack().await;
    let mut b = common::batch(3);
    // Past year 9999: the proxy has no rule against it, the collector has.
    b["events"][2]["timestamp"] = json!(300_000_000_000_000u64);
    let bad_id = b["events"][2]["eventId"].as_str().unwrap().to_string();
    let (status, body) = post(&proxy, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2, "{body}");
    assert_eq!(body["rejected"][0]["eventId"], bad_id.as_str());
    assert_eq!(body["rejected"][0]["index"], 2);
    assert_eq!(body["rejected"][0]["code"], "out_of_range");
    assert_eq!(body["rejected"][0]["field"], "timestamp");
    assert_eq!(
        (collector.count("messages"), collector.count("deliveries")),
        (2, 1)
    );
    // The browser sending the same batch again (say its answer was lost) gets the same.
    let (status, again) = post(&proxy, &b).await;
    assert_eq!((status, &again["rejected"]), (200, &body["rejected"]));
    assert_eq!(collector.count("messages"), 2);
}

/// The proxy in Pendo mode, pointed at the collector's Pendo-compatible endpoint with an
/// ingest key: what a team moving from Pendo to agent-track gets by changing the host.
#[tokio::test]
async fn the_proxy_in_pendo_mode_relays_to_the_collectors_data_agentic() {
    let collector = support::Server::start().await;
    let mut config = ProxyConfig::new(Upstream::Pendo {
        urls: vec![format!("{}/data/agentic", collector.base)],
        key: agent_track_server::proxy::config::PendoKey(support::INGEST_KEY.into()),
        concurrency: 4,
    });
    config.upstream_deadline = std::time::Duration::from_secs(3);
    let (proxy, _) = common::start_proxy(config).await;
    let b = common::batch(5);
    let (status, body) = post(&proxy, &b).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(5)),
        "{body}"
    );
    assert_eq!(collector.count("messages"), 5);
    // The browser's retry of the same batch is absorbed by the messageId dedupe.
    let (status, _) = post(&proxy, &b).await;
    assert_eq!(status, 200);
    assert_eq!(collector.count("messages"), 5);
    let conversation = b["events"][0]["properties"]["conversationId"]
        .as_str()
        .unwrap();
    let d = support::detail(&collector, conversation).await;
    assert_eq!(d["visitorId"], b["events"][0]["visitorId"]);
    // A wrong key is the proxy's 502: the browser keeps the batch.
    let mut config = ProxyConfig::new(Upstream::Pendo {
        urls: vec![format!("{}/data/agentic", collector.base)],
        key: agent_track_server::proxy::config::PendoKey("not-a-key".into()),
        concurrency: 4,
    });
    config.upstream_deadline = std::time::Duration::from_secs(3);
    let (proxy, _) = common::start_proxy(config).await;
    let (status, _) = post(&proxy, &common::batch(1)).await;
    assert_eq!(status, 502);
}
