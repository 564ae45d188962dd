//! [`Transport`]: how a batch reaches the proxy. `fetch` in the browser
//! (`crate::browser::FetchTransport`); [`RecordingTransport`] in tests.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use agent_track_schema::cat;
use agent_track_schema::json::{Doc, Json};
use agent_track_schema::text::num;

use super::outcome::Reply;

/// A boxed, single-threaded future.
pub type Pending<T> = Pin<Box<dyn Future<Output = T>>>;

/// Sends one batch body.
pub trait Transport {
    /// POSTs `body` to `endpoint`. `keepalive` is the page-hide send: `text/plain` (no CORS
    /// preflight) with `fetch(.., {keepalive: true})`, so it survives the page. Never fails:
    /// a network failure is a [`Reply::Network`].
    fn send(&self, endpoint: &str, body: String, keepalive: bool) -> Pending<Reply>;
}

/// One request a [`RecordingTransport`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Where it was sent.
    pub endpoint: String,
    /// The exact body.
    pub body: String,
    /// Whether it was a page-hide (keepalive) send.
    pub keepalive: bool,
}

/// A transport without a network, for tests (this crate's and apps'): it records every batch
/// and answers with scripted replies, then with a 200 that acknowledges every event.
#[derive(Clone, Default)]
pub struct RecordingTransport {
    inner: Rc<RefCell<(Vec<Recorded>, VecDeque<Reply>)>>,
}

impl RecordingTransport {
    /// A transport that acknowledges everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers the next request with `reply` (replies are used in the order given).
    pub fn reply_with(&self, reply: Reply) {
        self.inner.borrow_mut().1.push_back(reply);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.borrow().0.clone()
    }

    /// The event ids of every request, per request.
    pub fn batches(&self) -> Vec<Vec<String>> {
        self.requests().iter().map(|r| event_ids(&r.body)).collect()
    }
}

/// The `eventId`s of a batch body (empty if it is not one).
pub fn event_ids(body: &str) -> Vec<String> {
    let Ok(doc) = Doc::parse(body) else {
        return Vec::new();
    };
    let events = doc
        .root()
        .get("events")
        .map(|e| e.items())
        .unwrap_or_default();
    events
        .into_iter()
        .filter_map(|e| Some(e.get("eventId")?.as_str()?.into_owned()))
        .collect()
}

impl Transport for RecordingTransport {
    fn send(&self, endpoint: &str, body: String, keepalive: bool) -> Pending<Reply> {
        let mut inner = self.inner.borrow_mut();
        let reply = inner.1.pop_front().unwrap_or_else(|| Reply::Http {
            status: 200,
            body: cat![
                r#"{"requestId":"recorded","accepted":"#,
                num(event_ids(&body).len() as u64),
                "}"
            ],
            retry_after: None,
        });
        inner.0.push(Recorded {
            endpoint: endpoint.to_string(),
            body,
            keepalive,
        });
        Box::pin(std::future::ready(reply))
    }
}
