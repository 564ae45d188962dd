//! agent-track's servers.
//!
//! # Layout
//!
//! - [`proxy`]: the first-party proxy the browser posts batches to: re-validates, enriches,
//!   signs with the shared secret and relays upstream (Standard Webhooks or Pendo).
//! - [`collector`]: the self-hosted upstream: verifies signed deliveries, dedupes, stores in
//!   SQLite and serves the read API (`app(collector) -> Router`).
//! - [`secret`]: the `whsec_` shared secrets (redacted everywhere).
//! - [`signature`]: Standard Webhooks v1 signing and constant-time verification.
//! - [`error`]: [`error::ApiError`], the JSON error answer of every server.
//! - [`serve`]: `run(listener, app, shutdown)` with graceful shutdown, `/healthz`.
#![deny(missing_docs)]

pub mod collector;
pub mod error;
pub mod secret;
pub mod serve;
pub mod signature;
