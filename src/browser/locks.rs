//! The cross-tab send lock: Web Locks (`navigator.locks`) where the browser has them, else a
//! `localStorage` lease with expiry.
//!
//! `navigator.locks` is requested in `js/browser.js` (`lockRequest`): web-sys's `LockManager`
//! needs `--cfg web_sys_unstable_apis`, which would leak into every app that depends on this
//! crate, and the request's callback and promises are a few lines of JS.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use agent_track_schema::text::push_u64;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::timer::Timer;
use crate::delivery::{Guard, Lock, Pending};
use crate::platform::Platform;
use crate::storage::Storage;

/// The name of the Web Lock, and the key of the lease (kept with every other key in
/// [`crate::keys`]).
pub use crate::keys::LOCK as LOCK_NAME;

#[wasm_bindgen(module = "/js/browser.js")]
extern "C" {
    /// `locks.request(name, {ifAvailable: !wait}, ..)`; resolves with the function that
    /// releases the lock, or `null` when it was not granted (see `js/browser.js`).
    #[wasm_bindgen(js_name = lockRequest)]
    fn lock_request(locks: &JsValue, name: &str, wait: bool) -> Promise;
}

/// The browser's best lock: Web Locks when `navigator.locks` exists (secure contexts of
/// current browsers), else a [`Lease`].
pub fn default_lock(storage: Rc<dyn Storage>, platform: Rc<dyn Platform>) -> Rc<dyn Lock> {
    PageLock::new(storage, platform).as_lock()
}

/// The same choice for passes driven by `js/browser.js` ([`super::Scheduler`] and the JS
/// API's `flush()`): JS requests a Web Lock itself; the lease is taken in Rust, step by step.
#[derive(Clone)]
pub enum PageLock {
    /// `navigator.locks`.
    Web(JsValue),
    /// The fallback without Web Locks.
    Lease(Lease),
}

impl PageLock {
    /// Web Locks when the browser has them, else a [`Lease`] in `storage`.
    pub fn new(storage: Rc<dyn Storage>, platform: Rc<dyn Platform>) -> PageLock {
        match locks() {
            Some(l) => PageLock::Web(l),
            None => PageLock::Lease(Lease::new(storage, platform)),
        }
    }

    /// The same lock for Rust's own passes ([`crate::Tracker::set_lock`]).
    pub fn as_lock(&self) -> Rc<dyn Lock> {
        match self {
            PageLock::Web(locks) => Rc::new(WebLock(locks.clone())),
            PageLock::Lease(l) => Rc::new(l.clone()),
        }
    }

    /// Page hide: see [`Lock::release_on_hide`].
    pub fn release_on_hide(&self) {
        if let PageLock::Lease(l) = self {
            l.release_on_hide();
        }
    }
}

/// `navigator.locks`, when the browser has it.
fn locks() -> Option<JsValue> {
    let navigator = web_sys::window()?.navigator();
    Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|l| l.is_object())
}

/// `navigator.locks.request(LOCK_NAME, {ifAvailable}, cb)`: the lock is held until the
/// promise `cb` returns settles, which happens when the [`Guard`] drops. Exclusive across the
/// tabs and workers of an origin, and within one tab.
pub struct WebLock(JsValue);

impl WebLock {
    /// `None` when the browser has no `navigator.locks`.
    pub fn new() -> Option<WebLock> {
        locks().map(WebLock)
    }
}

/// Resolves its promise when dropped: releases a Web Lock.
#[must_use = "the Web Lock is released when this drops"]
struct Release(Function);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::NULL);
    }
}

impl Lock for WebLock {
    fn acquire(&self, wait: bool) -> Pending<Option<Guard>> {
        let granted = lock_request(&self.0, LOCK_NAME, wait);
        Box::pin(async move {
            let release: Function = JsFuture::from(granted).await.ok()?.dyn_into().ok()?;
            Some(Guard::new(Release(release)))
        })
    }
}

/// A lease in `localStorage` under [`LOCK_NAME`]: `{owner} {expiresAt}` (unix ms), one owner
/// per page. Best effort: `localStorage` has no compare-and-set, so two tabs can both believe
/// they won in a narrow race (each writes, then reads back), and a holder stalled for longer
/// than [`LEASE_MS`] (a frozen or heavily throttled tab) loses the lease while it may still be
/// sending; receivers dedupe on `eventId`, so either costs a duplicate request, never a
/// duplicate event.
///
/// The lease is short and renewed every [`RENEW_MS`] while a guard of this page lives;
/// dropping the last guard stops renewing and removes the lease if it is still ours. A page
/// that goes away releases it on page hide ([`Lock::release_on_hide`]); a page that dies
/// without page hide leaves a lease that expires within [`LEASE_MS`].
#[derive(Clone)]
pub struct Lease(Rc<Holder>);

