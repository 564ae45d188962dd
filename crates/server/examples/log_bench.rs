//! Append latency of the conversation log API: a collector on a temporary SQLite file, over
//! loopback. Phase 1: C concurrent backends, each appending a prompt/answer pair A times to
//! its own conversations (N conversations in all). Phase 2: one conversation growing to
//! 1,000 messages by sequential appends of 2, to show what its length costs (each append
//! re-judges the whole conversation in its transaction).
//!
//! `cargo run --release -p agent-track-server --example log_bench [-- N A C]` (defaults 100
//! conversations, 10 appends each, 4 backends). Client and server share the machine's cores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_track_server::collector::{app, Collector, CollectorConfig};
use agent_track_server::secret::Secrets;
use agent_track_server::serve;
use serde_json::json;

const KEY: &str = "ati_bench";

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default().as_secs_f64() * 1e3
}

async fn append(client: &reqwest::Client, base: &str, id: &str, n: usize) -> Duration {
    let body = json!({"messages": [
        {"id": format!("p{n}"), "role": "user", "content": format!("Question {n}: how do I export my invoices to CSV from the billing page?")},
        {"id": format!("r{n}"), "role": "assistant", "content": "Open Billing, choose Invoices, then Export and pick CSV. The file arrives by e-mail.",
         "model": "gpt-x", "usage": {"promptTokens": 412, "completionTokens": 96}, "latencyMs": 900}]});
    let t = Instant::now();
    let res = client
        .post(format!("{base}/api/v1/conversations/{id}/messages"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("the collector answers");
    assert!(res.status().is_success(), "{}", res.status());
    res.bytes().await.expect("a body");
    t.elapsed()
}

async fn create(client: &reqwest::Client, base: &str, id: &str) {
    let res = client
        .post(format!("{base}/api/v1/conversations"))
        .bearer_auth(KEY)
        .json(&json!({"id": id, "agentId": "slack-bot", "visitorId": "U1"}))
        .send()
        .await
        .expect("the collector answers");
    assert!(res.status().is_success(), "{}", res.status());
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |d: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(d).max(1);
    let (conversations, appends, backends) = (arg(100), arg(10), arg(4));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let collector = Collector::open(CollectorConfig {
        ingest_keys: vec![KEY.into()],
        ..CollectorConfig::new(
            dir.path(),
            Secrets::parse(&Secrets::generate()).expect("a generated secret parses"),
            "atk_bench",
        )
    })
    .expect("the collector opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(serve::run(
        listener,
        app(Arc::new(collector)),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..backends {
        let (client, base, next) = (client.clone(), base.clone(), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if c >= conversations {
                    break;
                }
                let id = format!("conv-{c}");
                create(&client, &base, &id).await;
                for n in 0..appends {
                    latencies.push(append(&client, &base, &id, n).await);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("a backend finishes"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let messages = latencies.len() * 2;
    println!(
        "phase 1: {} appends of 2 messages to {conversations} conversations by {backends} backends in {:.2} s: {:.0} messages/s; append latency p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
    );

    create(&client, &base, "long").await;
    let mut by_length = Vec::new();
    for n in 0..500 {
        by_length.push(append(&client, &base, "long", n).await);
    }
    let mut first: Vec<Duration> = by_length[..50].to_vec();
    let mut last: Vec<Duration> = by_length[450..].to_vec();
    first.sort();
    last.sort();
    println!(
        "phase 2: one conversation, sequential appends of 2: p50 {:.2} ms at 0-100 messages, {:.2} ms at 900-1,000 messages",
        pct(&first, 0.5),
        pct(&last, 0.5),
    );
}
