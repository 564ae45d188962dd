//! Model insights through real sockets: conversations arrive through the signed ingest path,
//! end by the analysis sweep (a one-second idle time), and are sent to a loopback server
//! that speaks the chat-completions API with scripted answers. The results are read back
//! through `GET /api/v1/conversations/{id}/insights`.
//!
//! The fake model picks its behaviour from a marker in the conversation's first prompt,
//! `case:<behaviour>/<name>`, and counts requests per marker.

#[path = "collector_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use agent_track_server::collector::analysis::AnalysisConfig;
use agent_track_server::collector::insights::prompt::SYSTEM_PROMPT;
use agent_track_server::collector::insights::{InsightsConfig, InsightsKey};
use agent_track_server::collector::{app, Collector, CollectorConfig};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use support::*;

const KEY: &str = "sk-test-Zq8PLvS3cretKey";

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn eid() -> String {
    format!("i{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---- log capture: every log line of the server crate, for the key check ----

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter("agent_track_server=trace")
            .with_ansi(false)
            .with_writer(|| Sink)
            .init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

// ---- the fake chat-completions server ----

#[derive(Default)]
struct Fake {
    /// Requests per marker.
    count: Mutex<HashMap<String, usize>>,
    /// Every request: (Authorization header, body, when).
    received: Mutex<Vec<(Option<String>, Value, Instant)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

struct Model {
    url: String,
    state: Arc<Fake>,
}

impl Model {
    fn received(&self) -> Vec<(Option<String>, Value, Instant)> {
        self.state.received.lock().unwrap().clone()
    }

    fn count(&self, marker: &str) -> usize {
        self.state
            .count
            .lock()
            .unwrap()
            .get(marker)
            .copied()
            .unwrap_or(0)
    }
}

fn completion(content: &str) -> Response {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn good(name: &str) -> String {
    json!({"summary": format!("The user asked about {name}; the assistant answered."),
           "sentiment": "positive", "sentimentScore": 0.5, "taskCompleted": true, "topics": ["orders", name]})
    .to_string()
}

async fn handle(State(st): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let auth = headers
        .get("authorization")
        .map(|a| a.to_str().unwrap_or("").to_owned());
    st.received
        .lock()
        .unwrap()
        .push((auth.clone(), v.clone(), Instant::now()));
    let transcript = v["messages"][1]["content"].as_str().unwrap_or("");
    let marker = transcript
        .split("case:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("good/none")
        .to_owned();
    let n = {
        let mut c = st.count.lock().unwrap();
        let n = c.entry(marker.clone()).or_default();
        *n += 1;
        *n
    };
    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (behaviour, name) = marker.split_once('/').unwrap_or((&marker, ""));
    let response = match (behaviour, n) {
        ("good", _) => completion(&good(name)),
        ("slow", _) => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            completion(&good(name))
        }
        ("fenced", _) => completion(&format!("```json\n{}\n```", good(name))),
        ("malformed", _) => completion("Sure! The user seemed happy with the answer."),
        ("missing", _) => completion(
            &json!({"summary": "s", "sentiment": "neutral", "sentimentScore": 0, "topics": []})
                .to_string(),
        ),
        ("ratelimited", 1) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            r#"{"error":{"message":"rate limited"}}"#,
        )
            .into_response(),
        ("timeout", 1) => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            completion(&good(name))
        }
        ("ratelimited" | "timeout", _) => completion(&good(name)),
        ("down", _) => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        // A server that echoes the credentials it refuses.
        ("unauthorized", _) => (
            StatusCode::UNAUTHORIZED,
            format!(
                "{{\"error\":\"invalid key: {}\"}}",
                auth.unwrap_or_default()
            ),
        )
            .into_response(),
        _ => (StatusCode::BAD_REQUEST, "unknown case").into_response(),
    };
    st.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn fake_model() -> Model {
    let state = Arc::new(Fake::default());
    let router = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(handle))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Model { url, state }
}

// ---- the collector ----

/// Conversations end one second after their last event; the sweep runs every 100 ms.
fn quick_end() -> AnalysisConfig {
    AnalysisConfig {
        idle_ms: 1000,
        sweep_interval: Duration::from_millis(100),
        ..AnalysisConfig::default()
    }
}

fn insights(model: &Model) -> InsightsConfig {
    let mut c = InsightsConfig::new(&model.url, "test-model");
    c.key = InsightsKey::new(KEY);
    c.timeout = Duration::from_millis(700);
    c.max_attempts = 3;
    c.retry_base = Duration::from_millis(50);
    c.retry_cap = Duration::from_secs(2);
    c.poll_interval = Duration::from_millis(100);
    c.idle_poll_max = Duration::from_millis(400);
    c
}

/// Delivers a two-message conversation `c` whose prompt carries `marker`, stamped now.
async fn converse(s: &Server, c: &str, marker: &str) {
    let t = now_ms();
    let events = vec![
        event(
            &eid(),
            "prompt",
            c,
            "p1",
            &format!("case:{marker} Where is my order?"),
            t,
        ),
        event(
            &eid(),
            "agent_response",
            c,
            "r1",
            "It ships tomorrow.",
            t + 1,
        ),
    ];
    s.deliver_ok(&eid(), events, 2, 0).await;
}

async fn insights_of(s: &Server, c: &str) -> Value {
    s.get_ok(&format!("/api/v1/conversations/{c}/insights"))
        .await
}

/// Polls until the insights of `c` are `ready` or `failed` (15 s at most).
async fn settled(s: &Server, c: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = insights_of(s, c).await;
        if v["status"] == "ready" || v["status"] == "failed" {
            return v;
        }
        assert!(Instant::now() < deadline, "{c} never settled: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_stored_or_recorded_as_failures_and_the_key_stays_secret() {
    capture_logs();
    let model = fake_model().await;
    let s = Server::start_full(quick_end(), Some(insights(&model))).await;
    let cases = [
        ("good", "good/a"),
        ("fenced", "fenced/b"),
        ("malformed", "malformed/c"),
        ("missing", "missing/d"),
        ("ratelimited", "ratelimited/e"),
        ("timeout", "timeout/f"),
        ("down", "down/g"),
        ("unauthorized", "unauthorized/h"),
    ];
    for (c, marker) in cases {
        converse(&s, c, marker).await;
    }
    // Still active: nothing asked yet.
    let v = insights_of(&s, "good").await;
    assert_eq!(v["status"], "not_ended", "{v}");
    assert_eq!(v["verdict"]["status"], "active");
    assert_eq!(v["verdict"]["outcome"], Value::Null);
    assert_eq!(v["insights"], Value::Null);

    let v = settled(&s, "good").await;
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!(v["conversationId"], "good");
    assert_eq!(
        v["insights"],
        json!({"summary": "The user asked about a; the assistant answered.", "sentiment": "positive",
               "sentimentScore": 0.5, "taskCompleted": true, "topics": ["orders", "a"]})
    );
    assert_eq!(v["model"], "test-model");
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["error"], Value::Null);
    let generated = v["generatedAt"].as_u64().unwrap();
    assert!(
        generated > now_ms() - 60_000 && generated <= now_ms(),
        "{v}"
    );
    assert_eq!(
        v["verdict"],
        json!({"status": "ended", "outcome": "completed", "issues": []})
    );

    let v = settled(&s, "fenced").await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("ready"), Some(1)),
        "{v}"
    );

    // Not the promised JSON: a failure, not retried, nothing guessed.
    let v = settled(&s, "malformed").await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["insights"], Value::Null);
    assert_eq!(v["attempts"], 1);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .starts_with("the answer is not the promised JSON: the content is not a JSON object"));
    let v = settled(&s, "missing").await;
    assert_eq!(
        (v["status"].as_str(), v["error"].as_str()),
        (
            Some("failed"),
            Some("the answer is not the promised JSON: taskCompleted is missing")
        ),
        "{v}"
    );
    assert_eq!(model.count("malformed/c") + model.count("missing/d"), 2);

    // 429 with Retry-After: 1 s: the second attempt waits a second, then succeeds.
    let v = settled(&s, "ratelimited").await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("ready"), Some(2)),
        "{v}"
    );
    assert_eq!(v["error"], Value::Null);
    let times: Vec<Instant> = model
        .received()
        .iter()
        .filter(|(_, b, _)| {
            b["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("ratelimited/e")
        })
        .map(|(_, _, t)| *t)
        .collect();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "{:?}",
        times[1] - times[0]
    );

    // A timeout is retried.
    let v = settled(&s, "timeout").await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("ready"), Some(2)),
        "{v}"
    );

    // 500 until the attempts run out.
    let v = settled(&s, "down").await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("failed"), Some(3)),
        "{v}"
    );
    assert_eq!(
        v["error"],
        "gave up after 3 attempts; the last: HTTP 500: upstream exploded"
    );
    assert_eq!(model.count("down/g"), 3);

    // 401: not retried; the echoed key is redacted.
    let v = settled(&s, "unauthorized").await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{v}"
    );
    assert_eq!(
        v["error"],
        "HTTP 401: {\"error\":\"invalid key: Bearer [redacted]\"}"
    );

    // The request: the fixed prompt, the transcript with roles, JSON mode, the bearer key.
    let received = model.received();
    let (auth, body, _) = received
        .iter()
        .find(|(_, b, _)| {
            b["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("good/a")
        })
        .unwrap();
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(
        body,
        &json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": "Transcript of a conversation of 2 messages.\n\nUser: case:good/a Where is my order?\n\nAssistant: It ships tomorrow."}
            ],
            "temperature": 0,
            "response_format": {"type": "json_object"}
        })
    );

    // The key is in no answer and no log line.
    for (c, _) in cases {
        assert!(!insights_of(&s, c).await.to_string().contains(KEY));
    }
    let logs = logs();
    assert!(logs.contains("model insights stored"), "{logs}");
    assert!(logs.contains("HTTP 401"), "{logs}");
    assert!(!logs.contains(KEY), "the key leaked into the logs");
    assert!(
        !logs.contains("Zq8PLvS3"),
        "part of the key leaked into the logs"
    );

    // Unknown conversation: the read API's 404.
    let (status, body) = s.get("/api/v1/conversations/nope/insights").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    assert_eq!(
        body["message"],
        "no conversation with this id (it may have been deleted)"
    );
    let (status, body) = s.get("/api/v1/conversations/good/insights?x=1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_parameter"))
    );
    let (status, _, _) = s
        .get_with("/api/v1/conversations/good/insights", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_without_a_url() {
    let model = fake_model().await;
    let s = Server::start_with(quick_end()).await;
    converse(&s, "c", "good/off").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = insights_of(&s, "c").await;
        if v["verdict"]["status"] == "ended" {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(v["status"], "not_configured", "{v}");
    assert_eq!(v["insights"], Value::Null);
    assert_eq!(v["attempts"], 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(model.received().is_empty());
    assert_eq!(s.count("conversation_insights"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_cap_is_counted_in_the_database_and_the_rest_waits() {
    let model = fake_model().await;
    let mut cfg = insights(&model);
    cfg.per_hour = 1;
    let s = Server::start_full(quick_end(), Some(cfg)).await;
    converse(&s, "one", "good/one").await;
    converse(&s, "two", "good/two").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (ready, waiting) = loop {
        let a = insights_of(&s, "one").await;
        let b = insights_of(&s, "two").await;
        if a["status"] == "ready" {
            break (a, b);
        }
        if b["status"] == "ready" {
            break (b, a);
        }
        assert!(Instant::now() < deadline, "{a} {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready["attempts"], 1);
    // The other waits, ended and pending, for the next hour.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let id = waiting["conversationId"].as_str().unwrap().to_owned();
    let v = insights_of(&s, &id).await;
    assert_eq!(
        (v["status"].as_str(), v["verdict"]["status"].as_str()),
        (Some("pending"), Some("ended")),
        "{v}"
    );
    assert_eq!(model.received().len(), 1);
    let used = s.scalar("SELECT CAST(sum(requests) AS BIGINT) FROM insight_usage");
    assert_eq!(used, 1);
    // The next hour (its count moved to the past hour): the waiting one goes.
    s.exec("UPDATE insight_usage SET hour = hour - 1");
    let v = settled(&s, &id).await;
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!(model.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_are_bounded() {
    let model = fake_model().await;
    let s = Server::start_full(quick_end(), Some(insights(&model))).await;
    let ids: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    for id in &ids {
        converse(&s, id, &format!("slow/{id}")).await;
    }
    for id in &ids {
        assert_eq!(settled(&s, id).await["status"], "ready");
    }
    assert_eq!(model.received().len(), 6);
    assert_eq!(model.state.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_on_one_database_ask_once_per_conversation() {
    let model = fake_model().await;
    let s = Server::start_full(quick_end(), Some(insights(&model))).await;
    // A second collector process on the same file, with its own worker.
    let second = Arc::new(
        Collector::open(CollectorConfig {
            insights: Some(insights(&model)),
            analysis: quick_end(),
            database: s.database(),
            ..CollectorConfig::new(s.dir.path().join("data"), s.secrets.clone(), API_KEY)
        })
        .unwrap(),
    );
    let _routes = app(Arc::clone(&second));
    let ids: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    for id in &ids {
        converse(&s, id, &format!("slow/{id}")).await;
    }
    for id in &ids {
        let v = settled(&s, id).await;
        assert_eq!(
            (v["status"].as_str(), v["attempts"].as_u64()),
            (Some("ready"), Some(1)),
            "{v}"
        );
    }
    for id in &ids {
        assert_eq!(model.count(&format!("slow/{id}")), 1, "{id}");
    }
    // Both worked (each holds at most 2 in flight, and 3 or more were seen at once).
    assert!(model.state.max_in_flight.load(Ordering::SeqCst) >= 3);
    let owners =
        s.scalar("SELECT count(*) FROM conversation_insights WHERE lease_owner IS NOT NULL");
    assert_eq!(owners, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_conversation_gets_fresh_insights_and_delete_removes_them() {
    let model = fake_model().await;
    let s = Server::start_full(quick_end(), Some(insights(&model))).await;
    converse(&s, "c", "good/resume").await;
    let first = settled(&s, "c").await;
    assert_eq!(first["status"], "ready");
    // It resumes: no insights while active, new ones once it ends again.
    let t = now_ms();
    s.deliver_ok(
        &eid(),
        vec![event(&eid(), "prompt", "c", "p2", "And the invoice?", t)],
        1,
        0,
    )
    .await;
    let v = insights_of(&s, "c").await;
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_u64()),
        (Some("not_ended"), Some(0)),
        "{v}"
    );
    assert_eq!(v["insights"], Value::Null);
    let deadline = Instant::now() + Duration::from_secs(15);
    let second = loop {
        let v = insights_of(&s, "c").await;
        if v["status"] == "ready" && v["generatedAt"] != first["generatedAt"] {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(second["attempts"], 1);
    assert_eq!(second["verdict"]["outcome"], "abandoned");
    assert_eq!(model.count("good/resume"), 2);
    let last = model.received().pop().unwrap().1;
    assert!(last["messages"][1]["content"]
        .as_str()
        .unwrap()
        .ends_with("User: And the invoice?"));
    // Delete: the insights go with the conversation.
    assert_eq!(s.count("conversation_insights"), 1);
    let (status, _) = s.delete("/api/v1/conversations/c").await;
    assert_eq!(status, 204);
    assert_eq!(s.count("conversation_insights"), 0);
    let (status, body) = s.get("/api/v1/conversations/c/insights").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_of_reactions_only_sends_nothing() {
    let model = fake_model().await;
    let s = Server::start_full(quick_end(), Some(insights(&model))).await;
    let reaction = with(
        event(&eid(), "user_reaction", "r", "m1", "positive", now_ms()),
        json!({ "agentUserReactionComments": [] }),
    );
    s.deliver_ok(&eid(), vec![reaction], 1, 0).await;
    let v = settled(&s, "r").await;
    assert_eq!(
        (v["status"].as_str(), v["error"].as_str()),
        (
            Some("failed"),
            Some("the conversation has no messages; nothing was sent")
        ),
        "{v}"
    );
    assert!(model.received().is_empty());
}
