//! The bodies of the conversation log API, checked into plain values. Pure: every rule here
//! is unit-tested without a database.
//!
//! Every problem of a body is reported at once, as `details` of a 400 `validation_error`
//! (field path -> what is wrong and what is allowed); a size limit broken is a 413 of its
//! own, naming the limit.

use std::collections::BTreeMap;

use agent_track_schema::limits::{MAX_CONTENT_BYTES, MAX_ID_BYTES, MAX_LIST_ITEMS};
use agent_track_schema::suggest::closest;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::content;
use crate::collector::analysis::Outcome;
use crate::collector::time;
use crate::error::ApiError;

/// Messages in one create or append request.
pub const MAX_MESSAGES: usize = 500;
/// One message's `content`, in bytes of UTF-8 (the browser's limit on `properties.content`).
pub const MAX_MESSAGE_BYTES: usize = MAX_CONTENT_BYTES;
/// A create request's `content` (a whole transcript), in bytes of UTF-8.
pub const MAX_TRANSCRIPT_BYTES: usize = 512 * 1024;
/// `idempotencyKey`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// Conversation `metadata` and message `metadata`, as compact JSON.
pub const MAX_METADATA_BYTES: usize = agent_track_schema::limits::MAX_EVENT_PROPERTIES_BYTES;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The visitor: stored as a `prompt`.
    User,
    /// The agent: stored as an `agent_response`.
    Assistant,
    /// Instructions: kept and shown, not judged.
    System,
    /// A tool's result: kept and shown, not judged; its `name` counts as a tool used by the
    /// next assistant message.
    Tool,
}

impl Role {
    /// Every role's wire name.
    pub const NAMES: [&'static str; 4] = ["user", "assistant", "system", "tool"];

    fn parse(name: &str) -> Option<Role> {
        match name {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "system" => Some(Role::System),
            "tool" => Some(Role::Tool),
            _ => None,
        }
    }

    /// The stored message type.
    pub fn stored_type(self) -> &'static str {
        match self {
            Role::User => "prompt",
            Role::Assistant => "agent_response",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }
}

/// One message of a request, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageIn {
    /// The messageId: the dedupe key; `None` lets the collector assign one.
    pub id: Option<String>,
    /// Who wrote it.
    pub role: Role,
    /// The text (may be empty for tool messages and assistant messages with tool calls).
    pub content: String,
    /// Unix ms; `None` means the time of the request.
    pub timestamp: Option<i64>,
    /// The model that wrote an assistant message.
    pub model: Option<String>,
    /// Input tokens.
    pub prompt_tokens: Option<i64>,
    /// Output tokens.
    pub completion_tokens: Option<i64>,
    /// Names of the tools it called (`toolCalls[].name`), or a tool message's `name`.
    pub tools: Vec<String>,
    /// Custom properties: `metadata`, plus `latencyMs` when given.
    pub metadata: Map<String, Value>,
}

/// `status` of a request, with the words of other log APIs mapped onto the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusIn {
    /// `active` or `in_progress`.
    Active,
    /// `ended`, or `completed` / `abandoned` (which also set the outcome).
    Ended(Option<Outcome>),
}

impl StatusIn {
    const NAMES: &'static str = "active, ended, in_progress, completed, abandoned";

    fn parse(name: &str) -> Option<StatusIn> {
        match name {
            "active" | "in_progress" => Some(StatusIn::Active),
            "ended" => Some(StatusIn::Ended(None)),
            "completed" => Some(StatusIn::Ended(Some(Outcome::Completed))),
            "abandoned" => Some(StatusIn::Ended(Some(Outcome::Abandoned))),
            _ => None,
        }
    }
}

/// What a request does to the conversation's state besides its messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateIn {
    /// A new status.
    pub status: Option<StatusIn>,
    /// An outcome set by the owner (explicit `outcome`, else implied by `status`).
    pub outcome: Option<Outcome>,
    /// Metadata to merge, key by key (a `null` value removes the key).
    pub metadata: Option<Map<String, Value>>,
}

