//! Untrusted JSON (a JS object read by the browser module, or a batch read by the proxy) into
//! typed values, reporting every problem at once. Written once against [`Json`], so the same
//! rules run on `serde_json::Value` in the servers and on [`crate::json::Doc`] in the browser.

use crate::cat;
use crate::envelope::EventProperties;
use crate::event_type::EventType;
use crate::json::{depth, describe, slots, Json, Kind};
use crate::limits::{MAX_EVENT_PROPERTIES_BYTES, MAX_EVENT_PROPERTIES_DEPTH};
use crate::problem::{Code, Problem, Problems};
use crate::properties::{too_large, AgentProperties, FileUpload, KNOWN_PROPERTIES};
use crate::suggest::closest;
use crate::text::num;

/// Parses and validates the `properties` of an event of `event_type`.
///
/// `null` for an optional property means absent; for a required one it is `missing_field`.
/// Token counts accept any JSON number that is a whole number >= 0 and <= 2^53 - 1 (so a JS
/// `12` and `12.0` are the same); `1.5`, `-1` and `"12"` are refused. An unknown name is an
/// error that suggests the closest known one. On error, returns every problem found, type
/// problems first, then rule problems of fields that parsed.
pub fn parse_properties<'a, J: Json<'a>>(
    event_type: EventType,
    value: J,
) -> Result<AgentProperties, Problems> {
    if value.kind() != Kind::Object {
        return Err(vec![Problem::new(
            Code::NotAnObject,
            "properties",
            cat![
                "properties must be an object with agentId, conversationId, messageId and content, got ",
                describe(value)
            ],
        )]);
    }
    let mut p = Parser {
        problems: Vec::new(),
    };
    // One walk over the members: each known name into its slot (a repeated name: the last
    // wins, as in JSON.parse; `null` is absent), unknown names reported as met.
    let mut slots = slots(value, &KNOWN_PROPERTIES, &mut |key| p.unknown(key));
    for slot in &mut slots {
        if slot.is_some_and(|v| v.is_null()) {
            *slot = None;
        }
    }
    // Problems come in a fixed order, whatever the map's key order: unknown names, missing
    // required properties (the first four slots), then each known property in documentation
    // order.
    for (key, slot) in KNOWN_PROPERTIES.iter().zip(&slots).take(4) {
        if slot.is_none() {
            p.problems.push(Problem::new(
                Code::MissingField,
                cat!["properties.", key],
                cat!["properties.", key, " is required (a non-empty string)"],
            ));
        }
    }
    let mut props = AgentProperties::default();
    for (&key, slot) in KNOWN_PROPERTIES.iter().zip(slots) {
        let Some(value) = slot else { continue };
        match key {
            "agentId" => props.agent_id = p.string(key, value),
            "conversationId" => props.conversation_id = p.string(key, value),
            "messageId" => props.message_id = p.string(key, value),
            "content" => props.content = p.string(key, value),
            "suggestedPrompt" => props.suggested_prompt = p.boolean(key, value),
            "toolsUsed" => props.tools_used = p.strings(key, value),
            "agentModelsUsed" => props.agent_models_used = p.strings(key, value),
            "agentFilesUploaded" => props.agent_files_uploaded = p.files(key, value),
            "agentUserReactionComments" => {
                props.agent_user_reaction_comments = p.strings(key, value)
            }
            "agentSubagentsUsed" => props.agent_subagents_used = p.strings(key, value),
            "agentInputTokenCount" => props.agent_input_token_count = p.token_count(key, value),
            "agentOutputTokenCount" => props.agent_output_token_count = p.token_count(key, value),
            "modelUsed" => props.model_used = Some(p.string(key, value)),
            _ => props.file_uploaded = p.boolean(key, value),
        }
    }
    // Rule problems for fields that already have a type problem would repeat it.
    if let Err(rule_problems) = props.validate(event_type) {
        let reported: Vec<String> = p.problems.iter().map(|q| q.field.clone()).collect();
        p.problems.extend(
            rule_problems
                .into_iter()
                .filter(|q| !reported.iter().any(|f| is_within(&q.field, f))),
        );
    }
    if p.problems.is_empty() {
        Ok(props)
    } else {
        Err(p.problems)
    }
}

