//! [`Scheduler`]: what makes a tracker send on its own: the `flushIntervalMs` timer, the
//! `flushAt` count, the end of a backoff, `online`, and page hide (where it also releases the
//! cross-tab lock). It owns its timer and listeners; dropping it removes them.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{EventTarget, VisibilityState};

use crate::delivery::Lock;
use crate::tracker::{Tracker, WeakTracker};

/// Sends for one tracker while it lives.
#[must_use = "the scheduler stops when dropped"]
pub struct Scheduler {
    /// Owned here; the timer and listeners hold only weak references to it.
    _state: Rc<State>,
    _interval: Interval,
    _listeners: Vec<Listener>,
}

struct State {
    tracker: WeakTracker,
    /// The tracker's cross-tab lock, released on page hide.
    lock: Rc<dyn Lock>,
    /// Wakes the tracker when a backoff ends.
    retry: RefCell<Option<Timeout>>,
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
        let interval = Interval::new(interval_ms, move || automatic(tick.clone()));
        let mut listeners = Vec::new();
        if let Some(window) = web_sys::window() {
            let online = Rc::downgrade(&state);
            listeners.push(Listener::new(&window, "online", move || {
                automatic(online.clone())
            }));
            let hide = Rc::downgrade(&state);
            listeners.push(Listener::new(&window, "pagehide", move || {
                page_hidden(&hide)
            }));
            if let Some(document) = window.document() {
                let vis = Rc::downgrade(&state);
                let doc = document.clone();
                listeners.push(Listener::new(&document, "visibilitychange", move || {
                    if doc.visibility_state() == VisibilityState::Hidden {
                        page_hidden(&vis);
                    } else if let Some(s) = vis.upgrade() {
                        s.hide_sent.set(false);
                    }
                }));
            }
        }
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
                *s.retry.borrow_mut() = Some(Timeout::new(wait, move || automatic(again)));
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

/// An event listener removed when dropped.
#[must_use = "the listener is removed when this drops"]
struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut()>,
}

impl Listener {
    fn new(target: &EventTarget, kind: &'static str, f: impl FnMut() + 'static) -> Listener {
        let callback = Closure::<dyn FnMut()>::new(f);
        let _ = target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}