/// `POST /api/v1/conversations`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateIn {
    /// The conversation id; `None` lets the collector make one.
    pub id: Option<String>,
    /// Which agent.
    pub agent_id: String,
    /// Who.
    pub visitor_id: Option<String>,
    /// Which account.
    pub account_id: Option<String>,
    /// `messages`, or the turns of `content`.
    pub messages: Vec<MessageIn>,
    /// Status, outcome, metadata.
    pub state: StateIn,
    /// A repeat within 24 h returns the conversation first created with it.
    pub idempotency_key: Option<String>,
}

/// `POST /api/v1/conversations/{id}/messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendIn {
    /// At least one.
    pub messages: Vec<MessageIn>,
    /// Status, outcome, metadata.
    pub state: StateIn,
}

const CREATE_FIELDS: [&str; 10] = [
    "id",
    "agentId",
    "messages",
    "content",
    "status",
    "outcome",
    "visitorId",
    "accountId",
    "metadata",
    "idempotencyKey",
];
const APPEND_FIELDS: [&str; 4] = ["messages", "status", "outcome", "metadata"];
const MESSAGE_FIELDS: [&str; 11] = [
    "id",
    "role",
    "content",
    "timestamp",
    "model",
    "usage",
    "toolCalls",
    "latencyMs",
    "metadata",
    "name",
    "toolCallId",
];
const USAGE_FIELDS: [&str; 3] = ["promptTokens", "completionTokens", "totalTokens"];

/// How far in the future a message's `timestamp` may be (clock skew between the backend and
/// the collector); a later one would keep its conversation active until then.
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// At most this many fields are named in `details` (the rest are counted in one entry).
pub const MAX_DETAILS: usize = 50;

/// Collects the problems of one body.
#[derive(Default)]
struct Checker {
    details: BTreeMap<String, String>,
    more: usize,
    too_large: Option<ApiError>,
    /// The time of the request, unix ms.
    now: i64,
}

