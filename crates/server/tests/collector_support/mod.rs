//! A collector on a real socket with a real SQLite file in a temporary directory (or, with
//! `AGENT_TRACK_TEST_DATABASE_URL`, a fresh PostgreSQL database per test), and a real HTTP
//! client that signs deliveries like the proxy does.
#![allow(dead_code)]

use std::sync::Arc;

use agent_track_server::collector::{app, Collector, CollectorConfig, DB_FILE};
use agent_track_server::secret::Secrets;
use agent_track_server::{serve, signature};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// 2025-11-21T10:00:00Z.
pub const T0: u64 = 1_763_719_200_000;
pub const API_KEY: &str = "atk_test_key_123";
/// The ingest key of the conversation log API and `/data/agentic`.
pub const INGEST_KEY: &str = "ati_test_ingest_456";

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub secrets: Secrets,
    pub dir: tempfile::TempDir,
    /// The collector behind the socket (for calls the HTTP API does not offer, such as a
    /// retention run at a chosen time).
    pub collector: std::sync::Weak<Collector>,
    stop: Option<oneshot::Sender<()>>,
    /// The PostgreSQL database of this test, when the tests run on PostgreSQL.
    pub pg: Option<TestDatabase>,
}

#[path = "../../examples/support/fresh_database.rs"]
mod fresh_database;
use fresh_database::off_runtime;

/// A fresh PostgreSQL database for one test, `t_<random>`, created through the database of
/// `AGENT_TRACK_TEST_DATABASE_URL` and dropped (with its connections) at the end.
pub type TestDatabase = fresh_database::FreshDatabase;

impl TestDatabase {
    /// `None` without `AGENT_TRACK_TEST_DATABASE_URL` (the tests run on SQLite); a panic when
    /// `AGENT_TRACK_TEST_POSTGRES=required` but no URL is set, or when the database cannot be
    /// created: those tests fail, never skip.
    pub fn from_env() -> Option<TestDatabase> {
        let admin = std::env::var("AGENT_TRACK_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        let Some(admin) = admin else {
            assert_ne!(
                std::env::var("AGENT_TRACK_TEST_POSTGRES").as_deref(),
                Ok("required"),
                "AGENT_TRACK_TEST_POSTGRES=required but AGENT_TRACK_TEST_DATABASE_URL is not set (scripts/postgres.sh start prints it)"
            );
            return None;
        };
        Some(TestDatabase::create(
            &admin,
            "t",
            "AGENT_TRACK_TEST_DATABASE_URL",
        ))
    }

    /// The first column of the first row of `sql` (an integer).
    pub fn one(&self, sql: &str) -> i64 {
        off_runtime(|| {
            let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
            c.query_one(sql, &[]).unwrap().get::<_, i64>(0)
        })
    }

    /// Runs `sql` (statements without parameters).
    pub fn exec(&self, sql: &str) {
        off_runtime(|| {
            let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
            c.batch_execute(sql).unwrap();
        })
    }
}

