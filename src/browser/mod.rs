//! The browser edge: the page as a [`Platform`](crate::Platform), `fetch`, the cross-tab
//! lock, the scheduler that sends on its own, the default tracker behind the JS API, and the
//! `#[wasm_bindgen]` boundary itself ([`js`]). Compiled for wasm32 only.

mod driver;
mod fetch;
pub mod js;
mod local_storage;
mod locks;
mod platform;
mod scheduler;
mod timer;

use std::cell::RefCell;
use std::rc::Rc;

pub use fetch::FetchTransport;
pub use local_storage::LocalStorage;
pub use locks::{
    default_lock, Lease, PageLock, WebLock, LEASE_MS, LEASE_WAIT_MS, LOCK_NAME, RENEW_MS,
};
pub use platform::BrowserPlatform;
pub use scheduler::Scheduler;

use crate::config::Config;
use crate::storage::{MemoryStorage, Storage};
use crate::tracker::{Hooks, Tracker};

/// The default tracker, its lock and, once an endpoint is configured, its scheduler.
struct PageTracker {
    tracker: Tracker,
    lock: PageLock,
    scheduler: Option<Scheduler>,
    /// [`tracker`] gave the tracker a Rust transport and lock, for `flush().await` from Rust.
    rust_api: bool,
}

thread_local! {
    static DEFAULT: RefCell<Option<PageTracker>> = const { RefCell::new(None) };
}

/// A tracker that sends with `fetch` under the browser's cross-tab lock, over
/// `localStorage` (or memory when it is unavailable). It sends on its own only with a
/// [`Scheduler`].
pub fn new_tracker() -> Tracker {
    let (tracker, platform) = bare();
    install(&tracker, platform);
    tracker
}

/// A tracker over `localStorage` without a Rust transport or lock: the JS API's passes run in
/// `js/browser.js`.
fn bare() -> (Tracker, Rc<BrowserPlatform>) {
    let platform = Rc::new(BrowserPlatform::new());
    let local = LocalStorage::open().map(|s| Box::new(s) as Box<dyn Storage>);
    (Tracker::new(local, platform.clone()), platform)
}

/// `localStorage` for the lock, or memory when it is unavailable.
fn lock_storage() -> Rc<dyn Storage> {
    match LocalStorage::open() {
        Some(s) => Rc::new(s),
        None => Rc::new(MemoryStorage::new()),
    }
}

/// Gives `tracker` the Rust transport (`fetch`) and a lock of its own, for [`Tracker::flush`].
fn install(tracker: &Tracker, platform: Rc<BrowserPlatform>) {
    tracker.set_transport(Rc::new(FetchTransport));
    tracker.set_lock(default_lock(lock_storage(), platform));
}

/// The page's default tracker (the one the JS API uses), created on first use. It holds
/// whatever events earlier page loads and other tabs left queued. Its `flush().await` sends
/// through Rust's transport under the same cross-tab lock as the JS API's passes.
pub fn tracker() -> Tracker {
    let (tracker, lock) = page();
    let first = DEFAULT.with(|d| {
        d.borrow_mut()
            .as_mut()
            .is_some_and(|p| !std::mem::replace(&mut p.rust_api, true))
    });
    if first {
        // The page's own lock (the same lease owner as the JS API's passes).
        tracker.set_transport(Rc::new(FetchTransport));
        tracker.set_lock(lock.as_lock());
    }
    tracker
}

/// The default tracker and its lock.
pub(crate) fn page() -> (Tracker, PageLock) {
    DEFAULT.with(|d| {
        let mut d = d.borrow_mut();
        let p = d.get_or_insert_with(|| {
            let (tracker, platform) = bare();
            PageTracker {
                tracker,
                lock: PageLock::new(lock_storage(), platform),
                scheduler: None,
                rust_api: false,
            }
        });
        (p.tracker.clone(), p.lock.clone())
    })
}

/// Configures the default tracker and (re)starts its scheduler when an endpoint is set.
pub fn configure(config: Config, hooks: Hooks) {
    let (tracker, lock) = page();
    let interval = config.flush_interval_ms;
    let sends = config.endpoint.is_some();
    tracker.configure(config, hooks);
    // The old scheduler goes first: its timer and listeners must not outlive the config.
    DEFAULT.with(|d| {
        if let Some(d) = d.borrow_mut().as_mut() {
            d.scheduler = None;
        }
    });
    let scheduler = sends.then(|| Scheduler::start(&tracker, interval, lock));
    DEFAULT.with(|d| {
        if let Some(d) = d.borrow_mut().as_mut() {
            d.scheduler = scheduler;
        }
    });
}

/// Stops the default tracker: its timer and listeners go; queued events stay in
/// `localStorage`, and the next call that needs a tracker starts a fresh one that picks them
/// up.
pub fn shutdown() {
    let old = DEFAULT.with(|d| d.borrow_mut().take());
    drop(old);
}
