//! [`Metrics`]: Prometheus counters and an upstream latency histogram, rendered at
//! `/metrics`. Labels hold codes and outcomes only: never ids, bodies or secrets.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS_S: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Attempts and failures of one upstream URL.
struct PerUpstream {
    label: String,
    attempts: AtomicU64,
    failures: AtomicU64,
}

/// The proxy's counters.
#[derive(Default)]
pub struct Metrics {
    per_upstream: Vec<PerUpstream>,
    responses: Mutex<BTreeMap<u16, u64>>,
    accepted: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
    upstream: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; BUCKETS_S.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    *map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += n;
}

impl Metrics {
    /// Counters with one attempts/failures pair per upstream, labelled `labels` (in the
    /// order of the upstream list; see [`super::config::url_label`]).
    pub fn new(labels: impl IntoIterator<Item = String>) -> Metrics {
        Metrics {
            per_upstream: labels
                .into_iter()
                .map(|label| PerUpstream {
                    label,
                    attempts: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                })
                .collect(),
            ..Metrics::default()
        }
    }

    /// One attempt at upstream number `index` of the list, and whether it failed (no answer
    /// for good: a connection error, a timeout, a retryable or failing status).
    pub fn count_upstream_attempt(&self, index: usize, failed: bool) {
        if let Some(u) = self.per_upstream.get(index) {
            u.attempts.fetch_add(1, Ordering::Relaxed);
            if failed {
                u.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One response with `status`.
    pub fn count_status(&self, status: u16) {
        bump(&self.responses, status, 1);
    }

    /// Events delivered upstream.
    pub fn count_accepted(&self, n: u64) {
        self.accepted.fetch_add(n, Ordering::Relaxed);
    }

    /// One event rejected with `code`.
    pub fn count_rejected(&self, code: &str) {
        bump(&self.rejected, code.to_string(), 1);
    }

    /// One upstream request and how it ended (`ok`, `retryable`, `failed`, `timeout`,
    /// `connect`), and how long it took.
    pub fn observe_upstream(&self, outcome: &'static str, took: Duration) {
        bump(&self.upstream, outcome, 1);
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if s <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let lock =
            |m: &Mutex<BTreeMap<u16, u64>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let _ = writeln!(out, "# HELP agent_track_proxy_responses_total Responses to the browser, by status.\n# TYPE agent_track_proxy_responses_total counter");
        for (status, n) in lock(&self.responses) {
            let _ = writeln!(
                out,
                "agent_track_proxy_responses_total{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP agent_track_proxy_events_accepted_total Events delivered upstream.\n# TYPE agent_track_proxy_events_accepted_total counter");
        let _ = writeln!(
            out,
            "agent_track_proxy_events_accepted_total {}",
            self.accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP agent_track_proxy_events_rejected_total Events refused, by code.\n# TYPE agent_track_proxy_events_rejected_total counter");
        for (code, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "agent_track_proxy_events_rejected_total{{code=\"{code}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP agent_track_proxy_upstream_requests_total Upstream requests, by outcome.\n# TYPE agent_track_proxy_upstream_requests_total counter");
        for (outcome, n) in self
            .upstream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "agent_track_proxy_upstream_requests_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP agent_track_proxy_upstream_attempts_total Upstream requests, by upstream URL.\n# TYPE agent_track_proxy_upstream_attempts_total counter");
        for u in &self.per_upstream {
            let _ = writeln!(
                out,
                "agent_track_proxy_upstream_attempts_total{{upstream=\"{}\"}} {}",
                u.label,
                u.attempts.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP agent_track_proxy_upstream_failures_total Upstream requests without an answer for good (connection error, timeout, retryable or failing status), by upstream URL.\n# TYPE agent_track_proxy_upstream_failures_total counter");
        for u in &self.per_upstream {
            let _ = writeln!(
                out,
                "agent_track_proxy_upstream_failures_total{{upstream=\"{}\"}} {}",
                u.label,
                u.failures.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP agent_track_proxy_upstream_seconds Upstream request latency.\n# TYPE agent_track_proxy_upstream_seconds histogram");
        for (i, b) in BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                out,
                "agent_track_proxy_upstream_seconds_bucket{{le=\"{b}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "agent_track_proxy_upstream_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "agent_track_proxy_upstream_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "agent_track_proxy_upstream_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::new([
            "http://a:1/v1/ingest".to_string(),
            "http://b:2/v1/ingest".into(),
        ]);
        m.count_upstream_attempt(0, false);
        m.count_upstream_attempt(1, true);
        m.count_upstream_attempt(1, false);
        m.count_upstream_attempt(7, true);
        m.count_status(200);
        m.count_status(200);
        m.count_accepted(20);
        m.count_rejected("too_old");
        m.observe_upstream("ok", Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains("agent_track_proxy_responses_total{status=\"200\"} 2"));
        assert!(text.contains("agent_track_proxy_events_accepted_total 20"));
        assert!(text.contains("agent_track_proxy_events_rejected_total{code=\"too_old\"} 1"));
        assert!(text.contains("agent_track_proxy_upstream_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("agent_track_proxy_upstream_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("agent_track_proxy_upstream_seconds_count 1"));
        assert!(text.contains(
            "agent_track_proxy_upstream_attempts_total{upstream=\"http://b:2/v1/ingest\"} 2"
        ));
        assert!(text.contains(
            "agent_track_proxy_upstream_failures_total{upstream=\"http://b:2/v1/ingest\"} 1"
        ));
        assert!(text.contains(
            "agent_track_proxy_upstream_failures_total{upstream=\"http://a:1/v1/ingest\"} 0"
        ));
    }
}
