//! Outbound webhooks end to end: a collector on a real socket with a real SQLite file,
//! events caused through the signed ingest path, and a receiver on loopback that records
//! every request and answers as the test says. Every signature is checked with the
//! independent `standardwebhooks` crate.

#[path = "collector_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use agent_track_server::collector::analysis::AnalysisConfig;
use agent_track_server::collector::webhooks::{RetryPolicy, WebhookConfig};
use agent_track_server::collector::{app, Collector, CollectorConfig, DB_FILE};
use agent_track_server::secret::Secrets;
use agent_track_server::{serve, signature};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use support::{event, now_s, with, API_KEY, T0};
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------
// The receiver.

/// One request the receiver got, its signature already verified.
#[derive(Clone, Debug)]
struct Hit {
    id: String,
    body: Value,
    raw: Bytes,
    headers: HeaderMap,
    answered: u16,
}

/// How the receiver answers a request: status, `Retry-After` seconds, body.
type Answer = Arc<dyn Fn(&Value) -> (u16, Option<u64>, String) + Send + Sync>;

struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    answer: Mutex<Answer>,
    verifier: standardwebhooks::Webhook,
    bad_signatures: AtomicUsize,
}

#[derive(Clone)]
struct Receiver {
    state: Arc<ReceiverState>,
    url: String,
}

fn ok() -> Answer {
    Arc::new(|_| (200, None, String::new()))
}

impl Receiver {
    /// A receiver on a free loopback port.
    async fn start(secret: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::on(listener, secret)
    }

    /// A receiver on `addr` (a port chosen earlier).
    async fn start_at(addr: SocketAddr, secret: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Receiver::on(listener, secret)
    }

