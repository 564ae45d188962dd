//! [`Scheduler`]: what makes a tracker send on its own: the `flushIntervalMs` timer, the
//! `flushAt` count, the end of a backoff, `online`, and page hide (where it also releases the
//! cross-tab lock). It owns its timer and listeners; dropping it removes them.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::driver;
use super::locks::PageLock;
use super::timer::{PageEvents, Timer};

use crate::pass::Mode;
use crate::tracker::{Tracker, WeakTracker};

/// Sends for one tracker while it lives.
#[must_use = "the scheduler stops when dropped"]
pub struct Scheduler {
    /// Owned here; the timer and listeners hold only weak references to it.
    _state: Rc<State>,
    _interval: Timer,
    _listeners: PageEvents,
}

struct State {
    tracker: WeakTracker,
    /// The tracker's cross-tab lock, released on page hide.
    lock: PageLock,
    /// Wakes the tracker when a backoff ends.
    retry: RefCell<Option<Timer>>,
    /// The page-hide send of this hide already ran (`visibilitychange` and `pagehide` both
    /// fire on unload; one send per hide).
    hide_sent: Cell<bool>,
}

impl Scheduler {
    /// Starts sending for `tracker`: every `interval_ms`, when `flushAt` events are queued,
    /// when the browser comes back online, and once on each page hide (keepalive). Also runs
    /// a pass at once if events are queued now: earlier pages or closed tabs left them.
    /// The passes run in `js/browser.js` ([`driver`]) under `lock`; on each page hide it is
    /// released ([`PageLock::release_on_hide`]) once the keepalive request, if any, has left.
    pub fn start(tracker: &Tracker, interval_ms: u32, lock: PageLock) -> Scheduler {
        let state = Rc::new(State {
            tracker: tracker.downgrade(),
            lock,
            retry: RefCell::new(None),
            hide_sent: Cell::new(false),
        });
        let due = Rc::downgrade(&state);
        tracker.on_flush_due(Rc::new(move || automatic(due.clone())));
        let tick = Rc::downgrade(&state);
        let interval = Timer::every(interval_ms, move || automatic(tick.clone()));
        let (online, hide, shown) = (
            Rc::downgrade(&state),
            Rc::downgrade(&state),
            Rc::downgrade(&state),
        );
        let listeners = PageEvents::listen(
            move || automatic(online.clone()),
            move || page_hidden(&hide),
            move || {
                if let Some(s) = shown.upgrade() {
                    s.hide_sent.set(false);
                }
            },
        );
        if tracker.stats().queued > 0 {
            automatic(Rc::downgrade(&state));
        }
        Scheduler {
            _state: state,
            _interval: interval,
            _listeners: listeners,
        }
    }
}

/// An automatic pass, if one is due; after a failure, a timer for the end of the backoff.
fn automatic(state: Weak<State>) {
    let Some(s) = state.upgrade() else { return };
    let Some(tracker) = s.tracker.upgrade() else {
        return;
    };
    if !tracker.pass_due(Mode::Normal) {
        return;
    }
    let after = tracker.clone();
    let _ = driver::start(&tracker, &s.lock, Mode::Normal, false, move |ended| {
        if let (Some(Err(_)), Some(s), Some(at)) = (ended, state.upgrade(), after.retry_at()) {
            let wait = at
                .saturating_sub(js_sys::Date::now() as u64)
                .min(u64::from(u32::MAX)) as u32;
            let again = state.clone();
            *s.retry.borrow_mut() = Some(Timer::after(wait, move || automatic(again.clone())));
        }
        wasm_bindgen::JsValue::UNDEFINED
    });
}

fn page_hidden(state: &Weak<State>) {
    let Some(s) = state.upgrade() else { return };
    if s.hide_sent.replace(true) {
        return;
    }
    let Some(tracker) = s.tracker.upgrade() else {
        return;
    };
    if tracker.pass_due(Mode::Keepalive) {
        // With the lease, this takes it and starts the keepalive request before it returns;
        // with Web Locks, the browser releases a closed page's lock itself.
        let _ = driver::start(&tracker, &s.lock, Mode::Keepalive, false, |_| {
            wasm_bindgen::JsValue::UNDEFINED
        });
    }
    // The page may be gone before the request answers.
    s.lock.release_on_hide();
}
