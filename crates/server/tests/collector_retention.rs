//! Retention through the real write path and a real SQLite file: what goes, what stays, and
//! that dedupe stays correct while it runs. Runs are made at chosen times (days ahead) rather
//! than waited for.

mod collector_support;

use agent_track_server::collector::retention::{RetentionConfig, SEEN_EVENTS_KEEP_MS};
use collector_support::*;
use serde_json::json;

const DAY: i64 = 86_400_000;

fn cfg(days: Option<u32>) -> RetentionConfig {
    RetentionConfig {
        retain_days: days,
        ..RetentionConfig::default()
    }
}

fn removed(r: &[(&'static str, u64)], table: &str) -> u64 {
    r.iter().find(|(t, _)| *t == table).map_or(0, |(_, n)| *n)
}

fn now() -> i64 {
    now_ms() as i64
}

#[tokio::test]
async fn old_conversations_go_with_everything_attached_and_fresh_ones_stay() {
    let s = Server::start().await;
    // A year old (T0 is 2025-11-21), with a reaction; and one from now.
    s.deliver_ok(
        "w-old",
        vec![
            event("e1", "prompt", "old", "p1", "How do I export?", T0),
            event(
                "e2",
                "agent_response",
                "old",
                "r1",
                "I cannot help with that.",
                T0 + 1000,
            ),
            event("e3", "user_reaction", "old", "r1", "negative", T0 + 2000),
        ],
        3,
        0,
    )
    .await;
    let fresh = now_ms();
    s.deliver_ok(
        "w-new",
        vec![event("e4", "prompt", "new", "p1", "Hello there", fresh)],
        1,
        0,
    )
    .await;
    let (status, _) = s
        .post_ingest(
            "/api/v1/conversations",
            &json!({"id": "logged", "agentId": "bot", "idempotencyKey": "k-1",
                    "messages": [{"role": "user", "content": "backend hello", "timestamp": T0}]}),
        )
        .await;
    assert_eq!(status, 200);
    let c = s.collector.upgrade().unwrap();

    // Without --retain-days nothing with content goes.
    let r = c.retain(&cfg(None), now()).await.unwrap();
    assert_eq!(removed(&r, "conversations"), 0);
    assert_eq!(s.count("conversations"), 3);

    let r = c.retain(&cfg(Some(30)), now()).await.unwrap();
    assert_eq!(removed(&r, "conversations"), 2, "{r:?}");
    assert_eq!(s.get("/api/v1/conversations/old").await.0, 404);
    assert_eq!(s.get("/api/v1/conversations/logged").await.0, 404);
    assert_eq!(s.get("/api/v1/conversations/new").await.0, 200);
    for table in [
        "messages",
        "reactions",
        "conversation_analysis",
        "conversation_issues",
        "idempotency_keys",
    ] {
        let left = s.scalar(&format!(
            "SELECT count(*) FROM {table} WHERE conversation_id <> 'new'"
        ));
        assert_eq!(left, 0, "{table}");
    }
    let found: Vec<String> = s.get_ok("/api/v1/conversations?q=export").await["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(found.is_empty(), "the search index forgot it: {found:?}");

    // The eventIds stay (no content): a late replay of the deleted conversation stays out.
    s.deliver_ok(
        "w-replay",
        vec![event("e1", "prompt", "old", "p1", "How do I export?", T0)],
        0,
        1,
    )
    .await;
    assert_eq!(s.get("/api/v1/conversations/old").await.0, 404);
    // Counted in GET /metrics, with the events by source.
    let (status, _, text) = s.get_with("/metrics", None).await;
    assert_eq!(status, 200);
    for line in [
        "agent_track_collector_retention_removed_total{table=\"conversations\"} 2",
        "agent_track_collector_events_total{source=\"ingest\",outcome=\"accepted\"} 4",
        "agent_track_collector_events_total{source=\"ingest\",outcome=\"duplicate\"} 1",
        "agent_track_collector_events_total{source=\"log_api\",outcome=\"accepted\"} 1",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}

#[tokio::test]
async fn dedupe_rows_go_only_after_their_windows() {
    let s = Server::start().await;
    let t = now_ms();
    s.deliver_ok("w-1", vec![event("e1", "prompt", "c", "p1", "hi", t)], 1, 0)
        .await;
    let (status, _) = s
        .post_ingest(
            "/api/v1/conversations",
            &json!({"agentId": "bot", "idempotencyKey": "k-1"}),
        )
        .await;
    assert_eq!(status, 200);
    let c = s.collector.upgrade().unwrap();
    let counts = |s: &Server| {
        (
            s.count("seen_events"),
            s.count("deliveries"),
            s.count("idempotency_keys"),
        )
    };
    assert_eq!(counts(&s), (1, 1, 1));
    // Half a day on: everything stays.
    c.retain(&cfg(None), now() + DAY / 2).await.unwrap();
    assert_eq!(counts(&s), (1, 1, 1));
    // A day and a bit: the webhook-id goes (a retry of the signed request is long stale).
    c.retain(&cfg(None), now() + DAY + 60_000).await.unwrap();
    assert_eq!(counts(&s), (1, 0, 1));
    // A repeat of the event with a new webhook-id is still caught by its eventId.
    s.deliver_ok("w-2", vec![event("e1", "prompt", "c", "p1", "hi", t)], 0, 1)
        .await;
    // Two days and a bit: the idempotency key goes (it promised 24 hours).
    c.retain(&cfg(None), now() + 2 * DAY + 60_000)
        .await
        .unwrap();
    assert_eq!(counts(&s).2, 0);
    // Seven days: the eventId stays (the browser may still retry a 7-day-old event) ...
    c.retain(&cfg(None), now() + 7 * DAY).await.unwrap();
    assert_eq!(counts(&s).0, 1);
    // ... and goes after the window plus a day's margin.
    c.retain(&cfg(None), now() + SEEN_EVENTS_KEEP_MS + 60_000)
        .await
        .unwrap();
    assert_eq!(counts(&s).0, 0);
    // The conversations themselves stay without --retain-days.
    assert_eq!(s.count("conversations"), 2);
}

#[tokio::test]
async fn many_old_conversations_go_in_small_transactions() {
    let s = Server::start().await;
    for b in 0..6 {
        let events: Vec<_> = (0..25)
            .map(|i| {
                event(
                    &format!("e{b}-{i}"),
                    "prompt",
                    &format!("c{b}-{i}"),
                    "p1",
                    "old question",
                    T0 + i,
                )
            })
            .collect();
        s.deliver_ok(&format!("w{b}"), events, 25, 0).await;
    }
    let c = s.collector.upgrade().unwrap();
    let r = c.retain(&cfg(Some(1)), now()).await.unwrap();
    assert_eq!(
        removed(&r, "conversations"),
        150,
        "three batches and a bit: {r:?}"
    );
    assert_eq!((s.count("conversations"), s.count("messages")), (0, 0));
}
