//! [`Tracker`]: the Rust API. A cheap-to-clone handle over the [`Engine`] that runs the user's
//! hooks (`beforeSend`, `onError`) outside of any borrow, so a hook may call the tracker
//! again.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Value};

use agent_track_schema::cat;
use agent_track_schema::json::Json;
use agent_track_schema::{AgentProperties, Event, EventType};

use crate::codes;

use crate::config::Config;
use crate::delivery::Reply;
use crate::delivery::{Lock, NoLock, Transport};
use crate::engine::Engine;
use crate::error::Error;
use crate::pass::{run, Mode, Pass, PassReport};
use crate::platform::Platform;
use crate::report::Report;
use crate::stats::Stats;
use crate::storage::Storage;

/// `onError`: called with each problem that made events leave the queue undelivered.
pub type OnError = Rc<dyn Fn(&Report)>;

/// `beforeSend`: sees each valid event before it is stored. Return the event (changed or not)
/// to keep it, `Ok(None)` to drop it silently (neither dropped nor rejected: the app chose),
/// `Err(reason)` when the hook failed (the event is not stored and `track_agent` fails with
/// [`Error::BeforeSend`]: a failing redaction must not leak the unredacted event).
pub type BeforeSend = Rc<dyn Fn(Event) -> Result<Option<Event>, String>>;

/// The user's callbacks. Default: none.
#[derive(Clone, Default)]
pub struct Hooks {
    /// See [`OnError`].
    pub on_error: Option<OnError>,
    /// See [`BeforeSend`].
    pub before_send: Option<BeforeSend>,
}

/// A tracker. Clones share one state. In the browser, [`crate::browser::tracker`] is the one
/// behind the JS API; tests and apps can make their own over a
/// [`crate::storage::MemoryStorage`], with a [`crate::delivery::RecordingTransport`], and
/// observe what was tracked with [`Tracker::queued_events`] and the transport's batches.
#[derive(Clone)]
pub struct Tracker {
    engine: Rc<RefCell<Engine>>,
    hooks: Rc<RefCell<Hooks>>,
    delivery: Rc<RefCell<Delivery>>,
}

/// A tracker reference that does not keep it alive (for timers and listeners it owns).
#[derive(Clone)]
pub struct WeakTracker {
    engine: std::rc::Weak<RefCell<Engine>>,
    hooks: std::rc::Weak<RefCell<Hooks>>,
    delivery: std::rc::Weak<RefCell<Delivery>>,
}

impl WeakTracker {
    /// The tracker, if it is still alive.
    pub fn upgrade(&self) -> Option<Tracker> {
        Some(Tracker {
            engine: self.engine.upgrade()?,
            hooks: self.hooks.upgrade()?,
            delivery: self.delivery.upgrade()?,
        })
    }
}

/// How a tracker sends.
struct Delivery {
    transport: Option<Rc<dyn Transport>>,
    lock: Rc<dyn Lock>,
    /// Called when `flushAt` events are queued (the browser schedules a pass).
    on_due: Option<Rc<dyn Fn()>>,
    /// An automatic pass of this tracker is under way.
    sending: bool,
}

impl Tracker {
    /// A tracker over `storage` (`None` when storage is unavailable: events stay in memory,
    /// with one warning), holding the events `storage` already queues. It sends nothing until
    /// it has a transport ([`Tracker::set_transport`]) and an endpoint.
    pub fn new(storage: Option<Box<dyn Storage>>, platform: Rc<dyn Platform>) -> Tracker {
        Tracker {
            engine: Rc::new(RefCell::new(Engine::new(storage, platform))),
            hooks: Rc::default(),
            delivery: Rc::new(RefCell::new(Delivery {
                transport: None,
                lock: Rc::new(NoLock),
                on_due: None,
                sending: false,
            })),
        }
    }

    /// A reference that does not keep the tracker alive.
    pub fn downgrade(&self) -> WeakTracker {
        WeakTracker {
            engine: Rc::downgrade(&self.engine),
            hooks: Rc::downgrade(&self.hooks),
            delivery: Rc::downgrade(&self.delivery),
        }
    }

