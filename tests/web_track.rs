//! trackAgent and configure called with JS values, as a page calls them.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn track_agent_queues_a_stamped_event_and_returns_its_id() {
    fresh();
    configure("({endpoint: '/v1/events', visitorId: 'v-42', accountId: 'acme'})").unwrap();
    let id = track("'prompt'", PROMPT).unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "7", "a UUIDv7: {id}");
    assert_eq!(queued_keys(), [format!("agent-track:v1:q:{id}")]);
    assert_eq!(stat("queued"), 1.0);

    let stored = local_storage()
        .get_item(&queued_keys()[0])
        .unwrap()
        .unwrap();
    let event = js_sys::JSON::parse(&stored).unwrap();
    assert_eq!(get(&event, "eventId").as_string().unwrap(), id);
    assert_eq!(get(&event, "visitorId").as_string().unwrap(), "v-42");
    assert_eq!(get(&event, "accountId").as_string().unwrap(), "acme");
    let now = js_sys::Date::now();
    assert!((now - get(&event, "timestamp").as_f64().unwrap()).abs() < 60_000.0);
    let context = get(&event, "context");
    let location = web_sys::window().unwrap().location().href().unwrap();
    assert_eq!(get(&context, "url").as_string().unwrap(), location);
    assert_eq!(
        get(&context, "userAgent").as_string(),
        web_sys::window().unwrap().navigator().user_agent().ok()
    );
    assert_eq!(get(&context, "seq").as_f64(), Some(1.0));
    assert!(get(&context, "sdk")
        .as_string()
        .unwrap()
        .starts_with("agent-track/"));
}

#[wasm_bindgen_test]
fn invalid_input_throws_an_agent_track_error_and_queues_nothing() {
    fresh();
    let err = track("'prompt'", "({agentId: 'a', conversationID: 'c', messageId: 'm', content: 'x', agentInputTokenCount: 1.5})").unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>(), "a real Error");
    assert_eq!(get(&err, "name").as_string().unwrap(), "AgentTrackError");
    assert_eq!(get(&err, "code").as_string().unwrap(), "unknown_property");
    assert_eq!(
        get(&err, "field").as_string().unwrap(),
        "properties.conversationID"
    );
    let message = get(&err, "message").as_string().unwrap();
    assert!(
        message.contains("did you mean `conversationId`?"),
        "{message}"
    );
    assert!(message.contains("and 2 more problems"), "{message}");
    let errors: js_sys::Array = get(&err, "errors").unchecked_into();
    let fields: Vec<String> = errors
        .iter()
        .map(|p| get(&p, "field").as_string().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "properties.conversationID",
            "properties.conversationId",
            "properties.agentInputTokenCount"
        ]
    );
    assert_eq!(
        get(&errors.get(2), "code").as_string().unwrap(),
        "invalid_token_count"
    );
    assert!(queued_keys().is_empty());
    assert_eq!(stat("queued"), 0.0);
}

#[wasm_bindgen_test]
fn token_counts_from_js_numbers() {
    fresh();
    let with = |count: &str| {
        format!("({{agentId: 'a', conversationId: 'c', messageId: 'm', content: 'x', agentOutputTokenCount: {count}}})")
    };
    assert!(track("'agent_response'", &with("12")).is_ok());
    assert!(track("'agent_response'", &with("0")).is_ok());
    for bad in ["1.5", "-1", "'12'", "NaN", "Infinity"] {
        let err = track("'agent_response'", &with(bad)).unwrap_err();
        assert_eq!(
            get(&err, "code").as_string().unwrap(),
            "invalid_token_count",
            "{bad}"
        );
    }
    assert_eq!(stat("queued"), 2.0);
}

#[wasm_bindgen_test]
fn bad_event_types_and_non_objects_are_named() {
    fresh();
    let err = track("'agentResponse'", PROMPT).unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "invalid_event_type");
    assert!(get(&err, "message")
        .as_string()
        .unwrap()
        .contains("did you mean \"agent_response\"?"));
    let err = track("42", PROMPT).unwrap_err();
    assert_eq!(get(&err, "field").as_string().unwrap(), "eventType");
    let err = track("'prompt'", "undefined").unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "not_an_object");
    let err = agent_track::browser::js::track_agent(
        js("'prompt'").unchecked_into(),
        js(PROMPT).unchecked_into(),
        Some(js("({n: 10n})").unchecked_into()),
    )
    .unwrap_err();
    assert_eq!(get(&err, "field").as_string().unwrap(), "eventProperties");
    assert!(queued_keys().is_empty());
}

