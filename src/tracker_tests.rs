use super::*;
use crate::platform::FixedPlatform;
use crate::queue::Caps;
use crate::storage::MemoryStorage;
use serde_json::json;
use std::cell::RefCell;

fn tracker() -> Tracker {
    Tracker::new(
        Some(Box::new(MemoryStorage::new())),
        Rc::new(FixedPlatform::at(1_000)),
    )
}

fn props() -> AgentProperties {
    AgentProperties::new("a", "c", "m", "my email is jo@example.com")
}

#[test]
fn the_typed_api_queues_events() {
    let t = tracker();
    let id = t
        .track_agent(EventType::Prompt, props(), Map::new())
        .unwrap()
        .unwrap();
    assert_eq!(t.queued_events()[0].event_id, id);
    assert_eq!(t.stats().queued, 1);
}

#[test]
fn before_send_redacts_before_storage() {
    let storage = MemoryStorage::new();
    let t = Tracker::new(
        Some(Box::new(storage.clone())),
        Rc::new(FixedPlatform::at(1_000)),
    );
    let hook: BeforeSend = Rc::new(|mut e: Event| {
        e.properties.content = e.properties.content.replace("jo@example.com", "[email]");
        e.event_id = "forged".into();
        Ok(Some(e))
    });
    t.configure(
        Config::default(),
        Hooks {
            before_send: Some(hook),
            ..Hooks::default()
        },
    );
    let id = t
        .track_agent(EventType::Prompt, props(), Map::new())
        .unwrap()
        .unwrap();
    let stored = storage
        .keys("")
        .unwrap()
        .into_iter()
        .map(|k| storage.get(&k).unwrap().unwrap())
        .collect::<String>();
    assert!(!stored.contains("jo@example.com"), "{stored}");
    assert!(stored.contains("[email]"));
    assert_eq!(
        t.queued_events()[0].event_id,
        id,
        "the hook cannot change the id"
    );
}

#[test]
fn before_send_null_filters_without_counting() {
    let t = tracker();
    t.configure(
        Config::default(),
        Hooks {
            before_send: Some(Rc::new(|_| Ok(None))),
            ..Hooks::default()
        },
    );
    assert_eq!(
        t.track_agent(EventType::Prompt, props(), Map::new())
            .unwrap(),
        None
    );
    let s = t.stats();
    assert_eq!((s.queued, s.dropped, s.rejected), (0, 0, 0));
}

#[test]
fn a_failing_before_send_stores_nothing() {
    let t = tracker();
    t.configure(
        Config::default(),
        Hooks {
            before_send: Some(Rc::new(|_| Err("boom".into()))),
            ..Hooks::default()
        },
    );
    let err = t
        .track_agent(EventType::Prompt, props(), Map::new())
        .unwrap_err();
    assert_eq!(err.code(), "before_send_failed");
    assert!(err.to_string().contains("boom"));
    assert_eq!(t.stats().queued, 0);
}

#[test]
fn before_send_output_is_validated_again() {
    let t = tracker();
    let hook: BeforeSend = Rc::new(|mut e: Event| {
        e.properties.agent_id.clear();
        Ok(Some(e))
    });
    t.configure(
        Config::default(),
        Hooks {
            before_send: Some(hook),
            ..Hooks::default()
        },
    );
    let err = t
        .track_json(
            "prompt",
            &json!({"agentId":"a","conversationId":"c","messageId":"m","content":"x"}),
            None,
        )
        .unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("empty_string", Some("properties.agentId"))
    );
}

#[test]
fn on_error_may_call_the_tracker_again() {
    let t = tracker();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (t2, seen2) = (t.clone(), seen.clone());
    let on_error: OnError = Rc::new(move |r: &Report| {
        seen2.borrow_mut().push(r.code.clone());
        // Re-entering must not panic.
        let _ = t2.stats();
    });
    t.configure(
        Config {
            caps: Caps {
                max_events: 1,
                ..Caps::default()
            },
            ..Config::default()
        },
        Hooks {
            on_error: Some(on_error),
            ..Hooks::default()
        },
    );
    t.track_agent(EventType::Prompt, props(), Map::new())
        .unwrap();
    t.track_agent(EventType::Prompt, props(), Map::new())
        .unwrap();
    assert_eq!(*seen.borrow(), ["queue_full"]);
}

#[test]
fn opting_out_stops_capture_clears_the_queue_and_persists() {
    let storage = MemoryStorage::new();
    let t = Tracker::new(
        Some(Box::new(storage.clone())),
        Rc::new(FixedPlatform::at(1_000)),
    );
    t.track_agent(EventType::Prompt, props(), Map::new())
        .unwrap();
    t.opt_out();
    assert_eq!(t.stats().queued, 0);
    assert_eq!(t.stats().dropped, 0, "withdrawn, not dropped");
    assert_eq!(
        t.track_agent(EventType::Prompt, props(), Map::new())
            .unwrap(),
        None
    );
    let reloaded = Tracker::new(
        Some(Box::new(storage.clone())),
        Rc::new(FixedPlatform::at(2_000)),
    );
    assert!(reloaded.is_opted_out());
    reloaded.opt_in();
    assert!(reloaded
        .track_agent(EventType::Prompt, props(), Map::new())
        .unwrap()
        .is_some());
}

#[test]
fn reaching_flush_at_calls_the_due_hook() {
    let t = tracker();
    let due = Rc::new(std::cell::Cell::new(0));
    let d = due.clone();
    t.on_flush_due(Rc::new(move || d.set(d.get() + 1)));
    t.configure(
        Config {
            flush_at: 3,
            ..Config::default()
        },
        Hooks::default(),
    );
    for _ in 0..4 {
        t.track_agent(EventType::Prompt, props(), Map::new())
            .unwrap();
    }
    assert_eq!(due.get(), 2, "at 3 and at 4 queued events");
}
