//! The engine's side of delivery: which events go in the next batch, and what a response does
//! to them. The async loop around these is [`crate::delivery::pass`].

use agent_track_schema::limits::MAX_BATCH_EVENTS;

use super::Engine;
use crate::codes;
use crate::delivery::backoff::next_attempt_at;
use crate::delivery::batch::{body, cut, is_expired, lacks_visitor, Outgoing};
use crate::delivery::outcome::Outcome;
use crate::error::Error;
use crate::stats::PassReport;
use agent_track_schema::cat;
use agent_track_schema::text::num;

/// What the pass does after a response.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Go on with the next batch.
    Continue,
    /// Send these two halves of the batch, in this order, before anything else.
    Split(Vec<String>, Vec<String>),
    /// Stop: retry later. The error says when.
    Stop(Error),
}

impl Engine {
    /// Where batches go, or the error a pass fails with when none is configured.
    pub fn endpoint(&self) -> Result<String, Error> {
        self.config.endpoint.clone().ok_or(Error::Delivery {
            code: codes::NO_ENDPOINT,
            message: "no endpoint is configured; call configure({ endpoint }) — events stay queued until then".into(),
        })
    }

    /// Whether an automatic (timer, count, online) pass may run now: configured, online,
    /// something queued, and not backing off after a failure.
    pub fn wants_pass(&mut self) -> bool {
        self.config.endpoint.is_some()
            && !self.opted_out
            && self.platform.online()
            && self.platform.now_ms() >= self.retry.next_at
            && !self.queue.is_empty()
    }

    /// Whether the count trigger (`flushAt`) has fired.
    pub fn reached_flush_at(&self) -> bool {
        self.queue.len() >= self.config.flush_at
    }

    /// When the next automatic attempt may run after a failure (unix ms), if backing off.
    pub fn retry_at(&self) -> Option<u64> {
        (self.retry.next_at > 0).then_some(self.retry.next_at)
    }

    /// The next batch: the oldest queued events within `max_events` and `max_bytes`, after
    /// dropping expired ones. `None` when nothing is queued or the first event does not fit
    /// (it stays queued for a send with a larger budget).
    pub fn next_batch(&mut self, max_events: usize, max_bytes: usize) -> Option<Outgoing> {
        self.queue.resync();
        self.refresh_opt_out();
        self.drop_expired();
        let oldest = self.queue.peek(max_events.min(MAX_BATCH_EVENTS));
        let events = self.with_visitors(oldest);
        let out = cut(&events, self.platform.now_ms(), max_events, max_bytes);
        self.queue.set_in_flight(&out.ids);
        (!out.ids.is_empty()).then_some(out)
    }

    /// A batch of exactly these events (those still queued), for the halves of a split.
    pub fn batch_of(&mut self, ids: &[String]) -> Option<Outgoing> {
        // Only these events are read from storage, not the whole queue.
        let events = self.queue.read(ids);
        let events = self.with_visitors(events);
        let out = (!events.is_empty()).then(|| body(&events, self.platform.now_ms()));
        self.queue
            .set_in_flight(out.as_ref().map_or(&[][..], |o| &o.ids[..]));
        out
    }

    /// Applies the outcome of a batch's response to its events, counting into `report`.
    pub fn settle(&mut self, batch: &Outgoing, outcome: Outcome, report: &mut PassReport) -> Step {
        self.queue.clear_in_flight();
        match outcome {
            Outcome::Delivered { rejected } => {
                let rejected: Vec<_> = rejected
                    .into_iter()
                    .filter(|r| batch.ids.contains(&r.event_id))
                    .collect();
                let acknowledged = (batch.ids.len() - rejected.len()) as u64;
                self.queue.remove(batch.ids.iter().map(String::as_str));
                self.stats.sent += acknowledged;
                self.stats.rejected += rejected.len() as u64;
                report.sent += acknowledged;
                report.rejected += rejected.len() as u64;
                for r in rejected {
                    let message = cat!["the proxy rejected event ", r.event_id, ": ", r.message];
                    self.report(crate::report::Report {
                        code: r.code,
                        message,
                        event_ids: vec![r.event_id],
                    });
                }
                self.retry = super::Retry::default();
                Step::Continue
            }
            Outcome::Split { code, message } if batch.ids.len() == 1 => {
                report.dropped += 1;
                self.drop_events(
                    batch.ids.clone(),
                    code,
                    cat![
                        "the proxy refused the event alone (",
                        message,
                        "); dropped it"
                    ],
                );
                Step::Continue
            }
            Outcome::Split { .. } => {
                let (a, b) = batch.ids.split_at(batch.ids.len() / 2);
                Step::Split(a.to_vec(), b.to_vec())
            }
            Outcome::Drop { code, message } => {
                report.dropped += batch.ids.len() as u64;
                let n = batch.ids.len();
                self.drop_events(
                    batch.ids.clone(),
                    &code,
                    cat![
                        message,
                        "; retrying cannot help, so ",
                        num(n as u64),
                        " events were dropped"
                    ],
                );
                Step::Continue
            }
            Outcome::Retry {
                retry_after_ms,
                message,
            } => {
                let now = self.platform.now_ms();
                let random = f64::from(u32::from_be_bytes(
                    self.platform.random()[..4].try_into().unwrap_or_default(),
                )) / 4_294_967_296.0;
                self.retry.next_at =
                    next_attempt_at(now, self.retry.attempt, random, retry_after_ms);
                self.retry.attempt += 1;
                self.stats.retries += 1;
                let message = cat![
                    message,
                    "; ",
                    num(self.queue.len() as u64),
                    " events stay queued, next attempt in ",
                    num((self.retry.next_at - now).div_ceil(1000)),
                    " s"
                ];
                self.note_error(codes::DELIVERY_FAILED, &message);
                Step::Stop(Error::Delivery {
                    code: codes::DELIVERY_FAILED,
                    message,
                })
            }
        }
    }

    /// How many events the shared queue holds now.
    pub fn queued_len(&mut self) -> usize {
        self.queue.resync();
        self.queue.len()
    }

    fn drop_expired(&mut self) {
        let now = self.platform.now_ms();
        let expired: Vec<String> = self
            .queue
            .ids()
            .filter(|id| is_expired(id, now))
            .map(str::to_string)
            .collect();
        if !expired.is_empty() {
            let n = expired.len();
            self.drop_events(
                expired,
                codes::EXPIRED,
                cat![
                    num(n as u64),
                    " events were older than 7 days, which the server refuses; dropped them"
                ],
            );
        }
    }

    /// Events tracked before `configure` get the visitor and account ids now.
    fn with_visitors(&mut self, events: Vec<(String, String)>) -> Vec<(String, String)> {
        if !(self.configured && events.iter().any(|(_, json)| lacks_visitor(json))) {
            return events;
        }
        let visitor = self.visitor_id();
        self.adopt_pending(&visitor);
        let ids: Vec<String> = events.into_iter().map(|(id, _)| id).collect();
        self.queue.read(&ids)
    }
}