#[wasm_bindgen_test]
fn reactions_and_traces_are_accepted() {
    fresh();
    track("'user_reaction'", "({agentId: 'a', conversationId: 'c', messageId: 'resp-1', content: 'negative', agentUserReactionComments: ['wrong order number']})").unwrap();
    track("'agent_trace'", "({agentId: 'a', conversationId: 'c', messageId: 'span-1', content: JSON.stringify({name: 'search', ms: 12})})").unwrap();
    let err = track(
        "'user_reaction'",
        "({agentId: 'a', conversationId: 'c', messageId: 'm', content: 'thumbs_up'})",
    )
    .unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "invalid_reaction");
    assert_eq!(stat("queued"), 2.0);
}

#[wasm_bindgen_test]
fn events_tracked_before_configure_get_the_configured_ids() {
    fresh();
    track("'prompt'", PROMPT).unwrap();
    let before = local_storage()
        .get_item(&queued_keys()[0])
        .unwrap()
        .unwrap();
    assert!(!before.contains("visitorId"), "{before}");
    configure("({endpoint: '/v1/events', visitorId: 'late-visitor'})").unwrap();
    let after = local_storage()
        .get_item(&queued_keys()[0])
        .unwrap()
        .unwrap();
    assert!(after.contains("\"visitorId\":\"late-visitor\""), "{after}");
}

#[wasm_bindgen_test]
fn anonymous_visitors_keep_one_id() {
    fresh();
    configure("({endpoint: '/v1/events'})").unwrap();
    track("'prompt'", PROMPT).unwrap();
    let anon = local_storage()
        .get_item(agent_track::keys::ANONYMOUS_ID_KEY)
        .unwrap()
        .unwrap();
    assert!(anon.starts_with("anon-"));
    let stored = local_storage()
        .get_item(&queued_keys()[0])
        .unwrap()
        .unwrap();
    assert!(stored.contains(&anon));
}

#[wasm_bindgen_test]
fn configure_names_the_bad_option() {
    fresh();
    let err = configure("({endpoint: '/v1/events', flushAt: 0})").unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "invalid_config");
    assert_eq!(get(&err, "field").as_string().unwrap(), "flushAt");
    assert!(get(&err, "message")
        .as_string()
        .unwrap()
        .contains("from 1 to 500"));
    let err = configure("({endpoint: '/v1/events', onErorr: () => {}})").unwrap_err();
    assert!(get(&err, "message")
        .as_string()
        .unwrap()
        .contains("did you mean `onError`?"));
    let err = configure("({beforeSend: 'redact'})").unwrap_err();
    assert_eq!(
        get(&err, "message").as_string().unwrap(),
        "beforeSend must be a function"
    );
    let err = configure("'x'").unwrap_err();
    assert_eq!(get(&err, "field").as_string().unwrap(), "config");
}

#[wasm_bindgen_test]
fn before_send_redacts_before_local_storage() {
    fresh();
    configure("({endpoint: '/v1/events', beforeSend: (e) => { e.properties.content = e.properties.content.replace(/\\S+@\\S+/g, '[email]'); delete e.context.url; return e; }})").unwrap();
    track(
        "'prompt'",
        "({agentId: 'a', conversationId: 'c', messageId: 'm', content: 'mail jo@example.com now'})",
    )
    .unwrap();
    let stored = local_storage()
        .get_item(&queued_keys()[0])
        .unwrap()
        .unwrap();
    assert!(stored.contains("mail [email] now"), "{stored}");
    assert!(
        !stored.contains("jo@example.com") && !stored.contains("\"url\""),
        "{stored}"
    );

    configure("({beforeSend: (e) => e.properties.agentId === 'drop' ? null : e})").unwrap();
    track(
        "'prompt'",
        "({agentId: 'drop', conversationId: 'c', messageId: 'm', content: 'x'})",
    )
    .unwrap();
    assert_eq!((stat("queued"), stat("dropped")), (1.0, 0.0));

    configure("({beforeSend: () => { throw new Error('redactor down') }})").unwrap();
    let err = track("'prompt'", PROMPT).unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "before_send_failed");
    assert!(get(&err, "message")
        .as_string()
        .unwrap()
        .contains("redactor down"));
    assert_eq!(stat("queued"), 1.0);
}
