//! The JS API: the only `#[wasm_bindgen]` exports. Converts `JsValue`s to Rust values and
//! [`Error`]s to thrown `AgentTrackError`s; everything else lives behind [`Tracker`].

use std::rc::Rc;

use js_sys::{Array, Function, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;

use agent_track_schema::cat;
use agent_track_schema::json::write::{event_json, field_str, field_u64, problems_json, push_key};
use agent_track_schema::json::{Doc, Json};
use agent_track_schema::text::{push_json_str, push_u64};
use agent_track_schema::{parse_event, Code, Event, Problem};

use crate::config::{unknown_option, Config, KNOWN_OPTIONS};
use crate::error::Error;
use crate::pass::{Mode, PassReport};
use crate::report::Report;
use crate::stats::Stats;
use crate::tracker::Hooks;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** The four event types of Pendo's Agent Analytics model. */
export type AgentEventType = 'prompt' | 'agent_response' | 'user_reaction' | 'agent_trace';

/** One attached file. */
export interface AgentFileUpload { type: string; name: string }

/** The properties of an agent event. Unknown names are refused; custom data goes in eventProperties. */
export interface AgentProperties {
  /** Required, non-empty. */ agentId: string;
  /** Required, non-empty. */ conversationId: string;
  /** Required, non-empty. For a user_reaction: the id of the response reacted to. */ messageId: string;
  /** Required, up to 100 KB. For a user_reaction: 'positive' | 'negative' | 'unreact'. */ content: string;
  suggestedPrompt?: boolean;
  toolsUsed?: string[];
  agentModelsUsed?: string[];
  agentFilesUploaded?: AgentFileUpload[];
  /** user_reaction only. */ agentUserReactionComments?: string[];
  agentSubagentsUsed?: string[];
  /** A whole number >= 0. */ agentInputTokenCount?: number;
  /** A whole number >= 0. */ agentOutputTokenCount?: number;
  /** @deprecated use agentModelsUsed */ modelUsed?: string;
  /** @deprecated */ fileUploaded?: boolean;
}

/** Custom properties: any JSON values, up to 16 KB. */
export type AgentEventProperties = Record<string, unknown>;

/** An event as stored and sent (contract v1). */
export interface AgentEvent {
  eventId: string;
  type: AgentEventType;
  timestamp: number;
  visitorId?: string;
  accountId?: string;
  properties: AgentProperties;
  eventProperties?: AgentEventProperties;
  context: { url?: string; title?: string; userAgent?: string; language?: string; seq: number; sdk: string };
}

/** Options of configure(). */
export interface AgentTrackConfig {
  /** Where batches are posted (the first-party proxy). Default: none, events stay queued. */
  endpoint?: string;
  /** Default: an anonymous id kept in localStorage. */
  visitorId?: string;
  accountId?: string;
  /** Send when this many events are queued. Default 20 (1-500). */
  flushAt?: number;
  /** Send at least this often. Default 5000 ms (100-3600000). */
  flushIntervalMs?: number;
  /** Default 1000 (1-100000). At the cap the oldest events are dropped and reported. */
  maxQueueEvents?: number;
  /** Default 2097152 bytes (1024-67108864). */
  maxQueueBytes?: number;
  /** Called with each problem that made events leave the queue undelivered. */
  onError?: (error: AgentTrackError) => void;
  /** Sees each event before storage; return it (changed) to keep it, null to drop it. */
  beforeSend?: (event: AgentEvent) => AgentEvent | null;
}

/** One broken rule. */
export interface AgentTrackProblem { code: string; field: string; message: string }

/** Thrown by configure() and trackAgent(), and passed to onError. */
export interface AgentTrackError extends Error {
  name: 'AgentTrackError';
  /** e.g. 'missing_field', 'unknown_property', 'invalid_token_count', 'invalid_config', 'queue_full'. */
  code: string;
  /** The offending field path (e.g. 'properties.toolsUsed[1]'), or null. */
  field: string | null;
  /** Every problem found (validation errors), else empty. */
  errors: AgentTrackProblem[];
  /** The events concerned (onError reports), else empty. */
  eventIds: string[];
}

/** What one flush() pass did. */
export interface AgentFlushResult { sent: number; rejected: number; dropped: number; remaining: number }

/** Per-page counters. */
export interface AgentTrackStats {
  queued: number; sent: number; rejected: number; dropped: number; retries: number;
  lastError: { code: string; message: string; at: number } | null;
}
"#;

// JS values typed for the generated .d.ts; checked at run time like any other JsValue.
#[wasm_bindgen]
extern "C" {
    /// The options object of `configure`.
    #[wasm_bindgen(typescript_type = "AgentTrackConfig")]
    pub type JsConfig;
    /// `eventType` of `trackAgent`.
    #[wasm_bindgen(typescript_type = "AgentEventType")]
    pub type JsEventType;
    /// `properties` of `trackAgent`.
    #[wasm_bindgen(typescript_type = "AgentProperties")]
    pub type JsProperties;
    /// `eventProperties` of `trackAgent`.
    #[wasm_bindgen(typescript_type = "AgentEventProperties | undefined")]
    pub type JsEventProperties;
    /// What `stats` returns.
    #[wasm_bindgen(typescript_type = "AgentTrackStats")]
    pub type JsStats;
    /// What `flush` returns.
    #[wasm_bindgen(typescript_type = "Promise<AgentFlushResult>")]
    pub type JsFlushResult;
}

/// Sets the endpoint, ids, batching, caps and hooks. Throws an `AgentTrackError`
/// (`invalid_config`) naming the option when one is wrong; the earlier configuration then
/// stays in force.
#[wasm_bindgen]
pub fn configure(config: JsConfig) -> Result<(), JsValue> {
    let config: JsValue = config.into();
    if !config.is_object() {
        return Err(js_error(&Error::Config {
            field: "config".into(),
            message: "configure() takes an options object".into(),
        }));
    }
    let mut hooks = Hooks::default();
    let object: &Object = config.unchecked_ref();
    for key in Object::keys(object).iter() {
        let name = key.as_string().unwrap_or_default();
        let Ok(f) = Reflect::get(&config, &key)?.dyn_into::<Function>() else {
            continue;
        };
        match name.as_str() {
            "onError" => hooks.on_error = Some(on_error(f)),
            "beforeSend" => hooks.before_send = Some(before_send(f)),
            _ if !KNOWN_OPTIONS.contains(&name.as_str()) => {
                return Err(js_error(&unknown_option(&name)))
            }
            _ => {
                return Err(js_error(&Error::Config {
                    message: cat![name, " must not be a function"],
                    field: name,
                }))
            }
        }
    }
    // The other options as JSON text (JSON.stringify leaves the functions out).
    let text = stringify(&config).map_err(|m| {
        js_error(&Error::Config {
            field: "config".into(),
            message: cat!["the options ", m],
        })
    })?;
    let doc = Doc::parse(&text).map_err(|_| {
        js_error(&Error::Config {
            field: "config".into(),
            message: "the options must be JSON values".into(),
        })
    })?;
    let config = Config::from_json(doc.root()).map_err(|e| js_error(&e))?;
    super::configure(config, hooks);
    Ok(())
}

/// Validates and queues one event; returns its `eventId`, or `null` when capture is off
/// (`optOut()`) or `beforeSend` returned null. Throws an `AgentTrackError` naming the field
/// and rule of the first problem (all problems in `errors`); nothing is queued then.
#[wasm_bindgen(js_name = trackAgent)]
pub fn track_agent(
    event_type: JsEventType,
    properties: JsProperties,
    event_properties: Option<JsEventProperties>,
) -> Result<Option<String>, JsValue> {
    let event_type: JsValue = event_type.into();
    let event_type = event_type
        .as_string()
        .unwrap_or_else(|| describe_js(&event_type));
    let properties: JsValue = properties.into();
    // The objects cross the boundary as JSON text: one native call and one copy each,
    // instead of a crossing per property.
    let text = stringify(&properties).map_err(|m| invalid("properties", m))?;
    let props_doc =
        Doc::parse(&text).map_err(|_| invalid("properties", cat!["must hold only JSON values"]))?;
    let root = props_doc.root();
    if TOKEN_COUNTS
        .iter()
        .any(|name| root.get(name).is_some_and(|v| v.is_null()))
    {
        // Only then can a count have been NaN or Infinity (see check_token_counts).
        check_token_counts(&properties)?;
    }
    let event_properties = match event_properties {
        Some(v) => Some(stringify(&v.into()).map_err(|m| invalid("eventProperties", m))?),
        None => None,
    };
    let custom_doc = match &event_properties {
        Some(t) => Some(
            Doc::parse(t)
                .map_err(|_| invalid("eventProperties", cat!["must hold only JSON values"]))?,
        ),
        None => None,
    };
    super::page()
        .0
        .track_json(
            &event_type,
            props_doc.root(),
            custom_doc.as_ref().map(|d| d.root()),
        )
        .map_err(|e| js_error(&e))
}

/// One delivery pass now: resolves `{ sent, rejected, dropped, remaining }`; rejects with an
/// `AgentTrackError` (`no_endpoint`, `offline`, `delivery_failed`, `busy`) when it could not
/// deliver. Events stay queued in every failure.
#[wasm_bindgen]
pub fn flush() -> JsFlushResult {
    let (tracker, lock) = super::page();
    super::driver::start(&tracker, &lock, Mode::Normal, true, |ended| {
        match ended.unwrap_or_else(|| Err(Error::busy())) {
            Ok(report) => parse(&report_json(&report)),
            Err(e) => js_error(&e),
        }
    })
    .unchecked_into()
}

/// Stops capture on this origin (persisted, every tab) and clears the queue.
#[wasm_bindgen(js_name = optOut)]
pub fn opt_out() {
    super::page().0.opt_out();
}

/// Resumes capture after `optOut()`.
#[wasm_bindgen(js_name = optIn)]
pub fn opt_in() {
    super::page().0.opt_in();
}

/// The per-page counters.
#[wasm_bindgen]
pub fn stats() -> JsStats {
    parse(&stats_json(&super::page().0.stats())).unchecked_into()
}

/// Stops this page's tracker. Queued events stay in `localStorage` for the next page load
/// (or the next call, which starts a fresh tracker).
#[wasm_bindgen]
pub fn shutdown() {
    super::shutdown();
}

/// JS value -> JSON text through `JSON.stringify`; `undefined` becomes `null`. The error
/// names what JSON cannot hold (a BigInt, a cycle).
fn stringify(value: &JsValue) -> Result<String, String> {
    if value.is_undefined() {
        return Ok("null".into());
    }
    JSON::stringify(value)
        .map(|s| s.as_string().unwrap_or_else(|| "null".into()))
        .map_err(|e| cat!["must hold only JSON values (", error_message(e), ")"])
}

/// JSON text -> JS value.
fn parse(text: &str) -> JsValue {
    JSON::parse(text).unwrap_or(JsValue::NULL)
}

/// `{"sent":..,"rejected":..,"dropped":..,"remaining":..}`.
fn report_json(r: &PassReport) -> String {
    let mut out = String::from("{");
    push_key(&mut out, "sent");
    push_u64(&mut out, r.sent);
    field_u64(&mut out, "rejected", r.rejected);
    field_u64(&mut out, "dropped", r.dropped);
    field_u64(&mut out, "remaining", r.remaining as u64);
    out.push('}');
    out
}

/// `{"queued":..,"sent":..,"rejected":..,"dropped":..,"retries":..,"lastError":..}`.
fn stats_json(s: &Stats) -> String {
    let mut out = String::from("{");
    push_key(&mut out, "queued");
    push_u64(&mut out, s.queued as u64);
    field_u64(&mut out, "sent", s.sent);
    field_u64(&mut out, "rejected", s.rejected);
    field_u64(&mut out, "dropped", s.dropped);
    field_u64(&mut out, "retries", s.retries);
    out.push_str(",\"lastError\":");
    match &s.last_error {
        None => out.push_str("null"),
        Some(e) => {
            out.push('{');
            push_key(&mut out, "code");
            push_json_str(&mut out, &e.code);
            field_str(&mut out, "message", &e.message);
            field_u64(&mut out, "at", e.at);
            out.push('}');
        }
    }
    out.push('}');
    out
}

/// A short rendering of a JS value for messages (`NaN`, `-Infinity`, `42`, `{"a":1}`, `a
/// function`), without Rust's float formatting in the module.
fn describe_js(value: &JsValue) -> String {
    match value.as_f64() {
        Some(n) if n.is_nan() => "NaN".into(),
        Some(n) if n.is_infinite() => (if n > 0.0 { "Infinity" } else { "-Infinity" }).into(),
        _ => JSON::stringify(value)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| cat!["a ", value.js_typeof().as_string().unwrap_or_default()]),
    }
}

