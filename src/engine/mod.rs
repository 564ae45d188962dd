//! [`Engine`]: the tracker's state and decisions, with no callbacks into user code (so it can
//! never be re-entered) and no direct browser access (so it runs under `cargo test`).
//! [`crate::Tracker`] wraps it and runs the user's hooks around it.

use std::rc::Rc;

use serde_json::{Map, Value};

use agent_track_schema::cat;
use agent_track_schema::json::write::event_json;
use agent_track_schema::json::{Doc, Json};
use agent_track_schema::limits::MAX_EVENT_BYTES;
use agent_track_schema::text::num;
use agent_track_schema::{
    parse_event, parse_event_properties, parse_properties, AgentProperties, Code, Context, Event,
    EventProperties, EventType, Problem,
};

use crate::codes;
use crate::config::Config;
use crate::error::Error;
use crate::id::IdGen;
use crate::keys::ANONYMOUS_ID_KEY;
use crate::platform::Platform;
use crate::queue::{Evicted, Eviction, Queue};
use crate::report::Report;
use crate::stats::{LastError, Stats};
use crate::storage::{FallbackStorage, Storage};

/// The SDK name and version sent in every event's context.
pub const SDK: &str = concat!("agent-track/", env!("CARGO_PKG_VERSION"));

/// The storage the engine works on: the given one, falling back to memory when it fails.
pub type SharedStorage = Rc<FallbackStorage<Box<dyn Storage>>>;

/// The tracker's state.
pub struct Engine {
    config: Config,
    configured: bool,
    storage: SharedStorage,
    queue: Queue<SharedStorage>,
    platform: Rc<dyn Platform>,
    ids: IdGen,
    seq: u64,
    stats: Stats,
    reports: Vec<Report>,
    retry: Retry,
    opted_out: bool,
    /// The anonymous visitor id once read or created (see [`Engine::visitor_id`]).
    anonymous_id: Option<String>,
}

/// Backoff state after failed deliveries.
#[derive(Debug, Default, Clone, Copy)]
struct Retry {
    /// Failed attempts in a row.
    attempt: u32,
    /// No automatic attempt before this time (unix ms); 0 when not backing off.
    next_at: u64,
}

impl Engine {
    /// A tracker over `storage` (`None`: storage is unavailable, keep events in memory),
    /// with the default configuration, holding whatever events `storage` already queues.
    pub fn new(storage: Option<Box<dyn Storage>>, platform: Rc<dyn Platform>) -> Engine {
        let storage: SharedStorage = Rc::new(FallbackStorage::new(storage));
        let config = Config::default();
        let queue = Queue::open(storage.clone(), config.caps);
        let engine = Engine {
            config,
            configured: false,
            storage,
            queue,
            platform,
            ids: IdGen::default(),
            seq: 0,
            stats: Stats::default(),
            reports: Vec::new(),
            retry: Retry::default(),
            opted_out: false,
            anonymous_id: None,
        };
        let mut engine = engine;
        engine.opted_out = engine.read_opt_out();
        engine.warn_if_degraded();
        engine
    }

