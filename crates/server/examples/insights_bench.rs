//! The cost of looking for model-insights work: N ended conversations (default 100,000) in a
//! SQLite file, all but 100 with insights already; then the p50/p95 of the candidate search
//! the worker runs on a read connection every poll (`storage::candidates`), once with work
//! waiting and once with none (the full scan an idle worker pays), and of the claim (the short
//! write transaction that leases 2 conversations and counts them in the hour).
//!
//! `cargo run --release -p agent-track-server --example insights_bench [-- N RUNS]`

use std::time::Instant;

use agent_track_server::collector::db::Conn;
use agent_track_server::collector::insights::storage::{self, ClaimRules};
use agent_track_server::collector::schema;
use rusqlite::{params, Connection};

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    percentiles(samples)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.sqlite3");
    let mut conn = Connection::open(&path).expect("the file opens");
    schema::configure_writer(&conn, Default::default()).expect("pragmas");
    schema::migrate(&mut conn).expect("the schema");
    let t = Instant::now();
    {
        let tx = conn.transaction().expect("a transaction");
        for i in 0..n {
            let id = format!("conv-{i}");
            let at = 1_700_000_000_000_i64 + i as i64;
            tx.execute(
                "INSERT INTO conversations (id, agent_id, started_at, last_message_at) VALUES (?1, 'a', ?2, ?2)",
                params![id, at],
            )
            .expect("insert");
            // Every 10th still active.
            let status = if i % 10 == 0 { "active" } else { "ended" };
            tx.execute(
                "INSERT INTO conversation_analysis (conversation_id, agent_id, status, outcome, ended_at, duration_seconds,
                    issue_types, issue_count, analyzed_at) VALUES (?1, 'a', ?2, 'completed', ?3, 0, '[]', 0, ?3)",
                params![id, status, at],
            )
            .expect("insert");
            if status == "ended" && i >= 1000 {
                tx.execute(
                    "INSERT INTO conversation_insights (conversation_id, last_message_at, status, attempts, next_attempt_at,
                        model, summary, sentiment, sentiment_score, task_completed, topics, generated_at)
                     VALUES (?1, ?2, 'ready', 1, 0, 'm', 'A summary of about this length, one or two sentences long.', 'neutral', 0.0, 1, '[\"a\",\"b\"]', ?2)",
                    params![id, at],
                )
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let waiting = (0..1000).filter(|i| i % 10 != 0).count();
    println!(
        "{n} conversations ({} ended, {waiting} of them without insights) written in {:.1} s",
        n - n / 10,
        t.elapsed().as_secs_f64()
    );
    let reader = Connection::open(&path).expect("a reader");
    schema::configure_reader(&reader).expect("pragmas");
    let now = 1_800_000_000_000_i64;
    let (p50, p95) = time(runs, || {
        let c = storage::candidates(&mut Conn::Sqlite(&reader), now, 16).expect("candidates");
        assert_eq!(c.len(), 16);
    });
    println!("candidate search, work waiting: p50 {p50:.2} ms, p95 {p95:.2} ms");
    // Claim 2 at a time until no work is left, timing each claim.
    let mut claims = Vec::new();
    loop {
        let c = storage::candidates(&mut Conn::Sqlite(&reader), now, 16).expect("candidates");
        if c.is_empty() {
            break;
        }
        let t = Instant::now();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("a transaction");
        let got = storage::claim(
            &mut Conn::Sqlite(&tx),
            &c,
            2,
            now,
            ClaimRules {
                owner: "bench",
                lease_ms: 90_000,
                per_hour: u32::MAX,
                max_attempts: 5,
            },
        )
        .expect("claim");
        tx.commit().expect("commit");
        claims.push(t.elapsed().as_secs_f64() * 1000.0);
        for j in got.jobs {
            let at = storage::Finish {
                conversation_id: &j.conversation_id,
                last_message_at: j.last_message_at,
                owner: "bench",
            };
            storage::record_failed(&mut Conn::Sqlite(&conn), at, "m", "bench").expect("record");
        }
    }
    let (p50, p95) = percentiles(claims.clone());
    println!(
        "claim of 2 (write transaction): p50 {p50:.3} ms, p95 {p95:.3} ms over {} claims",
        claims.len()
    );
    let (p50, p95) = time(runs, || {
        let c = storage::candidates(&mut Conn::Sqlite(&reader), now, 16).expect("candidates");
        assert!(c.is_empty());
    });
    println!("candidate search, no work left (the idle poll's full scan): p50 {p50:.2} ms, p95 {p95:.2} ms");
}
