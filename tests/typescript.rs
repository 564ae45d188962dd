//! The hand-written TypeScript of the npm package (the `typescript_custom_section` of
//! `src/browser/js.rs`, shipped in `pkg/agent_track.d.ts`) against the Rust it describes: the
//! event types, the property names ([`KNOWN_PROPERTIES`]) and which are required, the event
//! and its context, the `configure` options ([`KNOWN_OPTIONS`]) with their stated defaults and
//! ranges ([`Config::default`], [`Config::from_json`]), the `stats()` fields ([`Stats`]) and
//! the `flush()` result fields ([`PassReport`]), each also against the hand-written JSON writer
//! in js.rs that builds the JS value. A name on one side only fails a test.
//!
//! Host only: it reads `js.rs` as text, so it needs no browser.

use std::collections::BTreeSet;

use agent_track::config::KNOWN_OPTIONS;
use agent_track::schema::envelope::{Context, Event};
use agent_track::schema::properties::KNOWN_PROPERTIES;
use agent_track::schema::FileUpload;
use agent_track::stats::{LastError, PassReport};
use agent_track::{AgentProperties, Config, EventType, Stats};
use serde_json::{json, Value};

const JS_RS: &str = include_str!("../src/browser/js.rs");

/// The TypeScript text: the raw string after `typescript_custom_section`.
fn typescript() -> &'static str {
    let section = JS_RS
        .find("typescript_custom_section")
        .expect("js.rs has a typescript_custom_section");
    let rest = &JS_RS[section..];
    let start = rest.find("r#\"").expect("the section is a raw string") + 3;
    let end = rest[start..].find("\"#").expect("the raw string ends");
    &rest[start..start + end]
}

/// One member of a TypeScript object type.
#[derive(Debug)]
struct Member {
    name: String,
    optional: bool,
    /// The text after the colon.
    ty: String,
    /// The `/** ... */` comments before it, joined.
    doc: String,
}

/// The members of `export interface NAME { ... }`.
fn interface(name: &str) -> Vec<Member> {
    let ts = typescript();
    let head = ["export interface ", name, " "].concat();
    let at = ts
        .find(&head)
        .unwrap_or_else(|| panic!("no `export interface {name}` in js.rs"));
    let open = at + ts[at..].find('{').expect("an interface has a body");
    members(body(&ts[open..]))
}

