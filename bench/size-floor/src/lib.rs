//! What the npm package does for one `trackAgent` call, and nothing else: read the properties
//! and custom properties from their JSON text, check every rule of the schema crate (with its
//! messages, field paths and "did you mean" suggestions), and write the event as stored. The
//! queue, storage, configuration, delivery, locks and hooks of the package are left out.
//! Built by `bench/size-floor/build.sh` with the package's profile, allocator and shrinking
//! steps, and measured by `bench/track-cost.mjs`.
//!
//! [`track`] does what `Engine::prepare_json` (src/engine/mod.rs) does with the three inputs:
//! keep it in step. Sharing that code through the schema crate made the package 0.4 to 0.8
//! KB larger (gzip), so the floor repeats it.

use agent_track_schema::json::write::{event_json, problems_json};
use agent_track_schema::json::Doc;
use agent_track_schema::{parse_event_properties, parse_properties, Context, Event, EventType};
use wasm_bindgen::prelude::*;

#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Validates one event and returns its JSON text as the package stores it; throws the JSON
/// array of every problem found, or a message when a text is not JSON.
#[wasm_bindgen]
pub fn track(
    event_type: &str,
    properties: &str,
    event_properties: Option<String>,
    now: f64,
) -> Result<String, JsValue> {
    let not_json = |_| JsValue::from_str("not JSON");
    let properties = Doc::parse(properties).map_err(not_json)?;
    let custom = match &event_properties {
        Some(text) => Some(Doc::parse(text).map_err(not_json)?),
        None => None,
    };
    let event_type = EventType::parse(event_type);
    let props = parse_properties(
        *event_type.as_ref().unwrap_or(&EventType::Prompt),
        properties.root(),
    );
    let custom = parse_event_properties(custom.as_ref().map(|d| d.root()));
    match (event_type, props, custom) {
        (Ok(event_type), Ok(properties), Ok(event_properties)) => Ok(event_json(&Event {
            event_id: "0".into(),
            event_type,
            timestamp: now as u64,
            visitor_id: None,
            account_id: None,
            properties,
            event_properties,
            context: Context {
                url: None,
                title: None,
                user_agent: None,
                language: None,
                seq: 1,
                sdk: "size-floor".into(),
            },
        })),
        (t, p, c) => {
            let mut problems = Vec::new();
            problems.extend(t.err());
            problems.extend(p.err().into_iter().flatten());
            problems.extend(c.err());
            Err(JsValue::from_str(&problems_json(&problems)))
        }
    }
}
