//! `GET /api/v1/stats` over a real socket, on a dataset whose numbers are worked out by hand.

#[path = "collector_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::*;

const DAY: u64 = 86_400_000;

fn agent(e: Value, agent: &str) -> Value {
    with(e, json!({ "agentId": agent }))
}

fn response(
    id: &str,
    conversation: &str,
    message: &str,
    ts: u64,
    tools: &[&str],
    models: &[&str],
    tokens: (u64, u64),
) -> Value {
    with(
        event(id, "agent_response", conversation, message, "answer", ts),
        json!({"toolsUsed": tools, "agentModelsUsed": models, "agentInputTokenCount": tokens.0, "agentOutputTokenCount": tokens.1}),
    )
}

async fn seed(s: &Server) {
    let day1 = vec![
        event("p1", "prompt", "c1", "p1", "q1", T0),
        response(
            "r1",
            "c1",
            "r1",
            T0 + 1000,
            &["search", "kb"],
            &["gpt-x"],
            (10, 100),
        ),
        event("x1", "user_reaction", "c1", "r1", "positive", T0 + 2000),
        event("p2", "prompt", "c1", "p2", "q2", T0 + 3000),
        response(
            "r2",
            "c1",
            "r2",
            T0 + 4000,
            &["search"],
            &["gpt-x", "small"],
            (20, 200),
        ),
        event("x2", "user_reaction", "c1", "r2", "negative", T0 + 5000),
        event("x3", "user_reaction", "c1", "r2", "unreact", T0 + 6000),
        agent(
            event("p3", "prompt", "c2", "p3", "q3", T0 + 10_000),
            "agent-2",
        ),
        agent(
            response(
                "r3",
                "c2",
                "r3",
                T0 + 11_000,
                &["calc"],
                &["other"],
                (5, 50),
            ),
            "agent-2",
        ),
        agent(
            event("x4", "user_reaction", "c2", "r3", "negative", T0 + 12_000),
            "agent-2",
        ),
    ];
    s.deliver_ok("day1", day1, 10, 0).await;
    let day2 = vec![
        event("p4", "prompt", "c1", "p4", "q4", T0 + DAY),
        event("p5", "prompt", "c3", "p5", "q5", T0 + DAY + 1000),
        response(
            "r5",
            "c3",
            "r5",
            T0 + DAY + 2000,
            &["search"],
            &["gpt-x"],
            (1, 2),
        ),
        event("t5", "agent_trace", "c3", "t5", "span", T0 + DAY + 2500),
        event(
            "x5",
            "user_reaction",
            "c3",
            "r5",
            "positive",
            T0 + DAY + 3000,
        ),
    ];
    s.deliver_ok("day2", day2, 5, 0).await;
}

#[tokio::test]
async fn stats_over_everything() {
    let s = Server::start().await;
    seed(&s).await;
    let stats = s.get_ok("/api/v1/stats").await;
    assert_eq!(
        stats,
        json!({
            "conversations": 3, "messages": 10, "prompts": 5, "responses": 4,
            "reactions": {"positive": 2, "negative": 1}, "reactionRate": 0.75, "positiveRate": 0.6667,
            "tokens": {"input": 36, "output": 352},
            "topTools": [{"name": "search", "count": 3}, {"name": "calc", "count": 1}, {"name": "kb", "count": 1}],
            "topModels": [{"name": "gpt-x", "count": 3}, {"name": "other", "count": 1}, {"name": "small", "count": 1}],
            // c1 ends with an unanswered prompt; c2 and c3 end answered.
            "outcomes": {"completed": 2, "abandoned": 1, "error": 0},
            "outcomeShares": {"completed": 0.6667, "abandoned": 0.3333, "error": 0.0},
            // Day 1: c1 repeats "answer" to q1 and q2, c2 has a negative reaction. Day 2: c1's
            // q4 is unanswered; c3 is fine.
            "perDay": [
                {"day": "2025-11-21", "conversations": 2, "messages": 6, "positive": 1, "negative": 1, "inputTokens": 35, "outputTokens": 350,
                    "conversationsWithIssues": 2, "issueRate": 1.0},
                {"day": "2025-11-22", "conversations": 2, "messages": 4, "positive": 1, "negative": 0, "inputTokens": 1, "outputTokens": 2,
                    "conversationsWithIssues": 1, "issueRate": 0.5}
            ]
        })
    );
}

#[tokio::test]
async fn stats_filtered_by_agent_and_window() {
    let s = Server::start().await;
    seed(&s).await;
    let a1 = s.get_ok("/api/v1/stats?agentId=agent-1").await;
    assert_eq!(
        (
            a1["conversations"].as_i64(),
            a1["messages"].as_i64(),
            a1["prompts"].as_i64(),
            a1["responses"].as_i64()
        ),
        (Some(2), Some(8), Some(4), Some(3))
    );
    assert_eq!(a1["reactions"], json!({"positive": 2, "negative": 0}));
    assert_eq!(
        (a1["reactionRate"].as_f64(), a1["positiveRate"].as_f64()),
        (Some(0.6667), Some(1.0))
    );
    assert_eq!(a1["tokens"], json!({"input": 31, "output": 302}));
    assert_eq!(a1["topTools"][0], json!({"name": "search", "count": 3}));

    let day2 = s.get_ok("/api/v1/stats?since=2025-11-22T00:00:00Z").await;
    assert_eq!(
        (
            day2["conversations"].as_i64(),
            day2["messages"].as_i64(),
            day2["prompts"].as_i64(),
            day2["responses"].as_i64()
        ),
        (Some(2), Some(4), Some(2), Some(1))
    );
    assert_eq!(day2["reactions"], json!({"positive": 1, "negative": 0}));
    assert_eq!(day2["perDay"].as_array().unwrap().len(), 1);
    assert_eq!(day2["topModels"], json!([{"name": "gpt-x", "count": 1}]));

    let day1 = s.get_ok(&format!("/api/v1/stats?until={}", T0 + DAY)).await;
    assert_eq!(day1["messages"].as_i64(), Some(6));
    assert_eq!(day1["perDay"][0]["day"], "2025-11-21");
}

