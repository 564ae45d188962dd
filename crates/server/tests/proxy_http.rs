//! The proxy over real loopback sockets, with a real upstream server that records what it
//! receives and fails on demand.

mod common;

use std::time::Duration;

use agent_track_server::proxy::config::PendoKey;
use agent_track_server::proxy::{ProxyConfig, Upstream};
use agent_track_server::signature;
use common::*;
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(base: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .header("origin", "https://app.example")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn a_valid_batch_is_signed_relayed_and_acknowledged() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let (status, headers, body) = post(&base, &batch(3)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["rejected"], json!([]));
    assert!(body["requestId"].as_str().unwrap().starts_with("req_"));
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );

    let got = up.received();
    assert_eq!(got.len(), 1);
    // An independent Standard Webhooks implementation verifies the exact bytes received.
    standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .verify(&got[0].body, &got[0].headers)
        .expect("valid signature");
    let relayed: Value = serde_json::from_slice(&got[0].body).unwrap();
    let e = &relayed["events"][0];
    assert_eq!(e["properties"]["suggestedPrompt"], false, "defaults filled");
    assert!(e["receivedAt"].as_u64().is_some() && e["clientTimestamp"].as_u64().is_some());
    assert_eq!(e["visitorId"], "v-1");
}

#[tokio::test]
async fn retries_keep_the_same_webhook_id() {
    let up = FakeUpstream::start().await;
    up.script(&[reply(503), reply(502)]);
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let (status, _, body) = post(&base, &batch(2)).await;
    assert_eq!(status, 200, "{body}");
    let got = up.received();
    assert_eq!(got.len(), 3);
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.headers[signature::ID].clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    for r in &got {
        standardwebhooks::Webhook::new(SECRET)
            .unwrap()
            .verify(&r.body, &r.headers)
            .unwrap();
    }
}

#[tokio::test]
async fn upstream_down_is_503_and_nothing_is_acknowledged() {
    // A port with nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/ingest", closed.local_addr().unwrap());
    drop(closed);
    let (base, _) = start_proxy(webhook_config(&url)).await;
    let (status, headers, body) = post(&base, &batch(2)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "upstream_unavailable");
    assert!(body.get("accepted").is_none());
    assert_eq!(
        headers["access-control-allow-origin"], "https://app.example",
        "CORS on errors too"
    );
}

#[tokio::test]
async fn upstream_errors_map_to_502_and_504() {
    let up = FakeUpstream::start().await;
    up.script(&[reply(500)]);
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    assert_eq!(post(&base, &batch(1)).await.0, 502);
    assert_eq!(up.received().len(), 1, "500 is not retried by the proxy");

    let slow = FakeUpstream::start().await;
    slow.script(&[Reply {
        status: 200,
        delay: Duration::from_secs(5),
        ..reply(200)
    }]);
    let mut config = webhook_config(&slow.url);
    config.upstream_deadline = Duration::from_millis(500);
    let (base, _) = start_proxy(config).await;
    let (status, _, body) = post(&base, &batch(1)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (504, Some("upstream_timeout"))
    );
}

#[tokio::test]
async fn upstream_rate_limiting_becomes_503_with_retry_after() {
    let up = FakeUpstream::start().await;
    up.script(&[Reply {
        status: 429,
        retry_after: Some(30),
        ..reply(429)
    }]);
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let (status, headers, _) = post(&base, &batch(1)).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "30");
    assert_eq!(
        headers["access-control-expose-headers"],
        "Retry-After, x-request-id"
    );
}

