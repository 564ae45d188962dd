//! Property tests: the validation of untrusted input never panics, whatever the JSON, and
//! what it accepts round-trips. The case count comes from PROPTEST_CASES (CI runs a short
//! pass; `PROPTEST_CASES=200000 cargo test -p agent-track-schema --test fuzz_validation
//! --release` is the longer run).

use agent_track_schema::json::write::{event_json, problems_json};
use agent_track_schema::json::Doc;
use agent_track_schema::{parse_event, parse_event_properties, parse_properties, EventType};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Any JSON value, nested up to a few levels, with strings that look like the schema's names
/// as often as random ones.
fn any_json() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("agentId".to_string()),
        Just("conversationId".to_string()),
        Just("messageId".to_string()),
        Just("content".to_string()),
        Just("toolsUsed".to_string()),
        Just("agentInputTokenCount".to_string()),
        Just("agentFilesUploaded".to_string()),
        Just("type".to_string()),
        Just("name".to_string()),
        Just("eventId".to_string()),
        Just("timestamp".to_string()),
        Just("context".to_string()),
        Just("properties".to_string()),
        Just("seq".to_string()),
        Just("sdk".to_string()),
        "[a-zA-Z_]{0,12}",
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("prompt".to_string()),
            Just("user_reaction".to_string()),
            Just("positive".to_string()),
            Just("unreact".to_string()),
            ".{0,20}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((names.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn event_type() -> impl Strategy<Value = EventType> {
    prop::sample::select(EventType::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000), ..ProptestConfig::default() })]

    #[test]
    fn properties_never_panic_and_always_explain(t in event_type(), v in any_json()) {
        match parse_properties(t, &v) {
            Ok(p) => prop_assert_eq!(p.validate(t), Ok(())),
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for p in problems {
                    prop_assert!(p.field.starts_with("properties"), "{}", p.field);
                    prop_assert!(p.message.contains(&p.field) || p.field == "properties", "{}", p.message);
                }
            }
        }
    }

    #[test]
    fn events_never_panic_and_accepted_ones_round_trip(v in any_json()) {
        if let Ok(e) = parse_event(&v) {
            let again = parse_event(&serde_json::to_value(&e).unwrap()).unwrap();
            prop_assert_eq!(again, e);
        }
    }

    /// The browser module reads JSON text with `Doc`, writes events with `event_json` and the
    /// problems it throws with `problems_json`: each must agree with serde_json on every input,
    /// accepted or not.
    #[test]
    fn the_browser_reader_and_writer_agree_with_serde(v in any_json()) {
        let text = v.to_string();
        let doc = Doc::parse(&text).unwrap();
        let by_doc = parse_event(doc.root());
        let by_serde = parse_event(&v);
        prop_assert_eq!(&by_doc, &by_serde);
        match by_serde {
            Ok(e) => prop_assert_eq!(event_json(&e), serde_json::to_string(&e).unwrap()),
            Err(problems) => prop_assert_eq!(problems_json(&problems), serde_json::to_string(&problems).unwrap()),
        }
        for t in EventType::ALL {
            prop_assert_eq!(parse_properties(t, doc.root()), parse_properties(t, &v));
        }
    }

    #[test]
    fn valid_events_are_written_as_serde_writes_them(content in ".{0,200}", title in proptest::option::of(".{0,30}"), tokens in proptest::option::of(0u64..1u64 << 53), tools in proptest::option::of(prop::collection::vec(".{0,12}", 0..4)), custom in any_json()) {
        let mut v = json!({"eventId": "e", "type": "agent_response", "timestamp": 1763712000000u64, "visitorId": "v",
            "properties": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": content},
            "context": {"seq": 1, "sdk": "agent-track/0.1.0"}});
        if let Some(t) = title { v["context"]["title"] = json!(t); }
        if let Some(n) = tokens { v["properties"]["agentOutputTokenCount"] = json!(n); }
        if let Some(t) = tools { v["properties"]["toolsUsed"] = json!(t); }
        if custom.is_object() { v["eventProperties"] = custom; }
        if let Ok(e) = parse_event(&v) {
            prop_assert_eq!(event_json(&e), serde_json::to_string(&e).unwrap());
            let text = event_json(&e);
            prop_assert_eq!(parse_event(Doc::parse(&text).unwrap().root()).unwrap(), e);
        }
    }

    #[test]
    fn event_properties_never_panic(v in any_json()) {
        let _ = parse_event_properties(Some(&v));
    }

    #[test]
    fn valid_events_with_random_content_are_accepted(content in ".{1,200}", tools in prop::collection::vec("[a-z_]{1,12}", 0..5), tokens in 0u64..1_000_000) {
        let v = json!({"eventId": "e", "type": "agent_response", "timestamp": 1, "visitorId": "v",
            "properties": {"agentId": "a", "conversationId": "c", "messageId": "m", "content": content,
                           "toolsUsed": tools, "agentInputTokenCount": tokens},
            "context": {"seq": 1, "sdk": "agent-track/0.1.0"}});
        let e = parse_event(&v).unwrap();
        prop_assert_eq!(e.properties.agent_input_token_count, Some(tokens));
    }
}

#[test]
fn hostile_shapes_are_refused_not_crashed() {
    // Deep nesting: parse_event_properties walks iteratively.
    let mut deep = json!(1);
    for _ in 0..100_000 {
        deep = Value::Array(vec![deep]);
    }
    let mut props = Map::new();
    props.insert("k".into(), deep);
    let props = Value::Object(props);
    assert_eq!(
        parse_event_properties(Some(&props)).unwrap_err().code,
        agent_track_schema::Code::TooDeep
    );
    // Value's own Drop of a deep tree recurses; leak it rather than overflow the test's stack.
    // (Input from JSON text cannot get this deep: serde_json stops at 128 levels.)
    std::mem::forget(props);
    let huge = json!({"agentId": "a", "conversationId": "c", "messageId": "m", "content": "x".repeat(10 << 20)});
    assert!(parse_properties(EventType::Prompt, &huge).is_err());
}