#[tokio::test]
async fn stats_of_nothing_are_zero() {
    let s = Server::start().await;
    let empty = json!({
        "conversations": 0, "messages": 0, "prompts": 0, "responses": 0, "reactions": {"positive": 0, "negative": 0},
        "reactionRate": 0.0, "positiveRate": 0.0, "tokens": {"input": 0, "output": 0}, "topTools": [], "topModels": [], "perDay": [],
        "outcomes": {"completed": 0, "abandoned": 0, "error": 0}, "outcomeShares": {"completed": 0.0, "abandoned": 0.0, "error": 0.0}
    });
    assert_eq!(s.get_ok("/api/v1/stats").await, empty);
    seed(&s).await;
    assert_eq!(
        s.get_ok("/api/v1/stats?since=2030-01-01T00:00:00Z").await,
        empty
    );
}

/// Writes `n` messages straight into the SQLite file (as a big, old history would be).
fn bulk_history(s: &Server, n: usize) {
    if s.pg.is_some() {
        s.exec(&format!(
            "INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, visitor_id, account_id, content,
                timestamp, client_timestamp, received_at, suggested_prompt, tools_used, models_used, files_uploaded,
                subagents_used, input_tokens, output_tokens, event_properties, context)
             SELECT 'old-' || (i / 10), 'm' || i, 'agent_response', 'old-e' || i, 'agent-1', 'v', NULL, 'history',
                {t0} - i * 60000, {t0} - i * 60000, {t0} - i * 60000, 0,
                '[\"search\",\"kb\",\"crm\"]', '[\"gpt-x\",\"gpt-y\"]', '[]', '[]', 10, 20, '{{}}', '{{}}'
             FROM generate_series(CAST(0 AS BIGINT), {last}) AS i",
            t0 = T0 as i64,
            last = n as i64 - 1
        ));
        return;
    }
    let mut db = s.db();
    let tx = db.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (conversation_id, message_id, type, event_id, agent_id, visitor_id, account_id, content,
                    timestamp, client_timestamp, received_at, suggested_prompt, tools_used, models_used, files_uploaded,
                    subagents_used, input_tokens, output_tokens, event_properties, context)
                 VALUES (?1, ?2, 'agent_response', ?3, 'agent-1', 'v', NULL, 'history', ?4, ?4, ?4, 0,
                    '[\"search\",\"kb\",\"crm\"]', '[\"gpt-x\",\"gpt-y\"]', '[]', '[]', 10, 20, '{}', '{}')",
            )
            .unwrap();
        for i in 0..n {
            let ts = T0 as i64 - (i as i64) * 60_000;
            insert
                .execute(rusqlite::params![
                    format!("old-{}", i / 10),
                    format!("m{i}"),
                    format!("old-e{i}"),
                    ts
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_stats_query_stalls_neither_ingestion_nor_other_reads() {
    let s = Server::start().await;
    s.deliver_ok(
        "d0",
        vec![event("e1", "prompt", "to-delete", "m1", "bye", T0)],
        1,
        0,
    )
    .await;
    bulk_history(&s, 300_000);
    let started = std::time::Instant::now();
    s.get_ok("/api/v1/stats").await;
    let alone = started.elapsed();
    assert!(
        alone > std::time::Duration::from_millis(400),
        "stats must be slow for this test to mean anything: {alone:?}"
    );
    // Two slow stats queries in flight, then a delete, a delivery and another read.
    let stats = {
        let base = s.base.clone();
        let client = s.client.clone();
        let one = move || {
            let (base, client) = (base.clone(), client.clone());
            async move {
                let r = client
                    .get(format!("{base}/api/v1/stats"))
                    .bearer_auth(API_KEY)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                std::time::Instant::now()
            }
        };
        (tokio::spawn(one()), tokio::spawn(one()))
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let t = std::time::Instant::now();
    assert_eq!(s.delete("/api/v1/conversations/to-delete").await.0, 204);
    s.deliver_ok(
        "d1",
        vec![event("e2", "prompt", "fresh", "m1", "hello", T0)],
        1,
        0,
    )
    .await;
    assert_eq!(s.get("/api/v1/conversations/fresh").await.0, 200);
    let done = std::time::Instant::now();
    let quick = done - t;
    let (a, b) = (stats.0.await.unwrap(), stats.1.await.unwrap());
    assert!(
        done < a && done < b,
        "the delete, the delivery and the read ({quick:?}) waited for the stats queries (alone: {alone:?})"
    );
}
