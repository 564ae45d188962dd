//! One delivery pass: batches from the queue to the proxy until the queue is empty or a
//! response says to retry later. The caller holds the cross-tab [`crate::delivery::Lock`].
//!
//! [`Pass`] is the pass as a synchronous state machine: it hands out one body at a time and
//! takes the reply to it, and decides everything else (batches, splits, outcomes, backoff).
//! [`run`] drives it with a Rust [`Transport`]; the npm package drives it from
//! `js/browser.js` with `fetch`, so that the browser module carries no futures.

use std::cell::RefCell;

use agent_track_schema::limits::{KEEPALIVE_BUDGET_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS};

use crate::codes;
use crate::delivery::batch::Outgoing;
use crate::delivery::outcome::{classify, Reply};
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

/// One pass in progress.
#[derive(Debug)]
pub struct Pass {
    mode: Mode,
    endpoint: String,
    /// Halves of split batches, sent before anything newer (a stack: the first half on top).
    splits: Vec<Vec<String>>,
    /// The batch whose reply is awaited.
    sending: Option<Outgoing>,
    /// A keepalive pass sends one batch only.
    over: bool,
    report: PassReport,
}

impl Pass {
    /// Starts a pass. Fails when no endpoint is configured.
    pub fn start(engine: &Engine, mode: Mode) -> Result<Pass, Error> {
        Ok(Pass {
            mode,
            endpoint: engine.endpoint()?,
            splits: Vec::new(),
            sending: None,
            over: false,
            report: PassReport::default(),
        })
    }

    /// Where the bodies go.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the bodies are page-hide (keepalive) sends.
    pub fn keepalive(&self) -> bool {
        self.mode == Mode::Keepalive
    }

    /// The next body to send, or `None` when the pass is over. Fails when the browser is
    /// offline; the events stay queued.
    pub fn next(&mut self, engine: &mut Engine) -> Result<Option<String>, Error> {
        if self.over {
            return Ok(None);
        }
        if !engine.platform_online() {
            return Err(Error::Delivery {
                code: codes::OFFLINE,
                message: cat![
                    "the browser is offline; ",
                    num(engine.queued_len() as u64),
                    " events stay queued and are sent when it is back online"
                ],
            });
        }
        let (max_events, max_bytes) = match self.mode {
            Mode::Normal => (MAX_BATCH_EVENTS, MAX_BATCH_BYTES),
            Mode::Keepalive => (MAX_BATCH_EVENTS, KEEPALIVE_BUDGET_BYTES),
        };
        let mut batch = match self.splits.pop() {
            Some(ids) => engine.batch_of(&ids),
            None => engine.next_batch(max_events, max_bytes),
        };
        self.over = self.mode == Mode::Keepalive;
        // The body goes to the transport; the batch keeps its ids, all that settling it needs.
        let body = batch.as_mut().map(|b| std::mem::take(&mut b.body));
        self.sending = batch;
        Ok(body)
    }

    /// Applies the reply to the body [`Pass::next`] returned. Fails when the reply says to
    /// retry later (the backoff is then set on the engine); the events stay queued.
    pub fn answer(&mut self, engine: &mut Engine, reply: &Reply) -> Result<(), Error> {
        let Some(batch) = self.sending.take() else {
            return Ok(());
        };
        let outcome = classify(reply, engine.now_ms());
        match engine.settle(&batch, outcome, &mut self.report) {
            Step::Continue => Ok(()),
            Step::Split(a, b) => {
                self.splits.push(b);
                self.splits.push(a);
                Ok(())
            }
            Step::Stop(e) => Err(e),
        }
    }

    /// What the pass did, with the events still queued.
    pub fn finish(self, engine: &mut Engine) -> PassReport {
        PassReport {
            remaining: engine.queued_len(),
            ..self.report
        }
    }
}

/// Runs one pass with `transport`. Fails with [`Error::Delivery`] when there is no endpoint,
/// the browser is offline, or a response says to retry (the backoff is then set on the
/// engine); events stay queued in every failure.
pub async fn run(
    engine: &RefCell<Engine>,
    transport: &dyn Transport,
    mode: Mode,
) -> Result<PassReport, Error> {
    let mut pass = Pass::start(&engine.borrow(), mode)?;
    loop {
        // No borrow is held across the await: hooks and other calls may use the tracker.
        let next = pass.next(&mut engine.borrow_mut());
        let Some(body) = next? else { break };
        let reply = transport
            .send(pass.endpoint(), body, pass.keepalive())
            .await;
        pass.answer(&mut engine.borrow_mut(), &reply)?;
    }
    Ok(pass.finish(&mut engine.borrow_mut()))
}

#[cfg(test)]
#[path = "pass_tests.rs"]
mod tests;