    /// Sends batches through `transport`.
    pub fn set_transport(&self, transport: Rc<dyn Transport>) {
        self.delivery.borrow_mut().transport = Some(transport);
    }

    /// Takes `lock` around every pass (default: [`NoLock`]).
    pub fn set_lock(&self, lock: Rc<dyn Lock>) {
        self.delivery.borrow_mut().lock = lock;
    }

    /// Calls `f` whenever a tracked event brings the queue to `flushAt` events.
    pub fn on_flush_due(&self, f: Rc<dyn Fn()>) {
        self.delivery.borrow_mut().on_due = Some(f);
    }

    /// Applies `config` and `hooks`, replacing earlier ones. Events queued before the first
    /// call get the configured visitor and account ids.
    pub fn configure(&self, config: Config, hooks: Hooks) {
        *self.hooks.borrow_mut() = hooks;
        self.engine.borrow_mut().configure(config);
        self.deliver_reports();
    }

    /// Tracks one event with typed properties; returns its `eventId`, or `None` when capture
    /// is off ([`Tracker::opt_out`]) or `beforeSend` filtered the event. Nothing is queued
    /// when it fails.
    pub fn track_agent(
        &self,
        event_type: EventType,
        properties: AgentProperties,
        event_properties: Map<String, Value>,
    ) -> Result<Option<String>, Error> {
        if self.is_opted_out() {
            return Ok(None);
        }
        let event = self
            .engine
            .borrow_mut()
            .prepare(event_type, properties, event_properties)?;
        self.commit(event)
    }

    /// Tracks one event from untyped values (what the JS API receives), like
    /// [`Tracker::track_agent`]. All problems of the input are reported together.
    pub fn track_json<'a, J: Json<'a>>(
        &self,
        event_type: &str,
        properties: J,
        event_properties: Option<J>,
    ) -> Result<Option<String>, Error> {
        if self.is_opted_out() {
            return Ok(None);
        }
        let event =
            self.engine
                .borrow_mut()
                .prepare_json(event_type, properties, event_properties)?;
        self.commit(event)
    }

    fn commit(&self, event: Event) -> Result<Option<String>, Error> {
        let id = event.event_id.clone();
        let before_send = self.hooks.borrow().before_send.clone();
        let result = match before_send {
            None => self.engine.borrow_mut().commit_prepared(event).map(Some),
            Some(hook) => match hook(event) {
                Ok(Some(mut changed)) => {
                    changed.event_id = id.clone();
                    self.engine.borrow_mut().commit(changed).map(Some)
                }
                Ok(None) => return Ok(None),
                Err(reason) => {
                    return Err(Error::BeforeSend(cat![
                        "beforeSend failed, so the event was not stored: ",
                        reason
                    ]))
                }
            },
        };
        self.deliver_reports();
        if result.is_ok() && self.engine.borrow().reached_flush_at() {
            let due = self.delivery.borrow().on_due.clone();
            if let Some(due) = due {
                due();
            }
        }
        result
    }

    /// One delivery pass now (`flush()`): waits for the cross-tab lock, ignores any backoff,
    /// sends every queued event. Fails when it could not deliver; the events stay queued.
    pub async fn flush(&self) -> Result<PassReport, Error> {
        self.pass(Mode::Normal, true)
            .await
            .unwrap_or_else(|| Err(Error::busy()))
    }

    /// An automatic pass (timer, count, `online`): only when one is due, no other pass of
    /// this tracker runs and no other tab holds the lock. `None` when it did not run.
    pub async fn flush_if_due(&self) -> Option<Result<PassReport, Error>> {
        if !self.pass_due(Mode::Normal) {
            return None;
        }
        self.pass(Mode::Normal, false).await
    }

    /// The page-hide send: one keepalive batch, if no other tab is sending.
    pub async fn flush_on_hide(&self) -> Option<Result<PassReport, Error>> {
        if !self.pass_due(Mode::Keepalive) {
            return None;
        }
        self.pass(Mode::Keepalive, false).await
    }

