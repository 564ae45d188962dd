use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use serde_json::Map;

use crate::delivery::transport::event_ids;
use crate::delivery::{RecordingTransport, Reply};
use crate::pass::Mode;
use crate::platform::FixedPlatform;
use crate::{AgentProperties, Config, EventType, Hooks, MemoryStorage, Tracker};

const T0: u64 = 1_763_712_000_000;

/// Runs a future whose I/O completes at once (the recording transport's).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

struct Setup {
    tracker: Tracker,
    transport: RecordingTransport,
    platform: Rc<FixedPlatform>,
    reports: Rc<std::cell::RefCell<Vec<crate::report::Report>>>,
}

fn setup() -> Setup {
    let platform = Rc::new(FixedPlatform::at(T0));
    let tracker = Tracker::new(Some(Box::new(MemoryStorage::new())), platform.clone());
    let transport = RecordingTransport::new();
    tracker.set_transport(Rc::new(transport.clone()));
    let reports = Rc::new(std::cell::RefCell::new(Vec::new()));
    let r = reports.clone();
    let config = Config {
        endpoint: Some("/v1/events".into()),
        visitor_id: Some("v".into()),
        caps: crate::queue::Caps {
            max_events: 5000,
            max_bytes: 64 << 20,
        },
        ..Config::default()
    };
    tracker.configure(
        config,
        Hooks {
            on_error: Some(Rc::new(move |rep| r.borrow_mut().push(rep.clone()))),
            ..Hooks::default()
        },
    );
    Setup {
        tracker,
        transport,
        platform,
        reports,
    }
}

fn track(s: &Setup, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            s.tracker
                .track_agent(
                    EventType::Prompt,
                    AgentProperties::new("a", "c", format!("m{i}"), "hello"),
                    Map::new(),
                )
                .unwrap()
                .unwrap()
        })
        .collect()
}

fn http(status: u16, body: &str, retry_after: Option<&str>) -> Reply {
    Reply::Http {
        status,
        body: body.into(),
        retry_after: retry_after.map(Into::into),
    }
}

#[test]
fn a_flush_sends_everything_in_order_and_empties_the_queue() {
    let s = setup();
    let ids = track(&s, 3);
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!(
        (
            report.sent,
            report.rejected,
            report.dropped,
            report.remaining
        ),
        (3, 0, 0, 0)
    );
    assert_eq!(s.transport.batches(), [ids]);
    let stats = s.tracker.stats();
    assert_eq!((stats.queued, stats.sent), (0, 3));
    let body: serde_json::Value = serde_json::from_str(&s.transport.requests()[0].body).unwrap();
    assert_eq!(body["sentAt"], T0);
    assert_eq!(body["events"][0]["visitorId"], "v");
}

#[test]
fn batches_hold_at_most_500_events() {
    let s = setup();
    let ids = track(&s, 1200);
    block_on(s.tracker.flush()).unwrap();
    let sizes: Vec<usize> = s.transport.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, [500, 500, 200]);
    assert_eq!(s.transport.batches().concat(), ids, "queue order");
}

#[test]
fn a_413_splits_the_batch_until_it_fits() {
    let s = setup();
    let ids = track(&s, 4);
    s.transport.reply_with(http(
        413,
        r#"{"requestId":"r","code":"body_too_large","message":"too big"}"#,
        None,
    ));
    s.transport.reply_with(http(413, "", None)); // first half still too large
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!(report.sent, 4);
    let batches = s.transport.batches();
    assert_eq!(
        batches,
        [
            ids.clone(),
            ids[..2].to_vec(),
            ids[..1].to_vec(),
            ids[1..2].to_vec(),
            ids[2..].to_vec()
        ]
    );
}

#[test]
fn a_single_event_refused_as_too_large_is_dropped_and_reported() {
    let s = setup();
    let ids = track(&s, 1);
    s.transport.reply_with(http(
        413,
        r#"{"requestId":"r","code":"body_too_large","message":"at most 1 byte"}"#,
        None,
    ));
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!((report.sent, report.dropped, report.remaining), (0, 1, 0));
    let reports = s.reports.borrow();
    assert_eq!(
        (reports[0].code.as_str(), reports[0].event_ids.clone()),
        ("too_large", ids)
    );
    assert!(
        reports[0].message.contains("at most 1 byte"),
        "{}",
        reports[0].message
    );
    assert_eq!(s.tracker.stats().dropped, 1);
}