#[tokio::test]
async fn a_body_one_byte_over_the_limit_is_413() {
    let up = FakeUpstream::start().await;
    let mut config = webhook_config(&up.url);
    config.max_body_bytes = 2000;
    let (base, _) = start_proxy(config).await;
    let mut b = batch(1);
    let base_len = b.to_string().len();
    b["events"][0]["eventProperties"] = json!({"pad": ""});
    let pad = 2000 - b.to_string().len();
    b["events"][0]["eventProperties"]["pad"] = json!("x".repeat(pad));
    assert_eq!(b.to_string().len(), 2000);
    assert!(base_len < 2000);
    assert_eq!(post(&base, &b).await.0, 200);
    b["events"][0]["eventProperties"]["pad"] = json!("x".repeat(pad + 1));
    let (status, _, body) = post(&base, &b).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // Without a content-length (chunked), the limit holds while reading.
    let stream =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(b.to_string().into_bytes())]);
    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn bad_bodies_are_400_and_the_server_keeps_serving() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for body in [
        "{not json".as_bytes().to_vec(),
        vec![0xff, 0xfe, b'{'],
        deep.into_bytes(),
        b"[]".to_vec(),
        br#"{"sentAt":"x","events":[]}"#.to_vec(),
        br#"{"sentAt":1}"#.to_vec(),
    ] {
        let r = client()
            .post(format!("{base}/v1/events"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().len() > 10, "{v}");
    }
    assert_eq!(
        client()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn content_types_are_compared_by_media_type() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    for (ct, want) in [
        ("text/plain;charset=UTF-8", 200),
        ("application/json; charset=utf-8", 200),
        ("text/html", 415),
        ("", 415),
    ] {
        let r = client()
            .post(format!("{base}/v1/events"))
            .header("content-type", ct)
            .body(batch(1).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{ct}");
    }
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_bombs_refused() {
    use std::io::Write;
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz(batch(2).to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bomb = gz(&vec![b' '; 50 * 1024 * 1024]);
    assert!(bomb.len() < 100 * 1024);
    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
}

#[tokio::test]
async fn origins_are_checked_and_preflights_answered() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(batch(1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "origin_not_allowed");
    assert!(up.received().is_empty());

    let r = client()
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/events"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let r = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "text/html")
        .header("origin", "https://app.example")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example",
        "CORS headers on every status"
    );
}

#[tokio::test]
async fn rate_limits_cannot_be_bypassed_with_x_forwarded_for() {
    let up = FakeUpstream::start().await;
    let mut config = webhook_config(&up.url);
    config.rate_per_minute = 1;
    config.rate_burst = 2;
    let (base, _) = start_proxy(config).await;
    let send = |xff: &'static str| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/v1/events"))
                .header("content-type", "application/json")
                .header("x-forwarded-for", xff)
                .body(batch(1).to_string())
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send("1.1.1.1").await.status(), 200);
    assert_eq!(send("2.2.2.2").await.status(), 200);
    let r = send("3.3.3.3").await;
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "rate_limited");
}

#[tokio::test]
async fn invalid_events_are_rejected_one_by_one() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let mut bad_reaction = event(1, now);
    bad_reaction["type"] = json!("user_reaction");
    bad_reaction["properties"]["content"] = json!("love");
    let mut old = event(2, now - 8 * 24 * 3600 * 1000);
    old["timestamp"] = json!(now - 8 * 24 * 3600 * 1000);
    let mut anonymous = event(3, now);
    anonymous.as_object_mut().unwrap().remove("visitorId");
    let b = json!({"sentAt": now, "events": [event(0, now), bad_reaction, old, anonymous, event(0, now)]});
    let (status, _, body) = post(&base, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "the repeated event is relayed once");
    let codes: Vec<(u64, &str, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["code"].as_str().unwrap(),
                r["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            (1, "invalid_reaction", "properties.content"),
            (2, "too_old", "timestamp"),
            (3, "missing_field", "visitorId")
        ]
    );
    let relayed: Value = serde_json::from_slice(&up.received()[0].body).unwrap();
    assert_eq!(relayed["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn too_many_events_is_413() {
    let up = FakeUpstream::start().await;
    let mut config = webhook_config(&up.url);
    config.max_body_bytes = 4 * 1024 * 1024;
    let (base, _) = start_proxy(config).await;
    let (status, _, body) = post(&base, &batch(501)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("too_many_events"))
    );
}

async fn post_as(base: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = client()
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn identity_headers_count_only_from_trusted_proxies_and_never_fall_back_to_the_browser() {
    let up = FakeUpstream::start().await;
    // The test client connects from 127.0.0.1; as ::ffff:127.0.0.1 it is the same address.
    let mut config = webhook_config(&up.url);
    config.visitor_header = Some("x-app-user".into());
    config.account_header = Some("x-app-account".into());
    config.trusted_proxies = vec!["::ffff:127.0.0.1".parse().unwrap()];
    config.forward_ip = true;
    let (base, _) = start_proxy(config).await;
    let auth = [
        ("x-app-user", "auth-user-9"),
        ("x-app-account", "auth-acme"),
    ];
    let (status, body) = post_as(&base, &batch(1), &auth).await;
    assert_eq!((status, &body["rejected"]), (200, &json!([])), "{body}");
    let relayed: Value = serde_json::from_slice(&up.received()[0].body).unwrap();
    assert_eq!(relayed["events"][0]["visitorId"], "auth-user-9");
    assert_eq!(relayed["events"][0]["accountId"], "auth-acme");
    assert_eq!(relayed["events"][0]["ip"], "127.0.0.1");

    // Without the headers, the browser's ids ("v-1", "acme") are not used: the event is
    // refused with a clear code, and nothing is relayed.
    let (status, body) = post_as(&base, &batch(1), &[]).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(0)),
        "{body}"
    );
    assert_eq!(body["rejected"][0]["code"], "missing_visitor_header");
    assert_eq!(body["rejected"][0]["field"], "visitorId");
    assert_eq!(up.received().len(), 1);

    // With the visitor but not the account: relayed without an account.
    let (status, _) = post_as(&base, &batch(1), &auth[..1]).await;
    assert_eq!(status, 200);
    let relayed: Value = serde_json::from_slice(&up.received()[1].body).unwrap();
    assert_eq!(relayed["events"][0]["visitorId"], "auth-user-9");
    assert!(relayed["events"][0].get("accountId").is_none(), "{relayed}");

    // From a peer that is not a trusted proxy, the headers mean nothing.
    let up2 = FakeUpstream::start().await;
    let mut config = webhook_config(&up2.url);
    config.visitor_header = Some("x-app-user".into());
    config.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
    let (base, _) = start_proxy(config).await;
    let (status, body) = post_as(&base, &batch(1), &auth).await;
    assert_eq!(
        (status, body["rejected"][0]["code"].as_str()),
        (200, Some("missing_visitor_header")),
        "{body}"
    );
    assert!(up2.received().is_empty());
}

