//! [`BrowserPlatform`]: the clock, `crypto.getRandomValues`, the page and the console.

use std::cell::RefCell;

use crate::platform::{Page, Platform};

/// The page the module runs in. User agent and language are read once; random bytes are
/// drawn from `crypto.getRandomValues` 256 at a time (one boundary crossing per 32 events).
pub struct BrowserPlatform {
    window: Option<web_sys::Window>,
    /// Kept, not looked up per event: `location` and `document` do not change.
    location: Option<web_sys::Location>,
    document: Option<web_sys::Document>,
    crypto: Option<web_sys::Crypto>,
    user_agent: Option<String>,
    language: Option<String>,
    pool: RefCell<([u8; 256], usize)>,
}

impl BrowserPlatform {
    /// Reads the page's window, crypto and navigator.
    pub fn new() -> Self {
        let window = web_sys::window();
        let navigator = window.as_ref().map(|w| w.navigator());
        BrowserPlatform {
            crypto: window.as_ref().and_then(|w| w.crypto().ok()),
            user_agent: navigator.as_ref().and_then(|n| n.user_agent().ok()),
            language: navigator.as_ref().and_then(|n| n.language()),
            location: window.as_ref().map(|w| w.location()),
            document: window.as_ref().and_then(|w| w.document()),
            window,
            pool: RefCell::new(([0; 256], 256)),
        }
    }
}

impl Default for BrowserPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for BrowserPlatform {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn random(&self) -> [u8; 8] {
        let mut pool = self.pool.borrow_mut();
        let (bytes, used) = &mut *pool;
        if *used + 8 > bytes.len() {
            let filled = self
                .crypto
                .as_ref()
                .is_some_and(|c| c.get_random_values_with_u8_array(bytes).is_ok());
            if !filled {
                for b in bytes.iter_mut() {
                    *b = (js_sys::Math::random() * 256.0) as u8;
                }
            }
            *used = 0;
        }
        let mut out = [0u8; 8];
        out.copy_from_slice(&bytes[*used..*used + 8]);
        *used += 8;
        out
    }

    fn page(&self) -> Page {
        Page {
            url: self.location.as_ref().and_then(|l| l.href().ok()),
            title: self
                .document
                .as_ref()
                .map(|d| d.title())
                .filter(|t| !t.is_empty()),
            user_agent: self.user_agent.clone(),
            language: self.language.clone(),
        }
    }

    fn warn(&self, message: &str) {
        web_sys::console::warn_1(&message.into());
    }

    fn online(&self) -> bool {
        self.window.as_ref().is_none_or(|w| w.navigator().on_line())
    }
}
