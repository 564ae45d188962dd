//! Passes driven by `js/browser.js` (`drive`): the page tracker's sends, automatic and
//! `flush()`, without futures in the module. JS takes the Web Lock, waits and makes the
//! requests; each step here decides what comes next ([`crate::Tracker::next_body`],
//! [`crate::Tracker::answer`]), so what a reply means stays in Rust.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::fetch::{post, reply, TIMEOUT_MS};
use super::locks::{PageLock, LEASE_RETRY_MS, LOCK_NAME};
use crate::delivery::Guard;
use crate::error::Error;
use crate::pass::{Mode, Pass, PassReport};
use crate::tracker::Tracker;

#[wasm_bindgen(module = "/js/browser.js")]
extern "C" {
    /// Runs `step` until it returns something other than a promise or a number (see
    /// `js/browser.js`); resolves with that, or rejects with it when it is an `Error`.
    fn drive(
        step: Closure<dyn FnMut(JsValue) -> JsValue>,
        locks: &JsValue,
        name: &str,
        wait: bool,
    ) -> Promise;
}

/// How a pass ended: `None` when it did not get the lock.
pub type Ended = Option<Result<PassReport, Error>>;

/// Starts a pass of `tracker` under `lock`, `wait`ing for the lock or not; `done` turns how it
/// ended into what the returned promise resolves with (rejects with, if an `Error`). With
/// the lease, the first step (taking it and starting the request) runs before this returns.
pub fn start(
    tracker: &Tracker,
    lock: &PageLock,
    mode: Mode,
    wait: bool,
    done: impl FnOnce(Ended) -> JsValue + 'static,
) -> Promise {
    let mut pass = Driven {
        tracker: tracker.clone(),
        lease: match lock {
            PageLock::Lease(l) => Some((l.clone(), l.now_ms())),
            PageLock::Web(_) => None,
        },
        guard: None,
        mode,
        wait,
        pass: None,
        done: Some(Box::new(done)),
    };
    let step = Closure::new(move |input: JsValue| pass.step(input));
    let locks = match lock {
        PageLock::Web(locks) => locks.clone(),
        PageLock::Lease(_) => JsValue::NULL,
    };
    drive(step, &locks, LOCK_NAME, wait)
}

/// One pass's state between steps.
struct Driven {
    tracker: Tracker,
    /// The lease and when the wait for it began, without Web Locks.
    lease: Option<(crate::browser::Lease, u64)>,
    guard: Option<Guard>,
    mode: Mode,
    wait: bool,
    pass: Option<Pass>,
    done: Option<Box<dyn FnOnce(Ended) -> JsValue>>,
}

impl Driven {
    /// `input`: first whether the Web Lock was granted (or `true` without Web Locks, and after
    /// each wait for the lease), then what each request resolved with. Returns a request's
    /// promise, a wait in ms, or the end.
    fn step(&mut self, input: JsValue) -> JsValue {
        let Some(pass) = self.pass.as_mut() else {
            if let Some((lease, since)) = &self.lease {
                match lease.try_acquire() {
                    Some(g) => self.guard = Some(g),
                    None if self.wait && lease.may_wait(*since) => return LEASE_RETRY_MS.into(),
                    None => return self.end(None),
                }
            } else if !input.is_truthy() {
                return self.end(None);
            }
            match self.tracker.begin_pass(self.mode) {
                Ok(p) => self.pass = Some(p),
                Err(e) => return self.end(Some(Err(e))),
            }
            return self.send();
        };
        match self.tracker.answer(pass, &reply(Ok(input))) {
            Ok(()) => self.send(),
            Err(e) => self.end(Some(Err(e))),
        }
    }

    /// Starts the next request, or ends the pass.
    fn send(&mut self) -> JsValue {
        let Some(pass) = self.pass.as_mut() else {
            return JsValue::UNDEFINED;
        };
        match self.tracker.next_body(pass) {
            Ok(Some(body)) => post(pass.endpoint(), &body, pass.keepalive(), TIMEOUT_MS).into(),
            Ok(None) => {
                let pass = self.pass.take().map(|p| self.tracker.finish_pass(p));
                self.end(pass.map(Ok))
            }
            Err(e) => self.end(Some(Err(e))),
        }
    }

    /// Releases the lease, ends the pass if one began, and says how it ended.
    fn end(&mut self, ended: Ended) -> JsValue {
        self.guard = None;
        self.pass = None;
        // Every begun pass ends with a result; one without the lock never began.
        let ended = ended.map(|result| self.tracker.end_pass(result));
        self.done
            .take()
            .map_or(JsValue::UNDEFINED, |done| done(ended))
    }
}
