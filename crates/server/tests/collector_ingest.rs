//! `POST /v1/ingest` over a real socket: signatures, dedupe, merge rules, refusals.

#[path = "collector_support/mod.rs"]
mod support;

use agent_track_server::secret::Secrets;
use agent_track_server::signature;
use serde_json::{json, Value};
use support::*;

fn body(events: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

#[tokio::test]
async fn a_valid_delivery_is_stored() {
    let s = Server::start().await;
    let events = vec![
        event("e1", "prompt", "c1", "m1", "hello", T0),
        with(
            event("e2", "agent_response", "c1", "m2", "hi!", T0 + 1000),
            json!({"toolsUsed": ["search"], "agentModelsUsed": ["gpt-x"], "agentInputTokenCount": 12, "agentOutputTokenCount": 30}),
        ),
        event("e3", "user_reaction", "c1", "m2", "positive", T0 + 2000),
        event("e4", "agent_trace", "c1", "m3", "{\"span\":1}", T0 + 1500),
    ];
    s.deliver_ok("msg_1", events, 4, 0).await;
    assert_eq!(
        (
            s.count("messages"),
            s.count("reactions"),
            s.count("conversations")
        ),
        (3, 1, 1)
    );
    assert_eq!((s.count("deliveries"), s.count("seen_events")), (1, 4));
    let c = s.get_ok("/api/v1/conversations/c1").await;
    assert_eq!(
        (c["startedAt"].as_u64(), c["lastMessageAt"].as_u64()),
        (Some(T0), Some(T0 + 2000))
    );
    assert_eq!(
        message_fields(&c, "type"),
        ["prompt", "agent_response", "agent_trace"]
    );
    // The file is in WAL mode (SQLite).
    if s.pg.is_none() {
        let mode: String = s
            .db()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

#[tokio::test]
async fn forged_stripped_empty_stale_and_foreign_signatures_are_refused_and_nothing_is_stored() {
    let s = Server::start().await;
    let good = body(vec![event("e1", "prompt", "c1", "m1", "hello", T0)]);
    let now = now_s();
    let headers = s.signed("msg_1", now, &good);
    let forged_body = body(vec![event("e1", "prompt", "c1", "m1", "HELLO", T0)]);
    let other = Secrets::parse(&Secrets::generate()).unwrap();
    let replace = |name: &str, value: String| -> Vec<(&'static str, String)> {
        headers
            .iter()
            .map(|(k, v)| (*k, if *k == name { value.clone() } else { v.clone() }))
            .collect()
    };
    let strip = |name: &str| -> Vec<(&'static str, String)> {
        headers
            .iter()
            .filter(|(k, _)| *k != name)
            .cloned()
            .collect()
    };
    let stale = now - 301;
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, Vec<u8>, &str)> = vec![
        (
            "forged body",
            headers.clone(),
            forged_body,
            "no valid v1 signature",
        ),
        (
            "wrong secret",
            replace(
                signature::SIGNATURE,
                signature::sign(&other, "msg_1", now, &good),
            ),
            good.clone(),
            "no valid v1 signature",
        ),
        (
            "stripped signature",
            strip(signature::SIGNATURE),
            good.clone(),
            "the webhook-signature header is required",
        ),
        (
            "stripped id",
            strip(signature::ID),
            good.clone(),
            "the webhook-id header is required",
        ),
        (
            "stripped timestamp",
            strip(signature::TIMESTAMP),
            good.clone(),
            "the webhook-timestamp header is required",
        ),
        (
            "empty v1,",
            replace(signature::SIGNATURE, "v1,".into()),
            good.clone(),
            "no valid v1 signature",
        ),
        (
            "other id",
            replace(signature::ID, "msg_2".into()),
            good.clone(),
            "no valid v1 signature",
        ),
        (
            "stale",
            vec![
                (signature::ID, "msg_1".into()),
                (signature::TIMESTAMP, stale.to_string()),
                (
                    signature::SIGNATURE,
                    signature::sign(&s.secrets, "msg_1", stale, &good),
                ),
            ],
            good.clone(),
            "is 301 s from now; at most 300 s are allowed",
        ),
    ];
    for (name, headers, payload, message) in cases {
        // What the collector computed for this delivery: it must never be echoed.
        let header = |h: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == h)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let expected = signature::sign(
            &s.secrets,
            &header(signature::ID),
            header(signature::TIMESTAMP).parse().unwrap_or(now),
            &payload,
        );
        let (status, answer) = s.post_raw(&headers, payload).await;
        assert_eq!(status, 401, "{name}: {answer}");
        assert_eq!(answer["code"], "invalid_signature", "{name}");
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(message), "{name}: {text}");
        assert!(
            !text.contains(&expected[3..]),
            "{name}: never echo expected values"
        );
        assert!(answer["requestId"].as_str().unwrap().starts_with("req_"));
    }
    assert_eq!(
        (
            s.count("deliveries"),
            s.count("seen_events"),
            s.count("messages"),
            s.count("conversations")
        ),
        (0, 0, 0, 0)
    );
    // The same headers and body are still accepted: nothing was remembered of the refusals.
    let (status, _) = s.post_raw(&headers, good).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn several_events_of_a_conversation_in_one_delivery_make_the_row_event_by_event_would() {
    // The row is written once per conversation per delivery: the span, the ids first known
    // and the resume must be those of applying each event in turn.
    let s = Server::start().await;
    let anonymous = |e: Value| set(e, json!({"visitorId": null, "accountId": null}));
    let events = vec![
        anonymous(event("e1", "prompt", "c1", "m1", "hello", T0 + 5000)),
        set(
            event("e2", "agent_response", "c1", "m2", "hi", T0 + 1000),
            json!({"visitorId": "visitor-2", "accountId": null}),
        ),
        set(
            event("e3", "agent_trace", "c1", "m3", "{}", T0 + 9000),
            json!({"visitorId": "visitor-3", "accountId": "acme-3"}),
        ),
        event("e4", "user_reaction", "c2", "m9", "positive", T0 + 7000),
    ];
    s.deliver_ok("msg_1", events, 4, 0).await;
    let row = |id: &str, column: &str| {
        s.scalar(&format!(
            "SELECT count({column}) FROM conversations WHERE id = '{id}'"
        ))
    };
    assert_eq!(
        (
            s.scalar("SELECT started_at FROM conversations WHERE id = 'c1'"),
            s.scalar("SELECT last_message_at FROM conversations WHERE id = 'c1'"),
            s.scalar("SELECT count(*) FROM conversations WHERE id = 'c1' AND visitor_id = 'visitor-2' AND account_id = 'acme-3' AND agent_id = 'agent-1'"),
        ),
        (T0 as i64 + 1000, T0 as i64 + 9000, 1)
    );
    // A reaction alone makes its conversation too.
    assert_eq!(
        s.scalar("SELECT started_at FROM conversations WHERE id = 'c2'"),
        T0 as i64 + 7000
    );
    // Ended by its owner: a delivery of reactions only leaves it ended; one with a message
    // among reactions resumes it (and drops the owner's outcome), wherever the message is.
    s.exec("UPDATE conversations SET closed_at = 1, client_outcome = 'resolved' WHERE id IN ('c1', 'c2')");
    s.deliver_ok(
        "msg_2",
        vec![event(
            "e5",
            "user_reaction",
            "c1",
            "m2",
            "negative",
            T0 + 9500,
        )],
        1,
        0,
    )
    .await;
    assert_eq!(
        (row("c1", "closed_at"), row("c1", "client_outcome")),
        (1, 1)
    );
    let events = vec![
        event("e6", "user_reaction", "c2", "m9", "negative", T0 + 8000),
        event("e7", "prompt", "c2", "m10", "again", T0 + 8500),
        event("e8", "user_reaction", "c2", "m9", "positive", T0 + 8600),
    ];
    s.deliver_ok("msg_3", events, 3, 0).await;
    assert_eq!(
        (row("c2", "closed_at"), row("c2", "client_outcome")),
        (0, 0)
    );
    assert_eq!(
        s.scalar("SELECT last_message_at FROM conversations WHERE id = 'c2'"),
        T0 as i64 + 8600
    );
}

#[tokio::test]
async fn a_large_delivery_keeps_its_messages_order_and_the_first_write_of_a_repeated_message() {
    // 100 messages (on PostgreSQL several multi-row inserts: 64 + 32 + 4); two repeat an
    // earlier message (same conversation, messageId and type) under new eventIds, one in the
    // same statement as it and one in the next, and one has another conversation's ids.
    let s = Server::start().await;
    let mut events: Vec<Value> = (0..100)
        .map(|i| {
            event(
                &format!("e{i}"),
                "prompt",
                "c1",
                &format!("m{i}"),
                &format!("text {i}"),
                T0 + 1000,
            )
        })
        .collect();
    events[10] = event("e10", "prompt", "c1", "m3", "a second m3", T0 + 1000);
    events[70] = event("e70", "prompt", "c1", "m3", "a third m3", T0 + 1000);
    events[99] = event("e99", "prompt", "c2", "m3", "m3 of c2", T0 + 1000);
    s.deliver_ok("msg_1", events, 100, 0).await;
    assert_eq!(s.count("messages"), 98);
    let c = s.get_ok("/api/v1/conversations/c1").await;
    let texts = message_fields(&c, "content");
    // One timestamp for all: the order shown is the order stored, the delivery's.
    let expected: Vec<String> = (0..99)
        .filter(|&i| i != 10 && i != 70)
        .map(|i| format!("text {i}"))
        .collect();
    assert_eq!(texts, expected);
    assert_eq!(
        s.scalar(
            "SELECT count(*) FROM messages WHERE conversation_id = 'c2' AND message_id = 'm3'"
        ),
        1
    );
}

#[tokio::test]
async fn a_repeated_delivery_answers_200_and_writes_nothing() {
    let s = Server::start().await;
    let events = vec![
        event("e1", "prompt", "c1", "m1", "hello", T0),
        event("e2", "agent_response", "c1", "m2", "hi", T0 + 1),
    ];
    s.deliver_ok("msg_1", events.clone(), 2, 0).await;
    // The proxy's retry after a timeout: same webhook-id, new timestamp.
    s.deliver_ok("msg_1", events.clone(), 0, 2).await;
    // Even a different body under a known webhook-id writes nothing.
    s.deliver_ok(
        "msg_1",
        vec![event("e9", "prompt", "c9", "m9", "other", T0)],
        0,
        1,
    )
    .await;
    assert_eq!(
        (
            s.count("deliveries"),
            s.count("seen_events"),
            s.count("messages"),
            s.count("conversations")
        ),
        (1, 2, 2, 1)
    );
}

#[tokio::test]
async fn the_same_event_id_in_a_new_delivery_is_not_duplicated() {
    let s = Server::start().await;
    s.deliver_ok(
        "msg_1",
        vec![event("e1", "prompt", "c1", "m1", "hello", T0)],
        1,
        0,
    )
    .await;
    let again = vec![
        event("e1", "prompt", "c1", "m1", "hello", T0),
        event("e2", "prompt", "c1", "m2", "more", T0 + 5),
    ];
    s.deliver_ok("msg_2", again, 1, 1).await;
    // Twice in one batch: the second is a duplicate.
    let twice = vec![
        event("e3", "prompt", "c1", "m3", "x", T0 + 6),
        event("e3", "prompt", "c1", "m3", "x", T0 + 6),
    ];
    s.deliver_ok("msg_3", twice, 1, 1).await;
    assert_eq!(s.count("messages"), 3);
    let c = s.get_ok("/api/v1/conversations/c1").await;
    assert_eq!(c["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn messages_keep_the_first_write() {
    let s = Server::start().await;
    s.deliver_ok(
        "msg_1",
        vec![event("e1", "prompt", "c1", "m1", "first", T0)],
        1,
        0,
    )
    .await;
    // The app tracked the same message again under a new eventId, with other content.
    s.deliver_ok(
        "msg_2",
        vec![event("e2", "prompt", "c1", "m1", "second", T0 - 500)],
        1,
        0,
    )
    .await;
    let c = s.get_ok("/api/v1/conversations/c1").await;
    let messages = c["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        (
            messages[0]["content"].as_str(),
            messages[0]["eventId"].as_str()
        ),
        (Some("first"), Some("e1"))
    );
    assert_eq!(
        c["startedAt"].as_u64(),
        Some(T0),
        "an ignored write does not move the conversation"
    );
    // A response sharing the prompt's messageId is a different message: neither is lost.
    s.deliver_ok(
        "msg_3",
        vec![event("e3", "agent_response", "c1", "m1", "answer", T0 + 10)],
        1,
        0,
    )
    .await;
    assert_eq!(
        s.get_ok("/api/v1/conversations/c1").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

fn reaction(id: &str, value: &str, ts: u64, comments: &[&str]) -> Value {
    let e = event(id, "user_reaction", "c1", "r1", value, ts);
    if comments.is_empty() {
        e
    } else {
        with(e, json!({ "agentUserReactionComments": comments }))
    }
}

async fn shown_reaction(s: &Server) -> Value {
    let c = s.get_ok("/api/v1/conversations/c1").await;
    let response = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "agent_response")
        .unwrap()
        .clone();
    response["reaction"].clone()
}

#[tokio::test]
async fn the_latest_reaction_wins_and_keeps_its_comments() {
    let s = Server::start().await;
    s.deliver_ok(
        "d0",
        vec![event("e0", "agent_response", "c1", "r1", "answer", T0)],
        1,
        0,
    )
    .await;
    s.deliver_ok(
        "d1",
        vec![reaction(
            "e1",
            "negative",
            T0 + 2000,
            &["too short", "wrong link"],
        )],
        1,
        0,
    )
    .await;
    // An older positive arriving later loses.
    s.deliver_ok("d2", vec![reaction("e2", "positive", T0 + 1000, &[])], 1, 0)
        .await;
    assert_eq!(
        shown_reaction(&s).await,
        json!({"value": "negative", "comments": ["too short", "wrong link"], "at": T0 + 2000})
    );
    // A newer one wins.
    s.deliver_ok(
        "d3",
        vec![reaction("e3", "positive", T0 + 3000, &["ok now"])],
        1,
        0,
    )
    .await;
    assert_eq!(
        shown_reaction(&s).await,
        json!({"value": "positive", "comments": ["ok now"], "at": T0 + 3000})
    );
    assert_eq!(s.count("reactions"), 1, "one per (conversation, message)");
}

#[tokio::test]
async fn unreact_is_a_tombstone_that_an_older_late_positive_does_not_resurrect() {
    let s = Server::start().await;
    s.deliver_ok(
        "d0",
        vec![event("e0", "agent_response", "c1", "r1", "answer", T0)],
        1,
        0,
    )
    .await;
    s.deliver_ok("d1", vec![reaction("e1", "positive", T0 + 1000, &[])], 1, 0)
        .await;
    s.deliver_ok("d2", vec![reaction("e2", "unreact", T0 + 2000, &[])], 1, 0)
        .await;
    assert_eq!(shown_reaction(&s).await, Value::Null);
    // A positive clicked before the unreact, delivered late (another tab's queue).
    s.deliver_ok("d3", vec![reaction("e3", "positive", T0 + 1500, &[])], 1, 0)
        .await;
    assert_eq!(shown_reaction(&s).await, Value::Null);
    assert_eq!(
        (
            s.count("reactions"),
            s.scalar("SELECT timestamp FROM reactions WHERE value = 'unreact'")
        ),
        (1, (T0 + 2000) as i64),
        "the tombstone is kept"
    );
    let list = s.get_ok("/api/v1/conversations").await;
    assert_eq!(
        (
            list["conversations"][0]["positiveReactions"].as_u64(),
            list["conversations"][0]["negativeReactions"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn a_reaction_before_its_response_attaches_when_the_response_arrives() {
    let s = Server::start().await;
    s.deliver_ok("d1", vec![reaction("e1", "positive", T0 + 1000, &[])], 1, 0)
        .await;
    assert_eq!(
        s.count("conversations"),
        1,
        "the conversation exists from its first event"
    );
    s.deliver_ok(
        "d2",
        vec![event("e0", "agent_response", "c1", "r1", "answer", T0)],
        1,
        0,
    )
    .await;
    assert_eq!(shown_reaction(&s).await["value"], "positive");
}

#[tokio::test]
async fn signed_bodies_that_are_not_relay_batches_are_400_and_store_nothing() {
    let s = Server::start().await;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"{not json".to_vec(), "invalid_body", "not a relay batch"),
        (
            br#"{"events": 5}"#.to_vec(),
            "invalid_body",
            "not a relay batch",
        ),
        (br#"[1]"#.to_vec(), "invalid_body", "not a relay batch"),
    ];
    for (i, (payload, code, message)) in cases.into_iter().enumerate() {
        let headers = s.signed(&format!("msg_{i}"), now_s(), &payload);
        let (status, answer) = s.post_raw(&headers, payload).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["code"], code, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{answer}"
        );
    }
    assert_eq!(
        (
            s.count("deliveries"),
            s.count("seen_events"),
            s.count("messages")
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn invalid_events_are_refused_one_by_one_in_the_200_and_the_rest_is_stored() {
    let s = Server::start().await;
    let events = vec![
        event("e1", "prompt", "c1", "m1", "ok", T0),
        event("e2", "user_reaction", "c1", "m1", "meh", T0),
        json!({"eventId": "e3"}),
        set(
            event("e4", "prompt", "c1", "m4", "ok", T0),
            json!({"timestamp": u64::MAX}),
        ),
        event("e5", "agent_response", "c1", "m5", "fine", T0 + 1),
    ];
    let (status, answer) = s.deliver("msg_mixed", events.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["duplicates"].as_u64()),
        (Some(2), Some(0)),
        "{answer}"
    );
    let rejected = answer["rejected"].as_array().unwrap();
    let shape: Vec<(u64, &str, &str, &str)> = rejected
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["eventId"].as_str().unwrap(),
                r["code"].as_str().unwrap(),
                r["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "e2", "invalid_reaction", "properties.content"),
            (2, "e3", "invalid_event", ""),
            (3, "e4", "out_of_range", "timestamp"),
        ]
    );
    assert!(rejected[0]["message"]
        .as_str()
        .unwrap()
        .contains("must be one of positive, negative, unreact"));
    assert!(rejected[1]["message"]
        .as_str()
        .unwrap()
        .starts_with("events[2] is not a relayed event: missing field"));
    assert_eq!((s.count("messages"), s.count("seen_events")), (2, 2));
    // A replay of the same delivery names the same refusals; the stored ones are duplicates.
    let (status, again) = s.deliver("msg_mixed", events).await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(again["rejected"], answer["rejected"]);
}

#[tokio::test]
async fn bodies_over_8_mb_are_413() {
    let s = Server::start().await;
    let payload = vec![b' '; 8 * 1024 * 1024 + 1];
    let headers = s.signed("msg_big", now_s(), &payload);
    let (status, answer) = s.post_raw(&headers, payload).await;
    assert_eq!(status, 413);
    assert_eq!(answer["code"], "body_too_large");
}

#[tokio::test]
async fn an_empty_batch_is_acknowledged() {
    let s = Server::start().await;
    s.deliver_ok("msg_empty", vec![], 0, 0).await;
}

#[tokio::test]
async fn reopening_the_file_keeps_the_data_and_the_dedupe() {
    let s = Server::start().await;
    s.deliver_ok(
        "msg_1",
        vec![event("e1", "prompt", "c1", "m1", "hello", T0)],
        1,
        0,
    )
    .await;
    let config = agent_track_server::collector::CollectorConfig {
        data_dir: s.dir.path().join("data"),
        secrets: s.secrets.clone(),
        api_key: API_KEY.into(),
        ingest_keys: Vec::new(),
        synchronous: Default::default(),
        analysis: Default::default(),
        insights: None,
        webhooks: Default::default(),
        database: s.database(),
    };
    let again = agent_track_server::collector::Collector::open(config).unwrap();
    drop(again);
    s.deliver_ok(
        "msg_1",
        vec![event("e1", "prompt", "c1", "m1", "hello", T0)],
        0,
        1,
    )
    .await;
    let empty_key = agent_track_server::collector::CollectorConfig {
        data_dir: s.dir.path().join("x"),
        secrets: s.secrets.clone(),
        api_key: String::new(),
        ingest_keys: Vec::new(),
        synchronous: Default::default(),
        analysis: Default::default(),
        insights: None,
        webhooks: Default::default(),
        database: Default::default(),
    };
    assert!(agent_track_server::collector::Collector::open(empty_key)
        .unwrap_err()
        .to_string()
        .contains("API key is empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_batch_store_it_once() {
    let s = Server::start().await;
    let events: Vec<Value> = (0..50)
        .map(|i| {
            event(
                &format!("e{i}"),
                "prompt",
                &format!("c{}", i % 5),
                &format!("m{i}"),
                "x",
                T0 + i,
            )
        })
        .collect();
    // The same events under four webhook-ids (a proxy retrying with new ids) and one repeated id, at once.
    let (a, b, c, d, e) = tokio::join!(
        s.deliver("w1", events.clone()),
        s.deliver("w2", events.clone()),
        s.deliver("w3", events.clone()),
        s.deliver("w4", events.clone()),
        s.deliver("w1", events.clone()),
    );
    let mut accepted = 0;
    for (status, body) in [a, b, c, d, e] {
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["accepted"].as_u64().unwrap() + body["duplicates"].as_u64().unwrap(),
            50
        );
        accepted += body["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 50);
    assert_eq!(
        (
            s.count("messages"),
            s.count("conversations"),
            s.count("deliveries")
        ),
        (50, 5, 4)
    );
}

/// Sends a request head announcing a large body, and no body; the answer (status, body),
/// or `None` when none came within 3 s.
async fn head_only(s: &Server, headers: &[(&str, String)]) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = "POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 8000000\r\n".to_string();
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            if text[end + 4..].contains('}') {
                return Some((text[9..12].parse().unwrap(), text[end + 4..].to_string()));
            }
        }
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

#[tokio::test]
async fn signature_headers_are_checked_before_the_body_is_read() {
    let s = Server::start().await;
    let now = now_s();
    let sig = signature::sign(&s.secrets, "msg_1", now, b"x");
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![], "the webhook-id header is required"),
        (
            vec![
                (signature::ID, "msg_1".into()),
                (signature::TIMESTAMP, (now - 3600).to_string()),
                (signature::SIGNATURE, sig.clone()),
            ],
            "webhook-timestamp is 3600 s from now",
        ),
        (
            vec![
                (signature::ID, "msg_1".into()),
                (signature::TIMESTAMP, now.to_string()),
                (signature::SIGNATURE, "v1,bm90IGEgc2lnbmF0dXJl".into()),
            ],
            "no valid v1 signature",
        ),
    ];
    for (headers, message) in cases {
        let (status, body) = head_only(&s, &headers)
            .await
            .unwrap_or_else(|| panic!("no answer without the body ({message})"));
        assert_eq!(status, 401, "{body}");
        assert!(body.contains(message), "{body}");
    }
    // Well-formed headers: now the body is awaited (and 8 MB is within the limit).
    let good = vec![
        (signature::ID, "msg_1".to_string()),
        (signature::TIMESTAMP, now.to_string()),
        (signature::SIGNATURE, sig),
    ];
    assert_eq!(head_only(&s, &good).await, None);
}

#[tokio::test]
async fn synchronous_full_is_offered_and_normal_is_the_default() {
    use agent_track_server::collector::{Collector, CollectorConfig, Synchronous};
    let dir = tempfile::tempdir().unwrap();
    let secrets = Secrets::parse(&Secrets::generate()).unwrap();
    let normal = Collector::open(CollectorConfig::new(
        dir.path().join("a"),
        secrets.clone(),
        "k",
    ))
    .unwrap();
    assert_eq!(normal.synchronous().unwrap(), Synchronous::Normal);
    let full = Collector::open(CollectorConfig {
        synchronous: Synchronous::Full,
        analysis: Default::default(),
        ..CollectorConfig::new(dir.path().join("b"), secrets, "k")
    })
    .unwrap();
    assert_eq!(full.synchronous().unwrap(), Synchronous::Full);
}
