//! [`Scheduler`]: what makes a tracker send on its own: the `flushIntervalMs` timer, the
//! `flushAt` count, the end of a backoff, `online`, and page hide (where it also releases the
//! cross-tab lock). It owns its timer and listeners; dropping it removes them.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use wasm_bindgen_futures::spawn_local;

use super::timer::{PageEvents, Timer};

use crate::delivery::Lock;
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
    lock: Rc<dyn Lock>,
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
    /// `lock`: the one the tracker sends under ([`Tracker::set_lock`]); on each page hide it is
    /// released ([`Lock::release_on_hide`]) once the keepalive request, if any, has left.
    pub fn start(tracker: &Tracker, interval_ms: u32, lock: Rc<dyn Lock>) -> Scheduler {
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
    let Some(tracker) = state.upgrade().and_then(|s| s.tracker.upgrade()) else {
        return;
    };
    spawn_local(async move {
        if let Some(Err(_)) = tracker.flush_if_due().await {
            if let (Some(s), Some(at)) = (state.upgrade(), tracker.retry_at()) {
                let wait = at
                    .saturating_sub(js_sys::Date::now() as u64)
                    .min(u64::from(u32::MAX)) as u32;
                let again = state.clone();
                *s.retry.borrow_mut() = Some(Timer::after(wait, move || automatic(again.clone())));
            }
        }
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
    spawn_local(async move {
        let _ = tracker.flush_on_hide().await;
    });
    // Spawned tasks run in order: this one after the hide pass's first step, which takes the
    // lock and starts its keepalive request. The page may be gone before that answers.
    let lock = s.lock.clone();
    spawn_local(async move { lock.release_on_hide() });
}