    /// Applies a configuration: caps at once, visitor and account ids to new events and to
    /// events queued before the first `configure`.
    pub fn configure(&mut self, config: Config) {
        self.queue.set_caps(config.caps);
        self.config = config;
        self.configured = true;
        let visitor = self.visitor_id();
        self.adopt_pending(&visitor);
        self.warn_if_degraded();
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The platform's clock.
    pub fn now_ms(&self) -> u64 {
        self.platform.now_ms()
    }

    /// Whether the platform is online.
    pub fn platform_online(&self) -> bool {
        self.platform.online()
    }

    /// Validates untyped input (the JS API's, read from JSON text) and builds the event,
    /// reporting every problem of the event type, the properties and the custom properties
    /// together.
    pub fn prepare_json<'a, J: Json<'a>>(
        &mut self,
        event_type: &str,
        properties: J,
        event_properties: Option<J>,
    ) -> Result<Event, Error> {
        let event_type = EventType::parse(event_type);
        let mut problems = Vec::new();
        // Properties are checked against the type's rules when the type is known, else as a
        // prompt, so that their problems are reported too.
        let props = parse_properties(
            *event_type.as_ref().unwrap_or(&EventType::Prompt),
            properties,
        );
        let custom = parse_event_properties(event_properties);
        if let Err(p) = &event_type {
            problems.push(p.clone());
        }
        if let Err(p) = &props {
            problems.extend(p.iter().cloned());
        }
        if let Err(p) = &custom {
            problems.push(p.clone());
        }
        match (event_type, props, custom) {
            (Ok(t), Ok(p), Ok(c)) => Ok(self.build(t, p, c)),
            _ => Err(Error::Validation(problems)),
        }
    }

    /// Validates typed input and builds the event.
    pub fn prepare(
        &mut self,
        event_type: EventType,
        properties: AgentProperties,
        event_properties: Map<String, Value>,
    ) -> Result<Event, Error> {
        properties.validate(event_type).map_err(Error::Validation)?;
        let custom =
            parse_event_properties(Some(&Value::Object(event_properties))).map_err(Error::one)?;
        Ok(self.build(event_type, properties, custom))
    }

    fn build(
        &mut self,
        event_type: EventType,
        properties: AgentProperties,
        event_properties: EventProperties,
    ) -> Event {
        let now = self.platform.now_ms();
        let page = self.platform.page();
        self.seq += 1;
        let visitor_id = if self.configured {
            Some(self.visitor_id())
        } else {
            None
        };
        Event {
            event_id: self.ids.next(now, self.platform.random()),
            event_type,
            timestamp: now,
            visitor_id,
            account_id: if self.configured {
                self.config.account_id.clone()
            } else {
                None
            },
            properties,
            event_properties,
            context: Context {
                url: page.url,
                title: page.title,
                user_agent: page.user_agent,
                language: page.language,
                seq: self.seq,
                sdk: SDK.to_string(),
            },
        }
    }

    /// Queues a prepared event after `beforeSend`, which may have changed it: the properties
    /// are checked again. Returns its id.
    pub fn commit(&mut self, event: Event) -> Result<String, Error> {
        event
            .properties
            .validate(event.event_type)
            .map_err(Error::Validation)?;
        self.commit_prepared(event)
    }

    /// Queues an event as [`Engine::prepare_json`] or [`Engine::prepare`] returned it (already
    /// checked). Returns its id.
    pub fn commit_prepared(&mut self, event: Event) -> Result<String, Error> {
        let json = event_json(&event);
        if json.len() > MAX_EVENT_BYTES {
            let message = cat![
                "the event is ",
                num(json.len() as u64),
                " bytes as JSON; at most ",
                num(MAX_EVENT_BYTES as u64),
                " bytes (128 KB) are allowed"
            ];
            return Err(Error::one(Problem::new(Code::TooLarge, "event", message)));
        }
        match self.queue.push(&event.event_id, &json) {
            Ok(evicted) => self.report_evictions(evicted),
            // Unreachable with the memory fallback underneath, but never silent.
            Err(e) => self.drop_events(
                vec![event.event_id.clone()],
                codes::STORAGE_FAILED,
                cat!["could not store the event: ", e.0],
            ),
        }
        self.warn_if_degraded();
        Ok(event.event_id)
    }

    /// The counters, with `queued` read from the shared queue now.
    pub fn stats(&mut self) -> Stats {
        self.queue.resync();
        Stats {
            queued: self.queue.len(),
            ..self.stats.clone()
        }
    }

    /// The queued events, oldest first, at most `max` (for tests and inspection).
    pub fn queued_events(&mut self, max: usize) -> Vec<Event> {
        self.queue.resync();
        self.queue
            .peek(max)
            .into_iter()
            .filter_map(|(_, json)| decode(&json))
            .collect()
    }

    /// Reports produced since the last call, for the `onError` hook.
    pub fn take_reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }

    fn report_evictions(&mut self, evicted: Vec<Evicted>) {
        if evicted.is_empty() {
            return;
        }
        let caps = self.queue.caps();
        let reason = evicted[0].reason;
        let ids: Vec<String> = evicted.into_iter().map(|e| e.event_id).collect();
        let (max, option) = match reason {
            Eviction::MaxEvents => (caps.max_events, " events (maxQueueEvents)"),
            _ => (caps.max_bytes, " bytes (maxQueueBytes)"),
        };
        let (code, message) = match reason {
            Eviction::LargerThanQueue => (
                codes::TOO_LARGE,
                cat![
                    "the event is larger than the whole queue may hold (",
                    num(max as u64),
                    option,
                    "); dropped it"
                ],
            ),
            _ => (
                codes::QUEUE_FULL,
                cat![
                    "the queue holds its maximum of ",
                    num(max as u64),
                    option,
                    "; dropped the ",
                    num(ids.len() as u64),
                    " oldest"
                ],
            ),
        };
        self.drop_events(ids, code, message);
    }

    /// Removes events from the queue (if there), counts them as dropped and reports them.
    fn drop_events(&mut self, event_ids: Vec<String>, code: &str, message: String) {
        self.queue.remove(event_ids.iter().map(String::as_str));
        self.stats.dropped += event_ids.len() as u64;
        self.report(Report {
            code: code.to_string(),
            message,
            event_ids,
        });
    }

    fn report(&mut self, report: Report) {
        self.note_error(&report.code, &report.message);
        self.reports.push(report);
    }

    /// Records the most recent problem for `stats().lastError`.
    fn note_error(&mut self, code: &str, message: &str) {
        self.stats.last_error = Some(LastError {
            code: code.to_string(),
            message: message.to_string(),
            at: self.platform.now_ms(),
        });
    }

    fn warn_if_degraded(&self) {
        if let Some(w) = self.storage.take_warning() {
            self.platform.warn(&w);
        }
    }

    /// The configured visitor id, else the anonymous one (created and kept on first use, in
    /// storage for every tab and page load, and in memory: read once per tracker, not per
    /// event).
    fn visitor_id(&mut self) -> String {
        if let Some(v) = &self.config.visitor_id {
            return v.clone();
        }
        if let Some(id) = &self.anonymous_id {
            return id.clone();
        }
        let id = match self.storage.get(ANONYMOUS_ID_KEY) {
            Ok(Some(id)) => id,
            _ => {
                let id = cat![
                    "anon-",
                    crate::id::format_v7(self.platform.now_ms(), 0, self.platform.random())
                ];
                let _ = self.storage.set(ANONYMOUS_ID_KEY, &id);
                id
            }
        };
        self.anonymous_id = Some(id.clone());
        id
    }

    /// Gives `visitor` (and the configured account) to queued events that have no visitor yet.
    fn adopt_pending(&mut self, visitor: &str) {
        let ids: Vec<String> = self.queue.ids().map(str::to_string).collect();
        for (id, json) in self.queue.peek(ids.len()) {
            if !crate::delivery::batch::lacks_visitor(&json) {
                continue;
            }
            let Some(mut event) = decode(&json) else {
                continue;
            };
            if event.visitor_id.is_some() {
                continue;
            }
            event.visitor_id = Some(visitor.to_string());
            event.account_id = event.account_id.or_else(|| self.config.account_id.clone());
            let _ = self.queue.replace(&id, &event_json(&event));
        }
    }
}

/// A stored event, read back through the same validation as any untrusted input (the stored
/// JSON may come from another tab's, or another version's, module), with the module's own
/// small reader rather than `serde_json`.
fn decode(json: &str) -> Option<Event> {
    parse_event(Doc::parse(json).ok()?.root()).ok()
}

mod delivery;
mod opt_out;

pub use delivery::Step;

#[cfg(test)]
mod tests;