/// Parses and validates `eventProperties`: absent or `null` is none; otherwise an object of
/// any JSON values, at most [`MAX_EVENT_PROPERTIES_BYTES`] as compact JSON text and
/// [`MAX_EVENT_PROPERTIES_DEPTH`] deep.
pub fn parse_event_properties<'a, J: Json<'a>>(
    value: Option<J>,
) -> Result<EventProperties, Problem> {
    let field = "eventProperties";
    let value = match value {
        None => return Ok(EventProperties::default()),
        Some(v) if v.is_null() => return Ok(EventProperties::default()),
        Some(v) if v.kind() == Kind::Object => v,
        Some(other) => {
            return Err(Problem::new(
                Code::NotAnObject,
                field,
                cat![
                    "eventProperties must be an object of custom properties, got ",
                    describe(other)
                ],
            ))
        }
    };
    let depth = depth(value);
    if depth > MAX_EVENT_PROPERTIES_DEPTH {
        return Err(Problem::new(
            Code::TooDeep,
            field,
            cat![
                "eventProperties nests ",
                num(depth as u64),
                " levels deep; at most ",
                num(MAX_EVENT_PROPERTIES_DEPTH as u64),
                " are allowed"
            ],
        ));
    }
    let text = value.text();
    if text.len() > MAX_EVENT_PROPERTIES_BYTES {
        return Err(too_large(field, text.len(), MAX_EVENT_PROPERTIES_BYTES));
    }
    Ok(EventProperties::from_checked(text.into_owned()))
}

