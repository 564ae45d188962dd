//! [`Metrics`]: the collector's Prometheus counters, rendered at `GET /metrics` of the
//! `collector` command. Labels hold sources and table names only: never ids, content or keys.
//! They count what this process did; with several collectors, sum them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// The collector's counters.
#[derive(Default)]
pub struct Metrics {
    events: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    retention: Mutex<BTreeMap<&'static str, u64>>,
    retention_runs: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Events or messages from `source` (`ingest`, `log_api`, `pendo`) that ended as
    /// `outcome` (`accepted`, `duplicate`; `rejected` for events a signed delivery refused one
    /// by one — a log API or `/data/agentic` request refused whole is an error answer, not
    /// counted here).
    pub fn count(&self, source: &'static str, outcome: &'static str, n: u64) {
        if n > 0 {
            *lock(&self.events).entry((source, outcome)).or_default() += n;
        }
    }

    /// One retention run and the rows it removed, by table.
    pub fn retention(&self, removed: &[(&'static str, u64)]) {
        *lock(&self.retention_runs) += 1;
        let mut m = lock(&self.retention);
        for (table, n) in removed {
            *m.entry(table).or_default() += n;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP agent_track_collector_events_total Events and messages received, by source and outcome.\n# TYPE agent_track_collector_events_total counter");
        for ((source, outcome), n) in lock(&self.events).iter() {
            let _ = writeln!(
                out,
                "agent_track_collector_events_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP agent_track_collector_retention_runs_total Retention runs finished.\n# TYPE agent_track_collector_retention_runs_total counter");
        let _ = writeln!(
            out,
            "agent_track_collector_retention_runs_total {}",
            *lock(&self.retention_runs)
        );
        let _ = writeln!(out, "# HELP agent_track_collector_retention_removed_total Rows removed by retention, by table.\n# TYPE agent_track_collector_retention_removed_total counter");
        for (table, n) in lock(&self.retention).iter() {
            let _ = writeln!(
                out,
                "agent_track_collector_retention_removed_total{{table=\"{table}\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_label() {
        let m = Metrics::default();
        m.count("ingest", "accepted", 20);
        m.count("ingest", "accepted", 5);
        m.count("log_api", "duplicate", 0);
        m.retention(&[("conversations", 2), ("seen_events", 40)]);
        let text = m.render();
        assert!(text.contains(
            "agent_track_collector_events_total{source=\"ingest\",outcome=\"accepted\"} 25"
        ));
        assert!(!text.contains("log_api"), "zero counts are not listed");
        assert!(text.contains("agent_track_collector_retention_runs_total 1"));
        assert!(text
            .contains("agent_track_collector_retention_removed_total{table=\"seen_events\"} 40"));
    }
}