fn error_message(e: JsValue) -> String {
    Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "it threw".into())
}

fn invalid(field: &str, message: String) -> JsValue {
    js_error(&Error::Validation(vec![Problem::new(
        Code::WrongType,
        field,
        cat![field, " ", message],
    )]))
}

/// The properties that hold token counts.
const TOKEN_COUNTS: [&str; 2] = ["agentInputTokenCount", "agentOutputTokenCount"];

/// `JSON.stringify` turns `NaN` and `Infinity` into `null`, which would read as "absent";
/// a token count computed from a missing value must be refused, not silently dropped.
fn check_token_counts(properties: &JsValue) -> Result<(), JsValue> {
    if !properties.is_object() {
        return Ok(());
    }
    for name in TOKEN_COUNTS {
        let v = Reflect::get(properties, &name.into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(n) = v.as_f64() {
            if !n.is_finite() {
                let field = cat!["properties.", name];
                let message = cat![field, " must be a whole number >= 0, got ", describe_js(&v)];
                return Err(js_error(&Error::Validation(vec![Problem::new(
                    Code::InvalidTokenCount,
                    field,
                    message,
                )])));
            }
        }
    }
    Ok(())
}

/// The `AgentTrackError` for `e`: a JS `Error` with `name`, `code`, `field`, `errors`,
/// `eventIds`.
fn js_error(e: &Error) -> JsValue {
    let errors = match e {
        Error::Validation(p) => parse(&problems_json(p)),
        _ => Array::new().into(),
    };
    error_object(&e.message(), e.code(), e.field(), &errors, &Array::new())
}

fn error_object(
    message: &str,
    code: &str,
    field: Option<&str>,
    errors: &JsValue,
    event_ids: &Array,
) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name("AgentTrackError");
    let set = |k: &str, v: &JsValue| {
        let _ = Reflect::set(&err, &k.into(), v);
    };
    set("code", &code.into());
    set("field", &field.map_or(JsValue::NULL, JsValue::from));
    set("errors", errors);
    set("eventIds", event_ids);
    err.into()
}

fn on_error(f: Function) -> crate::tracker::OnError {
    Rc::new(move |r: &Report| {
        let ids: Array = r.event_ids.iter().map(|id| JsValue::from_str(id)).collect();
        let err = error_object(&r.message, &r.code, None, &Array::new(), &ids);
        // A throwing onError must not break tracking.
        let _ = f.call1(&JsValue::NULL, &err);
    })
}

fn before_send(f: Function) -> crate::tracker::BeforeSend {
    Rc::new(move |event: Event| {
        let out = f
            .call1(&JsValue::NULL, &parse(&event_json(&event)))
            .map_err(error_message)?;
        if out.is_null() || out.is_undefined() {
            return Ok(None);
        }
        let text = stringify(&out).map_err(|m| cat!["its result ", m])?;
        let doc = Doc::parse(&text).map_err(|_| String::from("its result must be JSON"))?;
        parse_event(doc.root()).map(Some).map_err(|problems| {
            cat![
                "it must return the event or null; ",
                problems.first().map_or("", |p| p.message.as_str())
            ]
        })
    })
}
