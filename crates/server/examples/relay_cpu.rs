//! The proxy's own work on one batch, without the network: read the body in place
//! (`proxy::plain`), validate and enrich each event, write the relayed body
//! (`webhook::Written`), compute its webhook-id and sign it. Prints the time per batch (the
//! median and the fastest of ROUNDS rounds of ITERATIONS batches each, on one thread), a
//! steadier figure for comparing two builds than a whole proxy under load on a shared machine
//! (`bench/proxy/ab.sh` measures that); run the two builds alternately.
//!
//! Usage: cargo run --release -p agent-track-server --example relay_cpu -- BATCH_FILE [ROUNDS] [ITERATIONS]
//! (BATCH_FILE from `node bench/proxy/batch.mjs FILE`; its timestamps must be under 7 days old.)

use std::time::Instant;

use agent_track_server::proxy::enrich::RequestFacts;
use agent_track_server::proxy::plain;
use agent_track_server::proxy::upstream::webhook::Written;
use agent_track_server::secret::Secrets;
use agent_track_server::signature;

/// The allocator of the server binary (`src/main.rs`), so that allocations cost what they cost
/// there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: relay_cpu BATCH_FILE [ROUNDS] [ITERATIONS]";
    let path = args.next().expect(usage);
    let number =
        |arg: Option<String>, default: usize| arg.map_or(default, |a| a.parse().expect(usage));
    let rounds = number(args.next(), 15);
    let iterations = number(args.next(), 2000);
    let body = std::fs::read(&path).expect("the batch file");
    let secrets = Secrets::parse(&Secrets::generate()).expect("a fresh secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64;
    let facts = RequestFacts {
        received_at: now,
        sent_at: now,
        ..Default::default()
    };
    let relay = || {
        let doc = plain::doc(&body).expect("a plain body");
        let batch = plain::batch(&doc).expect("a plain batch");
        let (valid, rejected) = plain::validate(&batch, &facts);
        assert!(rejected.is_empty(), "refused: {rejected:?}");
        // As the proxy relays a batch: written once, then the first round's body signed.
        let written = Written::new(&valid);
        drop(valid);
        let all: Vec<usize> = (0..written.len()).collect();
        let (relayed, id) = written.round(&all);
        signature::sign(&secrets, &id, (now / 1000) as i64, &relayed)
    };
    let mut per_batch: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(relay());
            }
            started.elapsed().as_secs_f64() * 1e6 / iterations as f64
        })
        .collect();
    per_batch.sort_by(f64::total_cmp);
    println!(
        "{} bytes, {rounds} rounds of {iterations} batches: median {:.2} µs, fastest {:.2} µs per batch",
        body.len(),
        per_batch[per_batch.len() / 2],
        per_batch[0],
    );
}
