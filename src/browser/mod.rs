//! The browser edge: the page as a [`Platform`], the default tracker behind the JS API, and
//! the `#[wasm_bindgen]` boundary itself ([`js`]). Compiled for wasm32 only.

pub mod js;
mod platform;

use std::cell::RefCell;
use std::rc::Rc;

pub use platform::BrowserPlatform;

use crate::storage::LocalStorage;
use crate::tracker::Tracker;

thread_local! {
    static DEFAULT: RefCell<Option<Tracker>> = const { RefCell::new(None) };
}

/// The page's default tracker (the one the JS API uses), created on first use over
/// `localStorage`. It holds whatever events earlier page loads and other tabs left queued.
pub fn tracker() -> Tracker {
    DEFAULT.with(|d| {
        d.borrow_mut()
            .get_or_insert_with(|| {
                let storage = LocalStorage::open().map(|s| Box::new(s) as Box<dyn crate::storage::Storage>);
                Tracker::new(storage, Rc::new(BrowserPlatform::new()))
            })
            .clone()
    })
}

/// Lets go of the default tracker. Queued events stay in `localStorage`; the next call that
/// needs a tracker starts a fresh one that picks them up.
pub fn shutdown() {
    DEFAULT.with(|d| d.borrow_mut().take());
}