    /// Whether an automatic pass is due: for [`Mode::Normal`] (timer, count, `online`), when
    /// no pass of this tracker runs and [`Engine::wants_pass`]; for the page-hide send, also
    /// while backing off (the page may not come back).
    pub fn pass_due(&self, mode: Mode) -> bool {
        // `sending` first: while a pass runs, every trackAgent past `flushAt` asks, and
        // `wants_pass` reads the clock and `navigator.onLine`.
        match mode {
            Mode::Normal => {
                !self.delivery.borrow().sending && self.engine.borrow_mut().wants_pass()
            }
            Mode::Keepalive => {
                self.engine.borrow_mut().wants_pass() || self.engine.borrow().retry_at().is_some()
            }
        }
    }

    async fn pass(&self, mode: Mode, wait: bool) -> Option<Result<PassReport, Error>> {
        let (transport, lock) = {
            let d = self.delivery.borrow();
            (d.transport.clone(), d.lock.clone())
        };
        let Some(transport) = transport else {
            return Some(Err(Error::Delivery {
                code: codes::NO_TRANSPORT,
                message: "this tracker has no transport; events stay queued".into(),
            }));
        };
        let guard = lock.acquire(wait).await?;
        self.delivery.borrow_mut().sending = true;
        let result = run(&self.engine, transport.as_ref(), mode).await;
        drop(guard);
        Some(self.end_pass(result))
    }

    /// A pass driven from outside Rust, step by step (the npm package's `js/browser.js` sends
    /// with `fetch` under its own cross-tab lock, so that the module carries no futures):
    /// `begin_pass`, then [`Tracker::next_body`] and [`Tracker::answer`] until the pass is
    /// over, then [`Tracker::end_pass`], which must follow every `begin_pass`.
    pub fn begin_pass(&self, mode: Mode) -> Result<Pass, Error> {
        self.delivery.borrow_mut().sending = true;
        Pass::start(&self.engine.borrow(), mode)
    }

    /// The next body of `pass` to send ([`Pass::next`]); `None` when it is over.
    pub fn next_body(&self, pass: &mut Pass) -> Result<Option<String>, Error> {
        pass.next(&mut self.engine.borrow_mut())
    }

    /// The reply to the body [`Tracker::next_body`] returned ([`Pass::answer`]).
    pub fn answer(&self, pass: &mut Pass, reply: &Reply) -> Result<(), Error> {
        pass.answer(&mut self.engine.borrow_mut(), reply)
    }

    /// What `pass` did, once it is over ([`Pass::finish`]).
    pub fn finish_pass(&self, pass: Pass) -> PassReport {
        pass.finish(&mut self.engine.borrow_mut())
    }

    /// Ends a pass: another automatic pass may start, and `onError` hears what it reported.
    pub fn end_pass(&self, result: Result<PassReport, Error>) -> Result<PassReport, Error> {
        self.delivery.borrow_mut().sending = false;
        self.deliver_reports();
        result
    }

    /// When the next automatic attempt may run after a failure (unix ms), if backing off.
    pub fn retry_at(&self) -> Option<u64> {
        self.engine.borrow().retry_at()
    }

    /// Stops capture on this origin (persisted, every tab) and clears the queue.
    pub fn opt_out(&self) {
        self.engine.borrow_mut().opt_out();
    }

    /// Resumes capture.
    pub fn opt_in(&self) {
        self.engine.borrow_mut().opt_in();
    }

    /// Whether capture is off.
    pub fn is_opted_out(&self) -> bool {
        self.engine.borrow().is_opted_out()
    }

    /// The counters; `queued` is read from the shared queue now.
    pub fn stats(&self) -> Stats {
        self.engine.borrow_mut().stats()
    }

    /// The queued events, oldest first (all tabs' on a shared storage).
    pub fn queued_events(&self) -> Vec<Event> {
        self.engine.borrow_mut().queued_events(usize::MAX)
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.engine.borrow().config().clone()
    }

    fn deliver_reports(&self) {
        let reports = self.engine.borrow_mut().take_reports();
        if reports.is_empty() {
            return;
        }
        let on_error = self.hooks.borrow().on_error.clone();
        if let Some(hook) = on_error {
            for r in &reports {
                hook(r);
            }
        }
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