#[tokio::test]
async fn rate_limits_read_every_forwarded_line_and_group_ipv6_by_64() {
    let up = FakeUpstream::start().await;
    let mut config = webhook_config(&up.url);
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    config.rate_per_minute = 1;
    config.rate_burst = 1;
    let (base, _) = start_proxy(config).await;
    // HAProxy appends its own X-Forwarded-For line: the browser's forged first line must not
    // pick the bucket. Each request forges a new address; all come from 203.0.113.9.
    let mut statuses = Vec::new();
    for forged in ["1.1.1.1", "2.2.2.2"] {
        let r = client()
            .post(format!("{base}/v1/events"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", forged)
            .header("x-forwarded-for", "203.0.113.9")
            .body(batch(1).to_string())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 429]);
    // Two addresses of one IPv6 /64 share a bucket; another /64 has its own.
    let mut statuses = Vec::new();
    for xff in ["2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:3::1"] {
        statuses.push(
            post_as(&base, &batch(1), &[("x-forwarded-for", xff)])
                .await
                .0,
        );
    }
    assert_eq!(statuses, [200, 429, 200]);
}

#[tokio::test]
async fn events_are_rate_limited_too() {
    let up = FakeUpstream::start().await;
    let mut config = ProxyConfig::new(Upstream::Pendo {
        urls: vec![up.url.clone()],
        key: PendoKey("pendo-track-secret".into()),
        concurrency: 8,
    });
    config.allowed_origins = vec!["https://app.example".into()];
    config.event_rate_per_minute = 60;
    config.event_rate_burst = 10;
    let (base, _) = start_proxy(config).await;
    let (status, _, body) = post(&base, &batch(8)).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(8)),
        "{body}"
    );
    // Two events left in the bucket: a batch of 8 is refused before any upstream request.
    let (status, headers, body) = post(&base, &batch(8)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "6");
    assert_eq!(
        up.received().len(),
        8,
        "one upstream request per accepted event only"
    );
}

#[tokio::test]
async fn redirects_from_upstream_are_not_followed() {
    let elsewhere = FakeUpstream::start().await;
    let up = FakeUpstream::start().await;
    up.script(&[Reply {
        location: Some(elsewhere.url.clone()),
        ..reply(307)
    }]);
    let mut config = ProxyConfig::new(Upstream::Pendo {
        urls: vec![up.url.clone()],
        key: PendoKey("pendo-track-secret".into()),
        concurrency: 1,
    });
    config.allowed_origins = vec!["https://app.example".into()];
    let (base, _) = start_proxy(config).await;
    let (status, _, body) = post(&base, &batch(1)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("upstream_failed")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{body}"
    );
    assert!(elsewhere.received().is_empty(), "the key went nowhere else");
    // Same in webhook mode: the signed headers stay with the configured receiver.
    let up = FakeUpstream::start().await;
    up.script(&[Reply {
        location: Some(elsewhere.url.clone()),
        ..reply(308)
    }]);
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    assert_eq!(post(&base, &batch(1)).await.0, 502);
    assert!(elsewhere.received().is_empty());
}

#[tokio::test]
async fn per_event_refusals_of_a_receiver_reach_the_browser_as_final() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let b = batch(3);
    let refused_id = b["events"][1]["eventId"].as_str().unwrap().to_string();
    up.script(&[reply_with(
        200,
        json!({"accepted": 2, "rejected": [{"index": 1, "eventId": refused_id, "code": "policy_refused", "field": "properties.content", "message": "content refused by policy"}]}),
    )]);
    let (status, _, body) = post(&base, &b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        body["rejected"],
        json!([{"index": 1, "eventId": refused_id, "code": "policy_refused", "field": "properties.content", "message": "content refused by policy"}])
    );
    assert_eq!(up.received().len(), 1, "nothing retried");
}

