//! Ingest throughput of the collector: N signed batches of 20 events each, posted over
//! loopback to a collector on a temporary SQLite file, by C concurrent senders (like several
//! proxy workers). Prints events/s and per-batch latency.
//!
//! `cargo run --release -p agent-track-server --example ingest_bench [-- N C]` (defaults
//! 500 batches, 4 senders). Client and server share the machine's cores: the CPU time the
//! process spent while sending (collector and senders together, `getrusage`) is printed per
//! event, with the rate it allows when every core is busy. With
//! `AGENT_TRACK_SYNCHRONOUS=full` the collector syncs the WAL on every commit
//! (`--synchronous full`). With `AGENT_TRACK_BENCH_DATABASE_URL=postgres://...` it ingests
//! into PostgreSQL instead: a fresh database `bench_<random>` created through that URL's
//! server and dropped at the end (`npm run bench` starts a throwaway cluster with
//! `scripts/postgres.sh`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_track_server::collector::db::url::Database;
use agent_track_server::collector::{app, Collector, CollectorConfig};
use agent_track_server::secret::Secrets;
use agent_track_server::serve;
use serde_json::{json, Value};

#[path = "support/signed.rs"]
mod signed;

#[path = "support/fresh_database.rs"]
mod fresh_database;
use fresh_database::FreshDatabase;

const EVENTS_PER_BATCH: usize = 20;
const T0: u64 = 1_763_719_200_000;

/// One batch: a conversation of 8 prompt/response pairs, 2 reactions, 2 traces.
fn batch(b: usize) -> Vec<u8> {
    let conversation = format!("conv-{b}");
    let events: Vec<Value> = (0..EVENTS_PER_BATCH)
        .map(|i| {
            let ts = T0 + (b * EVENTS_PER_BATCH + i) as u64 * 1000;
            let (kind, message, content, extra) = match i {
                16 | 17 => ("user_reaction", format!("m{}", i - 15), if i == 16 { "positive" } else { "negative" }.to_string(), json!({})),
                18 | 19 => ("agent_trace", format!("t{i}"), r#"{"span":"llm.call","ms":812}"#.to_string(), json!({})),
                _ if i % 2 == 0 => ("prompt", format!("m{i}"), format!("Question {i} of batch {b}: how do I export my invoices to CSV from the billing page?"), json!({})),
                _ => (
                    "agent_response",
                    format!("m{i}"),
                    "Open Billing, choose Invoices, then Export and pick CSV. The file arrives by e-mail within a few minutes.".repeat(2),
                    json!({"toolsUsed": ["search", "billing_api"], "agentModelsUsed": ["gpt-x"], "agentInputTokenCount": 412, "agentOutputTokenCount": 96}),
                ),
            };
            let mut properties = json!({"agentId": "support-bot", "conversationId": conversation, "messageId": message, "content": content, "suggestedPrompt": false});
            for (k, v) in extra.as_object().into_iter().flatten() {
                properties[k] = v.clone();
            }
            json!({"eventId": format!("evt-{b}-{i}"), "type": kind, "timestamp": ts, "visitorId": format!("visitor-{}", b % 97), "accountId": "acme",
                "properties": properties, "eventProperties": {"plan": "pro"},
                "context": {"url": "https://app.example/billing", "userAgent": "Mozilla/5.0 (bench)", "language": "en-US", "seq": i + 1, "sdk": "agent-track/0.1.0"},
                "receivedAt": ts + 40, "clientTimestamp": ts - 15})
        })
        .collect();
    serde_json::to_vec(&json!({ "events": events })).expect("a JSON value serializes")
}

/// The server binary's allocator (`src/main.rs`): the collector runs in this process, and its
/// allocations should cost what they cost in `agent-track-server collector`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let senders: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4).max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let secrets = Secrets::parse(&Secrets::generate()).expect("a generated secret parses");
    let pg = std::env::var("AGENT_TRACK_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .map(|admin| FreshDatabase::create(&admin, "bench", "AGENT_TRACK_BENCH_DATABASE_URL"));
    let collector = Collector::open(CollectorConfig {
        data_dir: dir.path().to_path_buf(),
        secrets: secrets.clone(),
        api_key: "bench".into(),
        ingest_keys: Vec::new(),
        synchronous: match std::env::var("AGENT_TRACK_SYNCHRONOUS").as_deref() {
            Ok("full") => agent_track_server::collector::Synchronous::Full,
            _ => agent_track_server::collector::Synchronous::Normal,
        },
        analysis: Default::default(),
        insights: None,
        webhooks: Default::default(),
        database: pg
            .as_ref()
            .map_or(Database::Sqlite, |d| Database::Postgres(d.url.clone())),
    })
    .expect("the collector opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/v1/ingest",
        listener.local_addr().expect("an address")
    );
    tokio::spawn(serve::run(
        listener,
        app(Arc::new(collector)),
        std::future::pending(),
    ));

    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..batches).map(batch).collect());
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let cpu_before = cpu_time();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (client, url, secrets, bodies, next) = (
            client.clone(),
            url.clone(),
            secrets.clone(),
            Arc::clone(&bodies),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(b) else { break };
                let id = format!("msg_bench_{b}");
                let t = Instant::now();
                let res = signed::post_signed(&client, &url, &secrets, &id, body).await;
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                assert!(
                    status.is_success()
                        && text.contains(&format!("\"accepted\":{EVENTS_PER_BATCH}")),
                    "{status}: {text}"
                );
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("a sender finishes"));
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let events = batches * EVENTS_PER_BATCH;
    let into = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "ingested into {into} {events} events in {batches} batches of {EVENTS_PER_BATCH} ({:.1} MB) with {senders} senders in {:.2} s: {:.0} events/s, {:.0} batches/s; batch latency p50 {:.1} ms, p99 {:.1} ms",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        batches as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_event = cpu.as_secs_f64() / events as f64;
    println!(
        "CPU {:.1} µs per event (collector and senders), {:.2} of {cores} cores busy on average; with all {cores} busy at this cost: {:.0} events/s",
        per_event * 1e6,
        cpu.as_secs_f64() / elapsed.as_secs_f64(),
        cores as f64 / per_event,
    );
}

/// The CPU time (user and system) of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes the struct it is given, which lives for the call.
    let (rc, usage) = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage), usage)
    };
    assert_eq!(
        rc,
        0,
        "getrusage failed: {}",
        std::io::Error::last_os_error()
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
