//! The conversation log API (`POST /api/v1/conversations`, `.../{id}/messages`) and the
//! Pendo-compatible `POST /data/agentic`, through a real socket into a real SQLite file, read
//! back through the read API.

mod collector_support;

use collector_support::*;
use serde_json::{json, Value};

const CREATE: &str = "/api/v1/conversations";

fn append_path(id: &str) -> String {
    format!("/api/v1/conversations/{id}/messages")
}

async fn create_ok(s: &Server, body: Value) -> Value {
    let (status, answer) = s.post_ingest(CREATE, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test]
async fn a_backend_conversation_is_created_and_read_like_any_other() {
    let s = Server::start().await;
    let a = create_ok(
        &s,
        json!({
            "agentId": "slack-bot", "visitorId": "U42", "accountId": "acme",
            "metadata": {"channel": "#support"},
            "messages": [
                {"role": "system", "content": "You are the support bot."},
                {"id": "m1", "role": "user", "content": "Where is my order 1234?", "timestamp": "2026-12-01T10:00:00Z"},
                {"id": "m2", "role": "assistant", "content": "", "timestamp": "2026-12-01T10:00:01Z",
                 "toolCalls": [{"id": "call_1", "name": "order_lookup", "arguments": "{\"id\": 1234}"}]},
                {"id": "m3", "role": "tool", "name": "order_lookup", "content": "{\"status\": \"shipped\"}", "timestamp": "2026-12-01T10:00:02Z"},
                {"id": "m4", "role": "assistant", "content": "Order 1234 has shipped.", "timestamp": "2026-12-01T10:00:03Z",
                 "model": "gpt-x", "usage": {"promptTokens": 120, "completionTokens": 9}, "latencyMs": 840,
                 "metadata": {"retrieval": "orders"}}
            ]
        }),
    )
    .await;
    let id = a["id"].as_str().unwrap();
    assert!(id.starts_with("conv_"), "{a}");
    assert_eq!(a["agentId"], "slack-bot");
    assert_eq!(a["status"], "active");
    assert_eq!(a["created"], true);
    assert_eq!(
        a["messageIds"].as_array().unwrap()[1..],
        json!(["m1", "m2", "m3", "m4"]).as_array().unwrap()[..]
    );
    assert!(
        a["messageIds"][0].as_str().unwrap().starts_with("msg_"),
        "{a}"
    );
    assert_eq!(
        a["_links"]["appendMessages"],
        json!({"href": append_path(id), "method": "POST"})
    );

    let d = detail(&s, id).await;
    assert_eq!(
        (d["visitorId"].as_str(), d["accountId"].as_str()),
        (Some("U42"), Some("acme"))
    );
    assert_eq!(d["metadata"], json!({"channel": "#support"}));
    assert_eq!(
        message_fields(&d, "type"),
        [
            "prompt",
            "agent_response",
            "tool",
            "agent_response",
            "system"
        ]
    );
    // By time: the system message was stamped at the request's time (after 2026-12-01).
    let by_id = |mid: &str| {
        d["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["messageId"] == mid)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("m1")["type"], "prompt");
    assert_eq!(by_id("m2")["toolsUsed"], json!(["order_lookup"]));
    assert_eq!(by_id("m3")["type"], "tool");
    let answer = by_id("m4");
    assert_eq!(answer["type"], "agent_response");
    assert_eq!(
        answer["toolsUsed"],
        json!(["order_lookup"]),
        "the tool message before it counts"
    );
    assert_eq!(answer["agentModelsUsed"], json!(["gpt-x"]));
    assert_eq!(
        (
            answer["inputTokens"].as_i64(),
            answer["outputTokens"].as_i64()
        ),
        (Some(120), Some(9))
    );
    assert_eq!(
        answer["eventProperties"],
        json!({"retrieval": "orders", "latencyMs": 840})
    );

    // Same read API as browser conversations: list, search, transcript, stats.
    let list = s.get_ok("/api/v1/conversations?agentId=slack-bot").await;
    assert_eq!(ids(&list), [id]);
    assert_eq!(list["conversations"][0]["promptCount"], 1);
    assert_eq!(list["conversations"][0]["responseCount"], 2);
    let found = s.get_ok("/api/v1/conversations?q=shipped").await;
    assert_eq!(ids(&found), [id]);
    let (status, _, text) = s
        .get_with(
            &format!("/api/v1/conversations/{id}/transcript"),
            Some(&format!("Bearer {API_KEY}")),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        text.contains("System:")
            && text.contains("Tool:")
            && text.contains("Order 1234 has shipped."),
        "{text}"
    );
}

#[tokio::test]
async fn appends_are_deduped_by_message_id_and_unknown_ids_are_404() {
    let s = Server::start().await;
    let a = create_ok(&s, json!({"id": "c-1", "agentId": "bot"})).await;
    assert_eq!(
        (a["id"].as_str(), a["messageIds"].as_array().map(Vec::len)),
        (Some("c-1"), Some(0))
    );
    let batch = json!({"messages": [{"id": "p1", "role": "user", "content": "hi"},
                                    {"id": "r1", "role": "assistant", "content": "hello"}]});
    let (status, first) = s.post_ingest(&append_path("c-1"), &batch).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["messageIds"], json!(["p1", "r1"]));
    assert_eq!(first["created"], false);
    // A retried append stores nothing twice.
    let (status, _) = s.post_ingest(&append_path("c-1"), &batch).await;
    assert_eq!(status, 200);
    assert_eq!(detail(&s, "c-1").await["messageCount"], 2);
    assert_eq!(s.count("messages"), 2);

    let (status, body) = s.post_ingest(&append_path("nope"), &batch).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // Deleted with the read key: gone for appends too.
    assert_eq!(s.delete("/api/v1/conversations/c-1").await.0, 204);
    let (status, _) = s.post_ingest(&append_path("c-1"), &batch).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn status_words_end_and_resume_and_an_explicit_outcome_wins() {
    let s = Server::start().await;
    create_ok(
        &s,
        json!({"id": "c", "agentId": "bot", "status": "in_progress",
        "messages": [{"role": "user", "content": "cancel my plan"}]}),
    )
    .await;
    assert_eq!(detail(&s, "c").await["status"], "active");

    // `completed` means ended with outcome completed, set by the owner (the analysis alone
    // would say abandoned: the prompt has no answer).
    let (status, a) = s
        .post_ingest(&append_path("c"), &json!({"messages": [{"role": "system", "content": "handed to a human"}], "status": "completed"}))
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["status"], "ended");
    let d = detail(&s, "c").await;
    assert_eq!(
        (
            d["status"].as_str(),
            d["outcome"].as_str(),
            d["outcomeSource"].as_str()
        ),
        (Some("ended"), Some("completed"), Some("client"))
    );
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?status=ended").await),
        ["c"]
    );
    assert_eq!(
        ids(&s.get_ok("/api/v1/conversations?outcome=completed").await),
        ["c"]
    );
    assert!(ids(&s.get_ok("/api/v1/conversations?status=active").await).is_empty());

    // A later message resumes it; the owner's outcome goes with the ending.
    let (_, a) = s
        .post_ingest(
            &append_path("c"),
            &json!({"messages": [{"role": "user", "content": "still there?"}]}),
        )
        .await;
    assert_eq!(a["status"], "active");
    let d = detail(&s, "c").await;
    assert_eq!(
        (d["status"].as_str(), d["outcome"].as_str()),
        (Some("active"), None)
    );

    // `ended` without an outcome: the computed one.
    let (_, a) = s.post_ingest(&append_path("c"), &json!({"messages": [{"role": "assistant", "content": "Sorry, I can't help with that."}], "status": "ended"})).await;
    assert_eq!(a["status"], "ended");
    let d = detail(&s, "c").await;
    assert_eq!(
        (d["outcome"].as_str(), d["outcomeSource"].as_str()),
        (Some("error"), Some("analysis"))
    );

    // `abandoned`, and an explicit outcome on an ended conversation; metadata merges.
    create_ok(&s, json!({"id": "d", "agentId": "bot", "status": "abandoned", "metadata": {"a": 1, "b": 2},
        "messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]})).await;
    assert_eq!(detail(&s, "d").await["outcome"], "abandoned");
    let (_, _) = s.post_ingest(&append_path("d"), &json!({"messages": [{"role": "system", "content": "reviewed"}], "status": "ended", "outcome": "error", "metadata": {"b": null, "c": 3}})).await;
    let d = detail(&s, "d").await;
    assert_eq!(
        (d["status"].as_str(), d["outcome"].as_str()),
        (Some("ended"), Some("error"))
    );
    assert_eq!(d["metadata"], json!({"a": 1, "c": 3}));
}

#[tokio::test]
async fn a_reaction_does_not_resume_a_conversation_its_owner_ended() {
    let s = Server::start().await;
    create_ok(
        &s,
        json!({"id": "r", "agentId": "bot", "status": "completed", "messages": [
        {"id": "p1", "role": "user", "content": "cancel my plan"},
        {"id": "a1", "role": "assistant", "content": "Cancelled."}]}),
    )
    .await;
    let reaction = json!({"type": "user_reaction", "visitor_id": "v1",
        "props": {"agentId": "bot", "conversationId": "r", "messageId": "a1", "content": "negative"}});
    let key = [("x-pendo-integration-key", INGEST_KEY)];
    assert_eq!(
        s.post_text("/data/agentic", &key, reaction.to_string())
            .await
            .0,
        200
    );
    let d = detail(&s, "r").await;
    assert_eq!(
        (
            d["status"].as_str(),
            d["outcome"].as_str(),
            d["outcomeSource"].as_str()
        ),
        (Some("ended"), Some("completed"), Some("client"))
    );
    assert_eq!(d["messages"][1]["reaction"]["value"], "negative");
}

#[tokio::test]
async fn a_failed_answer_in_metadata_counts_for_the_analysis() {
    let s = Server::start().await;
    create_ok(
        &s,
        json!({"id": "e", "agentId": "bot", "status": "ended", "messages": [
        {"role": "user", "content": "book a flight"},
        {"role": "assistant", "content": "One moment", "metadata": {"error": "timeout"}}]}),
    )
    .await;
    let d = detail(&s, "e").await;
    assert_eq!(
        (d["outcome"].as_str(), d["outcomeSource"].as_str()),
        (Some("error"), Some("analysis"))
    );
}

#[tokio::test]
async fn content_transcripts_in_text_and_json() {
    let s = Server::start().await;
    let a = create_ok(&s, json!({"agentId": "voice", "content": "Customer: my card was charged twice\nfor one order\nAgent: I have refunded the second charge.\nCustomer: thanks!"})).await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(a["messageIds"].as_array().unwrap().len(), 3);
    let d = detail(&s, id).await;
    let msgs = d["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0]["content"],
        "my card was charged twice\nfor one order"
    );
    assert_eq!(
        (msgs[1]["type"].as_str(), msgs[2]["type"].as_str()),
        (Some("agent_response"), Some("prompt"))
    );

    let a = create_ok(&s, json!({"agentId": "voice", "content": "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}"})).await;
    assert_eq!(a["messageIds"].as_array().unwrap().len(), 2);

    let (status, e) = s
        .post_ingest(
            CREATE,
            &json!({"agentId": "voice", "content": "hello there\nUser: hi"}),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("validation_error"))
    );
    assert!(
        e["details"]["content"]
            .as_str()
            .unwrap()
            .starts_with("must start with a role label"),
        "{e}"
    );
}

#[tokio::test]
async fn an_idempotency_key_repeat_returns_the_first_conversation() {
    let s = Server::start().await;
    let body = json!({"agentId": "bot", "idempotencyKey": "order-1234-chat", "messages": [{"role": "user", "content": "hi"}]});
    let first = create_ok(&s, body.clone()).await;
    let again = create_ok(&s, body).await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(
        (first["created"].as_bool(), again["created"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(again["messageIds"], json!([]), "the repeat created nothing");
    assert_eq!((s.count("conversations"), s.count("messages")), (1, 1));
    // A create with the id of another agent's conversation is a conflict.
    create_ok(&s, json!({"id": "x", "agentId": "a1"})).await;
    let (status, e) = s
        .post_ingest(CREATE, &json!({"id": "x", "agentId": "a2"}))
        .await;
    assert_eq!((status, e["code"].as_str()), (409, Some("conflict")));
}

#[tokio::test]
async fn ingest_keys_only_write_and_the_read_key_only_reads() {
    let s = Server::start().await;
    let body = json!({"agentId": "bot"}).to_string();
    let read = format!("Bearer {API_KEY}");
    let (status, e) = s
        .post_text(CREATE, &[("authorization", &read)], body.clone())
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("forbidden")),
        "{e}"
    );
    let (status, e) = s.post_text(CREATE, &[], body.clone()).await;
    assert_eq!((status, e["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = s
        .post_text(CREATE, &[("authorization", "Bearer nope")], body)
        .await;
    assert_eq!(status, 401);
    let (status, _, text) = s
        .get_with(CREATE, Some(&format!("Bearer {INGEST_KEY}")))
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(!text.contains(INGEST_KEY) && !text.contains(API_KEY));
    // The Pendo endpoint takes an ingest key in its own header.
    let event = json!({"type": "prompt", "visitor_id": "v", "props": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": "x"}}).to_string();
    let (status, _) = s
        .post_text(
            "/data/agentic",
            &[("x-pendo-integration-key", API_KEY)],
            event.clone(),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = s.post_text("/data/agentic", &[], event).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn every_bad_field_is_named_and_limits_are_413() {
    let s = Server::start().await;
    let (status, e) = s
        .post_ingest(CREATE, &json!({"agentID": "bot", "status": "done", "messages": [{"role": "bot", "content": ""}, {"role": "user"}]}))
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("validation_error")),
        "{e}"
    );
    let details = e["details"].as_object().unwrap();
    for field in [
        "agentID",
        "agentId",
        "status",
        "messages[0].role",
        "messages[1].content",
    ] {
        assert!(details.contains_key(field), "{field}: {e}");
    }
    assert!(e["requestId"].as_str().unwrap().starts_with("req_"));

    let many: Vec<Value> = (0..501)
        .map(|i| json!({"role": "user", "content": format!("m{i}")}))
        .collect();
    let (status, e) = s
        .post_ingest(CREATE, &json!({"agentId": "bot", "messages": many}))
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (413, Some("too_many_messages")),
        "{e}"
    );
    let (status, e) = s.post_ingest(CREATE, &json!({"agentId": "bot", "messages": [{"role": "user", "content": "x".repeat(100 * 1024 + 1)}]})).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (413, Some("message_too_large")),
        "{e}"
    );
    let (status, e) = s
        .post_ingest(
            CREATE,
            &json!({"agentId": "bot", "content": format!("User: {}", "x".repeat(512 * 1024))}),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (413, Some("content_too_large")),
        "{e}"
    );
    let (status, e) = s
        .post_text(
            CREATE,
            &[("authorization", &format!("Bearer {INGEST_KEY}"))],
            "{not json".into(),
        )
        .await;
    assert_eq!((status, e["code"].as_str()), (400, Some("invalid_body")));
    assert_eq!(s.count("conversations"), 0, "nothing was stored");
}

#[tokio::test]
async fn concurrent_appends_are_atomic() {
    let s = std::sync::Arc::new(Server::start().await);
    create_ok(&s, json!({"id": "busy", "agentId": "bot"})).await;
    let mut tasks = Vec::new();
    for t in 0..20 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let messages: Vec<Value> = (0..5)
                .map(|i| json!({"id": format!("t{t}-{i}"), "role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("message {t}.{i}")}))
                .collect();
            let (status, a) = s.post_ingest(&append_path("busy"), &json!({"messages": messages})).await;
            assert_eq!(status, 200, "{a}");
            assert_eq!(a["messageIds"].as_array().unwrap().len(), 5);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(detail(&s, "busy").await["messageCount"], 100);
}

#[tokio::test]
async fn a_browser_conversation_takes_appends_from_its_backend() {
    let s = Server::start().await;
    s.deliver_ok(
        "w1",
        vec![event(
            "e1",
            "prompt",
            "web-1",
            "p1",
            "Summarise this page",
            T0,
        )],
        1,
        0,
    )
    .await;
    let (status, a) = s
        .post_ingest(&append_path("web-1"), &json!({"messages": [{"id": "r1", "role": "assistant", "content": "It is about refunds.", "model": "m"}]}))
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["agentId"], "agent-1");
    let d = detail(&s, "web-1").await;
    assert_eq!(d["messageCount"], 2);
    assert_eq!(d["visitorId"], "visitor-1");
}

#[tokio::test]
async fn pendo_server_side_bodies_are_stored_with_messageid_dedupe() {
    let s = Server::start().await;
    let key = [("x-pendo-integration-key", INGEST_KEY)];
    let prompt = json!({"type": "prompt", "visitor_id": "v1", "account_id": "acme", "timestamp": T0,
        "props": {"agentId": "mobile-bot", "conversationId": "p-1", "messageId": "m-1", "content": "Where is my order?",
                  "eventProperties": {"platform": "ios"}},
        "context": {"ip": "10.1.2.3", "userAgent": "MyApp/1.0", "url": "app://orders", "title": "Orders"}});
    let (status, a) = s.post_text("/data/agentic", &key, prompt.to_string()).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        (a["accepted"].as_u64(), a["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    let (_, a) = s.post_text("/data/agentic", &key, prompt.to_string()).await;
    assert_eq!(
        (a["accepted"].as_u64(), a["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "a repeat is a duplicate"
    );
    let answer = json!({"type": "agent_response", "visitor_id": "v1", "timestamp": T0 + 1000,
        "props": {"agentId": "mobile-bot", "conversationId": "p-1", "messageId": "m-2", "content": "It ships today.",
                  "agentModelsUsed": ["m"], "agentOutputTokenCount": 5}});
    assert_eq!(
        s.post_text("/data/agentic", &key, answer.to_string())
            .await
            .0,
        200
    );
    let reaction = json!({"type": "user_reaction", "visitor_id": "v1", "timestamp": T0 + 2000,
        "props": {"agentId": "mobile-bot", "conversationId": "p-1", "messageId": "m-2", "content": "negative",
                  "agentUserReactionComments": ["too vague"]}});
    assert_eq!(
        s.post_text("/data/agentic", &key, reaction.to_string())
            .await
            .0,
        200
    );

    let d = detail(&s, "p-1").await;
    assert_eq!(
        (d["visitorId"].as_str(), d["accountId"].as_str()),
        (Some("v1"), Some("acme"))
    );
    assert_eq!(d["messageCount"], 2);
    assert_eq!(
        d["messages"][0]["eventProperties"],
        json!({"platform": "ios"})
    );
    assert_eq!(d["messages"][1]["reaction"]["value"], "negative");
    assert_eq!(issue_types(&s, "p-1").await, ["negative_feedback"]);

    let (status, e) = s
        .post_text("/data/agentic", &key, json!({"type": "prompt", "visitorId": "v", "props": {"agentId": "a", "conversationID": "c", "messageId": "m", "content": "x"}}).to_string())
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("validation_error")),
        "{e}"
    );
    let details = e["details"].as_object().unwrap();
    assert!(
        details["visitorId"]
            .as_str()
            .unwrap()
            .contains("visitor_id"),
        "{e}"
    );
    assert!(
        details["props.conversationID"]
            .as_str()
            .unwrap()
            .contains("conversationId"),
        "{e}"
    );
}
