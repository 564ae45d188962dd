//! [`Tracker`]: the Rust API. A cheap-to-clone handle over the [`Core`] that runs the user's
//! hooks (`beforeSend`, `onError`) outside of any borrow, so a hook may call the tracker
//! again.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Value};

use agent_track_schema::{AgentProperties, Event, EventType};

use crate::config::Config;
use crate::core::Core;
use crate::error::Error;
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
/// [`crate::storage::MemoryStorage`] and observe what was tracked with
/// [`Tracker::queued_events`].
#[derive(Clone)]
pub struct Tracker {
    core: Rc<RefCell<Core>>,
    hooks: Rc<RefCell<Hooks>>,
}

impl Tracker {
    /// A tracker over `storage` (`None` when storage is unavailable: events stay in memory,
    /// with one warning), holding the events `storage` already queues.
    pub fn new(storage: Option<Box<dyn Storage>>, platform: Rc<dyn Platform>) -> Tracker {
        Tracker { core: Rc::new(RefCell::new(Core::new(storage, platform))), hooks: Rc::default() }
    }

    /// Applies `config` and `hooks`, replacing earlier ones. Events queued before the first
    /// call get the configured visitor and account ids.
    pub fn configure(&self, config: Config, hooks: Hooks) {
        *self.hooks.borrow_mut() = hooks;
        self.core.borrow_mut().configure(config);
        self.deliver_reports();
    }

    /// Tracks one event with typed properties; returns its `eventId`. Nothing is queued when
    /// it fails.
    pub fn track_agent(&self, event_type: EventType, properties: AgentProperties, event_properties: Map<String, Value>) -> Result<String, Error> {
        let event = self.core.borrow_mut().prepare(event_type, properties, event_properties)?;
        self.commit(event)
    }

    /// Tracks one event from untyped values (what the JS API receives); returns its
    /// `eventId`. All problems of the input are reported together.
    pub fn track_json(&self, event_type: &str, properties: &Value, event_properties: Option<&Value>) -> Result<String, Error> {
        let event = self.core.borrow_mut().prepare_json(event_type, properties, event_properties)?;
        self.commit(event)
    }

    fn commit(&self, event: Event) -> Result<String, Error> {
        let id = event.event_id.clone();
        let before_send = self.hooks.borrow().before_send.clone();
        let event = match before_send {
            None => event,
            Some(hook) => match hook(event) {
                Ok(Some(mut changed)) => {
                    changed.event_id = id.clone();
                    changed
                }
                Ok(None) => return Ok(id),
                Err(reason) => return Err(Error::BeforeSend(format!("beforeSend failed, so the event was not stored: {reason}"))),
            },
        };
        let result = self.core.borrow_mut().commit(event);
        self.deliver_reports();
        result
    }

    /// The counters; `queued` is read from the shared queue now.
    pub fn stats(&self) -> Stats {
        self.core.borrow_mut().stats()
    }

    /// The queued events, oldest first (all tabs' on a shared storage).
    pub fn queued_events(&self) -> Vec<Event> {
        self.core.borrow_mut().queued_events(usize::MAX)
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.core.borrow().config().clone()
    }

    fn deliver_reports(&self) {
        let reports = self.core.borrow_mut().take_reports();
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