#[test]
fn a_400_is_bisected_to_isolate_the_unreadable_event() {
    let s = setup();
    let ids = track(&s, 4);
    for r in [
        http(400, "", None),
        http(200, r#"{"requestId":"r","accepted":2}"#, None),
        http(400, "", None),
        http(200, r#"{"requestId":"r","accepted":1}"#, None),
        http(
            400,
            r#"{"requestId":"r","code":"bad_json","message":"invalid JSON"}"#,
            None,
        ),
    ] {
        s.transport.reply_with(r);
    }
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!((report.sent, report.dropped), (3, 1));
    assert_eq!(s.reports.borrow()[0].event_ids, [ids[3].clone()]);
    assert_eq!(s.reports.borrow()[0].code, "unreadable");
}

#[test]
fn rejected_events_are_final_counted_and_reported_with_the_proxy_code() {
    let s = setup();
    let ids = track(&s, 3);
    let body = format!(
        r#"{{"requestId":"r","accepted":2,"rejected":[{{"index":1,"eventId":"{}","code":"invalid_reaction","field":"properties.content","message":"must be positive, negative or unreact"}}]}}"#,
        ids[1]
    );
    s.transport.reply_with(http(200, &body, None));
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!((report.sent, report.rejected, report.remaining), (2, 1, 0));
    let stats = s.tracker.stats();
    assert_eq!((stats.sent, stats.rejected, stats.dropped), (2, 1, 0));
    let r = &s.reports.borrow()[0];
    assert_eq!(
        (r.code.as_str(), r.event_ids.clone()),
        ("invalid_reaction", vec![ids[1].clone()])
    );
}

#[test]
fn a_server_error_keeps_everything_and_backs_off() {
    let s = setup();
    track(&s, 2);
    s.transport.reply_with(http(
        503,
        r#"{"requestId":"r","code":"upstream_unavailable","message":"upstream down"}"#,
        None,
    ));
    let err = block_on(s.tracker.flush()).unwrap_err();
    assert_eq!(err.code(), "delivery_failed");
    assert!(
        err.to_string()
            .contains("HTTP 503: upstream down; 2 events stay queued"),
        "{err}"
    );
    let stats = s.tracker.stats();
    assert_eq!((stats.queued, stats.retries), (2, 1));
    assert_eq!(stats.last_error.unwrap().code, "delivery_failed");
    assert!(
        s.reports.borrow().is_empty(),
        "nothing left the queue, nothing to report"
    );
    let at = s.tracker.retry_at().unwrap();
    assert!(
        (T0..=T0 + 1000).contains(&at),
        "first retry within BASE_MS: {}",
        at - T0
    );
    // Automatic passes wait for the backoff; an explicit flush does not.
    s.platform.now.set(at.saturating_sub(1).max(T0));
    if at > T0 {
        assert!(block_on(s.tracker.flush_if_due()).is_none());
    }
    s.platform.now.set(at);
    let report = block_on(s.tracker.flush_if_due()).unwrap().unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(s.tracker.retry_at(), None, "success resets the backoff");
}

#[test]
fn retry_after_is_honoured() {
    let s = setup();
    track(&s, 1);
    s.transport.reply_with(http(
        429,
        r#"{"requestId":"r","code":"rate_limited","message":"slow down"}"#,
        Some("30"),
    ));
    block_on(s.tracker.flush()).unwrap_err();
    assert_eq!(s.tracker.retry_at(), Some(T0 + 30_000));
    s.platform.now.set(T0 + 29_999);
    assert!(block_on(s.tracker.flush_if_due()).is_none());
    s.platform.now.set(T0 + 30_000);
    assert_eq!(block_on(s.tracker.flush_if_due()).unwrap().unwrap().sent, 1);
}

#[test]
fn network_errors_keep_the_events() {
    let s = setup();
    track(&s, 2);
    s.transport
        .reply_with(Reply::Network("connection refused".into()));
    let err = block_on(s.tracker.flush()).unwrap_err();
    assert!(err
        .to_string()
        .contains("network error: connection refused"));
    assert_eq!(s.tracker.stats().queued, 2);
}

#[test]
fn a_403_drops_the_batch_and_says_why() {
    let s = setup();
    let ids = track(&s, 2);
    s.transport.reply_with(http(403, r#"{"requestId":"r","code":"origin_not_allowed","message":"origin https://a.example is not allowed"}"#, None));
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!((report.dropped, report.remaining), (2, 0));
    let r = &s.reports.borrow()[0];
    assert_eq!((r.code.as_str(), r.event_ids.clone()), ("http_403", ids));
    assert!(r
        .message
        .contains("origin https://a.example is not allowed"));
}

#[test]
fn events_older_than_7_days_are_dropped_before_sending() {
    let s = setup();
    let old = track(&s, 1);
    s.platform
        .now
        .set(T0 + agent_track_schema::limits::MAX_EVENT_AGE_MS + 1);
    let fresh = track(&s, 1);
    let report = block_on(s.tracker.flush()).unwrap();
    assert_eq!(
        (report.sent, report.dropped),
        (1, 0),
        "expiry is counted in stats, reported"
    );
    assert_eq!(s.transport.batches(), [fresh]);
    assert_eq!(s.tracker.stats().dropped, 1);
    assert_eq!(
        (
            s.reports.borrow()[0].code.as_str(),
            s.reports.borrow()[0].event_ids.clone()
        ),
        ("expired", old)
    );
}

#[test]
fn nothing_is_sent_offline_or_without_an_endpoint() {
    let s = setup();
    track(&s, 1);
    s.platform.offline.set(true);
    assert_eq!(block_on(s.tracker.flush()).unwrap_err().code(), "offline");
    assert!(block_on(s.tracker.flush_if_due()).is_none());
    assert!(s.transport.requests().is_empty());

    let t = Tracker::new(
        Some(Box::new(MemoryStorage::new())),
        Rc::new(FixedPlatform::at(T0)),
    );
    t.set_transport(Rc::new(RecordingTransport::new()));
    t.track_agent(
        EventType::Prompt,
        AgentProperties::new("a", "c", "m", "x"),
        Map::new(),
    )
    .unwrap();
    assert_eq!(block_on(t.flush()).unwrap_err().code(), "no_endpoint");
    assert_eq!(t.stats().queued, 1);
}

#[test]
fn the_page_hide_send_is_one_keepalive_batch_within_64_kb() {
    let s = setup();
    // ~1 KB events: 64 KB holds about 60 of them.
    let big = "x".repeat(1000);
    for i in 0..100 {
        s.tracker
            .track_agent(
                EventType::Prompt,
                AgentProperties::new("a", "c", format!("m{i}"), big.clone()),
                Map::new(),
            )
            .unwrap();
    }
    let report = block_on(s.tracker.flush_on_hide()).unwrap().unwrap();
    let requests = s.transport.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].keepalive);
    assert!(
        requests[0].body.len() <= 64 * 1024,
        "{}",
        requests[0].body.len()
    );
    assert!(
        report.sent > 50 && report.remaining == 100 - report.sent as usize,
        "{report:?}"
    );
}

#[test]
fn events_tracked_before_configure_are_sent_with_the_visitor() {
    let platform = Rc::new(FixedPlatform::at(T0));
    let t = Tracker::new(Some(Box::new(MemoryStorage::new())), platform);
    let transport = RecordingTransport::new();
    t.set_transport(Rc::new(transport.clone()));
    t.track_agent(
        EventType::Prompt,
        AgentProperties::new("a", "c", "m", "early"),
        Map::new(),
    )
    .unwrap();
    t.configure(
        Config {
            endpoint: Some("/e".into()),
            visitor_id: Some("late".into()),
            ..Config::default()
        },
        Hooks::default(),
    );
    block_on(t.flush()).unwrap();
    let body: serde_json::Value = serde_json::from_str(&transport.requests()[0].body).unwrap();
    assert_eq!(body["events"][0]["visitorId"], "late");
}

#[test]
fn an_event_in_flight_is_never_both_dropped_and_sent() {
    use crate::delivery::{Pending, Transport};
    // A transport that tracks more events while the batch is "on the wire", past the cap.
    struct Busy(Tracker, RecordingTransport);
    impl Transport for Busy {
        fn send(&self, endpoint: &str, body: String, keepalive: bool) -> Pending<Reply> {
            if self.1.requests().is_empty() {
                for i in 0..5 {
                    self.0
                        .track_agent(
                            EventType::Prompt,
                            AgentProperties::new("a", "c", format!("late{i}"), "x"),
                            Map::new(),
                        )
                        .unwrap();
                }
            }
            self.1.send(endpoint, body, keepalive)
        }
    }
    let platform = Rc::new(FixedPlatform::at(T0));
    let tracker = Tracker::new(Some(Box::new(MemoryStorage::new())), platform);
    let recording = RecordingTransport::new();
    tracker.set_transport(Rc::new(Busy(tracker.clone(), recording.clone())));
    let caps = crate::queue::Caps {
        max_events: 3,
        max_bytes: 1 << 20,
    };
    tracker.configure(
        Config {
            endpoint: Some("/e".into()),
            visitor_id: Some("v".into()),
            caps,
            ..Config::default()
        },
        Hooks::default(),
    );
    for i in 0..3 {
        tracker
            .track_agent(
                EventType::Prompt,
                AgentProperties::new("a", "c", format!("m{i}"), "x"),
                Map::new(),
            )
            .unwrap();
    }
    let report = block_on(tracker.flush()).unwrap();
    let stats = tracker.stats();
    let delivered: usize = recording.batches().iter().map(Vec::len).sum();
    // 3 tracked before the flush, 5 while the first batch was on the wire.
    let tracked = 3 + 5;
    assert_eq!(stats.sent as usize, delivered);
    assert_eq!(
        stats.sent + stats.dropped + stats.queued as u64,
        tracked,
        "{stats:?} {report:?}"
    );
    assert_eq!(
        stats.dropped, 2,
        "the 2 oldest late events, not the 3 in flight"
    );
}

/// The step-by-step API that `js/browser.js` drives (the npm package's passes): the same
/// decisions as `flush()`, one body at a time, and no second automatic pass while one runs.
#[test]
fn a_pass_driven_step_by_step_splits_acknowledges_and_ends() {
    let s = setup();
    let ids = track(&s, 4);
    assert!(s.tracker.pass_due(Mode::Normal));
    let mut pass = s.tracker.begin_pass(Mode::Normal).unwrap();
    assert_eq!(pass.endpoint(), "/v1/events");
    assert!(!pass.keepalive());
    assert!(
        !s.tracker.pass_due(Mode::Normal),
        "one automatic pass at a time"
    );
    let mut sent = Vec::new();
    let mut replies = vec![http(413, "", None)].into_iter();
    while let Some(body) = s.tracker.next_body(&mut pass).unwrap() {
        sent.push(event_ids(&body));
        let reply = replies
            .next()
            .unwrap_or_else(|| http(200, r#"{"requestId":"r","accepted":1}"#, None));
        s.tracker.answer(&mut pass, &reply).unwrap();
    }
    assert_eq!(sent, [ids.clone(), ids[..2].to_vec(), ids[2..].to_vec()]);
    let report = s.tracker.finish_pass(pass);
    let report = s.tracker.end_pass(Ok(report)).unwrap();
    assert_eq!((report.sent, report.remaining), (4, 0));
    assert_eq!(s.tracker.stats().queued, 0);
}

#[test]
fn a_driven_pass_stops_on_a_retry_and_sets_the_backoff() {
    let s = setup();
    track(&s, 2);
    let mut pass = s.tracker.begin_pass(Mode::Normal).unwrap();
    assert!(s.tracker.next_body(&mut pass).unwrap().is_some());
    let err = s
        .tracker
        .answer(&mut pass, &http(503, "", Some("30")))
        .unwrap_err();
    assert_eq!(err.code(), "delivery_failed");
    assert!(s.tracker.end_pass(Err(err)).is_err());
    assert_eq!(s.tracker.retry_at(), Some(T0 + 30_000));
    assert!(!s.tracker.pass_due(Mode::Normal), "backing off");
    assert!(
        s.tracker.pass_due(Mode::Keepalive),
        "the page-hide send goes even while backing off"
    );
    assert_eq!(s.tracker.stats().queued, 2);
}

#[test]
fn a_keepalive_pass_sends_one_body() {
    let s = setup();
    track(&s, 3);
    let mut pass = s.tracker.begin_pass(Mode::Keepalive).unwrap();
    assert!(pass.keepalive());
    assert!(s.tracker.next_body(&mut pass).unwrap().is_some());
    s.tracker
        .answer(
            &mut pass,
            &http(200, r#"{"requestId":"r","accepted":1}"#, None),
        )
        .unwrap();
    assert_eq!(s.tracker.next_body(&mut pass).unwrap(), None);
    let report = s.tracker.finish_pass(pass);
    assert_eq!(s.tracker.end_pass(Ok(report)).unwrap().sent, 3);
}
