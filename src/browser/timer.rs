//! [`Timer`] and [`PageEvents`]: `setInterval`/`setTimeout` and the page's `online`,
//! `pagehide` and `visibilitychange` listeners (`js/browser.js`), owned by a Rust value:
//! dropping it cancels the timer or removes the listeners.

use js_sys::Function;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/browser.js")]
extern "C" {
    fn every(ms: u32, f: &Closure<dyn FnMut()>) -> Function;
    fn after(ms: u32, f: &Closure<dyn FnMut()>) -> Function;
    #[wasm_bindgen(js_name = pageEvents)]
    fn page_events(
        online: &Closure<dyn FnMut()>,
        hidden: &Closure<dyn FnMut()>,
        shown: &Closure<dyn FnMut()>,
    ) -> Function;
}

/// JS callbacks and the function that stops JS from calling them; stopped when dropped, and
/// only then are the callbacks freed.
struct Callbacks {
    stop: Function,
    _callbacks: Vec<Closure<dyn FnMut()>>,
}

impl Drop for Callbacks {
    fn drop(&mut self) {
        let _ = self.stop.call0(&JsValue::NULL);
    }
}

/// A running `setInterval` or `setTimeout`, cleared when dropped.
#[must_use = "the timer is cleared when this drops"]
pub struct Timer {
    _running: Callbacks,
}

impl Timer {
    /// Calls `f` every `ms` milliseconds.
    pub fn every(ms: u32, f: impl FnMut() + 'static) -> Timer {
        let f = Closure::<dyn FnMut()>::new(f);
        Timer {
            _running: Callbacks {
                stop: every(ms, &f),
                _callbacks: vec![f],
            },
        }
    }

    /// Calls `f` once, after `ms` milliseconds.
    pub fn after(ms: u32, f: impl FnMut() + 'static) -> Timer {
        let f = Closure::<dyn FnMut()>::new(f);
        Timer {
            _running: Callbacks {
                stop: after(ms, &f),
                _callbacks: vec![f],
            },
        }
    }
}

/// Listeners for `online`, page hide (`pagehide`, `visibilitychange` to hidden) and page
/// shown again (`visibilitychange` to visible); removed when dropped.
#[must_use = "the listeners are removed when this drops"]
pub struct PageEvents {
    _listening: Callbacks,
}

impl PageEvents {
    /// Starts listening.
    pub fn listen(
        online: impl FnMut() + 'static,
        hidden: impl FnMut() + 'static,
        shown: impl FnMut() + 'static,
    ) -> PageEvents {
        let callbacks = vec![
            Closure::<dyn FnMut()>::new(online),
            Closure::<dyn FnMut()>::new(hidden),
            Closure::<dyn FnMut()>::new(shown),
        ];
        PageEvents {
            _listening: Callbacks {
                stop: page_events(&callbacks[0], &callbacks[1], &callbacks[2]),
                _callbacks: callbacks,
            },
        }
    }
}