/// Whether `field` is `parent` or a path below it (`parent.x`, `parent[3]`).
fn is_within(field: &str, parent: &str) -> bool {
    field
        .strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

struct Parser {
    problems: Problems,
}

impl Parser {
    fn wrong_type<'a, J: Json<'a>>(&mut self, field: String, wanted: &str, got: J) {
        let message = cat![field, " must be ", wanted, ", got ", describe(got)];
        self.problems
            .push(Problem::new(Code::WrongType, field, message));
    }

    fn string<'a, J: Json<'a>>(&mut self, key: &str, value: J) -> String {
        match value.as_str() {
            Some(s) => s.into_owned(),
            None => {
                self.wrong_type(cat!["properties.", key], "a string", value);
                String::new()
            }
        }
    }

    fn boolean<'a, J: Json<'a>>(&mut self, key: &str, value: J) -> Option<bool> {
        let b = value.as_bool();
        if b.is_none() {
            self.wrong_type(cat!["properties.", key], "a boolean (true or false)", value);
        }
        b
    }

    fn strings<'a, J: Json<'a>>(&mut self, key: &str, value: J) -> Option<Vec<String>> {
        if value.kind() != Kind::Array {
            self.wrong_type(cat!["properties.", key], "an array of strings", value);
            return None;
        }
        let mut out = Vec::new();
        for (i, item) in value.items().into_iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s.into_owned()),
                None => self.wrong_type(
                    cat!["properties.", key, "[", num(i as u64), "]"],
                    "a string",
                    item,
                ),
            }
        }
        Some(out)
    }

    fn files<'a, J: Json<'a>>(&mut self, key: &str, value: J) -> Option<Vec<FileUpload>> {
        if value.kind() != Kind::Array {
            self.wrong_type(
                cat!["properties.", key],
                "an array of {type, name} objects",
                value,
            );
            return None;
        }
        let mut out = Vec::new();
        for (i, item) in value.items().into_iter().enumerate() {
            let field = cat!["properties.", key, "[", num(i as u64), "]"];
            if item.kind() != Kind::Object {
                self.wrong_type(field, "an object {type, name}", item);
                continue;
            }
            let mut file = FileUpload::default();
            for (k, v) in item.members() {
                let target = match k.as_ref() {
                    "type" => &mut file.file_type,
                    "name" => &mut file.name,
                    _ => {
                        let hint = closest(&k, &["type", "name"])
                            .map(|s| cat!["did you mean `", s, "`? "])
                            .unwrap_or_default();
                        self.problems.push(Problem::new(
                            Code::UnknownProperty,
                            cat![field, ".", k],
                            cat![
                                field,
                                ".",
                                k,
                                " is not allowed; ",
                                hint,
                                "a file entry has only `type` and `name`"
                            ],
                        ));
                        continue;
                    }
                };
                match v.as_str() {
                    Some(s) => *target = s.into_owned(),
                    None => self.wrong_type(cat![field, ".", k], "a string", v),
                }
            }
            out.push(file);
        }
        Some(out)
    }

    fn token_count<'a, J: Json<'a>>(&mut self, key: &str, value: J) -> Option<u64> {
        let n = value.as_whole();
        if n.is_none() {
            let field = cat!["properties.", key];
            let message = cat![field, " must be a whole number >= 0, got ", describe(value)];
            self.problems
                .push(Problem::new(Code::InvalidTokenCount, field, message));
        }
        n
    }

    fn unknown(&mut self, key: &str) {
        let field = cat!["properties.", key];
        let message = match closest(key, &KNOWN_PROPERTIES) {
            Some(s) => cat![
                field,
                " is not a known property; did you mean `",
                s,
                "`? (custom data goes in eventProperties)"
            ],
            None => cat![
                field,
                " is not a known property; known properties are ",
                crate::text::list(&KNOWN_PROPERTIES),
                " (custom data goes in eventProperties)"
            ],
        };
        self.problems
            .push(Problem::new(Code::UnknownProperty, field, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn base() -> Value {
        json!({"agentId":"a","conversationId":"c","messageId":"m","content":"hi"})
    }

    fn with(extra: Value) -> Value {
        let mut v = base();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    }

    fn problems(t: EventType, v: Value) -> Problems {
        parse_properties(t, &v).unwrap_err()
    }

    #[test]
    fn a_full_valid_response_parses() {
        let v = with(
            json!({"suggestedPrompt":true,"toolsUsed":["search"],"agentModelsUsed":["m1"],
            "agentFilesUploaded":[{"type":"pdf","name":"x.pdf"}],"agentSubagentsUsed":["planner"],
            "agentInputTokenCount":12,"agentOutputTokenCount":0,"modelUsed":"m0","fileUploaded":true}),
        );
        let p = parse_properties(EventType::AgentResponse, &v).unwrap();
        assert_eq!(p.agent_input_token_count, Some(12));
        assert_eq!(p.agent_files_uploaded.unwrap()[0].name, "x.pdf");
        assert_eq!(p.model_used.as_deref(), Some("m0"));
        assert_eq!(
            serde_json::to_value(parse_properties(EventType::Prompt, &base()).unwrap()).unwrap(),
            base()
        );
    }

    #[test]
    fn properties_must_be_an_object() {
        let p = problems(EventType::Prompt, json!("hi"));
        assert_eq!(
            (p[0].code, p[0].field.as_str()),
            (Code::NotAnObject, "properties")
        );
        assert!(
            p[0].message.ends_with("got the string \"hi\""),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn every_missing_required_field_is_listed() {
        let p = problems(EventType::Prompt, json!({"content": null}));
        let fields: Vec<_> = p.iter().map(|q| (q.code, q.field.as_str())).collect();
        assert_eq!(
            fields,
            [
                (Code::MissingField, "properties.agentId"),
                (Code::MissingField, "properties.conversationId"),
                (Code::MissingField, "properties.messageId"),
                (Code::MissingField, "properties.content"),
            ]
        );
        assert_eq!(
            p[0].message,
            "properties.agentId is required (a non-empty string)"
        );
    }

    #[test]
    fn wrong_type_is_reported_once_per_field() {
        let p = problems(EventType::Prompt, with(json!({"agentId": 7})));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].code, Code::WrongType);
        assert_eq!(
            p[0].message,
            "properties.agentId must be a string, got the number 7"
        );
    }

    #[test]
    fn unknown_property_suggests_the_closest() {
        let mut v = base();
        let obj = v.as_object_mut().unwrap();
        let id = obj.remove("conversationId").unwrap();
        obj.insert("conversationID".into(), id);
        let p = problems(EventType::Prompt, v);
        assert_eq!(p[0].code, Code::UnknownProperty);
        assert_eq!(p[0].field, "properties.conversationID");
        assert!(
            p[0].message.contains("did you mean `conversationId`?"),
            "{}",
            p[0].message
        );
        assert_eq!(p[1].field, "properties.conversationId");
        assert_eq!(p[1].code, Code::MissingField);
    }

    #[test]
    fn unknown_property_without_a_close_name_lists_the_known_ones() {
        let p = problems(EventType::Prompt, with(json!({"price": 3})));
        assert!(
            p[0].message
                .contains("known properties are agentId, conversationId"),
            "{}",
            p[0].message
        );
        assert!(p[0].message.contains("eventProperties"));
    }

    #[test]
    fn token_counts_are_whole_non_negative_numbers() {
        for ok in [json!(0), json!(12), json!(12.0), json!(9007199254740991u64)] {
            let v = with(json!({"agentInputTokenCount": ok}));
            assert!(
                parse_properties(EventType::AgentResponse, &v).is_ok(),
                "{v}"
            );
        }
        for bad in [
            json!(1.5),
            json!(-1),
            json!("12"),
            json!(true),
            json!(9007199254740992u64),
            json!(1e300),
        ] {
            let p = problems(
                EventType::AgentResponse,
                with(json!({"agentOutputTokenCount": bad})),
            );
            assert_eq!(p[0].code, Code::InvalidTokenCount, "{bad}");
            assert_eq!(p[0].field, "properties.agentOutputTokenCount");
            assert!(p[0]
                .message
                .starts_with("properties.agentOutputTokenCount must be a whole number >= 0, got"));
        }
    }

    #[test]
    fn lists_need_strings_and_name_the_bad_index() {
        let p = problems(
            EventType::AgentResponse,
            with(json!({"toolsUsed": ["a", 2, "b"]})),
        );
        assert_eq!(p[0].field, "properties.toolsUsed[1]");
        let p = problems(
            EventType::AgentResponse,
            with(json!({"toolsUsed": "search"})),
        );
        assert_eq!(
            p[0].message,
            "properties.toolsUsed must be an array of strings, got the string \"search\""
        );
    }

    #[test]
    fn file_entries_are_checked_key_by_key() {
        let p = problems(
            EventType::Prompt,
            with(json!({"agentFilesUploaded": [{"type":"pdf","nme":"x"}, 3]})),
        );
        assert_eq!(p[0].field, "properties.agentFilesUploaded[0].nme");
        assert!(p[0].message.contains("did you mean `name`?"));
        assert_eq!(p[1].field, "properties.agentFilesUploaded[1]");
        assert_eq!(p[2].field, "properties.agentFilesUploaded[0].name");
        assert_eq!(p[2].code, Code::EmptyString);
    }

    #[test]
    fn null_optional_is_absent() {
        let p = parse_properties(EventType::Prompt, &with(json!({"toolsUsed": null}))).unwrap();
        assert_eq!(p.tools_used, None);
    }

    #[test]
    fn reactions_are_checked_by_rule() {
        let v = json!({"agentId":"a","conversationId":"c","messageId":"m","content":"up"});
        let p = problems(EventType::UserReaction, v);
        assert_eq!(p[0].code, Code::InvalidReaction);
        let v = json!({"agentId":"a","conversationId":"c","messageId":"m","content":"unreact","agentUserReactionComments":["meh"]});
        assert!(parse_properties(EventType::UserReaction, &v).is_ok());
    }

    #[test]
    fn deprecated_booleans_are_typed() {
        let p = problems(EventType::Prompt, with(json!({"fileUploaded": "yes"})));
        assert_eq!(
            p[0].message,
            "properties.fileUploaded must be a boolean (true or false), got the string \"yes\""
        );
    }

    #[test]
    fn event_properties_default_to_empty() {
        assert!(parse_event_properties(None::<&Value>).unwrap().is_empty());
        assert!(parse_event_properties(Some(&Value::Null))
            .unwrap()
            .is_empty());
        let m =
            parse_event_properties(Some(&json!({"experiment":"a","n":[1,{"x":true}]}))).unwrap();
        assert_eq!(m.to_map()["experiment"], "a");
    }

    #[test]
    fn event_properties_must_be_an_object() {
        let p = parse_event_properties(Some(&json!([1]))).unwrap_err();
        assert_eq!(
            (p.code, p.field.as_str()),
            (Code::NotAnObject, "eventProperties")
        );
    }

    #[test]
    fn event_properties_are_limited_to_16_kb() {
        // {"k":"..."} is 8 bytes of overhead.
        let fits = json!({"k": "x".repeat(MAX_EVENT_PROPERTIES_BYTES - 8)});
        assert!(parse_event_properties(Some(&fits)).is_ok());
        let over = json!({"k": "x".repeat(MAX_EVENT_PROPERTIES_BYTES - 7)});
        let p = parse_event_properties(Some(&over)).unwrap_err();
        assert_eq!(p.code, Code::TooLarge);
        assert!(
            p.message.contains("at most 16384 bytes (16 KB)"),
            "{}",
            p.message
        );
    }

    #[test]
    fn event_properties_depth_is_limited() {
        let mut v = json!(1);
        for _ in 0..MAX_EVENT_PROPERTIES_DEPTH {
            v = json!({ "k": v });
        }
        assert!(parse_event_properties(Some(&v)).is_ok());
        let v = json!({ "k": v });
        assert_eq!(
            parse_event_properties(Some(&v)).unwrap_err().code,
            Code::TooDeep
        );
    }
}
