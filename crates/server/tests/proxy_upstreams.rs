//! The upstream list (`--upstream a,b`): batches spread round-robin over real loopback
//! upstreams, failover to the next on a connection error, a timeout or a 5xx with the same
//! `webhook-id` and bytes, and no failover on a 4xx (the batch's answer).

mod common;

use std::time::Duration;

use agent_track_server::proxy::{ProxyConfig, Upstream};
use agent_track_server::secret::Secrets;
use agent_track_server::signature;
use common::*;
use serde_json::{json, Value};

/// The webhook config of `common` with several upstream URLs.
fn config(urls: &[&str]) -> ProxyConfig {
    let mut c = webhook_config(urls[0]);
    c.upstream = Upstream::Webhook {
        urls: urls.iter().map(|u| u.to_string()).collect(),
        secrets: Secrets::parse(SECRET).unwrap(),
    };
    c
}

/// A batch of `n` events whose ids start at `first` (distinct batches, distinct ids).
fn batch_from(first: usize, n: usize) -> Value {
    let now = agent_track_server::error::now_ms();
    json!({"sentAt": now, "events": (first..first + n).map(|i| event(i, now)).collect::<Vec<_>>()})
}

async fn post(base: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap_or(Value::Null))
}

async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A URL on a loopback port with nothing listening.
fn closed_url() -> String {
    format!("http://127.0.0.1:{}/v1/ingest", free_port())
}

fn verify(r: &Received) {
    standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .verify(&r.body, &r.headers)
        .expect("valid signature");
}

/// The `eventId`s of every batch `up` received, in order.
fn event_ids(up: &FakeUpstream) -> Vec<String> {
    up.received()
        .iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventId"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn batches_are_spread_round_robin_over_the_list() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let (base, _) = start_proxy(config(&[&a.url, &b.url])).await;
    for i in 0..6 {
        let (status, body) = post(&base, &batch_from(i * 10, 2)).await;
        assert_eq!((status, &body["accepted"]), (200, &json!(2)), "{body}");
    }
    assert_eq!((a.received().len(), b.received().len()), (3, 3));
    // Alternating: batches 0, 2, 4 at the first, 1, 3, 5 at the second.
    assert_eq!(event_ids(&a)[0], event(0, 0)["eventId"]);
    assert_eq!(event_ids(&b)[0], event(10, 0)["eventId"]);
    for r in a.received().iter().chain(b.received().iter()) {
        verify(r);
    }
    let text = metrics(&base).await;
    for up in [&a, &b] {
        let label = agent_track_server::redact::url(&up.url);
        assert!(
            text.contains(&format!(
                "agent_track_proxy_upstream_attempts_total{{upstream=\"{label}\"}} 3"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "agent_track_proxy_upstream_failures_total{{upstream=\"{label}\"}} 0"
            )),
            "{text}"
        );
    }
}

#[tokio::test]
async fn with_one_upstream_down_everything_goes_to_the_other_and_none_is_lost() {
    let down = closed_url();
    let b = FakeUpstream::start().await;
    let (base, _) = start_proxy(config(&[&down, &b.url])).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        let body = batch_from(i * 10, 3);
        sent.extend(
            body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventId"].as_str().unwrap().to_string()),
        );
        let (status, answer) = post(&base, &body).await;
        assert_eq!((status, &answer["accepted"]), (200, &json!(3)), "{answer}");
    }
    // Every event once, in order, at the upstream that is up.
    assert_eq!(event_ids(&b), sent);
    let text = metrics(&base).await;
    // Batches 0, 2, 4 started at the closed port, failed there and went on at once.
    assert!(
        text.contains(&format!(
            "agent_track_proxy_upstream_failures_total{{upstream=\"{}\"}} 3",
            agent_track_server::redact::url(&down)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "agent_track_proxy_upstream_attempts_total{{upstream=\"{}\"}} 6",
            agent_track_server::redact::url(&b.url)
        )),
        "{text}"
    );
}

#[tokio::test]
async fn both_upstreams_down_is_503_and_nothing_is_acknowledged() {
    let (one, two) = (closed_url(), closed_url());
    let mut c = config(&[&one, &two]);
    c.upstream_deadline = Duration::from_millis(800);
    let (base, _) = start_proxy(c).await;
    let (status, body) = post(&base, &batch(2)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "upstream_unavailable");
    assert!(body.get("accepted").is_none());
}

#[tokio::test]
async fn a_5xx_fails_over_to_the_next_with_the_same_webhook_id_and_bytes() {
    for status in [503, 500, 502] {
        let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
        a.script(&[reply(status)]);
        let (base, _) = start_proxy(config(&[&a.url, &b.url])).await;
        let (code, body) = post(&base, &batch(2)).await;
        assert_eq!(
            (code, &body["accepted"]),
            (200, &json!(2)),
            "{status}: {body}"
        );
        let (first, second) = (a.received(), b.received());
        assert_eq!((first.len(), second.len()), (1, 1), "{status}");
        assert_eq!(
            first[0].headers[signature::ID],
            second[0].headers[signature::ID],
            "{status}"
        );
        assert_eq!(first[0].body, second[0].body, "{status}");
        verify(&first[0]);
        verify(&second[0]);
    }
}

#[tokio::test]
async fn a_hung_upstream_leaves_time_for_the_next() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    a.script(&[Reply {
        delay: Duration::from_secs(30),
        ..reply(200)
    }]);
    let mut c = config(&[&a.url, &b.url]);
    c.upstream_deadline = Duration::from_secs(2);
    let (base, _) = start_proxy(c).await;
    let started = std::time::Instant::now();
    let (status, body) = post(&base, &batch(2)).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(2)), "{body}");
    // The first attempt had half of the deadline; the second answered at once.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1900),
        "{took:?}"
    );
    assert_eq!(
        a.received()[0].headers[signature::ID],
        b.received()[0].headers[signature::ID]
    );
}

#[tokio::test]
async fn a_4xx_is_the_batchs_answer_and_not_sent_elsewhere() {
    for status in [400, 401, 404, 413] {
        let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
        a.script(&[reply_with(status, json!({"code": "invalid_body"}))]);
        let (base, _) = start_proxy(config(&[&a.url, &b.url])).await;
        let (code, body) = post(&base, &batch(2)).await;
        assert_eq!(code, 502, "{status}: {body}");
        assert_eq!(body["code"], "upstream_failed");
        assert_eq!((a.received().len(), b.received().len()), (1, 0), "{status}");
    }
    // A 400 naming an event is final for it, at the upstream that said so; the rest is sent
    // again there too (the same receiver's answer), never to the other.
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let named = json!({"rejected": [{"eventId": event(0, 0)["eventId"], "code": "too_large",
                                     "field": "properties.content", "message": "too long"}]});
    a.script(&[reply_with(400, named)]);
    let (base, _) = start_proxy(config(&[&a.url, &b.url])).await;
    let (code, body) = post(&base, &batch(2)).await;
    assert_eq!((code, &body["accepted"]), (200, &json!(1)), "{body}");
    assert_eq!(body["rejected"][0]["code"], "too_large");
    assert_eq!((a.received().len(), b.received().len()), (2, 0));
}

#[tokio::test]
async fn a_429_is_retried_at_the_same_upstream() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    a.script(&[reply(429)]);
    let (base, _) = start_proxy(config(&[&a.url, &b.url])).await;
    let (status, body) = post(&base, &batch(2)).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(2)), "{body}");
    assert_eq!((a.received().len(), b.received().len()), (2, 0));
}