fn too_large(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Checker {
    fn bad(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        let field = field.into();
        if self.details.len() >= MAX_DETAILS && !self.details.contains_key(&field) {
            self.more += 1;
            return;
        }
        self.details.entry(field).or_insert(reason.into());
    }

    fn limit(&mut self, e: ApiError) {
        self.too_large.get_or_insert(e);
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if let Some(e) = self.too_large {
            return Err(e);
        }
        if self.details.is_empty() {
            Ok(value)
        } else {
            let mut details = self.details;
            if self.more > 0 {
                details.insert(
                    "…".into(),
                    format!("and {} more fields not listed", self.more),
                );
            }
            Err(ApiError::validation(details))
        }
    }

    /// Unknown members of `obj` at `path`, each with the closest known name.
    fn unknown(&mut self, obj: &Map<String, Value>, path: &str, known: &[&str]) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                let hint = match closest(key, known) {
                    Some(c) => format!("; did you mean `{c}`?"),
                    None => format!("; known: {}", known.join(", ")),
                };
                self.bad(join(path, key), format!("is not a known field{hint}"));
            }
        }
    }

    /// An optional identifier: a non-empty string of at most 1024 bytes.
    fn id(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        let field = join(path, key);
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.contains('\0') => {
                self.bad(field, "must not contain the NUL character (U+0000)");
                None
            }
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Some(s.clone()),
            Some(Value::String(s)) if s.is_empty() => {
                self.bad(field, "must be a non-empty string");
                None
            }
            Some(Value::String(_)) => {
                self.bad(field, format!("must be at most {MAX_ID_BYTES} bytes"));
                None
            }
            Some(other) => {
                self.bad(field, format!("must be a string, got {}", kind(other)));
                None
            }
        }
    }

    fn metadata(&mut self, obj: &Map<String, Value>, field: String) -> Option<Map<String, Value>> {
        match obj.get(field.rsplit('.').next().unwrap_or("metadata")) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                let size = serde_json::to_string(m).map_or(usize::MAX, |t| t.len());
                if size > MAX_METADATA_BYTES {
                    self.bad(
                        field,
                        format!("is {size} bytes as JSON; at most {MAX_METADATA_BYTES} allowed"),
                    );
                    return None;
                }
                Some(m.clone())
            }
            Some(other) => {
                self.bad(field, format!("must be an object, got {}", kind(other)));
                None
            }
        }
    }

    fn state(&mut self, obj: &Map<String, Value>) -> StateIn {
        let status = match obj.get("status") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => StatusIn::parse(s).or_else(|| {
                self.bad("status", format!("must be one of {}", StatusIn::NAMES));
                None
            }),
            Some(other) => {
                self.bad(
                    "status",
                    format!(
                        "must be a string ({}), got {}",
                        StatusIn::NAMES,
                        kind(other)
                    ),
                );
                None
            }
        };
        let outcome = match obj.get("outcome") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Outcome::parse(s).or_else(|| {
                self.bad("outcome", "must be one of completed, abandoned, error");
                None
            }),
            Some(other) => {
                self.bad(
                    "outcome",
                    format!(
                        "must be a string (completed, abandoned, error), got {}",
                        kind(other)
                    ),
                );
                None
            }
        };
        let implied = match status {
            Some(StatusIn::Ended(o)) => o,
            _ => None,
        };
        if let (Some(explicit), Some(implied)) = (outcome, implied) {
            if explicit != implied {
                self.bad(
                    "outcome",
                    format!(
                        "contradicts status (which means outcome {}); give one of them",
                        implied.as_str()
                    ),
                );
            }
        }
        StateIn {
            status,
            outcome: outcome.or(implied),
            metadata: self.metadata(obj, "metadata".into()),
        }
    }

    fn messages(&mut self, value: Option<&Value>, path: &str, required: bool) -> Vec<MessageIn> {
        let list = match value {
            None | Some(Value::Null) if !required => return Vec::new(),
            None | Some(Value::Null) => {
                self.bad(path, "is required: an array of at least one message");
                return Vec::new();
            }
            Some(Value::Array(list)) => list,
            Some(other) => {
                self.bad(
                    path,
                    format!("must be an array of messages, got {}", kind(other)),
                );
                return Vec::new();
            }
        };
        if required && list.is_empty() {
            self.bad(path, "must hold at least one message");
        }
        if list.len() > MAX_MESSAGES {
            self.limit(too_large(
                "too_many_messages",
                format!(
                    "{path} holds {} messages; at most {MAX_MESSAGES} per request (send the rest in appends)",
                    list.len()
                ),
            ));
            return Vec::new();
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, m) in list.iter().enumerate() {
            if let Some(m) = self.message(m, &format!("{path}[{i}]")) {
                out.push(m);
            }
        }
        self.tool_names(&mut out);
        out
    }

    fn message(&mut self, value: &Value, path: &str) -> Option<MessageIn> {
        let Value::Object(obj) = value else {
            self.bad(path, format!("must be an object, got {}", kind(value)));
            return None;
        };
        self.unknown(obj, path, &MESSAGE_FIELDS);
        let id = self.id(obj, path, "id");
        let role = match obj.get("role") {
            Some(Value::String(r)) => Role::parse(r).or_else(|| {
                self.bad(
                    join(path, "role"),
                    format!("must be one of {}", Role::NAMES.join(", ")),
                );
                None
            }),
            None | Some(Value::Null) => {
                self.bad(
                    join(path, "role"),
                    format!("is required: one of {}", Role::NAMES.join(", ")),
                );
                None
            }
            Some(other) => {
                self.bad(
                    join(path, "role"),
                    format!("must be a string, got {}", kind(other)),
                );
                None
            }
        };
        let content = match obj.get("content") {
            Some(Value::String(s)) if s.contains('\0') => {
                self.bad(
                    join(path, "content"),
                    "must not contain the NUL character (U+0000)",
                );
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => {
                self.bad(
                    join(path, "content"),
                    format!("must be a string, got {}", kind(other)),
                );
                String::new()
            }
        };
        if content.len() > MAX_MESSAGE_BYTES {
            self.limit(too_large(
                "message_too_large",
                format!(
                    "{path}.content is {} bytes; at most {MAX_MESSAGE_BYTES} (100 KB) per message",
                    content.len()
                ),
            ));
        }
        let timestamp = match obj.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => time::parse(s).or_else(|| {
                self.bad(
                    join(path, "timestamp"),
                    format!("must be {}", time::ALLOWED),
                );
                None
            }),
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|t| (0..=time::MAX_MS).contains(t))
                .or_else(|| {
                    self.bad(
                        join(path, "timestamp"),
                        format!("must be {}", time::ALLOWED),
                    );
                    None
                }),
            Some(other) => {
                self.bad(
                    join(path, "timestamp"),
                    format!("must be {}, got {}", time::ALLOWED, kind(other)),
                );
                None
            }
        };
        let timestamp = timestamp.filter(|t| {
            let ok = *t <= self.now.saturating_add(MAX_FUTURE_MS);
            if !ok {
                self.bad(
                    join(path, "timestamp"),
                    "must not be more than 5 minutes ahead of the collector's clock",
                );
            }
            ok
        });
        let model = self.id(obj, path, "model");
        let (prompt_tokens, completion_tokens) = self.usage(obj.get("usage"), path);
        let mut tools = self.tool_calls(obj.get("toolCalls"), path);
        if let Some(name) = self.id(obj, path, "name") {
            tools.push(name);
        }
        self.id(obj, path, "toolCallId");
        let mut metadata = self
            .metadata(obj, join(path, "metadata"))
            .unwrap_or_default();
        match obj.get("latencyMs") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_f64().is_some_and(|l| l >= 0.0) => {
                metadata.insert("latencyMs".into(), Value::Number(n.clone()));
            }
            Some(other) => self.bad(
                join(path, "latencyMs"),
                format!(
                    "must be a number of milliseconds >= 0, got {}",
                    describe(other)
                ),
            ),
        }
        let role = role?;
        let may_be_empty = role == Role::Tool
            || (role == Role::Assistant
                && obj
                    .get("toolCalls")
                    .is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty())));
        if content.trim().is_empty() && !may_be_empty {
            self.bad(
                join(path, "content"),
                "is required: a non-empty string (only tool messages and assistant messages with toolCalls may be empty)",
            );
        }
        Some(MessageIn {
            id,
            role,
            content,
            timestamp,
            model,
            prompt_tokens,
            completion_tokens,
            tools,
            metadata,
        })
    }

    fn usage(&mut self, value: Option<&Value>, path: &str) -> (Option<i64>, Option<i64>) {
        let path = join(path, "usage");
        let obj = match value {
            None | Some(Value::Null) => return (None, None),
            Some(Value::Object(o)) => o,
            Some(other) => {
                self.bad(path, format!("must be an object, got {}", kind(other)));
                return (None, None);
            }
        };
        self.unknown(obj, &path, &USAGE_FIELDS);
        let mut count = |key: &str| match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64().filter(|n| *n >= 0) {
                Some(n) => Some(n),
                None => {
                    self.bad(
                        join(&path, key),
                        format!("must be a whole number >= 0, got {}", describe(v)),
                    );
                    None
                }
            },
        };
        let counts = (count("promptTokens"), count("completionTokens"));
        count("totalTokens");
        counts
    }

    fn tool_calls(&mut self, value: Option<&Value>, path: &str) -> Vec<String> {
        let path = join(path, "toolCalls");
        let list = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(l)) => l,
            Some(other) => {
                self.bad(path, format!("must be an array, got {}", kind(other)));
                return Vec::new();
            }
        };
        if list.len() > MAX_LIST_ITEMS {
            self.bad(
                &path,
                format!("holds {} calls; at most {MAX_LIST_ITEMS}", list.len()),
            );
            return Vec::new();
        }
        let mut names = Vec::new();
        for (i, call) in list.iter().enumerate() {
            let at = format!("{path}[{i}]");
            match call {
                Value::Object(o) => {
                    // OpenAI's shape nests the name: {"function": {"name": ...}}.
                    let nested = o.get("function").and_then(Value::as_object);
                    let name = o.get("name").or_else(|| nested.and_then(|f| f.get("name")));
                    match name {
                        Some(Value::String(n)) if !n.is_empty() && n.len() <= MAX_ID_BYTES => {
                            if !names.contains(n) {
                                names.push(n.clone());
                            }
                        }
                        _ => self.bad(
                            join(&at, "name"),
                            format!(
                                "is required: a non-empty string of at most {MAX_ID_BYTES} bytes"
                            ),
                        ),
                    }
                }
                other => self.bad(
                    at,
                    format!("must be an object with a name, got {}", kind(other)),
                ),
            }
        }
        names
    }

    /// A tool message's name counts as a tool used by the next assistant message.
    fn tool_names(&mut self, messages: &mut [MessageIn]) {
        let mut pending: Vec<String> = Vec::new();
        for m in messages.iter_mut() {
            match m.role {
                Role::Tool => {
                    for t in m.tools.drain(..) {
                        if !pending.contains(&t) {
                            pending.push(t);
                        }
                    }
                }
                Role::Assistant => {
                    for t in pending.drain(..) {
                        if !m.tools.contains(&t) {
                            m.tools.push(t);
                        }
                    }
                }
                Role::User => pending.clear(),
                Role::System => {}
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body must be a JSON object, got {}", kind(body)),
        )
    })
}

