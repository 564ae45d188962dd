//! [`Platform`]: what the tracker asks of its surroundings (clock, randomness, page, console),
//! so that the same logic runs in the browser and under `cargo test`.

/// The page an event is tracked on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// `location.href`.
    pub url: Option<String>,
    /// `document.title`.
    pub title: Option<String>,
    /// `navigator.userAgent`.
    pub user_agent: Option<String>,
    /// `navigator.language`.
    pub language: Option<String>,
}

/// The tracker's surroundings.
pub trait Platform {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> u64;
    /// 8 random bytes for event ids (a CSPRNG in the browser).
    fn random(&self) -> [u8; 8];
    /// The current page (read at each event: single-page apps change URL and title).
    fn page(&self) -> Page;
    /// Shows a warning to the developer (the console in a browser).
    fn warn(&self, message: &str);
    /// Whether the browser believes it is online (`navigator.onLine`); nothing is sent while
    /// it is not. Default: online.
    fn online(&self) -> bool {
        true
    }
}

/// A platform for tests and non-browser use: a settable clock, a counter for randomness, a
/// fixed page, and warnings collected in a list.
#[derive(Debug, Default)]
pub struct FixedPlatform {
    /// Current time, in unix milliseconds.
    pub now: std::cell::Cell<u64>,
    /// The page every event reports.
    pub page: Page,
    /// Every warning shown, in order.
    pub warnings: std::cell::RefCell<Vec<String>>,
    /// Whether the platform is offline.
    pub offline: std::cell::Cell<bool>,
    counter: std::cell::Cell<u64>,
}

impl FixedPlatform {
    /// A platform whose clock reads `now_ms`.
    pub fn at(now_ms: u64) -> Self {
        FixedPlatform {
            now: now_ms.into(),
            ..Default::default()
        }
    }
}

impl Platform for FixedPlatform {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
    fn random(&self) -> [u8; 8] {
        let n = self.counter.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.counter.set(n);
        n.to_be_bytes()
    }
    fn page(&self) -> Page {
        self.page.clone()
    }
    fn warn(&self, message: &str) {
        self.warnings.borrow_mut().push(message.to_string());
    }
    fn online(&self) -> bool {
        !self.offline.get()
    }
}
