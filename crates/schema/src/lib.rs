//! The event model of agent-track, shared by the browser module and the servers so that the
//! rules exist once.
//!
//! # Layout
//!
//! - [`event_type`]: the four event types (`prompt`, `agent_response`, `user_reaction`,
//!   `agent_trace`).
//! - [`properties`]: [`AgentProperties`], the typed properties of an event, with the rules
//!   that apply to a typed value and the server-side normalization.
//! - [`parse`]: untrusted JSON into [`AgentProperties`] and [`EventProperties`], reporting
//!   every problem at once, written once against [`json::Json`].
//! - [`envelope`]: the wire event of contract v1 ([`Event`], [`parse_event`]) and the proxy's
//!   answers.
//! - [`relay`]: the relay envelope (proxy -> server-side endpoint).
//! - [`json`]: the [`json::Json`] trait (implemented for `serde_json::Value` and for
//!   [`json::Doc`], a small borrowed JSON reader) and the event writer.
//! - [`problem`]: [`Problem`] and its stable [`Code`]s, the one error type of this crate.
//! - [`limits`]: every size limit, in one place.
//! - [`text`]: messages and JSON strings without `core::fmt`.
//! - [`calendar`]: day numbers of dates, without a date library.
//! - [`suggest`]: "did you mean" for unknown names.
//!
//! No web or server dependency: only `serde` and `serde_json`. What the browser module uses
//! (the [`json::Doc`] reader, the generic parsers, [`json::write`], [`text`]) formats nothing
//! through `core::fmt` and reaches no `serde_json` code, which keeps the wasm module small.
#![deny(missing_docs)]

pub mod calendar;
pub mod envelope;
pub mod event_type;
pub mod json;
pub mod limits;
pub mod parse;
pub mod problem;
pub mod properties;
pub mod relay;
pub mod suggest;
pub mod text;

pub use envelope::{
    parse_event, BatchResponse, Context, ErrorBody, Event, EventProperties, Rejection,
};
pub use event_type::EventType;
pub use parse::{parse_event_properties, parse_properties};
pub use problem::{Code, Problem, Problems};
pub use properties::{AgentProperties, FileUpload, Reaction};
pub use relay::{RelayBatch, RelayedEvent};
