use super::*;
use crate::platform::{FixedPlatform, Page};
use crate::queue::Caps;
use crate::storage::MemoryStorage;
use serde_json::json;

const T0: u64 = 1_763_712_000_000;

fn engine_on(storage: &MemoryStorage) -> (Engine, Rc<FixedPlatform>) {
    let mut platform = FixedPlatform::at(T0);
    platform.page = Page {
        url: Some("https://app.example/chat".into()),
        title: Some("Chat".into()),
        user_agent: Some("UA".into()),
        language: Some("en-US".into()),
    };
    let platform = Rc::new(platform);
    (
        Engine::new(Some(Box::new(storage.clone())), platform.clone()),
        platform,
    )
}

fn props(content: &str) -> Value {
    json!({"agentId":"a","conversationId":"c","messageId":"m","content":content})
}

fn track(engine: &mut Engine, t: &str, p: Value) -> Result<String, Error> {
    let e = engine.prepare_json(t, &p, None)?;
    engine.commit(e)
}

fn configured(visitor: Option<&str>) -> Config {
    Config {
        endpoint: Some("/v1/events".into()),
        visitor_id: visitor.map(Into::into),
        account_id: Some("acme".into()),
        ..Config::default()
    }
}

#[test]
fn an_event_is_stamped_and_queued() {
    let storage = MemoryStorage::new();
    let (mut engine, _) = engine_on(&storage);
    engine.configure(configured(Some("v1")));
    let id = track(&mut engine, "prompt", props("hi")).unwrap();
    let events = engine.queued_events(10);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.event_id, id);
    assert_eq!(
        (
            e.timestamp,
            e.visitor_id.as_deref(),
            e.account_id.as_deref()
        ),
        (T0, Some("v1"), Some("acme"))
    );
    assert_eq!(e.context.url.as_deref(), Some("https://app.example/chat"));
    assert_eq!((e.context.seq, e.context.sdk.as_str()), (1, SDK));
    assert_eq!(
        storage
            .get(&format!("{}{id}", crate::queue::QUEUE_PREFIX))
            .unwrap()
            .map(|s| s.contains("\"content\":\"hi\"")),
        Some(true)
    );
}

#[test]
fn seq_and_ids_increase() {
    let (mut engine, _) = engine_on(&MemoryStorage::new());
    let a = track(&mut engine, "prompt", props("1")).unwrap();
    let b = track(&mut engine, "agent_response", props("2")).unwrap();
    assert!(a < b);
    let seqs: Vec<u64> = engine
        .queued_events(10)
        .iter()
        .map(|e| e.context.seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
}

#[test]
fn invalid_input_queues_nothing_and_reports_every_problem() {
    let storage = MemoryStorage::new();
    let (mut engine, _) = engine_on(&storage);
    let err = engine
        .prepare_json(
            "promt",
            &json!({"agentId": 1, "conversationID": "c"}),
            Some(&json!([1])),
        )
        .unwrap_err();
    let Error::Validation(problems) = &err else {
        panic!("{err:?}")
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "eventType",
            "properties.conversationID",
            "properties.conversationId",
            "properties.messageId",
            "properties.content",
            "properties.agentId",
            "eventProperties"
        ]
    );
    assert!(storage.is_empty());
    assert_eq!(engine.stats().queued, 0);
}

#[test]
fn events_before_configure_get_the_configured_ids() {
    let (mut engine, _) = engine_on(&MemoryStorage::new());
    track(&mut engine, "prompt", props("early")).unwrap();
    assert_eq!(engine.queued_events(1)[0].visitor_id, None);
    engine.configure(configured(Some("v9")));
    track(&mut engine, "prompt", props("later")).unwrap();
    let events = engine.queued_events(10);
    assert!(events
        .iter()
        .all(|e| e.visitor_id.as_deref() == Some("v9") && e.account_id.as_deref() == Some("acme")));
}

