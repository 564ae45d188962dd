//! agent-track: capture AI-agent conversations from the browser in Pendo's Agent Analytics
//! schema, with a durable `localStorage` queue that never loses an event silently.
//!
//! # Layout
//!
//! - [`tracker`]: [`Tracker`], the Rust API (`track_agent`, `configure`, `stats`), running
//!   the user's hooks around the [`engine`].
//! - [`engine`]: the tracker's state, free of callbacks and browser access, applying the
//!   decisions of [`delivery`], [`queue`] and [`config`].
//! - [`pass`]: one delivery pass, a synchronous state machine, and the async loop that runs
//!   it over a transport (the browser's JS API drives it from `js/browser.js` instead).
//! - [`delivery`]: pure decisions (batches, response outcomes, backoff) and the transport and
//!   lock interfaces.
//! - [`keys`], [`codes`]: every `localStorage` key and every error code, in one place.
//! - [`config`]: [`Config`], the options of `configure`, with defaults and checks.
//! - [`queue`]: [`Queue`], the ordered, capped event buffer, one storage key per event.
//! - [`storage`]: the [`Storage`] trait, in memory, `localStorage`, and the fallback between them.
//! - [`index`]: the queue's ordered index, a sorted deque.
//! - [`id`]: time-ordered UUIDv7 event ids.
//! - [`platform`]: [`Platform`], the clock, randomness, page and console the engine asks for.
//! - [`stats`], [`report`], [`error`]: what the tracker counts, reports and returns.
//! - `browser` (wasm32 only): the browser platform, the default tracker and the JS API.
//!
//! The schema (event types, properties, validation rules, limits, wire envelopes) lives in
//! the `agent-track-schema` crate, re-exported as [`schema`].
#![deny(missing_docs)]

pub mod codes;
pub mod config;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod id;
pub mod index;
pub mod keys;
pub mod pass;
pub mod platform;
pub mod queue;
pub mod report;
pub mod stats;
pub mod storage;
pub mod tracker;

#[cfg(target_arch = "wasm32")]
pub mod browser;

pub use agent_track_schema as schema;
pub use agent_track_schema::{AgentProperties, Event, EventType};
pub use config::Config;
pub use error::Error;
pub use platform::Platform;
pub use queue::Queue;
pub use stats::Stats;
pub use storage::{MemoryStorage, Storage};
pub use tracker::{Hooks, Tracker};

/// The npm package's allocator (feature `talc`, set by `scripts/build.sh`): smaller and faster
/// than the default dlmalloc in this module, which allocates little and briefly.
#[cfg(all(
    feature = "talc",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
