//! Shared by the server tests: a recording upstream server that fails on demand, a proxy on
//! a real loopback socket, and batch builders.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_track_server::proxy::{self, ProxyConfig, Upstream};
use agent_track_server::secret::Secrets;
use agent_track_server::serve;
use agent_track_server::workers::Workers;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the upstream received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A scripted reply: status, delay, Retry-After, body (default `{}`), Location.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub retry_after: Option<u64>,
    pub body: Option<String>,
    pub location: Option<String>,
}

pub fn reply(status: u16) -> Reply {
    Reply {
        status,
        delay: Duration::ZERO,
        retry_after: None,
        body: None,
        location: None,
    }
}

/// A scripted reply with a JSON body.
pub fn reply_with(status: u16, body: Value) -> Reply {
    Reply {
        body: Some(body.to_string()),
        ..reply(status)
    }
}

#[derive(Default)]
struct UpstreamState {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
}

/// A real HTTP server on loopback that records requests and answers as scripted (then 200).
#[derive(Clone)]
pub struct FakeUpstream {
    state: Arc<UpstreamState>,
    pub url: String,
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let state = Arc::new(UpstreamState::default());
        async fn handle(
            State(s): State<Arc<UpstreamState>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> axum::response::Response {
            s.received.lock().unwrap().push(Received { headers, body });
            let r = s.script.lock().unwrap().pop_front().unwrap_or(reply(200));
            tokio::time::sleep(r.delay).await;
            let body = r.body.clone().unwrap_or_else(|| "{}".into());
            let mut resp = (StatusCode::from_u16(r.status).unwrap(), body).into_response();
            if let Some(s) = r.retry_after {
                resp.headers_mut().insert("retry-after", s.into());
            }
            if let Some(l) = &r.location {
                resp.headers_mut().insert("location", l.parse().unwrap());
            }
            resp
        }
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/ingest", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // (axum::serve here on purpose: the fake is not under test.)
        FakeUpstream { state, url }
    }

    pub fn script(&self, replies: &[Reply]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(replies.iter().cloned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

/// A proxy config relaying to `url` in webhook mode with the known-answer secret.
pub fn webhook_config(url: &str) -> ProxyConfig {
    let mut c = ProxyConfig::new(Upstream::Webhook {
        urls: vec![url.into()],
        secrets: Secrets::parse(SECRET).unwrap(),
    });
    c.allowed_origins = vec!["https://app.example".into()];
    c.upstream_deadline = Duration::from_secs(3);
    c
}

/// Starts a proxy on a loopback socket as `agent-track-server proxy` runs it: its connections
/// spread over two worker threads, each with its own upstream client. Returns its base URL
/// and state.
pub async fn start_proxy(mut config: ProxyConfig) -> (String, Arc<proxy::ProxyState>) {
    config.workers = 2;
    let workers = Workers::start(config.workers, "test-proxy").unwrap();
    let state = proxy::ProxyState::new(config);
    let app = proxy::app(state.clone()).merge(serve::health());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let limits = serve::Limits::default();
        serve::run_on_workers(listener, app, std::future::pending(), limits, &workers).await
    });
    (base, state)
}

/// A valid wire event.
pub fn event(i: usize, now_ms: u64) -> Value {
    json!({
        "eventId": format!("0190a000-0000-7000-8000-{i:012}"),
        "type": "prompt",
        "timestamp": now_ms,
        "visitorId": "v-1",
        "accountId": "acme",
        "properties": {"agentId": "bot", "conversationId": "c-1", "messageId": format!("m-{i}"), "content": format!("hello {i}")},
        "context": {"url": "https://app.example/chat", "seq": i + 1, "sdk": "agent-track/0.1.0"}
    })
}

/// A batch of `n` valid events sent now.
pub fn batch(n: usize) -> Value {
    let now = agent_track_server::error::now_ms();
    json!({"sentAt": now, "events": (0..n).map(|i| event(i, now)).collect::<Vec<_>>()})
}

pub fn peer() -> SocketAddr {
    "203.0.113.5:40000".parse().unwrap()
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