/// The text between the `{` that `text` starts with and its matching `}`.
fn body(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[1..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces in {text}")
}

/// Splits an object type's body into members at the `;` of depth 0 (comments are opaque).
fn members(body: &str) -> Vec<Member> {
    let mut segments = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0, 0);
    let bytes = body.as_bytes();
    while i < bytes.len() {
        if body[i..].starts_with("/*") {
            i += body[i..].find("*/").expect("comments end") + 2;
            continue;
        }
        match bytes[i] {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth -= 1,
            b';' if depth == 0 => {
                segments.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.push(&body[start..]);
    segments
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .map(member)
        .collect()
}

fn member(segment: &str) -> Member {
    let mut doc = String::new();
    let mut rest = segment.trim();
    while let Some(comment) = rest.strip_prefix("/*") {
        let end = comment.find("*/").expect("comments end");
        doc.push_str(comment[..end].trim_start_matches('*').trim());
        doc.push(' ');
        rest = comment[end + 2..].trim();
    }
    let colon = rest
        .find(':')
        .unwrap_or_else(|| panic!("not a member: {segment}"));
    let (name, optional) = match rest[..colon].trim().strip_suffix('?') {
        Some(name) => (name, true),
        None => (rest[..colon].trim(), false),
    };
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "not a member name: {name:?} in {segment}"
    );
    Member {
        name: name.to_string(),
        optional,
        ty: rest[colon + 1..].trim().to_string(),
        doc,
    }
}

fn names(members: &[Member]) -> BTreeSet<String> {
    members.iter().map(|m| m.name.clone()).collect()
}

fn required(members: &[Member]) -> BTreeSet<String> {
    members
        .iter()
        .filter(|m| !m.optional)
        .map(|m| m.name.clone())
        .collect()
}

/// The keys of a JSON object.
fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names.into_iter().map(str::to_string).collect()
}

#[track_caller]
fn same(what: &str, typescript: BTreeSet<String>, rust: BTreeSet<String>) {
    same_as(
        what,
        "the TypeScript of src/browser/js.rs",
        typescript,
        rust,
    );
}

#[track_caller]
fn same_as(what: &str, side: &str, names: BTreeSet<String>, rust: BTreeSet<String>) {
    let only_here: Vec<_> = names.difference(&rust).collect();
    let only_rust: Vec<_> = rust.difference(&names).collect();
    assert!(
        only_here.is_empty() && only_rust.is_empty(),
        "{what}: only in {side}: {only_here:?}; only in the Rust struct: {only_rust:?}"
    );
}

#[test]
fn event_types_match() {
    let ts = typescript();
    let line = ts
        .lines()
        .find(|l| l.starts_with("export type AgentEventType ="))
        .expect("AgentEventType is declared");
    let quoted = line.split('\'').skip(1).step_by(2);
    same(
        "AgentEventType",
        set(quoted),
        set(EventType::ALL.iter().map(|t| t.as_str())),
    );
}

#[test]
fn properties_match_the_schema() {
    let members = interface("AgentProperties");
    same("AgentProperties", names(&members), set(KNOWN_PROPERTIES));
    // Required in TypeScript exactly when a value with only the required ones has them.
    let minimal = serde_json::to_value(AgentProperties::new("a", "c", "m", "x")).unwrap();
    same(
        "AgentProperties (required)",
        required(&members),
        keys(&minimal),
    );

    let file = FileUpload {
        file_type: "pdf".into(),
        name: "a.pdf".into(),
    };
    same(
        "AgentFileUpload",
        names(&interface("AgentFileUpload")),
        keys(&serde_json::to_value(file).unwrap()),
    );
}

#[test]
fn the_event_and_its_context_match() {
    let full = Event {
        event_id: "e".into(),
        event_type: EventType::Prompt,
        timestamp: 1,
        visitor_id: Some("v".into()),
        account_id: Some("a".into()),
        properties: AgentProperties::new("a", "c", "m", "x"),
        event_properties: serde_json::from_value(json!({ "k": 1 })).unwrap(),
        context: Context {
            url: Some("u".into()),
            title: Some("t".into()),
            user_agent: Some("ua".into()),
            language: Some("en".into()),
            seq: 1,
            sdk: "agent-track/0".into(),
        },
    };
    let minimal = Event {
        visitor_id: None,
        account_id: None,
        event_properties: Default::default(),
        context: Context {
            seq: 1,
            sdk: "agent-track/0".into(),
            ..Context::default()
        },
        ..full.clone()
    };
    let full = serde_json::to_value(full).unwrap();
    let minimal = serde_json::to_value(minimal).unwrap();

    let members = interface("AgentEvent");
    same("AgentEvent", names(&members), keys(&full));
    same("AgentEvent (required)", required(&members), keys(&minimal));

    let context = members
        .iter()
        .find(|m| m.name == "context")
        .expect("AgentEvent has a context");
    let context = members_of_inline(&context.ty);
    same(
        "AgentEvent.context",
        names(&context),
        keys(&full["context"]),
    );
    same(
        "AgentEvent.context (required)",
        required(&context),
        keys(&minimal["context"]),
    );
}

/// The members of an inline object type (`{ a: string; b?: number }`, maybe `| null` after).
fn members_of_inline(ty: &str) -> Vec<Member> {
    let open = ty
        .find('{')
        .unwrap_or_else(|| panic!("not an object type: {ty}"));
    members(body(&ty[open..]))
}

/// The default of a numeric option, as `Config::default()` has it.
fn numeric_default(config: &Config, option: &str) -> Option<u64> {
    match option {
        "flushAt" => Some(config.flush_at as u64),
        "flushIntervalMs" => Some(config.flush_interval_ms.into()),
        "maxQueueEvents" => Some(config.caps.max_events as u64),
        "maxQueueBytes" => Some(config.caps.max_bytes as u64),
        _ => None,
    }
}

/// The first whole number after `word` in `doc`.
fn number_after(doc: &str, word: &str) -> Option<u64> {
    let at = doc.find(word)? + word.len();
    let digits: String = doc[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `(min-max)` in `doc`.
fn range(doc: &str) -> Option<(u64, u64)> {
    let open = doc.find('(')?;
    let close = open + doc[open..].find(')')?;
    let (min, max) = doc[open + 1..close].split_once('-')?;
    Some((min.trim().parse().ok()?, max.trim().parse().ok()?))
}

#[test]
fn configure_options_match_with_their_defaults_and_ranges() {
    let members = interface("AgentTrackConfig");
    same("AgentTrackConfig", names(&members), set(KNOWN_OPTIONS));
    assert!(
        members.iter().all(|m| m.optional),
        "every option of AgentTrackConfig is optional"
    );

    let defaults = Config::default();
    assert_eq!(
        Config::from_json(&json!({})).unwrap(),
        defaults,
        "configure({{}}) gives Config::default()"
    );
    for m in &members {
        let stated = number_after(&m.doc, "Default");
        let rust = numeric_default(&defaults, &m.name);
        assert_eq!(
            stated, rust,
            "the default of `{}`: the TypeScript doc comment says {stated:?}, Config::default() \
             has {rust:?} (a new numeric option goes in numeric_default too)",
            m.name
        );
        if let Some((min, max)) = range(&m.doc) {
            let accepts = |n: u64| Config::from_json(&json!({ m.name.as_str(): n })).is_ok();
            assert!(
                accepts(min) && accepts(max),
                "`{}`: {min} and {max} are accepted",
                m.name
            );
            assert!(
                !accepts(max + 1) && (min == 0 || !accepts(min - 1)),
                "`{}`: the range is {min}-{max}",
                m.name
            );
        } else {
            assert!(
                rust.is_none(),
                "`{}` states its range `(min-max)` in the TypeScript doc comment",
                m.name
            );
        }
    }
}

/// The quoted names a JSON writer function of js.rs writes (`field_u64(out, "sent", ..)`,
/// `"{\"code\":"`).
fn written(function: &str) -> BTreeSet<String> {
    let head = ["fn ", function, "("].concat();
    let at = JS_RS.find(&head).unwrap_or_else(|| {
        panic!("js.rs has no `fn {function}`: update tests/typescript.rs to what writes the value")
    });
    let open = at + JS_RS[at..].find('{').expect("a function has a body");
    let text = body(&JS_RS[open..]).replace('\\', "");
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices('"') {
        let ident: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !ident.is_empty() && text[i + 1 + ident.len()..].starts_with('"') && ident != "null" {
            found.insert(ident);
        }
    }
    found
}

#[test]
fn stats_fields_match() {
    let stats = Stats {
        last_error: Some(LastError {
            code: "queue_full".into(),
            message: "m".into(),
            at: 1,
        }),
        ..Stats::default()
    };
    let stats = serde_json::to_value(stats).unwrap();
    let members = interface("AgentTrackStats");
    same("AgentTrackStats", names(&members), keys(&stats));
    let mut all = keys(&stats);
    all.extend(keys(&stats["lastError"]));
    same_as("stats()", "stats_json of js.rs", written("stats_json"), all);
    let last_error = members
        .iter()
        .find(|m| m.name == "lastError")
        .expect("AgentTrackStats has lastError");
    same(
        "AgentTrackStats.lastError",
        names(&members_of_inline(&last_error.ty)),
        keys(&stats["lastError"]),
    );
}

#[test]
fn flush_result_fields_match() {
    let report = serde_json::to_value(PassReport::default()).unwrap();
    same(
        "AgentFlushResult",
        names(&interface("AgentFlushResult")),
        keys(&report),
    );
    same_as(
        "flush()",
        "report_json of js.rs",
        written("report_json"),
        keys(&report),
    );
}
