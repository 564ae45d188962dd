//! [`Lock`]: one sender at a time per origin, so that two tabs never send the same events
//! concurrently. Web Locks in the browser (`crate::browser`), with a `localStorage` lease as
//! a best-effort fallback; [`NoLock`] where there is one sender only.

use std::any::Any;

use super::transport::Pending;

/// Holds the lock until dropped.
#[must_use = "the lock is released when the guard drops"]
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

    /// Page hide: the page may be going away. Gives up this sender's hold now, even under live
    /// guards (which then release nothing), so that the next page does not wait for an
    /// expiry. Safe while a send is in flight: its events stay queued until acknowledged, and
    /// if another sender sends them too, receivers dedupe on `eventId` (at-least-once).
    /// Default: nothing (the browser releases a closed page's Web Locks itself).
    fn release_on_hide(&self) {}
}

/// A lock that is always free: for a single tracker (host tests, apps' tests).
pub struct NoLock;

impl Lock for NoLock {
    fn acquire(&self, _wait: bool) -> Pending<Option<Guard>> {
        Box::pin(std::future::ready(Some(Guard::new(()))))
    }
}