/// How long a lease lasts without renewal: what a page that died while sending costs the next
/// page. Several renewals fit in it, so that timer delays do not lose the lease.
pub const LEASE_MS: u64 = 4_000;
/// How often a held lease is renewed.
pub const RENEW_MS: u32 = 1_000;
/// How long `acquire(wait = true)` keeps trying.
pub const LEASE_WAIT_MS: u64 = 10_000;
/// How long a waiting pass sleeps between two tries for the lease.
pub const LEASE_RETRY_MS: i32 = 100;

/// A page's side of the lease, shared by the [`Lease`] and its guards.
struct Holder {
    storage: Rc<dyn Storage>,
    platform: Rc<dyn Platform>,
    owner: String,
    /// Guards alive (a `flush()` and a page-hide send may overlap).
    guards: Cell<u32>,
    /// Renews the lease while `guards > 0`.
    renew: RefCell<Option<Timer>>,
}

impl Lease {
    /// A lease owned by a new random owner id.
    pub fn new(storage: Rc<dyn Storage>, platform: Rc<dyn Platform>) -> Lease {
        let owner = crate::id::format_v7(platform.now_ms(), 0, platform.random());
        Lease(Rc::new(Holder {
            storage,
            platform,
            owner,
            guards: Cell::new(0),
            renew: RefCell::new(None),
        }))
    }
}

impl Holder {
    /// The stored lease, if any: whether it is ours, and when it expires (0 if unreadable).
    fn read(&self) -> Option<(bool, u64)> {
        let v = self.storage.get(LOCK_NAME).ok().flatten()?;
        let (owner, expires) = v.split_once(' ')?;
        Some((owner == self.owner, expires.parse().unwrap_or(0)))
    }

    fn ours(&self) -> bool {
        self.read().is_some_and(|(ours, _)| ours)
    }

    /// Writes the lease as ours until `LEASE_MS` from now; whether it reads back as written.
    fn write(&self) -> bool {
        let mut mine = self.owner.clone();
        mine.push(' ');
        push_u64(&mut mine, self.platform.now_ms() + LEASE_MS);
        // Write, then read back: another tab's write in between wins.
        self.storage.set(LOCK_NAME, &mine).is_ok()
            && self.storage.get(LOCK_NAME).ok().flatten().as_deref() == Some(mine.as_str())
    }

    fn try_take(&self) -> bool {
        let now = self.platform.now_ms();
        self.read()
            .is_none_or(|(ours, expires)| ours || expires <= now)
            && self.write()
    }

    /// Removes the lease if it is ours.
    fn release(&self) {
        if self.ours() {
            let _ = self.storage.remove(LOCK_NAME);
        }
    }
}

/// A guard's hold on the lease: the last one to drop stops the renewal and releases.
#[must_use = "the lease is released when this drops"]
struct LeaseGuard(Rc<Holder>);

impl LeaseGuard {
    fn new(holder: Rc<Holder>) -> LeaseGuard {
        let n = holder.guards.get();
        holder.guards.set(n + 1);
        if n == 0 {
            let weak = Rc::downgrade(&holder);
            // Renews only a lease that is still ours: one released on page hide, or taken by
            // another tab after it expired, is left alone.
            let renew = Timer::every(RENEW_MS, move || {
                if let Some(h) = weak.upgrade().filter(|h| h.ours()) {
                    h.write();
                }
            });
            *holder.renew.borrow_mut() = Some(renew);
        }
        LeaseGuard(holder)
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let n = self.0.guards.get() - 1;
        self.0.guards.set(n);
        if n == 0 {
            self.0.renew.borrow_mut().take();
            self.0.release();
        }
    }
}

impl Lease {
    /// Takes the lease now if it is free, expired or already ours; held (and renewed) until
    /// the guard drops.
    pub fn try_acquire(&self) -> Option<Guard> {
        self.0
            .try_take()
            .then(|| Guard::new(LeaseGuard::new(self.0.clone())))
    }

    /// The lease's clock (unix ms).
    pub fn now_ms(&self) -> u64 {
        self.0.platform.now_ms()
    }

    /// Whether a wait for the lease that began at `since` ([`Lease::now_ms`]) may go on:
    /// [`LEASE_WAIT_MS`] at most.
    pub fn may_wait(&self, since: u64) -> bool {
        self.now_ms().saturating_sub(since) <= LEASE_WAIT_MS
    }
}

impl Lock for Lease {
    fn acquire(&self, wait: bool) -> Pending<Option<Guard>> {
        let lease = self.clone();
        Box::pin(async move {
            let start = lease.now_ms();
            loop {
                if let Some(guard) = lease.try_acquire() {
                    return Some(guard);
                }
                if !wait || !lease.may_wait(start) {
                    return None;
                }
                sleep(LEASE_RETRY_MS).await;
            }
        })
    }

    /// Removes the lease if it is ours, under live guards too: they stop renewing it (it is no
    /// longer ours) and release nothing. The next page takes it at once.
    fn release_on_hide(&self) {
        self.0.release();
    }
}

/// Resolves after `ms` (a `setTimeout` promise: gloo-timers' future would bring a channel
/// implementation into the module for this one wait).
async fn sleep(ms: i32) {
    let wait = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(wait).await;
}
