//! Outbox throughput of the outbound webhooks: N events queued in the outbox of a collector
//! on a temporary SQLite file (500 per transaction, as the write path would), then timed
//! until every one is delivered to a fast loopback receiver (answers 204 at once). Each
//! delivery is a claim (leased `UPDATE ... RETURNING`), a signed POST, and a recorded result.
//!
//! `cargo run --release -p agent-track-server --example webhook_bench [-- N PER_CONVERSATION CONCURRENCY]`
//! (defaults 5000 events, 1 event per conversation, 4 requests in flight). With more events
//! per conversation, each conversation's events go one after another (ordering).
//! Sender and receiver share the machine's cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_track_server::collector::webhooks::events::Event;
use agent_track_server::collector::webhooks::{storage, EventType, RetryPolicy, WebhookConfig};
use agent_track_server::collector::{app, Collector, CollectorConfig, DB_FILE};
use agent_track_server::secret::Secrets;
use axum::http::StatusCode;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let per: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4).max(1);

    // The receiver: counts and answers 204.
    let received = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&received);
    let receiver = axum::Router::new().fallback(move || {
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
    tokio::spawn(async move { axum::serve(listener, receiver).await });

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
        storage::enqueue(&tx, &targets, &events, now).expect("queued");
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
        let (pending, _, failed) = storage::counts(&conn).expect("counts");
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
