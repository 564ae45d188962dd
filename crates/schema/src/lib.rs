//! The event model of agent-track, shared by the browser module and the servers so that the
//! rules exist once.
//!
//! # Layout
//!
//! - [`event_type`]: the four event types (`prompt`, `agent_response`, `user_reaction`,
//!   `agent_trace`).
//! - [`properties`]: [`AgentProperties`], the typed properties of an event, with the rules
//!   that apply to a typed value and the server-side normalization.
//! - [`parse`]: turning untrusted JSON (from JS or from the wire) into [`AgentProperties`],
//!   reporting every problem at once.
//! - [`problem`]: [`Problem`] and its stable [`Code`]s, the one error type of this crate.
//! - [`limits`]: every size limit, in one place.
//! - [`calendar`]: day numbers of dates, without a date library.
//! - [`envelope`]: the wire envelopes of contract v1 (browser -> proxy).
//! - [`relay`]: the relay envelope of contract v1 (proxy -> server-side endpoint).
//! - [`suggest`]: "did you mean" for unknown names.
//!
//! No web or server dependency: only `serde` and `serde_json`.
#![deny(missing_docs)]

pub mod calendar;
pub mod envelope;
pub mod event_type;
pub mod limits;
pub mod parse;
pub mod problem;
pub mod properties;
pub mod relay;
pub mod suggest;

pub use envelope::{parse_event, Batch, BatchResponse, Context, ErrorBody, Event, Rejection};
pub use event_type::EventType;
pub use parse::{parse_event_properties, parse_properties};
pub use problem::{Code, Problem, Problems};
pub use properties::{AgentProperties, FileUpload, Reaction};
pub use relay::{RelayBatch, RelayedEvent};