/// Checks a create body received at `now` (unix ms).
pub fn create(body: &Value, now: i64) -> Result<CreateIn, ApiError> {
    let obj = object(body)?;
    let mut c = Checker {
        now,
        ..Checker::default()
    };
    c.unknown(obj, "", &CREATE_FIELDS);
    let id = c.id(obj, "", "id");
    let agent_id = c.id(obj, "", "agentId");
    if agent_id.is_none() && !c.details.contains_key("agentId") {
        c.bad("agentId", "is required: a non-empty string");
    }
    let has_content = obj.get("content").is_some_and(|v| !v.is_null());
    let has_messages = obj.get("messages").is_some_and(|v| !v.is_null());
    let messages = match (has_messages, has_content) {
        (true, true) => {
            c.bad("content", "give messages or content, not both");
            Vec::new()
        }
        (false, true) => match obj.get("content") {
            Some(Value::String(text)) if text.len() > MAX_TRANSCRIPT_BYTES => {
                c.limit(too_large(
                    "content_too_large",
                    format!(
                        "content is {} bytes; at most {MAX_TRANSCRIPT_BYTES} (512 KB)",
                        text.len()
                    ),
                ));
                Vec::new()
            }
            Some(Value::String(text)) => match content::parse(text) {
                Ok(content::Parsed::Json(v)) => c.messages(Some(&v), "content.messages", true),
                Ok(content::Parsed::Turns(turns)) => {
                    let list = Value::Array(turns);
                    c.messages(Some(&list), "content", true)
                }
                Err(reason) => {
                    c.bad("content", reason);
                    Vec::new()
                }
            },
            Some(other) => {
                c.bad(
                    "content",
                    format!(
                        "must be a string (a transcript with role labels, or JSON {{\"messages\": [...]}}), got {}",
                        kind(other)
                    ),
                );
                Vec::new()
            }
            None => Vec::new(),
        },
        _ => c.messages(obj.get("messages"), "messages", false),
    };
    let visitor_id = c.id(obj, "", "visitorId");
    let account_id = c.id(obj, "", "accountId");
    let idempotency_key = match obj.get("idempotencyKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_BYTES => {
            Some(k.clone())
        }
        Some(_) => {
            c.bad(
                "idempotencyKey",
                format!("must be a non-empty string of at most {MAX_IDEMPOTENCY_KEY_BYTES} bytes"),
            );
            None
        }
    };
    let state = c.state(obj);
    let agent_id = agent_id.unwrap_or_default();
    c.finish(CreateIn {
        id,
        agent_id,
        visitor_id,
        account_id,
        messages,
        state,
        idempotency_key,
    })
}

