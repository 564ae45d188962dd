//! [`Lock`]: one sender at a time per origin, so that two tabs never send the same events
//! concurrently. Web Locks in the browser (`crate::browser`), with a `localStorage` lease as
//! a best-effort fallback; [`NoLock`] where there is one sender only.

use std::any::Any;

use super::transport::Pending;

/// Holds the lock until dropped.
pub struct Guard(#[allow(dead_code)] Box<dyn Any>);

impl Guard {
    /// A guard that releases by dropping `inner`.
    pub fn new(inner: impl Any) -> Guard {
        Guard(Box::new(inner))
    }
}

/// A cross-tab mutual exclusion.
pub trait Lock {
    /// Takes the lock. `wait`: queue behind the holder (an explicit `flush()`); otherwise give
    /// up at once when another sender holds it (timers, page hide), returning `None`.
    fn acquire(&self, wait: bool) -> Pending<Option<Guard>>;
}

/// A lock that is always free: for a single tracker (host tests, apps' tests).
pub struct NoLock;

impl Lock for NoLock {
    fn acquire(&self, _wait: bool) -> Pending<Option<Guard>> {
        Box::pin(std::future::ready(Some(Guard::new(()))))
    }
}
