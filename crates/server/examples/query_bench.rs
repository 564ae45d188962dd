//! Read latency with analysis and search on: N conversations (default 10,000) ingested through
//! the real endpoint (signed batches over loopback, analysis and the search index updated on
//! every batch), then p50/p95 of the conversation list, filtered lists and searches over the
//! read API. Prints the ingest rate too.
//!
//! `cargo run --release -p agent-track-server --example query_bench [-- N RUNS]` (defaults
//! 10,000 conversations, 200 runs per query). Client and server share the machine's cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_track_server::collector::{app, Collector, CollectorConfig};
use agent_track_server::secret::Secrets;
use agent_track_server::serve;
use serde_json::{json, Value};

#[path = "support/signed.rs"]
mod signed;

const T0: u64 = 1_763_719_200_000;
const CONVERSATIONS_PER_BATCH: usize = 10;
const KEY: &str = "bench-key";

const TOPICS: [&str; 8] = [
    "How do I export my invoices to CSV from the billing page?",
    "Wo kann ich die Größe meiner Bestellung ändern?",
    "Как изменить пароль в личном кабинете?",
    "パスワードを忘れました。どうすればいいですか",
    "Where is my order #10482? 📦",
    "Can I get a refund for the damaged headphones?",
    "Which shipping options do you have to Canada?",
    "Why does the dashboard show zero revenue for March?",
];