/// Checks an append body received at `now` (unix ms).
pub fn append(body: &Value, now: i64) -> Result<AppendIn, ApiError> {
    let obj = object(body)?;
    let mut c = Checker {
        now,
        ..Checker::default()
    };
    c.unknown(obj, "", &APPEND_FIELDS);
    let messages = c.messages(obj.get("messages"), "messages", true);
    let state = c.state(obj);
    c.finish(AppendIn { messages, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-12-04.
    const NOW: i64 = 1_796_400_000_000;

    fn details(e: ApiError) -> BTreeMap<String, String> {
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "validation_error")
        );
        e.details.unwrap()
    }

    #[test]
    fn a_full_create_body() {
        let c = create(&json!({
            "id": "c1", "agentId": "bot", "visitorId": "v", "accountId": "acme",
            "status": "completed", "metadata": {"channel": "slack"}, "idempotencyKey": "k1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"id": "m1", "role": "user", "content": "hi", "timestamp": "2026-12-01T10:00:00Z"},
                {"role": "assistant", "content": "", "toolCalls": [{"id": "t", "function": {"name": "lookup"}}]},
                {"role": "tool", "name": "lookup", "content": "{}"},
                {"role": "assistant", "content": "Hello", "model": "m-1",
                 "usage": {"promptTokens": 5, "completionTokens": 7, "totalTokens": 12},
                 "latencyMs": 812, "metadata": {"error": false}}
            ]
        }), NOW)
        .unwrap();
        assert_eq!(c.id.as_deref(), Some("c1"));
        assert_eq!(
            c.state.status,
            Some(StatusIn::Ended(Some(Outcome::Completed)))
        );
        assert_eq!(c.state.outcome, Some(Outcome::Completed));
        assert_eq!(c.messages.len(), 5);
        assert_eq!(c.messages[1].timestamp, Some(1_796_119_200_000));
        assert_eq!(c.messages[2].tools, ["lookup"]);
        let last = &c.messages[4];
        assert_eq!(
            last.tools,
            ["lookup"],
            "the tool message's name goes to the next answer"
        );
        assert_eq!(
            (last.prompt_tokens, last.completion_tokens),
            (Some(5), Some(7))
        );
        assert_eq!(
            last.metadata,
            json!({"error": false, "latencyMs": 812})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(last.model.as_deref(), Some("m-1"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let d = details(
            create(&json!({
                "agentID": "x", "status": "done", "outcome": 3,
                "messages": [{"role": "bot", "content": "x"}, {"role": "user", "content": "  "},
                             {"role": "assistant", "content": "a", "usage": {"promptTokens": -1}},
                             "hi"]
            }), NOW)
            .unwrap_err(),
        );
        assert_eq!(
            d["agentID"],
            "is not a known field; did you mean `agentId`?"
        );
        assert_eq!(d["agentId"], "is required: a non-empty string");
        assert_eq!(
            d["status"],
            "must be one of active, ended, in_progress, completed, abandoned"
        );
        assert!(d["outcome"].starts_with("must be a string"), "{d:?}");
        assert_eq!(
            d["messages[0].role"],
            "must be one of user, assistant, system, tool"
        );
        assert!(d["messages[1].content"].starts_with("is required"), "{d:?}");
        assert_eq!(
            d["messages[2].usage.promptTokens"],
            "must be a whole number >= 0, got -1"
        );
        assert_eq!(d["messages[3]"], "must be an object, got a string");
        assert_eq!(d.len(), 8, "{d:?}");
    }

    #[test]
    fn limits_are_413_naming_the_limit() {
        let many: Vec<Value> = (0..501)
            .map(|_| json!({"role": "user", "content": "x"}))
            .collect();
        let e = append(&json!({"messages": many}), NOW).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_many_messages")
        );
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        let e = append(
            &json!({"messages": [{"role": "user", "content": big}]}),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code, "message_too_large");
        assert!(e.message.contains("messages[0].content"), "{}", e.message);
        let e = create(
            &json!({"agentId": "a", "content": "x".repeat(MAX_TRANSCRIPT_BYTES + 1)}),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code, "content_too_large");
    }

    #[test]
    fn append_needs_a_message_and_contradictions_are_refused() {
        let d = details(append(&json!({"messages": []}), NOW).unwrap_err());
        assert_eq!(d["messages"], "must hold at least one message");
        let d = details(
            append(&json!({"messages": [{"role": "user", "content": "x"}], "status": "abandoned", "outcome": "completed"}), NOW)
                .unwrap_err(),
        );
        assert!(d["outcome"].starts_with("contradicts status"), "{d:?}");
        let a = append(
            &json!({"messages": [{"role": "user", "content": "x"}], "status": "in_progress"}),
            NOW,
        )
        .unwrap();
        assert_eq!(a.state.status, Some(StatusIn::Active));
    }

    #[test]
    fn future_timestamps_are_refused_and_details_are_capped() {
        let d = details(
            append(
                &json!({"messages": [{"role": "user", "content": "x", "timestamp": NOW + MAX_FUTURE_MS + 1}]}),
                NOW,
            )
            .unwrap_err(),
        );
        assert!(
            d["messages[0].timestamp"].contains("5 minutes ahead"),
            "{d:?}"
        );
        assert!(append(&json!({"messages": [{"role": "user", "content": "x", "timestamp": NOW + MAX_FUTURE_MS}]}), NOW).is_ok());
        let mut body = serde_json::Map::new();
        body.insert("messages".into(), json!([{"role": "user", "content": "x"}]));
        for i in 0..200 {
            body.insert(format!("unknown{i}"), json!(1));
        }
        let d = details(append(&Value::Object(body), NOW).unwrap_err());
        assert_eq!(d.len(), MAX_DETAILS + 1);
        assert_eq!(d["…"], "and 150 more fields not listed");
    }

    #[test]
    fn nul_characters_are_named() {
        let d = details(
            create(
                &json!({"agentId": "a\u{0}", "messages": [{"role": "user", "content": "x\u{0}"}]}),
                NOW,
            )
            .unwrap_err(),
        );
        assert!(d["agentId"].contains("U+0000"), "{d:?}");
        assert!(d["messages[0].content"].contains("U+0000"), "{d:?}");
    }

    #[test]
    fn content_transcripts_become_messages() {
        let c = create(
            &json!({"agentId": "a", "content": "User: hi\nthere\nAssistant: hello"}),
            NOW,
        )
        .unwrap();
        assert_eq!(c.messages.len(), 2);
        assert_eq!(
            (c.messages[0].role, c.messages[0].content.as_str()),
            (Role::User, "hi\nthere")
        );
        let c = create(&json!({"agentId": "a", "content": "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}"}), NOW).unwrap();
        assert_eq!(c.messages[0].content, "q");
        let d = details(
            create(&json!({"agentId": "a", "content": "{\"messages\": [{\"role\": \"x\", \"content\": \"q\"}]}"}), NOW)
                .unwrap_err(),
        );
        assert!(d.contains_key("content.messages[0].role"), "{d:?}");
        let d = details(
            create(
                &json!({"agentId": "a", "content": "x", "messages": []}),
                NOW,
            )
            .unwrap_err(),
        );
        assert_eq!(d["content"], "give messages or content, not both");
    }
}