    fn on(listener: tokio::net::TcpListener, secret: &str) -> Receiver {
        let state = Arc::new(ReceiverState {
            hits: Mutex::new(Vec::new()),
            answer: Mutex::new(ok()),
            verifier: standardwebhooks::Webhook::new(secret).unwrap(),
            bad_signatures: AtomicUsize::new(0),
        });
        async fn handle(
            State(s): State<Arc<ReceiverState>>,
            headers: HeaderMap,
            raw: Bytes,
        ) -> axum::response::Response {
            if s.verifier.verify(&raw, &headers).is_err() {
                s.bad_signatures.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
            }
            let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            let answer = s.answer.lock().unwrap().clone();
            let (status, retry_after, text) = answer(&body);
            s.hits.lock().unwrap().push(Hit {
                id: headers[signature::ID].to_str().unwrap().to_owned(),
                body,
                raw: raw.clone(),
                headers: headers.clone(),
                answered: status,
            });
            let mut resp = (StatusCode::from_u16(status).unwrap(), text).into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert("retry-after", s.into());
            }
            resp
        }
        let url = format!(
            "http://{}/hooks/agent-track",
            listener.local_addr().unwrap()
        );
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        // axum::serve on purpose: the receiver is not under test.
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { state, url }
    }

    fn answer(&self, f: impl Fn(&Value) -> (u16, Option<u64>, String) + Send + Sync + 'static) {
        *self.state.answer.lock().unwrap() = Arc::new(f);
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// The successful hits of event type `t`.
    fn delivered(&self, t: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.body["type"] == t && (200..300).contains(&h.answered))
            .collect()
    }

    fn bad_signatures(&self) -> usize {
        self.state.bad_signatures.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------
// The collector.

const INGEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A fast retry policy: 100 ms doubling, capped at 400 ms.
fn fast() -> RetryPolicy {
    RetryPolicy {
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        request_timeout: Duration::from_secs(2),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

fn hooks(urls: &[&str], secret: &str, retry: RetryPolicy) -> WebhookConfig {
    WebhookConfig {
        urls: urls.iter().map(|u| u.to_string()).collect(),
        secrets: Some(Secrets::parse(secret).unwrap()),
        retry,
    }
}

struct Running {
    base: String,
    client: reqwest::Client,
    ingest: Secrets,
    collector: Weak<Collector>,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    data: std::path::PathBuf,
}

impl Running {
    async fn open(data: &Path, webhooks: WebhookConfig, analysis: AnalysisConfig) -> Running {
        let ingest = Secrets::parse(INGEST_SECRET).unwrap();
        let collector = Arc::new(
            Collector::open(CollectorConfig {
                data_dir: data.to_path_buf(),
                secrets: ingest.clone(),
                api_key: API_KEY.into(),
                ingest_keys: vec![LOG_KEY.into()],
                synchronous: Default::default(),
                analysis,
                webhooks,
                insights: None,
                database: support::database_at(data),
            })
            .unwrap(),
        );
        let weak = Arc::downgrade(&collector);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve::run(listener, app(collector), async {
            let _ = stopped.await;
        }));
        Running {
            base,
            // No connection reuse, so a stopped server holds no idle connection open.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            ingest,
            collector: weak,
            stop: Some(stop),
            served,
            data: data.to_path_buf(),
        }
    }

    /// Stops the server and waits until the collector (its worker included) is gone.
    async fn shut(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.served).await.unwrap().unwrap();
        until("the collector is dropped", || {
            self.collector.upgrade().is_none()
        })
        .await;
    }

    async fn deliver(&self, events: Vec<Value>) {
        let id = format!("d{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
        let ts = now_s();
        let res = self
            .client
            .post(format!("{}/v1/ingest", self.base))
            .header("content-type", "application/json")
            .header(signature::ID, &id)
            .header(signature::TIMESTAMP, ts.to_string())
            .header(
                signature::SIGNATURE,
                signature::sign(&self.ingest, &id, ts, &body),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
    }

    /// POSTs to the conversation log API with the ingest key; expects 200.
    async fn log(&self, path: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(LOG_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn deliveries(&self, query: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/v1/webhooks/deliveries{query}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["deliveries"].as_array().unwrap().clone()
    }

    /// The integer `sql` returns, straight from the database (either backend).
    fn scalar(&self, sql: &str) -> i64 {
        match support::database_at(&self.data) {
            agent_track_server::collector::db::url::Database::Postgres(url) => {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                        c.query_one(sql, &[]).unwrap().get::<_, i64>(0)
                    })
                    .join()
                    .unwrap()
                })
            }
            agent_track_server::collector::db::url::Database::Sqlite => {
                rusqlite::Connection::open(self.data.join(DB_FILE))
                    .unwrap()
                    .query_row(sql, [], |r| r.get(0))
                    .unwrap()
            }
        }
    }

    fn outbox(&self, conversation: &str) -> i64 {
        self.scalar(&format!(
            "SELECT count(*) FROM webhook_outbox WHERE conversation_id = '{}'",
            conversation.replace('\'', "''")
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn eid() -> String {
    format!("e{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn prompt(c: &str, m: &str, text: &str, ts: u64) -> Value {
    event(&eid(), "prompt", c, m, text, ts)
}

fn answer(c: &str, m: &str, text: &str, ts: u64) -> Value {
    event(&eid(), "agent_response", c, m, text, ts)
}

fn react(c: &str, m: &str, value: &str, ts: u64, comments: &[&str]) -> Value {
    with(
        event(&eid(), "user_reaction", c, m, value, ts),
        json!({ "agentUserReactionComments": comments }),
    )
}

/// A prompt answered a second later (long ago): one conversation.ended, no issue.
fn exchange(c: &str) -> Vec<Value> {
    vec![prompt(c, "p1", "hi", T0), answer(c, "r1", "hello", T0 + S)]
}

/// Waits up to 10 s for `cond`.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

fn secret() -> String {
    Secrets::generate()
}

const S: u64 = 1000;

fn rfc3339(ms: u64) -> String {
    agent_track_server::collector::time::format(ms as i64)
}

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn the_three_events_arrive_signed_with_their_data() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    // Long ago: the conversation has ended as soon as it is stored.
    c.deliver(vec![
        prompt("c1", "p1", "hi", T0),
        answer("c1", "r1", "hello", T0 + S),
        prompt("c1", "p2", "and?", T0 + 2 * S),
        answer("c1", "r2", "and so on", T0 + 3 * S),
    ])
    .await;
    until("conversation.ended arrives", || {
        rx.delivered("conversation.ended").len() == 1
    })
    .await;
    let ended = &rx.delivered("conversation.ended")[0];
    assert_eq!(
        ended.body,
        json!({
            "type": "conversation.ended",
            "timestamp": rfc3339(T0 + 3 * S),
            "data": {
                "conversationId": "c1", "agentId": "agent-1", "visitorId": "visitor-1", "accountId": "acme",
                "startedAt": rfc3339(T0), "endedAt": rfc3339(T0 + 3 * S), "durationSeconds": 3,
                "messageCount": 4, "promptCount": 2, "responseCount": 2,
                "outcome": "completed", "issues": [],
            }
        })
    );
    // A negative reaction, later: reaction.negative, then the new issue type.
    c.deliver(vec![react(
        "c1",
        "r2",
        "negative",
        T0 + 4 * S,
        &["wrong", "rude"],
    )])
    .await;
    until("reaction.negative and conversation.flagged arrive", || {
        rx.delivered("reaction.negative").len() == 1
            && rx.delivered("conversation.flagged").len() == 1
    })
    .await;
    assert_eq!(
        rx.delivered("reaction.negative")[0].body,
        json!({
            "type": "reaction.negative",
            "timestamp": rfc3339(T0 + 4 * S),
            "data": {
                "conversationId": "c1", "messageId": "r2", "agentId": "agent-1", "visitorId": "visitor-1",
                "comments": ["wrong", "rude"], "timestamp": rfc3339(T0 + 4 * S),
            }
        })
    );
    assert_eq!(
        rx.delivered("conversation.flagged")[0].body,
        json!({
            "type": "conversation.flagged",
            "timestamp": rfc3339(T0 + 4 * S),
            "data": {
                "conversationId": "c1", "agentId": "agent-1", "visitorId": "visitor-1",
                "issue": {
                    "type": "negative_feedback", "at": rfc3339(T0 + 4 * S), "messageIds": ["r2"],
                    "reason": "negative reaction to r2: \"wrong\", \"rude\"",
                },
            }
        })
    );
    // Per conversation in order: ended, then the reaction, then the flag.
    let order: Vec<String> = rx
        .hits()
        .iter()
        .map(|h| h.body["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        order,
        [
            "conversation.ended",
            "reaction.negative",
            "conversation.flagged"
        ]
    );
    // A positive reaction and a second negative one that is older than the current one
    // cause nothing; the conversation stays ended, so no second conversation.ended.
    c.deliver(vec![
        react("c1", "r1", "positive", T0 + 5 * S, &[]),
        react("c1", "r2", "negative", T0 + 3500, &["late"]),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.hits().len(), 3);
    // The headers of every request; the signature was verified by standardwebhooks.
    assert_eq!(rx.bad_signatures(), 0);
    for h in rx.hits() {
        assert!(h.id.starts_with("msg_") && h.id.len() == 36, "{}", h.id);
        assert_eq!(h.headers["content-type"], "application/json");
        assert!(h.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("agent-track-collector/"));
        let ts: i64 = h.headers[signature::TIMESTAMP]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((ts - now_s()).abs() <= 5);
        assert!(h.headers[signature::SIGNATURE]
            .to_str()
            .unwrap()
            .starts_with("v1,"));
        // A tampered body fails the independent verification.
        let mut tampered = h.raw.to_vec();
        tampered.push(b' ');
        let v = standardwebhooks::Webhook::new(&key).unwrap();
        assert!(v.verify(&h.raw, &h.headers).is_ok());
        assert!(v.verify(&tampered, &h.headers).is_err());
    }
    // The deliveries endpoint: newest first, every one delivered once.
    let rows = c.deliveries("").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["type"], "conversation.flagged");
    for r in &rows {
        assert_eq!(
            (
                r["status"].as_str(),
                r["attempts"].as_i64(),
                r["lastStatusCode"].as_i64()
            ),
            (Some("delivered"), Some(1), Some(200))
        );
        assert!(
            r["deliveredAt"].is_i64() && r["nextAttemptAt"].is_null(),
            "{r}"
        );
        // The URL as shown everywhere: its origin and a hash, never its path (a token may be in it).
        assert_eq!(r["url"], agent_track_server::redact::url(&rx.url).as_str());
        assert!(!r["url"].as_str().unwrap().contains("hooks/agent-track"));
    }
    // Delivered rows keep no content.
    let bodies = c.scalar("SELECT count(*) FROM webhook_outbox WHERE body IS NOT NULL");
    assert_eq!(bodies, 0);
}

/// The ingest key of the conversation log API.
const LOG_KEY: &str = "ati_webhooks_test";

#[tokio::test]
async fn a_backend_ending_a_conversation_fires_ended_once_per_ending() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.log(
        "/api/v1/conversations",
        json!({"id": "backend-1", "agentId": "bot", "status": "completed",
               "messages": [{"role": "user", "content": "cancel my plan"}]}),
    )
    .await;
    until("ended by its owner", || {
        rx.delivered("conversation.ended").len() == 1
    })
    .await;
    let ended = rx.delivered("conversation.ended");
    assert_eq!(ended[0].body["data"]["conversationId"], "backend-1");
    assert_eq!(ended[0].body["data"]["outcome"], "completed");
    // A later append resumes it; ending it again fires again, and only then.
    c.log(
        "/api/v1/conversations/backend-1/messages",
        json!({"messages": [{"role": "assistant", "content": "Done: your plan is cancelled."}]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.delivered("conversation.ended").len(),
        1,
        "active again: nothing new"
    );
    c.log(
        "/api/v1/conversations/backend-1/messages",
        json!({"messages": [{"role": "user", "content": "thanks"}], "status": "ended"}),
    )
    .await;
    until("ended again", || {
        rx.delivered("conversation.ended").len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.delivered("conversation.ended").len(),
        2,
        "once per ending"
    );
    assert_eq!(rx.bad_signatures(), 0);
}

#[tokio::test]
async fn a_conversation_that_ends_twice_fires_twice() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let analysis = AnalysisConfig {
        idle_ms: 1000,
        sweep_interval: Duration::from_millis(100),
        ..AnalysisConfig::default()
    };
    let c = Running::open(dir.path(), hooks(&[&rx.url], &key, fast()), analysis).await;
    let now = support::now_ms();
    c.deliver(vec![
        prompt("live", "p1", "hi", now),
        answer("live", "r1", "hello", now + 10),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rx.delivered("conversation.ended").is_empty(),
        "still active"
    );
    until("the sweep ends it", || {
        rx.delivered("conversation.ended").len() == 1
    })
    .await;
    // Active again, then ended again.
    let now = support::now_ms();
    c.deliver(vec![prompt("live", "p2", "more?", now)]).await;
    until("it ends again", || {
        rx.delivered("conversation.ended").len() == 2
    })
    .await;
    let ended = rx.delivered("conversation.ended");
    assert_ne!(ended[0].id, ended[1].id);
    assert_eq!(ended[1].body["data"]["promptCount"], 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.delivered("conversation.ended").len(),
        2,
        "once per ending"
    );
}

#[tokio::test]
async fn retries_after_500_and_429_keep_the_webhook_id_and_the_body() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&calls);
    rx.answer(move |_| match n.fetch_add(1, Ordering::SeqCst) {
        0 => (500, None, "oops".into()),
        1 => (429, Some(0), "slow down".into()),
        2 => (408, None, String::new()),
        _ => (204, None, String::new()),
    });
    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(exchange("c")).await;
    until("delivered on the fourth attempt", || rx.hits().len() == 4).await;
    let hits = rx.hits();
    assert!(hits.iter().all(|h| h.id == hits[0].id), "one webhook-id");
    assert!(hits.iter().all(|h| h.raw == hits[0].raw), "the same body");
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 429, 408, 204]
    );
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = c.deliveries("?status=delivered").await;
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0]["attempts"].as_i64(),
            rows[0]["lastStatusCode"].as_i64()
        ),
        (Some(4), Some(204))
    );
    assert_eq!(rows[0]["webhookId"], hits[0].id.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 4, "nothing after the 2xx");
}

#[tokio::test]
async fn a_400_is_final_and_recorded() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    rx.answer(|_| (400, None, "{\"error\":\"unknown event type\"}\r\n".into()));
    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(exchange("c")).await;
    until("one attempt", || rx.hits().len() == 1).await;
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = c.deliveries("?status=failed").await;
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r["attempts"].as_i64(), r["lastStatusCode"].as_i64()),
        (Some(1), Some(400))
    );
    assert_eq!(
        r["lastError"],
        "HTTP 400: {\"error\":\"unknown event type\"}"
    );
    assert!(r["nextAttemptAt"].is_null() && r["deliveredAt"].is_null());
    assert_eq!(r["conversationId"], "c");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.hits().len(), 1, "a 400 is not retried");
    assert!(c.deliveries("?status=pending").await.is_empty());
    assert_eq!(
        c.deliveries("?type=conversation.ended&conversationId=c")
            .await
            .len(),
        1
    );
    assert!(c.deliveries("?conversationId=other").await.is_empty());
}