/// The database of a test that opens collectors on a data folder itself (several, or one after
/// another): SQLite in `data`, or, on PostgreSQL, one database per folder for the whole test
/// process (kept until the throwaway cluster is removed, so a reopened collector finds its
/// data).
pub fn database_at(data: &std::path::Path) -> agent_track_server::collector::db::url::Database {
    use agent_track_server::collector::db::url::Database;
    static BY_FOLDER: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut known = BY_FOLDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, url)) = known.iter().find(|(p, _)| p == data) {
        return Database::Postgres(url.clone());
    }
    let Some(db) = TestDatabase::from_env() else {
        return Database::Sqlite;
    };
    let url = db.url.clone();
    // Not dropped: see above.
    std::mem::forget(db);
    known.push((data.to_path_buf(), url.clone()));
    Database::Postgres(url)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(Default::default()).await
    }

    /// A server with these analysis thresholds.
    pub async fn start_with(
        analysis: agent_track_server::collector::analysis::AnalysisConfig,
    ) -> Server {
        Server::start_full(analysis, None).await
    }

    /// A server with these analysis thresholds and model insights.
    pub async fn start_full(
        analysis: agent_track_server::collector::analysis::AnalysisConfig,
        insights: Option<agent_track_server::collector::insights::InsightsConfig>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::parse(&Secrets::generate()).unwrap();
        // A nested, missing directory: open creates it.
        let pg = TestDatabase::from_env();
        let config = CollectorConfig {
            data_dir: dir.path().join("data"),
            secrets: secrets.clone(),
            api_key: API_KEY.into(),
            ingest_keys: vec![INGEST_KEY.into()],
            synchronous: Default::default(),
            analysis,
            insights,
            webhooks: Default::default(),
            database: match &pg {
                Some(db) => {
                    agent_track_server::collector::db::url::Database::Postgres(db.url.clone())
                }
                None => Default::default(),
            },
        };
        let collector = Arc::new(Collector::open(config).unwrap());
        let weak = Arc::downgrade(&collector);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve::run(
            listener,
            app(Arc::clone(&collector))
                .merge(agent_track_server::collector::metrics_routes(collector))
                .merge(serve::health()),
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            base,
            client: reqwest::Client::new(),
            secrets,
            dir,
            collector: weak,
            stop: Some(stop),
            pg,
        }
    }

    /// Posts raw bytes to /v1/ingest with the given headers.
    pub async fn post_raw(&self, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/v1/ingest", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Signed headers for `body` under `id`, at `ts`, with the server's secrets.
    pub fn signed(&self, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        vec![
            (signature::ID, id.to_string()),
            (signature::TIMESTAMP, ts.to_string()),
            (
                signature::SIGNATURE,
                signature::sign(&self.secrets, id, ts, body),
            ),
        ]
    }

    /// Delivers `events` as one signed batch with webhook-id `id`.
    pub async fn deliver(&self, id: &str, events: Vec<Value>) -> (u16, Value) {
        let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
        self.post_raw(&self.signed(id, now_s(), &body), body).await
    }

    /// Delivers and expects 200 with these counts.
    pub async fn deliver_ok(&self, id: &str, events: Vec<Value>, accepted: u64, duplicates: u64) {
        let (status, body) = self.deliver(id, events).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some(accepted), Some(duplicates)),
            "{body}"
        );
        assert!(body["requestId"].as_str().unwrap().starts_with("req_"));
    }

    pub async fn get_with(&self, path: &str, auth: Option<&str>) -> (u16, String, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, res.text().await.unwrap())
    }

    /// GET with the API key; the body as JSON (Null when it is not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, text) = self
            .get_with(path, Some(&format!("Bearer {API_KEY}")))
            .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET with the API key, expecting 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    pub async fn delete(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// POSTs `body` (JSON text as given) to `path` with these headers; the answer as JSON.
    pub async fn post_text(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `body` to `path` with the ingest key as the bearer.
    pub async fn post_ingest(&self, path: &str, body: &Value) -> (u16, Value) {
        let auth = format!("Bearer {INGEST_KEY}");
        self.post_text(path, &[("authorization", &auth)], body.to_string())
            .await
    }

    /// Opens the SQLite file directly (a second connection, as an operator would).
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("data").join(DB_FILE)).unwrap()
    }

    /// The database this server's collector uses (for a second collector on it).
    pub fn database(&self) -> agent_track_server::collector::db::url::Database {
        match &self.pg {
            Some(db) => agent_track_server::collector::db::url::Database::Postgres(db.url.clone()),
            None => Default::default(),
        }
    }

    /// The integer `sql` returns, on either backend (SQL both understand).
    pub fn scalar(&self, sql: &str) -> i64 {
        match &self.pg {
            Some(pg) => pg.one(sql),
            None => self.db().query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }

    /// Runs `sql` straight on the database (as an operator would), on either backend.
    pub fn exec(&self, sql: &str) {
        match &self.pg {
            Some(pg) => pg.exec(sql),
            None => self.db().execute_batch(sql).unwrap(),
        }
    }

    pub fn count(&self, table: &str) -> i64 {
        if let Some(pg) = &self.pg {
            return pg.one(&format!("SELECT count(*) FROM {table}"));
        }
        self.db()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}

/// A relayed event as the proxy sends it.
pub fn event(
    event_id: &str,
    kind: &str,
    conversation: &str,
    message: &str,
    content: &str,
    timestamp: u64,
) -> Value {
    json!({
        "eventId": event_id, "type": kind, "timestamp": timestamp, "visitorId": "visitor-1", "accountId": "acme",
        "properties": { "agentId": "agent-1", "conversationId": conversation, "messageId": message, "content": content, "suggestedPrompt": false },
        "context": { "url": "https://app.example/chat", "seq": 1, "sdk": "agent-track/0.1.0" },
        "receivedAt": timestamp + 5, "clientTimestamp": timestamp - 3
    })
}

/// `event` with extra properties merged into `properties`.
pub fn with(mut event: Value, properties: Value) -> Value {
    for (k, v) in properties.as_object().unwrap() {
        event["properties"][k] = v.clone();
    }
    event
}

/// `event` with top-level fields replaced.
pub fn set(mut event: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

/// The time now, unix ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A conversation's detail.
pub async fn detail(s: &Server, id: &str) -> Value {
    s.get_ok(&format!("/api/v1/conversations/{id}")).await
}

/// One string field of every message of a conversation's detail, in the order shown.
pub fn message_fields<'a>(detail: &'a Value, field: &str) -> Vec<&'a str> {
    detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[field].as_str().unwrap())
        .collect()
}

/// The issue types of a conversation's detail, one per issue.
pub async fn issue_types(s: &Server, id: &str) -> Vec<String> {
    detail(s, id).await["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap().to_string())
        .collect()
}

/// The ids of a conversation list.
pub fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}
