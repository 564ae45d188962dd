//! Outbox throughput of the outbound webhooks: N events queued in the outbox of a collector
//! on a temporary SQLite file (500 per transaction, as the write path would), then timed
//! until every one is delivered to a fast loopback receiver (answers 204 at once). Each
//! delivery is a claim (leased `UPDATE ... RETURNING`), a signed POST, and a recorded result.
//!
//! `cargo run --release -p agent-track-server --example webhook_bench [-- N PER_CONVERSATION CONCURRENCY]`
//! (defaults 5000 events, 1 event per conversation, 4 requests in flight). With more events
//! per conversation, each conversation's events go one after another (ordering).
//!
//! `... --example webhook_bench -- ingest [B]`: the write path's cost instead: B signed
//! deliveries (default 1000) of one ended conversation each (8 events, a negative reaction:
//! 4 webhook events: ended, the reaction, two issue types) posted to a collector without and then with a webhook URL; prints both
//! ingest rates and how long the events took to arrive.
//!
//! Sender and receiver share the machine's cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_track_server::collector::db::Conn;
use agent_track_server::collector::webhooks::events::Event;
use agent_track_server::collector::webhooks::{storage, EventType, RetryPolicy, WebhookConfig};
use agent_track_server::collector::{app, Collector, CollectorConfig, DB_FILE};
use agent_track_server::secret::Secrets;
use axum::http::StatusCode;

#[path = "support/signed.rs"]
mod signed;

/// A receiver on loopback that counts and answers 204; its URL and count.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let received = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&received);
    let router = axum::Router::new().fallback(move || {
        let count = Arc::clone(&count);
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

/// One delivery: conversation `b`, long ended, with a negative reaction.
fn delivery(b: usize) -> Vec<u8> {
    const T0: u64 = 1_763_719_200_000;
    let c = format!("conv-{b}");
    let ev = |i: usize, kind: &str, m: &str, content: &str| {
        let ts = T0 + (b * 10 + i) as u64 * 1000;
        serde_json::json!({"eventId": format!("evt-{b}-{i}"), "type": kind, "timestamp": ts, "visitorId": "v-1", "accountId": "acme",
            "properties": {"agentId": "support-bot", "conversationId": c, "messageId": m, "content": content, "agentUserReactionComments": if kind == "user_reaction" { vec!["wrong"] } else { vec![] }},
            "context": {"seq": i + 1, "sdk": "agent-track/0.1.0"}, "receivedAt": ts, "clientTimestamp": ts})
    };
    let mut events: Vec<serde_json::Value> = (0..7)
        .map(|i| {
            if i % 2 == 0 {
                ev(
                    i,
                    "prompt",
                    &format!("m{i}"),
                    "How do I export my invoices to CSV?",
                )
            } else {
                ev(
                    i,
                    "agent_response",
                    &format!("m{i}"),
                    "Open Billing, choose Invoices, then Export.",
                )
            }
        })
        .collect();
    events.push(ev(7, "user_reaction", "m1", "negative"));
    serde_json::to_vec(&serde_json::json!({ "events": events })).expect("JSON")
}

/// Posts `batches` deliveries to a fresh collector with `webhooks`; returns the time taken
/// and the collector's data folder.
async fn ingest(batches: usize, webhooks: WebhookConfig) -> (Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let secrets = Secrets::parse(&Secrets::generate()).expect("a generated secret parses");
    let collector = Collector::open(CollectorConfig {
        webhooks,
        ..CollectorConfig::new(dir.path(), secrets.clone(), "bench")
    })
    .expect("the collector opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/v1/ingest",
        listener.local_addr().expect("an address")
    );
    tokio::spawn(agent_track_server::serve::run(
        listener,
        app(Arc::new(collector)),
        std::future::pending(),
    ));
    let bodies: Vec<Vec<u8>> = (0..batches).map(delivery).collect();
    let client = reqwest::Client::new();
    let start = Instant::now();
    // Four senders, like several proxy workers.
    let next = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(bodies);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, secrets, bodies, next) = (
            client.clone(),
            url.clone(),
            secrets.clone(),
            Arc::clone(&bodies),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(b) else { break };
                let res =
                    signed::post_signed(&client, &url, &secrets, &format!("d{b}"), body).await;
                assert!(res.status().is_success(), "{}", res.status());
            }
        }));
    }
    for t in tasks {
        t.await.expect("a sender finishes");
    }
    (start.elapsed(), dir)
}

