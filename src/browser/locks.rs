//! The cross-tab send lock: Web Locks (`navigator.locks`) where the browser has them, else a
//! `localStorage` lease with expiry.
//!
//! `navigator.locks` is bound here with our own extern: web-sys's `LockManager` needs
//! `--cfg web_sys_unstable_apis`, which would leak into every app that depends on this crate.

use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::delivery::{Guard, Lock, Pending};
use crate::platform::Platform;
use crate::storage::Storage;

/// The name of the Web Lock, and the key of the lease.
pub const LOCK_NAME: &str = "agent-track:v1:send";

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &Function,
    ) -> Result<Promise, JsValue>;
}

/// The browser's best lock: Web Locks when `navigator.locks` exists (secure contexts of
/// current browsers), else a lease.
pub fn default_lock(storage: Rc<dyn Storage>, platform: Rc<dyn Platform>) -> Rc<dyn Lock> {
    match WebLock::new() {
        Some(l) => Rc::new(l),
        None => Rc::new(Lease::new(storage, platform)),
    }
}

/// `navigator.locks.request(LOCK_NAME, {ifAvailable}, cb)`: the lock is held until the
/// promise `cb` returns settles, which happens when the [`Guard`] drops. Exclusive across the
/// tabs and workers of an origin, and within one tab.
pub struct WebLock(LockManager);

impl WebLock {
    /// `None` when the browser has no `navigator.locks`.
    pub fn new() -> Option<WebLock> {
        let navigator = web_sys::window()?.navigator();
        let locks = Reflect::get(&navigator, &"locks".into())
            .ok()
            .filter(|l| l.is_object())?;
        Some(WebLock(locks.unchecked_into()))
    }
}

/// Resolves its promise when dropped: releases a Web Lock.
struct Release(Function);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::NULL);
    }
}

/// A promise and the function that resolves it.
fn deferred() -> (Promise, Function) {
    let mut resolve = None;
    let promise = Promise::new(&mut |res, _| resolve = Some(res));
    (promise, resolve.expect("the executor runs synchronously"))
}

impl Lock for WebLock {
    fn acquire(&self, wait: bool) -> Pending<Option<Guard>> {
        let (held, release) = deferred();
        let (granted, grant) = deferred();
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let _ = grant.call1(&JsValue::NULL, &JsValue::from_bool(!lock.is_null()));
            if lock.is_null() {
                Promise::resolve(&JsValue::NULL).into()
            } else {
                held.into()
            }
        });
        let options = Object::new();
        let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(!wait));
        let requested = self
            .0
            .request(LOCK_NAME, &options, callback.unchecked_ref());
        Box::pin(async move {
            if requested.is_err() {
                return None;
            }
            let granted = JsFuture::from(granted).await.ok()?.as_bool()?;
            granted.then(|| Guard::new(Release(release)))
        })
    }
}

/// A lease in `localStorage`: `{owner} {expiresAt}`. Best effort: `localStorage` has no
/// compare-and-set, so two tabs can both believe they won in a narrow race; receivers dedupe
/// on `eventId`.
pub struct Lease {
    storage: Rc<dyn Storage>,
    platform: Rc<dyn Platform>,
    owner: String,
}

/// How long a lease lasts without being released: longer than one request may take.
pub const LEASE_MS: u64 = 40_000;
/// How long `acquire(wait = true)` keeps trying.
pub const LEASE_WAIT_MS: u64 = 10_000;

impl Lease {
    /// A lease owned by a new random owner id.
    pub fn new(storage: Rc<dyn Storage>, platform: Rc<dyn Platform>) -> Lease {
        let owner = crate::id::format_v7(platform.now_ms(), 0, platform.random());
        Lease {
            storage,
            platform,
            owner,
        }
    }

    fn try_take(&self) -> bool {
        let now = self.platform.now_ms();
        let current = self.storage.get(LOCK_NAME).ok().flatten();
        let free = match current.as_deref().and_then(|v| v.split_once(' ')) {
            Some((owner, expires)) => {
                owner == self.owner || expires.parse::<u64>().map_or(true, |e| e <= now)
            }
            None => true,
        };
        if !free {
            return false;
        }
        let mine = format!("{} {}", self.owner, now + LEASE_MS);
        // Write, then read back: another tab's write in between wins.
        self.storage.set(LOCK_NAME, &mine).is_ok()
            && self.storage.get(LOCK_NAME).ok().flatten().as_deref() == Some(mine.as_str())
    }
}

/// Removes the lease when dropped, if it is still ours.
struct LeaseRelease(Rc<dyn Storage>, String);

impl Drop for LeaseRelease {
    fn drop(&mut self) {
        if let Ok(Some(v)) = self.0.get(LOCK_NAME) {
            if v.split_once(' ').is_some_and(|(owner, _)| owner == self.1) {
                let _ = self.0.remove(LOCK_NAME);
            }
        }
    }
}

impl Lock for Lease {
    fn acquire(&self, wait: bool) -> Pending<Option<Guard>> {
        let (storage, platform, owner) = (
            self.storage.clone(),
            self.platform.clone(),
            self.owner.clone(),
        );
        let lease = Lease {
            storage,
            platform,
            owner,
        };
        Box::pin(async move {
            let start = lease.platform.now_ms();
            loop {
                if lease.try_take() {
                    return Some(Guard::new(LeaseRelease(
                        lease.storage.clone(),
                        lease.owner.clone(),
                    )));
                }
                if !wait || lease.platform.now_ms() - start > LEASE_WAIT_MS {
                    return None;
                }
                TimeoutFuture::new(100).await;
            }
        })
    }
}
