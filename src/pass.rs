//! One delivery pass: batches from the queue to the proxy until the queue is empty or a
//! response says to retry later. The caller holds the cross-tab [`crate::delivery::Lock`].

use std::cell::RefCell;

use agent_track_schema::limits::{KEEPALIVE_BUDGET_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS};

use crate::codes;
use crate::delivery::outcome::classify;
use crate::delivery::transport::Transport;
use crate::engine::{Engine, Step};
use crate::error::Error;
use agent_track_schema::cat;
use agent_track_schema::text::num;

/// How a pass sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batches of up to 500 events and 512 KB, until the queue is empty.
    Normal,
    /// Page hide: one `keepalive` batch within the browser's 64 KB budget for in-flight
    /// keepalive bodies; its events stay queued until the response acknowledges them.
    Keepalive,
}

pub use crate::stats::PassReport;

/// Runs one pass. Fails with [`Error::Delivery`] when there is no endpoint, the browser is
/// offline, or a response says to retry (the backoff is then set on the engine); events stay
/// queued in every failure.
pub async fn run(
    engine: &RefCell<Engine>,
    transport: &dyn Transport,
    mode: Mode,
) -> Result<PassReport, Error> {
    let endpoint = engine.borrow().endpoint()?;
    let (max_events, max_bytes) = match mode {
        Mode::Normal => (MAX_BATCH_EVENTS, MAX_BATCH_BYTES),
        Mode::Keepalive => (MAX_BATCH_EVENTS, KEEPALIVE_BUDGET_BYTES),
    };
    let mut report = PassReport::default();
    // Halves of split batches, sent before anything newer (a stack: the first half on top).
    let mut splits: Vec<Vec<String>> = Vec::new();
    loop {
        let batch = {
            let mut c = engine.borrow_mut();
            if !c.platform_online() {
                return Err(Error::Delivery {
                    code: codes::OFFLINE,
                    message: cat![
                        "the browser is offline; ",
                        num(c.queued_len() as u64),
                        " events stay queued and are sent when it is back online"
                    ],
                });
            }
            match splits.pop() {
                Some(ids) => c.batch_of(&ids),
                None => c.next_batch(max_events, max_bytes),
            }
        };
        let Some(batch) = batch else { break };
        // No borrow is held across the await: hooks and other calls may use the tracker.
        let reply = transport
            .send(&endpoint, batch.body.clone(), mode == Mode::Keepalive)
            .await;
        let mut c = engine.borrow_mut();
        let now = c.now_ms();
        match c.settle(&batch, classify(&reply, now), &mut report) {
            Step::Continue => {}
            Step::Split(a, b) => {
                splits.push(b);
                splits.push(a);
            }
            Step::Stop(e) => return Err(e),
        }
        if mode == Mode::Keepalive {
            break;
        }
    }
    report.remaining = engine.borrow_mut().queued_len();
    Ok(report)
}

#[cfg(test)]
#[path = "pass_tests.rs"]
mod tests;
