//! The read API over a real socket: auth, shapes, filters, pagination, transcripts, delete.

#[path = "collector_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::*;

const ENDPOINTS: [&str; 6] = [
    "/api/v1/conversations",
    "/api/v1/conversations/c1",
    "/api/v1/conversations/c1/transcript",
    "/api/v1/messages",
    "/api/v1/stats",
    "/api/v1/conversations?limit=5",
];

#[tokio::test]
async fn every_endpoint_requires_the_api_key() {
    let s = Server::start().await;
    s.deliver_ok(
        "d1",
        vec![event("e1", "prompt", "c1", "m1", "hello", T0)],
        1,
        0,
    )
    .await;
    for path in ENDPOINTS {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer atk_test_key_12"),
            Some("Basic YTpi"),
            Some("Bearer "),
        ] {
            let res = s.client.get(format!("{}{path}", s.base));
            let res = match auth {
                Some(a) => res.header("authorization", a),
                None => res,
            }
            .send()
            .await
            .unwrap();
            assert_eq!(res.status().as_u16(), 401, "{path} {auth:?}");
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
            let header = res.headers()["x-request-id"].to_str().unwrap().to_string();
            let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
            assert_eq!(body["code"], "unauthorized");
            assert_eq!(body["requestId"], header.as_str());
            assert!(body["requestId"].as_str().unwrap().starts_with("req_"));
            assert!(!body["message"].as_str().unwrap().contains(API_KEY));
        }
        let (status, _, _) = s.get_with(path, Some(&format!("bearer {API_KEY}"))).await;
        assert_eq!(status, 200, "{path}: the scheme is case-insensitive");
    }
    let res = s
        .client
        .delete(format!("{}/api/v1/conversations/c1", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(s.count("conversations"), 1);
    // Health is not behind the key (the runner adds it).
    let (status, _, _) = s.get_with("/healthz", None).await;
    assert_eq!(status, 200);
}

async fn seed(s: &Server) {
    let events = vec![
        with(event("e1", "prompt", "c1", "m1", "  How do I\nreset my password? Please tell me, it is urgent and I have tried everything already.", T0), json!({"suggestedPrompt": true, "agentFilesUploaded": [{"type": "pdf", "name": "error.pdf"}]})),
        with(
            event("e2", "agent_response", "c1", "m2", "Open **Settings**.", T0 + 1000),
            json!({"toolsUsed": ["search", "kb"], "agentModelsUsed": ["gpt-x"], "agentSubagentsUsed": ["helper"], "agentInputTokenCount": 12, "agentOutputTokenCount": 40}),
        ),
        set(with(event("e3", "user_reaction", "c1", "m2", "negative", T0 + 3000), json!({"agentUserReactionComments": ["too short"]})), json!({"eventProperties": {"screen": "chat"}})),
        set(event("e4", "agent_trace", "c1", "m3", "span ``` x", T0 + 1000), json!({"eventProperties": {"traceId": "t1"}})),
        set(with(event("e5", "prompt", "c2", "m1", "Second conversation", T0 + 60_000), json!({"agentId": "agent-2"})), json!({"visitorId": "visitor-2", "accountId": null})),
    ];
    s.deliver_ok("seed", events, 5, 0).await;
}

#[tokio::test]
async fn conversations_list_shape_and_filters() {
    let s = Server::start().await;
    seed(&s).await;
    let list = s.get_ok("/api/v1/conversations").await;
    assert_eq!(list["nextCursor"], Value::Null);
    let rows = list["conversations"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "c2", "newest first");
    assert_eq!(
        rows[1],
        json!({"id": "c1", "agentId": "agent-1", "visitorId": "visitor-1", "accountId": "acme", "startedAt": T0, "lastMessageAt": T0 + 3000,
            "messageCount": 3, "promptCount": 1, "responseCount": 1, "positiveReactions": 0, "negativeReactions": 1,
            "inputTokens": 12, "outputTokens": 40,
            "title": "How do I reset my password? Please tell me, it is urgent and I have tried everyt",
            "status": "ended", "outcome": "completed", "issueTypes": ["negative_feedback"]})
    );
    assert_eq!(rows[0]["accountId"], Value::Null);
    let ids = |v: Value| -> Vec<String> {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(s.get_ok("/api/v1/conversations?agentId=agent-2").await),
        ["c2"]
    );
    assert_eq!(
        ids(s.get_ok("/api/v1/conversations?visitorId=visitor-1").await),
        ["c1"]
    );
    assert_eq!(
        ids(s.get_ok("/api/v1/conversations?agentId=nobody").await),
        Vec::<String>::new()
    );
    // Active in the window: c1 spans T0..T0+3s, c2 is at T0+60s.
    assert_eq!(
        ids(s
            .get_ok("/api/v1/conversations?since=2025-11-21T10:00:30Z")
            .await),
        ["c2"]
    );
    assert_eq!(
        ids(s
            .get_ok("/api/v1/conversations?until=2025-11-21T10:00:30Z")
            .await),
        ["c1"]
    );
    assert_eq!(
        ids(s
            .get_ok(&format!(
                "/api/v1/conversations?since={}&until={}",
                T0 + 2000,
                T0 + 2001
            ))
            .await),
        ["c1"]
    );
    assert_eq!(
        ids(s
            .get_ok("/api/v1/conversations?since=2025-11-21T11:00:30%2B01:00")
            .await),
        ["c2"]
    );
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let s = Server::start().await;
    let cases = [
        (
            "/api/v1/conversations?limit=0",
            "invalid_parameter",
            "limit must be a whole number from 1 to 200",
        ),
        (
            "/api/v1/conversations?limit=201",
            "invalid_parameter",
            "limit must be a whole number from 1 to 200",
        ),
        (
            "/api/v1/conversations?limit=ten",
            "invalid_parameter",
            "limit must be",
        ),
        (
            "/api/v1/messages?limit=1001",
            "invalid_parameter",
            "limit must be a whole number from 1 to 1000",
        ),
        (
            "/api/v1/conversations?since=yesterday",
            "invalid_parameter",
            "since must be an RFC 3339 time",
        ),
        (
            "/api/v1/messages?until=2025-02-30T00:00:00Z",
            "invalid_parameter",
            "until must be an RFC 3339 time",
        ),
        (
            "/api/v1/stats?since=2000&until=1000",
            "invalid_parameter",
            "since must be earlier than until",
        ),
        (
            "/api/v1/conversations?cursor=nope",
            "invalid_parameter",
            "cursor must be a nextCursor",
        ),
        (
            "/api/v1/conversations?agentID=a",
            "unknown_parameter",
            "did you mean `agentId`?",
        ),
        (
            "/api/v1/stats?limit=5",
            "unknown_parameter",
            "allowed: agentId, since, until",
        ),
        (
            "/api/v1/conversations/c1/transcript?format=pdf",
            "invalid_parameter",
            "format must be one of txt, md, json",
        ),
    ];
    for (path, code, message) in cases {
        let (status, body) = s.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
        assert!(body["requestId"].is_string());
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let s = Server::start().await;
    for path in [
        "/api/v1/conversations/nope",
        "/api/v1/conversations/nope/transcript?format=md",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, body) = s.delete("/api/v1/conversations/nope").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn one_conversation_with_ordered_messages() {
    let s = Server::start().await;
    seed(&s).await;
    let c = s.get_ok("/api/v1/conversations/c1").await;
    assert_eq!(
        (
            c["id"].as_str(),
            c["agentId"].as_str(),
            c["visitorId"].as_str(),
            c["accountId"].as_str()
        ),
        (Some("c1"), Some("agent-1"), Some("visitor-1"), Some("acme"))
    );
    assert_eq!(
        (c["startedAt"].as_u64(), c["lastMessageAt"].as_u64()),
        (Some(T0), Some(T0 + 3000))
    );
    let m = c["messages"].as_array().unwrap();
    // The response and the trace share a timestamp: insertion order breaks the tie.
    let order: Vec<&str> = m.iter().map(|m| m["eventId"].as_str().unwrap()).collect();
    assert_eq!(order, ["e1", "e2", "e4"]);
    assert_eq!(
        m[1],
        json!({"messageId": "m2", "eventId": "e2", "type": "agent_response", "content": "Open **Settings**.", "timestamp": T0 + 1000,
            "suggestedPrompt": false, "toolsUsed": ["search", "kb"], "agentModelsUsed": ["gpt-x"], "agentFilesUploaded": [],
            "agentSubagentsUsed": ["helper"], "inputTokens": 12, "outputTokens": 40, "eventProperties": {},
            "reaction": {"value": "negative", "comments": ["too short"], "at": T0 + 3000}})
    );
    assert_eq!(
        m[0]["agentFilesUploaded"],
        json!([{"type": "pdf", "name": "error.pdf"}])
    );
    assert_eq!(
        (
            m[0]["suggestedPrompt"].as_bool(),
            &m[0]["inputTokens"],
            &m[0]["reaction"]
        ),
        (Some(true), &Value::Null, &Value::Null)
    );
    assert_eq!(m[2]["eventProperties"], json!({"traceId": "t1"}));
}

#[tokio::test]
async fn transcripts_in_three_formats() {
    let s = Server::start().await;
    seed(&s).await;
    let key = format!("Bearer {API_KEY}");
    let (status, ct, txt) = s
        .get_with("/api/v1/conversations/c1/transcript", Some(&key))
        .await;
    assert_eq!((status, ct.as_str()), (200, "text/plain; charset=utf-8"));
    assert!(txt.starts_with("Conversation c1\nAgent: agent-1\nVisitor: visitor-1\nAccount: acme\nStarted: 2025-11-21T10:00:00.000Z\n"), "{txt}");
    assert!(txt.contains("[2025-11-21T10:00:01.000Z] Agent:\n    Open **Settings**.\n  Tools: search, kb · Models: gpt-x · Sub-agents: helper · Tokens: 12 in, 40 out\n  Reaction: negative at 2025-11-21T10:00:03.000Z: \"too short\"\n"), "{txt}");
    assert!(
        txt.contains("] Visitor (suggested prompt):\n      How do I"),
        "{txt}"
    );
    let (status, ct, md) = s
        .get_with("/api/v1/conversations/c1/transcript?format=md", Some(&key))
        .await;
    assert_eq!((status, ct.as_str()), (200, "text/markdown; charset=utf-8"));
    assert!(md.starts_with("# Conversation c1\n"), "{md}");
    assert!(md.contains("### Agent · 2025-11-21T10:00:01.000Z"), "{md}");
    assert!(md.contains("**Reaction:** negative"), "{md}");
    assert!(md.contains("````\nspan ``` x\n````"), "{md}");
    let (status, ct, json_text) = s
        .get_with(
            "/api/v1/conversations/c1/transcript?format=json",
            Some(&key),
        )
        .await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let mut expected = s.get_ok("/api/v1/conversations/c1").await;
    expected["truncated"] = json!(false);
    assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), expected);
}

/// A conversation `c` of `n` prompts of `size` bytes each, delivered in batches.
async fn long_conversation(s: &Server, c: &str, n: usize, size: usize) {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            event(
                &format!("{c}-e{i}"),
                "prompt",
                c,
                &format!("m{i}"),
                &format!("{i:06} {}", "x".repeat(size)),
                T0 + i as u64,
            )
        })
        .collect();
    let per_batch = (6 * 1024 * 1024 / (size + 600)).max(1);
    for (b, chunk) in events.chunks(per_batch).enumerate() {
        let (status, body) = s.deliver(&format!("{c}-batch-{b}"), chunk.to_vec()).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn one_conversation_pages_through_its_messages() {
    let s = Server::start().await;
    long_conversation(&s, "long", 450, 10).await;
    let first = s.get_ok("/api/v1/conversations/long").await;
    assert_eq!(first["messageCount"], 450);
    assert_eq!(
        first["messages"].as_array().unwrap().len(),
        200,
        "default page"
    );
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/conversations/long?limit=100&cursor={c}"),
            None => "/api/v1/conversations/long?limit=100".into(),
        };
        let page = s.get_ok(&path).await;
        pages += 1;
        for m in page["messages"].as_array().unwrap() {
            seen.push(m["messageId"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = (0..450).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected, "in order, none skipped or repeated");
    let (status, body) = s.get("/api/v1/conversations/long?limit=1001").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
    assert!(body["message"].as_str().unwrap().contains("from 1 to 1000"));
    let (status, _) = s.get("/api/v1/conversations/long?cursor=nope").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_transcript_download_stops_at_5_mb_and_says_it_was_cut() {
    let s = Server::start().await;
    // 70 prompts of 99 KB: about 7 MB of text.
    long_conversation(&s, "huge", 70, 99 * 1024).await;
    let key = format!("Bearer {API_KEY}");
    for format in ["txt", "md"] {
        let (status, _, text) = s
            .get_with(
                &format!("/api/v1/conversations/huge/transcript?format={format}"),
                Some(&key),
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            text.len() <= 5 * 1024 * 1024,
            "{format}: {} bytes",
            text.len()
        );
        assert!(
            text.len() > 4 * 1024 * 1024,
            "{format}: {} bytes",
            text.len()
        );
        let last = text.trim_end().lines().last().unwrap();
        assert!(last.contains("cut at 5 MB"), "{format}: {last}");
        assert!(last.contains("of 70 messages"), "{format}: {last}");
    }
    let (status, _, json_text) = s
        .get_with(
            "/api/v1/conversations/huge/transcript?format=json",
            Some(&key),
        )
        .await;
    assert_eq!(status, 200);
    assert!(json_text.len() <= 5 * 1024 * 1024);
    let v: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(
        (v["truncated"].as_bool(), v["messageCount"].as_u64()),
        (Some(true), Some(70))
    );
    assert!(v["messages"].as_array().unwrap().len() < 70);
}

fn conversation(i: usize) -> Value {
    event(
        &format!("e{i}"),
        "prompt",
        &format!("c{i:03}"),
        "m1",
        &format!("question {i}"),
        T0 + i as u64,
    )
}

#[tokio::test]
async fn conversation_pages_neither_skip_nor_repeat_while_new_conversations_arrive() {
    let s = Server::start().await;
    for i in 0..25 {
        s.deliver_ok(&format!("d{i}"), vec![conversation(i)], 1, 0)
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/conversations?limit=10&cursor={c}"),
            None => "/api/v1/conversations?limit=10".into(),
        };
        let page = s.get_ok(&path).await;
        pages += 1;
        seen.extend(
            page["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string()),
        );
        // New conversations, and a new message in an old one, between pages.
        for j in 0..3 {
            let i = 100 + pages * 10 + j;
            s.deliver_ok(&format!("d{i}"), vec![conversation(i)], 1, 0)
                .await;
        }
        s.deliver_ok(
            &format!("late{pages}"),
            vec![event(
                &format!("late{pages}"),
                "prompt",
                "c000",
                &format!("m{pages}x"),
                "more",
                T0 + 99_999,
            )],
            1,
            0,
        )
        .await;
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("c{i:03}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    // A fresh first page starts with what arrived meanwhile.
    let first = s.get_ok("/api/v1/conversations?limit=1").await;
    assert_eq!(first["conversations"][0]["id"], "c132");
}

#[tokio::test]
async fn the_message_export_pages_in_insertion_order() {
    let s = Server::start().await;
    seed(&s).await;
    s.deliver_ok(
        "more",
        vec![with(
            event("e6", "agent_response", "c2", "m2", "Reply", T0 + 61_000),
            json!({"agentId": "agent-2"}),
        )],
        1,
        0,
    )
    .await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/messages?limit=2".to_string();
    loop {
        let page = s.get_ok(&path).await;
        let rows = page["messages"].as_array().unwrap();
        assert!(rows.len() <= 2);
        seen.extend(rows.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/api/v1/messages?limit=2&cursor={c}"),
            None => break,
        }
    }
    let ids: Vec<&str> = seen
        .iter()
        .map(|m| m["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["e1", "e2", "e4", "e5", "e6"],
        "reactions are not messages; insertion order"
    );
    assert_eq!(
        (
            seen[3]["conversationId"].as_str(),
            seen[3]["agentId"].as_str(),
            seen[3]["visitorId"].as_str()
        ),
        (Some("c2"), Some("agent-2"), Some("visitor-2"))
    );
    assert_eq!(seen[1]["reaction"]["value"], "negative");
    let ids = |v: Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["eventId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(s.get_ok("/api/v1/messages?conversationId=c2").await),
        ["e5", "e6"]
    );
    assert_eq!(
        ids(s.get_ok("/api/v1/messages?agentId=agent-1").await),
        ["e1", "e2", "e4"]
    );
    assert_eq!(
        ids(s
            .get_ok(&format!(
                "/api/v1/messages?since={}&until=2025-11-21T10:01:00.500Z",
                T0 + 1000
            ))
            .await),
        ["e2", "e4", "e5"]
    );
    let all = s.get_ok("/api/v1/messages").await;
    assert_eq!(
        (
            all["messages"].as_array().unwrap().len(),
            &all["nextCursor"]
        ),
        (5, &Value::Null)
    );
}

fn file_contains(path: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        .unwrap_or(false)
}

#[tokio::test]
async fn delete_removes_the_conversation_for_good() {
    let s = Server::start().await;
    let marker = "SECRET-MARKER-4711";
    let events = vec![
        event(
            "e1",
            "prompt",
            "gone",
            "m1",
            &format!("my card is {marker}"),
            T0,
        ),
        with(
            event(
                "e2",
                "agent_response",
                "gone",
                "m2",
                &format!("noted {marker}"),
                T0 + 1,
            ),
            json!({"toolsUsed": ["vault"]}),
        ),
        with(
            event("e3", "user_reaction", "gone", "m2", "positive", T0 + 2),
            json!({"agentUserReactionComments": [marker]}),
        ),
        event("e4", "prompt", "kept", "m1", "hello", T0 + 3),
    ];
    s.deliver_ok("d1", events.clone(), 4, 0).await;
    let (status, body) = s.delete("/api/v1/conversations/gone").await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(s.get("/api/v1/conversations/gone").await.0, 404);
    assert_eq!(s.delete("/api/v1/conversations/gone").await.0, 404);
    let list = s.get_ok("/api/v1/conversations").await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1);
    let export = s.get_ok("/api/v1/messages").await;
    assert_eq!(export["messages"].as_array().unwrap().len(), 1);
    let stats = s.get_ok("/api/v1/stats").await;
    assert_eq!(
        (
            stats["messages"].as_i64(),
            stats["reactions"]["positive"].as_i64()
        ),
        (Some(1), Some(0))
    );
    // A replay, under the same or a new webhook-id, is recognised and stores nothing.
    s.deliver_ok("d1", events.clone(), 0, 4).await;
    s.deliver_ok("d2", events[..3].to_vec(), 0, 3).await;
    assert_eq!(s.get("/api/v1/conversations/gone").await.0, 404);
    // No copy of the content is left in the database files.
    let data = s.dir.path().join("data");
    for file in ["agent-track.sqlite3", "agent-track.sqlite3-wal"] {
        assert!(
            !file_contains(&data.join(file), marker.as_bytes()),
            "{file} still holds deleted content"
        );
    }
    assert_eq!(
        (
            s.count("messages"),
            s.count("reactions"),
            s.count("conversations")
        ),
        (1, 0, 1)
    );
    assert_eq!(
        s.count("seen_events"),
        4,
        "ids only, so replays stay duplicates"
    );
}
