//! Delivery: turning the queue into acknowledged batches (contract v1, browser -> proxy).
//!
//! - [`batch`]: cutting batches and writing their bodies (pure).
//! - [`outcome`]: what a response means for a batch's events (pure).
//! - [`backoff`]: when to try again (pure).
//! - [`transport`]: the [`Transport`] trait, and [`RecordingTransport`] for tests without a
//!   network.
//! - [`lock`]: the [`Lock`] trait: one sender at a time across tabs.

pub mod backoff;
pub mod batch;
pub mod lock;
pub mod outcome;
pub mod transport;

pub use lock::{Guard, Lock, NoLock};
pub use outcome::{Outcome, Reply};
pub use transport::{Pending, RecordingTransport, Transport};