async fn ingest_mode(batches: usize) {
    let (plain, _) = ingest(batches, WebhookConfig::default()).await;
    let (url, received) = receiver().await;
    let webhooks = WebhookConfig {
        urls: vec![url],
        secrets: Some(Secrets::parse(&Secrets::generate()).expect("a generated secret parses")),
        retry: RetryPolicy::default(),
    };
    let start = Instant::now();
    let (with, dir) = ingest(batches, webhooks).await;
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("the database");
    // Every event was queued by the ingest transactions.
    let (p, d, f) = storage::counts(&mut Conn::Sqlite(&conn)).expect("counts");
    let want = usize::try_from(p + d + f).unwrap_or(0);
    while received.load(Ordering::Relaxed) < want {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = start.elapsed();
    let (pending, delivered, failed) = storage::counts(&mut Conn::Sqlite(&conn)).expect("counts");
    let rate = |d: Duration| (batches * 8) as f64 / d.as_secs_f64();
    println!(
        "ingest of {batches} deliveries of 8 events (4 senders):\n  without webhooks: {:.0} ms, {:.0} events/s\n  with one webhook URL: {:.0} ms, {:.0} events/s; {want} webhook events all received {:.0} ms after the first post ({:.0} events/s end to end); outbox: {pending} pending, {delivered} delivered, {failed} failed",
        plain.as_secs_f64() * 1000.0,
        rate(plain),
        with.as_secs_f64() * 1000.0,
        rate(with),
        arrived.as_secs_f64() * 1000.0,
        want as f64 / arrived.as_secs_f64(),
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("ingest") {
        let batches = std::env::args()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1000);
        return ingest_mode(batches).await;
    }
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let per: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4).max(1);

    let (url, received) = receiver().await;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let webhooks = WebhookConfig {
        urls: vec![url],
        secrets: Some(Secrets::parse(&Secrets::generate()).expect("a generated secret parses")),
        retry: RetryPolicy {
            concurrency,
            ..RetryPolicy::default()
        },
    };
    let targets = webhooks.targets();
    // Queue first (the collector is not running yet), in transactions of 500.
    {
        let _schema = Collector::open(CollectorConfig::new(
            dir.path(),
            Secrets::parse(&Secrets::generate()).expect("a generated secret parses"),
            "bench",
        ))
        .expect("the collector opens");
    }
    let mut conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("the database");
    let body = serde_json::json!({
        "type": "conversation.ended", "timestamp": "2026-11-21T10:00:00.000Z",
        "data": {"conversationId": "c", "agentId": "support-bot", "visitorId": "v-1", "accountId": "acme",
            "startedAt": "2026-11-21T09:50:00.000Z", "endedAt": "2026-11-21T10:00:00.000Z", "durationSeconds": 600,
            "messageCount": 16, "promptCount": 8, "responseCount": 8, "outcome": "completed", "issues": []}
    })
    .to_string();
    let start = Instant::now();
    let now = i64::try_from(agent_track_server::error::now_ms()).unwrap_or(i64::MAX);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let tx = conn.transaction().expect("a transaction");
        let events: Vec<Event> = chunk
            .iter()
            .map(|i| Event {
                kind: EventType::ConversationEnded,
                conversation_id: format!("conv-{}", i / per),
                body: body.clone(),
            })
            .collect();
        storage::enqueue(&mut Conn::Sqlite(&tx), &targets, &events, now).expect("queued");
        tx.commit().expect("committed");
    }
    let queued = start.elapsed();

    // Deliver.
    let collector = Arc::new(
        Collector::open(CollectorConfig {
            webhooks,
            ..CollectorConfig::new(
                dir.path(),
                Secrets::parse(&Secrets::generate()).expect("a generated secret parses"),
                "bench",
            )
        })
        .expect("the collector opens"),
    );
    let start = Instant::now();
    let _router = app(Arc::clone(&collector));
    loop {
        let (pending, _, failed) = storage::counts(&mut Conn::Sqlite(&conn)).expect("counts");
        if pending == 0 {
            assert_eq!(failed, 0, "no delivery failed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    let got = received.load(Ordering::Relaxed);
    println!(
        "webhook outbox: {n} events ({per} per conversation), concurrency {concurrency}\n  queued in {:.0} ms ({:.0} events/s)\n  delivered in {:.0} ms: {:.0} events/s ({got} requests received)",
        queued.as_secs_f64() * 1000.0,
        n as f64 / queued.as_secs_f64(),
        took.as_secs_f64() * 1000.0,
        n as f64 / took.as_secs_f64(),
    );
}