#[tokio::test]
async fn a_400_naming_an_event_is_final_for_it_and_the_rest_is_sent_again() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let b = batch(3);
    let refused_id = b["events"][2]["eventId"].as_str().unwrap().to_string();
    up.script(&[reply_with(
        400,
        json!({"code": "invalid_event", "rejected": [{"eventId": refused_id, "code": "invalid_event", "message": "no"}]}),
    )]);
    let (status, _, body) = post(&base, &b).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    assert_eq!(body["rejected"][0]["eventId"], refused_id.as_str());
    assert_eq!(body["rejected"][0]["index"], 2);
    let got = up.received();
    assert_eq!(got.len(), 2);
    let resent: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(resent["events"].as_array().unwrap().len(), 2);
    assert_ne!(
        got[0].headers[signature::ID],
        got[1].headers[signature::ID],
        "another batch, another id"
    );
}

#[tokio::test]
async fn a_wrong_secret_or_a_bare_error_keeps_the_batch_retrying() {
    for status in [400, 401, 403, 404, 408, 413, 429, 500, 503] {
        let up = FakeUpstream::start().await;
        up.script(&[reply(status), reply(status), reply(status)]);
        let mut config = webhook_config(&up.url);
        config.upstream_deadline = Duration::from_millis(600);
        let (base, _) = start_proxy(config).await;
        let (answer, _, body) = post(&base, &batch(2)).await;
        assert!(
            matches!(answer, 502..=504),
            "upstream {status} must keep the batch (browser retries 5xx), got {answer}: {body}"
        );
        assert!(body.get("accepted").is_none(), "{body}");
    }
}

#[tokio::test]
async fn clock_skew_is_corrected() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    let now = agent_track_server::error::now_ms();
    let hour = 3_600_000;
    // The browser's clock runs 3 hours behind.
    let b = json!({"sentAt": now - 3 * hour, "events": [event(0, now - 3 * hour - 1000)]});
    assert_eq!(post(&base, &b).await.0, 200);
    let relayed: Value = serde_json::from_slice(&up.received()[0].body).unwrap();
    let t = relayed["events"][0]["timestamp"].as_u64().unwrap();
    assert!(
        t.abs_diff(now - 1000) < 5_000,
        "corrected to about now - 1 s: off by {}",
        t.abs_diff(now - 1000)
    );
    assert_eq!(
        relayed["events"][0]["clientTimestamp"].as_u64().unwrap(),
        now - 3 * hour - 1000
    );
}

#[tokio::test]
async fn pendo_mode_sends_each_event_with_the_integration_key() {
    let up = FakeUpstream::start().await;
    let mut config = ProxyConfig::new(Upstream::Pendo {
        urls: vec![up.url.clone()],
        key: PendoKey("pendo-track-secret".into()),
        concurrency: 2,
    });
    config.upstream_deadline = Duration::from_secs(3);
    config.allowed_origins = vec!["https://app.example".into()];
    let (base, _) = start_proxy(config).await;
    let (status, _, body) = post(&base, &batch(3)).await;
    assert_eq!(status, 200, "{body}");
    let got = up.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.headers["x-pendo-integration-key"], "pendo-track-secret");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "prompt");
        assert_eq!(v["visitor_id"], "v-1");
        assert_eq!(v["account_id"], "acme");
        assert_eq!(v["props"]["agentId"], "bot");
        assert_eq!(v["context"]["url"], "https://app.example/chat");
    }
    // One event refused by Pendo (400 to its own request): final for that event only.
    up.script(&[reply(200), reply_with(400, json!({"error": "bad props"}))]);
    let (status, _, body) = post(&base, &batch(2)).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    assert_eq!(body["rejected"][0]["code"], "upstream_rejected");
    assert!(
        body["rejected"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bad props"),
        "{body}"
    );
    assert!(!body.to_string().contains("pendo-track-secret"));
    // A server error: the batch is not acknowledged (the browser retries it).
    up.script(&[reply(200), reply(500)]);
    let (status, _, _) = post(&base, &batch(2)).await;
    assert_eq!(status, 502);
}

#[tokio::test]
async fn metrics_count_and_never_show_the_secret() {
    let up = FakeUpstream::start().await;
    let (base, _) = start_proxy(webhook_config(&up.url)).await;
    post(&base, &batch(2)).await;
    let mut bad = batch(1);
    bad["events"][0]["type"] = json!("nope");
    post(&base, &bad).await;
    let text = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("agent_track_proxy_events_accepted_total 2"),
        "{text}"
    );
    assert!(
        text.contains("agent_track_proxy_events_rejected_total{code=\"invalid_event_type\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("agent_track_proxy_upstream_requests_total{outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(!text.contains(&SECRET[6..]));
}