/// The events of conversation `c`: two prompt/answer pairs, with issues mixed in (a
/// fallback answer every 7th, a negative reaction every 5th, an unanswered last prompt every
/// 11th, an answer marked as an error every 13th).
fn conversation(c: usize) -> Vec<Value> {
    let id = format!("conv-{c}");
    let base = T0 + c as u64 * 60_000;
    let topic = TOPICS[c % TOPICS.len()];
    let mut events = Vec::new();
    let mut push = |i: usize,
                    kind: &str,
                    message: String,
                    content: String,
                    offset: u64,
                    extra: Value| {
        let mut properties = json!({"agentId": format!("agent-{}", c % 3), "conversationId": id, "messageId": message, "content": content, "suggestedPrompt": false});
        let mut event_properties = json!({"plan": "pro"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            if k == "error" {
                event_properties["error"] = v.clone();
            } else {
                properties[k] = v.clone();
            }
        }
        let ts = base + offset;
        events.push(json!({"eventId": format!("evt-{c}-{i}"), "type": kind, "timestamp": ts, "visitorId": format!("visitor-{}", c % 97), "accountId": "acme",
            "properties": properties, "eventProperties": event_properties,
            "context": {"url": "https://app.example/chat", "seq": i + 1, "sdk": "agent-track/0.1.0"},
            "receivedAt": ts + 40, "clientTimestamp": ts - 15}));
    };
    push(
        0,
        "prompt",
        "p1".into(),
        format!("{topic} (ticket {c})"),
        0,
        json!({}),
    );
    let first = if c.is_multiple_of(7) {
        "I'm not able to help with that, could you rephrase?".to_string()
    } else {
        format!("Here is what I found for ticket {c}: open Settings, then Billing, and follow the steps.")
    };
    push(
        1,
        "agent_response",
        "r1".into(),
        first,
        2000,
        json!({"toolsUsed": ["search"], "agentModelsUsed": ["gpt-x"], "agentInputTokenCount": 400, "agentOutputTokenCount": 90}),
    );
    if c.is_multiple_of(5) {
        push(
            2,
            "user_reaction",
            "r1".into(),
            "negative".into(),
            4000,
            json!({"agentUserReactionComments": ["not what I asked"]}),
        );
    }
    push(
        3,
        "prompt",
        "p2".into(),
        format!("Thanks. One more question about ticket {c}, please."),
        20_000,
        json!({}),
    );
    if !c.is_multiple_of(11) {
        let error = if c.is_multiple_of(13) {
            json!({"error": "upstream_timeout"})
        } else {
            json!({})
        };
        push(
            4,
            "agent_response",
            "r2".into(),
            format!("Sure, ticket {c} is handled by our billing team today."),
            22_000,
            error,
        );
    }
    events
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// The server binary's allocator (`src/main.rs`): the collector runs in this process, and its
/// allocations should cost what they cost in `agent-track-server collector`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(200)
        .max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let secrets = Secrets::parse(&Secrets::generate()).expect("a generated secret parses");
    let collector = Collector::open(CollectorConfig {
        data_dir: dir.path().to_path_buf(),
        secrets: secrets.clone(),
        api_key: KEY.into(),
        ingest_keys: Vec::new(),
        synchronous: Default::default(),
        analysis: Default::default(),
        insights: None,
        webhooks: Default::default(),
        database: Default::default(),
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

    let batches: Arc<Vec<(Vec<u8>, usize)>> = Arc::new(
        (0..total.div_ceil(CONVERSATIONS_PER_BATCH))
            .map(|b| {
                let events: Vec<Value> = (b * CONVERSATIONS_PER_BATCH
                    ..((b + 1) * CONVERSATIONS_PER_BATCH).min(total))
                    .flat_map(conversation)
                    .collect();
                let n = events.len();
                (
                    serde_json::to_vec(&json!({ "events": events })).expect("JSON serializes"),
                    n,
                )
            })
            .collect(),
    );
    let events: usize = batches.iter().map(|b| b.1).sum();
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, secrets, batches, next) = (
            client.clone(),
            format!("{base}/v1/ingest"),
            secrets.clone(),
            Arc::clone(&batches),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, n)) = batches.get(b) else {
                    break;
                };
                let id = format!("msg_bench_{b}");
                let res = signed::post_signed(&client, &url, &secrets, &id, body).await;
                let text = res.text().await.unwrap_or_default();
                assert!(text.contains(&format!("\"accepted\":{n}")), "{text}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("a sender finishes");
    }
    let elapsed = started.elapsed();
    println!(
        "ingested {total} conversations ({events} events, batches of {CONVERSATIONS_PER_BATCH} conversations, 4 senders) in {:.2} s: {:.0} events/s with analysis and search indexing",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );

    let queries = [
        ("list", "/api/v1/conversations?limit=50"),
        (
            "filtered: issue=fallback_answer",
            "/api/v1/conversations?limit=50&issue=fallback_answer",
        ),
        (
            "filtered: outcome=error",
            "/api/v1/conversations?limit=50&outcome=error",
        ),
        (
            "filtered: hasIssues=true&agentId=agent-1",
            "/api/v1/conversations?limit=50&hasIssues=true&agentId=agent-1",
        ),
        (
            "search: common word (billing)",
            "/api/v1/conversations?limit=50&q=billing",
        ),
        (
            "search: rare (ticket 4711)",
            "/api/v1/conversations?limit=50&q=ticket%204711%20",
        ),
        (
            "search: umlaut (Größe)",
            "/api/v1/conversations?limit=50&q=Gr%C3%B6%C3%9Fe",
        ),
        (
            "search: 2 chars Japanese (忘れ)",
            "/api/v1/conversations?limit=50&q=%E5%BF%98%E3%82%8C",
        ),
        (
            "search: no match (zzqx)",
            "/api/v1/conversations?limit=50&q=zzqx",
        ),
        ("issues", "/api/v1/issues"),
        ("stats", "/api/v1/stats"),
    ];
    println!(
        "{:<44} {:>9} {:>9} {:>6}",
        "query", "p50 ms", "p95 ms", "rows"
    );
    for (name, path) in queries {
        let mut times = Vec::with_capacity(runs);
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .bearer_auth(KEY)
                .send()
                .await
                .expect("the collector answers");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            let body: Value = res.json().await.expect("JSON");
            times.push(t.elapsed());
            rows = body["conversations"].as_array().map_or(0, Vec::len);
        }
        times.sort();
        println!(
            "{name:<44} {:>9.1} {:>9.1} {rows:>6}",
            pct(&times, 0.5),
            pct(&times, 0.95)
        );
    }
}
