//! [`Config`]: the options of `configure`, their defaults and their checks.

use agent_track_schema::cat;
use agent_track_schema::json::Json;
use agent_track_schema::limits::{MAX_BATCH_EVENTS, MAX_ID_BYTES};
use agent_track_schema::suggest::closest;
use agent_track_schema::text::{list, num};

use crate::error::Error;
use crate::queue::Caps;

/// The options of `configure`. Every field documents its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where batches are posted: the first-party proxy, a path (`/v1/events`) or an absolute
    /// URL. Default: none; events queue until one is configured.
    pub endpoint: Option<String>,
    /// Who the visitor is. Default: an anonymous id kept in `localStorage`.
    pub visitor_id: Option<String>,
    /// The visitor's account. Default: none.
    pub account_id: Option<String>,
    /// Send as soon as this many events are queued. Default 20; 1 to 500.
    pub flush_at: usize,
    /// Send queued events at least this often, in milliseconds. Default 5000; 100 to 3,600,000.
    pub flush_interval_ms: u32,
    /// Queue caps. Defaults: 1000 events and 2 MB (2,097,152 bytes); at a cap the oldest
    /// events are dropped and reported.
    pub caps: Caps,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: None,
            visitor_id: None,
            account_id: None,
            flush_at: 20,
            flush_interval_ms: 5000,
            caps: Caps::default(),
        }
    }
}

/// Every option name `configure` knows, callbacks included.
pub const KNOWN_OPTIONS: [&str; 9] = [
    "endpoint",
    "visitorId",
    "accountId",
    "flushAt",
    "flushIntervalMs",
    "maxQueueEvents",
    "maxQueueBytes",
    "onError",
    "beforeSend",
];

impl Config {
    /// Reads options from a JSON object (the JS API reads it with `JSON.stringify`, which
    /// leaves the callbacks out), starting from the defaults. `null` means "use the default".
    /// Unknown names are an error naming the closest known one. Callbacks (`onError`,
    /// `beforeSend`) are taken by the JS boundary; if one is here it was not a function.
    pub fn from_json<'a, J: Json<'a>>(options: J) -> Result<Config, Error> {
        let mut c = Config::default();
        for (key, value) in options.members() {
            if value.is_null() {
                continue;
            }
            let key = key.as_ref();
            match key {
                "endpoint" => c.endpoint = Some(text(key, value, 2048)?),
                "visitorId" => c.visitor_id = Some(text(key, value, MAX_ID_BYTES)?),
                "accountId" => c.account_id = Some(text(key, value, MAX_ID_BYTES)?),
                "flushAt" => c.flush_at = whole(key, value, 1, MAX_BATCH_EVENTS as u64)? as usize,
                "flushIntervalMs" => {
                    c.flush_interval_ms = whole(key, value, 100, 3_600_000)? as u32
                }
                "maxQueueEvents" => c.caps.max_events = whole(key, value, 1, 100_000)? as usize,
                "maxQueueBytes" => {
                    c.caps.max_bytes = whole(key, value, 1024, 64 * 1024 * 1024)? as usize
                }
                "onError" | "beforeSend" => {
                    return Err(invalid(key, cat![key, " must be a function"]))
                }
                _ => return Err(unknown_option(key)),
            }
        }
        Ok(c)
    }
}

/// The error for an option name `configure` does not know, naming the closest known one.
pub fn unknown_option(key: &str) -> Error {
    let hint = closest(key, &KNOWN_OPTIONS)
        .map(|s| cat!["did you mean `", s, "`? "])
        .unwrap_or_default();
    invalid(
        key,
        cat![
            "`",
            key,
            "` is not a configure option; ",
            hint,
            "options are ",
            list(&KNOWN_OPTIONS)
        ],
    )
}

fn invalid(field: &str, message: String) -> Error {
    Error::Config {
        field: field.to_string(),
        message,
    }
}

fn text<'a, J: Json<'a>>(key: &str, value: J, max: usize) -> Result<String, Error> {
    match value.as_str() {
        Some(s) if !s.is_empty() && s.len() <= max => Ok(s.into_owned()),
        _ => Err(invalid(
            key,
            cat![
                key,
                " must be a non-empty string of at most ",
                num(max as u64),
                " bytes"
            ],
        )),
    }
}

fn whole<'a, J: Json<'a>>(key: &str, value: J, min: u64, max: u64) -> Result<u64, Error> {
    value
        .as_whole()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(
                key,
                cat![
                    key,
                    " must be a whole number from ",
                    num(min),
                    " to ",
                    num(max),
                    ", got ",
                    value.text()
                ],
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(v: Value) -> Result<Config, Error> {
        Config::from_json(&v)
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = parse(json!({})).unwrap();
        assert_eq!((c.flush_at, c.flush_interval_ms), (20, 5000));
        assert_eq!(
            (c.caps.max_events, c.caps.max_bytes),
            (1000, 2 * 1024 * 1024)
        );
        assert_eq!(c.endpoint, None);
    }

    #[test]
    fn options_are_read() {
        let c = parse(
            json!({"endpoint":"/v1/events","visitorId":"v","accountId":null,"flushAt":5,
            "flushIntervalMs":1000,"maxQueueEvents":10,"maxQueueBytes":4096}),
        )
        .unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("/v1/events"));
        assert_eq!(c.visitor_id.as_deref(), Some("v"));
        assert_eq!(c.account_id, None);
        assert_eq!(
            (c.flush_at, c.caps.max_events, c.caps.max_bytes),
            (5, 10, 4096)
        );
    }

    #[test]
    fn unknown_options_name_the_closest() {
        let Err(Error::Config { field, message }) = parse(json!({"visitorID":"v"})) else {
            panic!()
        };
        assert_eq!(field, "visitorID");
        assert!(message.contains("did you mean `visitorId`?"), "{message}");
    }

    #[test]
    fn ranges_are_enforced_with_the_allowed_range_in_the_message() {
        for bad in [
            json!({"flushAt":0}),
            json!({"flushAt":501}),
            json!({"flushAt":2.5}),
            json!({"flushAt":"5"}),
        ] {
            let Err(Error::Config { message, .. }) = parse(bad) else {
                panic!()
            };
            assert!(
                message.starts_with("flushAt must be a whole number from 1 to 500"),
                "{message}"
            );
        }
    }

    #[test]
    fn ids_must_be_non_empty_strings() {
        assert!(parse(json!({"visitorId":""})).is_err());
        assert!(parse(json!({"visitorId":42})).is_err());
    }

    #[test]
    fn a_callback_that_is_not_a_function_is_refused() {
        let Err(Error::Config { message, .. }) = parse(json!({"onError":"log"})) else {
            panic!()
        };
        assert_eq!(message, "onError must be a function");
    }
}
