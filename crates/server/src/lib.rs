//! agent-track's servers.
//!
//! # Layout
//!
//! - [`proxy`]: the first-party proxy the browser posts batches to: re-validates, enriches,
//!   signs with the shared secret and relays upstream (Standard Webhooks or Pendo).
//! - [`collector`]: the self-hosted upstream: verifies signed deliveries, dedupes, stores in
//!   SQLite and serves the read API (`app(collector) -> Router`).
//! - [`dev`]: proxy + collector + pages on one port, for local use.
//! - [`cli`]: flags and environment of `agent-track-server`.
//! - [`secret`]: the `whsec_` shared secrets (redacted everywhere).
//! - [`redact`]: URLs as logs, errors, metrics and answers show them (no credentials).
//! - [`signature`]: Standard Webhooks v1 signing and constant-time verification.
//! - [`error`]: [`error::ApiError`], the JSON error answer of every server.
//! - [`files`]: static files for the dev stack.
//! - [`private`]: the data folder and files only the owner may read.
//! - [`serve`]: `run(listener, app, shutdown)`: timeouts, a connection limit, bounded
//!   graceful shutdown, `/healthz`; [`serve::run_on_workers`] spreads the connections over
//!   [`workers`], single-threaded runtimes one per CPU (the proxy's way).
#![deny(missing_docs)]

pub mod cli;
pub mod collector;
pub mod dev;
pub mod error;
pub mod files;
pub mod private;
pub mod proxy;
pub mod redact;
pub mod secret;
pub mod serve;
pub mod signature;
pub mod workers;