#[tokio::test]
async fn deliveries_are_paged_and_their_parameters_checked() {
    let dir = tempfile::tempdir().unwrap();
    // A receiver that is never up: the rows stay pending.
    let url = format!("http://127.0.0.1:{}/x?token=s3cret", support_port());
    let c = Running::open(
        dir.path(),
        hooks(&[&url], &secret(), fast()),
        AnalysisConfig::default(),
    )
    .await;
    for i in 0..5 {
        c.deliver(exchange(&format!("c{i}"))).await;
    }
    let first = c.get("/api/v1/webhooks/deliveries?limit=2").await.1;
    assert_eq!(first["deliveries"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = c
        .get(&format!(
            "/api/v1/webhooks/deliveries?limit=2&cursor={cursor}"
        ))
        .await
        .1;
    let third_cursor = second["nextCursor"].as_str().unwrap().to_owned();
    let third = c
        .get(&format!(
            "/api/v1/webhooks/deliveries?limit=2&cursor={third_cursor}"
        ))
        .await
        .1;
    let ids: Vec<&str> = [&first, &second, &third]
        .iter()
        .flat_map(|p| {
            p["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["conversationId"].as_str().unwrap())
        })
        .collect();
    assert_eq!(ids, ["c4", "c3", "c2", "c1", "c0"]);
    assert!(third["nextCursor"].is_null());
    // The URL is shown without its query.
    assert!(!first.to_string().contains("s3cret"), "{first}");
    for (query, code) in [
        ("?statsu=failed", "unknown_parameter"),
        ("?status=done", "invalid_parameter"),
        ("?type=conversation.started", "invalid_parameter"),
        ("?limit=0", "invalid_parameter"),
        ("?limit=201", "invalid_parameter"),
        ("?cursor=abc", "invalid_parameter"),
    ] {
        let (status, body) = c.get(&format!("/api/v1/webhooks/deliveries{query}")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{query}: {body}"
        );
        assert!(body["requestId"].is_string());
    }
    let res = c
        .client
        .get(format!("{}/api/v1/webhooks/deliveries", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// A loopback port with nothing listening.
fn support_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_failing_event_holds_back_the_later_events_of_its_conversation_only() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    let fail_a = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = Arc::clone(&fail_a);
    rx.answer(move |body| {
        if body["data"]["conversationId"] == "a" && f.load(Ordering::SeqCst) {
            (503, None, "down for a".into())
        } else {
            (200, None, String::new())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(vec![
        prompt("a", "p1", "hi", T0),
        answer("a", "r1", "hello", T0 + S),
    ])
    .await;
    c.deliver(vec![react("a", "r1", "negative", T0 + 2 * S, &[])])
        .await;
    c.deliver(vec![
        prompt("b", "p1", "hi", T0),
        answer("b", "r1", "hello", T0 + S),
    ])
    .await;
    c.deliver(vec![react("b", "r1", "negative", T0 + 2 * S, &[])])
        .await;
    // b's three events go through while a's first keeps failing.
    until("b's events arrive", || {
        rx.hits()
            .iter()
            .filter(|h| h.body["data"]["conversationId"] == "b")
            .count()
            == 3
    })
    .await;
    until("a's first event failed a few times", || {
        rx.hits()
            .iter()
            .filter(|h| h.body["data"]["conversationId"] == "a")
            .count()
            >= 3
    })
    .await;
    let a: Vec<Hit> = rx
        .hits()
        .into_iter()
        .filter(|h| h.body["data"]["conversationId"] == "a")
        .collect();
    assert!(
        a.iter()
            .all(|h| h.id == a[0].id && h.body["type"] == "conversation.ended"),
        "nothing later of a was attempted"
    );
    // The receiver recovers: a's events in order, each once.
    fail_a.store(false, Ordering::SeqCst);
    until("a's three events arrive", || {
        rx.hits()
            .iter()
            .filter(|h| h.body["data"]["conversationId"] == "a" && h.answered == 200)
            .count()
            == 3
    })
    .await;
    let a_types: Vec<String> = rx
        .hits()
        .iter()
        .filter(|h| h.body["data"]["conversationId"] == "a" && h.answered == 200)
        .map(|h| h.body["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        a_types,
        [
            "conversation.ended",
            "reaction.negative",
            "conversation.flagged"
        ],
        "{:?}",
        rx.hits()
            .iter()
            .map(|h| h.body.to_string())
            .collect::<Vec<_>>()
    );
    let b_types: Vec<String> = rx
        .hits()
        .iter()
        .filter(|h| h.body["data"]["conversationId"] == "b")
        .map(|h| h.body["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        b_types,
        [
            "conversation.ended",
            "reaction.negative",
            "conversation.flagged"
        ]
    );
}

#[tokio::test]
async fn a_receiver_down_across_a_collector_restart_gets_each_event_once() {
    let key = secret();
    let port = support_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = Running::open(
        &data,
        hooks(&[&url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(vec![
        prompt("c1", "p1", "hi", T0),
        answer("c1", "r1", "hello", T0 + S),
    ])
    .await;
    c.deliver(vec![react("c1", "r1", "negative", T0 + 2 * S, &["no"])])
        .await;
    c.deliver(exchange("c2")).await;
    // Attempts fail (nothing listens) and are recorded.
    let mut before = Vec::new();
    for _ in 0..250 {
        before = c.deliveries("?conversationId=c2").await;
        if before
            .first()
            .is_some_and(|r| r["attempts"].as_i64() >= Some(2))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(before[0]["attempts"].as_i64() >= Some(2), "{before:?}");
    assert_eq!(before[0]["lastError"], "the connection failed");
    let pending: Vec<String> = c
        .deliveries("?status=pending")
        .await
        .iter()
        .map(|r| r["webhookId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        pending.len(),
        4,
        "ended and flagged and reaction of c1, ended of c2"
    );
    c.shut().await;

    // A new collector on the same data, then the receiver comes up.
    let c = Running::open(
        &data,
        hooks(&[&url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    let rx = Receiver::start_at(format!("127.0.0.1:{port}").parse().unwrap(), &key).await;
    until("every event arrives", || rx.hits().len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let hits = rx.hits();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for h in &hits {
        *seen.entry(h.id.clone()).or_default() += 1;
    }
    assert_eq!(hits.len(), 4, "each once: {seen:?}");
    let mut got: Vec<String> = seen.into_keys().collect();
    let mut want = pending.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the webhook-ids queued before the restart");
    assert_eq!(rx.bad_signatures(), 0);
    let c1: Vec<String> = hits
        .iter()
        .filter(|h| h.body["data"]["conversationId"] == "c1")
        .map(|h| h.body["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        c1,
        [
            "conversation.ended",
            "reaction.negative",
            "conversation.flagged"
        ]
    );
    until("all recorded delivered", || {
        c.scalar("SELECT count(*) FROM webhook_outbox WHERE status = 'delivered'") == 4
    })
    .await;
}

#[tokio::test]
async fn deleting_a_conversation_deletes_its_outbox_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/down", support_port());
    let c = Running::open(
        dir.path(),
        hooks(&[&url], &secret(), fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(vec![
        prompt("gone", "p1", "my secret question", T0),
        answer("gone", "r1", "x", T0 + S),
    ])
    .await;
    c.deliver(vec![react(
        "gone",
        "r1",
        "negative",
        T0 + 2 * S,
        &["private comment"],
    )])
    .await;
    c.deliver(exchange("kept")).await;
    assert_eq!(c.outbox("gone"), 3);
    assert_eq!(c.outbox("kept"), 1);
    let res = c
        .client
        .delete(format!("{}/api/v1/conversations/gone", c.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(c.outbox("gone"), 0);
    assert_eq!(c.outbox("kept"), 1);
    assert!(c.deliveries("?conversationId=gone").await.is_empty());
}

#[tokio::test]
async fn two_urls_get_every_event_and_no_url_queues_nothing() {
    let key = secret();
    let (a, b) = (Receiver::start(&key).await, Receiver::start(&key).await);
    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        hooks(&[&a.url, &b.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(vec![
        prompt("c", "p1", "hi", T0),
        answer("c", "r1", "x", T0 + S),
    ])
    .await;
    until("both get it", || a.hits().len() == 1 && b.hits().len() == 1).await;
    assert_ne!(a.hits()[0].id, b.hits()[0].id, "one row (and id) per URL");
    assert_eq!(a.hits()[0].raw, b.hits()[0].raw);

    let dir = tempfile::tempdir().unwrap();
    let c = Running::open(
        dir.path(),
        WebhookConfig::default(),
        AnalysisConfig::default(),
    )
    .await;
    c.deliver(vec![
        prompt("c", "p1", "hi", T0),
        answer("c", "r1", "x", T0 + S),
    ])
    .await;
    c.deliver(vec![react("c", "r1", "negative", T0 + 2 * S, &[])])
        .await;
    let rows = c.scalar("SELECT count(*) FROM webhook_outbox");
    assert_eq!(rows, 0);
    assert!(c.deliveries("").await.is_empty());
}

#[tokio::test]
async fn a_url_without_a_secret_or_a_bad_url_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let open = |webhooks: WebhookConfig| {
        Collector::open(CollectorConfig {
            webhooks,
            ..CollectorConfig::new(dir.path(), Secrets::parse(INGEST_SECRET).unwrap(), API_KEY)
        })
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let no_secret = open(WebhookConfig {
        urls: vec!["https://hooks.example/x".into()],
        ..WebhookConfig::default()
    });
    assert!(
        no_secret.contains("AGENT_TRACK_WEBHOOK_SECRET"),
        "{no_secret}"
    );
    let bad = open(hooks(
        &["https://ok.example/", "ftp://x.example/"],
        &secret(),
        fast(),
    ));
    assert!(bad.contains("#2") && bad.contains("http"), "{bad}");
    let same = open(hooks(&["https://ok.example/"], INGEST_SECRET, fast()));
    assert!(same.contains("must differ"), "{same}");
}

#[tokio::test]
async fn two_collectors_on_one_database_send_each_event_once() {
    let key = secret();
    let rx = Receiver::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let one = Running::open(
        &data,
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    let two = Running::open(
        &data,
        hooks(&[&rx.url], &key, fast()),
        AnalysisConfig::default(),
    )
    .await;
    for i in 0..20 {
        let c = if i % 2 == 0 { &one } else { &two };
        c.deliver(exchange(&format!("c{i}"))).await;
    }
    until("20 events arrive", || rx.hits().len() >= 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = rx.hits();
    let mut ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((hits.len(), ids.len()), (20, 20), "each webhook-id once");
    assert_eq!(
        one.deliveries("?status=delivered&limit=200").await.len(),
        20
    );
}