#[test]
fn without_a_visitor_id_an_anonymous_one_is_kept() {
    let storage = MemoryStorage::new();
    let (mut engine, _) = engine_on(&storage);
    engine.configure(configured(None));
    track(&mut engine, "prompt", props("x")).unwrap();
    let anon = engine.queued_events(1)[0].visitor_id.clone().unwrap();
    assert!(anon.starts_with("anon-"), "{anon}");
    // The next page load reuses it.
    let (mut again, _) = engine_on(&storage);
    again.configure(configured(None));
    track(&mut again, "prompt", props("y")).unwrap();
    assert!(again
        .queued_events(10)
        .iter()
        .all(|e| e.visitor_id.as_deref() == Some(anon.as_str())));
    // Read once per tracker, not per event: a stored id changed under it (another tab's
    // race to create one) does not split this page's events between two visitors.
    storage.set(ANONYMOUS_ID_KEY, "anon-other").unwrap();
    track(&mut again, "prompt", props("z")).unwrap();
    assert!(again
        .queued_events(10)
        .iter()
        .all(|e| e.visitor_id.as_deref() == Some(anon.as_str())));
}

#[test]
fn events_survive_a_reload() {
    let storage = MemoryStorage::new();
    let (mut engine, _) = engine_on(&storage);
    for i in 0..3 {
        track(&mut engine, "prompt", props(&i.to_string())).unwrap();
    }
    drop(engine);
    let (mut reloaded, _) = engine_on(&storage);
    let contents: Vec<String> = reloaded
        .queued_events(10)
        .into_iter()
        .map(|e| e.properties.content)
        .collect();
    assert_eq!(contents, ["0", "1", "2"]);
    assert_eq!(reloaded.stats().queued, 3);
}

#[test]
fn the_cap_drops_the_oldest_counts_and_reports() {
    let (mut engine, _) = engine_on(&MemoryStorage::new());
    engine.configure(Config {
        caps: Caps {
            max_events: 2,
            ..Caps::default()
        },
        ..configured(Some("v"))
    });
    let first = track(&mut engine, "prompt", props("1")).unwrap();
    track(&mut engine, "prompt", props("2")).unwrap();
    track(&mut engine, "prompt", props("3")).unwrap();
    let stats = engine.stats();
    assert_eq!((stats.queued, stats.dropped), (2, 1));
    let reports = engine.take_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].code.as_str(), reports[0].event_ids.clone()),
        ("queue_full", vec![first])
    );
    assert!(
        reports[0].message.contains("maxQueueEvents"),
        "{}",
        reports[0].message
    );
    assert_eq!(stats.last_error.unwrap().code, "queue_full");
}

#[test]
fn a_full_storage_keeps_events_in_memory_with_one_warning() {
    let storage = MemoryStorage::with_quota(600);
    let (mut engine, platform) = engine_on(&storage);
    for i in 0..5 {
        track(&mut engine, "prompt", props(&i.to_string()))
            .expect("never an exception for storage");
    }
    assert_eq!(engine.stats().queued, 5);
    assert_eq!((engine.stats().dropped, storage.len()), (0, 1));
    let warnings = platform.warnings.borrow();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("QuotaExceededError"),
        "{}",
        warnings[0]
    );
}

#[test]
fn missing_storage_still_tracks() {
    let platform = Rc::new(FixedPlatform::at(T0));
    let mut engine = Engine::new(None, platform.clone());
    track(&mut engine, "prompt", props("x")).unwrap();
    assert_eq!(engine.stats().queued, 1);
    assert_eq!(platform.warnings.borrow().len(), 1);
}

#[test]
fn an_event_over_128_kb_is_refused() {
    let (mut engine, _) = engine_on(&MemoryStorage::new());
    // 100 KB of content that JSON-escapes to twice its size.
    let content = "\"".repeat(100 * 1024);
    let err = track(&mut engine, "agent_response", props(&content)).unwrap_err();
    assert_eq!((err.code(), err.field()), ("too_large", Some("event")));
    assert_eq!(engine.stats().queued, 0);
}

#[test]
fn typed_input_is_validated_too() {
    let (mut engine, _) = engine_on(&MemoryStorage::new());
    let err = engine
        .prepare(
            EventType::UserReaction,
            AgentProperties::new("a", "c", "m", "like"),
            Map::new(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "invalid_reaction");
}
